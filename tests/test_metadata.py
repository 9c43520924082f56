"""A photo's ICC profile and EXIF reach its denoised copy (core/metadata.py), read by Pillow."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from edgeae.core.metadata import PhotoMetadata, read_metadata, with_metadata

from conftest import run_cli

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
MAKE, ORIENTATION = 0x010F, 0x0112


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[MAKE], exif[ORIENTATION] = "EdgeCam", orientation
    return exif.tobytes()


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
    written, left_out = with_metadata(encoded.tobytes(), PhotoMetadata(profile, _exif(8)),
                                      pixels.shape)
    assert not left_out
    assert Image.open(io.BytesIO(written)).info["icc_profile"] == profile
    assert read_metadata(written) == PhotoMetadata(profile, read_metadata(written).exif)
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(written, np.uint8), -1),
                                  cv2.imdecode(encoded, -1))


def test_a_file_without_metadata_is_written_as_encoded():
    ok, encoded = cv2.imencode(".png", _photo())
    assert ok and not read_metadata(encoded.tobytes())
    assert with_metadata(encoded.tobytes(), PhotoMetadata(), (30, 44, 3)) == (encoded.tobytes(),
                                                                              [])
