"""Built-in datasets: scikit-learn's digits (offline), MNIST and Fashion-MNIST (downloaded).

Downloads come from the official addresses into a cache folder, are checked against the
published MD5 checksums, and are moved into place only once verified. `data_dir` reads files
already on disk instead: the IDX files, or an .npz with x_train/y_train/x_test/y_test.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeae.core.errors import UserError
from edgeae.core.files import atomic_path, default_cache_dir, file_digest
from edgeae.core.idx import read_idx
from edgeae.core.progress import progress

log = logging.getLogger(__name__)

SPLIT_FILES = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class RemoteDataset:
    """A dataset published as IDX files at one or more mirrors, with their MD5 checksums."""

    name: str
    mirrors: tuple[str, ...]
    files: dict[str, tuple[str, str]]  # split key -> (file name, md5)


REMOTE_DATASETS = {
    "mnist": RemoteDataset(
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/",
         "https://storage.googleapis.com/cvdf-datasets/mnist/",
         "http://yann.lecun.com/exdb/mnist/"),
        {"x_train": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
         "y_train": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
         "x_test": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
         "y_test": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")}),
    "fashion-mnist": RemoteDataset(
        "fashion-mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
         "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        {"x_train": ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
         "y_train": ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
         "x_test": ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
         "y_test": ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")}),
}
BUILTIN_NAMES = ("digits", *REMOTE_DATASETS)


def _fetch(url: str, dest: Path, md5: str, timeout: float) -> None:
    """Download `url` to `dest` atomically; raise ValueError on a checksum mismatch."""
    with atomic_path(dest, overwrite=True) as tmp:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            chunks = iter(lambda: resp.read(1 << 16), b"")
            for chunk in progress(chunks, total=total and -(-total // (1 << 16)),
                                  desc=dest.name, unit="chunk", min_total=16):
                out.write(chunk)
        if file_digest(tmp, "md5") != md5:
            raise ValueError(f"checksum mismatch for {url}")


def download(spec: RemoteDataset, cache_dir: Path | None = None, timeout: float = 60.0) -> Path:
    """Make sure every file of `spec` is in the cache, verified; return the cache folder."""
    folder = Path(cache_dir or default_cache_dir()) / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    for filename, md5 in spec.files.values():
        dest = folder / filename
        if dest.is_file() and file_digest(dest, "md5") == md5:
            continue
        problems = []
        for mirror in spec.mirrors:
            try:
                log.info("downloading %s%s", mirror, filename)
                _fetch(mirror + filename, dest, md5, timeout)
                break
            except (urllib.error.URLError, OSError, ValueError) as exc:
                problems.append(f"{mirror}: {getattr(exc, 'reason', exc)}")
        else:
            raise UserError(f"could not download {filename} of {spec.name} "
                            f"({'; '.join(problems)}); fetch the files yourself and pass "
                            "--data-dir DIR, or, where there is none (export --calibration), "
                            "the images file itself (an .npz or IDX file)")
    return folder


def _read_idx_folder(spec: RemoteDataset, folder: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for key, (filename, _) in spec.files.items():
        candidates = [folder / filename, folder / filename.removesuffix(".gz")]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise UserError(f"{folder} has no {filename} (or its unpacked form); it needs the "
                            f"four IDX files of {spec.name} or pass an .npz with {SPLIT_FILES}")
        arrays[key] = read_idx(found)
    return arrays


def _read_split_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in SPLIT_FILES if k not in npz.files]
        if missing:
            raise UserError(f"{path} lacks arrays {missing}; expected {SPLIT_FILES}")
        return {k: npz[k] for k in SPLIT_FILES}


def load_digits_split(test_fraction: float = 0.2) -> dict[str, np.ndarray]:
    """scikit-learn's 8x8 digits as uint8, split into a fixed (seed 0) train and test part."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # a device environment: the digits ship inside scikit-learn
        raise UserError("--data digits needs scikit-learn, which ships them: pip install "
                        "scikit-learn (or give a folder of images)") from None

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)  # (1797, 8, 8), 0..16
    order = np.random.default_rng(0).permutation(len(images))
    n_test = int(round(len(images) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return {"x_train": images[train], "y_train": digits.target[train],
            "x_test": images[test], "y_test": digits.target[test]}


def load_builtin(name: str, data_dir: Path | None = None,
                 cache_dir: Path | None = None) -> dict[str, np.ndarray]:
    """x_train, y_train, x_test, y_test of a built-in dataset."""
    if name == "digits":
        return load_digits_split()
    spec = REMOTE_DATASETS[name]
    if data_dir is not None:
        data_dir = Path(data_dir)
        if data_dir.is_file() and data_dir.suffix == ".npz":
            return _read_split_npz(data_dir)
        if not data_dir.is_dir():
            raise UserError(f"--data-dir {data_dir} is neither a folder of IDX files nor an .npz")
        return _read_idx_folder(spec, data_dir)
    return _read_idx_folder(spec, download(spec, cache_dir))

