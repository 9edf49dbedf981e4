"""The notebooks as papermill and JupyterLab meet them: typed, documented parameters, misspelled ones
refused, outputs where the user says, and opening + saving a committed notebook changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mriunlearn import paths
from mriunlearn.errors import ConfigError
from mriunlearn.experiments import study as st

NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_there_are_four_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04"]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_has_a_type_and_a_help_line(nb):
    papermill = pytest.importorskip("papermill")
    params = papermill.inspect_notebook(str(nb))
    assert {"PROFILE", "DATA_DIR", "MANIFEST", "RUNS_DIR", "FIGURES_DIR"} <= set(params)
    untyped = [n for n, p in params.items() if p["inferred_type_name"] in ("None", "", None)]
    unhelped = [n for n, p in params.items() if not p["help"].strip()]
    assert not untyped and not unhelped, (untyped, unhelped)


@pytest.mark.parametrize("nb, name, default", [
    ("01_data_overlap", "TRAIN_SEEDS", [42]),
    ("02_joint_training_hallucinations", "TRAIN_SEEDS", [42]),
    ("04_subset_retain", "VARIANTS", ["paper"]),
])
def test_training_seeds_and_variants_default_to_the_single_run_before_them(nb, name, default):
    """TRAIN_SEEDS defaults to the profiles' own seed (the default run trains nothing new and reuses
    the cached G and Ĝ); VARIANTS to the paper's text alone (notebook 04's output unchanged)."""
    import json

    from mriunlearn.profiles import PROFILES, get_profile
    from mriunlearn.unlearning.base import VARIANTS

    papermill = pytest.importorskip("papermill")
    param = papermill.inspect_notebook(str(paths.NOTEBOOKS_DIR / f"{nb}.ipynb"))[name]
    assert json.loads(param["default"]) == default
    if name == "TRAIN_SEEDS":
        assert param["inferred_type_name"] == "list[int]"
        assert {get_profile(p).seed for p in PROFILES} == set(default)
    else:
        assert param["inferred_type_name"] == "list[str]" and set(default) <= set(VARIANTS)


def test_check_parameters_names_the_unknown_one_and_the_valid_ones():
    ns = {"__annotations__": {"SEEDS": "list[int]", "PROFILE": str}, "SEEDS": [42], "PROFILE": "smoke",
          "SEDS": 43, "out": 1, "GU": object(), "OUT": Path(".")}
    with pytest.raises(ConfigError, match=r"unknown notebook parameter\(s\) \['SEDS'\]; valid parameters: SEEDS, PROFILE"):
        st.check_parameters(ns)
    del ns["SEDS"]
    st.check_parameters(ns)  # lowercase names and objects (models, paths) are the notebook's own


def test_output_dir_is_created_and_a_file_is_refused(tmp_path):
    assert st.output_dir(tmp_path / "a" / "b") == (tmp_path / "a" / "b").resolve()
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="FIGURES_DIR"):
        st.output_dir(tmp_path / "f")
    assert st.output_dir(None) == paths.figures_dir()


def test_a_misspelled_papermill_parameter_stops_the_first_cell(tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    from papermill.exceptions import PapermillExecutionError

    monkeypatch.setenv("MRIUNLEARN_FIGURES", str(tmp_path / "figures"))
    out = tmp_path / "04.ipynb"
    with pytest.raises(PapermillExecutionError) as err:
        papermill.execute_notebook(str(paths.NOTEBOOKS_DIR / "04_subset_retain.ipynb"), str(out),
                                   parameters={"PROFILE": "smoke", "SEDS": [43]}, kernel_name="python3",
                                   progress_bar=False, cwd=str(tmp_path))
    assert err.value.ename == "ConfigError"
    assert "SEDS" in err.value.evalue and "SEEDS" in err.value.evalue and "FRACTIONS" in err.value.evalue
    assert not (tmp_path / "figures").exists()  # stopped before anything was computed or saved


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_opening_and_saving_a_committed_notebook_changes_nothing(nb, tmp_path):
    """JupyterLab re-labels the kernel on open when the notebook names another display name than the
    installed kernelspec, and its contents API writes the JSON back: neither may change a byte."""
    pytest.importorskip("jupyter_server")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_server.services.contents.filemanager import FileContentsManager

    import nbformat

    meta = nbformat.read(nb, as_version=4).metadata.kernelspec
    installed = KernelSpecManager().get_kernel_spec(meta["name"])
    assert meta["display_name"] == installed.display_name and meta["language"] == installed.language
    shutil.copy(nb, tmp_path / nb.name)
    cm = FileContentsManager(root_dir=str(tmp_path))
    model = cm.get(nb.name, content=True)
    cm.save({"type": "notebook", "format": "json", "content": model["content"]}, nb.name)
    assert (tmp_path / nb.name).read_bytes() == nb.read_bytes()


def _plots_calls(notebook: Path) -> list[str]:
    """The names of ``plots.<name>(...)`` calls in the notebook's code cells, in source order."""
    import ast

    import nbformat

    calls = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code":
            nodes = [n for n in ast.walk(ast.parse(cell.source))
                     if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                     and isinstance(n.func.value, ast.Name) and n.func.value.id == "plots"]
            calls += [n.func.attr for n in sorted(nodes, key=lambda n: (n.lineno, n.col_offset))]
    return calls


@pytest.mark.parametrize("notebook", sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")), ids=lambda p: p.name)
def test_every_notebook_applies_the_theme_before_its_first_figure(notebook):
    """Importing ``plots`` sets no style: a notebook that saves figures asks for the theme first."""
    calls = _plots_calls(notebook)
    assert "save_figure" in calls
    assert "use_theme" in calls and calls.index("use_theme") < calls.index("save_figure")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_imports_the_package_under_readable_names(notebook):
    """A reader meets ``unlearning.wide_table``, not ``ex.wide_table``: no short alias of a package import."""
    import ast

    import nbformat

    short = [f"{node.module}.{a.name} as {a.asname}"
             for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code"
             for node in ast.walk(ast.parse(cell.source))
             if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mriunlearn")
             for a in node.names if a.asname is not None and len(a.asname) <= 3]
    assert not short, short


def test_notebook_03_runs_its_unlearning_runs_under_their_own_heading():
    """The long runs are not hidden in the setup cell: a heading, then the cell that runs them."""
    import nbformat

    cells = nbformat.read(paths.NOTEBOOKS_DIR / "03_unlearning.ipynb", as_version=4).cells
    runs = [i for i, c in enumerate(cells) if c.cell_type == "code" and "run_methods(" in c.source]
    assert len(runs) == 1
    assert cells[runs[0] - 1].cell_type == "markdown" and cells[runs[0] - 1].source.startswith("## The unlearning runs")
    setup = next(i for i, c in enumerate(cells) if "check_parameters(globals())" in c.source)
    assert setup < runs[0] - 1
