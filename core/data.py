"""Image sources: folders, arrays, IDX files, videos and built-in datasets, read one at a time.

This module needs numpy and OpenCV only, so the runtime environment (no TensorFlow) can read
data for `edgeae reconstruct` too. `edgeae.train.pipeline` streams a source through tf.data.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgeae.core.datasets import BUILTIN_NAMES, load_builtin
from edgeae.core.errors import UserError
from edgeae.core.idx import looks_like_idx, read_idx
from edgeae.core.images import (
    IMAGE_SUFFIXES,
    channel_count,
    decode_image,
    file_bytes,
    image_files,
    jpeg_cut_short,
    prepare,
    read_image,
    series_as_images,
    to_unit_float,
)
from edgeae.core.progress import progress
from edgeae.core.series import (
    ANOMALY,
    NORMAL,
    SeriesOptions,
    is_series_file,
    read_series,
    series_labels,
)

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
ARRAY_SUFFIXES = (".npy", ".npz")


@dataclass(frozen=True)
class Preprocess:
    """How raw images become model inputs: channel count and optional resize to (h, w)."""

    channels: int | None = None  # None: 3 if any image is colour, else 1
    size: tuple[int, int] | None = None


@dataclass
class ImageSource:
    """N images readable one at a time as float32 HWC in [0, 1].

    `size` is the common (h, w) after preprocessing, or None when images differ in size (then
    training needs random patch crops).
    """

    name: str
    kind: str
    channels: int
    size: tuple[int, int] | None
    labels: np.ndarray | None = None
    class_names: list[str] | None = None
    # the least height and the least width over the images, after prep (a crop fits in each)
    smallest: tuple[int, int] | None = field(default=None, repr=False)
    value_range: tuple[float, float] | None = None  # series rows: the raw (min, max) -> [0, 1]
    every: int = 1  # a video's frame step (--every K): every K-th frame was kept
    series: SeriesOptions | None = field(default=None, repr=False)  # how labelled rows were read
    _told_gray: bool = field(default=False, init=False, repr=False)  # said colour becomes gray

    def __len__(self) -> int:
        raise NotImplementedError

    def raw(self, i: int) -> np.ndarray:
        """The i-th image as stored."""
        raise NotImplementedError

    def item_name(self, i: int) -> str:
        """A name for the i-th image in reports (file name or index)."""
        return str(i)

    def read(self, i: int) -> np.ndarray:
        """The i-th image as float32 HWC in [0, 1]."""
        raw = self.raw(int(i))
        if self.channels == 1 and not self._told_gray and _has_colour(raw):
            self._told_gray = True
            log.info("%s: colour images become gray for a gray model (first: %s)", self.name,
                     self.item_name(int(i)))
        return prepare(raw, self.channels, self.size)

    def read_batch(self, indices: np.ndarray) -> np.ndarray:
        """Stack images (they must share a size) into an NHWC float32 array."""
        if self.size is None:
            raise UserError(f"images in {self.name} differ in size; pass --image-size HxW")
        return np.stack([self.read(i) for i in indices]) if len(indices) else np.empty(
            (0, *self.size, self.channels), np.float32)


def _has_colour(image: np.ndarray) -> bool:
    """Whether an image as stored holds colour: planes that differ (gray saved as RGB does not).

    Every 4th row and column are compared: it runs on each read of a gray model's training
    images while none has shown colour, and a colour photo's planes differ almost everywhere.
    """
    if image.ndim != 3 or image.shape[2] < 3:
        return False
    grid = image[::4, ::4]
    return bool(np.any(grid[..., 0] != grid[..., 1]) or np.any(grid[..., 1] != grid[..., 2]))


class FolderImages(ImageSource):
    """Image files found recursively under a folder; first-level sub-folders become labels."""

    def __init__(self, root: Path, prep: Preprocess, strict: bool = False) -> None:
        root = Path(root)
        files = [root] if root.is_file() else image_files(root)
        if not files:
            raise UserError(f"no images found in {root} (looked for {', '.join(IMAGE_SUFFIXES)} "
                            "recursively); point --data at a folder of images")
        # each file's own (h, w), upright, before `prep` resizes it (evaluate's masks match it)
        self.paths, self.stored_sizes, chans = _probe_images(files, strict)
        sizes = Counter(self.stored_sizes)
        labels, names = _folder_labels(root, self.paths)
        common = prep.size or (sizes.most_common(1)[0][0] if len(sizes) == 1 else None)
        channels = prep.channels or (3 if 3 in chans else 1)
        # the least of each side: the smallest by area (20x20) had passed a crop of 16 that a
        # 12x100 image could not give, and training crashed in tf.data
        smallest = common or (min(h for h, _ in sizes), min(w for _, w in sizes))
        super().__init__(str(root), "folder", channels, common, labels, names, smallest)
        self.distinct_sizes = sorted(sizes)

    def __len__(self) -> int:
        return len(self.paths)

    def raw(self, i: int) -> np.ndarray:
        """Decode the i-th file (it was readable when the folder was scanned)."""
        img = read_image(self.paths[i])
        if img is None:
            raise UserError(f"{self.paths[i]} became unreadable during training")
        return img

    def item_name(self, i: int) -> str:
        """The file's path relative to the folder."""
        root = Path(self.name)
        return str(self.paths[i].relative_to(root)) if root.is_dir() else self.paths[i].name


class ImageTiles(ImageSource):
    """One large image cut into a grid of tiles, which train and validate as images do.

    Training on random crops (--patch-size) needs no more than one photo, but a split needs
    images to hold out: a held-out tile is a part of the photo the model never trained on.
    Tiles are twice the crop's side, so each epoch's crop from one still varies, or the crop's
    side where that leaves too few. The photo is decoded once.
    """

    def __init__(self, source: ImageSource, patch_size: int, at_least: int) -> None:
        h, w = source.smallest
        side = next((t for t in (2 * patch_size, patch_size) if (h // t) * (w // t) >= at_least),
                    patch_size)
        super().__init__(source.name, source.kind, source.channels, None, smallest=(side, side))
        self.image, self.side, self.photo = source.raw(0), side, source.item_name(0)
        self.corners = [(y, x) for y in range(0, h - side + 1, side)
                        for x in range(0, w - side + 1, side)]

    def __len__(self) -> int:
        return len(self.corners)

    def raw(self, i: int) -> np.ndarray:
        """The i-th tile, a view of the photo."""
        y, x = self.corners[i]
        return self.image[y:y + self.side, x:x + self.side]

    def item_name(self, i: int) -> str:
        """The photo's name and the tile's top-left corner."""
        y, x = self.corners[i]
        return f"{self.photo}@{x},{y}"


def _probe_images(files: list[Path],
                  strict: bool) -> tuple[list[Path], list[tuple[int, int]], set[int]]:
    """Decode each file once to find unreadable ones, each one's size and the channel counts."""
    good, bad, sizes, chans = [], [], [], set()
    for path in progress(files, total=len(files), desc="scanning images", unit="img"):
        img, why = _decoded_image(file_bytes(path))
        if why:
            if strict:
                raise UserError(f"{path} is {why}; remove it or drop --strict")
            bad.append(f"{path} ({why})")
            continue
        good.append(path)
        sizes.append(img.shape[:2])
        chans.add(channel_count(img))
    if not good:  # one line: the error says it all, no warning before it
        raise UserError(f"none of the {len(files)} image files could be used: {bad[0]}"
                        f"{' ...' if len(bad) > 1 else ''}")
    if bad:
        shown = ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
        log.warning("skipped %d unreadable or truncated image(s): %s", len(bad), shown)
    return good, sizes, chans


def _decoded_image(encoded: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """(the image, None), or (None, why it cannot be used) for a file's bytes.

    Pixels are uint8, uint16, or floats in [0, 1] (a float TIFF of 0-255 values is not).
    """
    if jpeg_cut_short(encoded.data):  # before decoding it: libjpeg would print a warning
        return None, "a JPEG cut short"
    img = decode_image(encoded)
    if img is None:
        return None, "not a readable image"
    if np.issubdtype(img.dtype, np.floating) and not (
            np.isfinite(img).all() and img.min() >= 0 and img.max() <= 1):
        return None, f"an image of {img.dtype} pixels outside [0, 1] (divide them by 255)"
    if not np.issubdtype(img.dtype, np.floating) and img.dtype not in (np.uint8, np.uint16):
        return None, f"an image of {img.dtype} pixels (use uint8, uint16 or floats in [0, 1])"
    return img, None


def _folder_labels(root: Path, paths: list[Path]) -> tuple[np.ndarray | None, list[str] | None]:
    """Class labels from first-level sub-folders, when every image lies in one."""
    if not root.is_dir():
        return None, None
    parts = [p.relative_to(root).parts for p in paths]
    if any(len(p) < 2 for p in parts):
        return None, None
    names = sorted({p[0] for p in parts})
    return np.array([names.index(p[0]) for p in parts]), names


class ArrayImages(ImageSource):
    """Images held in an (N, H, W) or (N, H, W, C) array, possibly memory-mapped from disk."""

    def __init__(self, array: np.ndarray, prep: Preprocess, name: str, kind: str,
                 labels: np.ndarray | None = None) -> None:
        array = check_image_array(array, name)
        channels = prep.channels or (1 if array.ndim == 3 or array.shape[3] == 1 else 3)
        size = prep.size or tuple(array.shape[1:3])
        super().__init__(name, kind, channels, size, labels, smallest=size)
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def raw(self, i: int) -> np.ndarray:
        """The i-th image, loaded from the (maybe memory-mapped) array."""
        return np.asarray(self.array[i])

    def read_batch(self, indices: np.ndarray) -> np.ndarray:
        """One vectorised read when no conversion is needed: the training hot path."""
        raw = self.array[np.asarray(indices)]
        raw = raw[..., None] if raw.ndim == 3 else raw
        if raw.shape[1:] != (*self.size, self.channels):
            return super().read_batch(indices)
        return np.ascontiguousarray(to_unit_float(raw))


def check_image_array(array: np.ndarray, name: str) -> np.ndarray:
    """Reject shapes, types and values that are not images, with a fix in the message."""
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[3] not in (1, 3, 4)):
        raise UserError(f"{name} has shape {array.shape}; expected (N, H, W) or (N, H, W, C) "
                        "with C = 1, 3 or 4")
    if len(array) == 0:
        raise UserError(f"{name} holds no images")
    if array.ndim == 3 and array.shape[2] in (3, 4) and array.shape[1] > array.shape[2]:
        # read as (N, H, W), it would be H-pixel strips 3 or 4 wide, trained on without a word
        raise UserError(f"{name} has shape {array.shape}: one {array.shape[2]}-channel image, not "
                        f"{array.shape[0]} images {array.shape[2]} pixels wide; save it as a "
                        "batch of one (image[None]), or give the image file")
    if np.issubdtype(array.dtype, np.floating):
        lo, hi = _finite_range(array, name)
        if lo < 0.0 or hi > 1.0:
            raise UserError(f"{name} holds floats in [{lo:.4g}, {hi:.4g}]; edgeae expects floats "
                            "in [0, 1] (divide by 255) or uint8/uint16 images")
    elif array.dtype not in (np.uint8, np.uint16, np.bool_):
        raise UserError(f"{name} has dtype {array.dtype}; use uint8, uint16 or float in [0, 1]")
    return array


def _finite_range(array: np.ndarray, name: str, chunk: int = 4096) -> tuple[float, float]:
    """Min and max, chunked so a memory-mapped array is never loaded whole; NaN/inf rejected."""
    lo, hi = np.inf, -np.inf
    for start in range(0, len(array), chunk):
        part = np.asarray(array[start:start + chunk])
        if not np.isfinite(part).all():
            bad = start + int(np.argwhere(~np.isfinite(part).reshape(len(part), -1).all(1))[0, 0])
            raise UserError(f"{name} contains NaN or inf (first at image {bad}); clean the array")
        lo, hi = min(lo, float(part.min())), max(hi, float(part.max()))
    return lo, hi


@dataclass
class DataSplits:
    """The training images and, when the source defines one, a held-out test part."""

    train: ImageSource
    test: ImageSource | None = None


def load_arrays(path: Path, prep: Preprocess) -> DataSplits:
    """.npy (N,H,W[,C]) memory-mapped, or .npz with x_train[/x_test] (or one image array)."""
    try:
        if path.suffix.lower() == ".npy":
            return DataSplits(ArrayImages(np.load(path, mmap_mode="r"), prep, str(path), "npy"))
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"{path} is not a readable numpy file ({exc})") from None
    if "x_train" in arrays:
        train, test = (ArrayImages(arrays[f"x_{part}"], prep, f"{path}:x_{part}", "npz",
                                   arrays.get(f"y_{part}")) if f"x_{part}" in arrays else None
                       for part in ("train", "test"))
        return DataSplits(train, test)
    images = [k for k, a in arrays.items() if a.ndim in (3, 4)]
    if len(images) != 1:
        raise UserError(f"{path} has arrays {sorted(arrays)}; name the images x_train (and "
                        "optionally x_test, y_train, y_test)")
    return DataSplits(ArrayImages(arrays[images[0]], prep, f"{path}:{images[0]}", "npz"))


def read_video_frames(path: Path, every: int = 1, limit: int | None = None) -> np.ndarray:
    """Every k-th frame of a video as an RGB uint8 (N, H, W, 3) array, the first `limit` only.

    Frames go to a memory-mapped temporary file, so long videos do not fill memory; reading
    stops at `limit` (adapt --max-frames had decoded the whole video first).
    """
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise UserError(f"{path} cannot be opened as a video (is it a video file OpenCV's "
                        "FFmpeg backend reads?)")
    store = tempfile.TemporaryFile(prefix="edgeae-frames-")
    shape, count, index, failed = None, 0, 0, 0
    counted = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))  # the container's own count, when it has one
    length_ms = 1000 * counted / (cap.get(cv2.CAP_PROP_FPS) or 1)  # whence FFmpeg's count
    reached_ms = 0.0
    try:
        while (limit is None or count < limit) and cap.grab():
            reached_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
            if index % every == 0:
                ok, frame = cap.retrieve()
                if ok:
                    shape = shape or frame.shape
                    store.write(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).tobytes())
                    count += 1
                failed += not ok
            index += 1
    finally:
        cap.release()
    if count == 0:
        store.close()
        raise UserError(f"{path} has no readable frames")
    # a count from the duration may be a frame off, and a variable frame rate's is an estimate:
    # frames that reach the video's end are all there (12 of an estimated 18 were "damaged")
    short = index + 1 < counted and reached_ms + 2 * length_ms / max(counted, 1) < length_ms
    if failed or (short and (limit is None or count < limit)):  # not where it stopped early
        log.warning("%s: %d of the %d frames its container counts could be decoded (a file cut "
                    "short or damaged?); using those", path, index - failed, max(counted, index))
    store.flush()
    return np.memmap(store, np.uint8, mode="r", shape=(count, *shape))


def load_series(path: Path, options: SeriesOptions,
                value_range: tuple[float, float] | None = None) -> DataSplits:
    """Rows of a CSV or (N, L) .npy as 1 x L images in [0, 1] (core/series.py).

    `value_range` scales new rows like the training ones (None: this file's own min and max).
    With `options.normal_only`, only the rows labelled `options.normal_label` are kept.
    """
    values, raw_labels = read_series(path, options)
    labels = series_labels(raw_labels, options)
    value_range = value_range or (float(values.min()), float(values.max()))
    images = series_as_images(values, value_range)
    if labels is not None and options.normal_only:
        images, labels = images[labels == 0], labels[labels == 0]
    source = ArrayImages(images, Preprocess(), str(path), "series", labels)
    source.value_range, source.series = value_range, options
    if labels is not None:
        source.class_names = [NORMAL, ANOMALY]
    return DataSplits(source)


def load_data(spec: str, prep: Preprocess = Preprocess(), data_dir: Path | None = None,
              strict: bool = False, every: int = 1, cache_dir: Path | None = None,
              series: SeriesOptions | None = None,
              value_range: tuple[float, float] | None = None,
              max_frames: int | None = None) -> DataSplits:
    """Resolve `--data`: a built-in name, folder, image, array, IDX, video or series file.

    `max_frames`: a video's first frames to read, at most (the rest is not decoded).
    """
    if data_dir is not None and spec not in BUILTIN_NAMES:
        raise UserError(f"--data-dir is where built-in datasets ({', '.join(BUILTIN_NAMES)}) "
                        f"are read from; --data {spec} is no such name: leave --data-dir out")
    if spec in BUILTIN_NAMES:
        arrays = load_builtin(spec, data_dir, cache_dir)
        if data_dir is not None:  # the files read, which the name alone does not check
            spec = f"{spec} from {data_dir}"
        return DataSplits(
            ArrayImages(arrays["x_train"], prep, spec, "builtin", arrays["y_train"]),
            ArrayImages(arrays["x_test"], prep, f"{spec}:test", "builtin", arrays["y_test"]))
    path = Path(spec)
    if not path.exists():
        raise UserError(f"no such file or directory: {spec} (built-in datasets: "
                        f"{', '.join(BUILTIN_NAMES)})")
    suffix = path.suffix.lower()
    if every != 1 and suffix not in VIDEO_SUFFIXES:
        raise UserError(f"--every {every} keeps every K-th frame of a video; {spec} is no video "
                        "(all its images are used)")
    if path.is_file() and is_series_file(path):
        return load_series(path, series or SeriesOptions(), value_range)
    if path.is_dir() or suffix in IMAGE_SUFFIXES:
        return DataSplits(FolderImages(path, prep, strict))
    if suffix in ARRAY_SUFFIXES:
        return load_arrays(path, prep)
    if suffix in VIDEO_SUFFIXES:
        video = ArrayImages(read_video_frames(path, every, max_frames), prep, str(path), "video")
        video.every = every
        return DataSplits(video)
    if looks_like_idx(path):
        return DataSplits(ArrayImages(read_idx(path), prep, str(path), "idx"))
    raise UserError(f"cannot read {spec}: expected a folder of images, an image, .npy/.npz, an "
                    f"IDX file or a video ({', '.join(VIDEO_SUFFIXES)})")


def image_shape(source: ImageSource, patch_size: int | None) -> tuple[int, int, int]:
    """The (h, w, c) of the images the model sees; explains what to pass when sizes differ."""
    if patch_size is not None:
        smallest = source.smallest or (0, 0)
        if min(smallest) < patch_size:
            raise UserError(f"--patch-size {patch_size} is larger than the smallest image "
                            f"side in {source.name} (heights from {smallest[0]}, widths from "
                            f"{smallest[1]})")
        return patch_size, patch_size, source.channels
    if source.size is None:
        sizes = getattr(source, "distinct_sizes", [])[:3]
        shown = ", ".join(f"{h}x{w}" for h, w in sizes)
        raise UserError(f"images in {source.name} have different sizes ({shown} ...); pass "
                        "--image-size HxW to resize them or --patch-size N to train on crops")
    return (*source.size, source.channels)
