"""Argument types and groups shared by the commands.

Nothing here imports TensorFlow: every parser is built for `edgeae --help` and for the runtime
commands on a device.
"""

from __future__ import annotations

import argparse
import inspect
import math
import re
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from edgeae.core.errors import UserError
from edgeae.runtime.backends import MAX_THREADS

# what a model directory runs on (its Keras model): the distribution `require` checks for
KERAS_DISTRIBUTION = "keras"


def ranged(kind: type, lo: float | None = None, hi: float | None = None,
           lo_open: bool = False) -> Callable[[str], float | int]:
    """An argparse type that parses `kind` and checks lo <= value <= hi."""

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if value != value or (lo is not None and (value <= lo if lo_open else value < lo)) or (
                hi is not None and value > hi):
            bound = f"{'>' if lo_open else '>='} {lo}" if lo is not None else ""
            bound += (" and " if bound and hi is not None else "") + (
                f"<= {hi}" if hi is not None else "")
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def finite(text: str) -> float:
    """An argparse type for a finite float (a threshold's sign is the model's to judge)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


POSITIVE = ranged(int, 1)
SEED = ranged(int, 0, 2**32 - 1)  # what numpy's and Keras's generators take
THREADS = ranged(int, 1, MAX_THREADS)  # the runtime's bound: engines crash beyond it


def _placeable(path: Path) -> Path:
    """`path` if what is already on disk lets it be written: its nearest existing folder is one.

    (Checked when the command line is parsed, so a path through a file fails before any slow
    work, not with a traceback after it.)
    """
    try:
        above = next((a for a in (path, *path.parents) if a.exists() or a.is_symlink()), None)
    except OSError as exc:  # a name too long for the file system, a loop of links, ...
        raise argparse.ArgumentTypeError(f"{path}: {exc.strerror}") from None
    if above is not None and above != path and not above.is_dir():
        raise argparse.ArgumentTypeError(f"{above} is a file, so {path} cannot be written")
    return path


def output_file(text: str) -> Path:
    """An argparse type for a file to write: not an existing folder, under folders it can make."""
    path = _placeable(Path(text))
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder; give a file name")
    return path


def output_dir(text: str) -> Path:
    """An argparse type for a folder to write into: not an existing file."""
    path = _placeable(Path(text))
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a file; give a folder")
    return path


def output_path(text: str) -> Path:
    """An argparse type for a file or a folder to write, as its name says (run's --output)."""
    return _placeable(Path(text))


def image_size(text: str) -> tuple[int, int]:
    """'64' or '48x64' (height x width) -> (h, w)."""
    return _two_sides(text, "HxW")


def score_size(text: str) -> tuple[int, int] | str:
    """'frame' (each frame at its own size) or an image_size, as `run --score-size` takes it."""
    return text.lower() if text.lower() == "frame" else _two_sides(text, "HxW or 'frame'")


def frame_size(text: str) -> tuple[int, int]:
    """'640x480' (width x height, as cameras are described) -> (height, width)."""
    w, h = _two_sides(text, "WxH")
    return h, w


def _two_sides(text: str, order: str) -> tuple[int, int]:
    """'N' or 'AxB' -> (A, B), each side 1..16384; `order` names them in the error."""
    parts = text.lower().split("x")
    try:
        a, b = (int(parts[0]), int(parts[0])) if len(parts) == 1 else map(int, parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or {order}, got {text!r}") from None
    if not (1 <= a <= 16384 and 1 <= b <= 16384):
        raise argparse.ArgumentTypeError(f"sides must be 1..16384, got {text}")
    return a, b


def integers(text: str) -> tuple[int, ...]:
    """'16,8' -> (16, 8)."""
    try:
        return tuple(int(f) for f in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 16,8, got {text!r}") from None


def listed(parse: Callable[[str], object],
           choices: Sequence[str] | None = None) -> Callable[[str], tuple]:
    """An argparse type for comma-separated values, each parsed (and checked) on its own."""

    def parse_list(text: str) -> tuple:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        bad = [t for t in items if choices is not None and t not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(bad)}; choose from "
                                             f"{', '.join(choices)}")
        return tuple(dict.fromkeys(parse(t) for t in items))

    return parse_list


def examples(*lines: str) -> str:
    """An epilog of example command lines, shown verbatim."""
    return "examples:\n" + textwrap.indent("\n".join(lines), "  ")


def default_of(function: Callable, name: str) -> Any:
    """The default value of `function`'s parameter `name`."""
    return inspect.signature(function).parameters[name].default


def given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The options among `names` the user gave (not None): an options object fills in the rest."""
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def refuse_idle(args: argparse.Namespace, rows: Iterable[tuple[str, bool, str]]) -> None:
    """A one-line UserError for the first option given where it acts on nothing.

    `rows`: (its destination, whether it acts here, what the line says after its name). Left
    out, an option is None, or False for a flag (0 is a value given).
    """
    for dest, acts, said in rows:
        value = getattr(args, dest)
        if value is not None and value is not False and not acts:
            raise UserError(f"--{dest.replace('_', '-')} {said}")


def add_data_args(p: argparse.ArgumentParser) -> None:
    """--data and how to read it: the options every command that reads images shares."""
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True, metavar="D",
                   help="folder of images (recursive; sub-folders are classes), image file, "
                        ".npy/.npz array, IDX file, video file, or digits|mnist|fashion-mnist")
    g.add_argument("--data-dir", type=Path, metavar="DIR",
                   help="for mnist/fashion-mnist: read these IDX files or .npz (no download)")
    g.add_argument("--image-size", type=image_size, metavar="HxW",
                   help="resize every image to this size (N or HxW)")
    g.add_argument("--channels", type=int, choices=(1, 3),
                   help="1 gray or 3 RGB (default: what the images are)")
    g.add_argument("--every", type=POSITIVE, default=1, metavar="K",
                   help="videos: keep every K-th frame (default 1)")
    add_strict_arg(g)
    g.add_argument("--label-column", metavar="COL",
                   help="series (a CSV with one series per row): the label column's header "
                        "name or 0-based index (-1: the last)")
    g.add_argument("--normal-label", metavar="V",
                   help="series: the label value of normal rows (with --label-column); "
                        "training keeps only those")


def add_strict_arg(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--strict: an unreadable image is an error, not a warning and a count."""
    p.add_argument("--strict", action="store_true",
                   help="fail on an unreadable image instead of skipping it")


def load_kwargs(args: argparse.Namespace, normal_only: bool = False) -> dict[str, Any]:
    """The data options as keyword arguments of `load_data` / `load_for_model`."""
    from edgeae.core.series import SeriesOptions

    _check_series_options(args)
    return {"data_dir": args.data_dir, "strict": args.strict, "every": args.every,
            "series": SeriesOptions(args.label_column, args.normal_label, normal_only)}


def _check_series_options(args: argparse.Namespace) -> None:
    """--label-column and --normal-label read a CSV series' labels: nothing else has them.

    Given anywhere else they were ignored, and a detector then learned anomalies as normal.
    The options that shape images shape no series.
    """
    given = [flag for flag, value in (("--label-column", args.label_column),
                                      ("--normal-label", args.normal_label)) if value is not None]
    if given and Path(str(args.data)).suffix.lower() != ".csv":
        raise UserError(f"{' and '.join(given)} read the labels of a CSV series; {args.data} is "
                        "not a .csv (for images, give the normal ones' folder: --data "
                        "photos/good)")
    shaping = [flag for flag, name in (("--image-size", "image_size"), ("--channels", "channels"))
               if getattr(args, name, None) is not None]
    if shaping and Path(str(args.data)).suffix.lower() == ".csv":  # they had been ignored
        raise UserError(f"{' and '.join(shaping)} shape images; {args.data} holds series, each "
                        "row read whole: drop them")
    if args.normal_label is not None and args.label_column is None:
        raise UserError("--normal-label needs --label-column: the column that holds the labels")
    if getattr(args, "task", None) == "detector" and args.label_column is not None \
            and args.normal_label is None:  # it had learned the anomalous rows as normal
        raise UserError("--label-column names the labels; a detector learns from the normal "
                        "rows alone: say which with --normal-label")


def threads_or_auto(text: str) -> int | str:
    """A thread count (1..MAX_THREADS), or "auto"."""
    return "auto" if text == "auto" else THREADS(text)


def add_backend_args(p: argparse.ArgumentParser, threads_auto: str | None = None) -> None:
    """--backend (the runtime's backends) and --threads, which takes auto where this says how."""
    from edgeae.runtime.backends import backend_names

    p.add_argument("--backend", choices=[*backend_names(), "auto"],
                   help="runtime backend (default: the first installed one for the file); "
                        "auto: time every installed engine on this device (also on the same "
                        "precision's other exported format beside the file), keep the "
                        "fastest, and remember the choice")
    if threads_auto is None:
        p.add_argument("--threads", type=THREADS, help="inference threads (default: every core)")
    else:
        p.add_argument("--threads", type=threads_or_auto, metavar="N|auto",
                       help=f"inference threads (default: every core); auto: {threads_auto}")


def add_colour_planes_arg(p: argparse.ArgumentParser) -> None:
    """--colour-planes: how a gray denoiser serves a colour frame (runtime/colour.py)."""
    from edgeae.runtime.colour import COLOUR_WAYS

    p.add_argument("--colour-planes", choices=list(COLOUR_WAYS),
                   help="how a gray model denoises a colour frame: rgb (each colour plane "
                        "alone), opponent (opponent colour planes, for Gaussian noise) or "
                        "luma-chroma (the luminance by the model, the chroma by a guided "
                        "filter along it, for a camera's noise: one model call a frame). "
                        "Default: by the noise the model learned")


def add_model_args(p: argparse.ArgumentParser, directories: bool = False) -> None:
    """--model or --pretrained NAME, with --precision for the latter.

    --model is an exported file, or where `directories` also a trained model's folder.
    """
    from edgeae.runtime.backends import backend_suffixes
    from edgeae.runtime.pretrained import (
        DEFAULT_PRECISION,
        GATED,
        GATED_PRECISION,
        NAMES,
        PRECISIONS,
    )

    g = p.add_mutually_exclusive_group(required=True)
    folders = " or a trained model directory" if directories else ""
    g.add_argument("--model", type=Path, help="an exported model file ("
                   f"{', '.join(sorted(backend_suffixes(exported_only=True)))}){folders}")
    pairs = "; ".join(f"{name}: {members[0]} where a frame's noise is white, {members[1]} where "
                      f"it is a camera's correlated grain"
                      + (f", {members[2]} where that grain is strong on a stream"
                         if len(members) > 2 else "") for name, members in GATED.items())
    g.add_argument("--pretrained", choices=(*NAMES, *GATED),
                   help=f"a shipped blind gray denoiser: {' or '.join(NAMES)}; or a pair the "
                        f"noise chooses from ({pairs})")
    precisions = ", ".join(f"{p} for {n}"
                           for n, p in {**DEFAULT_PRECISION, **GATED_PRECISION}.items())
    p.add_argument("--precision", choices=PRECISIONS,
                   help=f"--pretrained: {' or '.join(PRECISIONS)} (default {precisions})")


def model_path(args: argparse.Namespace) -> Path:
    """--model, or the shipped artifact that --pretrained names."""
    if args.pretrained is None:
        if args.precision is not None:
            raise UserError(f"--precision picks a shipped --pretrained file; --model "
                            f"{args.model} is one file already (export the {args.precision} "
                            "one, or name it)")
        return args.model
    from edgeae.runtime.pretrained import pretrained_paths

    return pretrained_paths(args.pretrained, args.backend, args.precision)[0]


def paired_model_paths(args: argparse.Namespace) -> tuple[Path, ...]:
    """For a noise-gated --pretrained pair, its camera models' files on the backend in use."""
    from edgeae.runtime.pretrained import GATED, pretrained_paths

    if args.pretrained not in GATED:
        return ()
    return pretrained_paths(args.pretrained, args.backend, args.precision)[1:]


def resolve_backend(args: argparse.Namespace, path: Path, frame: tuple[int, int] | None = None,
                    task: str | None = None,
                    score_size: tuple[int, int] | str | None = None) -> Path:
    """With --backend auto, time the engines (runtime/auto.py) and print the pick.

    Sets `args.backend` to the backend chosen and returns the file to load, which may be the
    same model's other format beside `path`. `frame`, `task` and `score_size` say at what size
    the model will run (runtime/auto.py's timed_frame). Keras model directories run on Keras
    (no choice).
    """
    if args.backend != "auto":
        return path
    args.backend = None
    if Path(path).is_dir() or Path(path).suffix in _keras_suffixes():
        return path
    from edgeae.runtime.auto import choose

    choice = choose(path, frame, args.threads, task=task, score_size=score_size)
    print(choice.describe(), file=sys.stderr, flush=True)
    args.backend = choice.backend
    return Path(choice.path)


def add_archive_args(p: argparse.ArgumentParser, verb: str, order: str, resume: str) -> None:
    """--workers and --resume, for commands that run over large archives."""
    p.add_argument("--workers", type=POSITIVE, default=1, metavar="N",
                   help=f"{verb} in N processes (large archives; each opens the model once); "
                        f"{order}")
    p.add_argument("--resume", action="store_true", help=resume)


def check_resume_or_overwrite(args: argparse.Namespace) -> None:
    """--resume keeps what an earlier run wrote and --overwrite replaces it: not both."""
    if args.resume and args.overwrite:
        raise UserError("--resume keeps what an earlier run wrote and --overwrite replaces it; "
                        "give one of them")


def refuse_output_over_inputs(args: argparse.Namespace, *options: str,
                              models: Sequence[Path] = ()) -> list[tuple[str, object]]:
    """Refuse output files (named by their options) that would replace one of the inputs.

    The inputs: --data, --labels, --interpolate's images, --model (or `models`: the files a
    run may open, `--backend auto`'s pick among them) and every file each needs beside it.
    Returns those inputs by name, for checks of output folders.
    """
    from edgeae.core.files import refuse_writing_into_inputs

    model = getattr(args, "model", None)
    inputs = [("--data", getattr(args, "data", None)), ("--labels", getattr(args, "labels", None)),
              ("--model", model), *zip(("--interpolate A", "--interpolate B"),
                                       getattr(args, "interpolate", None) or ())]
    for path in dict.fromkeys(p for p in (model, *models) if p is not None):
        inputs += _files_beside(Path(path))
    for option in options:
        refuse_writing_into_inputs(getattr(args, option.lstrip("-").replace("-", "_")), option,
                                   inputs)
    return inputs


def _files_beside(model: Path) -> list[tuple[str, Path]]:
    """An exported file's manifest, weights and side arrays, and its export's parity report.

    Nothing for a model directory (its files are guarded as its folder's) or a file whose
    manifest cannot be read (loading it says why).
    """
    from edgeae.core.formats import REPORT_FILE
    from edgeae.core.manifest import manifest_path_for
    from edgeae.runtime.artifact import read_artifact_manifest, recorded_files

    if not model.is_file():
        return []
    try:
        needed = [file for file, _, _ in recorded_files(model, read_artifact_manifest(model))]
    except UserError:
        needed = [model]
    return [*(("a file the model needs:", file) for file in needed),
            ("--model's manifest", manifest_path_for(model)),
            ("its export's report", model.parent / REPORT_FILE)]


def model_on_images_parser(sub: argparse._SubParsersAction, name: str,
                           run: Callable[[argparse.Namespace], int], summary: str,
                           description: str, *example_lines: str) -> argparse.ArgumentParser:
    """A command that runs --model (directory or exported file) over --data images."""
    p = sub.add_parser(name, help=summary, description=description,
                       epilog=examples(*example_lines))
    p.add_argument("--model", type=Path, required=True, help="model directory or exported file")
    add_data_args(p)
    add_backend_args(p)
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run)
    return p


def check_model_and_data(args: argparse.Namespace, *distributions: str) -> None:
    """Before any work: --model's and --data's paths, and what running them needs installed."""
    check_data(args.data)
    keras = runs_keras(args.model)
    backend = getattr(args, "backend", None)
    if keras and backend not in (None, "auto"):  # it had run on Keras, unsaid
        raise UserError(f"--backend {backend} runs exported files; {args.model} is a model "
                        "directory, which runs on Keras: export it, or leave out --backend")
    require(args.command, *keras, *distributions)


def scorer_and_data(args: argparse.Namespace) -> tuple[Any, Any]:
    """An AnomalyScorer for --model (directory or file) and --data read to suit it.

    The data is read first (the manifest says how), so a problem with it is reported before
    a Keras model is loaded.
    """
    from edgeae.train.keras_backend import open_model

    source = data_for_model(args)
    model = resolve_backend(args, args.model, source.size or source.smallest, "score",
                            args.image_size)
    scorer = open_model(model, args.backend, args.threads, use="score")
    if args.image_size is not None:  # scored at it: they had been resized back to training's
        scorer.score_size = args.image_size
    return scorer, source


def data_for_model(args: argparse.Namespace, scoring: bool = True) -> Any:
    """--data read to suit --model, whose manifest alone is read (no model loaded).

    `scoring`: for an AnomalyScorer (app/reconstruct.load_for_model).
    """
    from edgeae.app.reconstruct import load_for_model
    from edgeae.runtime.artifact import read_manifest

    model = Path(args.model)
    manifest = read_manifest(model.parent if model.suffix in _keras_suffixes() else model)
    # before the data's size is held against it: it takes no images
    if (part := manifest.part) != "model":
        raise UserError(f"{model.name} is a VAE {part}; {args.command} needs the whole "
                        "model's artifact (edgeae export VAE_DIR) or its model directory")
    wanted = getattr(args, "channels", None)
    if wanted is not None and wanted != manifest.input.channels:
        raise UserError(f"--channels {wanted}: {model.name} takes {manifest.input.channels}-"
                        "channel images, and the data is read to suit it; leave --channels out")
    return load_for_model(manifest, args.data, args.image_size, scoring, **load_kwargs(args))


def extra_of(distribution: str) -> str | None:
    """The edgeae extra (pyproject's optional dependencies) that installs `distribution`."""
    try:
        requirements = metadata.requires("edgeae") or []
    except metadata.PackageNotFoundError:
        return None
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9._-]+", requirement)
        extra = re.search(r'extra == "([^"]+)"', requirement)
        if name and extra and name.group().lower() == distribution.lower():
            return extra.group(1)
    return None


# Distributions installed without their declared dependencies: pnnx's wheel requires PyTorch,
# which its converter binary does not use
NO_DEPS = ("pnnx",)


def require(command: str, *distributions: str) -> None:
    """Fail before any work, naming the pip command, when `command` needs a missing package."""
    missing = []
    for distribution in dict.fromkeys(distributions):
        try:
            metadata.version(distribution)
        except metadata.PackageNotFoundError:
            missing.append(distribution)
    if missing:
        plain = [d for d in missing if d not in NO_DEPS]
        extras = {f'"edgeae[{extra}]"' if (extra := extra_of(d)) else d: None for d in plain}
        commands = [f"pip install {' '.join(extras)}"] if extras else []
        commands += [f"pip install --no-deps {d}" for d in missing if d in NO_DEPS]
        raise UserError(f"edgeae {command} needs {', '.join(missing)}, not installed in this "
                        f"environment: {' && '.join(commands)}")


def runs_keras(path: Path) -> tuple[str, ...]:
    """The distributions a --model path needs here: Keras for a model directory, else none.

    A directory is checked to be a model directory first, so a wrong path is named as such.
    """
    from edgeae.core.modeldir import ModelDir

    path = Path(path)
    if path.is_dir():
        ModelDir.open(path)
    return (KERAS_DISTRIBUTION,) if path.is_dir() or path.suffix in _keras_suffixes() else ()


def _keras_suffixes() -> set[str]:
    """Suffixes of the files training writes (model.keras): run by Keras, not the runtime."""
    from edgeae.core.formats import FORMATS

    return {f.suffix for f in FORMATS.values() if not f.exported}


def check_suffix(path: Path, suffixes: Sequence[str], option: str) -> None:
    """Refuse an output path whose suffix is not one the command writes."""
    if Path(path).suffix.lower() not in suffixes:
        raise UserError(f"{option} {path}: the file name must end in {', '.join(suffixes)}")


def check_data(spec: str | None, option: str = "--data") -> None:
    """Refuse a --data that is neither a path that exists nor a built-in dataset's name."""
    from edgeae.core.datasets import BUILTIN_NAMES

    if spec is not None and spec not in BUILTIN_NAMES and not Path(spec).exists():
        raise UserError(f"{option} {spec}: no such file or directory (built-in datasets: "
                        f"{', '.join(BUILTIN_NAMES)})")


def check_exists(path: Path | None, option: str) -> None:
    """Refuse an input path that does not exist."""
    if path is not None and not Path(path).exists():
        raise UserError(f"{option} {path}: no such file or directory")


def check_program(program: str | None, option: str) -> None:
    """Refuse an interpreter or program that is neither an executable file nor on PATH."""
    if program is not None and shutil.which(program) is None:
        raise UserError(f"{option} {program}: no such executable")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) and examples shown verbatim."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # noqa: D102 - argparse's hook
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
