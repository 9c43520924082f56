"""Data sources: folders of every supported format, arrays, IDX, video and built-ins."""

from __future__ import annotations

import gzip
import logging

import cv2
import numpy as np
import pytest

from edgeae.core.data import Preprocess, load_data
from edgeae.core.errors import UserError
from edgeae.core.idx import read_idx

from conftest import blobs, turned_by_exif, write_folder, write_video


def write_idx(path, array: np.ndarray, compress: bool = False) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif"])
def test_folder_formats_recursive_with_labels(tmp_path, suffix):
    write_folder(tmp_path, blobs(6, channels=3), classes=3, suffix=suffix)
    src = load_data(str(tmp_path)).train
    assert len(src) == 6 and src.channels == 3 and src.size == (16, 16)
    assert src.class_names == ["class_0", "class_1", "class_2"]
    assert sorted(np.bincount(src.labels)) == [2, 2, 2]
    img = src.read(0)
    assert img.dtype == np.float32 and img.shape == (16, 16, 3)
    assert 0.0 <= img.min() and img.max() <= 1.0


def test_16bit_png_and_tiff_scale_by_65535(tmp_path):
    img = np.full((8, 8), 65535 // 2, np.uint16)
    for name in ("a.png", "b.tiff"):
        assert cv2.imwrite(str(tmp_path / name), img)
    src = load_data(str(tmp_path)).train
    for i in range(2):
        assert src.read(i) == pytest.approx(np.full((8, 8, 1), 0.5, np.float32), abs=1e-4)


def test_rgb_order_is_kept(tmp_path):
    red = np.zeros((1, 4, 4, 3), np.uint8)
    red[..., 0] = 255  # RGB red
    write_folder(tmp_path, red)
    img = load_data(str(tmp_path)).train.read(0)
    assert img[0, 0].tolist() == [1.0, 0.0, 0.0]


def test_channel_conversion_and_resize(tmp_path):
    write_folder(tmp_path, blobs(3, channels=3))
    src = load_data(str(tmp_path), Preprocess(channels=1, size=(8, 12))).train
    assert src.read(0).shape == (8, 12, 1)
    gray = write_folder(tmp_path / "g", blobs(2))
    assert load_data(str(gray), Preprocess(channels=3)).train.read(0).shape == (16, 16, 3)


def test_corrupt_image_skipped_with_warning(tmp_path, caplog):
    write_folder(tmp_path, blobs(4))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with caplog.at_level(logging.WARNING):
        src = load_data(str(tmp_path)).train
    assert len(src) == 4
    assert "skipped 1 unreadable or truncated image(s)" in caplog.text
    assert "broken.png" in caplog.text
    with pytest.raises(UserError, match="broken.png is not a readable image"):
        load_data(str(tmp_path), strict=True)


def test_a_jpeg_cut_short_is_skipped_but_one_with_data_after_its_end_is_kept(tmp_path, caplog):
    write_folder(tmp_path, blobs(3))
    photo = cv2.imencode(".jpg", blobs(1, 64)[0], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    (tmp_path / "cut.jpg").write_bytes(photo[:len(photo) * 3 // 4])
    (tmp_path / "motion.jpg").write_bytes(photo + bytes(range(256)) * 8)  # e.g. a motion photo
    assert cv2.imread(str(tmp_path / "cut.jpg")) is not None  # OpenCV decodes it, rows grey
    with caplog.at_level(logging.WARNING):
        assert len(load_data(str(tmp_path)).train) == 4  # the PNGs and motion.jpg
    assert "skipped 1 unreadable or truncated image(s): " in caplog.text
    assert "cut.jpg" in caplog.text
    with pytest.raises(UserError, match="cut.jpg is a JPEG cut short; remove it or drop --strict"):
        load_data(str(tmp_path), strict=True)


def test_mixed_sizes_need_image_size(tmp_path):
    from edgeae.core.data import image_shape

    write_folder(tmp_path, blobs(2, size=16))
    cv2.imwrite(str(tmp_path / "big.png"), blobs(1, size=24)[0])
    src = load_data(str(tmp_path)).train
    with pytest.raises(UserError, match="different sizes.*--image-size"):
        image_shape(src, None)
    assert image_shape(src, 12) == (12, 12, 1)
    assert load_data(str(tmp_path), Preprocess(size=(16, 16))).train.size == (16, 16)


@pytest.mark.parametrize("shape", [(5, 12, 10), (5, 12, 10, 1), (5, 12, 10, 3)])
def test_npy_and_npz_arrays(tmp_path, shape):
    arr = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    np.save(tmp_path / "x.npy", arr)
    src = load_data(str(tmp_path / "x.npy")).train
    assert len(src) == 5 and src.channels == (3 if shape[-1] == 3 else 1)
    np.testing.assert_allclose(src.read(2)[..., 0], arr[2].reshape(12, 10, -1)[..., 0] / 255,
                               atol=1e-6)
    np.savez(tmp_path / "s.npz", x_train=arr, y_train=np.arange(5), x_test=arr[:2])
    splits = load_data(str(tmp_path / "s.npz"))
    assert len(splits.train) == 5 and len(splits.test) == 2


def test_float_arrays_validated(tmp_path):
    ok = np.random.default_rng(0).random((3, 4, 4)).astype(np.float32)
    np.save(tmp_path / "ok.npy", ok)
    np.testing.assert_allclose(load_data(str(tmp_path / "ok.npy")).train.read(1)[..., 0], ok[1])
    bad = ok.copy()
    bad[2, 1, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(UserError, match="NaN or inf.*image 2"):
        load_data(str(tmp_path / "nan.npy"))
    np.save(tmp_path / "range.npy", ok * 255)
    with pytest.raises(UserError, match=r"floats in \[.*expects floats in \[0, 1\]"):
        load_data(str(tmp_path / "range.npy"))
    np.save(tmp_path / "flat.npy", ok[0, 0])
    with pytest.raises(UserError, match="expected \\(N, H, W\\)"):
        load_data(str(tmp_path / "flat.npy"))


@pytest.mark.parametrize("compress", [False, True])
def test_idx_files(tmp_path, compress):
    arr = blobs(7, size=12)[..., 0]
    path = tmp_path / ("imgs-idx3-ubyte" + (".gz" if compress else ""))
    write_idx(path, arr, compress)
    np.testing.assert_array_equal(read_idx(path), arr)
    assert len(load_data(str(path)).train) == 7
    raw = tmp_path / "cut-idx3-ubyte"
    write_idx(raw, arr)
    raw.write_bytes(raw.read_bytes()[:-5])
    with pytest.raises(UserError, match="truncated"):
        read_idx(raw)


def test_video_every_kth_frame(tmp_path):
    frames = blobs(20, size=32, channels=3)
    path = write_video(tmp_path / "clip.avi", frames)
    src = load_data(str(path), every=3).train
    assert len(src) == 7  # frames 0, 3, ..., 18
    # MJPG is lossy: compare the 4th sampled frame (frame 9) loosely
    np.testing.assert_allclose(src.read(3), frames[9] / 255, atol=0.12)
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(UserError, match="cannot be opened as a video|no readable frames"):
        load_data(str(tmp_path / "bad.mp4"))


def test_builtin_digits_offline():
    splits = load_data("digits")
    assert len(splits.train) + len(splits.test) == 1797
    assert splits.train.size == (8, 8) and splits.train.read(0).max() <= 1.0


def test_fashion_mnist_from_data_dir(tmp_path):
    arrays = {"x_train": blobs(10, size=28)[..., 0], "y_train": np.arange(10),
              "x_test": blobs(4, size=28)[..., 0], "y_test": np.arange(4)}
    np.savez(tmp_path / "fm.npz", **arrays)
    splits = load_data("fashion-mnist", data_dir=tmp_path / "fm.npz")
    assert (len(splits.train), len(splits.test)) == (10, 4)
    idx_dir = tmp_path / "idx"
    idx_dir.mkdir()
    names = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
    for key, name in names.items():
        write_idx(idx_dir / name, arrays[key], compress=name.endswith(".gz"))
    splits = load_data("mnist", data_dir=idx_dir)
    np.testing.assert_allclose(splits.test.read(1)[..., 0], arrays["x_test"][1] / 255, atol=1e-6)
    (idx_dir / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(UserError, match="has no t10k-labels"):
        load_data("mnist", data_dir=idx_dir)


def test_missing_and_empty(tmp_path):
    with pytest.raises(UserError, match="no such file or directory.*built-in datasets"):
        load_data(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images found"):
        load_data(str(tmp_path / "empty"))
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(UserError, match="cannot read"):
        load_data(str(tmp_path / "notes.txt"))


def test_colour_read_for_a_gray_model_is_said_once(tmp_path, caplog):
    """Colour becoming gray is said (once); gray stored as RGB loses nothing and says nothing."""
    from edgeae.core.data import FolderImages

    caplog.set_level(logging.INFO, logger="edgeae")
    gray_as_rgb = write_folder(tmp_path / "gray", np.repeat(blobs(2), 3, axis=-1))
    colour = write_folder(tmp_path / "colour", blobs(2, channels=3))
    for folder in (gray_as_rgb, colour):
        source = FolderImages(folder, Preprocess(channels=1))
        assert source.read_batch(np.arange(2)).shape == (2, 16, 16, 1)
    assert caplog.text.count("colour images become gray for a gray model") == 1
    assert "colour: colour images" in caplog.text.replace(str(tmp_path) + "/", "")



def test_photos_are_read_upright_and_their_alpha_turned_with_them(tmp_path):
    """What train, score, reconstruct and export's calibration read: a photo as its viewer
    shows it, as `denoise` reads it (before, a turned photo came in sideways there)."""
    from edgeae.core.images import read_image

    shown = np.random.default_rng(0).integers(0, 255, (24, 40, 4), np.uint8)
    turned_by_exif(tmp_path / "turned.png", shown)
    np.testing.assert_array_equal(read_image(tmp_path / "turned.png"), shown)  # RGBA, exact
    yy, xx = np.mgrid[:24, :40]
    smooth = np.dstack([xx * 6, yy * 10, np.full_like(xx, 128)]).astype(np.uint8)
    turned_by_exif(tmp_path / "portrait.jpg", smooth, quality=98)
    src = load_data(str(tmp_path / "portrait.jpg")).train
    assert src.size == (24, 40)
    assert np.abs(src.read(0) - smooth / 255).max() < 0.05  # JPEG's own error


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header gives `width` x `height` gray pixels (its data far fewer)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes(width + 1))) + chunk(b"IEND", b""))


def test_an_image_past_opencvs_pixel_limit_is_skipped_not_a_crash(tmp_path, caplog):
    """OpenCV raises, not returns None, for more than 2^30 pixels (a decompression bomb)."""
    write_folder(tmp_path, blobs(2))
    (tmp_path / "bomb.png").write_bytes(_png_claiming(40_000, 40_000))
    with caplog.at_level(logging.WARNING):
        assert len(load_data(str(tmp_path)).train) == 2
    assert "bomb.png (not a readable image)" in caplog.text
    with pytest.raises(UserError, match="bomb.png is not a readable image"):
        load_data(str(tmp_path), strict=True)


def test_a_float_image_outside_0_1_is_skipped_and_says_why(tmp_path, caplog):
    """A float TIFF of 0-255 values would stop scoring a whole folder halfway; one in [0, 1]
    is an image like any other."""
    write_folder(tmp_path, blobs(2))
    assert cv2.imwrite(str(tmp_path / "unit.tif"), np.full((16, 16), 0.5, np.float32))
    assert cv2.imwrite(str(tmp_path / "levels.tif"), np.full((16, 16), 128, np.float32))
    with caplog.at_level(logging.WARNING):
        assert len(load_data(str(tmp_path)).train) == 3
    assert "levels.tif (an image of float32 pixels outside [0, 1]" in caplog.text
    with pytest.raises(UserError, match=r"levels.tif is an image of float32 pixels outside"):
        load_data(str(tmp_path), strict=True)


def test_a_folder_is_read_whole_and_what_is_left_out_is_said(tmp_path, caplog):
    """Netpbm files are images, a linked folder is walked (once), gray with alpha is gray, and
    hidden or non-image files are counted in one line instead of left out unsaid."""
    from PIL import Image

    from edgeae.core.data import FolderImages

    caplog.set_level(logging.INFO, logger="edgeae")
    root = write_folder(tmp_path / "photos", blobs(2))
    for i, image in enumerate(blobs(2, seed=1)[..., 0]):  # gray + alpha: PNG colour type 4
        Image.fromarray(np.dstack([image, np.full_like(image, 200)]), "LA").save(
            root / f"la_{i}.png")
    cv2.imwrite(str(root / "scan.pgm"), blobs(1, seed=2)[0])
    linked = write_folder(tmp_path / "elsewhere", blobs(3, seed=3))
    (root / "linked").symlink_to(linked, target_is_directory=True)
    (root / "linked" / "loop").symlink_to(root, target_is_directory=True)  # back up: once
    (root / ".hidden.png").write_bytes((root / "scan.pgm").read_bytes())
    (root / "notes.txt").write_text("not an image")
    (root / "gone.png").symlink_to(tmp_path / "missing.png")
    source = FolderImages(root, Preprocess())
    names = sorted(source.item_name(i) for i in range(len(source)))
    assert len(names) == 2 + 2 + 1 + 3 and "scan.pgm" in names
    assert sum(name.startswith("linked/") for name in names) == 3
    assert source.channels == 1  # the LA files are gray: they had made it an RGB model
    assert "left out 3 file(s) or folder(s)" in caplog.text
    assert all(kind in caplog.text for kind in ("hidden 1", ".txt 1", "a broken link 1"))


def test_a_folder_of_unusable_images_says_why_in_its_one_line(tmp_path):
    for i in range(2):  # a float TIFF of 0-255 values, as scientific tools export them
        cv2.imwrite(str(tmp_path / f"{i}.tif"), np.full((8, 8), 128.0, np.float32))
    with pytest.raises(UserError, match=r"none of the 2 image files could be used: .*0\.tif "
                                        r"\(an image of float32 pixels outside \[0, 1\] "
                                        r"\(divide them by 255\)\) \.\.\.$"):
        load_data(str(tmp_path))


def test_a_video_cut_short_is_used_with_a_warning(tmp_path, caplog):
    path = write_video(tmp_path / "clip.avi", blobs(30, channels=3))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])  # its header still counts 30 frames
    source = load_data(str(path)).train
    assert 0 < len(source) < 30
    assert "of the 30 frames its container counts could be decoded" in caplog.text
    caplog.clear()
    load_data(str(write_video(tmp_path / "whole.avi", blobs(30, channels=3))))
    assert "could be decoded" not in caplog.text


def test_a_variable_frame_rate_video_read_to_its_end_is_not_called_damaged(tmp_path, caplog):
    """Its container's frame count is the duration times the mean rate, an estimate: 12 frames
    of an intact file were '12 of the 18 frames its container counts (cut short?)'."""
    import fractions

    av = pytest.importorskip("av")  # the training extra's; OpenCV writes constant rates only
    path = tmp_path / "vfr.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "bgr0"
        stream.codec_context.time_base = fractions.Fraction(1, 1000)
        shown = 0
        for i, image in enumerate(blobs(12, size=32, channels=3)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = shown, fractions.Fraction(1, 1000)
            shown += 40 if i % 2 else 250  # bursts: 1.7 s, a mean rate that is no frame's
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT) > 12  # the estimate
    assert len(load_data(str(path)).train) == 12
    assert "could be decoded" not in caplog.text


def test_a_netpbm_image_is_read_by_its_maxval(tmp_path):
    """OpenCV keeps a PGM's raw values: a 12-bit one (maxval 4095) was read 16 times too dark."""
    from edgeae.core.images import read_image

    values = np.array([[0, 1024], [2048, 4095]], np.uint16)
    (tmp_path / "twelve.pgm").write_bytes(b"P5\n# a comment\n2 2\n4095\n" +
                                          values.astype(">u2").tobytes())
    np.testing.assert_array_equal(read_image(tmp_path / "twelve.pgm"),
                                  np.rint(values * (65535 / 4095)).astype(np.uint16))
    (tmp_path / "hundred.pgm").write_bytes(b"P5 2 1 100\n" + bytes([50, 100]))
    np.testing.assert_array_equal(read_image(tmp_path / "hundred.pgm"), [[128, 255]])
    cv2.imwrite(str(tmp_path / "full.pgm"), values * 16)  # maxval 65535: as stored
    np.testing.assert_array_equal(read_image(tmp_path / "full.pgm"), values * 16)


def test_alpha_is_kept_in_a_32_bit_bmp_and_behind_a_large_png_chunk(tmp_path):
    """Both were read without their alpha plane, without a word."""
    import zlib

    from PIL import Image

    from edgeae.core.images import read_image

    bgra = np.dstack([blobs(1, 16, 3)[0], np.arange(256, dtype=np.uint8).reshape(16, 16)])
    cv2.imwrite(str(tmp_path / "a.bmp"), bgra)
    assert read_image(tmp_path / "a.bmp").shape == (16, 16, 4)
    # a 32-bit BMP whose fourth byte is padding (no alpha mask): opaque, as Windows shows it,
    # where its zeros had been kept as an alpha plane that made the copy invisible
    bgra[..., 3] = 0
    cv2.imwrite(str(tmp_path / "padded.bmp"), bgra)
    assert read_image(tmp_path / "padded.bmp").shape == (16, 16, 3)
    palette = Image.fromarray(blobs(1, 16)[0, ..., 0]).convert("P")
    palette.save(tmp_path / "p.png", transparency=0)
    png = (tmp_path / "p.png").read_bytes()
    text = b"XML:com.adobe.xmp\0\0\0\0\0" + b" " * (1 << 20)  # a bloated XMP packet
    chunk = len(text).to_bytes(4, "big") + b"iTXt" + text + zlib.crc32(b"iTXt" + text).to_bytes(
        4, "big")
    (tmp_path / "big.png").write_bytes(png[:33] + chunk + png[33:])  # after IHDR: 8 + 25 bytes
    assert read_image(tmp_path / "big.png").shape == (16, 16, 4)
    assert read_image(tmp_path / "p.png").shape == (16, 16, 4)


def test_a_tiffs_unassociated_alpha_leaves_its_colours_as_stored(tmp_path):
    """OpenCV's 8-bit reader premultiplied them: an editor's transparent TIFF read darker where
    its alpha is below 255 (200 read as 78 at alpha 100), and its denoised copy kept that."""
    from PIL import Image

    from edgeae.core.images import read_image

    rgba = np.zeros((8, 16, 4), np.uint8)
    rgba[..., :3] = [200, 120, 40]
    rgba[..., 3] = np.linspace(0, 255, 16).astype(np.uint8)[None]  # clear to opaque
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cut-out.tif")  # ExtraSamples 2
    assert Image.open(tmp_path / "cut-out.tif").tag_v2[338] == (2,)
    read = read_image(tmp_path / "cut-out.tif").astype(int)
    np.testing.assert_array_equal(read[..., 3], rgba[..., 3])
    seen = rgba[..., 3] >= 64  # at lower alpha the premultiplied levels are too few to go back
    assert np.abs(read[seen][:, :3] - rgba[seen][:, :3]).max() <= 2
    cv2.imwrite(str(tmp_path / "own.tif"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    np.testing.assert_array_equal(read_image(tmp_path / "own.tif"), rgba)  # OpenCV's own: as is


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tiff"])
def test_the_alpha_of_a_one_colour_logo_turns_as_its_exif_says(tmp_path, suffix):
    """The turn was guessed by matching colours, and one colour matches every turn: a logo's
    shape (its alpha) came out 180 degrees off."""
    from PIL import Image, ImageOps

    from edgeae.core.images import read_image

    alpha = np.zeros((12, 7), np.uint8)
    alpha[1:5, 4:6] = 255  # a bar in the top right of the stored pixels
    stored = np.dstack([np.full((12, 7, 3), (200, 30, 90), np.uint8), alpha])
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        path, reference = tmp_path / f"logo_{orientation}{suffix}", tmp_path / "shown.png"
        Image.fromarray(stored).save(path, exif=exif.tobytes(),
                                     **({"lossless": True} if suffix == ".webp" else {}))
        Image.fromarray(stored).save(reference, exif=exif.tobytes())  # PIL turns a TIFF not
        shown, got = np.asarray(ImageOps.exif_transpose(Image.open(reference))), read_image(path)
        np.testing.assert_array_equal(got[..., 3], shown[..., 3], err_msg=str(orientation))
        opaque = shown[..., 3] == 255  # an 8-bit TIFF's colours come premultiplied by OpenCV
        np.testing.assert_array_equal(got[opaque], shown[opaque], err_msg=str(orientation))


def test_a_videos_first_frames_are_read_without_decoding_the_rest(tmp_path, caplog, monkeypatch):
    """adapt --max-frames decoded the whole video (a 12-megapixel one for minutes) first."""
    path = write_video(tmp_path / "clip.avi", blobs(30, channels=3))
    grabs = []
    real = cv2.VideoCapture

    class Counting:  # the capture, counting the frames it decodes
        def __init__(self, *args) -> None:
            self._capture = real(*args)

        def __getattr__(self, name: str):  # noqa: ANN204 - the capture's own
            return getattr(self._capture, name)

        def grab(self) -> bool:
            grabs.append(1)
            return self._capture.grab()

    monkeypatch.setattr(cv2, "VideoCapture", Counting)
    source = load_data(str(path), max_frames=5).train
    assert len(source) == 5 and len(grabs) == 5
    monkeypatch.setattr(cv2, "VideoCapture", real)
    whole = load_data(str(path)).train
    np.testing.assert_array_equal(source.read_batch(np.arange(5)),
                                  whole.read_batch(np.arange(5)))
    assert "could be decoded" not in caplog.text  # stopping early is no damage
