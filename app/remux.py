"""A denoised video keeps its source's sound and frame times (with PyAV, where installed).

OpenCV's VideoWriter writes pictures alone, at one constant rate: a phone video's denoised copy
came out silent, and a variable-rate one (phones lower the rate in the dark) drifted from its
source's timing. PyAV (FFmpeg's libraries) then copies the source's audio packets as they are,
without re-encoding, beside the denoised pictures, each picture at its source frame's time.
PyAV is optional on a device (`pip install "edgeae[video]"`): without it a video is denoised
silent, at its mean rate, and the command says so.
"""

from __future__ import annotations

import heapq
import importlib.util
import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

log = logging.getLogger(__name__)
MISSING = ("PyAV is not installed: denoised videos have no sound and run at their mean frame "
           "rate; `pip install \"edgeae[video]\"` keeps each source's sound and frame times")


def pyav_installed() -> bool:
    """Whether PyAV can be imported (found without importing it: it takes a while)."""
    return importlib.util.find_spec("av") is not None


def with_source_sound_and_times(source: Path, pictures: Path, out: Path) -> bool:
    """Write `out`: `pictures`, each at its `source` frame's time, and `source`'s audio.

    `pictures` is OpenCV's denoised video of the source's frames in order. Where it holds
    another number of frames than the source (a stream cut short), its own times are kept.
    Returns whether the source's frame times were used.
    """
    import av

    times, time_base = _frame_times(source)
    with av.open(str(source)) as src, av.open(str(pictures)) as pic, av.open(str(out), "w") as dst:
        picture_stream = pic.streams.video[0]
        retimed = picture_stream.frames in (0, len(times)) and _strictly_rising(times)
        video = dst.add_stream_from_template(picture_stream)
        if retimed:
            video.time_base = time_base
        audio = {s: dst.add_stream_from_template(s) for s in src.streams.audio}
        pictures_timed = _retimed(pic.demux(picture_stream), times if retimed else None,
                                  time_base)
        sounds = _timed(src.demux(*src.streams.audio)) if audio else iter(())
        frames = 0
        for _, packet in heapq.merge(pictures_timed, sounds, key=lambda pair: pair[0]):
            frames += packet.stream is picture_stream
            packet.stream = video if packet.stream is picture_stream else audio[packet.stream]
            dst.mux(packet)
    return retimed and frames == len(times)


def _frame_times(source: Path) -> tuple[list[int], Fraction]:
    """The source video's frame times in presentation order, and their time base.

    Read from the packets (nothing is decoded); sorted, as packets come in decoding order.
    """
    import av

    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        times = sorted(p.pts for p in src.demux(stream)  # an edit list's cut packets are no frames
                       if p.pts is not None and not p.is_discard)
        return times, stream.time_base


def _strictly_rising(times: list[int]) -> bool:
    return all(a < b for a, b in zip(times, times[1:]))


def _timed(packets: Iterator) -> Iterator[tuple[float, object]]:
    """Packets with their decoding time in seconds, the order a muxer takes them in."""
    for packet in packets:
        if packet.dts is not None:  # a demuxer's last, empty packet
            yield float(packet.dts * packet.time_base), packet


def _retimed(packets: Iterator, times: list[int] | None,
             time_base: Fraction) -> Iterator[tuple[float, object]]:
    """The picture packets, the i-th at `times[i]` where given.

    OpenCV's writer makes no B-frames, so its packets come in presentation order.
    """
    if times is None:
        yield from _timed(packets)
        return
    index = 0
    for packet in packets:
        if packet.dts is None or index >= len(times):
            continue
        if packet.duration:  # in the pictures' time base, like its times were
            packet.duration = round(packet.duration * packet.time_base / time_base)
        packet.time_base, packet.pts = time_base, times[index]
        packet.dts = packet.pts
        index += 1
        yield float(packet.pts * time_base), packet
