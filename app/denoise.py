"""`edgeae denoise`: denoise image files and folders with an exported or pretrained model.

Images keep their format, bit depth (8- or 16-bit PNG/TIFF) and size; EXIF orientation is
applied on reading, as photo viewers do. Outputs mirror the inputs' names under --out and are
written atomically; all output paths are checked before any work, so a refused overwrite costs
nothing. Large archives: `workers` processes each open the model once and take images from one
queue (each output keeps its input's name, so order does not matter), and `resume` skips the
images whose output already exists (an interrupted run leaves only whole files). Needs only the
runtime (no TensorFlow).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgeae.app.workers import ModelSpec, process_pool
from edgeae.core.data import VIDEO_SUFFIXES
from edgeae.core.errors import UserError
from edgeae.core.files import atomic_path, check_writable
from edgeae.core.images import IMAGE_SUFFIXES, file_bytes, jpeg_cut_short
from edgeae.core.progress import progress
from edgeae.runtime.models import Denoiser

log = logging.getLogger(__name__)

LOSSY_QUALITY = 95
ALPHA_SUFFIXES = (".png", ".tif", ".tiff", ".webp")  # formats that can hold an alpha plane
WRITE_OPTIONS = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, LOSSY_QUALITY],  # lossy formats' quality
                 ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, LOSSY_QUALITY],
                 ".webp": [cv2.IMWRITE_WEBP_QUALITY, LOSSY_QUALITY]}
DEPTH_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


@dataclass(frozen=True)
class Job:
    """One image to denoise and where its result goes."""

    source: Path
    target: Path


def plan_jobs(inputs: Sequence[Path], out_dir: Path, overwrite: bool = False,
              resume: bool = False) -> list[Job]:
    """Pair every input image with its output path; fail before any work on a bad one.

    A file goes to out_dir/NAME; a folder's images to out_dir/FOLDER/RELATIVE/PATH (where that
    lies inside the folder, what an earlier run wrote there is no input). With `resume`, images
    whose output exists are left out (done by an earlier run).
    """
    jobs = []
    for path in map(Path, inputs):
        if path.is_dir():
            root = path.resolve()
            outputs = (out_dir / root.name).resolve()  # an earlier run's, if inside the folder
            inside = outputs != root and outputs.is_relative_to(root)
            found = sorted(p for p in path.rglob("*")
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                           and not (inside and p.resolve().is_relative_to(outputs)))
            if not found:
                raise UserError(f"no images in {path} (looked for {', '.join(IMAGE_SUFFIXES)})")
            jobs += [Job(p, out_dir / root.name / p.relative_to(path)) for p in found]
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise UserError(f"{path} is not an image ({', '.join(IMAGE_SUFFIXES)})")
            jobs.append(Job(path, out_dir / path.name))
        else:
            raise UserError(f"no such file or folder: {path}")
    over = next((j for j in jobs if j.target.resolve() == j.source.resolve()), None)
    if over is not None:
        raise UserError(f"--out {out_dir} would write over {over.source} itself; choose another "
                        "--out")
    targets = [j.target for j in jobs]
    if len(set(targets)) != len(targets):
        raise UserError("two inputs share a name; denoise them into different --out folders")
    if resume and not overwrite:
        jobs = [j for j in jobs if not j.target.exists()]
    for job in jobs:
        check_writable(job.target, overwrite)
    return jobs


def read_image(path: Path) -> np.ndarray:
    """An image as stored (uint8 or uint16; gray, BGR or BGRA), turned upright by its EXIF tag.

    The file is read once; a format that can hold alpha is decoded a second time for it.
    """
    encoded = file_bytes(path)
    if jpeg_cut_short(encoded.data):  # OpenCV would decode it, its missing rows grey
        raise UserError(f"{path} is a JPEG cut short")
    image = (cv2.imdecode(encoded, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
             if encoded.size else None)
    if image is None or image.size == 0:
        raise UserError(f"cannot read {path} as an image")
    if image.dtype not in DEPTH_MAX:
        raise UserError(f"{path} has {image.dtype} pixels; edgeae denoises 8- and 16-bit images")
    alpha = (_upright_alpha(path, encoded, image) if path.suffix.lower() in ALPHA_SUFFIXES
             else None)
    return image if alpha is None else np.dstack([_as_bgr(image), alpha])


def _upright_alpha(path: Path, encoded: np.ndarray, upright: np.ndarray) -> np.ndarray | None:
    """The alpha plane of an image that has one, turned as `upright` (the oriented colours) is.

    OpenCV decodes alpha only unchanged, and unchanged means EXIF orientation not applied: the
    turn is found as the one of the 8 flips and rotations that maps the stored colours onto
    the oriented ones (both decoded by the same decoder, so exactly equal).
    """
    stored = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    if stored is None or stored.ndim != 3 or stored.shape[2] != 4:
        return None
    colours = stored[..., :3] if upright.ndim == 3 else stored[..., 0]
    for turn in range(8):
        if np.array_equal(_turned(colours, turn), upright):
            return np.ascontiguousarray(_turned(stored[..., 3], turn))
    raise UserError(f"{path}: its alpha plane cannot be matched to its oriented pixels")


def _turned(image: np.ndarray, turn: int) -> np.ndarray:
    """One of the 8 flips and rotations by number: quarter turns, then a mirror from 4 on."""
    turned = np.rot90(image, turn % 4)
    return turned[:, ::-1] if turn >= 4 else turned


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """A gray image as three equal planes (an image with alpha is written as BGRA)."""
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image


def denoise_image(model: Denoiser, image: np.ndarray) -> np.ndarray:
    """Denoise a uint8 or uint16 gray/BGR/BGRA image; the result has the same dtype and shape.

    Alpha is kept as it is. A gray model denoises a gray image stored as colour (three equal
    planes, as a gray PNG with alpha is read) once, not once per plane. Every image is a still:
    a temporal model forgets the image before.
    """
    if image.ndim == 3 and image.shape[2] == 4:
        return np.dstack([denoise_image(model, image[..., :3]), image[..., 3]])
    if image.ndim == 3 and model.input_spec.channels == 1 and _equal_planes(image):
        return _as_bgr(denoise_image(model, image[..., 0]))
    model.reset()
    if image.dtype == np.uint8:
        return model.denoise(image)
    top = DEPTH_MAX[image.dtype]
    restored = model.denoise(image.astype(np.float32) / top)
    return np.clip(np.rint(restored * top), 0, top).astype(image.dtype)


def _equal_planes(image: np.ndarray) -> bool:
    """Whether every colour plane of an HxWxC image is the first one."""
    return all(np.array_equal(image[..., 0], image[..., c]) for c in range(1, image.shape[2]))


def split_videos(inputs: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(video files, the other inputs): videos are denoised as video, frame after frame."""
    videos = [p for p in map(Path, inputs) if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    return videos, [p for p in map(Path, inputs) if p not in videos]


def denoise_videos(spec: ModelSpec, videos: Sequence[Path], out_dir: Path,
                   overwrite: bool = False) -> int:
    """Denoise each video into out_dir/NAME through the run loop; return the frames written.

    A temporal model keeps its history from frame to frame (and starts again at every video
    and scene cut); the output video is written atomically at the source's frame rate.
    """
    from edgeae.runtime.capture import Source
    from edgeae.runtime.loop import RunOptions, run

    for video in videos:  # all refused before any work
        check_writable(out_dir / video.name, overwrite)
    model, written = spec.open(), 0
    for video in videos:
        model.reset()
        summary = run(model, Source("video", str(video)),
                      RunOptions(output=out_dir / video.name, overwrite=overwrite))
        written += summary.written
    return written


def write_image(path: Path, image: np.ndarray, overwrite: bool) -> None:
    """Write a gray, BGR or BGRA image atomically in the format its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(path.suffix, image, WRITE_OPTIONS.get(path.suffix.lower(), []))
    if not ok:
        raise UserError(f"OpenCV cannot write {image.dtype} images as {path.suffix}")
    with atomic_path(path, overwrite) as tmp:
        tmp.write_bytes(encoded.tobytes())


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
        image = read_image(job.source)
    except UserError as exc:
        if strict:
            raise
        return str(exc)
    write_image(job.target, denoise_image(model, image), overwrite)
    return None


_worker: tuple[Denoiser, bool, bool] | None = None  # this worker's model, overwrite and strict


def _start_worker(spec: ModelSpec, overwrite: bool, strict: bool) -> None:
    global _worker
    _worker = (spec.open(), overwrite, strict)


def _denoise_job(job: Job) -> str | None:
    model, overwrite, strict = _worker
    return _denoise(model, job, overwrite, strict)
