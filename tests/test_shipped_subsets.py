"""Notebook 04's retain data: the subsets shipped beside a manifest (``<stem>_subsets.csv``, the
authors' ``paper_subsets.csv``) when there are some, seeded draws otherwise; and the notebooks'
``OVERRIDES`` parameter (profile fields, e.g. ``max_steps``) reaching the study."""

from __future__ import annotations

import shutil

import pytest

from mriunlearn.errors import ConfigError, ManifestError
from mriunlearn.experiments import retain_fraction as rf
from mriunlearn.experiments import study as st
from mriunlearn.splits import write_subsets


def _study(smoke_data, tmp_path, subsets=None, **kw):
    manifest_csv, root = smoke_data
    tmp_path.mkdir(parents=True, exist_ok=True)
    copy = tmp_path / "split.csv"
    shutil.copy(manifest_csv, copy)
    if subsets is not None:
        write_subsets(subsets, tmp_path / "split_subsets.csv")
    return st.load_study("smoke", data_dir=root, manifest=copy, runs_dir=tmp_path / "runs", **kw)


def test_shipped_subsets_are_used_and_said(smoke_data, tmp_path, capsys):
    probe = _study(smoke_data, tmp_path)
    retain = list(probe.manifest.table.loc[probe.manifest.table.role == "retain", "file"])
    assert len(retain) >= 2
    study = _study(smoke_data, tmp_path, [("50pct", 0.5, retain[-1]), ("50pct_v1", 0.5, retain[0])],
                   overrides={"max_steps": 1})
    assert study.profile.max_steps == 1 and study.subsets_source == tmp_path / "split_subsets.csv"
    assert study.retain_subset(0.5)[0] == "50pct"  # the main subset before its extra draws
    assert study.retain_subset(0.2) is None
    sweep, runs = rf.fraction_sweep(study, ["ft"], [0.5, 1.0], [42])
    out = capsys.readouterr().out
    assert "retain subsets from" in out and "0.5 -> 50pct (1 volumes)" in out and "1" in out.split(";")[-1]
    assert runs[("ft", 0.5, 42)].retain_files == [retain[-1].split("/")[-1]]
    assert len(runs[("ft", 1.0, 42)].retain_files) == len(retain)
    assert runs[("ft", 0.5, 42)].config["profile"]["max_steps"] == 1


def test_without_subsets_the_seeded_draw_is_said(smoke_data, tmp_path, capsys):
    study = _study(smoke_data, tmp_path, overrides='{"max_steps": 1}')
    assert study.subsets == {} and study.subsets_source is None
    sweep, runs = rf.fraction_sweep(study, ["ft"], [0.5, 1.0], [42])
    out = capsys.readouterr().out
    assert out == ("retain subsets: seeded draws per unlearning seed (no split_subsets.csv beside the manifest; "
                   "Manifest.subset) for fractions 0.5; fraction 1 = all of D_r\n")
    assert runs[("ft", 0.5, 42)].retain_files == [p.name for p in study.manifest.subset("retain", 0.5, 42)]


def test_bad_subsets_and_overrides_are_refused(smoke_data, tmp_path):
    with pytest.raises(ManifestError, match="not a retain"):
        _study(smoke_data, tmp_path, [("10pct", 0.1, "nowhere.h5")])
    with pytest.raises(ConfigError, match="OVERRIDES"):
        _study(smoke_data, tmp_path / "b", overrides="{max_steps")
    with pytest.raises(ConfigError, match="MANIFEST"):
        _study(smoke_data, tmp_path / "c", overrides={"manifest": "x.csv"})
    with pytest.raises(ConfigError, match="max_steps"):
        _study(smoke_data, tmp_path / "d", overrides={"max_steps": 0})
