"""The relearning attack and the forgetting audit (notebook 03), on the smoke profile and on tables
built by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from mriunlearn import forgetting, plots  # noqa: E402
from mriunlearn.errors import ConfigError  # noqa: E402
from mriunlearn.experiments import forgetting_audit as audit  # noqa: E402
from mriunlearn.experiments import relearning as rl  # noqa: E402
from mriunlearn.experiments import study as st  # noqa: E402


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    bound = st.load_study("smoke", runs_dir=tmp_path_factory.mktemp("runs"))
    bound.progress = False
    return bound


def _curves(points: dict[str, list[float]], column: str = "UA", condition: str = "forget") -> pd.DataFrame:
    """Curves at steps 0, 1, 2, 4 from ``{model: [psnr per step]}``."""
    rows = [{"model": m, "condition": condition, "step": s, "slice_steps": 4 * s, "column": column, "psnr": v}
            for m, values in points.items() for s, v in zip((0, 1, 2, 4), values)]
    return pd.DataFrame(rows)


def test_recovery_is_the_first_checkpoint_at_half_of_gs_gap_over_the_oracle():
    curves = _curves({"original": [30, 26, 28, 29], "oracle": [20, 21, 24, 25.5], "fast": [19, 25.2, 26, 27],
                      "never": [18, 18, 19, 20]})
    r = rl.recovery_steps(curves).set_index("model")
    assert (r.threshold == 25.0).all()  # Ĝ₀ + (G₀ − Ĝ₀)/2 = 20 + 5
    assert r.steps.to_dict() == pytest.approx({"original": 0.0, "oracle": 4.0, "fast": 1.0, "never": math.nan}, nan_ok=True)
    assert r.relearn.to_dict() == {"original": "0", "oracle": "4", "fast": "1", "never": ">4"}
    assert r.start.to_dict() == {"original": 30, "oracle": 20, "fast": 19, "never": 18}
    assert r.end_over_oracle.to_dict() == {"original": 3.5, "oracle": 0.0, "fast": 1.5, "never": -5.5}  # at step 4


def test_recovery_says_no_gap_when_g_does_not_lie_above_the_oracle():
    r = rl.recovery_steps(_curves({"original": [20, 21, 22, 23], "oracle": [21, 21, 21, 21]})).set_index("model")
    assert (r.relearn == "no gap").all() and r.steps.isna().all()
    with pytest.raises(ConfigError, match="G and Ĝ.*oracle"):
        rl.recovery_steps(_curves({"original": [1, 2, 3, 4]}))


def test_checkpoints_must_start_at_zero_and_increase():
    assert rl.check_checkpoints([0, 1, 4]) == [0, 1, 4]
    for bad in ([], [1, 2], [0, 2, 2], [0, True], [0, 1.5]):
        with pytest.raises(ConfigError, match="RELEARN_CHECKPOINTS"):
            rl.check_checkpoints(bad)


def test_attacked_models_by_name_all_with_references_and_unknown_names(study, monkeypatch):
    results = {("ft", 42): "ft42", ("ft", 43): "ft43", ("nl", 42): "nl42"}
    monkeypatch.setattr(type(study), "at_seed", lambda self, seed: type("S", (), {"oracle": f"oracle{seed}"})())
    assert rl.attacked_models(study, results, [], [7]) == {}
    some = rl.attacked_models(study, results, '["ft", "oracle"]', [7])  # JSON text as papermill passes it
    assert list(some) == ["oracle", "ft"] and some["ft"] == "ft42"  # the first seed's run
    every = rl.attacked_models(study, results, ["all"], [7, 8])
    assert list(every) == ["original", "oracle", "ft", "nl", "oracle@7", "oracle@8"]
    assert every["oracle@8"] == "oracle8"
    with pytest.raises(ConfigError, match=r"RELEARN_MODELS: unknown model\(s\) \['nope'\]; valid: all, original"):
        rl.attacked_models(study, results, ["nope"], [])


def test_relearning_run_computes_caches_and_records_the_curves(study, monkeypatch):
    models = rl.attacked_models(study, {}, ["original", "oracle"], [])
    curves, source, record = rl.relearning_run(study, {}, ["original", "oracle"], [], [0, 1, 2], seed=3)
    assert source == "this run"
    assert len(curves) == 2 * len(rl.CONDITIONS) * 3 * 2  # models x conditions x steps x (UA, KTA)
    held = rl.relearn_volumes(study, 3)
    assert record["forget_volumes"] == [p.name for p in held] and len(held) == rl.FORGET_VOLUMES
    assert record["models"] == {n: r.entry.key for n, r in models.items()} and record["checkpoints"] == [0, 1, 2]
    # UA at step 0 is G's forget PSNR without the volume it will be fine-tuned on
    from mriunlearn.metrics import evaluate
    ua = evaluate(study.original.model, study.manifest, "forget", study.profile)
    ua = ua[~ua.file.map(lambda f: Path(f).name).isin([p.name for p in held])].psnr.mean()
    start = curves[(curves.model == "original") & (curves.step == 0) & (curves.column == "UA")].psnr
    assert set(start.round(9)) == {round(float(ua), 9)}
    assert study.original.entry.file("relearn_forget_seed3_steps0-1-2.csv").exists()
    monkeypatch.setattr(rl, "relearn_curve", lambda *a, **k: pytest.fail("cached curves are read, not recomputed"))
    again, _, _ = rl.relearning_run(study, {}, ["original", "oracle"], [], [0, 1, 2], seed=3)
    pd.testing.assert_frame_equal(curves, again)


def test_the_committed_run_is_read_only_when_it_started_from_the_same_place(study, tmp_path):
    record = rl.relearning_record(study, {}, [0, 1, 2], 3)
    none, why, theirs = rl.committed_curves(record, root=tmp_path)
    assert none is None and "no committed run" in why and theirs == {}
    folder = tmp_path / st.FORGETTING_AUDIT_RUN / "figures"
    folder.mkdir(parents=True)
    table = _curves({"original": [30, 29, 29, 30], "oracle": [20, 21, 22, 23]})
    plots.save_table(table, "03_relearning", folder, meta={**record, "models": {"original": "k"}})
    curves, source, theirs = rl.committed_curves(record, root=tmp_path)
    pd.testing.assert_frame_equal(curves, table)
    assert "committed run" in source and theirs["models"] == {"original": "k"}
    (folder / "03_relearning.json").write_text(json.dumps({**record, "oracle_key": "another"}))
    none, why, _ = rl.committed_curves(record, root=tmp_path)
    assert none is None and "oracle_key differ" in why


def test_a_split_with_one_forget_volume_cannot_run_the_attack_and_trains_nothing(study, monkeypatch):
    from mriunlearn.manifest import Manifest

    real = Manifest.files
    monkeypatch.setattr(Manifest, "files", lambda self, role: real(self, role)[:1] if role == "forget" else real(self, role))
    monkeypatch.setattr(type(study), "at_seed", lambda self, seed: pytest.fail("no reference oracle is trained"))
    curves, why, record = rl.relearning_run(study, {}, ["all"], [7], [0, 1], seed=3)
    assert curves is None and record == {} and "D_f holds 1 volume" in why
    with pytest.raises(ConfigError, match="cannot run"):
        rl.relearn_volumes(study, 3)


def _audit_inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    forget = pd.DataFrame({"model": ["original", "oracle", "m"], "mean |gap|": [4.0, 0.0, 1.0],
                           "mia_auc": [0.95, 0.55, 0.75]})
    shift = pd.DataFrame({"model": ["original", "oracle", "m"] * 2, "condition": ["a"] * 3 + ["b"] * 3,
                          "trained": [True] * 3 + [False] * 3, "gap": [4.0, 0.0, 1.0, 2.0, 0.0, 3.0]})
    recovery = pd.DataFrame({"model": ["original", "oracle", "m"] * 2, "condition": ["forget"] * 3 + ["retain"] * 3,
                             "column": "UA", "relearn": ["0", ">8", "2", "0", ">8", ">8"],
                             "end_over_oracle": [4.0, 0.0, 1.0, 6.0, 0.0, 3.0]})
    distances = pd.DataFrame({"model": ["original", "oracle", "m"], "to_oracle_rel": [1.0, 0.0, 0.9], "to_G_rel": [0.0, 1.0, 0.2]})
    return forget, shift, recovery, distances


def test_the_audit_table_puts_every_column_in_its_row_and_closeness_reads_them_on_one_scale():
    lira = pd.DataFrame({"model": ["original", "oracle", "m"], "pass_fraction": [0.0, 0.9, 0.45]})
    t = audit.audit_table(*_audit_inputs(), lira)
    assert list(t.columns) == ["model", *audit.AUDIT_COLUMNS]
    m = t.set_index("model").loc["m"]
    assert m["gap under shift (dB)"] == 3.0 and m["membership AUC"] == 0.75
    assert m["relearn UA, forget (steps)"] == "2" and m["UA over Ĝ after relearning, retain (dB)"] == 3.0
    c = audit.closeness(t)
    assert (c.loc["oracle"] == 0).all() and (c.loc["original"] == 1).all()
    assert c.loc["m", "gap (dB)"] == 0.25 and c.loc["m", "gap under shift (dB)"] == 1.5
    assert c.loc["m", "membership AUC"] == pytest.approx(0.5)
    assert c.loc["m", "relearn UA, forget (steps)"] == pytest.approx(7 / 9)  # ">8" read as 9
    assert c.loc["m", "UA over Ĝ after relearning, forget (dB)"] == 0.25
    assert c.loc["m", "UA over Ĝ after relearning, retain (dB)"] == 0.5
    assert c.loc["m", "distance to G (× Ĝ's)"] == pytest.approx(0.8)
    assert c.loc["m", "ensemble pass fraction"] == pytest.approx(0.5)
    forget, shift, _, distances = _audit_inputs()
    without = audit.audit_table(forget, shift, None, distances)
    assert without["ensemble pass fraction"].isna().all()
    assert (without["relearn UA, forget (steps)"] == "-").all() and without["UA over Ĝ after relearning, retain (dB)"].isna().all()
    assert audit.closeness(without)["relearn UA, forget (steps)"].isna().all()
    fig = plots.audit_figure(t, c)
    assert len(fig.axes) == 2  # the cells and the colour bar
    plots.plt.close(fig)


def test_parameter_distances_to_g_and_the_oracle(study):
    models = rl.attacked_models(study, {}, ["all"], [])
    d = audit.parameter_distances(models).set_index("model")
    scale = forgetting.parameter_distance(study.original.model, study.oracle.model)
    assert d.to_G["original"] == 0 and d.to_oracle["oracle"] == 0 and d.to_oracle["original"] == pytest.approx(scale)
    assert d.to_oracle_rel.to_dict() == pytest.approx({"original": 1.0, "oracle": 0.0})
    assert d.to_G_rel.to_dict() == pytest.approx({"original": 0.0, "oracle": 1.0})


def test_relearning_figure_has_a_panel_per_condition_and_column():
    curves = pd.concat([_curves({"original": [30, 29, 29, 30], "oracle": [20, 21, 22, 23], "oracle@7": [20, 20, 22, 24],
                                 "ft": [25, 26, 27, 28]}, column=c, condition=k)
                        for c in ("UA", "KTA") for k in rl.CONDITIONS], ignore_index=True)
    fig = plots.relearning_figure(curves, rl.recovery_steps(curves))
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes][:2] == ["UA, fine-tuned on one forget volume", "KTA, fine-tuned on one forget volume"]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels.count("Ĝ, other seeds") == 1 and "half of G's gap over Ĝ" in labels
    assert np.isclose(fig.axes[0].lines[-1].get_ydata()[0], 25.0)  # the threshold line
    plots.plt.close(fig)


def test_the_ensemble_audit_scores_every_model_per_forget_slice(study, tmp_path, monkeypatch):
    from mriunlearn.experiments import results as res

    for bad in ([7], [7, 7], [study.profile.seed, 7], [7, True]):
        with pytest.raises(ConfigError, match="LIRA_SEEDS"):
            audit.check_ensemble_seeds(study, bad)
    ensemble, source, record = audit.ensemble_run(study, [7, 8])
    assert source == "this run" and record["lira_seeds"] == [7, 8]
    n = study.manifest.num_slices("forget")
    assert len(ensemble) == 2 * 2 * n and set(ensemble.model) == {"original", "oracle"}
    assert set(ensemble.cache_key) == {getattr(study.at_seed(s), m).entry.key for s in (7, 8) for m in ("original", "oracle")}
    models = rl.attacked_models(study, {}, ["all"], [])
    lira = audit.lira_audit(study, models, ensemble).set_index("model")
    assert list(lira.index) == ["original", "oracle"] and (lira.k == 2).all()
    assert ((lira.low <= lira.pass_fraction) & (lira.pass_fraction <= lira.high)).all()
    assert lira.pass_fraction.between(0, 1).all() and (lira.pass_fraction * n % 1 == 0).all()
    # by hand for G: its forget statistic against the seeds' G (inside) and Ĝ (outside)
    from mriunlearn import membership as mem
    stats, _ = res.model_statistics(study, study.original)
    sides = [np.stack([res.model_statistics(study, getattr(study.at_seed(s), m))[0]["forget"] for s in (7, 8)])
             for m in ("original", "oracle")]
    assert lira.pass_fraction["original"] == float((mem.likelihood_ratios(stats["forget"], *sides) <= 0).mean())
    # the committed run's statistics are read when they started from the same split, G and Ĝ
    folder = tmp_path / st.FORGETTING_AUDIT_RUN / "figures"
    folder.mkdir(parents=True)
    plots.save_table(ensemble, audit.ENSEMBLE_TABLE, folder, meta=record)
    monkeypatch.setattr(st.paths, "REFERENCE_DIR", tmp_path)
    read, source, theirs = audit.ensemble_run(study, [])
    assert "committed run" in source and theirs["lira_seeds"] == [7, 8]
    pd.testing.assert_frame_equal(audit.lira_audit(study, models, read), audit.lira_audit(study, models, ensemble))
    # more seeds: those the committed run holds are read from it, only the others are trained
    trained: list[int] = []
    real = audit.ensemble_statistics
    monkeypatch.setattr(audit, "ensemble_statistics", lambda s, seeds: trained.extend(seeds) or real(s, seeds))
    grown, source, grown_record = audit.ensemble_run(study, [8, 9])
    assert trained == [9] and grown_record["lira_seeds"] == [8, 9] and grown_record["lira_seeds_committed"] == [8]
    assert "[8] read from the committed run" in source and list(dict.fromkeys(grown.seed)) == [8, 9]
    pd.testing.assert_frame_equal(grown[grown.seed == 8].reset_index(drop=True), read[read.seed == 8].reset_index(drop=True))
    assert set(grown[grown.seed == 9].cache_key) == {getattr(study.at_seed(9), m).entry.key for m in ("original", "oracle")}
    monkeypatch.setenv("MRIUNLEARN_BASE_MODELS", "off")  # the cold path trains every seed
    trained.clear()
    assert audit.ensemble_run(study, [8, 9])[2]["lira_seeds_committed"] == [] and trained == [8, 9]
    other = ensemble.assign(subject="another")
    with pytest.raises(ConfigError, match="other forget slices"):
        audit.lira_audit(study, models, other)
