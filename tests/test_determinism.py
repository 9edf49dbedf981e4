"""Determinism of the whole smoke pipeline and the record of every seeded choice.

Same seed, fresh caches (nothing reused) -> identical weights and identical metric tables for G, Ĝ
and two unlearning methods. Another seed -> other training masks, shuffling, initial weights and
retain subset, and those choices are recorded beside the results (``summary.json``, ``config.json``).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from mriunlearn.cache import RunCache
from mriunlearn.dataset import SliceData
from mriunlearn.metrics import evaluate
from mriunlearn.train import SAMPLING, train_oracle, train_original
from mriunlearn.unlearning import run_unlearning
from mriunlearn.manifest import EVAL_ROLES

torch.set_num_threads(1)
METHODS = ("nl_ft", "ft")


def _pipeline(profile, manifest, cache_root) -> dict:
    """Train G and Ĝ, unlearn with two methods, evaluate everything; fresh cache ``cache_root``."""
    cache = RunCache(cache_root)
    g = train_original(profile, manifest, cache=cache, progress=False)
    oracle = train_oracle(profile, manifest, cache=cache, progress=False)
    out = {"G": g, "oracle": oracle,
           "G_table": evaluate(g.model, manifest, list(EVAL_ROLES), profile),
           "oracle_table": evaluate(oracle.model, manifest, list(EVAL_ROLES), profile)}
    for method in METHODS:
        out[method] = run_unlearning(profile, manifest, method, original=g, cache=cache, progress=False)
        assert not out[method].cached
    assert not g.cached and not oracle.cached
    return out


@pytest.fixture(scope="module")
def runs(smoke_profile, smoke_manifest, tmp_path_factory):
    """Seed 42 twice (separate caches) and seed 7 once."""
    return {name: _pipeline(smoke_profile.replace(seed=seed), smoke_manifest, tmp_path_factory.mktemp(name))
            for name, seed in (("a", 42), ("b", 42), ("other", 7))}


def test_same_seed_gives_identical_weights_and_tables(runs, same_weights):
    a, b = runs["a"], runs["b"]
    assert a["G"].entry.path != b["G"].entry.path  # really two caches
    for name in ("G", "oracle", *METHODS):
        assert same_weights(a[name].model, b[name].model), name
    for name in ("G_table", "oracle_table"):
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)
    for name in ("G", "oracle"):
        cols = ["epoch", "train_loss", "val_loss", "val_psnr", "lr"]
        pd.testing.assert_frame_equal(a[name].history[cols], b[name].history[cols], check_exact=True)
    for method in METHODS:
        pd.testing.assert_frame_equal(a[method].final, b[method].final, check_exact=True)
        pd.testing.assert_frame_equal(a[method].per_epoch.drop(columns="seconds"),
                                      b[method].per_epoch.drop(columns="seconds"), check_exact=True)
        pd.testing.assert_frame_equal(a[method].table(), b[method].table(), check_exact=True)
        assert a[method].retain_files == b[method].retain_files
        assert a[method].entry.key == b[method].entry.key


def test_another_seed_changes_weights_masks_and_retain_subset(runs, smoke_manifest, smoke_profile, same_weights):
    a, other = runs["a"], runs["other"]
    for name in ("G", "oracle", *METHODS):
        assert not same_weights(a[name].model, other[name].model), name
    assert not a["G_table"].psnr.equals(other["G_table"].psnr)
    assert set(a["ft"].retain_files) != set(other["ft"].retain_files)
    # training masks: drawn from (seed, epoch, slice); evaluation masks: from the file name only
    files = smoke_manifest.files("retain")
    d42 = SliceData(files, smoke_profile.replace(seed=42), train=True)
    d7 = SliceData(files, smoke_profile.replace(seed=7), train=True)
    masks42 = [d42[i].mask for i in range(len(d42))]
    assert any(not torch.equal(m, d7[i].mask) for i, m in enumerate(masks42))
    d42.set_epoch(1)
    assert any(not torch.equal(m, d42[i].mask) for i, m in enumerate(masks42))  # new masks each epoch
    e42 = SliceData(files, smoke_profile.replace(seed=42), train=False)
    e7 = SliceData(files, smoke_profile.replace(seed=7), train=False)
    assert all(torch.equal(e42[i].mask, e7[i].mask) for i in range(len(e42)))


@pytest.mark.parametrize("run", ["a", "other"])
def test_seeded_choices_are_recorded_beside_the_results(run, runs):
    res = runs[run]
    seed = res["G"].profile.seed
    for name in ("G", "oracle"):
        entry = res[name].entry
        config = json.loads(entry.config_path.read_text())
        summary = json.loads(entry.file("summary.json").read_text())
        assert config["seed"] == seed and summary["seed"] == seed and summary["profile"]["seed"] == seed
        assert summary["sampling"] == SAMPLING
        assert "(seed, epoch, slice index" in summary["sampling"]["train_masks"]
        assert "file name" in summary["sampling"]["eval_masks"]
        assert config["manifest_hash"] and summary["roles"] == list(res[name].roles)
    for method in METHODS:
        unl = res[method]
        summary = json.loads(unl.entry.file("summary.json").read_text())
        assert summary["seed"] == seed and summary["retain_seed"] == seed
        assert summary["retain_files"] == unl.retain_files and summary["retain_files"]
        assert summary["retain_fraction"] == res["G"].profile.retain_fraction
        assert summary["original"] == f"train/{res['G'].entry.key}"
        assert "retain_subset" in summary["sampling"] and "method_noise" in summary["sampling"]
        assert summary["sampling"]["train_masks"] == SAMPLING["train_masks"]
        assert json.loads(unl.entry.config_path.read_text())["config"]["retain_files"] == unl.retain_files
        # the per-volume numbers behind the table are stored beside the weights
        stored = pd.read_csv(unl.entry.file("final_per_volume.csv"))
        assert list(stored.file) == list(unl.final.file)
        assert stored.psnr.tolist() == pytest.approx(unl.final.psnr.tolist(), rel=1e-12)


def test_same_weights_sees_one_changed_value_and_refuses_two_architectures(same_weights):
    """The comparison every test of identical weights uses: one value one ulp away is a difference,
    buffers count, and states of two architectures cannot be compared."""
    model = torch.nn.BatchNorm1d(3)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert same_weights(model, state) and same_weights(state, model)
    state["weight"][1] = torch.nextafter(state["weight"][1], torch.tensor(2.0))
    assert not same_weights(model, state)
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    buffers["running_mean"][0] = 1.0
    assert not same_weights(model, buffers)
    with pytest.raises(AssertionError, match="different tensors"):
        same_weights(model, torch.nn.Linear(3, 3))
