"""The `edgeae` command: parse, validate, call one public function.

Each command is a module of edgeae.app.commands (its parser and the function it runs), listed
in order by `COMMANDS`. Imports stay lazy so the runtime commands never load TensorFlow and
`--help` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from edgeae import __version__
from edgeae.app.commands import COMMANDS
from edgeae.app.commands.args import Parser, examples
from edgeae.app.logs import configure_logging
from edgeae.app.quiet_import import import_quietly
from edgeae.core.errors import EdgeaeError, Terminated, UserError, first_line
from edgeae.core.files import meant_path
from edgeae.core.quiet import quiet_wanted


def build_parser() -> Parser:
    """The full command-line interface: one sub-command per module in `COMMANDS`."""
    parser = Parser(prog="edgeae", description=(
        "Train Keras autoencoders, export them for edge devices, run them on frames."),
        epilog=examples("edgeae demo --out edgeae-demo",
                        "edgeae train autoencoder --data photos/ --out model_dir",
                        "edgeae export model_dir --format tflite --out export/",
                        "edgeae reconstruct --model export/model_fp32.tflite --data photos/ "
                        "--out recon/"))
    parser.add_argument("--version", action="version", version=f"edgeae {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _quiet_toolchain(verbose: bool) -> None:
    """TensorFlow's and OpenCV's own log lines only with --verbose.

    Edgeae reports what they are about (a skipped image, a failed load) itself. Set before
    TensorFlow is imported (parsing never imports it) and inherited by the worker and benchmark
    processes; an explicit environment variable wins.
    """
    import cv2

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    if quiet_wanted():  # the notices absl prints before it reads TF_CPP_MIN_LOG_LEVEL
        import_quietly("tensorflow")
    os.environ.setdefault("GRPC_VERBOSITY", "INFO" if verbose else "ERROR")
    if not verbose:
        os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
        # FFmpeg's own lines ("moov atom not found") before edgeae's one about the same file;
        # read when OpenCV first opens a video, so setting it here is in time
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
        # OpenCV 4 has cv2.setLogLevel, OpenCV 5 cv2.utils.logging's; level 0 is silent in both
        set_level = getattr(cv2, "setLogLevel", None) or cv2.utils.logging.setLogLevel
        set_level(0)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed command line.

    A command that takes a command line of its own after `--` (`service install NAME [OPTIONS]
    -- run ARGS`) declares `passthrough` and gets those words there, whatever options come
    between.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    _refuse_empty_values(argv, parser)
    if "--" in argv:
        cut = argv.index("--")
        head = parser.parse_args(argv[:cut])
        if hasattr(head, "passthrough"):
            head.passthrough = argv[cut + 1:]
            return head
    return parser.parse_args(argv)


def _refuse_empty_values(argv: list[str], parser: Parser) -> None:
    """An empty value (`--data ""`, `--out=`, an unset variable) is an error, not a path.

    Path("") is the current folder: `--data ""` had trained on every image below it.
    """
    for index, word in enumerate(argv):
        if word == "--":  # a passthrough command line, parsed as its own
            return
        option, eq, value = word.partition("=")
        if word.startswith("--") and eq and not value.strip():
            parser.error(f"{option} is empty: give a value")
        if not word.strip():
            before = argv[index - 1] if index and argv[index - 1].startswith("-") else None
            parser.error(f"{before or 'an argument'} is empty: give a value (an empty path "
                         "would be the current folder)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run one command; user errors print one line and return their exit code."""
    try:
        with _sigterm_unwinds():  # from the start: the toolchain's imports take seconds
            args = parse(argv)
            _quiet_toolchain(args.verbose)
            configure_logging(args.verbose)
            return args.func(args)
    except EdgeaeError as exc:
        if exc.details:
            print(exc.details)
        print(f"edgeae: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgeae: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("edgeae: terminated", file=sys.stderr)
        return Terminated.exit_code
    except OSError as exc:
        if exc.filename is None:  # not about a path the user can fix: a bug, with its traceback
            raise
        print(f"edgeae: error: {path_error(exc)}", file=sys.stderr)
        return UserError.exit_code


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM unwinds the command like Ctrl-C, so outputs being written are removed.

    `edgeae run` catches SIGTERM itself while its loop runs (it finalises its output and
    exits 0, as a service stop should). Only the main thread may set handlers: elsewhere (a
    test calling main) SIGTERM keeps its handler.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(_signum: int, _frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def path_error(exc: OSError) -> str:
    """One line for a path the system refused: a path through a file, no permission, ...

    It names the file the user asked for, not the temporary one written first beside it.
    """
    path = meant_path(Path(exc.filename2 or exc.filename))  # a rename's target, not our temporary
    return f"{path}: {exc.strerror or first_line(exc)}; check that path and its folders"
