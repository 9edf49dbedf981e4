"""The package's import graph: no circles, computation never imports plotting, data flows one way.

Every ``import`` / ``from … import`` statement counts, also those inside functions (a lazy import
still ties two modules together). See docs/architecture.md for the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mriunlearn"

#: the layers, lowest first: a module may import from its own layer or from those below, never above
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "paths", "atomic", "labels", "paper_numbers", "heap", "reproduction", "intervals"),
    ("physics", "fastmri_h5", "manifest", "profiles", "splits", "simulate"),
    ("dataset", "varnet", "losses"),
    ("model", "checkpoint", "distributed"),
    ("lock", "cache", "train"),
    ("metrics", "hallucination", "forgetting", "landscape", "unlearning", "export"),
    ("experiments", "claims", "plots", "tables", "cli", "reproduce", "__main__"),
)


def _modules(root: Path = PACKAGE) -> dict[str, Path]:
    """``{"mriunlearn.x.y": path}`` of every module of the package (packages by their ``__init__``)."""
    out = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """``{module: {modules of the package it imports}}`` (a package's own ``__init__`` excluded)."""
    mods = _modules(root)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        annotations_only = {id(n) for block in ast.walk(tree)
                            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                            for n in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in annotations_only:
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")
                    keep = len(base) - node.level + (1 if is_pkg else 0)
                    target = ".".join(base[:keep] + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                names = [target] + [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for t in names:
                if t in mods and t != name and not name.startswith(t + "."):
                    graph[name].add(t)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, …, a]``, or None."""
    state = dict.fromkeys(graph, 0)
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state[v] == 1:
                return stack[stack.index(v):] + [v]
            if state[v] == 0 and (found := visit(v)):
                return found
        stack.pop()
        state[u] = 2
        return None

    for node in sorted(graph):
        if state[node] == 0 and (found := visit(node)):
            return found
    return None


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else module
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module} is in no layer of tests/test_architecture.py: add it to LAYERS")


def test_cycle_finder_finds_a_planted_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_package_has_no_import_circle():
    assert find_cycle(import_graph()) is None


def test_every_import_goes_down_or_sideways_in_the_layers():
    graph = import_graph()
    upward = [f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
              for m, targets in graph.items() for t in targets
              if m != "mriunlearn" and t != "mriunlearn" and _layer(t) > _layer(m)]
    assert not upward, "\n".join(upward)


def test_computation_never_imports_plotting():
    graph = import_graph()
    drawing = {m for m in graph if m == "mriunlearn.plots"}
    for name, path in _modules().items():
        if name in drawing:
            continue
        src = path.read_text(encoding="utf-8")
        assert "matplotlib" not in src.replace("``matplotlib", ""), f"{name} uses matplotlib: drawing belongs in plots"
        assert not (graph[name] & drawing), f"{name} imports mriunlearn.plots"


def test_plots_only_draw():
    """plots takes what it draws as arguments: it imports no experiment, training or data loading."""
    graph = import_graph()
    allowed = {"mriunlearn.paths", "mriunlearn.atomic", "mriunlearn.labels", "mriunlearn.intervals"}
    assert graph["mriunlearn.plots"] <= allowed, graph["mriunlearn.plots"] - allowed


@pytest.mark.parametrize("module", ["data_overlap", "hallucinations", "unlearning", "noise_sweep", "retain_fraction"])
def test_notebook_modules_do_not_import_each_other(module):
    """Each notebook's module stands on ``study`` and ``results`` only, so a reader finds all of a
    notebook's functions in one file."""
    graph = import_graph()
    siblings = {t for t in graph[f"mriunlearn.experiments.{module}"] if t.startswith("mriunlearn.experiments.")}
    assert siblings <= {"mriunlearn.experiments.study", "mriunlearn.experiments.results"}, siblings
