"""Interruptions: a real SIGKILL of a training / unlearning child process, and disk-full or
permission errors while writing.

Guarantee under test: an interrupted run never leaves a cache entry that a later run trusts (no
``DONE``; a half-written temporary file is never taken for a real one), and the next call resumes
from the last full epoch (training) or redoes the run (unlearning) and ends with exactly the weights
of an uninterrupted run with the same seed. The killed child's entry lock stays behind and is taken
over as stale (its pid is gone) by the next run.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from mriunlearn import atomic
from mriunlearn.cache import RunCache
from mriunlearn.checkpoint import load_checkpoint
from mriunlearn.errors import CheckpointError
from mriunlearn.lock import StaleLockWarning
from mriunlearn.train import train_config, train_original
from mriunlearn.unlearning import run_unlearning

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
ROLES = ("retain", "forget")
KILL_EPOCHS = 4  # smoke profile with more epochs: time to kill mid-run

#: the child: train G (or unlearn) on the smoke profile, slowed down a little and logging progress
CHILD = textwrap.dedent("""
    import sys, time, os
    import torch
    from mriunlearn import train as T
    from mriunlearn.cache import RunCache
    from mriunlearn.profiles import get_profile
    manifest, root, runs, epochs, log, mode = sys.argv[1:7]
    prof = get_profile("smoke", manifest=manifest, data_root=root, epochs=int(epochs))
    cache = RunCache(runs)

    def note(text):
        with open(log, "a") as fh:
            fh.write(text + "\\n")

    if mode == "train_mid_epoch":
        step = T.train_step
        def slow_step(*a, **k):
            out = step(*a, **k)
            note("step")
            time.sleep(0.1)
            return out
        T.train_step = slow_step
    elif mode == "train_mid_write":
        save = torch.save
        calls = []
        def half_save(obj, path, *a, **k):
            calls.append(path)
            if len(calls) < 2:
                return save(obj, path, *a, **k)
            import io
            buf = io.BytesIO()
            save(obj, buf)
            with open(path, "wb") as fh:  # the temporary file of the 2nd checkpoint, half written
                fh.write(buf.getvalue()[: len(buf.getvalue()) // 2])
                fh.flush()
                os.fsync(fh.fileno())
            note("writing " + str(path))
            time.sleep(600)
        torch.save = half_save
    if mode.startswith("train"):
        T.train(prof, None, ("retain", "forget"), cache=cache, progress=False)
    else:
        from mriunlearn.unlearning import runner as R
        evaluate = R._evaluate
        def noted_evaluate(*a, **k):
            out = evaluate(*a, **k)
            note("evaluated")
            time.sleep(0.2)
            return out
        R._evaluate = noted_evaluate
        R.run_unlearning(prof, None, "nl_ft", cache=cache, progress=False, epochs=int(sys.argv[7]))
    note("finished")
""")


def _temp_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".*.tmp"))


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _run_and_kill(args: list[str], ready, timeout: float = 120.0) -> subprocess.Popen:
    """Start the child, wait until ``ready()`` holds, then SIGKILL it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"child ended before the kill (rc {proc.returncode}): {proc.stderr.read()[-2000:]!r}")
            if time.monotonic() > deadline:
                pytest.fail("child made no progress")
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return proc


@pytest.fixture(scope="module")
def kill_profile(smoke_profile):
    return smoke_profile.replace(epochs=KILL_EPOCHS)


@pytest.fixture(scope="module")
def reference_g(kill_profile, smoke_manifest, tmp_path_factory):
    """G trained without interruption (its own cache)."""
    return train_original(kill_profile, smoke_manifest, cache=RunCache(tmp_path_factory.mktemp("ref")),
                          progress=False)


def _g_entry(cache: RunCache, profile, manifest):
    return cache.entry("train", train_config(profile, ROLES, None), manifest.content_hash(), profile.seed)


def _resume_and_compare(cache, kill_profile, smoke_manifest, reference_g, first_epoch: int, same_weights) -> None:
    seen = []
    entry = _g_entry(cache, kill_profile, smoke_manifest)
    assert entry.lock_path.exists()  # the killed child could not release its lock ...
    with pytest.warns(StaleLockWarning, match="is gone"):  # ... the next run takes it over
        resumed = train_original(kill_profile, smoke_manifest, cache=cache, progress=False,
                                 on_epoch_end=lambda e, r: seen.append(e))
    assert not entry.lock_path.exists()
    assert seen == list(range(first_epoch, KILL_EPOCHS))  # resumed after the last full epoch
    assert not resumed.cached and resumed.entry.is_done()
    assert same_weights(resumed.model, reference_g.model)
    assert resumed.history.train_loss.tolist() == reference_g.history.train_loss.tolist()
    assert _temp_files(resumed.entry.path) == []  # leftovers of the killed write were removed


def test_sigkill_mid_epoch_then_resume_gives_identical_weights(smoke_data, smoke_manifest, kill_profile,
                                                               reference_g, tmp_path, same_weights):
    csv, root = smoke_data
    cache = RunCache(tmp_path / "runs")
    entry = _g_entry(cache, kill_profile, smoke_manifest)
    log = tmp_path / "log.txt"
    steps_per_epoch = -(-(smoke_manifest.num_slices("retain") + smoke_manifest.num_slices("forget"))
                        // kill_profile.batch_size)
    # kill two steps into the epoch after the first checkpoint appeared
    _run_and_kill([str(csv), str(root), str(cache.root), str(KILL_EPOCHS), str(log), "train_mid_epoch"],
                  lambda: entry.checkpoint_path.exists() and len(_lines(log)) >= steps_per_epoch + 2)
    assert not entry.is_done() and not entry.model_path.exists()
    last = load_checkpoint(entry.checkpoint_path, config=entry.identity())["epoch"]
    assert last < KILL_EPOCHS - 1
    assert len(_lines(log)) > (last + 1) * steps_per_epoch  # work of an unfinished epoch was lost
    assert "finished" not in _lines(log)
    _resume_and_compare(cache, kill_profile, smoke_manifest, reference_g, last + 1, same_weights)


def test_sigkill_while_writing_a_checkpoint_keeps_the_previous_one(smoke_data, smoke_manifest, kill_profile,
                                                                   reference_g, tmp_path, same_weights):
    csv, root = smoke_data
    cache = RunCache(tmp_path / "runs")
    entry = _g_entry(cache, kill_profile, smoke_manifest)
    log = tmp_path / "log.txt"
    _run_and_kill([str(csv), str(root), str(cache.root), str(KILL_EPOCHS), str(log), "train_mid_write"],
                  lambda: any(line.startswith("writing") for line in _lines(log)))
    partial = _temp_files(entry.path)
    assert len(partial) == 1 and partial[0].name.startswith(".checkpoint.pt.")  # killed mid-write
    with pytest.raises(CheckpointError):
        load_checkpoint(partial[0])  # really half a file
    assert load_checkpoint(entry.checkpoint_path, config=entry.identity())["epoch"] == 0
    assert not entry.is_done() and not entry.model_path.exists()
    _resume_and_compare(cache, kill_profile, smoke_manifest, reference_g, 1, same_weights)


def test_sigkill_mid_unlearning_then_rerun_gives_identical_result(smoke_data, smoke_manifest, smoke_profile,
                                                                  tmp_path, same_weights):
    csv, root = smoke_data
    cache = RunCache(tmp_path / "runs")
    g = train_original(smoke_profile, smoke_manifest, cache=cache, progress=False)  # cached for the child
    epochs = 3
    log = tmp_path / "log.txt"
    _run_and_kill([str(csv), str(root), str(cache.root), str(smoke_profile.epochs), str(log), "unlearn",
                   str(epochs)], lambda: len(_lines(log)) >= 1)  # after epoch 1 was evaluated
    assert "finished" not in _lines(log)
    assert [p.name for p in (cache.root / "train").iterdir()] == [g.entry.key]  # the child used this G
    assert not any((cache.root / "unlearn").glob("*/DONE"))
    assert not any((cache.root / "unlearn").glob("*/model.pt"))
    assert len(list((cache.root / "unlearn").glob("*/LOCK"))) == 1  # left by the killed child
    with pytest.warns(StaleLockWarning, match="is gone"):
        rerun = run_unlearning(smoke_profile, smoke_manifest, "nl_ft", original=g, cache=cache, progress=False,
                               epochs=epochs)
    assert not rerun.entry.lock_path.exists()
    assert not rerun.cached and rerun.entry.is_done()
    reference = run_unlearning(smoke_profile, smoke_manifest, "nl_ft", original=g,
                               cache=RunCache(tmp_path / "ref"), progress=False, epochs=epochs)
    assert rerun.entry.key == reference.entry.key
    assert same_weights(rerun.model, reference.model)
    assert rerun.final.equals(reference.final)
    assert len(rerun.per_epoch.epoch.unique()) == epochs


# ---- disk full / permission errors while writing -----------------------------------------------

@pytest.fixture(scope="module")
def reference_3(smoke_profile, smoke_manifest):
    """Uninterrupted 3-epoch G (no cache)."""
    return train_original(smoke_profile.replace(epochs=3), smoke_manifest, cache=False, progress=False)


def _failing_save(monkeypatch, fail_on: int, exc: OSError) -> list[int]:
    """``torch.save`` that writes some bytes then raises ``exc`` on its ``fail_on``-th call."""
    real = torch.save
    calls: list[int] = []

    def save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) == fail_on:
            with open(f, "wb") as fh:
                fh.write(b"PK\x03\x04 partial")
            raise exc
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    return calls


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(smoke_profile, smoke_manifest,
                                                                     reference_3, tmp_path, monkeypatch, same_weights):
    prof = smoke_profile.replace(epochs=3)
    cache = RunCache(tmp_path / "runs")
    _failing_save(monkeypatch, 2, OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OSError) as exc:
        train_original(prof, smoke_manifest, cache=cache, progress=False)
    assert exc.value.errno == errno.ENOSPC
    entry = _g_entry(cache, prof, smoke_manifest)
    assert load_checkpoint(entry.checkpoint_path, config=entry.identity())["epoch"] == 0
    assert not entry.is_done() and not entry.model_path.exists() and _temp_files(cache.root) == []
    monkeypatch.undo()
    resumed = train_original(prof, smoke_manifest, cache=cache, progress=False)
    assert same_weights(resumed.model, reference_3.model)


def test_permission_error_on_the_final_rename_leaves_no_done(smoke_profile, smoke_manifest, reference_3,
                                                            tmp_path, monkeypatch, same_weights):
    prof = smoke_profile.replace(epochs=3)
    cache = RunCache(tmp_path / "runs")
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst).name == "model.pt":
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(PermissionError):
        train_original(prof, smoke_manifest, cache=cache, progress=False)
    monkeypatch.undo()
    entry = _g_entry(cache, prof, smoke_manifest)
    assert load_checkpoint(entry.checkpoint_path, config=entry.identity())["epoch"] == 2
    assert not entry.is_done() and not entry.model_path.exists() and _temp_files(cache.root) == []
    seen = []
    done = train_original(prof, smoke_manifest, cache=cache, progress=False, on_epoch_end=lambda e, r: seen.append(e))
    assert seen == [] and done.entry.is_done()  # nothing retrained: the last checkpoint was complete
    assert same_weights(done.model, reference_3.model)


def test_disk_full_while_saving_an_unlearning_result(smoke_profile, smoke_manifest, tmp_path, monkeypatch, same_weights):
    cache = RunCache(tmp_path / "runs")
    g = train_original(smoke_profile, smoke_manifest, cache=cache, progress=False)
    _failing_save(monkeypatch, 1, OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OSError, match="No space left"):
        run_unlearning(smoke_profile, smoke_manifest, "nl_ft", original=g, cache=cache, progress=False)
    monkeypatch.undo()
    assert not any((cache.root / "unlearn").glob("*/DONE")) and _temp_files(cache.root) == []
    again = run_unlearning(smoke_profile, smoke_manifest, "nl_ft", original=g, cache=cache, progress=False)
    reference = run_unlearning(smoke_profile, smoke_manifest, "nl_ft", original=g, cache=False, progress=False)
    assert not again.cached and again.entry.is_done()
    assert same_weights(again.model, reference.model)
    assert again.final.equals(reference.final)
