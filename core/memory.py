"""What memory this machine has for a new allocation, asked before slow work that could not fit.

Running out does not fail cleanly: the process is killed, or an engine aborts with its own
traceback, after minutes of work. So the commands whose memory grows with their input compare
a lower bound of what they will hold with what is available and refuse, in one line, what
cannot fit.
"""

from __future__ import annotations

from pathlib import Path

MEMINFO = Path("/proc/meminfo")


def available_memory_bytes() -> int | None:
    """The memory the system can give a new allocation (Linux MemAvailable); None elsewhere."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def size_text(n_bytes: float) -> str:
    """'23.5 GiB', or '752 KiB' below a MiB, '512 MiB' below a GiB."""
    if n_bytes >= 2 ** 30:
        return f"{n_bytes / 2 ** 30:.1f} GiB"
    return f"{n_bytes / 2 ** 10:.0f} KiB" if n_bytes < 2 ** 20 else f"{n_bytes / 2 ** 20:.0f} MiB"
