"""The claims table: every claim judged from the committed tables, by a margin and a tolerance."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from mriunlearn import claims, paper_numbers, paths, reproduction


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return claims.claims_table(paths.REFERENCE_DIR)


def test_at_least_twelve_claims_with_the_columns(table):
    assert len(table) >= 12
    assert list(table.columns[:8]) == ["id", "claim", "source", "paper", "ours", "criterion", "seeds", "verdict"]
    assert table.id.is_unique
    assert set(table.verdict) <= set(claims.VERDICTS)
    assert (table.claim.str.len() > 0).all() and (table.source.str.len() > 0).all()


def test_the_committed_claims_files_are_this_table(table):
    """figures/claims.csv is what the committed tables give (notebook 04 rewrites it)."""
    committed = pd.read_csv(paths.REFERENCE_DIR / "claims.csv")
    assert list(committed.id) == list(table.id) and list(committed.verdict) == list(table.verdict)
    md = (paths.REFERENCE_DIR / "claims.md").read_text(encoding="utf-8")
    assert md.startswith(f"{len(table)} claims of the paper: ")


def test_every_verdict_word_is_reachable():
    assert claims.judge(None, "trained_db") == "inconclusive"
    width = reproduction.tolerance("trained_db").width(0.0)
    assert claims.judge(width + 0.5, "trained_db") == "holds"
    assert claims.judge(-width - 0.5, "trained_db") == "does not hold"
    assert claims.judge(0.5, "trained_db") == "borderline"


@pytest.mark.parametrize("cls", ["trained_db", "unlearned_db", "unstable_db"])
def test_a_margin_within_the_tolerance_is_borderline(cls):
    width = reproduction.tolerance(cls).width(0.0)
    assert claims.judge(0.99 * width, cls) == claims.judge(-0.99 * width, cls) == "borderline"
    assert claims.judge(1.01 * width, cls) == "holds"


def test_claims_use_the_multi_seed_runs_of_their_own_setup(table, tmp_path):
    """Judged as a run of the committed multi-seed runs' setup, the training claims name the
    training-seed run and its seeds, and Table 1's claims the unlearning-seed run; the committed
    table names only the runs of its own setup."""
    import shutil

    main = tmp_path / "main"
    main.mkdir()
    for p in paths.REFERENCE_DIR.glob("*.csv"):
        if p.stem != claims.NULL_SPACE_TABLE:  # measured on the current default's acquisition only
            shutil.copy(p, main / p.name)
    runs = {name: paths.REFERENCE_DIR / name / "figures" for name in (claims.TRAINING_RUN, claims.UNLEARNING_RUN)}
    shutil.copy(runs[claims.TRAINING_RUN] / "01_data_examples.json", main / "01_data_examples.json")
    for name, folder in runs.items():
        shutil.copytree(folder, main / name / "figures")
    rows = claims.claims_table(main).set_index("id")
    for claim in ("shared_knee", "brain_cost", "g_hallucinates"):
        assert f"figures/{claims.TRAINING_RUN}" in rows.seeds[claim] and "42, 43, 44" in rows.seeds[claim]
    assert f"figures/{claims.UNLEARNING_RUN}" in rows.seeds["nl_ft_closest"]
    for run in claims.Evidence.load(paths.REFERENCE_DIR).skipped:
        assert not table.seeds.str.contains(run).any()


def test_paper_numbers_come_from_paper_numbers(table):
    rows = table.set_index("id")
    p = paper_numbers.TABLE1
    assert f"{p['original']['KTA_psnr'] - p['oracle']['KTA_psnr']:+.2f}" in rows.paper["shared_knee"]
    assert f"{paper_numbers.SHARED_KNOWLEDGE_GAP_DB['BTA']:+.2f}" in rows.paper["brain_cost"]
    assert f"{p['ga_l1']['BTA_psnr']:.2f}" in rows.paper["ga_l1_destroys"]
    assert f"{paper_numbers.TABLE3['nl_ft'][0.2][0]:.2f}" in rows.paper["intermediate_fraction_best"]


def test_the_margins_match_the_verdicts(table):
    """Absolute tolerance classes give the same verdict from the saved margin (relative ones need the
    reference value the claim used)."""
    for r in table.itertuples():
        if r.verdict == "inconclusive":
            assert math.isnan(r.margin)
        elif reproduction.tolerance(r.tolerance).rel == 0:
            assert claims.judge(r.margin, r.tolerance, half=r.half) == r.verdict


def test_a_folder_without_tables_is_inconclusive(tmp_path: Path, table):
    t = claims.claims_table(tmp_path)
    assert len(t) == len(claims.CLAIMS) and set(t.verdict) == {"inconclusive"}
    assert t.ours.str.startswith("not measured here").all()
    # a claim keeps its id whether its tables are there or not (a check compares rows by id)
    assert list(t.id) == list(table.id) == [fn.__name__ for fn in claims.CLAIMS]


def test_markdown_escapes_pipes():
    t = pd.DataFrame({"id": ["x"], "claim": ["|UA − Ĝ| < 1"], "margin": [math.nan]})
    md = claims.to_markdown(t)
    lines = md.splitlines()
    assert lines[2] == "| x | \\|UA − Ĝ\\| < 1 |  |"
    assert all(line.replace("\\|", "").count("|") == 4 for line in lines)


def test_only_selects_claims():
    t = claims.claims_table(paths.REFERENCE_DIR, only=["shared_knee", "brain_cost"])
    assert list(t.id) == ["shared_knee", "brain_cost"]


def test_a_rerun_folder_is_judged_with_the_committed_seed_runs(tmp_path):
    """A re-run writes its tables to another folder (tests: a temporary one) that holds no multi-seed
    runs: with the committed profile and split it is judged with the committed runs, so its verdicts
    are the committed ones; with another profile it is judged on its own tables."""
    import json
    import shutil

    from mriunlearn import paths

    for p in list(paths.REFERENCE_DIR.glob("*.csv")) + list(paths.REFERENCE_DIR.glob("*.json")):
        shutil.copy(p, tmp_path / p.name)
    committed = pd.read_csv(paths.REFERENCE_DIR / "claims.csv")
    again = claims.claims_table(tmp_path)
    assert list(again.verdict) == list(committed.verdict)
    record = json.loads((tmp_path / "01_data_examples.json").read_text())
    record["profile"]["epochs"] = 1
    (tmp_path / "01_data_examples.json").write_text(json.dumps(record))
    assert claims.committed_runs_for(tmp_path) == tmp_path


def test_multi_seed_runs_of_another_setup_are_left_out(tmp_path):
    """A multi-seed run whose record names another profile or split than the judged run's is not
    evidence for it: it is left out, with the reason, and one of the same setup is read."""
    import json

    main, runs = tmp_path / "main", tmp_path / "runs"
    main.mkdir()
    record = {"manifest_hash": "abc", "profile": {"epochs": 60, "acceleration": 4, "num_threads": 2}}
    (main / "01_data_examples.json").write_text(json.dumps(record))
    training, unlearning = (runs / name / "figures" for name in (claims.TRAINING_RUN, claims.UNLEARNING_RUN))
    for folder, stem, change in ((training, "01_data_examples", {"num_threads": 1}),  # a machine field only
                                 (unlearning, "03_table1", {"acceleration": 8})):
        folder.mkdir(parents=True)
        pd.DataFrame({"seed": [42, 43]}).to_csv(folder / "01_training_curves.csv", index=False)
        (folder / f"{stem}.json").write_text(json.dumps({**record, "profile": {**record["profile"], **change}}))
    ev = claims.Evidence.load(main, runs)
    assert "01_training_curves" in ev.training and ev.unlearning == {}
    assert list(ev.skipped) == [f"figures/{claims.UNLEARNING_RUN}"]
    assert "acceleration" in ev.skipped[f"figures/{claims.UNLEARNING_RUN}"]
    (unlearning / "03_table1.json").unlink()
    assert claims.Evidence.load(main, runs).skipped[f"figures/{claims.UNLEARNING_RUN}"] == "no study record"


def test_hallucination_claims_without_a_null_space_are_inconclusive(tmp_path):
    """Where the acquisition leaves no image direction unmeasured every score is 0 by construction:
    the hallucination claims say so instead of comparing zeros; with a null space they are judged."""
    scores = pd.DataFrame({"file": ["a", "b", "a", "b"], "role": "test_brain", "seed": 42,
                           "model": ["original", "original", "oracle", "oracle"], "hallucination_score": 0.0})
    scores.to_csv(tmp_path / "02_hallucination_scores.csv", index=False)
    shares = pd.DataFrame({"file": ["a", "b"], "null_space_share": [0.0, 0.0]})
    shares.to_csv(tmp_path / f"{claims.NULL_SPACE_TABLE}.csv", index=False)
    row = claims.claims_table(tmp_path, only=["g_hallucinates"]).iloc[0]
    assert row.verdict == "inconclusive" and "no null space" in row.ours and math.isnan(row.margin)
    shares.assign(null_space_share=[0.3, 0.4]).to_csv(tmp_path / f"{claims.NULL_SPACE_TABLE}.csv", index=False)
    row = claims.claims_table(tmp_path, only=["g_hallucinates"]).iloc[0]
    assert "no null space" not in row.ours and row.ours.startswith("hallucination score")


def test_each_rule_on_numbers():
    assert claims.knee_gain_rule({"KTA": 3.0, "UA": 1.5})[:2] == (1.5, "trained_db")
    assert claims.brain_cost_rule(-0.4)[:2] == (0.4, "trained_db") and claims.brain_cost_rule(None).margin is None
    near = claims.stays_near_rule("ft", 23.0, 0.25, 23.5)
    assert (near.margin, near.tol, near.half) == (0.5, reproduction.model_class("ft"), 0.25)  # 1 − 0.5, ± 0.25
    assert claims.destroys_rule("nl", 20.0, 1.0, 28.0)[::3] == (3.0, 1.0)  # (28 − 5) − 20, ± 1
    assert claims.destroys_rule("nl", None, 0.0, 28.0).margin is None  # not run
    assert claims.closest_rule({"nl_ft": 1.0, "ft": 1.5, "nl": 3.0})[:2] == (0.5, "unlearned_db")
    assert claims.closest_rule({"nl_ft": 1.0, "ft": 1.5}, spread=lambda a, b: 0.25)[::3] == (0.5, 0.25)
    assert claims.closest_rule({"nl_ft": 1.0}).margin is None and claims.closest_rule({"ft": 1.0}).margin is None
    assert claims.forgets_rule(18.0, 0.5, 24.0, 15.0)[::3] == (6.0, 0.5)  # |24 − 15| − |18 − 15|, ± 0.5
    assert claims.verdict(None, "exact") == "inconclusive" and claims.verdict(4.0, "trained_db") == "yes"


def test_an_interval_widens_the_borderline_zone_on_both_sides():
    """"holds" needs the whole interval on the claim's side of its threshold and "does not hold" the
    whole interval on the other, each by more than the tolerance: a wide interval around a mean near
    the threshold cannot decide either way."""
    width = reproduction.TOLERANCES["unlearned_db"].abs
    assert claims.forgets_rule(18.0, 0.0, 24.0, 15.0).verdict() == "yes"  # margin 6, no interval
    assert claims.forgets_rule(18.0, 6.0 - width - 0.01, 24.0, 15.0).verdict() == "yes"
    assert claims.forgets_rule(18.0, 6.0 - width + 0.01, 24.0, 15.0).verdict() == "borderline"
    far = 1.0 + width + 0.5  # this far from G's UA: margin −(width + 0.5)
    stays = claims.stays_near_rule("ft", 23.0, 0.0, 23.0 + far)
    assert stays.verdict() == "no" and stays._replace(half=1.0).verdict() == "borderline"
    assert claims.verdict(-width - 0.5, "unlearned_db", half=0.6) == "borderline"
    assert claims.verdict(-width - 0.7, "unlearned_db", half=0.6) == "no"


def test_each_rule_states_itself_with_its_threshold():
    """The text printed beside a verdict names the rule's threshold, so a changed threshold shows."""
    assert f"NEAR_DB ({claims.NEAR_DB:g} dB)" in claims.stays_near_rule("ft", 23.0, 0.0, 23.5).rule
    assert f"DESTROY_DB ({claims.DESTROY_DB:g} dB)" in claims.destroys_rule("nl", None, 0.0, 28.0).rule
    assert "half-width (0.30 dB)" in claims.closest_rule({"nl_ft": 1.0, "ft": 2.0}, spread=lambda a, b: 0.3).rule
    assert "half-width" not in claims.closest_rule({"nl_ft": 1.0, "ft": 2.0}).rule
    assert "half-width (0.25 dB)" in claims.forgets_rule(18.0, 0.25, 24.0, 15.0).rule
    rules = [claims.knee_gain_rule({"KTA": 1.0, "UA": 1.0}), claims.brain_cost_rule(None),
             claims.forgets_rule(18.0, 0.0, 24.0, 15.0)]
    assert all(r.rule.endswith(("> 0", "< 0", "where there is one)")) for r in rules)


def test_notebook_03_claims_are_judged_by_the_claims_module_rules(monkeypatch):
    """Notebook 03's Table 1 claims take their thresholds from :mod:`mriunlearn.claims`: moving a
    threshold there moves the notebook's margins."""
    from mriunlearn.experiments.unlearning import judge_claims

    means = {"original": (28.0, 20.0, 24.0), "oracle": (28.5, 16.0, 15.0), "ft": (28.0, 20.0, 23.7),
             "nl": (20.0, 15.0, 14.0), "nl_ft": (28.2, 19.0, 18.0)}
    summary = pd.DataFrame([{"model": m, "column": c, "metric": "psnr", "mean": v, "std_over_volumes": 0.5, "n_seeds": 1}
                            for m, vals in means.items() for c, v in zip(("BTA", "KTA", "UA"), vals)])

    def margins() -> dict[str, float]:
        return judge_claims(summary, ["ft", "nl", "nl_ft"]).set_index("claim").margin.to_dict()

    before = margins()
    assert before["FT alone does not forget (UA stays near G's)"] == pytest.approx(0.7)  # 1 − |23.7 − 24|
    assert before["nl alone destroys the model (BTA far below Ĝ)"] == pytest.approx(3.5)  # (28.5 − 5) − 20
    assert before["NL-FT forgets: UA moves from G's toward Ĝ's"] == pytest.approx(6.0)  # 9 − 3
    monkeypatch.setattr(claims, "NEAR_DB", 2.0)
    monkeypatch.setattr(claims, "DESTROY_DB", 7.0)
    after = margins()
    assert after["FT alone does not forget (UA stays near G's)"] == pytest.approx(1.7)
    assert after["nl alone destroys the model (BTA far below Ĝ)"] == pytest.approx(1.5)
