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


@pytest.mark.slow
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


@pytest.mark.slow
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


_DDP_UNLEARN = """
import json, sys
import torch
from mriunlearn import distributed
from mriunlearn.cache import RunCache
from mriunlearn.manifest import load_manifest
from mriunlearn.profiles import get_profile
from mriunlearn.train import train_original
from mriunlearn.unlearning import run_unlearning

csv, root, out, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
runs = json.loads(sys.argv[5])
prof = get_profile("smoke", manifest=csv, data_root=root, batch_size=batch)
manifest = load_manifest(csv, root)
G = train_original(prof, manifest, cache=RunCache(f"{out}/g"), progress=False)  # finished: loaded
assert G.cached
info = distributed.init()
for name, (method, params) in runs.items():
    res = run_unlearning(prof, manifest, method, params=params, cache=RunCache(f"{out}/ddp"),
                         progress=False, original=G)
    torch.save(res.model.state_dict(), f"{out}/{name}_rank{info.rank}.pt")
distributed.cleanup()
"""

#: the unlearning runs of the two-rank test: a paired method with per-slice noise, and methods whose
#: decisions come from gradients outside the step (SalUn's saliency mask, SSD's importances), and
#: SCRUB's own loop (max steps on D_f, then min steps on D'_r, both against the teacher)
_UNLEARN_RUNS = {"nl_ft": ["nl_ft", {}], "salun": ["salun", {"forget_target": "permuted"}],
                 "ssd": ["ssd", {"importance": "loss", "alpha": 1.0}], "scrub": ["scrub", {}]}


@pytest.mark.slow
def test_two_process_unlearning_is_data_parallel_and_matches_single_process(smoke_data, smoke_manifest,
                                                                          smoke_profile, tmp_path, same_weights):
    """``torchrun --nproc_per_node 2`` unlearning: both ranks end with identical weights, these match
    a single process with the same global batches (training's tolerance), each rank's slice-steps
    are its share of every global batch, and rank 0 alone wrote the (single-process) cache entry."""
    from mriunlearn.train import train_original
    from mriunlearn.unlearning import run_unlearning

    manifest_csv, data_root = smoke_data
    # global batches of 3: every epoch's batches split 2 + 1 and 1 + stand-in (rank 1 holds none)
    batch = 3
    prof = smoke_profile.replace(batch_size=batch)
    # G with its final Adam state, which unlearning resumes (as every real run does); a fresh Adam
    # would turn SCRUB's first max step (student = teacher: a gradient of float rounding only) into
    # steps of size lr in directions set by that rounding, which no two summation orders share
    G = train_original(prof, smoke_manifest, cache=RunCache(tmp_path / "g"), progress=False)
    script = tmp_path / "ddp_unlearn.py"
    script.write_text(_DDP_UNLEARN)
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    import json

    proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(script),
                           str(manifest_csv), str(data_root), str(tmp_path), str(batch),
                           json.dumps(_UNLEARN_RUNS)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    for name, (method, params) in _UNLEARN_RUNS.items():
        single = run_unlearning(prof, smoke_manifest, method, params=params, cache=RunCache(tmp_path / "one"),
                                progress=False, original=G)
        ranks = [torch.load(tmp_path / f"{name}_rank{r}.pt", weights_only=True) for r in (0, 1)]
        # (a) identical weights on both ranks, bit for bit
        assert same_weights(ranks[0], ranks[1]), name
        # rank 0 alone wrote the entry, under the single-process key (world size is not in it)
        ddp_entry = RunCache(tmp_path / "ddp").entry("unlearn", single.entry.config,
                                                     smoke_manifest.content_hash(), prof.seed)
        assert ddp_entry.key == single.entry.key and ddp_entry.is_done(), name
        a, b = ddp_entry.load_state_dict(), single.model.state_dict()
        assert same_weights(a, ranks[0]), name
        # (b) the single-process weights up to float32 reordering (training's DDP standard)
        diff = torch.cat([(a[k] - b[k]).abs().flatten() for k in b])
        moved = torch.cat([(b[k] - G.model.state_dict()[k]).abs().flatten() for k in b])
        print(name, "weight difference: median", diff.median().item(), "max", diff.max().item(),
              "| moved by unlearning: max", moved.max().item())
        steps = 4  # smoke: one unlearning epoch, at most 4 optimiser steps (SCRUB: 2 max + 2 min)
        assert diff.median() < 2e-4 and diff.max() < 2 * prof.lr * steps, name
        assert (diff < 1e-3).float().mean() > 0.99, name
        # (c) each rank processed only its share of the slices: rank 0 two of each batch of 3
        # (2 + 1 per loader pass), rank 1 one of the first and none of the second
        summary = ddp_entry.read_json("summary.json")
        per_rank = summary["info"]["rank_slice_steps"]
        assert summary["world_size"] == 2 and summary["info"]["world_size"] == 2, name
        assert sum(per_rank) == single.slice_steps == summary["slice_steps"], name
        passes = single.slice_steps // 4  # forward+backward passes over 4-slice loaders (2 batches)
        assert per_rank == [3 * passes, passes], (name, per_rank, single.slice_steps)
        assert {k: v for k, v in summary["info"].items() if k not in ("world_size", "rank_slice_steps")} \
            == single.info, name


@pytest.mark.parametrize("method,params", [("nl_ft", {"noise_std": 1e-3}), ("ga_l1_ft", {}),
                                           ("bad_teacher", {}), ("salun", {"forget_target": "permuted"})])
def test_rank_shares_gradient_equals_global_batch_gradient(smoke_manifest, smoke_profile, method, params):
    """The loss weighting of the unlearning steps: each rank's terms on its share of the global
    batches (weighted world*local/global, a stand-in of weight 0 where a rank holds none, noise drawn
    for the global batch, ‖θ‖₁ on every rank), averaged as Method.average_grads does, give the
    single-process gradient of the whole global batches, in float64 (as the training test above)."""
    from mriunlearn.distributed import DistInfo
    from mriunlearn.model import build_model
    from mriunlearn.unlearning import UnlearnConfig, get_method, validate_params
    from mriunlearn.unlearning.base import RankBatch, as_loader, epoch_batches

    prof = smoke_profile.replace(batch_size=3)  # 4 slices per loader: batches of 3 (2 + 1) and 1 (1 + stand-in)
    forget, retain = smoke_manifest.files("forget"), smoke_manifest.files("retain")[:2]
    p = validate_params(method, params)

    def double(b):
        d = b._replace(masked_kspace=b.masked_kspace.double(), target=b.target.double())
        if isinstance(b, RankBatch):
            d = RankBatch(*d)
            d.global_count, d.rows, d.world_size = b.global_count, b.rows, b.world_size
        return d

    def grads(rank, world):
        model = build_model(prof).double()
        impl = get_method(method)(model, UnlearnConfig(method, prof, params=p, resume_optimizer=False), p)
        if method == "bad_teacher":
            impl.setup(None, None)
            impl.bad.double()
        dist = DistInfo(rank, world, 0, torch.device("cpu"))
        steps = list(zip(epoch_batches(as_loader(forget, prof, 42, dist=dist), 0),
                         epoch_batches(as_loader(retain, prof, 42, dist=dist), 0)))
        assert len(steps) == 2 and all(isinstance(f, RankBatch) == (world > 1) for f, _ in steps)
        for f, r in steps:
            (impl.forget_term(double(f)) + impl.retain_term(double(r))).backward()
        return torch.cat([q.grad.flatten() for q in model.parameters()])

    whole = grads(0, 1)
    averaged = (grads(0, 2) + grads(1, 2)) / 2
    assert torch.allclose(whole, averaged, rtol=1e-10, atol=1e-14)
    assert whole.abs().max() > 0


def test_unsplit_loader_is_refused_under_data_parallelism(smoke_manifest, smoke_profile):
    """A loader given to a data-parallel run must be split across the ranks: an unsplit one would
    make every rank compute every batch (and count its slice-steps once per rank)."""
    from mriunlearn.dataset import make_loader
    from mriunlearn.distributed import DistInfo
    from mriunlearn.errors import ConfigError
    from mriunlearn.unlearning.base import as_loader

    files = smoke_manifest.files("forget")
    dist = DistInfo(1, 2, 1, torch.device("cpu"))
    with pytest.raises(ConfigError, match="rank=1, world_size=2"):
        as_loader(make_loader(files, smoke_profile, train=True), smoke_profile, 42, dist=dist)
    split = make_loader(files, smoke_profile, train=True, rank=1, world_size=2)
    assert as_loader(split, smoke_profile, 42, dist=dist) is split
    # in one process an unsplit loader is the data itself: taken as it is, neither refused nor rebuilt
    whole = make_loader(files, smoke_profile, train=True)
    assert as_loader(whole, smoke_profile, 42) is whole
    assert as_loader(whole, smoke_profile, 42, dist=DistInfo.single()) is whole


def test_single_process_info_is_rank_zero_of_one_on_the_cpu():
    import doctest

    from mriunlearn import distributed

    info = distributed.DistInfo.single()
    assert (info.rank, info.world_size, info.local_rank, info.device) == (0, 1, 0, torch.device("cpu"))
    assert info.is_main and not info.distributed
    result = doctest.testmod(distributed)
    assert result.attempted >= 1 and result.failed == 0
