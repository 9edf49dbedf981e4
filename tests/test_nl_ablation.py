"""Notebook 03's "Why does NL forget?" ablation: the grid, the verdict rules, and the runs behind a cell
(smoke profile, fresh run cache)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from mriunlearn.errors import ConfigError
from mriunlearn.experiments import nl_ablation as na
from mriunlearn.experiments import study as st


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    bound = st.load_study("smoke", runs_dir=tmp_path_factory.mktemp("runs"))
    bound.progress = False
    return bound


def test_every_cell_changes_exactly_its_factor_from_the_authors_final_code():
    base = na.Cell("nl", "today")
    assert (base.transform, base.noise_std, base.optimizer, base.loss) == ("abs", 1e-5, "restored", "ssim_l1")
    fields = ("transform", "noise_std", "optimizer", "loss")
    for cell in na.ablation_cells("full"):
        changed = {f for f in fields if getattr(cell, f) != getattr(base, f)}
        assert changed == set(na.FACTORS[cell.factor]), cell
        assert cell.steps == (na.PAPER_STEPS[cell.method] if cell.budget == "paper" else None)
    labels = [c.label for c in na.ablation_cells("full")]
    assert len(labels) == len(set(labels))
    assert {c.budget for c in na.ablation_cells("today")} == {"today"}
    assert na.ablation_cells("none") == []
    # every hypothesis has its cells in the full grid, for NL (a) at least at one budget
    full = {(c.method, c.budget, c.factor) for c in na.ablation_cells("full")}
    for _, with_spec, without_spec in na.HYPOTHESES.values():
        for spec in filter(None, (with_spec, without_spec)):
            factor, _, budget = spec.partition("@")
            assert ("nl", budget or "paper", factor) in full


@pytest.mark.parametrize("bad", ["fll", "", None, ["full"]])
def test_unknown_grid_is_refused_with_the_valid_list(bad):
    with pytest.raises(ConfigError, match="NL_GRID.*valid: 'none', 'today', 'full'"):
        na.ablation_cells(bad)


ORACLE = pd.Series({"BTA": 28.0, "KTA": 16.0, "UA": 18.0})


def _table(values: dict[tuple[str, str, str], list[tuple[float, float]]]) -> pd.DataFrame:
    """An ablation table with ``(BTA, KTA)`` per seed for each ``(method, budget, factor)``."""
    rows = []
    for (m, b, f), per_seed in values.items():
        for seed, (bta, kta) in zip((42, 43, 44), per_seed):
            rows.append({"method": m, "budget": b, "factor": f, "seed": seed, "BTA": bta, "KTA": kta,
                         "UA": kta, "BTA_ssim": 0.5})
    return pd.DataFrame(rows)


def _verdict(table: pd.DataFrame, h: str, criterion: str) -> str:
    v = na.hypothesis_verdicts(table, ORACLE).set_index("hypothesis")
    col = "(a) NL-alone collapse" if criterion == "a" else "(b) NL-FT at the oracle"
    return v.loc[h, col]


def test_a_hypothesis_explains_a_criterion_only_when_the_cell_without_its_factor_misses_it():
    t = _table({("nl", "today", "base"): [(27.0, 19.0)], ("nl", "today", "replace"): [(15.0, 14.0)],
                ("nl", "today", "fresh"): [(16.0, 14.0)], ("nl", "today", "l1"): [(27.2, 19.0)],
                ("nl", "today", "clean"): [(27.0, 19.1)],
                ("nl_ft", "today", "base"): [(27.8, 16.5)], ("nl_ft", "today", "replace"): [(27.9, 19.0)],
                ("nl_ft", "today", "fresh"): [(25.0, 16.2)], ("nl_ft", "today", "l1"): [(27.9, 19.0)],
                ("nl_ft", "today", "clean"): [(27.5, 19.5)]})
    assert _verdict(t, "H1", "a") == "yes"  # replace collapses, base does not
    assert _verdict(t, "H3", "a") == "no"  # the restored (base) cell does not collapse
    assert _verdict(t, "H5", "a") == "no"
    assert _verdict(t, "H2", "a") == "not run"  # no paper-budget cells
    assert _verdict(t, "H1", "b") == "no"  # replace leaves the knee 3 dB above the oracle's
    assert _verdict(t, "H3", "b") == "yes"  # base meets (b); fresh costs 3 dB of brain
    assert _verdict(t, "H4", "b") == "yes"
    t.loc[(t.method == "nl_ft") & (t.factor == "fresh"), "BTA"] = 27.6
    assert _verdict(t, "H3", "b") == "met, but also without it"
    text = na.nl_ablation_verdict(t, na.hypothesis_verdicts(t, ORACLE),
                                  pd.DataFrame({"oracle": ORACLE, "zero_filled": ORACLE - 8}).T)
    assert "(a): explained here by H1" in text and "open: H2 (not run)" in text


def test_cells_closer_than_one_db_need_three_seeds_and_an_interval():
    one = {("nl", "today", "base"): [(19.5, 14.0)], ("nl", "today", "fresh"): [(20.3, 14.0)]}
    assert _verdict(_table(one), "H3", "a") == "inconclusive"
    three = {("nl", "today", "base"): [(19.5, 14.0), (19.6, 14.0), (19.4, 14.0)],
             ("nl", "today", "fresh"): [(20.3, 14.0), (20.4, 14.0), (20.2, 14.0)]}
    assert _verdict(_table(three), "H3", "a") == "yes"  # -0.8 dB on every seed: the interval excludes 0
    noisy = {("nl", "today", "base"): [(19.5, 14.0), (20.9, 14.0), (18.4, 14.0)],
             ("nl", "today", "fresh"): [(20.3, 14.0), (20.1, 14.0), (20.2, 14.0)]}
    assert _verdict(_table(noisy), "H3", "a") == "no"  # the interval over seeds contains 0


def test_a_paper_budget_cell_is_preferred_when_the_grid_has_one():
    t = _table({("nl", "today", "base"): [(27.0, 19.0)], ("nl", "today", "replace"): [(15.0, 14.0)],
                ("nl", "paper", "base"): [(17.0, 14.0)], ("nl", "paper", "replace"): [(15.0, 14.0)]})
    assert _verdict(t, "H1", "a") == "met, but also without it"  # at the paper's budget base collapses too
    assert _verdict(t, "H2", "a") == "yes"
    v = na.hypothesis_verdicts(t, ORACLE).set_index("hypothesis")
    assert "base@paper: BTA 17.00" in v.loc["H2", "(a) evidence"]


def test_a_cell_runs_its_budget_optimizer_and_loss_and_is_cached(study, monkeypatch):
    monkeypatch.setitem(na.PAPER_STEPS, "nl", 3)
    base = na.Cell("nl", "paper")
    r = na.run_cell(study, base, 42)
    assert r.config["steps"] == 3 and r.slice_steps == 3  # batch size 1: one slice per step
    assert r.config["resume_optimizer"] is True and r.info["transform"] == "abs"
    fresh = na.run_cell(study, dataclasses.replace(base, factor="fresh", optimizer="fresh"), 42)
    assert fresh.config["resume_optimizer"] is False
    l1 = na.run_cell(study, dataclasses.replace(base, factor="l1", loss="l1"), 42)
    assert l1.config["profile"]["loss"] == "l1" and r.config["profile"]["loss"] == study.profile.loss
    assert l1.config["original"] == r.config["original"]  # the study's own G, whatever the loss
    assert len({r.entry.key, fresh.entry.key, l1.entry.key}) == 3
    assert na.run_cell(study, base, 42).cached


def test_today_cells_of_the_authors_code_are_the_noise_sweeps_runs(study):
    from mriunlearn.experiments import noise_sweep as ns

    _, runs = ns.noise_sweep(study, ["nl"], [1e-5], [42], variants=["code"])
    cell = na.run_cell(study, na.Cell("nl", "today"), 42)
    assert cell.cached and cell.entry.key == runs[("nl:code", 1e-5, 42)].entry.key


def test_ablation_table_verdicts_and_figure_on_a_smoke_grid(study, monkeypatch, tmp_path):
    from mriunlearn import plots

    cells = [c for c in na.ablation_cells("today") if c.factor in ("base", "replace", "clean")]
    table, runs = na.nl_ablation(study, cells, [42])
    assert set(runs) == {(c.label, 42) for c in cells}
    means = na.ablation_table(table)
    assert list(means.columns) == ["BTA", "KTA", "UA", "BTA_ssim", "seeds"]
    assert table.noise_rel[table.factor == "replace"].iloc[0] > 100  # λ = 1 is far above the targets' peak
    refs = na.references(study)
    assert list(refs.index) == ["original", "oracle", "zero_filled"]
    verdicts = na.hypothesis_verdicts(table, refs.loc["oracle"])
    assert list(verdicts.hypothesis) == list(na.HYPOTHESES)
    assert set(verdicts["(a) NL-alone collapse"]) <= {"yes", "no", "met, but also without it", "inconclusive", "not run"}
    fig = plots.nl_ablation_figure(table, refs)
    assert len(fig.axes) == 4
    labels = [c.label for c in cells if c.method == "nl"]
    cos = na.update_cosines(study, runs, labels, 42)
    assert list(cos.index) == list(cos.columns) == labels
    assert all(abs(cos.loc[lab, lab] - 1) < 1e-5 for lab in labels)
    assert (cos - cos.T).abs().to_numpy().max() < 1e-6 and (cos.abs() <= 1 + 1e-5).all().all()
    with pytest.raises(ConfigError, match="NL_SEEDS"):
        na.nl_ablation(study, cells, [])


def test_only_pairs_closer_than_1_db_are_repeated_at_further_seeds(monkeypatch):
    bta = {"base": 20.4, "clean": 20.7, "replace": 15.0, "fresh": 21.6, "l1": 26.1, "l1_clean": 26.2, "gauss": 20.9}
    calls = []

    def fake_rows(study, cell, seed, scale):
        calls.append((cell.method, cell.budget, cell.factor, seed))
        return {"cell": cell.label, **dataclasses.asdict(cell), "seed": seed, "BTA": bta[cell.factor],
                "KTA": 19.0, "UA": 20.0, "BTA_ssim": 0.8}, object()

    monkeypatch.setattr(na, "_rows", fake_rows)
    monkeypatch.setattr(na, "target_scale", lambda study: 1.0)
    cells = [c for c in na.ablation_cells("full") if c.method == "nl"]
    table, runs = na.nl_ablation(None, cells, [42, 43, 44], repeat_max_steps=100)
    assert [c[:3] for c in calls if c[3] == 42] == [(c.method, c.budget, c.factor) for c in cells]
    again = {c[:3] for c in calls if c[3] == 43}
    # base / clean (0.3 dB) and l1 / l1_clean (0.1 dB) are closer than 1 dB: repeated, whether or not
    # they sit near a threshold. base / fresh differ by 1.2 dB, base / replace by 5.4, base / l1 by
    # 5.7: one seed. The paper's budget is over repeat_max_steps
    assert again == {("nl", "today", f) for f in ("base", "clean", "l1", "l1_clean")}
    assert again == {c[:3] for c in calls if c[3] == 44} and len(runs) == len(calls)
    assert na.ablation_table(table).loc[("nl", "today", "base"), "seeds"] == 3
    assert na.ablation_table(table).loc[("nl", "today", "fresh"), "seeds"] == 1
    paper = {("nl", "paper", f) for f in ("base", "clean", "l1", "l1_clean")}
    assert na.close_cells(table) == again | paper  # H2's base@paper / base@today pair (equal here) too
    calls.clear()
    na.nl_ablation(None, cells, [42, 43])
    assert {c[:3] for c in calls if c[3] == 43} == again | paper  # no step limit: the paper's budget too


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "3000"])
def test_bad_repeat_step_limit_is_refused(bad):
    with pytest.raises(ConfigError, match="NL_REPEAT_MAX_STEPS"):
        na.check_repeat_steps(bad)
