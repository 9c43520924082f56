"""A recurrent denoiser trained as it runs: step after step over a clip, on its own outputs.

The runtime gives a recurrent model [its last output, the frame] (runtime/history.py), and at a
run's start [the frame, the frame]. Training unrolls the same: over a clip of T frames, step 0
sees the first frame twice, and every later step the step before's output; the loss is over
every step's output against its clean frame, so the model learns from the outputs it will
really be given (backpropagation through time).
"""

from __future__ import annotations

import keras

from edgeae.train.models.unet import FrameSlice


def unrolled(step: keras.Model, steps: int, channels: int) -> keras.Model:
    """`step` run over (H, W, steps * C) clips; its outputs stacked the same way."""
    clip = keras.Input((None, None, steps * channels), name="clip")
    frames = [FrameSlice(t, channels, name=f"frame{t}")(clip) for t in range(steps)]
    last, outputs = frames[0], []
    for t, frame in enumerate(frames):
        last = step(keras.layers.Concatenate(name=f"step{t}")([last, frame]))
        outputs.append(last)
    return keras.Model(clip, keras.layers.Concatenate(name="outputs")(outputs), name="unrolled")
