"""TensorFlow's load-time notices kept off the terminal: its first import with stderr pointed away.

TensorFlow 2.21 logs through absl, which prints what its libraries say while they load (the
oneDNN notice, once per library, each after a line about absl::InitializeLog) before anything
has read TF_CPP_MIN_LOG_LEVEL, so the variable the CLI sets cannot hide them. They are written
straight to file descriptor 2, below Python's sys.stderr, so the one way to keep them off the
terminal is to point that descriptor at the null device while the package's own code runs. The
hook does that for the first import of one package, then removes itself; an import that fails
still raises, once the descriptor is back.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

from edgeae.core.quiet import native_stderr_to_null


class _QuietLoader(importlib.abc.Loader):
    """Another loader's module, executed with native stderr on the null device."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:  # noqa: D102
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:  # noqa: D102
        with native_stderr_to_null():
            self._loader.exec_module(module)

    def __getattr__(self, name: str):
        return getattr(self._loader, name)  # resource readers and the like: the real loader's


class QuietFirstImport(importlib.abc.MetaPathFinder):
    """Finds top-level package `name` once, through the other finders, with a quiet loader."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, fullname: str, path=None, target=None):  # noqa: D102 - importlib's hook
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def import_quietly(name: str) -> None:
    """Make the first import of package `name`, wherever it happens, a quiet one."""
    if name not in sys.modules and not any(isinstance(f, QuietFirstImport) and f.name == name
                                           for f in sys.meta_path):
        sys.meta_path.insert(0, QuietFirstImport(name))
