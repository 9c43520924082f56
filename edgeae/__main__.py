"""`python -m edgeae` and the `edgeae` script.

The command's modules take about 0.5 s to import (seconds where TensorFlow comes too): a
Ctrl-C then ends in the same one line as during the command, not a traceback.
"""

import os
import signal
import sys
from collections.abc import Callable


def main() -> int:
    """Import the command line and run it; exit code 130 if Ctrl-C came during the import.

    A command that failed after TensorFlow loaded ends the process at once, its output
    flushed: with tf.data's threads still running (an image gone unreadable while training
    reads), the interpreter's own exit hung for good or aborted now and then on a busy machine.
    Everything it wrote was closed, and its temporary files removed, as the error unwound.
    """
    command = _imported_command()
    if command is None:
        print("edgeae: interrupted", file=sys.stderr)
        return 130
    code = command()
    if code and "tensorflow" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _imported_command() -> Callable[[], int] | None:
    """The command line's entry point, or None if Ctrl-C came while it imported.

    The Ctrl-C waits for the import to end: raised inside it, it had surfaced where a library
    could swallow it (pydantic's validation of a class's field pattern printed "Exception
    ignored" and the command went on to exit 1).
    """
    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    try:
        from edgeae.app.cli import main as command
    finally:
        signal.signal(signal.SIGINT, previous)
    return None if interrupted else command


if __name__ == "__main__":
    raise SystemExit(main())
