"""Which CPU this is: /proc/cpuinfo's model name, family, model and instruction sets.

Many CPUs report the same model name ("AMD EPYC", "Intel(R) Xeon(R) Processor"); the family,
model and the instruction sets the engines' int8 and bf16 kernels choose between tell them
apart. They decide which engine is fastest (runtime/auto.py caches its choice per CPU), whether
onnxruntime's fast int8 kernels saturate (runtime/backends.py), and why two tables' speeds
differ (benchmarks/provenance.py).
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# the instructions the engines' int8 and bf16 kernels choose between, as /proc/cpuinfo names them
ISA_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "VNNI", "avx_vnni": "AVX-VNNI",
             "avx512_bf16": "BF16", "amx_int8": "AMX"}


@functools.cache
def cpuinfo() -> dict[str, str]:
    """The first processor's /proc/cpuinfo fields (a board's "Model" too); empty without it."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in lines:
        key, colon, value = line.partition(":")
        if colon:
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_flags() -> frozenset[str]:
    """The instruction-set flags /proc/cpuinfo lists (x86's "flags"); empty elsewhere."""
    return frozenset(cpuinfo().get("flags", "").split())


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform reports."""
    info = cpuinfo()
    return (info.get("model name") or info.get("Model") or platform.processor()
            or platform.machine())


def cpu_identity() -> str | None:
    """'family F model M; AVX2, AVX-512, ...': which of the many CPUs named alike this one is.

    None where /proc/cpuinfo is not there.
    """
    info = cpuinfo()
    if not info:
        return None
    isa = ", ".join(name for flag, name in ISA_FLAGS.items() if flag in cpu_flags())
    return (f"family {info.get('cpu family', '?')} model {info.get('model', '?')}; "
            f"{isa or 'no AVX2'}")
