"""What an image file's container says that OpenCV's decode does not hand over.

Whether it may hold an alpha plane (which decides a second, unchanged decode) or pads a BMP
with a blank one, its EXIF orientation (which turns that alpha plane as OpenCV turned the
colours), a Netpbm file's maxval (OpenCV keeps the raw values), whether a PNG is cut short
(refused before libpng prints its own line), whether a file without an image's suffix is
one, how many pages a TIFF holds (OpenCV reads the first) and whether its alpha is
unassociated (OpenCV's 8-bit reader premultiplies it). Each reads a few header bytes or walks
the chunks or directories.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from itertools import takewhile

import numpy as np

# EXIF orientation tag -> core/images._turned's number for the turn OpenCV applies (measured on
# PNG, WebP and TIFF files of all eight)
EXIF_TURNS = {1: 0, 2: 4, 3: 2, 4: 6, 5: 7, 6: 3, 7: 5, 8: 1}
ORIENTATION_TAG = 0x0112
EXTRA_SAMPLES_TAG, UNASSOCIATED_ALPHA = 338, 2  # a TIFF's alpha: its colours not premultiplied
SAMPLES_PER_PIXEL_TAG = 277
TIFF_MAGIC = {b"II*\x00": "little", b"MM\x00*": "big"}  # a TIFF header: its byte order
# the first bytes of each still image format OpenCV reads here (JPEG's also start an MJPEG file)
STILL_SIGNATURES = re.compile(rb"\x89PNG\r\n\x1a\n|\xff\xd8\xff|BM|II\*\x00|MM\x00\*|RIFF....WEBP"
                              rb"|P[1-6]\s", re.DOTALL)


def may_hold_alpha(encoded: np.ndarray) -> bool:
    """Whether the file may hold an alpha plane: TIFF, WebP, 32-bit BMP, or a PNG that says so.

    A PNG says so by its colour type (4 or 6) or a transparency chunk before its pixels.
    """
    head = encoded[:32].tobytes()
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        before_pixels = takewhile(lambda chunk: chunk[0] != b"IDAT", png_chunks(encoded))
        return (len(head) > 25 and head[25] in (4, 6)) or any(
            kind == b"tRNS" for kind, _, _ in before_pixels)
    if head[:2] == b"BM" and len(head) > 29:
        return int.from_bytes(head[28:30], "little") == 32  # bits per pixel: BGRA
    return head[:4] in TIFF_MAGIC or (head[:4], head[8:12]) == (b"RIFF", b"WEBP")


def still_signature(head: bytes) -> bytes | None:
    """The image signature a file's first 16 bytes start with, or None.

    Tells a photo saved without a suffix from a video, which FFmpeg read it as: one frame,
    its EXIF turn lost.
    """
    found = STILL_SIGNATURES.match(head)
    return found[0] if found else None


def unused_alpha(encoded: np.ndarray, stored: np.ndarray) -> bool:
    """Whether a 32-bit BMP's fourth plane is padding: all zero (no alpha mask in its header).

    Windows shows such a file opaque; kept as alpha, its denoised copy came out invisible.
    """
    return encoded[:2].tobytes() == b"BM" and not stored[..., 3].any()


def png_chunks(encoded: np.ndarray) -> Iterator[tuple[bytes, int, int]]:
    """A PNG's chunks in order, as (type, where its data starts, its length).

    Walked from length to length: searching a first MiB missed a chunk behind a larger text or
    metadata chunk.
    """
    at = 8  # after the signature: length, type, data, CRC
    while at + 8 <= encoded.size:
        length = int.from_bytes(encoded[at:at + 4].tobytes(), "big")
        yield encoded[at + 4:at + 8].tobytes(), at + 8, length
        at += 12 + length


def png_cut_short(encoded: np.ndarray) -> bool:
    """Whether a PNG's chunks run out before its end chunk (IEND): a file cut short.

    Refused before decoding, as libpng prints its own line ("PNG input buffer is incomplete")
    where the user was to see edgeae's one.
    """
    if encoded[:8].tobytes() != b"\x89PNG\r\n\x1a\n":
        return False
    for kind, at, length in png_chunks(encoded):
        if at + length + 4 > encoded.size:  # its data and CRC are not all there
            return True
        if kind == b"IEND":
            return False
    return True


def pnm_maxval(encoded: np.ndarray) -> int | None:
    """A Netpbm gray or colour file's largest value (its header's maxval); None for others."""
    head = encoded[:512].tobytes()
    if head[:2] not in (b"P2", b"P3", b"P5", b"P6"):
        return None
    fields = re.sub(rb"#[^\n]*", b" ", head[2:]).split()  # width, height, maxval, pixels
    return int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else None


def tiff_numbers(encoded: np.ndarray, start: int) -> Callable[[int, int], int] | None:
    """A reader of the TIFF structure at `start`: (offset, size) -> the number there.

    In the header's byte order; None where no TIFF header is there.
    """
    order = TIFF_MAGIC.get(encoded[start:start + 4].tobytes())
    if order is None or start + 8 > encoded.size:
        return None
    return lambda at, size: int.from_bytes(encoded[start + at:start + at + size].tobytes(), order)


def exif_orientation(encoded: np.ndarray) -> int | None:
    """The EXIF orientation (1-8) of a TIFF, or of a PNG's or WebP's EXIF block; None if unsaid."""
    start = _exif_start(encoded)
    if start is None:
        return None
    entry = first_ifd_entry(encoded, start, ORIENTATION_TAG)
    return None if entry is None else tiff_numbers(encoded, start)(entry + 8, 2)


def tiff_unassociated_alpha(encoded: np.ndarray) -> bool:
    """Whether a TIFF's first image has an unassociated alpha (ExtraSamples 2, as editors write).

    OpenCV's 8-bit TIFF reader premultiplies its colours by it.
    """
    entry = first_ifd_entry(encoded, 0, EXTRA_SAMPLES_TAG)
    return entry is not None and tiff_numbers(encoded, 0)(entry + 8, 2) == UNASSOCIATED_ALPHA


def tiff_gray_with_alpha(encoded: np.ndarray) -> bool:
    """Whether a TIFF's first image is gray with alpha (two samples), which OpenCV reads gray."""
    entry = first_ifd_entry(encoded, 0, SAMPLES_PER_PIXEL_TAG)
    return entry is not None and tiff_numbers(encoded, 0)(entry + 8, 2) == 2


def first_ifd_entry(encoded: np.ndarray, start: int, tag: int) -> int | None:
    """Where the TIFF structure at `start` holds `tag` in its first directory (from `start`).

    None where there is no TIFF header there, no such entry, or the directory is cut short.
    """
    number = tiff_numbers(encoded, start)
    if number is None:
        return None
    ifd = number(4, 4)
    for entry in range(ifd + 2, ifd + 2 + 12 * number(ifd, 2), 12):
        if start + entry + 12 > encoded.size:
            return None
        if number(entry, 2) == tag:
            return entry
    return None


def tiff_pages(encoded: np.ndarray, most: int = 1000) -> int:
    """How many images (IFDs) a classic TIFF holds (1 for any other file; counted to `most`).

    OpenCV's imdecode reads the first alone: a multi-page scan lost its other pages unsaid.
    """
    number = tiff_numbers(encoded, 0)
    if number is None:
        return 1
    pages, ifd = 0, number(4, 4)
    while 0 < ifd and ifd + 2 <= encoded.size and pages < most:
        pages += 1
        ifd = number(ifd + 2 + 12 * number(ifd, 2), 4)  # past its entries: the next IFD
    return max(pages, 1)


def _exif_start(encoded: np.ndarray) -> int | None:
    """Where a file's EXIF (TIFF-structured) block starts; None where it has none.

    0 in a TIFF; a PNG's eXIf chunk; a WebP's EXIF chunk, past the "Exif" prefix some put there.
    """
    head = encoded[:16].tobytes()
    if head[:4] in TIFF_MAGIC:
        return 0
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return next((at for kind, at, _ in png_chunks(encoded) if kind == b"eXIf"), None)
    if (head[:4], head[8:12]) != (b"RIFF", b"WEBP"):
        return None
    for kind, at, _ in webp_chunks(encoded):
        if kind == b"EXIF":
            prefix = encoded[at:at + 6].tobytes() == b"Exif\x00\x00"
            return at + (6 if prefix else 0)
    return None


def webp_chunks(encoded: np.ndarray) -> Iterator[tuple[bytes, int, int]]:
    """A WebP's chunks in order, as (type, where its data starts, its length)."""
    at = 12  # after "RIFF", the size and "WEBP": type, length, data padded to an even size
    while at + 8 <= encoded.size:
        length = int.from_bytes(encoded[at + 4:at + 8].tobytes(), "little")
        yield encoded[at:at + 4].tobytes(), at + 8, length
        at += 8 + length + (length & 1)
