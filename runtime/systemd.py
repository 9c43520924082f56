"""systemd's notify protocol (sd_notify(3)), spoken by the loop when it runs as a service.

Under a unit with Type=notify, systemd sets $NOTIFY_SOCKET; with WatchdogSec= it also sets
$WATCHDOG_USEC. The loop says READY=1 after its first frame, WATCHDOG=1 at least twice per
watchdog interval while frames are processed (so a camera that stops delivering or a model that
hangs stops the keep-alives, and systemd restarts the service), a STATUS= line for
`systemctl status`, and STOPPING=1 on the way out. Outside systemd every call does nothing.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

STATUS_EVERY = 5.0  # seconds between STATUS= lines when there is no watchdog


class Notifier:
    """Messages to systemd's notify socket; silent when there is none."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        self._socket = None
        if address[:1] in ("/", "@"):
            self._address = "\0" + address[1:] if address[0] == "@" else address
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        usec = environ.get("WATCHDOG_USEC")
        mine = environ.get("WATCHDOG_PID") in (None, str(os.getpid()))
        # half the interval, as sd_watchdog_enabled(3) advises; None: no watchdog
        self.interval = int(usec) / 2e6 if usec and mine else None
        self._last = -float("inf")

    @property
    def active(self) -> bool:
        """Whether systemd is listening."""
        return self._socket is not None

    def send(self, *fields: str) -> None:
        """One datagram of newline-separated KEY=VALUE fields; errors are ignored."""
        if self._socket is None:
            return
        try:
            self._socket.sendto("\n".join(fields).encode(), self._address)
        except OSError:
            pass  # systemd went away (shutdown): nothing to tell

    def alive(self, status: Callable[[], str]) -> None:
        """A frame was processed: WATCHDOG=1 and STATUS=`status()`, when due.

        Due every half watchdog interval, or every STATUS_EVERY seconds without a watchdog.
        """
        now = time.monotonic()
        if self._socket is None or now - self._last < (self.interval or STATUS_EVERY):
            return
        self._last = now
        self.send(*(["WATCHDOG=1"] if self.interval else []), f"STATUS={status()}")

    def close(self) -> None:
        """Close the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
