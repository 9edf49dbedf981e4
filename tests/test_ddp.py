"""The training entry point under ``torchrun`` (2 CPU processes, gloo) equals one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mriunlearn.cache import RunCache
from mriunlearn.train import train

ROOT = Path(__file__).resolve().parents[1]


def test_two_process_ddp_matches_single_process(smoke_data, smoke_manifest, smoke_profile, tmp_path):
    manifest_csv, data_root = smoke_data
    n = smoke_manifest.num_slices("retain") + smoke_manifest.num_slices("forget")
    # a global batch of n-1 slices: the first is split unevenly, the last (1 slice) leaves rank 1 empty
    batch = n - 1
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "mriunlearn", "train",
           "--profile", "smoke", "--manifest", str(manifest_csv), "--data-root", str(data_root),
           "--runs", str(tmp_path / "ddp"), "--no-progress", "--set", f"batch_size={batch}",
           "--model", "original"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("original: trained") == 1  # rank 0 alone reports

    prof = smoke_profile.replace(batch_size=batch)
    single = train(prof, smoke_manifest, ["retain", "forget"], cache=RunCache(tmp_path / "one"), progress=False)
    ddp_entry = RunCache(tmp_path / "ddp").entry("train", single.entry.config, smoke_manifest.content_hash(), prof.seed)
    assert ddp_entry.key == single.entry.key and ddp_entry.is_done()
    # float32 results differ with the batch split (in float64 they agree to 1e-14, see below);
    # Adam's normalised steps amplify that for near-zero gradients: compare up to tolerance
    hist = ddp_entry.read_csv("history.csv")
    np.testing.assert_allclose(hist.train_loss.iloc[0], single.history.train_loss.iloc[0], rtol=1e-5)
    for col in ("train_loss", "val_loss", "val_psnr"):
        np.testing.assert_allclose(hist[col], single.history[col], rtol=5e-3, err_msg=col)
    a, b = ddp_entry.load_state_dict(), single.model.state_dict()
    diff = torch.cat([(a[k] - b[k]).abs().flatten() for k in b])
    print("weight difference: median", diff.median().item(), "max", diff.max().item())
    steps = prof.epochs * 2  # two global batches per epoch
    assert diff.median() < 2e-4 and diff.max() < 2 * prof.lr * steps  # Adam moves <= ~lr per step
    assert (diff < 1e-3).float().mean() > 0.99


def test_split_batch_gradient_equals_global_batch_gradient(smoke_manifest, smoke_profile):
    """The loss scaling of train_step: ranks' gradients averaged (as DDP does) equal the
    single-process gradient of the whole global batch, exactly in float64."""
    from mriunlearn.dataset import SliceData, collate
    from mriunlearn.model import build_model
    from mriunlearn.train import train_step

    data = SliceData.from_manifest(smoke_manifest, ["retain", "forget"], smoke_profile, train=True)
    prof = smoke_profile.replace(grad_clip=0.0)
    global_batch = list(range(7))

    def grads(idx, world):
        model = build_model(prof).double()
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        b = collate([data[i] for i in idx])
        b = b._replace(masked_kspace=b.masked_kspace.double(), target=b.target.double())
        train_step(model, opt, b, prof, global_count=len(global_batch), world_size=world)
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    whole = grads(global_batch, 1)
    averaged = (grads(global_batch[0::2], 2) + grads(global_batch[1::2], 2)) / 2
    assert torch.allclose(whole, averaged, rtol=1e-10, atol=1e-14)
    assert whole.abs().max() > 0


def test_ddp_entry_held_by_another_job_stops_every_rank(smoke_data, smoke_manifest, smoke_profile, tmp_path):
    """Rank 0 alone takes the entry's lock; when another job holds it, every rank stops with the
    holder's name instead of rank 1 waiting forever in a collective.

    The two ranks are started as plain processes joined by gloo (what torchrun sets up, without its
    agent): torchrun's agent SIGTERMs the other ranks as soon as one fails, so under torchrun rank 1's
    own exit could not be observed (that race failed this test once in CI)."""
    import socket

    from mriunlearn.train import train_config

    manifest_csv, data_root = smoke_data
    cache = RunCache(tmp_path / "ddp")
    entry = cache.entry("train", train_config(smoke_profile, ("retain", "forget"), None),
                        smoke_manifest.content_hash(), smoke_profile.seed)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "mriunlearn", "train", "--profile", "smoke", "--manifest", str(manifest_csv),
           "--data-root", str(data_root), "--runs", str(cache.root), "--no-progress", "--model", "original",
           "--lock-wait", "0"]
    base = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2"}
    with cache.lock(entry):  # "another job": this test process
        procs = [subprocess.Popen(cmd, cwd=tmp_path, env={**base, "RANK": str(r), "LOCAL_RANK": str(r)},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
        outs = [p.communicate(timeout=240) for p in procs]  # a rank left in a collective would time out
    for rank, (proc, (_, err)) in enumerate(zip(procs, outs)):
        assert proc.returncode == 2, (rank, err[-2000:])
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, (rank, err[-2000:])  # each rank stopped with the holder's name
        assert f"pid {os.getpid()} on host" in errors[0] and str(entry.path) in errors[0]
    assert "is being computed by another job" in outs[0][1]  # rank 0 met the lock itself
    assert "error: rank 0 could not claim" in outs[1][1]  # rank 1 learnt it from rank 0, did not wait
    assert not entry.checkpoint_path.exists()
