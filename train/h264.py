"""H.264 as a camera stream compresses it: frames through libx264 and back (PyAV's FFmpeg).

Most cameras that stream (a Raspberry Pi's `rpicam-vid`, IP cameras) send H.264, not JPEG: the
first frame is coded alone, every later one is predicted from the one before plus a coarsely
quantized difference, so part of one frame's noise is copied into the next, and the rest is
smeared into blocks. A clip is coded as one stream, as the camera codes it; a single image as
one intra-coded frame. The settings are a live stream's: no B-frames and no look-ahead
(libx264's `zerolatency`), one thread so a seed gives the same bytes, and the quality as
x264's constant rate factor (CRF, 0-51: 0 lossless, 23 its default, higher coarser).

pip's OpenCV wheels carry no H.264 encoder (only its decoder); PyAV's wheels carry libx264.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from edgeae.core.errors import UserError

CRF_RANGE = (0.0, 51.0)  # x264's constant rate factor
_SETTINGS = {"preset": "veryfast", "tune": "zerolatency", "threads": "1"}


def check_encoder() -> None:
    """A one-line UserError when PyAV (the `av` package, with libx264) is not installed."""
    if importlib.util.find_spec("av") is None:
        raise UserError("H.264 noise needs PyAV's libx264: pip install av "
                        "(pip's OpenCV can decode H.264 but not encode it)")


def h264_packets(pixels: np.ndarray, crf: int, form: str) -> Iterator:
    """The packets, in order, of uint8 frames coded as one stream at `crf` (encoder flushed).

    Frames (T, H, W, C) of even sides in PyAV's pixel format `form` (gray, rgb24, bgr24); the
    packets are an Annex B stream with its headers in band, as a camera streams it.
    """
    import av

    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = pixels.shape[2], pixels.shape[1]
    encoder.pix_fmt, encoder.time_base = "yuv420p", Fraction(1, 30)
    encoder.options = {**_SETTINGS, "crf": str(int(crf))}
    for i, image in enumerate(pixels):
        frame = av.VideoFrame.from_ndarray(image[..., 0] if form == "gray" else image, format=form)
        frame.pts = i
        yield from encoder.encode(frame)
    yield from encoder.encode(None)


def h264_roundtrip(frames: np.ndarray, crf: int) -> np.ndarray:
    """Frames (T, H, W, C) in [0, 1], C 1 or 3, coded as one H.264 stream at `crf` and decoded.

    float32 in [0, 1] on the 8-bit grid. Odd sides are padded by edge replication for 4:2:0
    chroma and cropped back.
    """
    import av

    t, h, w, c = frames.shape
    pixels = np.rint(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8)
    pixels = np.pad(pixels, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    form = "gray" if c == 1 else "rgb24"
    decoder = av.CodecContext.create("h264", "r")
    decoded = [f.to_ndarray(format=form) for packet in [*h264_packets(pixels, crf, form), None]
               for f in decoder.decode(packet)]  # None flushes the decoder
    if len(decoded) != t:
        raise RuntimeError(f"libx264 gave back {len(decoded)} frames of {t}")
    out = np.stack(decoded).reshape(t, *pixels.shape[1:3], c)[:, :h, :w]
    return out.astype(np.float32) / 255.0
