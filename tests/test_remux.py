"""A denoised video keeps its source's sound and frame times (app/remux.py), through PyAV."""

from __future__ import annotations

import logging
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from edgeae.app.remux import with_source_sound_and_times

from conftest import run_cli

# a phone's variable rate: 20 frames/s, then 6.7 as the light drops (milliseconds between frames)
GAPS_MS = [50] * 10 + [150] * 10


def _video_with_sound(path: Path, gaps_ms: list[int], **options: str) -> Path:
    """An MPEG-4 video of noisy frames at the given gaps, each brighter, and a 440 Hz AAC tone.

    `options` go to the muxer (an iPhone's MOV: video_track_timescale="600").
    """
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options=options) as out:
        video = out.add_stream("mpeg4", rate=20)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.time_base = Fraction(1, 1000)
        sound = out.add_stream("aac", rate=16000)
        sound.layout = "mono"
        at = 0
        for index, gap in enumerate(gaps_ms):
            ramp = np.linspace(30, 110, 64)[None, :, None] + 6 * index + rng.normal(0, 20,
                                                                                   (48, 64, 3))
            frame = av.VideoFrame.from_ndarray(np.clip(ramp, 0, 255).astype(np.uint8), "rgb24")
            frame.pts, frame.time_base, at = at, Fraction(1, 1000), at + gap
            out.mux(video.encode(frame))
        out.mux(video.encode())
        tone = np.sin(np.arange(16 * at) * 2 * np.pi * 440 / 16000).astype(np.float32) * 0.3
        for start in range(0, tone.size, 1024):
            samples = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], "fltp", "mono")
            samples.sample_rate, samples.pts = 16000, start
            out.mux(sound.encode(samples))
        out.mux(sound.encode())
    return path


def _streams(path: Path) -> dict[str, list]:
    """Each stream type's packets as (seconds, bytes), in presentation order."""
    with av.open(str(path)) as video:
        found: dict[str, list] = {}
        for packet in video.demux():
            if packet.pts is not None:
                found.setdefault(packet.stream.type, []).append(
                    (round(float(packet.pts * packet.time_base), 4), bytes(packet)))
    return {kind: sorted(packets) for kind, packets in found.items()}


def test_a_denoised_video_keeps_its_sound_and_frame_times(tmp_path):
    source = _video_with_sound(tmp_path / "phone.mp4", GAPS_MS)
    code, out, err = run_cli("denoise", source, "--pretrained", "live", "--out", tmp_path / "out")
    assert code == 0 and "(20 frames)" in out, err
    before, after = _streams(source), _streams(tmp_path / "out" / "phone.mp4")
    assert after["audio"] == before["audio"]  # every packet as it was: no re-encoding
    assert [t for t, _ in after["video"]] == [t for t, _ in before["video"]]  # each frame's time
    denoised = cv2.VideoCapture(str(tmp_path / "out" / "phone.mp4"))
    noisy = cv2.VideoCapture(str(source))
    means = []
    for _ in GAPS_MS:  # each frame denoised, in order: the source's frames brighten by 6 levels
        (_, clean), (_, grainy) = denoised.read(), noisy.read()
        assert np.abs(clean - grainy.astype(int)).mean() > 2
        means.append(clean.mean())
    assert np.all(np.diff(means) > 1)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_pictures_not_one_per_source_frame_keep_their_own_times(tmp_path):
    source = _video_with_sound(tmp_path / "phone.mp4", GAPS_MS)
    writer = cv2.VideoWriter(str(tmp_path / "five.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10,
                             (64, 48))
    for value in range(5):
        writer.write(np.full((48, 64, 3), 50 * value, np.uint8))
    writer.release()
    assert not with_source_sound_and_times(source, tmp_path / "five.mp4", tmp_path / "both.mp4")
    both = _streams(tmp_path / "both.mp4")
    assert [t for t, _ in both["video"]] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert both["audio"] == _streams(source)["audio"]


def test_without_pyav_a_video_is_denoised_silent_and_the_command_says_so(tmp_path, monkeypatch,
                                                                        caplog):
    source = _video_with_sound(tmp_path / "phone.mp4", GAPS_MS[:6])
    monkeypatch.setitem(sys.modules, "av", None)  # as on a device without it: import fails
    with caplog.at_level(logging.WARNING):
        code, _, err = run_cli("denoise", source, "--pretrained", "live", "--out",
                               tmp_path / "out")
    assert code == 0, err
    assert "PyAV is not installed: denoised videos have no sound" in caplog.text
    monkeypatch.undo()
    assert list(_streams(tmp_path / "out" / "phone.mp4")) == ["video"]


@pytest.mark.parametrize("suffix", [".avi", ".mkv", ".mov"])
def test_each_container_takes_the_sound_back(suffix, tmp_path):
    """OpenCV writes each suffix in its own container and codec; the sound goes in each."""
    mp4 = _video_with_sound(tmp_path / "phone.mp4", GAPS_MS[:8])
    source = tmp_path / f"phone{suffix}"
    with av.open(str(mp4)) as src, av.open(str(source), "w") as dst:
        copies = {s: dst.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = copies[packet.stream]
                dst.mux(packet)
    code, _, err = run_cli("denoise", source, "--pretrained", "live", "--out", tmp_path / "out")
    assert code == 0, err
    after = _streams(tmp_path / "out" / source.name)
    assert len(after["video"]) == 8
    # the same packets; AVI has no audio timestamps, its demuxer counts them from the data
    assert sorted(data for _, data in after["audio"]) == sorted(
        data for _, data in _streams(source)["audio"])


def test_the_last_frame_lasts_as_long_in_the_sources_time_base(tmp_path):
    """Its duration had stayed in the pictures' time base: 512 ticks of OpenCV's 1/15360 read as
    ticks of an iPhone MOV's 1/600 made the last frame last 0.85 s, not the source's 0.15."""
    source = _video_with_sound(tmp_path / "phone.mov", GAPS_MS, video_track_timescale="600")
    code, _, err = run_cli("denoise", source, "--pretrained", "live", "--out", tmp_path / "out")
    assert code == 0, err
    with av.open(str(source)) as before, av.open(str(tmp_path / "out" / "phone.mov")) as after:
        assert before.streams.video[0].time_base == Fraction(1, 600)
        lengths = [float(c.streams.video[0].duration * c.streams.video[0].time_base)
                   for c in (before, after)]
    assert abs(lengths[1] - lengths[0]) < 0.05, lengths
