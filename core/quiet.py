"""Native libraries' own log lines kept off the terminal where the user asked for quiet.

TensorFlow's absl logging (before it reads TF_CPP_MIN_LOG_LEVEL) and LiteRT's minimal logger
(its "Created TensorFlow Lite XNNPACK delegate" line, once a process) write straight to
file descriptor 2, below Python's sys.stderr, and neither can be turned off from Python. So
the calls that make them run with that descriptor on the null device, when TF_CPP_MIN_LOG_LEVEL
asks for quiet: the CLI sets it to 3 unless --verbose; unset (a library user) means 0, all shown.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


def quiet_wanted() -> bool:
    """Whether TF_CPP_MIN_LOG_LEVEL hides the toolchain's informational lines."""
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") != "0"


@contextlib.contextmanager
def native_stderr_to_null(when: bool = True) -> Iterator[None]:
    """File descriptor 2 on the null device for the block (`when` it is wanted)."""
    if not when:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
