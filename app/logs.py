"""How edgeae logs, in the command's process and in the worker processes it spawns."""

from __future__ import annotations

import logging


def configure_logging(verbose: bool) -> None:
    """Edgeae's own progress at INFO; the toolchain's chatter only when it is a warning.

    The converters log at INFO (tf2onnx's optimizer, onnxruntime's quantizer on the root logger)
    and onnxruntime's symbolic shape inference warns about dynamic sizes it cannot prove equal,
    which is expected for fully convolutional models: shown only with --verbose.
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("edgeae").setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        for name in ("tensorflow", "tf2onnx", "onnxruntime.tools.symbolic_shape_infer"):
            logging.getLogger(name).setLevel(logging.ERROR)


def verbose_here() -> bool:
    """Whether this process logs edgeae's debug lines (what a spawned worker should match)."""
    return logging.getLogger("edgeae").isEnabledFor(logging.DEBUG)
