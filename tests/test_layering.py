"""The package's structure: one direction through the code, read from the import graph.

Every ``import`` counts, at module level, inside functions and under ``TYPE_CHECKING`` alike: a lazy
import is allowed for start-up speed, but it must point the same way as any other. The top-level
parts form layers, each importing only the ones before it::

    core -> data -> models -> training -> serving -> reports -> experiments -> labelling -> cli

and no two modules import each other, directly or around a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"
LAYERS = ("core", "data", "models", "training", "serving", "reports", "experiments", "labelling", "cli")


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package is its ``__init__``)."""
    found = {}
    for path in sorted((SOURCE / "harcnn").rglob("*.py")):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports (a ``from a import b`` imports ``a.b`` when that is a
    module, else ``a``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def layer(name: str) -> int | None:
    """The layer of a module (None for the package root and ``__main__``, the entry points)."""
    parts = name.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] != "__main__" else None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_belongs_to_a_layer():
    strays = [name for name in modules() if name.count(".") == 1 and name.split(".")[1] not in LAYERS
              and name not in ("harcnn.__main__",)]
    assert not strays, f"modules outside the layers {LAYERS}: {strays}"


def test_no_module_imports_a_later_layer():
    upward = [f"{a} -> {b}" for a, targets in import_graph().items() for b in sorted(targets)
              if layer(a) is not None and layer(b) is not None and layer(b) > layer(a)]
    assert not upward, "imports against the layer order " + " -> ".join(LAYERS) + ":\n" + "\n".join(upward)


def test_no_import_cycles_between_modules():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_import_cycles_between_top_level_parts():
    graph = import_graph()
    parts: dict[str, set[str]] = {}
    for a, targets in graph.items():
        if layer(a) is None:
            continue
        top = a.split(".")[1]
        parts.setdefault(top, set()).update(b.split(".")[1] for b in targets if layer(b) is not None
                                            and b.split(".")[1] != top)
    for top in list(parts):
        for b in parts[top]:
            parts.setdefault(b, set())
    assert not cycles(parts), cycles(parts)


def test_the_checks_see_lazy_imports_and_cycles():
    """The graph counts an import inside a function, and the cycle finder finds a circle of three."""
    graph = import_graph()
    assert "harcnn.serving.artifact" in graph["harcnn.cli.serving"]  # imported inside the command functions
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
