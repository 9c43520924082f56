"""`--backend auto`: time every installed engine on this device and keep the fastest.

The candidates are the artifact itself and the files exported beside it from the same model at
the same precision (model_int8.tflite and model_int8.onnx), each with every installed backend
that runs its format: the user's choice of precision, and so of quality, is kept; only the
engine changes. Each is timed on a frame of the real size after a warm-up, the candidates taking
turns a run at a time, and the fastest median wins. The choice is cached per artifact, frame
size, thread count, CPU model and engine versions in `$EDGEAE_CACHE/backend-choices.json`, so
later starts skip the timing.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from edgeae.core.cpu import cpu_identity, cpu_model
from edgeae.core.errors import UserError, first_line
from edgeae.core.files import cache_folder, cached_sha256, write_json
from edgeae.core.manifest import Manifest
from edgeae.core.tasks import TASKS
from edgeae.runtime.artifact import read_artifact_manifest
from edgeae.runtime.backends import (
    Backend,
    Session,
    backend_suffixes,
    installed_backends,
    open_session,
    usable_cores,
)

AUTO = "auto"
log = logging.getLogger(__name__)
CACHE_FILE = "backend-choices.json"
DEFAULT_FRAME = (480, 640)  # (h, w) timed when the caller does not know its frames' size
RUNS = 5
CACHE_ENTRIES = 64  # the newest choices kept


@dataclass(frozen=True)
class AutoChoice:
    """The file and backend `auto` picked, and what it measured (ms per frame)."""

    path: str
    backend: str
    timings_ms: dict[str, float]  # "backend on file" -> median
    frame: tuple[int, int]
    cached: bool = False

    def describe(self) -> str:
        """One line: what was picked, how fast, and what it beat."""
        best = f"{self.backend} on {Path(self.path).name}"
        others = ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(self.timings_ms.items(),
                                                                 key=lambda kv: kv[1])
                           if k != best)
        how = "cached choice" if self.cached else "measured now"
        return (f"--backend auto: {best}, {self.timings_ms[best]:.1f} ms per "
                f"{self.frame[0]}x{self.frame[1]} frame ({how}; "
                f"{others or 'the only installed engine'})")


def siblings(path: Path, manifest: Manifest) -> dict[Path, Manifest]:
    """The artifact and the files exported beside it from the same model, by their manifests.

    The same model means the same precision, part, fixed input size (an `--input-size` file
    runs only frames of its size) and threshold (one set on this file alone stands). A file
    re-exported from another's float32 file (`export FILE_fp32.onnx`, which rebuilds the same
    weights) names that file as its source; it counts as that file's model.
    """
    suffixes = backend_suffixes()
    found = {path: manifest}
    for other in sorted(path.parent.iterdir()):
        if other == path or other.suffix not in suffixes or not other.is_file():
            continue
        try:
            found[other] = read_artifact_manifest(other)
        except Exception:  # noqa: BLE001 - an unreadable neighbour is simply not a candidate
            continue
    sources = {m.artifact.sha256: m.artifact.source_model_sha256 for m in found.values()}

    def identity(m: Manifest) -> tuple:
        model, seen = m.artifact.source_model_sha256, set()
        while model in sources and model not in seen:  # back to the model it was exported from
            seen.add(model)
            model = sources[model]
        return (model, m.artifact.precision, m.artifact.part, m.input.fixed_size, m.threshold,
                m.threshold_strategy)

    return {p: m for p, m in found.items() if identity(m) == identity(manifest)}


def candidates(path: Path, manifest: Manifest) -> list[tuple[Path, Backend, str]]:
    """(file, installed backend, the file's SHA-256) triples that could run this artifact.

    A file with no JSON beside it (its embedded manifest records no digest of itself) is
    hashed, so a replaced one is measured again too.
    """
    return [(f, b, m.artifact.sha256 or cached_sha256(f))
            for f, m in siblings(path, manifest).items() for b in installed_backends(f)]


def timed_frame(manifest: Manifest, frame: tuple[int, int] | None, task: str | None,
                score_size: tuple[int, int] | str | None) -> tuple[int, int]:
    """(h, w) the model will run at: its fixed size; a detector's score size; else the frame's.

    A detector resizes every frame to its training size (or `score_size`; "frame" keeps each
    frame's), so timing it on the camera's frames ranked engines at a size that never runs.
    """
    if manifest.input.fixed_size:
        return tuple(manifest.input.fixed_size)
    if (task or TASKS[manifest.task].use) == "score" and score_size != "frame":
        frame = score_size or manifest.scored_size() or frame
    return tuple(frame or DEFAULT_FRAME)


def model_input(manifest: Manifest, frame: tuple[int, int]) -> np.ndarray:
    """A batch of one input as the runtime feeds it: the fixed size, or the frame padded."""
    spec = manifest.input
    h, w = spec.fixed_size or (-(-side // spec.size_multiple) * spec.size_multiple
                               for side in frame)
    return np.random.default_rng(0).random((1, h, w, spec.model_channels), dtype=np.float32)


def run_times_ms(path: Path, backend: str, batch: np.ndarray, threads: int | None,
                 runs: int = RUNS, warmup: int = 1) -> list[float]:
    """Milliseconds of each of `runs` runs of `batch` on `backend`, after `warmup` runs."""
    session, _ = open_session(path, backend, threads)
    for _ in range(warmup):
        session.run(batch)
    return [timed_run_ms(session, batch) for _ in range(runs)]


def timed_run_ms(session: Session, batch: np.ndarray) -> float:
    """Milliseconds of one run of `batch`."""
    start = time.perf_counter()
    session.run(batch)
    return (time.perf_counter() - start) * 1e3


def _version(backend: Backend) -> str:
    """The installed version of the distribution behind a backend's module."""
    top = backend.module.split(".")[0]
    for name in (top.replace("_", "-"), top):  # ai_edge_litert -> ai-edge-litert
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    names = metadata.packages_distributions().get(top, [])  # slow: scans every distribution
    return f"{names[0]} {metadata.version(names[0])}" if names else f"{top} ?"


def cache_key(pairs: list[tuple[Path, Backend, str]], frame: tuple[int, int],
              threads: int | None) -> str:
    """What a cached choice depends on: the candidate files, the frame, threads, CPU, engines.

    Each candidate counts by its full path and content, so a copy of the folder elsewhere, or a
    file replaced in it, is measured afresh. Unset threads count as the usable cores every
    engine then gets.
    """
    engines = sorted({_version(b) for _, b, _ in pairs})
    files = sorted({(str(f.resolve()), sha) for f, _, sha in pairs})
    cpu = [cpu_model(), cpu_identity()]  # alike names: the family and instructions differ
    return json.dumps([files, list(frame), threads or usable_cores(), cpu, engines])


def _read_cache(path: Path) -> dict:
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # none yet, or damaged: measure again
    return known if isinstance(known, dict) else {}


def _cached(hit: object, pairs: list[tuple[Path, Backend, str]]) -> AutoChoice | None:
    """The cached choice, if it is whole and names a candidate; None to measure again.

    A hand-edited entry, or one an older or newer edgeae wrote, had raised a TypeError.
    """
    try:
        choice = AutoChoice(**{**hit, "frame": tuple(hit["frame"]), "cached": True})
        choice.describe()  # its frame is (h, w) and its timings hold the pick's
    except (TypeError, KeyError, ValueError, IndexError, AttributeError):
        return None
    return choice if Path(choice.path) in {f.resolve() for f, _, _ in pairs} else None


def _timings(pairs: list[tuple[Path, Backend, str]], batch: np.ndarray,
             threads: int | None) -> dict[str, float]:
    """Median ms of each candidate that runs; one that cannot is left out with a warning.

    The candidates take turns, a run each per round, so a machine that slows or speeds up
    (another process, the VM's neighbours) slows them all alike: timed one after another,
    under load, four fresh choices had picked four engines. A sibling that this engine cannot
    run (tflite-runtime 2.14 and a dynamic-range int8 file) had refused the file named, which
    runs.
    """
    sessions = _warmed_sessions(pairs, batch, threads)
    times: dict[str, list[float]] = {label: [] for label in sessions}
    for _ in range(RUNS):
        for label, session in sessions.items():
            times[label].append(timed_run_ms(session, batch))
    return {label: statistics.median(t) for label, t in times.items()}


def _warmed_sessions(pairs: list[tuple[Path, Backend, str]], batch: np.ndarray,
                     threads: int | None) -> dict[str, Session]:
    """Each candidate's session, opened and run once; one that fails is left out, said once."""
    sessions, problems = {}, []
    for file, backend, _ in pairs:
        try:
            session, _ = open_session(file, backend.name, threads)
            session.run(batch)
        except Exception as exc:  # noqa: BLE001 - any engine's error: that candidate is out
            problems.append(exc)
            log.warning("--backend auto: %s on %s cannot run here, left out (%s)", backend.name,
                        file.name, first_line(exc))
            continue
        sessions[f"{backend.name} on {file.name}"] = session
    if not sessions:
        raise problems[0]
    return sessions


def choose(path: str | Path, frame: tuple[int, int] | None = None,
           threads: int | None = None, cache_dir: Path | None = None, task: str | None = None,
           score_size: tuple[int, int] | str | None = None) -> AutoChoice:
    """The fastest (file, backend) for this artifact on this device, cached after the first.

    Timed at the size the model will run at (timed_frame): `frame` is the frames' (h, w),
    `task` what the model is used for, `score_size` a detector's own.
    """
    path = Path(path)
    manifest = read_artifact_manifest(path)
    frame = timed_frame(manifest, frame, task, score_size)
    pairs = candidates(path, manifest)
    if not pairs:
        from edgeae.runtime.backends import choose_backend

        choose_backend(path)  # raises the one-line "no backend installed" error
    folder = Path(cache_dir) if cache_dir else cache_folder("")
    cache = folder / CACHE_FILE if folder else None
    key, known = cache_key(pairs, frame, threads), _read_cache(cache) if cache else {}
    if (hit := _cached(known.get(key), pairs)) is not None:
        return hit
    timings = _timings(pairs, model_input(manifest, frame), threads)
    best_label = min(timings, key=timings.get)
    best_file, best = next((f, b) for f, b, _ in pairs if f"{b.name} on {f.name}" == best_label)
    choice = AutoChoice(str(best_file.resolve()), best.name, timings, frame)
    known.pop(key, None)
    known[key] = asdict(choice)  # newest last; the oldest beyond CACHE_ENTRIES are dropped
    if cache is not None:
        _remember(cache, dict(list(known.items())[-CACHE_ENTRIES:]))
    return choice


def _remember(cache: Path, known: dict) -> None:
    """Write the choices; a cache that cannot be written costs later starts their timing."""
    try:
        write_json(cache, known, overwrite=True)
    except (OSError, UserError) as exc:
        log.warning("the backend choice is not cached (%s): later starts time the backends "
                    "again; set EDGEAE_CACHE to a writable folder", first_line(exc))
