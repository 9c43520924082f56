"""Errors a user can fix. The CLI prints them as one line and exits with their code."""


class EdgeaeError(Exception):
    """Base of every error edgeae reports to a user instead of a traceback.

    `details` (such as a report table) is printed to stdout before the one-line message.
    """

    exit_code = 2

    def __init__(self, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.details = details


class UserError(EdgeaeError):
    """Bad input: a missing path, corrupt data, an out-of-range option. Exit code 2."""


class UnsupportedModel(UserError):
    """A format whose engine lacks an operation the model needs. Exit code 2."""


class DriftError(EdgeaeError):
    """An exported artifact deviates from the Keras model beyond tolerance. Exit code 1."""

    exit_code = 1


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt.

    So a command stopped by `kill` or a service manager unwinds as after Ctrl-C: its atomic
    writes remove their temporary files and nothing half-written is left. Exit code 143.
    """

    exit_code = 143  # 128 + SIGTERM, as shells report it


def first_line(exc: BaseException) -> str:
    """An exception's first line (at most 200 characters), for one-line error messages."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
