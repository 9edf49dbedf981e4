"""The package's import graph: no circles, computation never imports plotting, data flows one way.

Every ``import`` / ``from … import`` statement counts, also those inside functions (a lazy import
still ties two modules together). Modules are found as the import system finds them, not listed
here, so a module added tomorrow is checked too. See docs/architecture.md for the layers.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mriunlearn"

#: the layers, lowest first: a module may import from its own layer or from those below, never above
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "paths", "atomic", "keys", "labels", "paper_numbers", "heap", "reproduction", "intervals"),
    ("physics", "fastmri_h5", "manifest", "profiles", "splits", "simulate"),
    ("dataset", "varnet", "losses"),
    ("model", "checkpoint", "distributed"),
    ("lock", "base_models", "cache", "train"),
    ("metrics", "hallucination", "forgetting", "membership", "landscape", "unlearning", "export"),
    ("experiments", "claims", "plots", "tables", "cli", "reproduce", "__main__"),
)


def _modules(root: Path = PACKAGE) -> dict[str, Path]:
    """``{"mriunlearn.x.y": path}`` of every module Python can import from the package ``root``
    (packages by their ``__init__``), found as the import system finds them (:func:`pkgutil.iter_modules`,
    into every subpackage), without importing anything: a new module is covered the day it is added."""
    out = {root.name: root / "__init__.py"}
    todo = [(root, root.name)]
    while todo:
        folder, prefix = todo.pop()
        for info in pkgutil.iter_modules([str(folder)]):
            name = f"{prefix}.{info.name}"
            if info.ispkg:
                out[name] = folder / info.name / "__init__.py"
                todo.append((folder / info.name, name))
            else:
                out[name] = folder / f"{info.name}.py"
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


#: libraries whose import means statistics are computed here
STATISTICS_MODULES: tuple[str, ...] = ("scipy.stats", "statistics", "statsmodels", "sklearn")
#: calls that fit a model, take a quantile or a distribution's value, or test: statistics, not drawing
#: (a mean that places a mark, and seaborn's estimator and ``errorbar=t_interval`` while it draws, are
#: drawing: the interval's one definition lives in ``intervals``)
STATISTICS_CALLS: frozenset[str] = frozenset({
    "lstsq", "polyfit", "curve_fit", "linregress", "ppf", "isf", "cdf", "sf", "quantile", "percentile",
    "nanquantile", "nanpercentile", "sem", "ttest_rel", "ttest_ind", "ttest_1samp", "wilcoxon", "mannwhitneyu",
    "bootstrap", "mean_interval", "t_quantile"})
#: functions of plots allowed to compute tables or fits: none; a fit or a table belongs to the notebook's
#: experiments module (or to ``intervals``), and plots draws what it is given
STILL_COMPUTED_IN_PLOTS: frozenset[str] = frozenset()


def statistics_in(source: str) -> dict[str, list[str]]:
    """``{function: what in it computes a statistic}`` for the functions (``Class.method`` for methods,
    ``<module>`` for module-level code) of ``source`` that import a library of statistics, call a fit,
    quantile or test (:data:`STATISTICS_CALLS`), or return a table (a ``DataFrame`` or ``Series``)."""
    tree = ast.parse(source)
    owner: dict[int, str] = {}
    for top in tree.body:
        units = [(top.name, top)] if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)) else \
            [(f"{top.name}.{m.name}", m) for m in top.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))] \
            if isinstance(top, ast.ClassDef) else []
        for name, unit in units:
            for node in ast.walk(unit):
                owner.setdefault(id(node), name)
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        where = owner.get(id(node), "<module>")
        if isinstance(node, ast.Import):
            hits = [f"import {a.name}" for a in node.names if a.name.startswith(STATISTICS_MODULES)]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            hits = [f"import {node.module}.{a.name}" for a in node.names
                    if f"{node.module}.{a.name}".startswith(STATISTICS_MODULES) or node.module.startswith(STATISTICS_MODULES)]
        elif isinstance(node, ast.Call):
            f = node.func
            called = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            hits = [f"{called}()"] if called in STATISTICS_CALLS else []
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            returns = ast.unparse(node.returns)
            hits = [f"returns {returns}"] if "DataFrame" in returns or "Series" in returns else []
        else:
            hits = []
        if hits:
            found.setdefault(where, set()).update(hits)
    return {k: sorted(v) for k, v in found.items()}


def test_statistics_finder_tells_computing_from_drawing():
    planted = """
import numpy as np
import seaborn as sns
from scipy import stats
from .intervals import t_interval

def band(x, y):
    from scipy.stats import t
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    return coef, t.ppf(0.975, 3)

def summary(df) -> pd.DataFrame:
    return df

def spread(v):
    return np.percentile(v, [5, 95])

class Panel:
    def fit(self, x, y):
        return np.polyfit(x, y, 2)

def figure(ax, df):
    sns.pointplot(df, x="f", y="BTA", errorbar=t_interval, ax=ax)
    ax.axhline(df.BTA.mean(), ls=":")
    ax.set_ylim(df.BTA.min(), df.BTA.max())
"""
    assert statistics_in(planted) == {
        "<module>": ["import scipy.stats"], "band": ["import scipy.stats.t", "lstsq()", "ppf()"],
        "summary": ["returns pd.DataFrame"], "spread": ["percentile()"], "Panel.fit": ["polyfit()"]}


def test_plots_computes_no_statistics():
    """Tables and fits are computed where the numbers are (``experiments``, ``intervals``) and handed
    to plots, so a figure and its saved table cannot disagree; plots draws."""
    found = statistics_in((PACKAGE / "plots.py").read_text(encoding="utf-8"))
    new = {k: v for k, v in found.items() if k not in STILL_COMPUTED_IN_PLOTS}
    assert not new, f"plots computes statistics (move them to experiments or intervals): {new}"
    moved = STILL_COMPUTED_IN_PLOTS - set(found)
    assert not moved, f"{sorted(moved)} no longer compute in plots: strike them off STILL_COMPUTED_IN_PLOTS"


#: the modules of ``experiments`` that every notebook's module may stand on
SHARED_EXPERIMENT_MODULES: frozenset[str] = frozenset({"study", "results"})


def notebook_modules(graph: dict[str, set[str]], package: str = "mriunlearn") -> list[str]:
    """Every module of ``<package>.experiments`` except the shared ones: the notebooks' own modules."""
    prefix = f"{package}.experiments."
    return sorted(m for m in graph if m.startswith(prefix) and m.removeprefix(prefix) not in SHARED_EXPERIMENT_MODULES)


def sibling_imports(graph: dict[str, set[str]], module: str, package: str = "mriunlearn") -> set[str]:
    """The modules of ``<package>.experiments`` that ``module`` imports beyond the shared ones."""
    shared = {f"{package}.experiments.{s}" for s in SHARED_EXPERIMENT_MODULES}
    return {t for t in graph[module] if t.startswith(f"{package}.experiments.")} - shared


def _plant(root: Path, files: dict[str, str]) -> Path:
    """A package ``root`` (its name: the package's) holding ``files`` ({relative path: source})."""
    for rel, src in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(src, encoding="utf-8")
    return root


def test_modules_are_discovered_in_every_subpackage(tmp_path):
    """A module added anywhere is covered without editing this file; a folder that is no package
    (no ``__init__.py``) holds nothing Python imports as part of the package, and is left out."""
    root = _plant(tmp_path / "mriunlearn", {
        "__init__.py": "", "errors.py": "", "experiments/__init__.py": "", "experiments/study.py": "",
        "experiments/new_notebook.py": "from .study import x\n", "experiments/deep/__init__.py": "",
        "experiments/deep/inner.py": "", "stray/loose.py": ""})
    assert set(_modules(root)) == {"mriunlearn", "mriunlearn.errors", "mriunlearn.experiments",
                                   "mriunlearn.experiments.study", "mriunlearn.experiments.new_notebook",
                                   "mriunlearn.experiments.deep", "mriunlearn.experiments.deep.inner"}
    assert import_graph(root)["mriunlearn.experiments.new_notebook"] == {"mriunlearn.experiments.study"}


def test_the_real_package_is_discovered_whole():
    found = _modules()
    on_disk = {p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    assert set(found.values()) == on_disk  # every .py file of the package is one of its modules
    assert {"mriunlearn.experiments.nl_ablation", "mriunlearn.experiments.noise_sweep",
            "mriunlearn.unlearning.runner", "mriunlearn.simulate.brain"} <= set(found)


def test_a_notebook_module_importing_a_sibling_is_caught(tmp_path):
    """The rule below on a planted layout: a new notebook module that imports another notebook's
    module (lazily, inside a function, and relatively) is found and named; study and results are not."""
    root = _plant(tmp_path / "mriunlearn", {
        "__init__.py": "", "experiments/__init__.py": "", "experiments/study.py": "",
        "experiments/results.py": "from .study import Study\n",
        "experiments/sweep.py": "from .results import table\n",
        "experiments/ablation.py": "from .study import Study\n\ndef f():\n    from .sweep import scale\n"})
    graph = import_graph(root)
    assert notebook_modules(graph) == ["mriunlearn.experiments.ablation", "mriunlearn.experiments.sweep"]
    assert sibling_imports(graph, "mriunlearn.experiments.ablation") == {"mriunlearn.experiments.sweep"}
    assert sibling_imports(graph, "mriunlearn.experiments.sweep") == set()


def test_notebook_modules_are_found_not_listed():
    assert {"data_overlap", "hallucinations", "unlearning", "noise_sweep", "nl_ablation", "retain_fraction",
            "overview"} <= {m.rsplit(".", 1)[1] for m in notebook_modules(import_graph())}


@pytest.mark.parametrize("module", notebook_modules(import_graph()))
def test_notebook_modules_do_not_import_each_other(module):
    """Each notebook's module stands on ``study`` and ``results`` only, so a reader finds all of a
    notebook's functions in one file; what two of them share lives in ``study`` or ``results``."""
    siblings = sibling_imports(import_graph(), module)
    assert not siblings, f"{module} imports {sorted(siblings)}: move what they share to study or results"
