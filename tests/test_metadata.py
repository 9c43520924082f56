"""What a photo's denoised copy keeps beyond its pixels: its ICC profile and EXIF (read by
Pillow: core/metadata.py), and where it cannot keep its alpha, a warning."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from edgeae.core.containers import tiff_numbers
from edgeae.core.metadata import PhotoMetadata, read_metadata, upright, with_metadata

from conftest import run_cli

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
MAKE, ORIENTATION = 0x010F, 0x0112


def _exif(orientation: int) -> bytes:
    """EXIF as Pillow writes it into a file: "Exif", two zeros, then the TIFF structure."""
    exif = Image.Exif()
    exif[MAKE], exif[ORIENTATION] = "EdgeCam", orientation
    return exif.tobytes()


def _tiff_exif(orientation: int) -> bytes:
    """The TIFF-structured block alone, as PhotoMetadata holds it."""
    return _exif(orientation)[len(b"Exif\x00\x00"):]


def _photo(size=(30, 44)) -> np.ndarray:
    """A smooth RGB picture with noise, for the denoiser to change."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(40, 200, size[1])[None, :, None] * np.ones((size[0], 1, 3))
    return np.clip(ramp + rng.normal(0, 20, ramp.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name,fmt", [("photo.jpg", "JPEG"), ("photo.png", "PNG"),
                                      ("photo.webp", "WEBP"), ("photo.tif", "TIFF")])
def test_a_denoised_photo_keeps_its_profile_and_exif_upright(name, fmt, tmp_path):
    """Each format's copy holds the input's profile, and (but a TIFF) its EXIF, upright."""
    pixels = _photo()
    Image.fromarray(pixels).save(tmp_path / name, fmt, icc_profile=SRGB, exif=_exif(6))
    code, _, err = run_cli("denoise", tmp_path / name, "--pretrained", "live", "--out",
                           tmp_path / "out")
    assert code == 0, err
    copy = Image.open(tmp_path / "out" / name)
    copy.load()
    assert copy.info.get("icc_profile") == SRGB
    shown = np.asarray(copy.convert("RGB"))
    assert shown.shape[:2] == pixels.shape[1::-1]  # turned a quarter, stored upright
    assert np.abs(shown.astype(int) - np.rot90(pixels, -1)).mean() > 1  # it was denoised
    exif = copy.getexif()
    assert exif.get(ORIENTATION, 1) == 1  # a viewer turns it no further
    # a TIFF's tags (its camera's among them) are its directory, which OpenCV writes anew
    assert exif.get(MAKE) == (None if fmt == "TIFF" else "EdgeCam")


def test_a_profile_of_other_colours_is_left_out_with_a_warning(tmp_path, caplog):
    """A CMYK JPEG's profile on the BGR pixels OpenCV reads would tell viewers to misread them."""
    cmyk = bytearray(SRGB)
    cmyk[16:20] = b"CMYK"
    Image.fromarray(_photo()).convert("CMYK").save(tmp_path / "print.jpg", icc_profile=bytes(cmyk))
    code, _, err = run_cli("denoise", tmp_path / "print.jpg", "--pretrained", "live", "--out",
                           tmp_path / "out")
    assert code == 0, err
    assert "icc_profile" not in Image.open(tmp_path / "out" / "print.jpg").info
    assert "ICC profile (of CMYK colours, the copy's are RGB) is not in it" in caplog.text


def test_a_large_profile_spans_jpeg_segments_and_pixels_stay_as_encoded():
    """ICC profiles over 64 kB (print profiles) take numbered APP2 segments; no pixel changes."""
    profile = SRGB[:16] + b"RGB " + bytes(range(256)) * 600  # 153 kB: three segments
    pixels = _photo()
    ok, encoded = cv2.imencode(".jpg", pixels)
    assert ok
    written, left_out = with_metadata(encoded.tobytes(), PhotoMetadata(profile, _tiff_exif(8)),
                                      pixels.shape)
    assert not left_out
    assert Image.open(io.BytesIO(written)).info["icc_profile"] == profile
    assert read_metadata(written) == PhotoMetadata(profile, upright(_tiff_exif(8)))
    assert Image.open(io.BytesIO(written)).getexif()[ORIENTATION] == 1
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(written, np.uint8), -1),
                                  cv2.imdecode(encoded, -1))


def test_a_file_without_metadata_is_written_as_encoded():
    ok, encoded = cv2.imencode(".png", _photo())
    assert ok and not read_metadata(encoded.tobytes())
    assert with_metadata(encoded.tobytes(), PhotoMetadata(), (30, 44, 3)) == (encoded.tobytes(),
                                                                              [])


def test_a_turned_photos_exif_leaves_its_thumbnail_out():
    """The thumbnail directory is stored as the camera held it: turned, once the photo is not."""
    exif = bytearray(_tiff_exif(6))
    number = tiff_numbers(np.frombuffer(bytes(exif), np.uint8), 0)
    after_entries = number(4, 4) + 2 + 12 * number(number(4, 4), 2)
    assert number(after_entries, 4) == 0  # Pillow wrote no thumbnail: one is added
    exif[after_entries:after_entries + 4] = len(exif).to_bytes(4, "big")  # Pillow's order: MM
    exif += b"\x00" * 6  # an empty directory, with no next one
    turned = upright(bytes(exif))
    assert tiff_numbers(np.frombuffer(turned, np.uint8), 0)(after_entries, 4) == 0
    read = Image.Exif()
    read.load(turned)
    assert read[ORIENTATION] == 1 and read[MAKE] == "EdgeCam"
    unturned = _tiff_exif(1)
    assert upright(unturned) == unturned  # nothing turned: kept whole, thumbnail and all


def test_a_gray_tiff_with_alpha_is_denoised_with_a_warning_that_its_alpha_is_lost(tmp_path,
                                                                                   caplog):
    """OpenCV reads a two-sample TIFF as gray alone: the copy had lost its alpha unsaid."""
    gray_alpha = np.dstack([_photo()[..., 0], np.full((30, 44), 128, np.uint8)])
    Image.fromarray(gray_alpha, "LA").save(tmp_path / "mask.tif")
    code, _, err = run_cli("denoise", tmp_path / "mask.tif", "--pretrained", "live", "--out",
                           tmp_path / "out")
    assert code == 0, err
    assert "mask.tif is gray with alpha, which OpenCV reads without it" in caplog.text
    assert cv2.imread(str(tmp_path / "out" / "mask.tif"), cv2.IMREAD_UNCHANGED).shape == (30, 44)


def test_a_lossless_webps_alpha_is_kept_when_its_header_is_extended():
    """VP8X must flag a lossless image's own alpha: without it OpenCV read the plane away."""
    bgra = np.dstack([_photo(), np.full((30, 44), 90, np.uint8)])
    ok, encoded = cv2.imencode(".webp", bgra, [cv2.IMWRITE_WEBP_QUALITY, 101])  # lossless
    assert ok and encoded[12:16].tobytes() == b"VP8L"
    written, _ = with_metadata(encoded.tobytes(), PhotoMetadata(SRGB), bgra.shape)
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(written, np.uint8), -1), bgra)
