"""Dataset downloads: checksums, caching and mirror fallback, against a local HTTP server."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from functools import partial

import numpy as np
import pytest

import edgeae.core.datasets as datasets
from edgeae.core.datasets import RemoteDataset, download, load_builtin
from edgeae.core.errors import UserError


@pytest.fixture()
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 and record the paths requested."""
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):  # noqa: N802 - http.server's name
            requests.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=root))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()


def idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def publish(root, name: str, array: np.ndarray) -> str:
    data = idx_gz(array)
    (root / "good").mkdir(exist_ok=True)
    (root / "good" / name).write_bytes(data)
    return hashlib.md5(data).hexdigest()


def make_spec(root, base: str, mirrors=("good/",)) -> RemoteDataset:
    arrays = {"x_train": np.full((3, 4, 4), 7), "y_train": np.arange(3),
              "x_test": np.full((2, 4, 4), 9), "y_test": np.arange(2)}
    files = {k: (f"{k}-idx.gz", publish(root, f"{k}-idx.gz", a)) for k, a in arrays.items()}
    return RemoteDataset("tiny", tuple(f"{base}/{m}" for m in mirrors), files)


def test_download_verifies_and_caches(server, tmp_path, monkeypatch):
    root, base, requests = server
    spec = make_spec(root, base)
    cache = tmp_path / "cache"
    folder = download(spec, cache)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f for f, _ in spec.files.values())
    assert len(requests) == 4
    download(spec, cache)
    assert len(requests) == 4, "verified cached files must not be downloaded again"
    monkeypatch.setitem(datasets.REMOTE_DATASETS, "mnist", spec)
    arrays = load_builtin("mnist", cache_dir=cache)
    assert arrays["x_test"].shape == (2, 4, 4) and (arrays["x_test"] == 9).all()


def test_bad_checksum_is_rejected_and_nothing_kept(server, tmp_path):
    root, base, _ = server
    spec = make_spec(root, base)
    name, _ = spec.files["x_train"]
    spec.files["x_train"] = (name, "0" * 32)
    with pytest.raises(UserError, match="could not download x_train-idx.gz.*checksum mismatch"):
        download(spec, tmp_path / "cache")
    leftovers = list((tmp_path / "cache" / "tiny").glob("x_train*"))
    assert leftovers == [], "a file that failed its checksum must not stay in the cache"


def test_falls_back_to_next_mirror(server, tmp_path):
    root, base, requests = server
    spec = make_spec(root, base, mirrors=("missing/", "good/"))
    download(spec, tmp_path / "cache")
    assert any(r.startswith("/missing/") for r in requests)
    assert sum(r.startswith("/good/") for r in requests) == 4


def test_corrupt_cached_file_is_fetched_again(server, tmp_path):
    root, base, requests = server
    spec = make_spec(root, base)
    folder = download(spec, tmp_path / "cache")
    (folder / spec.files["y_test"][0]).write_bytes(b"garbage")
    download(spec, tmp_path / "cache")
    assert len(requests) == 5
