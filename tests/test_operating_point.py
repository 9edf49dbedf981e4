"""Notebook 01's operating point and the statistics of claims that compare two trainings (G against
Ĝ over training seeds), on synthetic per-volume tables and training histories (no model is trained)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mriunlearn.errors import ConfigError
from mriunlearn.experiments import data_overlap as ov
from mriunlearn.experiments import hallucinations as hl
from mriunlearn.experiments import results as res

ROLES = ("test_brain", "test_knee", "forget")


def _per_volume(seeds=(42,), bta=(-0.04,), kta=(3.5,), oracle_bta=(30.0, 0.92), original_kta=(28.0, 0.85),
                zero_filled=20.0, volumes=4) -> pd.DataFrame:
    """Zero-filled, Ĝ and G per volume; G − Ĝ per volume on BTA/KTA is ``bta[k]`` / ``kta[k]`` at
    the k-th seed (the last value repeats), +4 dB on UA."""
    rows = []
    for i in range(volumes):
        for role in ROLES:
            f = f"{role}_{i}.h5"
            o_psnr = {"test_brain": oracle_bta[0], "test_knee": original_kta[0] - kta[0], "forget": 25.0}[role] + 0.1 * i
            rows.append({"file": f, "role": role, "model": "zero_filled", "seed": seeds[0], "psnr": zero_filled,
                         "ssim": 0.5})
            for k, s in enumerate(seeds):
                d = {"test_brain": bta[min(k, len(bta) - 1)], "test_knee": kta[min(k, len(kta) - 1)], "forget": 4.0}[role]
                rows.append({"file": f, "role": role, "model": "oracle", "seed": s, "psnr": o_psnr,
                             "ssim": oracle_bta[1] if role == "test_brain" else 0.7})
                rows.append({"file": f, "role": role, "model": "original", "seed": s, "psnr": o_psnr + d,
                             "ssim": original_kta[1] if role == "test_knee" else 0.8})
    return pd.DataFrame(rows)


def _history(val_psnr, lr=None) -> pd.DataFrame:
    n = len(val_psnr)
    return pd.DataFrame({"epoch": np.arange(1, n + 1), "val_psnr": val_psnr,
                         "lr": lr if lr is not None else [1e-3] * n})


def _histories(slope=0.01, epochs=15, seeds=(42,), lowered_at=None) -> pd.DataFrame:
    frames = []
    for s in seeds:
        for m in ("original", "oracle"):
            e = np.arange(1, epochs + 1)
            lr = np.where(e >= lowered_at, 1e-4, 1e-3) if lowered_at else np.full(epochs, 1e-3)
            frames.append(_history(20 + slope * e, lr).assign(model=m, seed=s))
    return pd.concat(frames, ignore_index=True)


# --- convergence ---------------------------------------------------------------------------------

def test_convergence_fits_the_least_squares_slope_over_the_last_fifth():
    # 15 epochs -> last 3 (20%), 50 -> last 10: a rise before the tail does not count
    c = ov.convergence(_history([10.0] * 12 + [20.0, 20.1, 20.3]), initial_lr=1e-3)
    assert (c["first_epoch"], c["last_epoch"]) == (13, 15)
    assert c["slope"] == pytest.approx(np.polyfit([13, 14, 15], [20.0, 20.1, 20.3], 1)[0]) == pytest.approx(0.15)
    assert not c["converged"] and not c["lr_lowered"]
    assert ov.convergence(_history(np.linspace(0, 1, 50)), 1e-3)["first_epoch"] == 41
    flat = ov.convergence(_history([10.0] * 12 + [20.0, 20.02, 20.06]), 1e-3)
    assert flat["slope"] == pytest.approx(0.03) and flat["converged"]
    falling = ov.convergence(_history([20.0, 19.0, 18.0, 17.0, 16.0]), 1e-3)
    assert falling["slope"] == pytest.approx(-1.0) and falling["converged"]


def test_convergence_uses_at_least_two_epochs_and_needs_a_validation_psnr():
    c = ov.convergence(_history([1.0, 2.0, 4.0]), 1e-3)  # 20% of 3 is under one epoch: two are fitted
    assert (c["first_epoch"], c["last_epoch"]) == (2, 3) and c["slope"] == pytest.approx(2.0)
    one = ov.convergence(_history([30.0]), 1e-3)
    assert math.isnan(one["slope"]) and not one["converged"]
    assert not ov.convergence(_history([1.0, math.nan, math.nan]), 1e-3)["converged"]


def test_a_lowered_learning_rate_counts_as_converged_whatever_the_slope():
    lr = [1e-3] * 10 + [1e-4] * 5
    c = ov.convergence(_history(np.arange(15.0), lr), initial_lr=1e-3)
    assert c["slope"] == pytest.approx(1.0) and c["lr_lowered"] and c["lowered_at"] == 11 and c["converged"]
    assert c["final_lr"] == pytest.approx(1e-4)
    # the rule compares with the profile's lr, not with the first row (recorded after a scheduler step)
    assert ov.convergence(_history(np.arange(15.0), [1e-4] * 15), initial_lr=1e-3)["lowered_at"] == 1
    assert not ov.convergence(_history(np.arange(15.0), [1e-3] * 15), initial_lr=1e-3)["converged"]


# --- the operating-point table -------------------------------------------------------------------

#: G and Ĝ with every reconstruction target met by more than its reproduction tolerance
CLEAR = {"kta": (4.5,), "oracle_bta": (30.0, 0.95)}


#: the rows of the paper's regime after the operating point's
REGIME_MEASURES = ["G's UA − KTA PSNR (dB)", "Ĝ KTA SSIM ÷ G KTA SSIM",
                   "Ĝ BTA PSNR, held-out anatomy − test brains (dB)",
                   "Ĝ gain over zero-filled at 170 mm FOV ÷ at the training FOV"]


#: the width of a trained PSNR these tests judge against: their synthetic margins (e.g. G − Ĝ on KTA at
#: 4.5 dB, 1.5 inside R3's 3-7 dB range) clear it. The width in force is set by the training seeds
#: (docs/reproducibility.md); where it is wider than half of R3's range no single training can clear R3.
_TEST_TRAINED_DB = 1.0


@pytest.fixture(autouse=True)
def _trained_width(monkeypatch):
    import dataclasses

    from mriunlearn import reproduction

    narrow = dataclasses.replace(reproduction.TOLERANCES["trained_db"], abs=_TEST_TRAINED_DB)
    monkeypatch.setitem(reproduction.TOLERANCES, "trained_db", narrow)


def test_operating_point_rows_columns_and_paper_numbers():
    op = ov.operating_point(_per_volume(**CLEAR), _histories(), initial_lr=1e-3)
    assert list(op.columns) == ["id", "ours", "paper", "target", "met", "margin", "tolerance", "verdict", "note"]
    assert list(op.index) == ["Ĝ BTA PSNR (dB)", "Ĝ BTA SSIM", "Ĝ BTA − zero-filled (dB)", "G KTA PSNR (dB)",
                              "G KTA SSIM", "G − Ĝ on KTA (dB)", "G converged (val PSNR slope, dB/epoch)",
                              "Ĝ converged (val PSNR slope, dB/epoch)", *REGIME_MEASURES]
    assert op["id"].tolist() == ["", "R5", "R5", "", "R4", "R3", "R6", "R6", "R1", "R2", "R7", "R8"]
    assert op.paper.tolist()[:6] == pytest.approx([39.36, 0.965, math.nan, 36.65, 0.894, 4.83], nan_ok=True)
    assert op.paper.iloc[6:8].isna().all() and op.paper.iloc[10:].isna().all()
    assert op.paper.iloc[8:10].tolist() == pytest.approx([37.13 - 36.65, 0.834 / 0.894])
    assert op.loc["Ĝ BTA PSNR (dB)", "ours"] == pytest.approx(30.15)
    assert op.loc["Ĝ BTA − zero-filled (dB)", "ours"] == pytest.approx(10.15)
    assert op.loc["G − Ĝ on KTA (dB)", "ours"] == pytest.approx(4.5)
    assert op.loc["G converged (val PSNR slope, dB/epoch)", "ours"] == pytest.approx(0.01)
    assert op.target.tolist()[:8] == ["", ">= 0.90", ">= 8", "", ">= 0.80", "3 to 7", "< 0.05 or lr lowered",
                                      "< 0.05 or lr lowered"]
    operating = op.iloc[:8]
    assert operating.met.isna().tolist() == [True, False, False, True, False, False, False, False]
    assert operating.met.dropna().all() and (operating.verdict[operating.met.notna()] == "yes").all()
    assert operating.margin.iloc[[1, 2, 4, 5]].tolist() == pytest.approx([0.05, 2.15, 0.05, 1.5])
    # G − Ĝ = 4.5 dB: 1.5 above the range's low end, 2.5 below its high end
    assert ov.operating_point_verdict(op).splitlines()[0] == "Operating point reached: all 6 targets met."
    text = ov.format_operating_point(op)
    assert text.loc["Ĝ BTA SSIM"].tolist()[:5] == ["R5", "0.950", "0.965", ">= 0.90", "yes"]
    assert text.loc["Ĝ BTA − zero-filled (dB)", "paper"] == "" and text.loc["G KTA PSNR (dB)", "met"] == ""
    assert text.loc["Ĝ KTA SSIM ÷ G KTA SSIM", "ours"] == f"{0.7 / 0.85:.3f}"


def test_the_regime_rows_are_judged_with_their_own_tolerances_and_named_in_a_second_line():
    # G: forget 29.x vs unseen knee 28.x (+1.0 dB: on R1's threshold); Ĝ/G knee SSIM 0.7/0.85 = 0.82
    op = ov.operating_point(_per_volume(**CLEAR), _histories(), initial_lr=1e-3, shifted=_shifted(26.0, 20.0))
    r = op.set_index("id").loc[["R1", "R2", "R7", "R8"]]
    assert r.tolerance.tolist() == ["trained_db", "ssim_ratio", "", "gain_ratio"]
    assert r.margin.iloc[[0, 1, 3]].tolist() == pytest.approx([0.0, 0.7 / 0.85 - 0.9, 6.0 / 10.15 - 0.75], abs=1e-9)
    assert r.verdict.tolist() == ["borderline", "no", "", "borderline"]
    assert ov.operating_point_verdict(op).splitlines()[1] == (
        "The paper's regime NOT reached: 0 of 3 targets met; missed: R2 Ĝ KTA SSIM ÷ G KTA SSIM; borderline "
        "(margin within the reproduction tolerance): R1 G's UA − KTA PSNR (dB); R8 Ĝ gain over zero-filled at "
        "170 mm FOV ÷ at the training FOV; not measured: R7.")
    real = ov.operating_point(_per_volume(**CLEAR), _histories(), initial_lr=1e-3, held_out_anatomy=True)
    r7 = real.set_index("id").loc["R7"]
    assert r7.met and r7.verdict == "yes" and "real subjects" in r7.note
    assert ov.operating_point_verdict(real).splitlines()[1].endswith("; not measured: R8.")
    assert real.set_index("id").loc["R8", "note"] == "not measured" and pd.isna(real.set_index("id").loc["R8", "met"])


@pytest.mark.parametrize("case, row", [
    ({"oracle_bta": (30.0, 0.85)}, "Ĝ BTA SSIM"),
    ({"zero_filled": 23.5}, "Ĝ BTA − zero-filled (dB)"),
    ({"original_kta": (28.0, 0.75)}, "G KTA SSIM"),
    ({"kta": (1.5,)}, "G − Ĝ on KTA (dB)"),
    ({"kta": (8.5,)}, "G − Ĝ on KTA (dB)"),  # above the range: Ĝ knows nothing of the knee
])
def test_each_reconstruction_target_can_be_missed(case, row):
    op = ov.operating_point(_per_volume(**{**CLEAR, **case}), _histories(), initial_lr=1e-3)
    operating = op[op["id"].isin(ov.OPERATING_IDS)]
    assert operating.met.dropna().drop(row).all() and op.loc[row, "met"] is not pd.NA and not op.loc[row, "met"]
    assert op.loc[row, "verdict"] == "no" and ov.format_operating_point(op).loc[row, "met"] == "no"
    rid = op.loc[row, "id"]
    assert ov.operating_point_verdict(op).splitlines()[0] == f"Operating point NOT reached: 5 of 6 targets met; missed: {rid} {row}."


@pytest.mark.parametrize("case, row, met", [
    ({"oracle_bta": (30.0, 0.89)}, "Ĝ BTA SSIM", False),
    ({"zero_filled": 22.5}, "Ĝ BTA − zero-filled (dB)", False),
    ({"original_kta": (28.0, 0.81)}, "G KTA SSIM", True),
    ({"kta": (2.9,)}, "G − Ĝ on KTA (dB)", False),
    ({"kta": (3.5,)}, "G − Ĝ on KTA (dB)", True),
])
def test_a_margin_within_the_reproduction_tolerance_is_borderline_either_side(case, row, met):
    from mriunlearn import reproduction

    op = ov.operating_point(_per_volume(**{**CLEAR, **case}), _histories(), initial_lr=1e-3)
    assert bool(op.loc[row, "met"]) is met  # the side of the threshold is kept
    width = reproduction.tolerance(op.loc[row, "tolerance"]).width(0.0)
    assert 0 < abs(op.loc[row, "margin"]) <= width and op.loc[row, "verdict"] == "borderline"
    assert ov.format_operating_point(op).loc[row, "met"] == "borderline"
    operating = op[op["id"].isin(ov.OPERATING_IDS)]
    assert (operating.verdict.drop(row)[operating.met.drop(row).notna()] == "yes").all()
    assert ov.operating_point_verdict(op).splitlines()[0] == (
        "Operating point reached only within the reproduction tolerance: 5 of 6 targets met; borderline (margin "
        f"within the reproduction tolerance): {op.loc[row, 'id']} {row}.")


def test_target_tolerances_are_reproduction_classes():
    from mriunlearn import reproduction

    assert set(ov.TARGET_TOLERANCES) == {*ov.TARGETS, "converged", "memorised_db", "transfer_ratio", "geometry_ratio"}
    assert all(reproduction.tolerance(c) for c in ov.TARGET_TOLERANCES.values())


def test_convergence_rows_follow_slope_and_lr_per_seed():
    steep = ov.operating_point(_per_volume(), _histories(slope=0.2), initial_lr=1e-3)
    assert not steep.loc["G converged (val PSNR slope, dB/epoch)", "met"]
    assert not steep.loc["Ĝ converged (val PSNR slope, dB/epoch)", "met"]
    assert steep.loc["Ĝ converged (val PSNR slope, dB/epoch)", "ours"] == pytest.approx(0.2)
    lowered = ov.operating_point(_per_volume(), _histories(slope=0.2, lowered_at=12), initial_lr=1e-3)
    assert lowered.loc["G converged (val PSNR slope, dB/epoch)", "met"]
    assert "lr lowered after epoch 12" in lowered.loc["G converged (val PSNR slope, dB/epoch)", "note"]
    # several seeds: the largest slope is shown and every seed must have converged
    h = pd.concat([_histories(slope=0.01, seeds=(1, 2)), _histories(slope=0.08, seeds=(3,))], ignore_index=True)
    op = ov.operating_point(_per_volume(seeds=(1, 2, 3)), h, initial_lr=1e-3)
    row = op.loc["Ĝ converged (val PSNR slope, dB/epoch)"]
    assert row.ours == pytest.approx(0.08) and not row.met and "largest of 3 training seeds" in row.note
    with pytest.raises(ConfigError, match="no training history of 'oracle'"):
        ov.operating_point(_per_volume(), _histories().query("model == 'original'"), initial_lr=1e-3)


def test_operating_point_over_seeds_averages_the_per_seed_values():
    op = ov.operating_point(_per_volume(seeds=(1, 2, 3), kta=(3.0, 3.5, 4.0)), _histories(seeds=(1, 2, 3)), 1e-3)
    assert op.loc["G − Ĝ on KTA (dB)", "ours"] == pytest.approx(3.5)
    assert "over 3 training seeds, 95% interval" in op.loc["G − Ĝ on KTA (dB)", "note"]
    assert op.loc["Ĝ BTA SSIM", "note"] == "mean over 3 training seeds"


def test_history_curves_name_the_seed_only_when_there_are_several():
    assert list(ov.history_curves(_histories())) == ["G (brain+knee)", "Ĝ oracle (brain)"]
    curves = ov.history_curves(_histories(seeds=(42, 43)))
    assert list(curves) == ["G (brain+knee) seed 42", "Ĝ oracle (brain) seed 42", "G (brain+knee) seed 43",
                            "Ĝ oracle (brain) seed 43"]
    assert list(curves["G (brain+knee) seed 43"].columns) == ["epoch", "val_psnr", "lr"]


# --- differences over training seeds -------------------------------------------------------------

def test_seed_paired_difference_averages_per_seed_paired_means():
    pv = _per_volume(seeds=(1, 2, 3), bta=(-0.1, -0.2, -0.3))
    d = res.seed_paired_difference(pv, "original", "oracle", "BTA")
    assert d["n"] == 3 and d["mean"] == pytest.approx(-0.2)
    assert d["per_seed"] == pytest.approx({1: -0.1, 2: -0.2, 3: -0.3})
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t_{0.975, 2} · sd / sqrt(n)
    assert (d["low"], d["high"]) == pytest.approx((-0.2 - half, -0.2 + half))
    one = res.seed_paired_difference(_per_volume(), "original", "oracle", "BTA")
    assert one["n"] == 1 and one["mean"] == pytest.approx(-0.04) and math.isnan(one["low"])
    with pytest.raises(ConfigError, match="'seed' column"):
        res.seed_paired_difference(_per_volume().drop(columns="seed"), "original", "oracle")


@pytest.mark.parametrize("d, floor, outcome", [
    ({"n": 1, "mean": -0.04, "low": math.nan, "high": math.nan}, 0.3, "inconclusive"),
    ({"n": 1, "mean": -0.5, "low": math.nan, "high": math.nan}, 0.3, "negative"),
    ({"n": 1, "mean": 2.0, "low": math.nan, "high": math.nan}, None, "inconclusive"),
    ({"n": 2, "mean": 2.0, "low": 1.0, "high": 3.0}, 0.3, "inconclusive"),
    ({"n": 3, "mean": 0.1, "low": 0.01, "high": 0.2}, 0.3, "positive"),
    ({"n": 3, "mean": -0.1, "low": -0.2, "high": -0.01}, 0.3, "negative"),
    ({"n": 3, "mean": 0.1, "low": -0.1, "high": 0.3}, 0.3, "none"),
])
def test_judge_difference(d, floor, outcome):
    assert res.judge_difference(d, floor) == outcome


def test_shared_knowledge_gaps_over_seeds_and_the_verdict():
    table, gaps = ov.shared_knowledge(_per_volume())
    assert set(table.model) == {"zero_filled", "oracle", "original"}
    assert list(gaps.columns) == ["column", "G − Ĝ (ours, dB)", "G − Ĝ (paper, dB)"]
    assert gaps["G − Ĝ (ours, dB)"].tolist() == pytest.approx([-0.04, 3.5, 4.0])
    one = ov.shared_knowledge_verdict(_per_volume())
    assert "Brain (BTA): G is -0.04 dB vs Ĝ (paper -0.29 dB) -> inconclusive at one seed" in one
    assert "paired 95% interval over 4 volumes" in one and "TRAIN_SEEDS with >= 3 seeds decides" in one
    assert "joint training transfers knee knowledge" in one
    above = ov.shared_knowledge_verdict(_per_volume(bta=(-0.5,)))
    assert "inconclusive" not in above and "pooling costs brain quality" in above
    pv3 = _per_volume(seeds=(1, 2, 3), bta=(-0.05, 0.05, 0.0))
    _, gaps3 = ov.shared_knowledge(pv3)
    assert list(gaps3.columns) == ["column", "G − Ĝ (ours, dB)", "low", "high", "seeds", "G − Ĝ (paper, dB)"]
    assert gaps3.seeds.tolist() == [3, 3, 3] and gaps3.low[0] < 0 < gaps3.high[0]
    three = ov.shared_knowledge_verdict(pv3)
    assert "over 3 training seeds: no measurable brain-quality difference" in three
    assert "mean over 3 training seeds" in three and "inconclusive" not in three
    costs = ov.shared_knowledge_verdict(_per_volume(seeds=(1, 2, 3), bta=(-0.1, -0.12, -0.14)))
    assert "pooling costs brain quality" in costs
    two = ov.shared_knowledge_verdict(_per_volume(seeds=(1, 2), bta=(-0.1, -0.3)))
    assert "inconclusive at 2 seeds" in two and "fewer than the 3 seeds" in two


def _scores(seeds=(42,), diffs=(0.0,), volumes=5) -> pd.DataFrame:
    rows = []
    for i in range(volumes):
        rows += [{"file": f"b{i}", "role": "test_brain", "model": "zero_filled", "seed": seeds[0], "hallucination_score": 0.07},
                 {"file": f"b{i}", "role": "test_brain", "model": "nl_ft", "seed": 7, "hallucination_score": 0.0195}]
        for k, s in enumerate(seeds):
            base = 0.019 + 0.001 * i
            rows += [{"file": f"b{i}", "role": "test_brain", "model": "oracle", "seed": s, "hallucination_score": base},
                     {"file": f"b{i}", "role": "test_brain", "model": "original", "seed": s,
                      "hallucination_score": base + diffs[k]}]
    return pd.DataFrame(rows)


def test_hallucination_verdict_is_inconclusive_at_one_training_seed():
    one = hl.hallucination_verdict(_scores(diffs=(0.002,)), "nl_ft")
    assert "inconclusive at one seed" in one and "+0.200 at one training seed" in one
    assert "At the first training seed G exceeds the oracle by 0.200" in one
    more = hl.hallucination_verdict(_scores(), "nl_ft", _scores(seeds=(1, 2, 3), diffs=(0.001, 0.0012, 0.0011)))
    assert "Joint training adds null-space error on brain" in more and "over 3 training seeds" in more
    none = hl.hallucination_verdict(_scores(), "nl_ft", _scores(seeds=(1, 2, 3), diffs=(0.001, -0.001, 0.0)))
    assert "G does not hallucinate more than the oracle" in none


def test_hallucination_verdict_says_when_unlearning_adds_to_the_excess():
    """An unlearned model above G is said to add null-space error, not "-260% of the excess"."""
    scores = _scores(diffs=(0.002,))
    worse = scores.assign(hallucination_score=scores.hallucination_score.where(scores.model != "nl_ft", 0.05))
    text = hl.hallucination_verdict(worse, "nl_ft")
    assert "nl_ft adds to it" in text and "% of the excess" not in text
    removed = scores.assign(hallucination_score=scores.hallucination_score.where(scores.model != "nl_ft", 0.0))
    assert "nl_ft removes most of it" in hl.hallucination_verdict(removed, "nl_ft")


def test_hallucination_verdict_without_a_null_space_compares_no_zeros():
    """Acquisitions that leave no image direction unmeasured make every score 0 by construction: the
    verdict says the measure cannot decide; one acquisition with a null space lets it judge."""
    scores = _scores(diffs=(0.002,))
    closed = hl.hallucination_verdict(scores, "nl_ft", null_shares=[0.0, 0.0])
    assert "cannot say whether joint training hallucinates" in closed and "inconclusive" not in closed
    assert "inconclusive at one seed" in hl.hallucination_verdict(scores, "nl_ft", null_shares=[0.0, 0.2])


# --- the regime indicators (the paper's world) ------------------------------------------------------

def _shifted(oracle: float, zero_filled: float, volumes: int = 3) -> pd.DataFrame:
    rows = [{"file": f"b{i}.h5", "role": "test_brain", "model": m, "seed": 42, "psnr": v + 0.1 * i}
            for i in range(volumes) for m, v in (("oracle", oracle), ("zero_filled", zero_filled))]
    return pd.DataFrame(rows)


def test_regime_indicators_measure_memorisation_transfer_gap_and_geometry():
    # G: forget 29.x vs unseen knee 28.5+0.x (+0.5 dB), SSIM 0.85; Ĝ knee SSIM 0.7; Ĝ gain at the
    # training FOV 30.15 − 20 dB; at the shifted FOV 26.1 − 20.1 = 6 dB
    r = ov.regime_indicators(_per_volume(original_kta=(28.5, 0.85)), _shifted(oracle=26.0, zero_filled=20.0))
    assert list(r.index) == ["R1", "R2", "R3", "R4", "R8"]
    assert r.loc["R1", "ours"] == pytest.approx(0.5) and r.loc["R1", "paper"] == pytest.approx(37.13 - 36.65)
    assert r.loc["R2", "ours"] == pytest.approx(0.7 / 0.85) and r.loc["R2", "paper"] == pytest.approx(0.834 / 0.894)
    assert r.loc["R3", "ours"] == pytest.approx(3.5) and r.loc["R4", "ours"] == pytest.approx(0.85)
    assert r.loc["R8", "ours"] == pytest.approx(6.0 / 10.15)  # Ĝ BTA 30 + 0.1·i over 4 volumes
    assert r.met.tolist() == [True, False, True, True, False]
    assert r.loc["R8", "note"] == "gain +6.00 dB at 170 mm, +10.15 dB at the training FOV"


@pytest.mark.parametrize("case, row, met", [
    ({"kta": (7.5,)}, "R3", False),  # joint training adds more than the paper's range
    ({"kta": (2.0,)}, "R3", False),
    ({"original_kta": (28.0, 0.78)}, "R4", False),
])
def test_regime_indicators_fail_outside_their_targets(case, row, met):
    assert bool(ov.regime_indicators(_per_volume(**case)).loc[row, "met"]) is met


def test_regime_indicators_without_a_shifted_test_set_leave_geometry_unmeasured():
    r = ov.regime_indicators(_per_volume())
    assert pd.isna(r.loc["R8", "met"]) and math.isnan(r.loc["R8", "ours"]) and r.loc["R8", "note"] == "not measured"
    with pytest.raises(ConfigError, match="no 'oracle' rows of role 'test_brain'"):
        ov.regime_indicators(_per_volume(), _shifted(26.0, 20.0).query("model != 'oracle'"))


def test_regime_memorisation_fails_when_the_forget_slices_beat_unseen_knees_by_more_than_a_db():
    # forget 29.x against unseen knee 27.5+0.x: +1.5 dB
    r = ov.regime_indicators(_per_volume(original_kta=(27.5, 0.85)))
    assert r.loc["R1", "ours"] == pytest.approx(1.5) and not r.loc["R1", "met"]


def test_a_convergence_slope_near_its_threshold_is_borderline_and_a_lowered_lr_is_met():
    row = "G converged (val PSNR slope, dB/epoch)"
    near = ov.operating_point(_per_volume(**CLEAR), _histories(slope=0.03), initial_lr=1e-3)
    assert near.loc[row, "met"] and near.loc[row, "verdict"] == "borderline"
    assert near.loc[row, "margin"] == pytest.approx(ov.CONVERGED_SLOPE_DB - 0.03)
    steep = ov.operating_point(_per_volume(**CLEAR), _histories(slope=0.2), initial_lr=1e-3)
    assert steep.loc[row, "verdict"] == "no"
    lowered = ov.operating_point(_per_volume(**CLEAR), _histories(slope=0.2, lowered_at=12), initial_lr=1e-3)
    assert lowered.loc[row, "verdict"] == "yes" and lowered.loc[row, "margin"] == math.inf


def test_geometry_shift_refuses_real_scans_by_name(tmp_path):
    from types import SimpleNamespace

    manifest = tmp_path / "paper.csv"
    study = SimpleNamespace(profile=SimpleNamespace(manifest_path=lambda: manifest))
    assert ov.embedded_spec_name(study) is None
    with pytest.raises(ConfigError, match="paper.csv is not an embedded dataset"):
        ov.geometry_shift([study])
