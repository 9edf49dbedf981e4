"""Published base models (mriunlearn.base_models): a shipped run is restored instead of trained,
only under its exact key, and a damaged store stops naming the file without touching the cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mriunlearn import base_models, paths
from mriunlearn.cache import DONE, RunCache
from mriunlearn.cli import main as cli_main
from mriunlearn.errors import CheckpointError, ConfigError
from mriunlearn.train import RUN_FILES, train_oracle


@pytest.fixture()
def shipped(smoke_manifest, smoke_profile, tmp_path, monkeypatch):
    """A store holding the smoke oracle trained once (through ``python -m mriunlearn ship``), the
    environment pointing at it, and that trained run."""
    trained = train_oracle(smoke_profile, smoke_manifest, cache=RunCache(tmp_path / "cold"), progress=False)
    store = tmp_path / "models"
    assert cli_main(["ship", "--runs", str(tmp_path / "cold"), "--store", str(store)]) == 0
    monkeypatch.setenv("MRIUNLEARN_BASE_MODELS", str(store))
    return store, trained


def test_a_shipped_run_is_restored_not_trained(shipped, smoke_manifest, smoke_profile, tmp_path, same_weights):
    store, trained = shipped
    folder = store / "train" / trained.entry.key
    assert sorted(p.name for p in folder.iterdir()) == sorted(RUN_FILES)
    assert (store / base_models.SUMS).read_text().count(f"train/{trained.entry.key}/") == len(list(folder.iterdir()))
    restored = train_oracle(smoke_profile, smoke_manifest, cache=RunCache(tmp_path / "fresh"), progress=False)
    assert restored.cached  # loaded as a finished entry: no epoch ran
    assert same_weights(restored.model, trained.model)
    assert restored.history.equals(trained.history)
    provenance = json.loads((restored.entry.path / base_models.RESTORED_JSON).read_text())
    assert set(provenance["sha256"]) == {p.name for p in folder.iterdir()}
    assert restored.entry.checkpoint_path.read_bytes() == trained.entry.checkpoint_path.read_bytes()
    # an analysis cached in the entry later, and the provenance record, are not part of the run
    restored.entry.write_csv("metrics_test_brain.csv", restored.history)
    base_models.export([restored.entry.path], tmp_path / "again", RUN_FILES)
    assert sorted(p.name for p in (tmp_path / "again" / "train" / trained.entry.key).iterdir()) == sorted(RUN_FILES)


def test_another_key_or_the_cold_path_trains(shipped, smoke_manifest, smoke_profile, tmp_path, monkeypatch):
    other_seed = train_oracle(smoke_profile.replace(seed=smoke_profile.seed + 1), smoke_manifest,
                              cache=RunCache(tmp_path / "seed"), progress=False)
    assert not other_seed.cached and other_seed.entry.checkpoint_path.exists()
    monkeypatch.setenv("MRIUNLEARN_BASE_MODELS", "off")
    assert paths.base_models_dir() is None
    cold = train_oracle(smoke_profile, smoke_manifest, cache=RunCache(tmp_path / "off"), progress=False)
    assert not cold.cached and not (cold.entry.path / base_models.RESTORED_JSON).exists()


@pytest.mark.parametrize("damage", ["changed", "missing", "unpinned", "identity"])
def test_a_damaged_store_is_named_and_leaves_the_entry_unfinished(shipped, damage, smoke_manifest, smoke_profile,
                                                                   tmp_path):
    store, trained = shipped
    folder = store / "train" / trained.entry.key
    if damage == "changed":
        (folder / "model.pt").write_bytes((folder / "model.pt").read_bytes() + b"\0")
        bad = "model.pt"
    elif damage == "missing":
        (folder / "history.csv").unlink()
        bad = "history.csv"
    elif damage == "unpinned":
        (folder / "notes.txt").write_text("not pinned")
        bad = "notes.txt"
    else:  # a config.json of another run, pinned: the folder's name is not that run's key
        record = json.loads((folder / "config.json").read_text())
        record["seed"] += 1
        (folder / "config.json").write_text(json.dumps(record))
        base_models.write_sums(store)
        bad = "config.json does not describe"
    cache = RunCache(tmp_path / "fresh")
    with pytest.raises(CheckpointError, match=bad):
        train_oracle(smoke_profile, smoke_manifest, cache=cache, progress=False)
    entry = cache.entries("train")
    assert entry == [] and not list((tmp_path / "fresh" / "train").glob(f"*/{DONE}"))
    assert not list((tmp_path / "fresh" / "train").glob("*/model.pt"))


def test_export_refuses_unfinished_runs_and_an_oversized_store(shipped, tmp_path, monkeypatch):
    store, trained = shipped
    unfinished = tmp_path / "runs" / "train" / "abc"
    unfinished.mkdir(parents=True)
    with pytest.raises(ConfigError, match="not a finished run"):
        base_models.export([unfinished], store, RUN_FILES)
    entry_mb = sum(p.stat().st_size for p in (store / "train" / trained.entry.key).iterdir()) / 2**20
    monkeypatch.setattr(base_models, "MAX_STORE_MB", 1.5 * entry_mb)
    # shipping the same run again replaces it: its old copy does not count against the limit
    assert base_models.export([trained.entry.path], store, RUN_FILES) == [store / "train" / trained.entry.key]
    monkeypatch.setattr(base_models, "MAX_STORE_MB", 0.001)
    before = (store / base_models.SUMS).read_text()
    with pytest.raises(ConfigError, match="would exceed"):
        base_models.export([trained.entry.path], tmp_path / "other", RUN_FILES)
    assert not (tmp_path / "other").exists() and (store / base_models.SUMS).read_text() == before


def test_the_committed_store_is_pinned_small_and_serves_the_default():
    """Every committed base model file matches its pinned hash, the store fits its size limit, and it
    ships exactly the G and Ĝ the committed notebook 03 used (whose keys ``test_cache`` rebuilds from
    today's code) and the reference oracles its membership test was calibrated by. After a change that moves them: ``make reproduce COLD=1``, then
    ``python -m mriunlearn ship --runs runs``."""
    from mriunlearn.atomic import sha256_file

    store = paths.ROOT / "models"
    sums = base_models.read_sums(store)
    files = [p for p in store.rglob("*") if p.is_file() and p.name != base_models.SUMS]
    assert sorted(p.relative_to(store).as_posix() for p in files) == sorted(sums)
    assert all(sha256_file(store / rel) == digest for rel, digest in sums.items())
    assert sum(p.stat().st_size for p in files) / 2**20 <= base_models.MAX_STORE_MB
    record = json.loads((paths.REFERENCE_DIR / "03_table1.json").read_text())
    references = json.loads((paths.REFERENCE_DIR / "03_forgetting.json").read_text())["mia_reference_keys"]
    assert {p.name for p in (store / "train").iterdir()} == {record["original_key"], record["oracle_key"], *references}


def test_unlearning_from_a_restored_g_resumes_its_adam_state(smoke_manifest, smoke_profile, tmp_path, monkeypatch,
                                                             same_weights):
    """G restored from a store carries its final checkpoint, so unlearning resumes G's Adam state and
    gives the same weights as from the G that was trained here."""
    from mriunlearn.train import train_original
    from mriunlearn.unlearning.runner import run_unlearning

    trained = train_original(smoke_profile, smoke_manifest, cache=RunCache(tmp_path / "cold"), progress=False)
    base_models.export([trained.entry.path], tmp_path / "models", RUN_FILES)
    monkeypatch.setenv("MRIUNLEARN_BASE_MODELS", str(tmp_path / "models"))
    restored = train_original(smoke_profile, smoke_manifest, cache=RunCache(tmp_path / "fresh"), progress=False)
    assert restored.cached
    runs = [run_unlearning(smoke_profile, smoke_manifest, "ga", original=g, cache=RunCache(tmp_path / f"u{i}"),
                           progress=False, steps=2, eval_every_epoch=False) for i, g in enumerate((trained, restored))]
    assert same_weights(runs[0].model, runs[1].model)


@pytest.mark.parametrize(("cold", "off"), [("1", True), ("0", False), ("", False)])
def test_make_reproduce_cold_turns_the_store_off(cold, off):
    """``make reproduce COLD=1`` runs the notebooks with the store off; any other value keeps it."""
    import subprocess

    out = subprocess.run(["make", "-n", "--no-print-directory", "reproduce", "PY=python", f"COLD={cold}"],
                         cwd=paths.ROOT, check=True, capture_output=True, text=True, timeout=60).stdout
    [line] = [line for line in out.splitlines() if "mriunlearn.reproduce" in line]
    assert ("MRIUNLEARN_BASE_MODELS=off " in line) is off
