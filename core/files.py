"""Atomic writes and the no-overwrite rule shared by every command that writes files.

A file is written under a temporary name in its destination folder and renamed into place, so a
crash or Ctrl-C never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from edgeae.core.errors import UserError

log = logging.getLogger(__name__)
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # what open() would give a new file; mkstemp gives 0600


def default_cache_dir() -> Path:
    """$EDGEAE_CACHE, else ~/.cache/edgeae: downloads, compiled models, backend choices."""
    return Path(os.environ.get("EDGEAE_CACHE") or Path.home() / ".cache" / "edgeae")


def cache_folder(name: str) -> Path | None:
    """`default_cache_dir() / name`, made if need be; None, with one warning, if it cannot be.

    The warning comes once per cache (default_cache_dir) in this process and the workers it
    starts, which inherit the environment variable that records it.

    A cache only spares later starts their work: a read-only home (a service's user) or a bad
    $EDGEAE_CACHE had ended a model's load in the engine's own error.
    """
    folder = default_cache_dir() / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
        problem = "it is not writable"
    except OSError as exc:
        problem = exc.strerror or str(exc)
    root, warned = str(default_cache_dir()), os.environ.get(UNCACHED_ENV, "").split(os.pathsep)
    if root not in warned:  # once per cache, for this process and those it starts
        os.environ[UNCACHED_ENV] = os.pathsep.join([*filter(None, warned), root])
        log.warning("no cache in %s (%s): later starts repeat the work; set EDGEAE_CACHE to a "
                    "writable folder", folder, problem)
    return None


UNCACHED_ENV = "_EDGEAE_UNCACHED"  # the caches already warned about (workers inherit it)


def prune_oldest(folder: Path, max_bytes: int) -> None:
    """Delete a cache folder's oldest files until the rest fit in `max_bytes` (the newest stays).

    A cache keyed on what it holds (OpenVINO's compiled models: one per model file and frame
    shape) otherwise only grows: 10,262 files, 3.1 GB, on one machine that ran the tests for
    weeks. A file another process deletes first, or still reads, is no error (Linux keeps an
    open file until it is closed). Hidden files are the cache's own (its lock) and stay.
    """
    files = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and not entry.name.startswith("."):
                    stat = entry.stat(follow_symlinks=False)
                    files.append((stat.st_mtime, stat.st_size, entry.path))
    total = 0
    for index, (_, size, path) in enumerate(sorted(files, reverse=True)):
        total += size
        if total > max_bytes and index:
            with contextlib.suppress(OSError):
                os.unlink(path)


def check_writable(path: Path, overwrite: bool) -> None:
    """Refuse to replace an existing file unless the user passed --overwrite, or a folder."""
    if path.is_dir():
        raise UserError(f"{path} is a folder where a file is to be written; move it or "
                        "choose another name")
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists; pass --overwrite to replace it")


def refuse_writing_over_input(target: Path, source: Path, option: str) -> None:
    """Refuse an output that is its own input: --overwrite must never replace the source."""
    if Path(target).resolve() == Path(source).resolve():
        raise UserError(f"{option} {target} would write over the input {source} itself; "
                        f"choose another {option}")


Inputs = dict[str, object] | Iterable[tuple[str, object]]  # (how it is named, path or None)


def _named(inputs: Inputs) -> Iterable[tuple[str, object]]:
    return inputs.items() if isinstance(inputs, dict) else inputs


def refuse_replacing_inputs(target: Path, option: str, inputs: Inputs) -> None:
    """Refuse an output folder that is, or holds, an input: --overwrite would delete it.

    `inputs` maps how each input is named in the message to its path (None where not given).
    """
    folder = Path(target).resolve()
    for name, given in _named(inputs):
        path = None if given is None else Path(str(given))
        if path is not None and path.exists() and path.resolve().is_relative_to(folder):
            raise UserError(f"{option} {target} is or holds {name} {path}: choose a folder of "
                            "its own (--overwrite would delete it)")


def refuse_folder_inside_inputs(target: Path | None, option: str, inputs: Inputs) -> None:
    """Refuse an output folder inside an input folder: the next run would read it back.

    `denoise photos --out photos/clean` had denoised photos/clean/ the next time too, and
    `score --maps` inside --data had scored the maps as images.
    """
    if target is None:
        return
    folder = Path(target).resolve()
    for name, given in _named(inputs):
        source = None if given is None else Path(str(given))
        if source is not None and source.is_dir() and folder.is_relative_to(source.resolve()):
            raise UserError(f"{option} {target} is inside {name} {given}, which a next run "
                            "would read back with it; choose a folder outside it")


def refuse_writing_into_inputs(target: Path | None, option: str, inputs: Inputs) -> None:
    """Refuse an output file that would replace an input, --overwrite or not.

    `inputs` maps how each input is named in the message to its path (None where not given):
    a file is refused as the target itself, a folder (a model directory) for any file it
    already holds, such as its manifest or weights.
    """
    if target is None:
        return
    path = Path(target).resolve()
    for name, given in _named(inputs):
        source = None if given is None else Path(str(given)).resolve()
        if source is not None and (path == source or (
                source.is_dir() and path.exists() and path.is_relative_to(source))):
            raise UserError(f"{option} {target} would write over {name} {given}; choose "
                            f"another {option}")


def check_can_create(path: Path, option: str) -> None:
    """Refuse, before any slow work, an output whose nearest existing folder takes no files."""
    folder = Path(path).absolute()
    while not folder.exists():
        folder = folder.parent
    try:
        Path(tempfile.mkdtemp(prefix=".edgeae-probe.", dir=folder)).rmdir()
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write in {folder} ({exc.strerror}); choose "
                        "a folder you can write to") from None


def check_replaceable_dir(path: Path, overwrite: bool) -> None:
    """Refuse to replace a non-empty folder unless the user passed --overwrite, or a file."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} is a file; give a folder")
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise UserError(f"{path} already exists and is not empty; pass --overwrite to replace it")
    refuse_replacing_a_home(path)


def refuse_replacing_a_home(path: Path) -> None:
    """Refuse to replace a folder that is, or holds, the current folder or the home folder.

    --overwrite replaces an output folder whole: `--save-each .` or `demo --out ..` had
    deleted everything in the current folder (or its parent), then crashed.
    """
    if not Path(path).is_dir():
        return
    folder = Path(path).resolve()
    with contextlib.suppress(OSError):  # a current folder deleted under us holds nothing
        for home, what in ((Path.cwd(), "the current folder"), (Path.home(), "your home folder")):
            if home.resolve().is_relative_to(folder):
                raise UserError(f"{path} is or holds {what}, and --overwrite replaces a folder "
                                "with all it holds: choose a folder of its own")


# a temporary file beside NAME: .NAME.RANDOM.tmp.SUFFIX (atomic_path's, and a video writer's,
# runtime/loop.py, which may be one inside the other), or .NAME.tmp.SUFFIX (a frame folder's)
_TEMPORARY = re.compile(r"\.(.+?)(?:\.\w{8})?\.tmp(?:\.\w+)?")


def meant_path(path: Path) -> Path:
    """The output a temporary file stands for (named so in an error), else `path` itself."""
    name = Path(path).name
    while meant := _TEMPORARY.fullmatch(name):
        name = meant[1]
    return Path(path).with_name(name)


def remove_stale_temporaries(targets: Iterable[Path]) -> int:
    """Delete what a killed run left while writing `targets`: their temporary files.

    SIGKILL (or a power cut) leaves the temporaries `meant_path` knows, which nothing else
    removes. Returns how many.
    """
    names: dict[Path, set[str]] = {}
    for target in map(Path, targets):
        names.setdefault(target.parent, set()).add(target.name)
    removed = 0
    for folder, wanted in names.items():
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            meant = meant_path(entry).name
            if meant != entry.name and meant in wanted and entry.is_file():
                entry.unlink(missing_ok=True)
                removed += 1
    return removed


@contextlib.contextmanager
def atomic_path(path: Path, overwrite: bool = False, mode: int = FILE_MODE) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix); move it to `path` on success.

    The temporary file is mkstemp's (only its owner reads it) until it gets `mode` in place.
    """
    path = Path(path)
    check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}",
                                    dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path: Path, data: bytes, overwrite: bool = False,
                mode: int = FILE_MODE) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_path(path, overwrite, mode) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: Path, text: str, overwrite: bool = False, mode: int = FILE_MODE) -> Path:
    """Write `text` to `path` atomically."""
    return write_bytes(path, text.encode("utf-8"), overwrite, mode)


def write_json(path: Path, obj: Any, overwrite: bool = False) -> Path:
    """Write `obj` as indented JSON atomically."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n", overwrite)


@contextlib.contextmanager
def atomic_dir(path: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    check_replaceable_dir(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        # mkdtemp's 0700 would stay the folder's: a service's other user could not read it
        os.chmod(tmp, 0o777 & ~_UMASK)
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then act on the first one that came.

    For writes that belong together (an export's files): a stop between them would leave some
    written and some not. Python's handlers are swapped rather than the signals blocked, since
    another thread of the process (an engine's) may take a signal the main thread blocks.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    held = {s: signal.signal(s, lambda signum, _frame: came.append(signum))
            for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in held.items():
            signal.signal(s, handler)
        if came:
            signal.raise_signal(came[0])


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


# (resolved path, size, mtime in ns, inode) -> SHA-256: a model is hashed once per process,
# however often it is loaded (a benchmark, a worker pool), and again once it changes.
_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def cached_sha256(path: Path) -> str:
    """SHA-256 of a file, computed once per process for each (path, size, mtime, inode)."""
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_digest(path)
    return _DIGESTS[key]


def check_recorded(path: Path, size: int | None, sha256: str | None, manifest: str) -> None:
    """A one-line UserError unless `path` has the size and SHA-256 `manifest` records for it.

    The size is compared first (free; catches truncation); None means not recorded (older
    manifests, or the copy embedded in the file itself).
    """
    remedy = ("re-export the model (edgeae export), or copy the files exported together "
              "(the artifact, its JSON, an IR's .bin and any .memory.npy of it)")
    if not Path(path).is_file():
        raise UserError(f"{path} is missing; {manifest} needs it beside the artifact: {remedy}")
    actual = Path(path).stat().st_size
    if size is not None and actual != size:
        raise UserError(f"{path} is {actual} bytes but {manifest} records {size} (truncated, "
                        f"another file, or a stale manifest): {remedy}")
    if sha256 is not None and cached_sha256(path) != sha256:
        raise UserError(f"{path} does not match {manifest} (its SHA-256 differs: another file "
                        f"under this name, or a stale manifest): {remedy}")
