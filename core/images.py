"""Reading and converting images with OpenCV and numpy only (no TensorFlow).

Conventions: OpenCV decodes to BGR; edgeae works in RGB (or single-channel gray) float32 in
[0, 1], HWC. 8-bit images are divided by 255, 16-bit by 65535.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from edgeae.core.containers import (
    EXIF_TURNS,
    exif_orientation,
    may_hold_alpha,
    png_cut_short,
    pnm_maxval,
    tiff_unassociated_alpha,
    unused_alpha,
)
from edgeae.core.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm",
                  ".pnm")
log = logging.getLogger(__name__)


def image_files(root: Path) -> list[Path]:
    """The image files under `root`, sorted, through linked folders too (each folder once).

    Hidden files and folders (".name": .git, macOS's ._ copies) and files of other suffixes
    are left out, and one log line counts them, so nothing is left out unsaid.
    """
    found, left, seen = [], Counter(), set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back up: walked already
            dirs[:] = []
            continue
        seen.add(real)
        left["hidden"] += sum(d.startswith(".") for d in dirs)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            path = Path(folder) / name
            kind = "hidden" if name.startswith(".") else path.suffix.lower() or "no suffix"
            if kind in IMAGE_SUFFIXES and path.is_file():
                found.append(path)
            else:
                left["a broken link" if kind in IMAGE_SUFFIXES else kind] += 1
    left = +left  # the kinds seen
    said = (str(root), ", ".join(f"{k} {n}" for k, n in left.most_common()))
    if left and said not in _SAID_LEFT_OUT:  # once: a --loop pass or a probe reads it again
        _SAID_LEFT_OUT.add(said)
        log.info("left out %d file(s) or folder(s) in %s that are no images by name: %s",
                 left.total(), *said)
    return sorted(found)


_SAID_LEFT_OUT: set[tuple[str, str]] = set()


def series_as_images(values: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """(N, L) rows of numbers as (N, 1, L, 1) float32 images in [0, 1].

    Scaled by the training rows' (min, max), as the tutorial does; values outside are clipped.
    """
    lo, hi = value_range
    unit = (np.asarray(values, np.float64) - lo) / (hi - lo if hi > lo else 1.0)
    return np.clip(unit, 0.0, 1.0).astype(np.float32)[:, None, :, None]


# after a scan, a marker: 0xFF then neither a stuffed 0x00, a restart (0xD0-0xD7) nor a fill 0xFF
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def read_image(path: Path) -> np.ndarray | None:
    """Decode an image file as stored (bit depth and channels kept); None if unreadable.

    Colour images come back in RGB(A) order, not OpenCV's BGR.
    """
    return decode_image(file_bytes(path))


def file_bytes(path: Path) -> np.ndarray:
    """A file's bytes as a uint8 array, to check and decode from one read; empty if unreadable."""
    try:
        return np.fromfile(path, np.uint8)
    except OSError:
        return np.empty(0, np.uint8)


def decode_image(encoded: np.ndarray) -> np.ndarray | None:
    """`read_image` of a file's bytes: `decode_upright` in RGB(A) order."""
    img = decode_upright(encoded)
    if img is not None and img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img is not None and img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return img


def decode_upright(encoded: np.ndarray) -> np.ndarray | None:
    """A file's bytes as stored (bit depth, gray, BGR or BGRA), upright; None if undecodable.

    Turned by its EXIF orientation, as photo viewers (and every edgeae command) show it.
    OpenCV turns an image only when it decodes it without IMREAD_UNCHANGED, which drops alpha:
    a file that may hold alpha (PNG with it, TIFF, WebP, 32-bit BMP) is decoded a second time
    unchanged, and its alpha plane turned as the colours were: by the file's EXIF orientation
    where that fits them, else by the one turn that does.
    """
    upright = _decoded(encoded, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if upright is None or upright.size == 0:
        return None
    if not may_hold_alpha(encoded):
        return _full_range(upright, pnm_maxval(encoded))
    stored = _decoded(encoded, cv2.IMREAD_UNCHANGED)
    if stored is None or stored.ndim != 3 or stored.shape[2] != 4 or unused_alpha(encoded, stored):
        return upright
    colours = stored[..., :3] if upright.ndim == 3 else stored[..., 0]
    said = EXIF_TURNS.get(exif_orientation(encoded))  # first: one colour fits several turns
    turn = next((t for t in ([] if said is None else [said]) + list(range(8))
                 if np.array_equal(_turned(colours, t), upright)), None)
    if turn is None:  # not a turn of what OpenCV decoded: no upright image to give
        return None
    image = np.dstack([as_bgr(upright), np.ascontiguousarray(_turned(stored[..., 3], turn))])
    if image.dtype == np.uint8 and tiff_unassociated_alpha(encoded):
        _unpremultiply(image)
    return image


def _unpremultiply(image: np.ndarray) -> None:
    """Divide BGRA colours by their alpha, in place: OpenCV's 8-bit TIFF reader multiplied them.

    An editor's transparent TIFF (unassociated alpha) came back darkened where alpha is below
    255, 200 read as 78 at alpha 100. Back to within a level or two where alpha is high; where
    it is 0 nothing is left to recover (and nothing shows).
    """
    gain = np.float32(255.0) / np.maximum(image[..., 3:].astype(np.float32), 1.0)
    image[..., :3] = np.clip(np.rint(image[..., :3] * gain), 0, 255)


def _decoded(encoded: np.ndarray, flags: int) -> np.ndarray | None:
    """cv2.imdecode, or None where it fails.

    It raises instead of returning None for an image over its limit (CV_IO_MAX_IMAGE_PIXELS,
    2^30 pixels: a decompression bomb).
    """
    if not encoded.size or png_cut_short(encoded):
        return None
    try:
        return cv2.imdecode(encoded, flags)
    except cv2.error:
        return None


def _full_range(image: np.ndarray, maxval: int | None) -> np.ndarray:
    """A Netpbm image whose maxval is below its type's white, scaled to that white.

    OpenCV keeps the raw values: a 12-bit PGM (maxval 4095) was read 16 times too dark.
    """
    top = np.iinfo(image.dtype).max if image.dtype.kind == "u" else None
    if not maxval or top is None or maxval >= top:
        return image
    scaled = np.rint(image.astype(np.float32) * np.float32(top / maxval))
    return np.clip(scaled, 0, top).astype(image.dtype)


def _turned(image: np.ndarray, turn: int) -> np.ndarray:
    """One of the 8 flips and rotations by number: quarter turns, then a mirror from 4 on."""
    turned = np.rot90(image, turn % 4)
    return turned[:, ::-1] if turn >= 4 else turned


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A gray image as three equal planes (what an image with alpha is written as: BGRA)."""
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image


def jpeg_cut_short(data: bytes | memoryview) -> bool:
    """True for a JPEG file's bytes cut short: its segments run out before the end-of-image marker.

    OpenCV decodes such a file without an error, its missing rows grey; only libjpeg's warning
    on stderr says so. The walk skips each segment by its length (an EXIF thumbnail is inside
    one) and each scan to the next marker that is not a stuffed byte or a restart, and stops
    at the end marker, so data appended after it (a phone's motion photo) does not count.
    False for another format.
    """
    if data[:2] != b"\xff\xd8":
        return False
    at, scanned = 2, False  # cut in its headers: the decoder fails and says so itself
    while at + 2 <= len(data):
        if data[at] != 0xFF:
            return False  # not a marker where one belongs: leave the verdict to the decoder
        marker = data[at + 1]
        if marker == 0xD9:
            return False
        if marker == 0xFF or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            at += 1 if marker == 0xFF else 2  # fill byte, or a marker without a length
            continue
        if at + 4 > len(data):
            return scanned
        at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
        if marker == 0xDA:  # start of scan: its entropy-coded data runs to the next marker
            scanned, found = True, _NEXT_MARKER.search(data, at)
            if found is None:
                return True
            at = found.start()
    return scanned


def to_unit_float(img: np.ndarray) -> np.ndarray:
    """Scale integer pixels to float32 [0, 1] by their dtype's range; floats pass through."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) * np.float32(1.0 / 255.0)
    if img.dtype == np.uint16:
        return img.astype(np.float32) * np.float32(1.0 / 65535.0)
    if img.dtype == np.bool_:
        return img.astype(np.float32)
    if np.issubdtype(img.dtype, np.floating):
        return img.astype(np.float32, copy=False)
    raise UserError(f"unsupported pixel type {img.dtype}; use uint8, uint16 or float in [0, 1]")


def channel_count(img: np.ndarray) -> int:
    """Channels of an HW or HWC image, alpha excluded: 1 gray, 3 colour.

    A gray image with alpha is decoded as BGRA with three equal planes (decode_upright): gray.
    """
    if img.ndim == 2 or img.shape[2] == 1:
        return 1
    gray_with_alpha = img.shape[2] == 4 and np.array_equal(img[..., 0], img[..., 1]) \
        and np.array_equal(img[..., 1], img[..., 2])
    return 1 if gray_with_alpha else 3


def convert_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """Return an HWC image with `channels` (1 gray or 3 RGB); alpha is dropped."""
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 4:
        img = img[:, :, :3]
    have = img.shape[2]
    if have == channels:
        return img
    if channels == 1:
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[:, :, None]
    if channels == 3 and have == 1:
        return np.repeat(img, 3, axis=2)
    raise UserError(f"cannot convert a {have}-channel image to {channels} channels")


def resize(img: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """Resize an HWC image to (height, width): area averaging to shrink, bilinear to grow.

    `out`: an array of the result's shape and type to write into (a hot path's kept buffer).
    """
    h, w = size
    if img.shape[:2] == (h, w):
        return img
    shrinking = img.shape[0] * img.shape[1] > h * w
    out = cv2.resize(img, (w, h), dst=out,
                     interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return out if out.ndim == 3 else out[:, :, None]


def fit_in_box(img: np.ndarray, side: int) -> np.ndarray:
    """An HWC [0, 1] image scaled, its shape kept, to fit a side x side tile, centred on white.

    Tiles of a grid hold images of any size and shape, none squashed to another's.
    """
    h, w, c = img.shape
    scale = side / max(h, w)
    fitted = resize(img, (max(1, round(h * scale)), max(1, round(w * scale))))
    tile = np.ones((side, side, c), np.float32)
    top, left = (side - fitted.shape[0]) // 2, (side - fitted.shape[1]) // 2
    tile[top:top + fitted.shape[0], left:left + fitted.shape[1]] = fitted
    return tile


def prepare(img: np.ndarray, channels: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """Raw decoded image -> float32 HWC in [0, 1] with the given channels and optional size."""
    out = convert_channels(to_unit_float(img), channels)
    if size is not None:
        out = resize(out, size)
    return np.ascontiguousarray(out, dtype=np.float32)


def cropped_to_multiple(images: np.ndarray, m: int) -> np.ndarray:
    """NHWC images cropped at the centre to sides that are multiples of `m`.

    A U-Net's levels must halve: calibration images of other sides ended export in a
    converter's traceback.
    """
    h, w = images.shape[1:3]
    if min(h, w) < m:  # cropped to nothing: the converter died of a floating-point exception
        raise UserError(f"images of {h}x{w} are smaller than the model takes: give images of "
                        f"at least {m}x{m} (sides in multiples of {m})")
    top, left = (h % m) // 2, (w % m) // 2
    return images[:, top:top + h // m * m, left:left + w // m * m]


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8, rounded and clipped."""
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def write_png(path: Path, img: np.ndarray) -> None:
    """Write an RGB or gray uint8 image (HW or HWC) as PNG, converting to OpenCV's BGR."""
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), img):
        raise UserError(f"could not write image {path}")


def tile_grid(rows: list[np.ndarray], pad: int = 2) -> np.ndarray:
    """Lay out rows of equally sized float HWC images as one uint8 grid image."""
    h, w, c = rows[0][0].shape
    cols = max(len(r) for r in rows)
    grid = np.full((len(rows) * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            grid[y:y + h, x:x + w] = to_uint8(img)
    return grid


def overlay(image: np.ndarray, heat: np.ndarray, scale: float) -> np.ndarray:
    """A BGR uint8 picture of the image with its anomaly map (0..scale) blended on top."""
    unit = np.clip(heat / scale, 0, 1) if scale > 0 else np.zeros_like(heat)
    colour = cv2.applyColorMap(np.rint(unit * 255).astype(np.uint8), cv2.COLORMAP_JET)
    base = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
    base = cv2.cvtColor(base, cv2.COLOR_GRAY2BGR if base.shape[-1] == 1 else cv2.COLOR_RGB2BGR)
    return cv2.addWeighted(base, 0.55, colour, 0.45, 0)

