"""Training: determinism, resume after interruption, final checkpoint contents, roles."""

from __future__ import annotations

import pytest
import torch

from mriunlearn.checkpoint import load_checkpoint
from mriunlearn.errors import ConfigError
from mriunlearn.train import train, train_oracle, train_original


class Interrupt(Exception):
    pass


def test_same_seed_gives_identical_weights(smoke_manifest, smoke_profile, same_weights):
    a = train(smoke_profile, smoke_manifest, ["retain"], cache=False, progress=False)
    b = train(smoke_profile, smoke_manifest, ["retain"], cache=False, progress=False)
    assert same_weights(a.model, b.model)
    c = train(smoke_profile.replace(seed=7), smoke_manifest, ["retain"], cache=False, progress=False)
    assert not same_weights(a.model, c.model)
    assert list(a.history.columns) == ["epoch", "train_loss", "val_loss", "val_psnr", "lr", "seconds", "slices"]
    assert len(a.history) == smoke_profile.epochs
    assert a.slice_steps == smoke_profile.epochs * smoke_manifest.num_slices("retain")
    assert a.history.val_psnr.notna().all() and a.wall_time_s > 0


def test_resume_after_interruption_matches_uninterrupted(smoke_manifest, smoke_profile, run_cache, tmp_path, same_weights):
    from mriunlearn.cache import RunCache

    prof = smoke_profile.replace(epochs=3)
    full = train(prof, smoke_manifest, ["retain", "forget"], cache=RunCache(tmp_path / "other"), progress=False)

    def stop_after_first(epoch, record):
        if epoch == 0:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(prof, smoke_manifest, ["retain", "forget"], cache=run_cache, progress=False,
              on_epoch_end=stop_after_first)
    entry = run_cache.entry("train", full.entry.config, smoke_manifest.content_hash(), prof.seed)
    assert entry.checkpoint_path.exists() and not entry.is_done()
    assert load_checkpoint(entry.checkpoint_path)["epoch"] == 0

    seen = []
    resumed = train(prof, smoke_manifest, ["retain", "forget"], cache=run_cache, progress=False,
                    on_epoch_end=lambda e, r: seen.append(e))
    assert seen == [1, 2]  # only the missing epochs ran
    assert not resumed.cached and resumed.entry.is_done()
    assert same_weights(full.model, resumed.model)
    assert resumed.history.train_loss.tolist() == pytest.approx(full.history.train_loss.tolist(), abs=0)


def test_final_checkpoint_keeps_optimizer_and_scheduler(smoke_manifest, smoke_profile, run_cache):
    g = train_original(smoke_profile, smoke_manifest, cache=run_cache, progress=False)
    state = load_checkpoint(g.entry.checkpoint_path, config=g.entry.identity())
    assert state["epoch"] == smoke_profile.epochs - 1
    assert state["optimizer"]["state"]  # Adam moments present
    assert state["scheduler"]["factor"] == smoke_profile.plateau_factor
    assert len(state["history"]) == smoke_profile.epochs
    assert g.entry.config["roles"] == ["retain", "forget"]
    oracle = train_oracle(smoke_profile, smoke_manifest, cache=run_cache, progress=False)
    assert oracle.entry.key != g.entry.key and oracle.entry.config["roles"] == ["retain"]


def test_init_from_changes_the_run(smoke_manifest, smoke_profile, run_cache, same_weights):
    base = train(smoke_profile, smoke_manifest, ["retain"], cache=run_cache, progress=False)
    tuned = train(smoke_profile.replace(epochs=1), smoke_manifest, ["forget"], cache=run_cache,
                  progress=False, init_from=base)
    assert tuned.entry.config["init_from"] == f"train/{base.entry.key}"
    assert not same_weights(base.model, tuned.model)


def test_bad_roles_are_rejected(smoke_manifest, smoke_profile):
    with pytest.raises(ConfigError, match="retain, forget"):
        train(smoke_profile, smoke_manifest, ["test_brain"], cache=False, progress=False)


def test_progress_bar_goes_to_stderr(smoke_manifest, smoke_profile, capsys, monkeypatch):
    from mriunlearn import train as train_mod

    train(smoke_profile.replace(epochs=1), smoke_manifest, ["forget"], cache=False, progress=True)
    out = capsys.readouterr()
    assert "slice/s" in out.err and "loss=" in out.err and out.out == ""
    monkeypatch.setattr(train_mod, "in_notebook", lambda: True)  # default: off inside Jupyter
    train(smoke_profile.replace(epochs=1), smoke_manifest, ["forget"], cache=False)
    assert capsys.readouterr().err == ""


def test_threads_follow_the_cpu_affinity_split_across_local_ranks(monkeypatch):
    """All usable cores = the process's affinity (a cluster job's cpuset), not the node's core count."""
    from mriunlearn import train as train_mod
    from mriunlearn.profiles import get_profile

    before = torch.get_num_threads()
    monkeypatch.setattr(train_mod.os, "sched_getaffinity", lambda pid: set(range(6)), raising=False)
    monkeypatch.setattr(train_mod.os, "cpu_count", lambda: 128)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # not what limits a run: num_threads does
    try:
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
        train_mod.set_threads(get_profile("smoke", num_threads=0))
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
        train_mod.set_threads(get_profile("smoke", num_threads=0))
        assert torch.get_num_threads() == 6
        train_mod.set_threads(get_profile("smoke", num_threads=1))
        assert torch.get_num_threads() == 1
        monkeypatch.delattr(train_mod.os, "sched_getaffinity")  # a platform without it
        train_mod.set_threads(get_profile("smoke", num_threads=0))
        assert torch.get_num_threads() == 128
    finally:
        torch.set_num_threads(before)
