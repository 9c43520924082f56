"""IDX files (the MNIST format): a big-endian header giving type and shape, then raw values."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np

from edgeae.core.errors import UserError

# type code -> big-endian dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT")
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def looks_like_idx(path: Path) -> bool:
    """Name-based guess: 'train-images-idx3-ubyte', 'x.idx', and their .gz forms."""
    name = path.name.lower().removesuffix(".gz")
    return name.endswith(".idx") or "-idx" in name or name.startswith("idx")


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw, into a native-endian array."""
    path = Path(path)
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise UserError(f"{path} cannot be read as IDX ({exc}); download it again") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise UserError(f"{path} is not an IDX file (bad magic number)")
    dtype = np.dtype(IDX_TYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise UserError(f"{path} is truncated or padded: {len(data)} bytes, header says "
                        f"{expected}; download it again")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
