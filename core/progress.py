"""A progress bar for long loops: tqdm when installed (the [train] extra), silent otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int | None = None, desc: str = "",
             unit: str = "it", min_total: int = 200) -> Iterator[T]:
    """Iterate with a progress bar on stderr when the loop is long enough to need one."""
    if total is not None and total < min_total:
        yield from items
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield from items
        return
    yield from tqdm(items, total=total, desc=desc, unit=unit, file=sys.stderr,
                    disable=None, leave=False, dynamic_ncols=True)
