"""tools/regime_study.py: a candidate dataset and profile measured by the regime indicators (smoke-sized)."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from mriunlearn import paths
from mriunlearn.errors import ConfigError
from mriunlearn.simulate.build import DatasetSpec

sys.path.insert(0, str(paths.ROOT / "tools"))
import regime_study  # noqa: E402
import tissue_ssim  # noqa: E402


def test_candidate_spec_applies_changes_and_names_unknown_fields():
    spec = regime_study.candidate_spec({"brain_fov_range_mm": [140, 240], "knee_forget": 20}, DatasetSpec.smoke())
    assert spec.brain_fov_range_mm == (140, 240) and spec.knee_forget == 20 and spec.image_size == (32, 32)
    with pytest.raises(ConfigError, match="unknown DatasetSpec field.*knee_count"):
        regime_study.candidate_spec({"knee_count": 3})
    with pytest.raises(SystemExit):  # an item without "=" (cli.key_values) is a usage error
        regime_study.main(["x", "--spec", "nokey"])


def test_regime_study_measures_a_smoke_candidate(tmp_path, capsys):
    args = ["tiny", "--base", "smoke", "--profile", "smoke", "--spec", "brain_pe_swap=0.5", "--out", str(tmp_path)]
    assert regime_study.main(args) == 0
    folder = tmp_path / "tiny"
    regime = pd.read_csv(folder / "regime.csv", index_col="id")
    assert list(regime.index) == ["R1", "R2", "R3", "R4", "R8"] and regime.ours[:4].notna().all()
    # a smoke model may not beat the zero-filled input: R8's ratio is then undefined, its gains are named
    assert "at 170 mm" in regime.loc["R8", "note"]
    per_volume = pd.read_csv(folder / "per_volume.csv")
    assert set(per_volume.model) == {"zero_filled", "oracle", "original"}
    assert set(per_volume.role) == {"test_brain", "test_knee", "forget"}
    record = json.loads((folder / "record.json").read_text())
    assert record["spec"]["brain_pe_swap"] == 0.5 and record["counts"]["forget"] == DatasetSpec.smoke().knee_forget
    assert set(record["train_s"]) == {"oracle", "original"}
    assert "R8" in capsys.readouterr().out
    # the shifted test brains are the candidate's test subjects at the smaller field of view
    shifted = pd.read_csv(tmp_path / "data" / "tiny_shifted" / "manifest.csv")
    assert set(shifted.role) == {"test_brain"}
    # tools/tissue_ssim.py splits each model's SSIM deficit over the tissues: per model and role the
    # shares sum to 1 − the role's SSIM; a profile the study did not train is an error, not a training
    assert tissue_ssim.main(["tiny", "--profile", "smoke", "--out", str(tmp_path), "--roles", "test_knee", "test_brain"]) == 0
    tissue = pd.read_csv(folder / "tissue_ssim.csv")
    lost = 1.0 - tissue.groupby(["model", "role"]).deficit_share.sum()
    ssim = per_volume[per_volume.role.isin(["test_knee", "test_brain"])].groupby(["model", "role"]).ssim.mean()
    pd.testing.assert_series_equal(lost, ssim, check_names=False, atol=1e-4)
    assert {"marrow", "white_matter"} <= set(tissue.tissue)
    with pytest.raises(SystemExit):
        tissue_ssim.main(["tiny", "--profile", "smoke", "--set", "epochs=3", "--out", str(tmp_path)])
