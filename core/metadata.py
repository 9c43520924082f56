"""A photo's colour profile and EXIF, carried from an image file into its denoised copy.

OpenCV decodes pixels and writes no metadata: without its ICC profile a Display P3 or Adobe RGB
photo's copy shows as sRGB (its colours duller or shifted), and the camera's EXIF is lost. The
blocks are copied as they are into the file OpenCV encoded: JPEG APP1/APP2 segments, PNG
iCCP/eXIf chunks, WebP ICCP/EXIF chunks (its VP8X header saying so), a TIFF's ICC tag. A TIFF's
EXIF is a directory pointing into the file it came from, so it is not carried. The EXIF
orientation becomes 1, as the copy is written upright (and a turned photo's thumbnail is left
out).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from edgeae.core.containers import (
    ORIENTATION_TAG,
    TIFF_MAGIC,
    first_ifd_entry,
    png_chunks,
    tiff_numbers,
    webp_chunks,
)

ICC_TAG = 34675  # a TIFF directory's InterColorProfile
JPEG_ICC = b"ICC_PROFILE\x00"
JPEG_EXIF = b"Exif\x00\x00"
JPEG_PAYLOAD = 65533  # a segment's length field counts itself: 65535 - 2 bytes of payload
WEBP_ICC, WEBP_ALPHA, WEBP_EXIF = 0x20, 0x10, 0x08  # VP8X flags


@dataclass(frozen=True)
class PhotoMetadata:
    """What an image file says of itself beyond its pixels; None where it says nothing."""

    icc: bytes | None = None  # the ICC colour profile
    exif: bytes | None = None  # the TIFF-structured EXIF block, without JPEG's "Exif" prefix

    def __bool__(self) -> bool:
        return bool(self.icc or self.exif)


def read_metadata(data: bytes) -> PhotoMetadata:
    """The ICC profile and EXIF of a JPEG, PNG, WebP or TIFF file (nothing for another format)."""
    container = _container(data)
    return PhotoMetadata() if container is None else CONTAINERS[container][0](data)


def with_metadata(encoded: bytes, metadata: PhotoMetadata,
                  shape: tuple[int, ...]) -> tuple[bytes, list[str]]:
    """`encoded` (a file OpenCV wrote of an image of `shape`) holding `metadata`; what it could not.

    The list names each block left out and why, for the caller's warning. A profile of another
    colour space than the copy's (a CMYK JPEG's, which OpenCV reads as BGR) is left out: it
    would tell viewers to read the pixels wrongly.
    """
    container, dropped = _container(encoded), []
    icc, exif = metadata.icc, metadata.exif
    wanted = b"GRAY" if len(shape) == 2 or shape[2] == 1 else b"RGB "
    if icc and icc[16:20] != wanted:
        space = icc[16:20].decode("latin-1").strip() or "unknown"
        dropped.append(f"ICC profile (of {space} colours, the copy's are "
                       f"{wanted.decode().strip()})")
        icc = None
    if container is None:
        return encoded, dropped + [what for what, block in (("ICC profile", icc),
                                                            ("EXIF", exif)) if block]
    if not (icc or exif):
        return encoded, dropped
    written, left = CONTAINERS[container][1](encoded, PhotoMetadata(icc, exif and upright(exif)),
                                             shape[:2])
    return written, dropped + left


def upright(exif: bytes) -> bytes:
    """The EXIF block with orientation 1 (as stored), as the copy is written upright.

    Where the photo was turned, its thumbnail (the next directory, stored as the camera held
    it) is left out too: file browsers showing it would show it turned.
    """
    block = np.frombuffer(exif, np.uint8)
    entry = first_ifd_entry(block, 0, ORIENTATION_TAG)
    number = tiff_numbers(block, 0)
    if entry is None or number(entry + 8, 2) == 1:
        return exif
    turned = bytearray(exif)
    turned[entry + 8:entry + 10] = (1).to_bytes(2, TIFF_MAGIC[exif[:4]])
    ifd = number(4, 4)
    after_entries = ifd + 2 + 12 * number(ifd, 2)  # where the next directory's offset is
    if after_entries + 4 <= len(turned):
        turned[after_entries:after_entries + 4] = bytes(4)
    return bytes(turned)


def _container(data: bytes) -> str | None:
    """Which of CONTAINERS the file's first bytes name."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "tiff" if data[:4] in TIFF_MAGIC else None


def _jpeg_header_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """A JPEG's segments before its pixels, as (marker, payload start, payload end)."""
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker in (0xDA, 0xD9):  # start of scan, end of image
            return
        if marker == 0xFF or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            at += 1 if marker == 0xFF else 2  # fill byte, or a marker without a length
            continue
        end = at + 2 + int.from_bytes(data[at + 2:at + 4], "big")
        yield marker, at + 4, end
        at = end


def _read_jpeg(data: bytes) -> PhotoMetadata:
    """APP1's EXIF and APP2's ICC profile, which spans several segments, numbered, if large."""
    exif, icc_parts = None, {}
    for marker, start, end in _jpeg_header_segments(data):
        payload = data[start:end]
        if marker == 0xE1 and payload.startswith(JPEG_EXIF) and exif is None:
            exif = payload[len(JPEG_EXIF):]
        elif marker == 0xE2 and payload.startswith(JPEG_ICC) and len(payload) > 14:
            icc_parts[payload[12]] = payload[14:]  # [12]: its number from 1, [13]: how many
    icc = b"".join(icc_parts[k] for k in sorted(icc_parts)) if icc_parts else None
    return PhotoMetadata(icc, exif)


def _write_jpeg(encoded: bytes, metadata: PhotoMetadata,
                size: tuple[int, int]) -> tuple[bytes, list[str]]:
    """APP1 (EXIF) and APP2 (ICC) segments after the JFIF header OpenCV writes first."""
    segments, dropped = [], []
    if metadata.exif:
        if len(JPEG_EXIF) + len(metadata.exif) <= JPEG_PAYLOAD:
            segments.append(_jpeg_segment(0xE1, JPEG_EXIF + metadata.exif))
        else:
            dropped.append("EXIF (larger than a JPEG segment holds)")
    if metadata.icc:
        step = JPEG_PAYLOAD - len(JPEG_ICC) - 2
        parts = [metadata.icc[i:i + step] for i in range(0, len(metadata.icc), step)]
        if len(parts) <= 255:
            segments += [_jpeg_segment(0xE2, JPEG_ICC + bytes([n, len(parts)]) + part)
                         for n, part in enumerate(parts, 1)]
        else:
            dropped.append("ICC profile (larger than 255 JPEG segments hold)")
    first = next(_jpeg_header_segments(encoded), None)
    at = first[2] if first and first[0] == 0xE0 else 2  # after APP0 (JFIF), else after SOI
    return encoded[:at] + b"".join(segments) + encoded[at:], dropped


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def _read_png(data: bytes) -> PhotoMetadata:
    """The iCCP chunk's profile (name, method 0, zlib stream) and the eXIf chunk."""
    found = {kind: data[at:at + length]  # the pixels' chunks are walked past, not copied
             for kind, at, length in png_chunks(np.frombuffer(data, np.uint8))
             if kind in (b"iCCP", b"eXIf")}
    profile, icc = found.get(b"iCCP", b""), None
    if b"\x00" in profile:  # its name, a zero, the compression method, the zlib stream
        try:
            icc = zlib.decompress(profile[profile.index(b"\x00") + 2:])
        except zlib.error:
            icc = None  # a damaged profile is none: the copy shows as sRGB, as OpenCV's did
    return PhotoMetadata(icc, found.get(b"eXIf"))


def _write_png(encoded: bytes, metadata: PhotoMetadata,
               size: tuple[int, int]) -> tuple[bytes, list[str]]:
    """The profile (an iCCP chunk) and EXIF (eXIf) right after IHDR, before the pixels."""
    chunks = b""
    if metadata.icc:
        chunks += _png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(metadata.icc))
    if metadata.exif:
        chunks += _png_chunk(b"eXIf", metadata.exif)
    at = 8 + 12 + 13  # the signature, then IHDR: length, type, 13 bytes, CRC
    return encoded[:at] + chunks + encoded[at:], []


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _read_webp(data: bytes) -> PhotoMetadata:
    """The ICCP and EXIF chunks (EXIF past the "Exif" prefix some writers put there)."""
    found = {kind: data[at:at + length]
             for kind, at, length in webp_chunks(np.frombuffer(data, np.uint8))}
    exif = found.get(b"EXIF")
    if exif and exif.startswith(JPEG_EXIF):
        exif = exif[len(JPEG_EXIF):]
    return PhotoMetadata(found.get(b"ICCP"), exif)


def _write_webp(encoded: bytes, metadata: PhotoMetadata,
                size: tuple[int, int]) -> tuple[bytes, list[str]]:
    """An extended WebP: VP8X (flags, canvas), ICCP, the image's chunks, EXIF last."""
    chunks = [(kind, encoded[at:at + length])
              for kind, at, length in webp_chunks(np.frombuffer(encoded, np.uint8))]
    header = dict(chunks).get(b"VP8X")
    flags = header[0] if header else 0
    h, w = size
    flags |= (WEBP_ICC if metadata.icc else 0) | (WEBP_EXIF if metadata.exif else 0)
    flags |= WEBP_ALPHA if _webp_has_alpha(chunks) else 0
    vp8x = bytes([flags, 0, 0, 0]) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    body = _webp_chunk(b"VP8X", vp8x)
    body += _webp_chunk(b"ICCP", metadata.icc) if metadata.icc else b""
    body += b"".join(_webp_chunk(kind, data) for kind, data in chunks if kind != b"VP8X")
    body += _webp_chunk(b"EXIF", metadata.exif) if metadata.exif else b""
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body, []


def _webp_has_alpha(chunks: list[tuple[bytes, bytes]]) -> bool:
    """Whether the image holds alpha: an ALPH chunk, or a lossless image's own alpha bit.

    VP8X must say so: without its flag OpenCV reads a lossless WebP's alpha plane away.
    """
    for kind, data in chunks:
        if kind == b"ALPH" or (kind == b"VP8L" and len(data) >= 5
                               and int.from_bytes(data[1:5], "little") >> 28 & 1):
            return True
    return False


def _webp_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1)


def _read_tiff(data: bytes) -> PhotoMetadata:
    """The first directory's ICC profile (its EXIF points into this file, so is not kept)."""
    encoded = np.frombuffer(data, np.uint8)
    entry = first_ifd_entry(encoded, 0, ICC_TAG)
    if entry is None:
        return PhotoMetadata()
    number = tiff_numbers(encoded, 0)
    count = number(entry + 4, 4)
    at = number(entry + 8, 4) if count > 4 else entry + 8
    return PhotoMetadata(data[at:at + count] if at + count <= len(data) else None)


def _write_tiff(encoded: bytes, metadata: PhotoMetadata,
                size: tuple[int, int]) -> tuple[bytes, list[str]]:
    """The first directory again at the file's end, with the ICC tag, and the header to it.

    Appending leaves every offset in the file as it was; the old directory is left unused.
    """
    dropped = ["EXIF (a TIFF's is not carried)"] if metadata.exif else []
    if not metadata.icc:
        return encoded, dropped
    order = TIFF_MAGIC[encoded[:4]]
    endian = "<" if order == "little" else ">"
    number = tiff_numbers(np.frombuffer(encoded, np.uint8), 0)
    ifd = number(4, 4)
    end = ifd + 2 + 12 * number(ifd, 2)  # where the entries end and the next IFD's offset is
    entries = [encoded[e:e + 12] for e in range(ifd + 2, end, 12)]
    profile_at = len(encoded) + (len(encoded) & 1)  # on a word boundary, as TIFF asks
    new_ifd = profile_at + len(metadata.icc) + (len(metadata.icc) & 1)
    entries.append(struct.pack(endian + "HHII", ICC_TAG, 7, len(metadata.icc), profile_at))
    entries.sort(key=lambda e: int.from_bytes(e[:2], order))  # a directory goes by tag
    tail = b"\x00" * (len(encoded) & 1) + metadata.icc + b"\x00" * (len(metadata.icc) & 1)
    directory = struct.pack(endian + "H", len(entries)) + b"".join(entries) + encoded[end:end + 4]
    return (encoded[:4] + struct.pack(endian + "I", new_ifd) + encoded[8:] + tail + directory,
            dropped)


# container -> (its reader, its writer)
CONTAINERS: dict[str, tuple[Callable[[bytes], PhotoMetadata],
                            Callable[[bytes, PhotoMetadata, tuple[int, int]],
                                     tuple[bytes, list[str]]]]] = {
    "jpeg": (_read_jpeg, _write_jpeg),
    "png": (_read_png, _write_png),
    "webp": (_read_webp, _write_webp),
    "tiff": (_read_tiff, _write_tiff),
}
