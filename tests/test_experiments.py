"""The experiments layer the notebooks call, on the smoke profile (fresh run cache per session)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mriunlearn.experiments import data_overlap as overlap
from mriunlearn.experiments import hallucinations as hal
from mriunlearn.experiments import noise_sweep as ns
from mriunlearn.experiments import results as res
from mriunlearn.experiments import retain_fraction as frac
from mriunlearn.experiments import study as st
from mriunlearn.experiments import unlearning as unl
from mriunlearn import reproduction
from mriunlearn.errors import ConfigError
from mriunlearn.simulate import DatasetSpec


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    bound = st.load_study("smoke", runs_dir=tmp_path_factory.mktemp("runs"))
    bound.progress = False
    return bound


@pytest.mark.parametrize("bad", [[], "nl_ft", ["nl_ft", "nope"], '["nope"]', "[not json"])
def test_check_choices_names_parameter_and_valid_values(bad):
    with pytest.raises(ConfigError, match="METHODS"):
        st.check_choices("METHODS", bad, ["ft", "nl_ft"])


def test_check_choices_accepts_json_list_text():
    assert st.check_choices("METHODS", '["ft"]', ["ft", "nl_ft"]) == ["ft"]


@pytest.mark.parametrize("bad", [[], [1, 1], [-1], [True], ["a"], "42"])
def test_check_seeds_rejects(bad):
    with pytest.raises(ConfigError, match="SEEDS"):
        st.check_seeds(bad)


@pytest.mark.parametrize("bad", [[0.0], [1.5], [math.nan], [True], []])
def test_check_fractions_rejects(bad):
    with pytest.raises(ConfigError, match="FRACTIONS"):
        st.check_fractions(bad)


@pytest.mark.parametrize("bad", [[-1e-5], [math.inf], [True], ["1e-5"], []])
def test_check_noise_scales_rejects(bad):
    with pytest.raises(ConfigError, match="NOISE_SCALES"):
        st.check_noise_scales(bad)


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(ConfigError, match="valid profiles: smoke, default, paper"):
        st.load_study("big")


def test_shared_knowledge_has_the_three_models_and_paper_gaps(study):
    pv = overlap.training_per_volume([study])
    table, gaps = overlap.shared_knowledge(pv)
    assert set(table.model) == {"zero_filled", "oracle", "original"}
    assert list(gaps.column) == ["BTA", "KTA", "UA"]
    assert gaps["G − Ĝ (paper, dB)"].round(2).tolist() == [-0.29, 4.83, 5.39]
    means = table[table.metric == "psnr"].pivot(index="model", columns="column", values="mean")
    assert gaps["G − Ĝ (ours, dB)"].tolist() == pytest.approx((means.loc["original"] - means.loc["oracle"])[["BTA", "KTA", "UA"]].tolist())
    text = overlap.shared_knowledge_verdict(pv)
    assert "Knee (KTA)" in text and "Brain (BTA)" in text and "paired 95% interval" in text


def test_data_examples_give_each_organ_its_images_and_mask(study):
    examples = overlap.data_examples(study)
    assert list(examples) == ["brain", "knee"]
    for e in examples.values():
        assert set(e) == {"target", "zero_filled", "sens", "mask", "name"}
        assert e["target"].shape == e["zero_filled"].shape and e["mask"].dtype == bool


def test_check_seeds_names_the_parameter():
    with pytest.raises(ConfigError, match="TRAIN_SEEDS"):
        st.check_seeds([1, 1], "TRAIN_SEEDS")
    assert st.check_seeds("[42, 43]", "TRAIN_SEEDS") == [42, 43]


def test_a_study_at_another_training_seed_trains_its_own_g_and_oracle(study):
    assert study.at_seed(study.profile.seed) is study
    other = study.at_seed(43)
    assert other.profile == study.profile.replace(seed=43) and other.manifest is study.manifest
    assert other.cache is study.cache and study.profile.seed == 42
    assert other.original.entry.key != study.original.entry.key
    assert other.oracle.entry.key != study.oracle.entry.key
    pv = overlap.training_per_volume([study, other])
    assert sorted(pv[pv.model == "zero_filled"].seed.unique()) == [42]
    assert sorted(pv[pv.model == "original"].seed.unique()) == [42, 43]
    table, gaps = overlap.shared_knowledge(pv)
    assert gaps.seeds.tolist() == [2, 2, 2] and (gaps.low <= gaps.high).all()
    shifted = overlap.geometry_shift([study, other])  # the smoke test brains re-imaged at 170 mm, Ĝ of each seed
    assert sorted(shifted[shifted.model == "oracle"].seed.unique()) == [42, 43] and set(shifted.role) == {"test_brain"}
    assert len(shifted) == 3 * DatasetSpec.smoke().count("test_brain")  # zero-filled, Ĝ at 42, Ĝ at 43
    op = overlap.operating_point(pv, overlap.training_histories([study, other]), study.profile.lr, shifted)
    judged = op.set_index("id").met.notna()
    assert judged[list(overlap.OPERATING_IDS)].sum() == 6 and judged[["R1", "R2"]].all() and not judged["R7"]
    assert "at 170 mm" in op.set_index("id").loc["R8", "note"]
    assert "mean over 2 training seeds" in op.loc["G KTA SSIM", "note"]
    assert "inconclusive at 2 seeds" in overlap.shared_knowledge_verdict(pv)
    rec = st.training_record([study, other])
    assert set(rec["training_seeds"]) == {"42", "43"} and "training_seeds" not in st.training_record([study])


def test_held_out_anatomy_pairs_the_same_subjects_per_seed(study, tmp_path, monkeypatch):
    from real_anatomy_like import write_colin_phantom

    monkeypatch.setenv("MRIUNLEARN_COLIN27", str(write_colin_phantom(tmp_path / "ch2bet.nii.gz")))
    monkeypatch.setenv("MRIUNLEARN_DATA", str(tmp_path / "data"))
    other = study.at_seed(43)
    shifted = overlap.anatomy_shift([study, other])  # the smoke test brains on the real anatomy, Ĝ of each seed
    n = DatasetSpec.smoke().count("test_brain")
    assert len(shifted) == 3 * n and set(shifted.role) == {"test_brain"}
    usual = pd.concat([overlap.training_per_volume([study, other])], ignore_index=True)
    gaps = overlap.anatomy_gap(usual, shifted).set_index("seed")
    assert list(gaps.index) == [42, 43] and (gaps.n == n).all()
    for seed in (42, 43):
        pick = lambda t, m: t[(t.model == m) & (t.role == "test_brain") & ((t.seed == seed) | (m == "zero_filled"))].set_index("file").psnr
        assert gaps.oracle_db[seed] == pytest.approx((pick(shifted, "oracle") - pick(usual, "oracle")).mean())
    assert gaps.zero_filled_db.nunique() == 1 and np.isfinite(gaps.to_numpy(dtype=float)).all()
    with pytest.raises(ConfigError, match="differ"):
        overlap.anatomy_gap(usual, shifted.assign(file="another"))


def _two_models(diffs, base=30.0):
    """Per-volume BTA rows of G ('original') and Ĝ ('oracle') with the given G − Ĝ per volume."""
    rows = []
    for i, d in enumerate(diffs):
        rows += [{"file": f"v{i}.h5", "role": "test_brain", "model": "oracle", "psnr": base + i},
                 {"file": f"v{i}.h5", "role": "test_brain", "model": "original", "psnr": base + i + d}]
    return pd.DataFrame(rows)


def test_paired_difference_interval_decides_the_brain_claim():
    d = res.paired_difference(_two_models([-0.3, -0.2, -0.25, -0.35]), "original", "oracle")
    assert d["mean"] == pytest.approx(-0.275) and d["n"] == 4 and d["high"] < 0
    assert "costs brain quality" in overlap._brain_cost(d)
    mixed = res.paired_difference(_two_models([-0.5, 0.4, -0.3, 0.3]), "original", "oracle")
    assert mixed["low"] < 0 < mixed["high"]
    assert "no measurable" in overlap._brain_cost(mixed)
    with pytest.raises(ConfigError, match="valid: BTA, KTA, UA"):
        res.paired_difference(_two_models([0.1]), "original", "oracle", column="XTA")


def _claims_summary(per_volume: pd.DataFrame) -> pd.DataFrame:
    """A one-seed summary table (mean per model and column) of :func:`_two_models` rows."""
    means = per_volume.groupby("model").psnr.mean()
    means["ft"] = means["original"]  # one unlearning method, so the verdict has a closest one
    return pd.DataFrame([{"model": m, "column": c, "metric": "psnr", "mean": v, "std_over_volumes": math.nan,
                          "n_seeds": 1} for m, v in means.items() for c in ("BTA", "KTA", "UA")])


#: the reproduction tolerance of a trained PSNR, which the brain-cost claim's interval must clear
_TRAINED_DB = reproduction.TOLERANCES["trained_db"].abs


@pytest.mark.parametrize("diffs, expected", [
    ([-0.1, -0.2, -0.15, -0.05], "inconclusive"),  # one training seed, |mean| < 0.3 dB: noise
    ([-0.6, -0.5, -0.7, -0.55], "borderline"),  # above the floor, interval below 0 but within tolerance of 0
    ([-_TRAINED_DB - d for d in (0.6, 0.5, 0.7, 0.55)], "yes"),  # the whole paired interval beyond the tolerance below 0
    ([_TRAINED_DB + d for d in (0.6, 0.5, 0.7, 0.55)], "no"),
])
def test_brain_cost_claim_is_inconclusive_within_the_single_seed_floor(diffs, expected):
    """Notebook 03's claim table judges G − Ĝ on brain as notebook 01 does (one noise floor), and a
    paired interval whose end lies within the reproduction tolerance of 0 is borderline."""
    pv = _two_models(diffs).assign(seed=42)
    claims = unl.judge_claims(_claims_summary(pv), [], per_volume=pv)
    brain = claims[claims.claim.str.startswith("Joint training costs")].iloc[0]
    assert brain.reproduced == expected
    assert ("inconclusive:" in brain.evidence) == (expected == "inconclusive")
    text = unl.unlearning_verdict(_claims_summary(pv), claims)
    assert ("(1 inconclusive" in text) == (expected == "inconclusive")
    assert ("- [?] Joint training" in text) == (expected == "inconclusive")


def test_table1_pipeline_marks_closest_and_judges_claims(study):
    results = unl.run_methods(study, ["ft", "nl_ft"], [42])
    per_volume = res.final_per_volume(study, results)
    summary = res.summary_table(per_volume, ["original", "oracle", "ft", "nl_ft"])
    wide = unl.wide_table(summary)
    assert list(wide.index) == ["original", "oracle", "ft", "nl_ft"]
    # exactly one unlearning method is marked closest to the oracle in each column
    for col in wide.columns:
        assert sum(cell.endswith("*") for cell in wide[col]) == 1
    claims = unl.judge_claims(summary, ["ft", "nl_ft"])
    assert set(claims.reproduced) <= {"yes", "no", "inconclusive", "borderline"} and len(claims) >= 4
    paired = unl.judge_claims(summary, ["ft", "nl_ft"], per_volume=per_volume)
    brain = paired[paired.claim.str.startswith("Joint training costs")].iloc[0]
    assert "paired 95% interval" in brain.evidence
    dyn = unl.dynamics(study, results)
    assert set(dyn.epoch) == {0, 1}  # G, then the smoke profile's single unlearning epoch
    assert list(dyn.columns) == ["model", "seed", "epoch", "column", "psnr", "ssim"] and len(dyn) == 2 * 2 * 3
    assert dyn.ssim.between(0, 1).all() and dyn.psnr.notna().all()
    g_ssim = summary[(summary.model == "original") & (summary.metric == "ssim")].set_index("column")["mean"]
    epoch0 = dyn[dyn.epoch == 0]
    assert epoch0.ssim.to_numpy() == pytest.approx(g_ssim[epoch0.column].to_numpy())
    wide = unl.dynamics_table(dyn)
    assert list(wide.columns) == ["BTA PSNR", "BTA SSIM", "KTA PSNR", "KTA SSIM", "UA PSNR", "UA SSIM"]
    assert unl.dynamics_table(dyn.drop(columns="ssim")).columns.tolist() == ["BTA PSNR", "KTA PSNR", "UA PSNR"]
    targets = unl.oracle_targets(summary, wide.columns)
    assert targets["UA SSIM"] == pytest.approx(float(summary.query("model == 'oracle' and column == 'UA' and metric == 'ssim'")["mean"].iloc[0]))
    radar = unl.radar_values(summary, unl.costs(study, results))
    assert ((radar[["UA", "KTA", "BTA"]] >= 0) & (radar[["UA", "KTA", "BTA"]] <= 1)).all().all()
    rec = st.run_records(study, results)
    assert rec["runs"]["nl_ft@seed42"]["retain_files"]  # the sampled subset is recorded


def test_seed_intervals_with_two_seeds(study):
    results = unl.run_methods(study, ["ft"], [42, 43])
    summary = res.summary_table(res.final_per_volume(study, results), ["original", "oracle", "ft"])
    ft = summary[summary.model == "ft"]
    assert ft.ci95_over_seeds.notna().all() and (ft.n_seeds == 2).all()
    assert summary[summary.model != "ft"].ci95_over_seeds.isna().all()  # G, Ĝ: one seed, their own column


def test_fraction_sweep_records_volumes_and_cost(study):
    sweep, runs = frac.fraction_sweep(study, ["ft"], [0.25, 1.0], [42])
    assert sweep.retain_volumes.tolist() == [1, 4]
    ssim = sweep[["BTA_ssim", "KTA_ssim", "UA_ssim"]]
    assert ssim.notna().all().all() and ((ssim >= 0) & (ssim <= 1)).all().all()
    table = frac.fraction_table(sweep)
    assert table.columns.tolist() == ["ft BTA PSNR", "ft BTA SSIM", "ft KTA PSNR", "ft KTA SSIM",
                                      "ft UA PSNR", "ft UA SSIM", "ft volumes"]
    # notebook 04's styled table: Ĝ's value per PSNR and SSIM column, SSIM to 3 decimals, volumes to 0
    oracle = frac.summary_table(study.per_volume("oracle").assign(seed=study.profile.seed), ["oracle"])
    targets = frac.oracle_targets(oracle, table.columns)
    assert set(targets) == set(table.columns) - {"ft volumes"} and 0 <= targets["ft KTA SSIM"] <= 1
    digits = frac.header_digits(table.columns)
    assert (digits["ft BTA PSNR"], digits["ft BTA SSIM"], digits["ft volumes"]) == (2, 3, 0)
    assert sweep.slice_steps.iloc[1] > sweep.slice_steps.iloc[0]
    assert frac.best_fraction(sweep, "ft", oracle_bta=0.0) in (0.25, 1.0)


def test_fraction_sweep_runs_each_variant_of_the_methods_that_have_one(study):
    with pytest.raises(ConfigError, match="VARIANTS"):
        frac.fraction_sweep(study, ["ft"], [1.0], [42], variants=["authors"])
    sweep, runs = frac.fraction_sweep(study, ["ft", "nl_ft"], [0.25, 1.0], [42], variants=["paper", "code"])
    assert list(dict.fromkeys(sweep.method)) == ["ft", "nl_ft", "nl_ft:code"]  # FT has no variant: run once
    assert runs[("nl_ft:code", 0.25, 42)].config["params"]["variant"] == "code"
    assert runs[("nl_ft", 0.25, 42)].config["params"]["variant"] == "paper"
    paper_only, _ = frac.fraction_sweep(study, ["ft", "nl_ft"], [0.25, 1.0], [42])
    pd.testing.assert_frame_equal(paper_only, sweep[sweep.method != "nl_ft:code"].reset_index(drop=True))
    table = frac.fraction_table(sweep)
    assert "nl_ft:code BTA PSNR" in table.columns and "nl_ft:code UA SSIM" in table.columns and "ft volumes" in table.columns
    cmp = frac.compare_fractions_with_paper(sweep)
    assert cmp.loc[("nl_ft:code", 1.0), "BTA paper"] == cmp.loc[("nl_ft", 1.0), "BTA paper"] == 37.46
    oracle = pd.DataFrame([{"column": "BTA", "metric": "psnr", "mean": 20.0}])
    assert "nl_ft:code: BTA closest to the oracle" in frac.fraction_verdict(sweep, oracle)


def test_noise_sweep_table_gaps_and_figure(study):
    import matplotlib

    matplotlib.use("Agg")
    from mriunlearn import plots

    with pytest.raises(ConfigError, match="NOISE_METHODS"):
        ns.noise_sweep(study, ["ft"], [1e-5], [42])
    peak = ns.target_scale(study)
    assert 0 < peak < 1
    with pytest.raises(ConfigError, match="NOISE_VARIANTS"):
        ns.noise_sweep(study, ["nl_ft"], [1e-5], [42], variants=["authors"])
    sweep, runs = ns.noise_sweep(study, ["nl_ft"], [0.0, 2 * peak], [42], variants=["paper", "code"])
    assert sorted(runs) == [("nl_ft", 0.0, 42), ("nl_ft", 2 * peak, 42),
                            ("nl_ft:code", 0.0, 42), ("nl_ft:code", 2 * peak, 42)]
    assert sweep.noise_rel.tolist() == pytest.approx([0.0, 2.0, 0.0, 2.0])
    assert sweep.variant.tolist() == ["paper", "paper", "code", "code"]
    assert runs[("nl_ft", 2 * peak, 42)].config["params"]["noise_std"] == 2 * peak
    assert runs[("nl_ft:code", 2 * peak, 42)].config["params"]["variant"] == "code"
    assert plots.label("nl_ft:code") == "NL-FT (code)" and plots.label("nl_ft") == "NL-FT"
    refs = ns.reference_gaps(study)
    assert refs.loc["oracle", "gap"] == 0.0 and refs.loc["original", "gap"] > 0
    for _, row in sweep.iterrows():  # gap = mean |PSNR - oracle| over the three columns
        want = sum(abs(row[c] - refs.loc["oracle", c]) for c in ("BTA", "KTA", "UA")) / 3
        assert row.gap == pytest.approx(want)
    verdict = ns.noise_verdict(sweep, refs)
    assert "nl_ft: closest to the oracle at" in verdict and "nl_ft:code: closest" in verdict
    assert "G's mean |gap|" in verdict
    fig = plots.noise_figure(ns.noise_table(sweep), refs)
    assert len(fig.axes) == 4 and [a.get_xticklabels()[0].get_text() for a in fig.axes] == ["0"] * 4


def test_the_committed_sweep_stands_in_only_for_a_run_from_the_same_place(study, tmp_path, monkeypatch):
    import json

    from mriunlearn import plots

    none, why, theirs = ns.committed_sweep(study, root=tmp_path)
    assert none is None and "no committed run" in why and "NOISE_METHODS" in why and theirs == {}
    sweep, source, record = ns.sweep_run(study, ["nl_ft"], [0.0], [42])
    assert source == "this run" and record["unlearn_epochs"] == study.profile.unlearn_epochs
    assert record["retain_fraction"] == study.profile.retain_fraction and list(record["runs"]) == ["nl_ft@0@seed42"]
    folder = tmp_path / st.NOISE_SWEEP_RUN / "figures"
    folder.mkdir(parents=True)
    plots.save_table(sweep, "03_noise_sweep", folder, meta=record)
    read, source, theirs = ns.committed_sweep(study, root=tmp_path)
    pd.testing.assert_frame_equal(read, sweep)
    assert "committed run" in source and theirs["runs"] == record["runs"]
    # a sweep at another unlearning budget ran other models, though from the same G and Ĝ
    (folder / "03_noise_sweep.json").write_text(json.dumps({**record, "unlearn_epochs": record["unlearn_epochs"] + 1}))
    none, why, _ = ns.committed_sweep(study, root=tmp_path)
    assert none is None and "unlearn_epochs differ" in why and "NOISE_METHODS" in why
    # no methods: the committed run is read and nothing unlearns
    monkeypatch.setattr(ns, "committed_sweep", lambda s: (None, "read", {}))
    monkeypatch.setattr(ns, "noise_sweep", lambda *a, **k: pytest.fail("an empty NOISE_METHODS runs nothing"))
    assert ns.sweep_run(study, [], [0.0], [42]) == (None, "read", {})


def _sweep(bta_by_seed: dict[int, list[float]], fractions=(0.01, 0.2, 1.0)) -> pd.DataFrame:
    return pd.DataFrame([{"method": "nl_ft", "fraction": f, "seed": s, "BTA": b, "KTA": 10.0}
                         for s, row in bta_by_seed.items() for f, b in zip(fractions, row)])


def test_fraction_verdict_claims_an_interior_optimum_only_above_noise():
    oracle = pd.DataFrame([{"column": "BTA", "metric": "psnr", "mean": 25.0}])
    small = frac.fraction_verdict(_sweep({42: [24.80, 25.02, 24.90]}), oracle)
    assert "inconclusive" in small and "0.12 dB" in small and "an intermediate fraction is best" not in small
    large = frac.fraction_verdict(_sweep({42: [24.0, 25.0, 24.2]}), oracle)
    assert "an intermediate fraction is best" in large and "0.80 dB" in large
    seeds = frac.fraction_verdict(_sweep({42: [24.0, 24.5, 24.1], 43: [24.1, 24.6, 24.2], 44: [24.0, 24.45, 24.1]}), oracle)
    assert "an intermediate fraction is best" in seeds and "over 3 seeds" in seeds
    mixed = frac.fraction_verdict(_sweep({42: [24.0, 24.5, 24.1], 43: [24.6, 24.2, 24.1], 44: [24.0, 24.3, 24.4]}), oracle)
    assert "inconclusive" in mixed
    edge = frac.fraction_verdict(_sweep({42: [24.0, 24.5, 25.0]}), oracle)
    assert "no intermediate optimum" in edge


def test_hallucination_scores_over_training_seeds(study):
    scores = res.hallucination_scores(study, zero_filled=False)
    assert set(scores.model) == {"original", "oracle"}
    train = hal.training_scores([study, study.at_seed(43)])
    assert sorted(train.seed.unique()) == [42, 43] and set(train.model) == {"original", "oracle"}
    full = res.hallucination_scores(study)
    as_unlearned = full[full.model == "oracle"].assign(model="ft")  # stands in for an unlearned model
    text = hal.hallucination_verdict(pd.concat([full, as_unlearned], ignore_index=True), "ft", train)
    assert "inconclusive at 2 seeds" in text


def test_hallucination_projector_comes_from_the_profile_and_reuses_the_models(study, monkeypatch):
    import dataclasses

    cg = dataclasses.replace(study, profile=study.profile.replace(hallucination_projector="cg"))
    eig = res.hallucination_scores(study, zero_filled=False)  # smoke: the exact projector
    scores = res.hallucination_scores(cg, zero_filled=False)
    # the same G and Ĝ (not part of the cache key), each table cached under its projector's name
    assert cg.original.entry.key == study.original.entry.key and cg.oracle.entry.key == study.oracle.entry.key
    assert cg.original.entry.file("hallucination_test_brain_cg.csv").exists()
    assert cg.original.entry.file("hallucination_test_brain_eig.csv").exists()
    pd.testing.assert_frame_equal(scores, res.hallucination_scores(study, zero_filled=False, method="cg"))
    assert not scores.hallucination_score.equals(eig.hallucination_score)
    pd.testing.assert_series_equal(scores.hallucination_score, eig.hallucination_score, rtol=0.2)
    assert hal.training_scores([cg]).equals(scores)

    seen = []
    real = hal.hallucination_map
    monkeypatch.setattr(hal, "hallucination_map", lambda *a, **k: seen.append(k["method"]) or real(*a, **k))
    hal.hallucination_examples(cg, study.oracle.model, n=1)
    hal.hallucination_examples(study, study.oracle.model, n=1)
    assert seen == ["cg"] * 3 + ["eig"] * 3  # G, Ĝ and G^U of the chosen slice, with each profile's projector


def test_forgetting_gives_nan_mia_with_a_warning_when_a_class_has_one_subject(study, monkeypatch):
    import numpy as np

    from mriunlearn.manifest import Manifest

    real = Manifest.files
    monkeypatch.setattr(Manifest, "files", lambda self, role: real(self, role)[:1] if role == "test_knee" else real(self, role))
    monkeypatch.setattr(res, "role_statistics", lambda *a, **k: pytest.fail("no membership test on one subject"))
    monkeypatch.setattr(type(study), "at_seed", lambda self, seed: self if seed == self.profile.seed else
                        pytest.fail("no reference oracle is trained for a test that cannot run"))
    with pytest.warns(UserWarning, match=r"membership inference skipped .*>= 2 volumes per class.* 1 test_knee"):
        table = unl.forgetting(study, {}, mia_reference_seeds=[7])
    assert unl.membership_record(study, [7]) == {"mia_reference_seeds": [7], "mia_reference_keys": []}
    assert list(table.model) == ["original", "oracle"] and np.isnan(table.mia_auc).all()
    assert (table.mia_verdict == "-").all()


def test_forgetting_calibrates_membership_by_reference_oracles(study):
    import numpy as np

    from mriunlearn import membership as mem

    table = unl.forgetting(study, {}, mia_reference_seeds=[7]).set_index("model")
    assert list(table.columns[1:5]) == list(unl.MIA_COLUMNS)
    assert ((table.mia_low <= table.mia_auc) & (table.mia_auc <= table.mia_high)).all()
    ref = study.at_seed(7).oracle
    assert ref.entry.file("membership_statistic.csv").exists()  # the reference's statistic, cached once
    assert study.oracle.entry.file("membership_refs7.csv").exists()
    ref_stats, groups = mem.role_statistics(ref.model, study.manifest, study.profile)
    for name, run in (("original", study.original), ("oracle", study.oracle)):
        stats, _ = mem.role_statistics(run.model, study.manifest, study.profile)
        scores = {r: ref_stats[r] - stats[r] for r in stats}  # reference error minus the model's
        assert table.mia_auc[name] == pytest.approx(mem.auc(scores["forget"], scores["test_knee"]), abs=1e-12)
        floor = unl.noise_floor(unl.membership_null(study, [7]))
        assert table.mia_verdict[name] == mem.membership_verdict(table.mia_low[name], table.mia_high[name],
                                                                 table.mia_auc[name], floor)
    assert unl.membership_record(study, [7]) == {"mia_reference_seeds": [7], "mia_reference_keys": [ref.entry.key]}
    null = unl.membership_null(study, [7])  # Ĝ at 42 against Ĝ at 7 and back: the noise floor
    assert list(null.seed) == [42, 7] and null.mia_auc.between(0, 1).all()
    assert unl.membership_null(study, []).empty
    uncal = unl.forgetting(study, {}).set_index("model")
    stats, _ = mem.role_statistics(study.oracle.model, study.manifest, study.profile)
    assert uncal.mia_auc["oracle"] == pytest.approx(mem.auc(-stats["forget"], -stats["test_knee"]), abs=1e-12)


@pytest.mark.parametrize("bad, match", [([42], "own training seed 42"), ([7, 7], "distinct"), (["7"], "distinct")])
def test_reference_seeds_are_checked(study, bad, match):
    with pytest.raises(ConfigError, match=match):
        unl.check_reference_seeds(study, bad)


@pytest.mark.parametrize("bad", [1, 0, 2.5, True, "11"])
def test_check_landscape_grid_names_the_parameter(bad):
    with pytest.raises(ConfigError, match=r"LANDSCAPE_GRID=.* valid: an integer >= 2"):
        unl.check_landscape_grid(bad)
    assert unl.check_landscape_grid(3) == 3


def _seeded_per_volume() -> pd.DataFrame:
    """Per-volume rows (2 volumes per paper column) of G and Ĝ at seed 42 and of 'ft' at seeds 42-44,
    each PSNR = base + seed offset + volume offset, SSIM = PSNR / 100."""
    rows = []
    for model, seeds, base in (("original", [42], 28.0), ("oracle", [42], 27.0), ("ft", [42, 43, 44], 26.0)):
        for s in seeds:
            for role in ("test_brain", "test_knee", "forget"):
                for v in range(2):
                    psnr = base + (s - 42) + v
                    rows.append({"model": model, "seed": s, "role": role, "file": f"{role}{v}.h5", "psnr": psnr, "ssim": psnr / 100})
    return pd.DataFrame(rows)


def test_table1_keeps_one_spread_convention_per_column():
    """Each ± column of Table 1 holds one convention (its header names it); the printed table uses
    one for every row and names it; a one-seed table has no interval column at all."""
    summary = res.summary_table(_seeded_per_volume(), ["original", "oracle", "ft"])
    assert list(summary.columns) == ["model", "column", "metric", "mean", "std_over_volumes", "ci95_over_seeds", "n_seeds"]
    ft, refs = summary[summary.model == "ft"], summary[summary.model != "ft"]
    assert ft.std_over_volumes.isna().all() and ft.ci95_over_seeds.notna().all() and (ft.n_seeds == 3).all()
    assert refs.ci95_over_seeds.isna().all() and refs.std_over_volumes.notna().all()
    assert ft[(ft.column == "BTA") & (ft.metric == "psnr")]["mean"].item() == pytest.approx(27.5)
    wide = unl.wide_table(summary)
    assert wide.columns.name.startswith("± 95% interval over 3 seeds") and "±" not in wide.loc["original", "BTA psnr"]
    assert "±" in wide.loc["ft", "BTA psnr"]
    one_seed = res.summary_table(_seeded_per_volume().query("seed == 42"), ["original", "oracle", "ft"])
    assert "ci95_over_seeds" not in one_seed.columns and unl.wide_table(one_seed).columns.name == "± std over volumes"


def test_radar_psnr_is_raw_psnr_with_seed_bands_and_relative_run_time():
    summary = res.summary_table(_seeded_per_volume(), ["original", "oracle", "ft"])
    costs = pd.DataFrame({"model": ["oracle", "ft", "ft", "ft"], "seed": [42, 42, 43, 44],
                          "wall_time_s": [100.0, 2.0, 4.0, 4.0]})
    radar = unl.radar_psnr(summary, costs).set_index(["model", "axis"])
    assert list(radar.loc["ft"].index) == list(unl.RADAR_AXES)
    bta = radar.loc[("ft", "BTA")]
    assert bta.value == pytest.approx(27.5) and bta.low < bta.value < bta.high and bta.n_seeds == 3
    assert radar.loc[("oracle", "BTA")].low == radar.loc[("oracle", "BTA")].high == pytest.approx(27.5)
    fastest = (2.0 + 4.0 + 4.0) / 3  # ft's mean wall time
    assert radar.loc[("ft", "RTE")].value == pytest.approx((fastest / 2 + 2 * fastest / 4) / 3)
    assert radar.loc[("oracle", "RTE")].value == pytest.approx(fastest / 100)
    assert math.isnan(radar.loc[("original", "RTE")].value)  # G has no unlearning cost


def test_sampling_shift_evaluates_every_model_under_every_condition(study):
    import numpy as np

    from mriunlearn.experiments import sampling_shift as ss
    from mriunlearn.experiments.results import column_means
    from mriunlearn.metrics import EVAL_ROLES, evaluate

    results = unl.run_methods(study, ["ft"], [42])
    table = ss.shift_table(study, results, [4, 12], ["equispaced", "random"])
    acc = study.profile.acceleration
    assert list(dict.fromkeys(table.condition)) == [f"{a}x equispaced" for a in sorted({4, 12, acc})] + [f"{acc}x random"]
    assert set(table.model) == {"original", "oracle", "ft"}
    assert (table[table.model == "oracle"].gap == 0).all()
    trained = table[table.trained]
    assert list(trained.condition.unique()) == [f"{acc}x equispaced"]
    ft = results[("ft", 42)]
    assert trained.set_index("model").loc["ft", "KTA"] == pytest.approx(column_means(ft.final)["KTA"])
    # a shifted condition is the model evaluated with the shifted masks, cached in its entry
    random = evaluate(ft.model, study.manifest, list(EVAL_ROLES), study.profile.replace(mask_type="random"))
    shifted = table[(table.model == "ft") & (table.condition == f"{acc}x random")]
    assert shifted.KTA.item() == pytest.approx(column_means(random)["KTA"])
    assert ft.entry.file(f"shift_random_{acc}x.csv").exists() and ft.entry.file("shift_equispaced_12x.csv").exists()
    assert not np.isclose(column_means(random)["KTA"], column_means(ft.final)["KTA"])  # the random masks were used
    agree = ss.ranking_agreement(table).set_index("condition")
    assert agree.loc[f"{acc}x equispaced", "nearest"] == "ft"


@pytest.mark.parametrize("accs, masks, match", [([], ["random"], "SHIFT_ACCELERATIONS"), ([1], ["random"], "SHIFT_ACCELERATIONS"),
                                               ([4], ["spiral"], "SHIFT_MASKS"), ([4.0], ["random"], "SHIFT_ACCELERATIONS")])
def test_shift_conditions_are_checked(accs, masks, match):
    from mriunlearn.experiments import sampling_shift as ss

    with pytest.raises(ConfigError, match=match):
        ss.check_conditions(accs, masks)


def test_mask_type_is_checked_and_stays_out_of_the_key_unless_set():
    from mriunlearn.profiles import get_profile

    p = get_profile("smoke")
    assert "mask_type" not in p.train_identity()
    assert p.replace(mask_type="random").train_identity()["mask_type"] == "random"
    with pytest.raises(ConfigError, match="unknown mask_type 'spiral'; valid: equispaced, random"):
        get_profile("smoke", mask_type="spiral")
