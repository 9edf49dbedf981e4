"""Unlearning registry, methods and runner on the smoke profile (1 unlearning epoch).

The smoke G is trained for 2 epochs on a few 32x32 slices, so it is barely better than the
zero-filled image: every supervised step still improves it on every organ. Behavioural checks are
therefore chosen to hold in that regime and say what they check:

- every method changes the weights (SSD with α = 1: its source default α = 10 cannot select any
  weight when the forget set is a large share of the data, see :mod:`mriunlearn.unlearning.ssd`);
- GA alone lowers the retain (brain test) PSNR (fresh Adam, lr 1e-2, so that one epoch is visible);
- FT alone leaves the forget-set PSNR within 1 dB of G's;
- NL-FT: its forget term is exactly J(x_f, y_f + λ·ε) with seeded noise (both variants) and its
  update differs from the noise-free run.
- NL-FT moves toward Ĝ: checked in a regime where there is something to forget. The 2-epoch smoke G
  has not learned D_f (G and Ĝ score alike on it), so that test trains its own G and Ĝ on the smoke
  data for 30 epochs at lr 3e-3 (~10 s): G then scores ~2.8 dB higher than Ĝ on D_f. λ is set
  relative to the targets' peak: the paper's absolute λ = 1e-5 is ~2% of the peak on this data and
  measurably does nothing in a short run (notebook 03's noise sweep); λ = 1 x peak does.
"""

from __future__ import annotations

import re

import pytest
import torch

from mriunlearn.cache import RunCache
from mriunlearn.errors import CheckpointError, ConfigError
from mriunlearn.fastmri_h5 import inspect_volume
from mriunlearn.train import train_oracle, train_original
from mriunlearn.unlearning import (METHODS, UnlearnConfig, get_method, run_method, run_unlearning,
                                   unlearn, validate_params)
from mriunlearn.unlearning.base import TRANSFORMS, noisy_target

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> RunCache:
    return RunCache(tmp_path_factory.mktemp("unlearn_runs"))


@pytest.fixture(scope="module")
def G(smoke_profile, smoke_manifest, cache):
    return train_original(smoke_profile, smoke_manifest, cache=cache, progress=False)


def _psnr(per_volume, role: str) -> float:
    return float(per_volume.loc[per_volume.role == role, "psnr"].mean())


def _g_metrics(G, smoke_manifest, smoke_profile):
    from mriunlearn.metrics import evaluate

    return evaluate(G.model, smoke_manifest, ["test_brain", "test_knee", "forget"], smoke_profile)


#: how many epochs each kind of method runs, written from the methods' documented behaviour rather
#: than from their class attributes: SSD is one pass, retrain follows G's recipe (profile.epochs),
#: every other method the unlearning budget (profile.unlearn_epochs) or the epochs asked for
ONE_PASS: frozenset[str] = frozenset({"ssd"})
TRAINING_RECIPE: frozenset[str] = frozenset({"retrain"})


def _expected_epochs(method: str, epochs: int, unlearn_epochs: int, asked: int | None = None) -> int:
    if method in ONE_PASS:
        return 1
    if asked is not None:
        return asked
    return epochs if method in TRAINING_RECIPE else unlearn_epochs


# ---- registry ---------------------------------------------------------------------------------

def test_registry_lists_the_paper_methods_and_baselines():
    expected = {"retrain", "full_ft", "ft", "ga", "ga_l1", "nl", "ga_l1_ft", "nl_ft", "neggrad_plus",
                "bad_teacher", "scrub", "ssd", "salun", "l1_sparse"}
    assert expected <= set(METHODS)
    for name, cls in METHODS.items():
        assert cls.source, name
        validate_params(name)  # defaults are valid


def test_registry_rejects_unknown_method_and_params():
    with pytest.raises(ConfigError, match="valid methods: .*nl_ft"):
        get_method("nl_ftt")
    with pytest.raises(ConfigError, match="unknown parameter.*lambda.*valid parameters: noise_std"):
        validate_params("nl_ft", {"lambda": 1e-5})
    with pytest.raises(ConfigError, match="out of range"):
        validate_params("neggrad_plus", {"alpha": 1.5})
    with pytest.raises(ConfigError, match="noise_std"):
        validate_params("nl", {"noise_std": -1.0})
    with pytest.raises(ConfigError, match="'paper', 'code'"):
        validate_params("nl_ft", {"variant": "authors"})
    with pytest.raises(ConfigError, match="integer"):
        validate_params("scrub", {"max_epochs": 1.5})
    with pytest.raises(ConfigError, match="bool"):
        validate_params("l1_sparse", {"decay": "yes"})
    assert validate_params("nl_ft", {"variant": "code"}) == {"noise_std": 1e-5, "variant": "code"}


def test_unlearn_interface_with_file_lists(G, smoke_profile, smoke_manifest, same_weights):
    import copy

    model = copy.deepcopy(G.model)
    cfg = UnlearnConfig("nl_ft", smoke_profile, params={"noise_std": 1e-3}, epochs=1, seed=3)
    out = unlearn(model, smoke_manifest.files("retain")[:1], smoke_manifest.files("forget"), cfg)
    assert out is model and not same_weights(out, G.model)
    with pytest.raises(ConfigError, match="unknown unlearning method"):
        unlearn(model, [], [], UnlearnConfig("nope", smoke_profile))


# ---- every method runs and changes the weights -------------------------------------------------

@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_method_runs_and_changes_weights(method, G, smoke_profile, smoke_manifest, cache, same_weights):
    params = {"alpha": 1.0} if method == "ssd" else None
    res = run_unlearning(smoke_profile, smoke_manifest, method, params=params, cache=cache,
                         progress=False, original=G)
    assert not same_weights(res.model, G.model)
    assert res.slice_steps > 0 and res.wall_time_s > 0
    cls = METHODS[method]
    epochs = _expected_epochs(method, smoke_profile.epochs, smoke_profile.unlearn_epochs)
    if method == "retrain":
        # the engine's oracle Ĝ itself (its recipe and cache entry), evaluated once, after its epochs
        oracle = train_oracle(smoke_profile, smoke_manifest, cache=cache, progress=False)
        assert oracle.cached and same_weights(res.model, oracle.model)
        assert res.info["oracle_entry"] == f"{oracle.entry.kind}/{oracle.entry.key}"
        assert res.slice_steps == oracle.slice_steps and epochs == smoke_profile.epochs
        assert sorted(set(res.per_epoch.epoch)) == [epochs]
    else:
        assert sorted(set(res.per_epoch.epoch)) == list(range(1, epochs + 1))
    assert set(res.per_epoch.column) == {"BTA", "KTA", "UA"}
    assert set(res.final.role) == {"test_brain", "test_knee", "forget"}
    assert res.config["method"] == method and res.config["params"] == validate_params(method, params)
    if "variant" in cls.params:
        assert res.config["variant"] == "paper"
    if cls.retain_scope == "subset":
        n = len(smoke_manifest.files("retain"))
        assert len(res.retain_files) == max(1, round(smoke_profile.retain_fraction * n))
    elif cls.retain_scope == "none":
        assert res.retain_files == []
    if method == "ssd":
        assert res.info["dampened"] > 0


# ---- behaviour ---------------------------------------------------------------------------------

def test_ga_lowers_retain_psnr(G, smoke_profile, smoke_manifest):
    g = _g_metrics(G, smoke_manifest, smoke_profile)
    res = run_unlearning(smoke_profile.replace(lr=1e-2), smoke_manifest, "ga", cache=False,
                         progress=False, original=G, resume_optimizer=False)
    assert _psnr(res.final, "test_brain") < _psnr(g, "test_brain") - 0.1


def test_ft_keeps_forget_psnr_near_g(G, smoke_profile, smoke_manifest, cache):
    g = _g_metrics(G, smoke_manifest, smoke_profile)
    res = run_unlearning(smoke_profile, smoke_manifest, "ft", cache=cache, progress=False, original=G)
    assert abs(_psnr(res.final, "forget") - _psnr(g, "forget")) < 1.0


def test_nl_ft_forget_term_uses_seeded_noisy_targets(G, smoke_profile, smoke_manifest, same_weights):
    """NL-FT's forget term is J(x_f, y_f + λ·ε), ε ~ N(0, I) (paper) or |N(0, I)| (code), drawn
    from the run seed; the retain term is plain FT. (Whether it lands nearer Ĝ:
    :func:`test_nl_ft_noise_moves_toward_oracle_against_its_noise_free_twin`.)"""
    import copy

    from mriunlearn.dataset import SliceData, collate
    from mriunlearn.losses import recon_loss
    from mriunlearn.model import reconstruct

    data = SliceData(smoke_manifest.files("forget"), smoke_profile, train=True)
    batch = collate([data[0], data[1]])
    lam = 1e-4
    for variant in ("paper", "code"):
        cfg = UnlearnConfig("nl_ft", smoke_profile, params={"noise_std": lam, "variant": variant}, seed=9)
        impl = get_method("nl_ft")(copy.deepcopy(G.model), cfg, validate_params("nl_ft", cfg.params))
        got = impl.forget_term(batch).detach()
        eps = torch.randn(batch.target.shape, generator=torch.Generator().manual_seed(9))
        eps = eps.abs() if variant == "code" else eps
        with torch.no_grad():
            pred = reconstruct(impl.model, batch, smoke_profile)
        want = recon_loss(pred, batch.target + lam * eps, batch.max_value, smoke_profile)
        clean = recon_loss(pred, batch.target, batch.max_value, smoke_profile)
        assert float(got) == pytest.approx(float(want), rel=1e-5)
        assert float(got) != pytest.approx(float(clean), rel=1e-3)
        assert impl.schedule() == ("pair" if variant == "paper" else "alternate")
    kw = dict(cache=False, progress=False, original=G, seed=5)
    noisy = run_unlearning(smoke_profile, smoke_manifest, "nl_ft", params={"noise_std": lam}, **kw)
    clean_run = run_unlearning(smoke_profile, smoke_manifest, "nl_ft", params={"noise_std": 0.0}, **kw)
    assert not same_weights(noisy.model, clean_run.model)
    assert noisy.slice_steps == clean_run.slice_steps


@pytest.fixture(scope="module")
def learned(smoke_profile, smoke_manifest, cache):
    """(profile, G, Ĝ) trained long enough on the smoke data that G has learned D_f and Ĝ has not."""
    from mriunlearn.train import train_oracle

    prof = smoke_profile.replace(epochs=30, lr=3e-3)
    return (prof, train_original(prof, smoke_manifest, cache=cache, progress=False),
            train_oracle(prof, smoke_manifest, cache=cache, progress=False))


def test_nl_ft_noise_moves_toward_oracle_against_its_noise_free_twin(learned, smoke_manifest):
    """With λ at the scale of the targets, the noise is what moves NL-FT toward Ĝ: against the same
    schedule without noise (same seed, retain draw and order: a paired comparison), it lowers the
    forget-set PSNR by more than 0.1 dB and lands nearer Ĝ (mean |PSNR gap| over BTA, KTA, UA), at each
    of three unlearning seeds.

    Against G itself the smoke model's change is a tenth of a dB whose sign follows the CPU's kernels
    (measured, G's UA minus NL-FT's over seeds 0-2: +0.18, +0.02, +0.15 dB with AVX-512 kernels;
    -0.09, -0.08, -0.12 with ATen restricted to AVX2), inside the noise of two trainings, so it is
    not asserted."""
    from mriunlearn.experiments.study import target_scale
    from mriunlearn.experiments.results import column_means
    from mriunlearn.forgetting import oracle_distance
    from mriunlearn.metrics import evaluate_run

    prof, G, oracle = learned
    roles = ["test_brain", "test_knee", "forget"]
    g, o = column_means(evaluate_run(G, smoke_manifest, roles)), column_means(evaluate_run(oracle, smoke_manifest, roles))
    assert g["UA"] - o["UA"] > 1.0, (g, o)  # the premise: G remembers D_f, Ĝ never saw it
    peak = target_scale(smoke_manifest)
    for seed in (0, 1, 2):
        kw = dict(cache=False, progress=False, original=G, epochs=5, eval_every_epoch=False, seed=seed)
        noisy = column_means(run_unlearning(prof, smoke_manifest, "nl_ft", params={"noise_std": peak}, **kw).final)
        clean = column_means(run_unlearning(prof, smoke_manifest, "nl_ft", params={"noise_std": 0.0}, **kw).final)
        assert noisy["UA"] < clean["UA"] - 0.1, (seed, noisy, clean)
        assert oracle_distance(noisy, o) < oracle_distance(clean, o), (seed, noisy, clean, o)


# ---- determinism, caching, retain subsets ------------------------------------------------------

def test_same_seed_same_weights(G, smoke_profile, smoke_manifest, same_weights):
    import copy

    retain, forget = smoke_manifest.files("retain")[:2], smoke_manifest.files("forget")

    def run(seed: int) -> torch.nn.Module:
        cfg = UnlearnConfig("nl_ft", smoke_profile, params={"noise_std": 1e-3}, seed=seed)
        return unlearn(copy.deepcopy(G.model), retain, forget, cfg)

    a, b, c = run(11), run(11), run(12)
    assert same_weights(a, b)
    assert not same_weights(a, c)
    res = run_unlearning(smoke_profile, smoke_manifest, "nl_ft", cache=False, progress=False,
                         original=G, seed=11)
    again = run_unlearning(smoke_profile, smoke_manifest, "nl_ft", cache=False, progress=False,
                           original=G, seed=11)
    assert same_weights(res.model, again.model)
    assert res.config["seed"] == 11 and res.config["retain_seed"] == 11


def test_cache_hit_on_second_call(G, smoke_profile, smoke_manifest, tmp_path, same_weights):
    cache = RunCache(tmp_path / "runs")
    first = run_unlearning(smoke_profile, smoke_manifest, "ga_l1", cache=cache, progress=False, original=G)
    second = run_unlearning(smoke_profile, smoke_manifest, "ga_l1", cache=cache, progress=False, original=G)
    assert not first.cached and second.cached
    assert second.entry.key == first.entry.key
    assert same_weights(first.model, second.model)
    assert second.slice_steps == first.slice_steps and second.retain_files == first.retain_files
    assert second.per_epoch["mean"].round(6).tolist() == first.per_epoch["mean"].round(6).tolist()
    other = run_unlearning(smoke_profile, smoke_manifest, "ga_l1", params={"gamma": 1e-3}, cache=cache,
                           progress=False, original=G)
    assert not other.cached and other.entry.key != first.entry.key


def test_retain_subset_options(G, smoke_profile, smoke_manifest):
    names = [p.name for p in smoke_manifest.files("retain")]
    res = run_unlearning(smoke_profile, smoke_manifest, "ft", retain_files=names[:1], cache=False,
                         progress=False, original=G)
    assert res.retain_files == names[:1]
    full = run_unlearning(smoke_profile, smoke_manifest, "ft", retain_fraction=1.0, cache=False,
                          progress=False, original=G)
    assert full.retain_files == names and full.config["retain_fraction"] == 1.0
    with pytest.raises(ConfigError, match="not a retain volume"):
        run_unlearning(smoke_profile, smoke_manifest, "ft", retain_files=["nope.h5"], cache=False,
                       progress=False, original=G)
    with pytest.raises(ConfigError, match="uses no retain data"):
        run_unlearning(smoke_profile, smoke_manifest, "ga", retain_fraction=0.5, cache=False,
                       progress=False, original=G)


def test_resume_optimizer_is_recorded(G, smoke_profile, smoke_manifest, same_weights):
    a = run_unlearning(smoke_profile, smoke_manifest, "ft", cache=False, progress=False, original=G)
    b = run_unlearning(smoke_profile, smoke_manifest, "ft", cache=False, progress=False, original=G,
                       resume_optimizer=False)
    assert a.config["optimizer_resumed"] and not b.config["optimizer_resumed"]
    assert not same_weights(a.model, b.model)


def test_run_method_counts_slice_steps(G, smoke_profile, smoke_manifest):
    import copy

    forget = smoke_manifest.files("forget")
    n_slices = sum(inspect_volume(f).num_slices for f in forget)
    run = run_method(copy.deepcopy(G.model), [], forget,
                     UnlearnConfig("ga", smoke_profile, epochs=2, resume_optimizer=False))
    assert run.slice_steps == 2 * n_slices and run.epochs == 2


# ---- noisy-label transforms --------------------------------------------------------------------

@pytest.mark.parametrize("transform", TRANSFORMS)
def test_noise_transform_on_a_known_target(transform):
    """Each transform on a known target: exact formula, mean, sign and scale of the noise, a new
    draw at every call (the authors' code redraws at every load), replay from the seed."""
    y = torch.full((2, 64, 64), 3e-4)
    y[:, :, 32:] = 7e-4
    lam, n = 1e-5, y.numel()
    a = noisy_target(y, lam, gen := torch.Generator().manual_seed(0), transform=transform)
    b = noisy_target(y, lam, gen, transform=transform)
    assert a.shape == y.shape and a.dtype == y.dtype
    assert not torch.equal(a, b)  # redrawn per call
    assert torch.equal(a, noisy_target(y, lam, torch.Generator().manual_seed(0), transform=transform))
    eps = torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    want = {"gauss": y + lam * eps, "abs": y + lam * eps.abs(), "replace": lam * eps}[transform]
    assert torch.equal(a, want)
    d = ((a - y) if transform != "replace" else a) / lam  # the noise in units of λ
    tol = 4 / n ** 0.5  # four standard errors of a mean of n unit-variance draws
    if transform == "abs":
        assert bool((d >= 0).all())
        assert float(d.mean()) == pytest.approx((2 / torch.pi) ** 0.5, abs=tol)
        assert float(d.std()) == pytest.approx((1 - 2 / torch.pi) ** 0.5, rel=0.05)
    else:
        assert float(d.min()) < 0 < float(d.max())
        assert abs(float(d.mean())) < tol and float(d.std()) == pytest.approx(1.0, rel=0.05)
    if transform == "replace":  # nothing of y is left
        assert torch.equal(a, noisy_target(5 * y, lam, torch.Generator().manual_seed(0), transform=transform))


def test_unknown_transform_is_refused():
    with pytest.raises(ConfigError, match="transform='laplace' is not valid; valid: 'gauss', 'abs', 'replace'"):
        validate_params("nl_ft", {"transform": "laplace"})
    with pytest.raises(ConfigError, match="valid: 'gauss', 'abs', 'replace'"):
        noisy_target(torch.zeros(1, 2, 2), 1.0, torch.Generator(), transform="laplace")


def test_transform_defaults_follow_the_variant_and_keep_the_parameters():
    """Unset, ``transform`` is the variant's (paper: gauss, code: abs) and is not recorded; set to
    that same transform it is dropped (one key per run); another transform is recorded."""
    base = {"noise_std": 1e-5, "variant": "paper"}
    assert validate_params("nl") == base
    assert validate_params("nl", {"transform": "gauss"}) == base
    assert validate_params("nl_ft", {"variant": "code", "transform": "abs"}) == {**base, "variant": "code"}
    assert validate_params("nl", {"transform": "abs"}) == {**base, "transform": "abs"}
    assert validate_params("nl_ft", {"variant": "code", "transform": "replace"}) == \
        {**base, "variant": "code", "transform": "replace"}


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_nl_transforms_keep_the_clean_data_range(transform, G, smoke_profile, smoke_manifest, monkeypatch):
    """The forget term is J(x_f, label) with the label of ``transform`` and the SSIM data range of
    the clean volume (``batch.max_value``), as the authors' code left ``max_value`` alone."""
    import copy

    from mriunlearn import losses
    from mriunlearn.dataset import SliceData, collate
    from mriunlearn.model import reconstruct

    batch = collate([SliceData(smoke_manifest.files("forget"), smoke_profile, train=True)[i] for i in (0, 1)])
    lam = 1.0 if transform == "replace" else 1e-4  # replace at λ = 1: the authors' early code
    cfg = UnlearnConfig("nl", smoke_profile, params={"noise_std": lam, "transform": transform}, seed=9)
    impl = get_method("nl")(copy.deepcopy(G.model), cfg, validate_params("nl", cfg.params))
    assert impl.transform == transform and impl.info() == {"transform": transform}
    seen, real = [], losses.recon_loss
    monkeypatch.setattr(losses, "recon_loss", lambda p, t, m, prof: seen.append((t, m)) or real(p, t, m, prof))
    got = impl.forget_term(batch).detach()
    (label, data_range), = seen
    assert torch.equal(data_range, batch.max_value)  # unchanged: not the noisy label's maximum
    assert torch.equal(label, noisy_target(batch.target, lam, torch.Generator().manual_seed(9), transform=transform))
    if transform == "replace":
        assert float(label.abs().max()) > 100 * float(batch.max_value.max())
    with torch.no_grad():
        pred = reconstruct(impl.model, batch, smoke_profile)
    assert float(got) == pytest.approx(float(real(pred, label, batch.max_value, smoke_profile)), rel=1e-5)


# ---- epoch budget, steps budget and the resumed optimiser --------------------------------------

@pytest.mark.parametrize("method", sorted(METHODS))
def test_epoch_budget_of_each_method(method, smoke_profile):
    """With 6 training epochs and 3 unlearning epochs the three answers (1, 6, 3) differ, so a method
    given the wrong budget fails here (the smoke profile's unlearning budget is 1 epoch, like SSD's)."""
    prof = smoke_profile.replace(epochs=6, unlearn_epochs=3)
    cls = METHODS[method]
    assert cls.epoch_budget(prof) == _expected_epochs(method, 6, 3)
    assert cls.epoch_budget(prof, 2) == _expected_epochs(method, 6, 3, asked=2)
    impl = cls(torch.nn.Linear(1, 1), UnlearnConfig(method, prof, resume_optimizer=False), validate_params(method, None))
    assert impl.num_epochs() == cls.epoch_budget(prof)


#: the keys of an unlearning run's cache config before ``steps`` existed (an unset ``steps`` keeps them)
_KEY_FIELDS = {"task", "method", "params", "profile", "retain_files", "retain_fraction", "original",
               "resume_optimizer", "epochs", "eval_every_epoch", "eval_roles"}


@pytest.mark.parametrize("method,params,slices_per_step", [
    ("nl", {}, 1), ("ft", {}, 1), ("nl_ft", {}, 2), ("nl_ft", {"variant": "code"}, 1), ("ga_l1_ft", {}, 2),
    ("neggrad_plus", {}, 2), ("bad_teacher", {}, 2), ("salun", {}, 2), ("scrub", {}, 1),
    ("l1_sparse", {}, 1), ("full_ft", {}, 1), ("ga", {}, 1), ("ga_l1", {}, 1), ("retrain", {}, 1)])
def test_steps_gives_exactly_that_many_optimizer_steps(method, params, slices_per_step, G, smoke_profile,
                                                       smoke_manifest, same_weights):
    """``steps=7`` over loaders of 4 forget and 4 retain slices: 7 optimiser steps of batch 1 (a pair
    step holds one forget and one retain slice), spread over as many epochs as needed."""
    import copy

    retain, forget = smoke_manifest.files("retain")[:2], smoke_manifest.files("forget")
    cfg = UnlearnConfig(method, smoke_profile, params=params, steps=7, seed=4)
    run = run_method(copy.deepcopy(G.model), retain, forget, cfg)
    assert run.info["optimizer_steps"] == 7 and run.info["steps"] == 7
    assert run.epochs == run.info["epochs_run"] >= 1
    assert run.slice_steps == 7 * slices_per_step + (4 if method == "salun" else 0)  # + SalUn's saliency pass
    again = run_method(copy.deepcopy(G.model), retain, forget, cfg)
    assert same_weights(run.model, again.model)  # deterministic from the seed


def test_steps_counts_per_schedule(G, smoke_profile, smoke_manifest):
    """Epochs a steps budget spans: 4 forget slices per NL epoch, max(4, 4) pairs per paper NL-FT
    epoch, 4 + 4 single-slice steps per code NL-FT epoch (the authors' one shuffled loader)."""
    import copy

    retain, forget = smoke_manifest.files("retain")[:2], smoke_manifest.files("forget")
    for method, params, steps, epochs in (("nl", {}, 9, 3), ("nl_ft", {}, 9, 3),
                                          ("nl_ft", {"variant": "code"}, 9, 2), ("nl_ft", {"variant": "code"}, 8, 1)):
        seen: list[int] = []
        cfg = UnlearnConfig(method, smoke_profile, params=params, steps=steps, seed=4,
                            on_epoch=lambda e, m, s, seen=seen: seen.append(e))
        run = run_method(copy.deepcopy(G.model), retain, forget, cfg)
        assert run.info["optimizer_steps"] == steps and seen == list(range(1, epochs + 1)), (method, params)


def test_steps_through_the_runner(G, smoke_profile, smoke_manifest, tmp_path):
    cache = RunCache(tmp_path / "runs")
    kw = {"cache": cache, "progress": False, "original": G}
    plain = run_unlearning(smoke_profile, smoke_manifest, "nl_ft", **kw)
    assert set(plain.entry.config) == _KEY_FIELDS, set(plain.entry.config) ^ _KEY_FIELDS
    assert "steps" not in plain.config
    assert set(plain.entry.config["params"]) == {"noise_std", "variant"}
    res = run_unlearning(smoke_profile, smoke_manifest, "nl_ft", steps=5, eval_every_epoch=False, **kw)
    assert res.entry.config["steps"] == 5 and res.entry.config["epochs"] is None
    assert res.entry.key != plain.entry.key
    assert res.config["steps"] == 5 and res.info["optimizer_steps"] == 5 and res.slice_steps == 10
    assert res.config["epochs"] == res.info["epochs_run"] == 2  # 4 pairs per epoch: 4 + 1
    assert sorted(set(res.per_epoch.epoch)) == [2]
    again = run_unlearning(smoke_profile, smoke_manifest, "nl_ft", steps=5, eval_every_epoch=False, **kw)
    assert again.cached and again.entry.key == res.entry.key


def test_plan_decides_a_run_without_a_model_or_training(G, smoke_profile, smoke_manifest, tmp_path, monkeypatch):
    """plan_unlearning checks the arguments and gives the budget, the retain volumes and the key
    config before any model exists; run_unlearning stores its run under that plan's key."""
    from mriunlearn.unlearning import runner
    from mriunlearn.unlearning.runner import plan_unlearning

    names = [p.name for p in smoke_manifest.files("retain")]
    with monkeypatch.context() as patch:
        for name in ("build_model", "run_method", "train_original", "train_oracle", "_resolve_original"):
            patch.setattr(runner, name, lambda *a, _n=name, **k: pytest.fail(f"the plan called {_n}"))
        drawn = plan_unlearning(smoke_profile, smoke_manifest, "ft", retain_fraction=0.5, seed=3)
        listed = plan_unlearning(smoke_profile, smoke_manifest, "ft", retain_files=names[:1])
        stepped = plan_unlearning(smoke_profile, smoke_manifest, "ga", steps=3, resume_optimizer=False)
        retrain = plan_unlearning(smoke_profile, smoke_manifest, "retrain")
        for method, kw, match in [("retrain", {"steps": 3}, "'retrain'.*steps cannot be given"),
                                  ("full_ft", {"retain_fraction": 0.5}, "uses all of D_r"),
                                  ("ft", {"retain_fraction": 0.5, "retain_files": names[:1]}, "not both"),
                                  ("ft", {"epochs": 0}, "epochs must be a positive integer")]:
            with pytest.raises(ConfigError, match=match):
                plan_unlearning(smoke_profile, smoke_manifest, method, **kw)
    p = smoke_profile
    assert drawn.retain_files == smoke_manifest.subset("retain", 0.5, 3) and drawn.retain_fraction == 0.5
    assert drawn.retain_drawn and drawn.seed == 3 and drawn.steps is None
    assert drawn.epochs == _expected_epochs("ft", p.epochs, p.unlearn_epochs) and drawn.resumes_optimizer
    assert [f.name for f in listed.retain_files] == names[:1] and not listed.retain_drawn
    assert listed.retain_fraction == 1 / len(names) and listed.seed == p.seed
    assert stepped.epochs is None and stepped.retain_files == [] and stepped.retain_fraction is None
    assert not stepped.resumes_optimizer and stepped.cache_config("train/g")["steps"] == 3
    assert not retrain.needs_original and retrain.epochs == _expected_epochs("retrain", p.epochs, p.unlearn_epochs)
    config = drawn.cache_config("train/g")
    assert set(config) == _KEY_FIELDS and "steps" not in config
    assert config["original"] == "train/g" and config["retain_files"] == [f.name for f in drawn.retain_files]
    cache = RunCache(tmp_path / "runs")
    entry = drawn.entry(cache, "train/g")
    assert entry.kind == "unlearn" and entry.seed == 3 and not entry.path.exists()
    assert entry.key == cache.key("unlearn", config, smoke_manifest.content_hash(), 3)
    assert entry.key != drawn.entry(cache, "train/other").key
    ran = run_unlearning(smoke_profile, smoke_manifest, "ga", steps=3, resume_optimizer=False, cache=cache,
                         progress=False, original=G)
    assert ran.entry.key == stepped.entry(cache, f"train/{G.entry.key}").key == ran.config["key"]


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "4", float("nan")])
def test_bad_steps_are_refused(bad, G, smoke_profile, smoke_manifest):
    with pytest.raises(ConfigError, match=r"steps=.* is not valid; valid: a positive integer .* or None"):
        run_unlearning(smoke_profile, smoke_manifest, "nl_ft", steps=bad, cache=False, progress=False, original=G)


def test_steps_refused_where_they_cannot_apply(G, smoke_profile, smoke_manifest):
    kw = {"cache": False, "progress": False, "original": G}
    with pytest.raises(ConfigError, match="'ssd' takes no optimiser step"):
        run_unlearning(smoke_profile, smoke_manifest, "ssd", steps=3, **kw)
    with pytest.raises(ConfigError, match="either epochs .* or steps"):
        run_unlearning(smoke_profile, smoke_manifest, "nl", steps=3, epochs=1, **kw)
    with pytest.raises(ConfigError, match="'retrain'.*steps cannot be given"):
        run_unlearning(smoke_profile, smoke_manifest, "retrain", steps=3, **kw)
    with pytest.raises(ConfigError, match="batch size 2 was given where batch size 1"):
        from mriunlearn.dataset import make_loader

        loader = make_loader(smoke_manifest.files("forget"), smoke_profile, train=True)
        run_method(G.model, [], loader, UnlearnConfig("nl", smoke_profile, steps=3))


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_bad_resume_optimizer_is_refused(bad, G, smoke_profile, smoke_manifest):
    with pytest.raises(ConfigError, match=r"resume_optimizer=.* is not valid; valid: True .* or False"):
        run_unlearning(smoke_profile, smoke_manifest, "ft", resume_optimizer=bad, cache=False,
                       progress=False, original=G)


def test_resume_optimizer_restores_adam_state_and_lr_bit_for_bit(G, smoke_profile):
    """G's Adam moments, step counts and learning rate come back exactly (the lr set apart from
    ``profile.lr`` so that a fresh Adam could not pass); ``resume_optimizer=False``: a fresh Adam."""
    import copy

    state = torch.load(G.entry.checkpoint_path, weights_only=True)["optimizer"]
    state["param_groups"][0]["lr"] = 0.37 * smoke_profile.lr
    impl = get_method("ft")(copy.deepcopy(G.model), UnlearnConfig("ft", smoke_profile, optimizer_state=state),
                            validate_params("ft"))
    got = impl.optimizer.state_dict()
    assert got["param_groups"] == state["param_groups"] and got["state"].keys() == state["state"].keys()
    for i, s in state["state"].items():
        assert s.keys() == got["state"][i].keys()
        assert all(torch.equal(got["state"][i][k], v) for k, v in s.items()), i
    fresh = get_method("ft")(copy.deepcopy(G.model), UnlearnConfig(
        "ft", smoke_profile, optimizer_state=state, resume_optimizer=False), validate_params("ft"))
    assert fresh.optimizer.state_dict()["state"] == {}
    assert fresh.optimizer.param_groups[0]["lr"] == smoke_profile.lr


def test_runner_resumes_the_checkpoint_optimizer_or_names_the_file(smoke_profile, smoke_manifest, tmp_path, same_weights):
    """The runner's run equals a replay from ``checkpoint.pt``'s optimiser state (its own lr
    included); a G checkpoint without optimiser state is refused, naming the file."""
    import copy

    prof = smoke_profile.replace(epochs=1)
    g = train_original(prof, smoke_manifest, cache=RunCache(tmp_path / "runs"), progress=False)
    raw = torch.load(g.entry.checkpoint_path, weights_only=True)
    raw["optimizer"]["param_groups"][0]["lr"] = lr = 0.37 * prof.lr
    torch.save(raw, g.entry.checkpoint_path)
    kw = {"cache": False, "progress": False, "original": g, "seed": 3}
    res = run_unlearning(prof, smoke_manifest, "ft", **kw)
    assert res.config["optimizer_resumed"] and res.config["lr"] == lr
    files = [p for p in smoke_manifest.files("retain") if p.name in res.retain_files]
    replay = unlearn(copy.deepcopy(g.model), files, [], UnlearnConfig(
        "ft", prof, epochs=res.config["epochs"], seed=3, optimizer_state=raw["optimizer"]))
    assert same_weights(res.model, replay)
    raw["optimizer"] = {}
    torch.save(raw, g.entry.checkpoint_path)
    with pytest.raises(CheckpointError, match=re.escape(str(g.entry.checkpoint_path)) +
                       " holds no optimiser state.*resume_optimizer=False"):
        run_unlearning(prof, smoke_manifest, "ft", **kw)
    fresh = run_unlearning(prof, smoke_manifest, "ft", resume_optimizer=False, **kw)
    assert not fresh.config["optimizer_resumed"] and fresh.config["lr"] == prof.lr
