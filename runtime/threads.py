"""`edgeae run --threads auto`: the inference thread count the whole loop runs fastest with here.

On a small CPU the engine's threads share the cores with the capture thread's decoding and the
loop's own work (colour conversion, drawing, writing), so the count that makes the bare engine
fastest need not make the loop fastest. Each candidate count runs the real loop on the real
source for a couple of seconds (no outputs); the one with the shortest median frame time wins,
and a smaller count wins a near tie (within TIE), which leaves the cores to the rest of the device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgeae.core.errors import UserError
from edgeae.runtime.backends import usable_cores
from edgeae.runtime.capture import CaptureOptions, Source
from edgeae.runtime.loop import RunOptions, RunSummary, run
from edgeae.runtime.models import AnomalyScorer, Denoiser

TRIAL_SECONDS = 2.0  # of the loop per candidate, on the source's first frames
TIE = 0.05  # a count this much slower than the fastest still wins if it is smaller
STOPPED = ("interrupt", "terminate", "quit")  # a trial ended by the user ends the choosing


@dataclass(frozen=True)
class ThreadsChoice:
    """The count picked and every candidate's median frame time (ms) in the loop."""

    threads: int
    frame_ms: dict[int, float]

    def describe(self) -> str:
        """One line for stderr: the pick and what each candidate measured."""
        tried = ", ".join(f"{n} thread{'s' * (n > 1)} {ms:.1f} ms" for n, ms in
                          self.frame_ms.items())
        return (f"threads auto: {self.threads} (median frame time of the run loop over "
                f"{TRIAL_SECONDS:g} s each: {tried})")


def candidates(cpus: int | None = None) -> list[int]:
    """Counts worth trying: 1, the powers of two below the core count, all cores but one, all."""
    n = cpus or usable_cores()
    powers = {2 ** i for i in range(n.bit_length()) if 2 ** i <= n}
    return sorted(powers | {max(1, n - 1), n})


def pick(frame_ms: dict[int, float]) -> int:
    """The smallest count within TIE of the shortest median frame time."""
    best = min(frame_ms.values())
    return min(n for n, ms in frame_ms.items() if ms <= best * (1 + TIE))


def choose_threads(load: Callable[[int], Denoiser | AnomalyScorer], source: Source,
                   options: RunOptions, capture: CaptureOptions | None = None,
                   counts: list[int] | None = None) -> ThreadsChoice | RunSummary:
    """Run the loop with each count's model for TRIAL_SECONDS; the count to keep.

    `load(n)` opens the model with n inference threads. Only `options`' per-frame work (gray)
    is kept, and a file or folder loops for the whole trial: trials write nothing, show nothing
    and tell systemd nothing. When the user stopped a trial (Ctrl-C, SIGTERM), its RunSummary:
    the run ends too, as it would have in the loop.
    """
    # timed from each trial's first frame: a stream that takes seconds to open gave trials of
    # no frame at all, and a pick from nothing
    # a file or folder plays again within a trial: a short one had been timed on its few
    # frames, a photo on its first call alone
    trial = RunOptions(gray=options.gray, duration=TRIAL_SECONDS, timed_from_first_frame=True,
                       notify=False, loop=not source.live)
    frame_ms = {}
    for n in counts or candidates():
        summary = run(load(n), source, trial, capture)
        if summary.stopped_by in STOPPED:
            return summary
        if summary.frames:
            frame_ms[n] = summary.frame_ms["p50"]
    if not frame_ms:
        raise UserError(f"--threads auto: {source.target} gave no frame in any trial; give a "
                        "thread count (--threads N)")
    return ThreadsChoice(pick(frame_ms), frame_ms)
