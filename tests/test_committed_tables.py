"""Committed tables that are derived from other committed tables say what those give: no committed
CSV contradicts another (each check recomputes a table from its sources, no training)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mriunlearn import paths
from mriunlearn.claims import PAPER_METHODS
from mriunlearn.experiments import results as res
from mriunlearn.experiments import unlearning as unl

#: the figures folders of notebook 03's committed runs (the default, and three unlearning seeds)
RUNS = ("", "unlearn_seeds_3/figures")


def _csv(folder: str, name: str) -> pd.DataFrame:
    t = pd.read_csv(paths.REFERENCE_DIR / folder / f"{name}.csv")
    return t.drop(columns=[c for c in t.columns if str(c).startswith("Unnamed: ")])


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        if pd.api.types.is_numeric_dtype(a[col]):
            np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), rtol=1e-12, equal_nan=True)
        else:
            assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), col


@pytest.mark.parametrize("folder", RUNS)
def test_table1_is_the_summary_of_its_per_volume_table(folder):
    pv = _csv(folder, "03_table1_per_volume")
    rebuilt = res.summary_table(pv, list(dict.fromkeys(pv.model)))
    _same(_csv(folder, "03_table1"), rebuilt.assign(model=rebuilt.model.astype(str)))


@pytest.mark.parametrize("folder", RUNS)
def test_fig3_radar_is_derived_from_table1_and_costs(folder):
    rebuilt = unl.radar_psnr(_csv(folder, "03_table1"), _csv(folder, "03_costs"))
    _same(_csv(folder, "03_fig3_radar"), rebuilt)
    normalised = unl.radar_values(_csv(folder, "03_table1"), _csv(folder, "03_costs"))
    _same(_csv(folder, "03_fig3_radar_normalised"), normalised.reset_index())


@pytest.mark.parametrize("folder", RUNS)
def test_notebook03_claims_are_judged_on_table1(folder):
    """``03_claims.csv`` of each run says what the claim rules give on that run's Table 1."""
    pv = _csv(folder, "03_table1_per_volume")
    summary = _csv(folder, "03_table1")
    methods = [m for m in dict.fromkeys(pv.model) if m in PAPER_METHODS]
    _same(_csv(folder, "03_claims"), unl.judge_claims(summary, methods, per_volume=pv))


#: tables notebook 03 reads from a committed run instead of computing them: (that run's folder, table)
READ_FROM_RUNS = (("noise_sweep", "03_noise_sweep"), ("forgetting_audit", "03_relearning"),
                  ("forgetting_audit", "03_lira_ensemble"))


@pytest.mark.parametrize("run, name", READ_FROM_RUNS)
def test_a_table_read_from_a_committed_run_is_that_runs_table(run, name):
    """The default's copy of a table notebook 03 reads from a committed run is that run's table, and
    its record is that run's record (the record names every model and run behind it)."""
    source = paths.REFERENCE_DIR / run / "figures"
    assert (paths.REFERENCE_DIR / f"{name}.csv").read_bytes() == (source / f"{name}.csv").read_bytes()
    assert json.loads((paths.REFERENCE_DIR / f"{name}.json").read_text()) == json.loads((source / f"{name}.json").read_text())


def test_nl_ablation_verdicts_agree_with_the_full_run():
    """The default grid's verdict table names where each row comes from. The committed full-grid run
    stands in only for a run from the same split, G and Ĝ: for such a run it fills every row the
    default grid reports as 'not run' with what that run says, and agrees wherever both judged; the
    committed default, from another G than that run's, takes nothing from it."""
    import json

    from mriunlearn.experiments import nl_ablation as na

    default = _csv("", "03_nl_ablation_verdicts").set_index("hypothesis")
    full = _csv(f"{na.FULL_RUN}/figures", "03_nl_ablation_verdicts").set_index("hypothesis")
    criteria = ["(a) NL-alone collapse", "(b) NL-FT at the oracle"]
    record = json.loads((paths.REFERENCE_DIR / "03_nl_ablation.json").read_text())
    full_record = json.loads((paths.REFERENCE_DIR / na.FULL_RUN / "figures" / "03_nl_ablation.json").read_text())
    assert na.full_run_folder(full_record) is not None
    if na.full_run_folder(record) is None:
        assert (default.source == "this run").all()
    own = default.reset_index().drop(columns="source")
    stood_in = na.with_full_run(own[own.hypothesis.isin(full.index)], full_record).set_index("hypothesis")
    assert not (stood_in[criteria] == "not run").any().any()
    borrowed = stood_in[stood_in.source != "this run"]
    assert list(borrowed.index) == ["H2"] and borrowed.source.str.contains(f"figures/{na.FULL_RUN}/figures").all()
    assert (borrowed[criteria] == full.loc[borrowed.index, criteria]).all().all()
    assert na.full_run_folder({**full_record, "original_key": "another G"}) is None  # another G: no stand-in
    again = na.with_full_run(own, {**full_record, "oracle_key": "another"})
    assert (again.source == "this run").all()
