"""The project's folders: the environment is read when a folder is asked for, not at import."""

from __future__ import annotations

from mriunlearn import paths
from mriunlearn.cache import RunCache
from mriunlearn.experiments import study as st


def test_folders_set_in_the_environment_after_import_are_used(tmp_path, monkeypatch):
    monkeypatch.setenv("MRIUNLEARN_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MRIUNLEARN_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("MRIUNLEARN_DATA", str(tmp_path / "data"))
    assert paths.runs_dir() == (tmp_path / "runs").resolve()
    assert paths.figures_dir() == (tmp_path / "figures").resolve()
    assert paths.data_dir() == (tmp_path / "data").resolve()
    assert paths.default_data_dir() == (tmp_path / "data" / "default").resolve()
    # what reads them: the default run cache and a notebook's output folder
    assert RunCache().root == (tmp_path / "runs").resolve()
    assert st.output_dir(None) == (tmp_path / "figures").resolve()
    assert paths.portable(tmp_path / "data" / "default") == "$MRIUNLEARN_DATA/default"


def test_unset_or_empty_variables_give_the_repository_folders(monkeypatch):
    for var in ("MRIUNLEARN_RUNS", "MRIUNLEARN_FIGURES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MRIUNLEARN_DATA", "")
    assert paths.runs_dir() == paths.ROOT / "runs"
    assert paths.figures_dir() == paths.ROOT / "figures"
    assert paths.data_dir() == paths.ROOT / "data"


def test_the_environment_is_read_again_on_every_call(tmp_path, monkeypatch):
    monkeypatch.setenv("MRIUNLEARN_RUNS", str(tmp_path / "a"))
    first = paths.runs_dir()
    monkeypatch.setenv("MRIUNLEARN_RUNS", str(tmp_path / "b"))
    assert first != paths.runs_dir() == (tmp_path / "b").resolve()
