"""The house's one rule: imports go down, ground <- runtime <- train <- export <- app.

Every module's imports are read from its source (those inside functions too), so a lazy import
cannot hide an import against the direction.
"""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# (folder, package, floor): a module may import packages on its own floor or below
LAYERS = (("edgeae", "edgeae", 0), ("core", "edgeae.core", 0), ("runtime", "edgeae.runtime", 1),
          ("train", "edgeae.train", 2), ("export", "edgeae.export", 3), ("app", "edgeae.app", 4))
APP_ENTRY = "edgeae.__main__"  # `python -m edgeae` is the app's door


def module_files() -> dict[str, Path]:
    """Dotted module name -> source file, for every product module."""
    found = {}
    for folder, package, _ in LAYERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def floor_of(module: str) -> int:
    """The floor of the package a module belongs to (the longest matching prefix)."""
    if module == APP_ENTRY:
        return 4
    best = max((p for _, p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return next(f for _, p, f in LAYERS if p == best)


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The edgeae modules `module` imports anywhere in its source."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}".rstrip(".")
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in known}
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {m: imports_of(m, p, set(files)) for m, p in files.items()}


def test_every_import_goes_down_or_sideways():
    wrong = [f"{m} (floor {floor_of(m)}) imports {i} (floor {floor_of(i)})"
             for m, targets in import_graph().items() for i in sorted(targets)
             if floor_of(i) > floor_of(m)]
    assert not wrong, "imports against the direction:\n" + "\n".join(wrong)


def test_no_import_circle_crosses_folders():
    files = module_files()
    circles = [c for c in strongly_connected(import_graph())
               if len({files[m].parent for m in c}) > 1]
    assert not circles, "import circles across folders: " + "; ".join(
        " <-> ".join(sorted(c)) for c in circles)


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components of the import graph."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            out.append(component)

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_checker_sees_an_import_against_the_direction(tmp_path):
    """The walk finds a lazy import inside a function, and a relative one."""
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from edgeae.app import cli\n    from . import scoring\n")
    found = imports_of("edgeae.runtime.probe", source,
                       {"edgeae.app", "edgeae.app.cli", "edgeae.runtime.scoring"})
    assert found == {"edgeae.app", "edgeae.app.cli", "edgeae.runtime.scoring"}
    assert floor_of("edgeae.app.cli") > floor_of("edgeae.runtime.probe")


def test_importing_the_runtime_loads_no_tensorflow_nor_upper_floors():
    code = ("import sys, edgeae.runtime\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras', 'tf2onnx') or m.startswith(('edgeae.train', "
            "'edgeae.export', 'edgeae.app')))\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_module_imports():
    """A name moved between modules is caught here, not by the first command that needs it."""
    import importlib

    failed = []
    for module in module_files():
        if module == APP_ENTRY:  # running it is running the command
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:  # any import-time error is the finding
            failed.append(f"{module}: {exc}")
    assert not failed, "\n".join(failed)


def test_no_product_function_is_over_60_lines():
    long = []
    for path in module_files().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > 60:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines})")
    assert not long, "split these: " + ", ".join(long)
