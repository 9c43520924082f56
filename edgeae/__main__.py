"""`python -m edgeae` and the `edgeae` script.

The command's modules take about 0.5 s to import (seconds where TensorFlow comes too): a
Ctrl-C then ends in the same one line as during the command, not a traceback.
"""

import os
import sys


def main() -> int:
    """Import the command line and run it; exit code 130 if Ctrl-C comes during the import.

    A command that failed after TensorFlow loaded ends the process at once, its output
    flushed: with tf.data's threads still running (an image gone unreadable while training
    reads), the interpreter's own exit hung for good or aborted now and then on a busy machine.
    Everything it wrote was closed, and its temporary files removed, as the error unwound.
    """
    try:
        from edgeae.app.cli import main as command
    except KeyboardInterrupt:
        print("edgeae: interrupted", file=sys.stderr)
        return 130
    code = command()
    if code and "tensorflow" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
