"""`edgeae denoise`: denoise image files and folders with an exported or pretrained model.

Images keep their format, bit depth (8- or 16-bit PNG/TIFF), size, ICC profile and EXIF
(core/metadata.py); EXIF orientation is applied on reading, as photo viewers do. Outputs mirror
the inputs' names under --out and are written atomically; all output paths are checked before
any work, so a refused overwrite costs nothing. Large archives: `workers` processes each open
the model once and take images from one queue (each output keeps its input's name, so order
does not matter), and `resume` skips the images whose output already exists (an interrupted
run leaves only whole files). Needs only the runtime (no TensorFlow).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeae.app.remux import MISSING, pyav_installed, with_source_sound_and_times
from edgeae.app.workers import ModelSpec, process_pool
from edgeae.core.containers import tiff_gray_with_alpha, tiff_pages
from edgeae.core.data import VIDEO_SUFFIXES
from edgeae.core.errors import Terminated, UserError
from edgeae.core.files import atomic_path, check_writable, refuse_writing_over_input
from edgeae.core.images import (
    IMAGE_SUFFIXES,
    decode_upright,
    file_bytes,
    image_files,
    jpeg_cut_short,
)
from edgeae.core.metadata import PhotoMetadata, read_metadata, with_metadata
from edgeae.core.progress import progress
from edgeae.runtime.models import Denoiser

log = logging.getLogger(__name__)

LOSSY_QUALITY = 95
WRITE_OPTIONS = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, LOSSY_QUALITY],  # lossy formats' quality
                 ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, LOSSY_QUALITY],
                 ".webp": [cv2.IMWRITE_WEBP_QUALITY, LOSSY_QUALITY]}
NO_METADATA = PhotoMetadata()
DEPTH_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
# the run loop's stop reasons that a signal gave, and what the command raises for each
STOPPED_BY_SIGNAL: dict[str, type[BaseException]] = {"interrupt": KeyboardInterrupt,
                                                     "terminate": Terminated}


@dataclass(frozen=True)
class Job:
    """One image to denoise and where its result goes."""

    source: Path
    target: Path


def plan_jobs(inputs: Sequence[Path], out_dir: Path, overwrite: bool = False,
              resume: bool = False) -> list[Job]:
    """Pair every input image with its output path; fail before any work on a bad one.

    A file goes to out_dir/NAME; a folder's images to out_dir/FOLDER/RELATIVE/PATH (out_dir
    is no folder inside an input one: the command refuses it). With `resume`, images
    whose output exists are left out (done by an earlier run).
    """
    jobs = []
    for path in map(Path, inputs):
        if path.is_dir():
            root = path.resolve()
            found = image_files(path)  # as training reads a folder: links, not hidden files
            _warn_of_videos_in(path, [p for p in path.rglob("*") if p.is_file()])
            if not found:
                raise UserError(f"no images in {path} (looked for {', '.join(IMAGE_SUFFIXES)})")
            jobs += [Job(p, out_dir / root.name / p.relative_to(path)) for p in found]
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise UserError(f"{path} is not an image ({', '.join(IMAGE_SUFFIXES)})")
            jobs.append(Job(path, out_dir / path.name))
        else:
            raise UserError(f"no such file or folder: {path}")
    for job in jobs:
        refuse_writing_over_input(job.target, job.source, "--out")
    targets = [j.target for j in jobs]
    if len(set(targets)) != len(targets):
        raise UserError("two inputs share a name; denoise them into different --out folders")
    if resume and not overwrite:
        jobs = [j for j in jobs if not j.target.exists()]
    for job in jobs:
        check_writable(job.target, overwrite)
    return jobs


def _warn_of_videos_in(folder: Path, files: Sequence[Path]) -> None:
    """One warning for the videos among a folder's `files`: its images are denoised, not them."""
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    if videos:
        log.warning("%s holds %d video(s), which a folder does not denoise; give them by name "
                    "(e.g. %s)", folder, len(videos), videos[0])


def read_photo(path: Path) -> tuple[np.ndarray, PhotoMetadata]:
    """An image as stored, and the ICC profile and EXIF its copy keeps.

    The image is uint8 or uint16 (or float in [0, 1]); gray, BGR or BGRA; turned upright by its
    EXIF tag.
    """
    encoded = file_bytes(path)
    if jpeg_cut_short(encoded.data):  # OpenCV would decode it, its missing rows grey
        raise UserError(f"{path} is a JPEG cut short")
    image = decode_upright(encoded)
    if image is None:
        raise UserError(f"cannot read {path} as an image")
    if tiff_gray_with_alpha(encoded):
        log.warning("%s is gray with alpha, which OpenCV reads without it: its copy has no alpha "
                    "(save it as PNG to keep it)", path)
    if (pages := tiff_pages(encoded)) > 1:
        log.warning("%s holds %d pages; its first alone is denoised (save the pages as "
                    "separate files for the rest)", path, pages)
    if image.dtype.kind == "f" and not (np.isfinite(image).all() and image.min() >= 0
                                        and image.max() <= 1):
        raise UserError(f"{path} has float pixels outside [0, 1] (or not finite); edgeae "
                        "denoises float images of [0, 1] values, and 8- and 16-bit ones")
    if image.dtype not in DEPTH_MAX and image.dtype.kind != "f":
        raise UserError(f"{path} has {image.dtype} pixels; edgeae denoises 8- and 16-bit images "
                        "and floats in [0, 1]")
    return image, read_metadata(encoded.tobytes())


def denoise_image(model: Denoiser, image: np.ndarray) -> np.ndarray:
    """Denoise a uint8, uint16 or [0, 1] float gray/BGR/BGRA image; same dtype and shape out.

    Alpha is kept as it is (a gray image stored as colour, as a gray PNG with alpha is read,
    the runtime denoises once). Every image is a still: a temporal model forgets the one before.
    """
    if image.ndim == 3 and image.shape[2] == 4:
        return np.dstack([denoise_image(model, image[..., :3]), image[..., 3]])
    model.reset()
    if image.dtype == np.uint8:
        return model.denoise(image)
    if image.dtype.kind == "f":  # a float TIFF: its [0, 1] values kept, to float precision
        return np.clip(model.denoise(image.astype(np.float32)), 0, 1).astype(image.dtype)
    top = DEPTH_MAX[image.dtype]
    restored = model.denoise(image.astype(np.float32) / top)
    return np.clip(np.rint(restored * top), 0, top).astype(image.dtype)


def split_videos(inputs: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(video files, the other inputs): videos are denoised as video, frame after frame."""
    videos = [p for p in map(Path, inputs) if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    return videos, [p for p in map(Path, inputs) if p not in videos]


def plan_videos(videos: Sequence[Path], out_dir: Path, overwrite: bool = False,
                strict: bool = False, resume: bool = False) -> list[Job]:
    """Pair every video that decodes with out_dir/NAME; fail before any work on a bad target.

    A video OpenCV cannot decode is skipped with a warning; an error if `strict` or if none do.
    With `resume`, videos whose output exists are left out: one appears only once whole.
    """
    jobs = [Job(video, out_dir / video.name) for video in videos]
    for job in jobs:
        refuse_writing_over_input(job.target, job.source, "--out")
    done = [job for job in jobs if resume and not overwrite and job.target.exists()]
    jobs = [job for job in jobs if job not in done]
    for job in jobs:
        check_writable(job.target, overwrite)
    problems = {job: _undecodable(job.source) for job in jobs}
    skipped = [why for why in problems.values() if why]
    if skipped and (strict or len(skipped) == len(jobs) + len(done)):
        raise UserError(f"{skipped[0]}; re-encode it, or leave it out")
    for why in skipped:
        log.warning("skipped %s", why)
    return [job for job, why in problems.items() if not why]


def denoise_videos(spec: ModelSpec, jobs: Sequence[Job], overwrite: bool = False) -> int:
    """Denoise each video into its target through the run loop; return the frames written.

    A temporal model keeps its history from frame to frame (and starts again at every video
    and scene cut); the output video is written atomically at the source's frame rate.
    """
    model, written = spec.open(), 0
    if jobs and not pyav_installed():
        log.warning("%s", MISSING)
    for job in jobs:
        model.reset()
        written += _denoise_video(model, job, overwrite)
    return written


def _undecodable(video: Path) -> str | None:
    """Why OpenCV cannot open `video` and decode its first frame; None if it can."""
    capture = cv2.VideoCapture(str(video))
    try:
        if capture.isOpened() and capture.read()[0]:
            return None
    finally:
        capture.release()
    return f"{video} is not a video OpenCV can decode (cut short, or no frames)"


def _denoise_video(model: Denoiser, job: Job, overwrite: bool) -> int:
    """One video into its target, which appears only once the video was read to its end.

    The run loop stops at Ctrl-C or SIGTERM and finalises what it has; a denoised video cut
    short is no result, so it is removed and the stop passed on. With PyAV the pictures then
    get the source's sound and frame times (app/remux.py).
    """
    from edgeae.runtime.capture import Source
    from edgeae.runtime.loop import RunOptions, run

    with atomic_path(job.target, overwrite) as tmp:
        summary = run(model, Source("video", str(job.source)),  # frames, with no overlay
                      RunOptions(output=tmp, overwrite=True, overlay=False))
        if summary.stopped_by in STOPPED_BY_SIGNAL:
            raise STOPPED_BY_SIGNAL[summary.stopped_by]
        if pyav_installed():
            _add_source_sound_and_times(job.source, tmp)
    return summary.written


def _add_source_sound_and_times(source: Path, pictures: Path) -> None:
    """Rewrite `pictures` with `source`'s sound and frame times; warn (keeping it) if PyAV fails.

    FFmpeg may refuse a source's audio in the container the copy is written in.
    """
    import av

    try:
        with atomic_path(pictures, overwrite=True) as both:
            if not with_source_sound_and_times(source, pictures, both):
                log.warning("%s: its copy's frames are not one per source frame; they keep a "
                            "constant rate", source)
    except av.FFmpegError as exc:
        log.warning("%s: its sound and frame times could not be copied (%s); its copy is "
                    "silent, at its mean frame rate", source, exc)


def write_image(path: Path, image: np.ndarray, overwrite: bool,
                metadata: PhotoMetadata = NO_METADATA) -> None:
    """Write a gray, BGR or BGRA image atomically in the format its suffix names.

    `metadata` (an input photo's ICC profile and EXIF) goes into the file; a block the format
    cannot hold is named in a warning.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(path.suffix, image, WRITE_OPTIONS.get(path.suffix.lower(), []))
    if not ok:
        raise UserError(f"OpenCV cannot write {image.dtype} images as {path.suffix}")
    data, dropped = with_metadata(encoded.tobytes(), metadata, image.shape)
    if dropped:
        log.warning("%s: its input's %s is not in it", path, " and ".join(dropped))
    with atomic_path(path, overwrite) as tmp:
        tmp.write_bytes(data)


def denoise_files(spec: ModelSpec, jobs: Sequence[Job], overwrite: bool = False,
                  workers: int = 1, strict: bool = False, resumed: bool = False) -> int:
    """Denoise every job with one progress bar, in `workers` processes; return the count done.

    The model is opened here first, so a bad one is one error before any worker starts. An
    unreadable image is skipped with a warning (and left for a later --resume to skip again)
    unless `strict`; if none could be read, that is an error, except when `resumed` (the jobs
    are what an earlier run left, so only unreadable ones may remain).
    """
    model = spec.open()
    with contextlib.ExitStack() as stack:
        if workers == 1 or len(jobs) < 2:
            done = (_denoise(model, job, overwrite, strict) for job in jobs)
        else:
            pool = stack.enter_context(process_pool(workers, spec, _start_worker, overwrite,
                                                    strict))
            done = pool.map(_denoise_job, jobs,
                            chunksize=max(1, min(16, len(jobs) // (4 * workers))))
        problems = list(progress(done, total=len(jobs), desc="denoising", unit="image",
                                 min_total=2))
    skipped = [why for why in problems if why]
    if skipped and len(skipped) == len(jobs) and not resumed:
        raise UserError(f"none of the {len(jobs)} images could be denoised ({skipped[0]})")
    if skipped:
        shown = "; ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        log.warning("skipped %d image(s) it cannot denoise: %s", len(skipped), shown)
    return len(jobs) - len(skipped)


def _denoise(model: Denoiser, job: Job, overwrite: bool, strict: bool) -> str | None:
    """Denoise one image into its target; why not when it cannot be read (and not `strict`)."""
    try:
        image, metadata = read_photo(job.source)
    except UserError as exc:
        if strict:
            raise
        return str(exc)
    write_image(job.target, denoise_image(model, image), overwrite, metadata)
    return None


_worker: tuple[Denoiser, bool, bool] | None = None  # this worker's model, overwrite and strict


def _start_worker(spec: ModelSpec, overwrite: bool, strict: bool) -> None:
    global _worker
    _worker = (spec.open(), overwrite, strict)


def _denoise_job(job: Job) -> str | None:
    model, overwrite, strict = _worker
    return _denoise(model, job, overwrite, strict)
