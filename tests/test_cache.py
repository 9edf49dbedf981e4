"""Run cache (hit / miss / half-written entries) and checkpoints (config check, corruption)."""

from __future__ import annotations

import json

import pytest
import torch

from mriunlearn import train as train_mod
from mriunlearn.cache import RunCache
from mriunlearn.checkpoint import load_checkpoint, save_checkpoint
from mriunlearn.errors import CheckpointError
from mriunlearn.lock import EntryLock
from mriunlearn.model import build_model
from mriunlearn.train import train


def test_cache_miss_then_hit_loads_without_training(smoke_manifest, smoke_profile, run_cache, monkeypatch, same_weights):
    first = train(smoke_profile, smoke_manifest, ["retain"], cache=run_cache, progress=False)
    assert not first.cached and first.entry.is_done()
    for name in ("config.json", "model.pt", "checkpoint.pt", "history.csv", "summary.json", "DONE"):
        assert (first.entry.path / name).exists(), name
    monkeypatch.setattr(train_mod, "train_step", lambda *a, **k: pytest.fail("trained on a cache hit"))
    second = train(smoke_profile, smoke_manifest, ["retain"], cache=run_cache, progress=False)
    assert second.cached and second.entry.path == first.entry.path
    assert same_weights(first.model, second.model)
    assert second.history.equals(first.history) or second.history.round(10).equals(first.history.round(10))
    assert second.slice_steps == first.slice_steps


def test_half_written_entry_is_not_taken_as_finished(smoke_manifest, smoke_profile, run_cache):
    first = train(smoke_profile, smoke_manifest, ["retain"], cache=run_cache, progress=False)
    first.entry.reset()  # as if killed before DONE
    (first.entry.path / "model.pt").unlink()
    again = train(smoke_profile, smoke_manifest, ["retain"], cache=run_cache, progress=False)
    assert not again.cached and again.entry.is_done() and (again.entry.path / "model.pt").exists()


def test_key_depends_on_config_manifest_and_seed(tmp_path):
    cache = RunCache(tmp_path)
    base = cache.key("train", {"a": 1}, "m1", 42)
    assert base == cache.key("train", {"a": 1}, "m1", 42)
    assert len({base, cache.key("train", {"a": 2}, "m1", 42), cache.key("train", {"a": 1}, "m2", 42),
                cache.key("train", {"a": 1}, "m1", 43), cache.key("unlearn", {"a": 1}, "m1", 42)}) == 5


def test_key_changes_with_numerics_version(tmp_path, monkeypatch):
    """A runs/ folder made by code with other numerics is not served as a cache hit."""
    from mriunlearn import cache as cache_mod

    cache = RunCache(tmp_path)
    entry = cache.entry("train", {"a": 1}, "m1", 42)
    cache.run(entry, lambda e: None, lambda e: pytest.fail("a new entry was loaded"))
    assert json.loads(entry.config_path.read_text())["numerics"] == cache_mod.NUMERICS_VERSION
    monkeypatch.setattr(cache_mod, "NUMERICS_VERSION", cache_mod.NUMERICS_VERSION + 1)
    newer = cache.entry("train", {"a": 1}, "m1", 42)
    assert newer.key != entry.key and not newer.is_done()


@pytest.mark.parametrize("folder", ["", "unlearn_seeds_3/figures", "nl_ablation/figures"])
def test_keys_of_the_committed_runs_are_what_the_code_computes(folder, tmp_path):
    """The cache keys notebook 03 recorded for its runs (G, the oracle, every unlearning run) come
    out of today's key configs: a change that moves a key fails here, not as a silent retraining.
    Rebuilt from the record alone (manifest CSV, profile, methods, retain files, seeds), no data."""
    import pandas as pd

    from mriunlearn import paths
    from mriunlearn.manifest import Manifest
    from mriunlearn.profiles import RUNTIME_FIELDS, get_profile
    from mriunlearn.unlearning import get_method, validate_params
    from mriunlearn.unlearning.runner import UnlearnPlan

    record = json.loads((paths.REFERENCE_DIR / folder / "03_table1.json").read_text())
    saved = {k: v for k, v in record["profile"].items() if k not in (*RUNTIME_FIELDS, "description", "name")}
    profile = get_profile(record["profile"]["name"], **saved)
    # a run of an earlier default keeps the split it ran on beside its figures folder
    kept = (paths.REFERENCE_DIR / folder).parent / "manifest.csv"
    source = kept if folder and kept.exists() else paths.ROOT / record["manifest"]
    manifest = Manifest(pd.read_csv(source), paths.ROOT / "data" / "default")
    assert manifest.content_hash() == record["manifest_hash"]
    cache = RunCache(tmp_path)
    for roles, recorded in [(("retain", "forget"), record["original_key"]), (("retain",), record["oracle_key"])]:
        assert cache.entry("train", train_mod.train_config(profile, roles, None), record["manifest_hash"],
                           profile.seed).key == recorded, roles
    assert len(record["runs"]) >= 13
    for name, run in record["runs"].items():
        cls = get_method(run["method"])
        plan = UnlearnPlan(
            method=run["method"], profile=profile, manifest=manifest, params=validate_params(run["method"], run["params"]),
            seed=run["seed"], retain_files=[paths.ROOT / f for f in run["retain_files"]],
            retain_fraction={"subset": profile.retain_fraction, "all": 1.0, "none": None}[cls.retain_scope],
            retain_drawn=cls.retain_scope == "subset", epochs=cls.epoch_budget(profile), steps=None,
            resume_optimizer=True, eval_every_epoch=True)
        original = None if run["method"] == "retrain" else f"train/{record['original_key']}"
        assert plan.entry(cache, original).key == run["cache_key"], name


def test_generic_run_builds_once(tmp_path):
    cache = RunCache(tmp_path)
    calls = []

    def build(entry):
        calls.append(entry.key)
        entry.write_json("result.json", {"x": 1})
        return "built"

    def load(entry):
        return entry.read_json("result.json")

    entry = cache.entry("unlearn", {"method": "ft"}, "m", 0)
    got, hit = cache.run(entry, build, load)
    assert (got, hit) == ("built", False) and entry.is_done() and entry.read_json("result.json") == {"x": 1}
    got2, hit2 = cache.run(cache.entry("unlearn", {"method": "ft"}, "m", 0), build, load)
    assert (got2, hit2) == ({"x": 1}, True) and len(calls) == 1
    assert [e.key for e in cache.entries("unlearn")] == [entry.key]

    def broken(entry):
        raise RuntimeError("killed")

    failed = cache.entry("unlearn", {"method": "ga"}, "m", 0)
    with pytest.raises(RuntimeError):
        cache.run(failed, broken, load)
    assert failed.path.is_dir() and not failed.is_done()
    assert cache.run(failed, build, load) == ("built", False) and failed.is_done()  # computed again


def test_checkpoint_for_another_config_is_refused(tmp_path, smoke_profile):
    model = build_model(smoke_profile)
    opt = torch.optim.Adam(model.parameters())
    path = save_checkpoint(tmp_path / "ck.pt", model, opt, None, 3, {"profile": "smoke", "epochs": 2})
    assert load_checkpoint(path, {"profile": "smoke", "epochs": 2})["epoch"] == 3
    with pytest.raises(CheckpointError, match=r"ck\.pt.*written for config \w+.*requested config \w+.*epochs=2->5"):
        load_checkpoint(path, {"profile": "smoke", "epochs": 5})


def test_corrupt_checkpoint_names_the_file(tmp_path, smoke_profile):
    path = save_checkpoint(tmp_path / "ck.pt", build_model(smoke_profile), None, None, 0, {})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"ck\.pt.*corrupt"):
        load_checkpoint(path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")


def test_training_holds_the_entry_lock_and_releases_it_on_exception(smoke_manifest, smoke_profile, run_cache):
    seen = []

    def stop(epoch, record):
        seen.append(next(run_cache.root.glob("train/*/LOCK")).exists())
        raise KeyboardInterrupt  # as if interrupted after the first epoch

    with pytest.raises(KeyboardInterrupt):
        train(smoke_profile, smoke_manifest, ["retain"], cache=run_cache, progress=False, on_epoch_end=stop)
    entry = run_cache.entry("train", train_mod.train_config(smoke_profile, ("retain",), None),
                            smoke_manifest.content_hash(), smoke_profile.seed)
    assert seen == [True] and entry.checkpoint_path.exists() and not entry.lock_path.exists()


def test_training_an_entry_another_job_holds_stops_naming_it(smoke_manifest, smoke_profile, tmp_path,
                                                             monkeypatch):
    import os
    import socket

    from mriunlearn.errors import EntryLockedError

    cache = RunCache(tmp_path / "runs", lock_wait=0)
    entry = cache.entry("train", train_mod.train_config(smoke_profile, ("retain",), None),
                        smoke_manifest.content_hash(), smoke_profile.seed)
    with cache.lock(entry), monkeypatch.context() as patch:  # "another job": a live pid on this host
        patch.setattr(train_mod, "train_step", lambda *a, **k: pytest.fail("trained a locked entry"))
        with pytest.raises(EntryLockedError, match=rf"{entry.path}.*pid {os.getpid()} on host "
                                                   rf"{socket.gethostname()}, started "):
            train(smoke_profile, smoke_manifest, ["retain"], cache=cache, progress=False)
    assert not entry.checkpoint_path.exists()
    done = train(smoke_profile, smoke_manifest, ["retain"], cache=cache, progress=False)
    assert not done.cached and done.entry.is_done() and not entry.lock_path.exists()
    with cache.lock(entry):  # a finished entry is loaded while another job holds its lock
        assert train(smoke_profile, smoke_manifest, ["retain"], cache=cache, progress=False).cached


def test_unlearning_holds_the_entry_lock_and_stops_on_a_held_one(smoke_manifest, smoke_profile, tmp_path,
                                                                 monkeypatch):
    from mriunlearn.errors import EntryLockedError
    from mriunlearn.model import build_model
    from mriunlearn.unlearning import runner

    cache = RunCache(tmp_path / "runs", lock_wait=0)
    g = build_model(smoke_profile)  # G as a model: nothing to train
    locks = []

    def first_step(*args, **kwargs):  # the first work done under the lock
        locks.extend(cache.root.glob("unlearn/*/LOCK"))
        raise RuntimeError("stop")

    monkeypatch.setattr(runner, "EvalData", lambda: first_step)  # loading the run's evaluation slices
    with pytest.raises(RuntimeError, match="stop"):
        runner.run_unlearning(smoke_profile, smoke_manifest, "ga", original=g, cache=cache, progress=False)
    assert len(locks) == 1 and not locks[0].exists()  # held while computing, released on the exception
    with EntryLock(locks[0]):
        with pytest.raises(EntryLockedError, match=f"{locks[0].parent}.*pid"):
            runner.run_unlearning(smoke_profile, smoke_manifest, "ga", original=g, cache=cache, progress=False)
