"""Calibrated membership inference: AUC, the subject-clustered interval, calibration by reference
models, the verdict rule; and, on the shipped default models, that the oracle shows no membership
signal while G does."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mriunlearn import membership as mem
from mriunlearn.errors import ConfigError


def test_doctests():
    assert doctest.testmod(mem, raise_on_error=False).failed == 0


def test_auc_is_sklearns_roc_auc_with_ties():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 30).astype(float), rng.integers(0, 5, 40).astype(float)
    expected = roc_auc_score(np.r_[np.ones(30), np.zeros(40)], np.r_[a, b])
    assert mem.auc(a, b) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ConfigError, match="needs members and non-members"):
        mem.auc(np.array([]), b)


def _subjects(rng: np.random.Generator, n_subjects: int, per: int, effect_sd: float, shift: float = 0.0):
    """Per-slice statistics of ``n_subjects`` subjects with a random subject effect, and their labels."""
    effects = rng.normal(0.0, effect_sd, n_subjects)
    stat = np.repeat(effects, per) + rng.normal(0.0, 0.3, n_subjects * per) + shift
    return stat, [f"s{i}" for i in range(n_subjects) for _ in range(per)], effects


def test_clustered_interval_covers_chance_under_no_membership():
    """5 member and 8 non-member subjects of 4 slices with a subject effect larger than the slice
    noise, nothing else differing: the 95% interval holds 0.5 in about 95% of draws (>= 85% of 120),
    where a per-slice interval would be far too narrow."""
    rng = np.random.default_rng(1)
    covered = 0
    for rep in range(120):
        a, ga, _ = _subjects(rng, 5, 4, 1.0)
        b, gb, _ = _subjects(rng, 8, 4, 1.0)
        low, high = mem.clustered_auc_interval(a, ga, b, gb, samples=400, seed=rep)
        assert low <= mem.auc(a, b) <= high
        covered += low <= 0.5 <= high
    assert covered >= 0.85 * 120


def test_clustered_interval_rejects_what_it_cannot_resample():
    with pytest.raises(ConfigError, match=r"members: a clustered interval needs >= 2 subjects, got 1"):
        mem.clustered_auc_interval(np.ones(4), ["a"] * 4, np.ones(4), ["b", "b", "c", "c"])
    with pytest.raises(ConfigError, match="non-members: 4 scores but 3 group labels"):
        mem.clustered_auc_interval(np.ones(4), list("aabb"), np.ones(4), list("abc"))


def test_clustered_mean_interval_resamples_subjects_and_covers_the_true_mean():
    rng = np.random.default_rng(2)
    covered = 0
    for rep in range(100):
        values, groups, _ = _subjects(rng, 6, 4, 1.0)
        low, high = mem.clustered_mean_interval(values, groups, samples=400, seed=rep)
        assert low <= values.mean() <= high
        covered += low <= 0.0 <= high
    assert covered >= 80  # nominal 95%; a percentile bootstrap of 6 subjects runs a little narrow
    with pytest.raises(ConfigError, match="values: a clustered interval needs >= 2 subjects"):
        mem.clustered_mean_interval(np.ones(3), ["a"] * 3)


def test_likelihood_ratio_sides_with_the_nearer_ensemble_under_one_pooled_variance():
    rng = np.random.default_rng(3)
    inside = rng.normal(0.0, 0.1, (3, 50))
    outside = rng.normal(1.0, 0.1, (4, 50))
    assert (mem.likelihood_ratios(inside.mean(0), inside, outside) > 0).all()
    assert (mem.likelihood_ratios(outside.mean(0), inside, outside) < 0).all()
    midway = (inside.mean(0) + outside.mean(0)) / 2
    np.testing.assert_allclose(mem.likelihood_ratios(midway, inside, outside), 0.0, atol=1e-9)
    # one variance for all slices: scaling every statistic scales the ratios by nothing
    np.testing.assert_allclose(mem.likelihood_ratios(3 * midway + 0.3, 3 * inside, 3 * outside),
                               mem.likelihood_ratios(midway + 0.1, inside, outside), rtol=1e-9)
    with pytest.raises(ConfigError, match=">= 2 models per side"):
        mem.likelihood_ratios(midway, inside[:1], outside)
    with pytest.raises(ConfigError, match="ensemble statistics"):
        mem.likelihood_ratios(midway[:10], inside, outside)


def test_references_remove_subject_difficulty():
    """Forget subjects that happen to be harder than the unseen ones fool the plain loss attack;
    references that never saw either set carry the same difficulty, and calibrating by them gives
    chance for a model without membership and detection for one that fits its members better."""
    rng = np.random.default_rng(2)
    a, ga, ea = _subjects(rng, 5, 4, 0.05, shift=1.0)  # members: harder (+1 in log error)
    b, gb, eb = _subjects(rng, 8, 4, 0.05)
    groups = {"forget": ga, "test_knee": gb}
    refs = [{"forget": a + rng.normal(0, 0.3, a.size), "test_knee": b + rng.normal(0, 0.3, b.size)} for _ in range(2)]
    oracle = {"forget": a + rng.normal(0, 0.3, a.size), "test_knee": b + rng.normal(0, 0.3, b.size)}
    plain = mem.membership_attack(oracle, [], groups)
    calibrated = mem.membership_attack(oracle, refs, groups)
    assert plain.high < 0.5 and mem.membership_verdict(plain.low, plain.high) == "worse than unseen"
    assert mem.membership_verdict(calibrated.low, calibrated.high) == "not detected"
    assert (calibrated.members, calibrated.nonmembers, calibrated.member_subjects, calibrated.references) == (20, 32, 5, 2)
    remembers = {"forget": oracle["forget"] - 1.0, "test_knee": oracle["test_knee"]}  # 10x lower error on D_f
    detected = mem.membership_attack(remembers, refs, groups)
    assert detected.low > 0.5 and mem.membership_verdict(detected.low, detected.high) == "recognised"


def test_attack_scores_need_matching_shapes():
    assert np.array_equal(mem.attack_scores(np.array([1.0, 2.0])), [-1.0, -2.0])
    assert np.array_equal(mem.attack_scores(np.array([1.0, 2.0]), [np.array([2.0, 2.0]), np.array([4.0, 4.0])]),
                          [2.0, 1.0])
    with pytest.raises(ConfigError, match="reference statistics of shape"):
        mem.attack_scores(np.ones(3), [np.ones(4)])


@pytest.mark.parametrize("low, high, verdict", [(0.51, 0.9, "recognised"), (0.2, 0.49, "worse than unseen"),
                                                (0.3, 0.7, "not detected"), (0.5, 0.8, "not detected")])
def test_verdict_reads_the_interval(low, high, verdict):
    assert mem.membership_verdict(low, high) == verdict


@pytest.mark.parametrize("auc, verdict", [(0.75, "recognised"), (0.65, "not detected"), (0.7, "not detected")])
def test_verdict_also_needs_the_auc_beyond_the_oracles_noise_floor(auc, verdict):
    assert mem.membership_verdict(0.55, 0.9, auc, (0.3, 0.7)) == verdict
    assert mem.membership_verdict(1 - 0.9, 1 - 0.55, 1 - auc, (0.3, 0.7)) == verdict.replace("recognised", "worse than unseen")


def _shipped_or_fail(study, seeds_by_roles: dict[tuple[str, ...], list[int]]) -> None:
    """Fail, naming the run, unless every (roles, seed) training of ``study`` is a published base model:
    this test reads shipped models and must never start hours of training."""
    from mriunlearn import paths
    from mriunlearn.cache import RunCache
    from mriunlearn.train import KIND, train_config

    store = paths.base_models_dir()
    for roles, seeds in seeds_by_roles.items():
        for seed in seeds:
            prof = study.profile.replace(seed=seed)
            key = RunCache.key(KIND, train_config(prof, roles, None), study.manifest.content_hash(), seed)
            if store is None or not (store / KIND / key).is_dir():
                pytest.fail(f"the {'+'.join(roles)} run at seed {seed} (key {key}) is not among the published base "
                            f"models in {store}: train it and publish it with `python -m mriunlearn ship`")


@pytest.mark.slow
def test_on_the_default_data_the_oracle_shows_no_membership_signal_and_G_does(tmp_path):
    """The notebook's calibrated test on the shipped default models (G and Ĝ at seed 42, the reference
    oracles at notebook 03's MIA_REFERENCE_SEEDS 43 and 44, all restored from models/): the oracle,
    which never saw D_f, has an interval containing 0.5; G, trained on it, lies above."""
    from mriunlearn.experiments import study as st
    from mriunlearn.experiments import unlearning as unl

    study = st.load_study("default", runs_dir=tmp_path)
    study.progress = False
    _shipped_or_fail(study, {("retain", "forget"): [42], ("retain",): [42, 43, 44]})
    table = unl.forgetting(study, {}, mia_reference_seeds=[43, 44]).set_index("model")
    assert table.mia_low["oracle"] <= 0.5 <= table.mia_high["oracle"], table
    assert table.mia_low["original"] > 0.5, table
    assert table.mia_verdict["original"] == "recognised"
