"""`python -m edgeae` and the `edgeae` script.

The command's modules take about 0.5 s to import (seconds where TensorFlow comes too): a
Ctrl-C then ends in the same one line as during the command, not a traceback.
"""

import sys


def main() -> int:
    """Import the command line and run it; exit code 130 if Ctrl-C comes during the import."""
    try:
        from edgeae.app.cli import main as command
    except KeyboardInterrupt:
        print("edgeae: interrupted", file=sys.stderr)
        return 130
    return command()


if __name__ == "__main__":
    raise SystemExit(main())
