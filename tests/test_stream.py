"""The streaming data path (one slice at a time from HDF5) against the in-memory one, on
fastMRI-shaped volumes: identical samples, masks and batches; no arrays kept; bad slices named."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import h5py
import pandas as pd
import numpy as np
import pytest
import torch

from mriunlearn import dataset as ds
from mriunlearn.cache import DONE, RunCache
from mriunlearn.dataset import (ShapeBatchSampler, SliceData, StreamingSliceData, make_dataset,
                                make_loader, rank_batches, set_epoch)
from mriunlearn.errors import ConfigError, DataError
from mriunlearn.fastmri_h5 import KSPACE_KEY, inspect_volume
from mriunlearn.manifest import file_row, load_manifest, write_manifest
from mriunlearn.profiles import get_profile
from mriunlearn.train import train


@pytest.fixture(scope="module")
def real_shaped(fastmri_like):
    """Manifest, smoke profile (batch 2) and both datasets of every fastMRI-shaped volume."""
    root, _, csv = fastmri_like
    manifest = load_manifest(csv, root)
    profile = get_profile("smoke", manifest=str(csv), data_root=str(root), batch_size=2)
    roles = manifest.roles()
    return manifest, profile, roles


def _assert_same_sample(a, b) -> None:
    assert torch.equal(a.mask, b.mask)
    assert torch.equal(a.masked_kspace, b.masked_kspace)
    assert torch.equal(a.target, b.target)
    assert (a.num_low_frequencies, a.fname, a.slice_num, a.max_value, tuple(a.crop_size)) == \
        (b.num_low_frequencies, b.fname, b.slice_num, b.max_value, tuple(b.crop_size))


def test_stream_and_memory_give_identical_samples_and_masks(real_shaped):
    manifest, profile, roles = real_shaped
    for train_mode in (True, False):
        mem = SliceData.from_manifest(manifest, roles, profile, train=train_mode)
        stream = StreamingSliceData.from_manifest(manifest, roles, profile, train=train_mode)
        assert len(mem) == len(stream) == 8
        assert [(m.fname, m.slice_num, m.role) for m in mem.meta] == \
            [(m.fname, m.slice_num, m.role) for m in stream.meta]
        masks = []
        for seed, epoch in ((0, 0), (0, 3), (42, 0), (7, 11)) if train_mode else ((0, 0),):
            for d in (mem, stream):
                d.seed = seed
                d.set_epoch(epoch)
            for i in range(len(mem)):
                _assert_same_sample(mem[i], stream[i])
            masks.append(mem[0].mask)
        if train_mode:  # the seeds really select different masks
            assert any(not torch.equal(masks[0], m) for m in masks[1:])


def test_real_shapes_batch_by_header_without_reading_kspace(real_shaped, monkeypatch):
    manifest, profile, roles = real_shaped
    stream = StreamingSliceData.from_manifest(manifest, roles, profile, train=True)
    mem = SliceData.from_manifest(manifest, roles, profile, train=True)
    monkeypatch.setattr(ds, "read_slice", lambda *a, **k: pytest.fail("k-space read for batching"))
    keys = {stream.batch_key(i) for i in range(len(stream))}
    assert keys == {(16, 640, 320, 320, 320), (15, 640, 368, 320, 320), (20, 768, 396, 320, 320),
                    (16, 640, 300, 300, 300)}  # the narrow volume: fastMRI's (W, W) crop
    for seed, epoch in ((1, 0), (1, 1), (9, 4)):
        a = ShapeBatchSampler(stream, 2, shuffle=True, seed=seed)
        b = ShapeBatchSampler(mem, 2, shuffle=True, seed=seed)
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        batches = a.global_batches()
        assert batches == b.global_batches()  # same batches, same order
        assert sorted(i for g in batches for i in g) == list(range(len(stream)))
        for g in batches:
            assert len({stream.batch_key(i) for i in g}) == 1
    # two volumes of one shape share batches (3 AXT2 640x320 slices -> batches of 2 and 1)
    axt2 = [len(g) for g in batches if stream.batch_key(g[0])[:3] == (16, 640, 320)]
    assert sorted(axt2) == [1, 2]


def test_worker_loader_gives_the_in_process_batches(real_shaped):
    manifest, profile, roles = real_shaped
    mem = SliceData.from_manifest(manifest, roles, profile, train=True)
    stream = StreamingSliceData.from_manifest(manifest, roles, profile.replace(num_workers=2),
                                              train=True)
    a = make_loader(mem, profile, train=True)
    b = make_loader(stream, profile.replace(num_workers=2), train=True)
    assert b.num_workers == 2 and a.num_workers == 0
    set_epoch(a, 2)
    set_epoch(b, 2)  # the fresh workers of this epoch see epoch 2
    rng_before = torch.random.get_rng_state()
    got = list(rank_batches(b))
    assert torch.equal(rng_before, torch.random.get_rng_state())  # global RNG untouched
    want = list(rank_batches(a))
    assert [g for g, _, _ in got] == [g for g, _, _ in want]
    for (_, _, x), (_, _, y) in zip(got, want, strict=True):
        assert torch.equal(x.masked_kspace, y.masked_kspace) and torch.equal(x.mask, y.mask)
        assert torch.equal(x.target, y.target) and x.fname == y.fname


def _big_objects(obj, seen=None, depth=0) -> list[str]:
    """Arrays/tensors with more than 1,000 elements reachable from ``obj``'s attributes."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 6:
        return []
    seen.add(id(obj))
    if isinstance(obj, (np.ndarray, torch.Tensor)):
        size = obj.size if isinstance(obj, np.ndarray) else obj.numel()
        return [f"{type(obj).__name__}{tuple(obj.shape)}"] if size > 1000 else []
    found = []
    children = (obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple))
                else vars(obj).values() if hasattr(obj, "__dict__") else ())
    for child in children:
        found += _big_objects(child, seen, depth + 1)
    return found


def test_streaming_dataset_keeps_no_slices(real_shaped):
    manifest, profile, roles = real_shaped
    mem = SliceData.from_manifest(manifest, roles, profile, train=True)
    assert _big_objects(mem)  # the check finds arrays where they are held
    for workers in (0, 1):
        prof = profile.replace(num_workers=workers)
        stream = StreamingSliceData.from_manifest(manifest, roles, prof, train=True)
        n = sum(len(mine) for _, mine, batch in rank_batches(make_loader(stream, prof, train=True))
                if batch is not None)
        assert n == len(stream)
        assert _big_objects(stream) == []
        assert not stream._handles  # the main process keeps no HDF5 handle open
        assert len(pickle.dumps(stream)) < 100_000  # what a worker receives: the index only


def test_data_path_is_validated_and_not_in_the_cache_key():
    with pytest.raises(ConfigError, match="unknown data_path 'disk'; valid: memory, stream"):
        get_profile("smoke", data_path="disk")
    with pytest.raises(ConfigError, match="num_workers"):
        get_profile("smoke", num_workers=-1)
    paper = get_profile("paper")
    assert paper.data_path == "stream" and paper.num_workers >= 1
    smoke = get_profile("smoke")
    assert smoke.data_path == "memory"
    streamed = smoke.replace(data_path="stream", num_workers=3)
    assert streamed.identity() == smoke.identity()
    assert streamed.train_identity() == smoke.train_identity()


def test_training_streamed_equals_in_memory(smoke_manifest, smoke_profile, tmp_path, same_weights):
    """Same cache key, same history and bit-identical weights; the path is recorded."""
    roles = ["retain", "forget"]
    mem = train(smoke_profile, smoke_manifest, roles, cache=RunCache(tmp_path / "m"), progress=False)
    prof = smoke_profile.replace(data_path="stream", num_workers=1)
    st = train(prof, smoke_manifest, roles, cache=RunCache(tmp_path / "s"), progress=False)
    assert st.entry.key == mem.entry.key and not st.cached
    assert same_weights(mem.model, st.model)
    cols = ["train_loss", "val_loss", "val_psnr"]
    assert mem.history[cols].equals(st.history[cols])
    summary = json.loads(st.entry.file("summary.json").read_text())
    assert (summary["data_path"], summary["num_workers"]) == ("stream", 1)
    assert json.loads(mem.entry.file("summary.json").read_text())["data_path"] == "memory"


# ------------------------------------------------------------------ bad input at scale

def _copy_dataset(manifest, dest: Path, n_copies: int = 1) -> list[dict]:
    """Copies of the smoke volumes under ``dest`` (``n_copies`` of each retain volume)."""
    rows = []
    for row in manifest.table.itertuples():
        copies = n_copies if row.role == "retain" else 1
        for c in range(copies):
            out = dest / f"c{c}_{Path(row.path).name}"
            shutil.copyfile(row.path, out)
            rows.append(file_row(out, dest, row.organ, row.role, row.num_slices, hash_file=False))
    return rows


def test_truncated_volume_among_many_stops_before_training(smoke_manifest, smoke_profile, tmp_path,
                                                            monkeypatch):
    rows = _copy_dataset(smoke_manifest, tmp_path, n_copies=10)  # 40 retain volumes
    assert len(rows) > 40
    victim = tmp_path / rows[23]["file"]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) * 3 // 4])
    manifest = load_manifest(write_manifest(rows, tmp_path / "m.csv"), tmp_path)
    reads = []
    monkeypatch.setattr(ds, "read_slice", lambda *a, **k: reads.append(a) or pytest.fail("read"))
    monkeypatch.setattr(ds, "load_volume", lambda *a, **k: pytest.fail("whole volume loaded"))
    prof = smoke_profile.replace(data_path="stream")
    cache = RunCache(tmp_path / "runs")
    with pytest.raises(DataError, match=victim.name):
        train(prof, manifest, ["retain", "forget"], cache=cache, progress=False)
    assert not reads and not (tmp_path / "runs").exists()  # no entry created, nothing trained


def _poison(path: Path, slice_num: int, how: str) -> None:
    """Make one slice of ``path`` bad without touching the header: NaN values, or (rewritten with
    one gzip chunk per slice) a corrupt compressed chunk."""
    with h5py.File(path, "r") as hf:
        items = {k: hf[k][()] for k in hf}
        attrs = dict(hf.attrs)
    if how == "nan":
        items[KSPACE_KEY][slice_num, 0, 3, 3] = np.nan
    with h5py.File(path, "w") as hf:
        for k, v in items.items():
            if k == KSPACE_KEY and how == "corrupt":
                hf.create_dataset(k, data=v, chunks=(1, *v.shape[1:]), compression="gzip")
            else:
                hf.create_dataset(k, data=v)
        hf.attrs.update(attrs)
    if how == "corrupt":
        with h5py.File(path, "r") as hf:
            chunk = hf[KSPACE_KEY].id.get_chunk_info(slice_num)
        raw = bytearray(path.read_bytes())
        raw[chunk.byte_offset:chunk.byte_offset + chunk.size] = b"\xff" * chunk.size
        path.write_bytes(bytes(raw))


@pytest.mark.parametrize("how", ["nan", "corrupt"])
def test_bad_slice_mid_epoch_stops_the_run_naming_file_and_slice(smoke_manifest, smoke_profile,
                                                                tmp_path, how):
    rows = _copy_dataset(smoke_manifest, tmp_path)
    victim = tmp_path / rows[2]["file"]
    _poison(victim, 1, how)
    inspect_volume(victim)  # the header check passes: only reading the slice finds it
    manifest = load_manifest(write_manifest(rows, tmp_path / "m.csv"), tmp_path)
    prof = smoke_profile.replace(data_path="stream", num_workers=1)
    cache = RunCache(tmp_path / "runs")
    with pytest.raises(DataError, match=rf"{victim.name}: slice 1: .*(NaN|reading it failed)"):
        train(prof, manifest, ["retain", "forget"], cache=cache, progress=False)
    entries = list((tmp_path / "runs" / "train").iterdir())
    assert len(entries) == 1 and not (entries[0] / DONE).exists()
    data = make_dataset(manifest, "retain", prof, train=True)
    bad = [i for i, m in enumerate(data.meta) if m.path == victim and m.slice_num == 1]
    with pytest.raises(DataError, match=f"{victim}: slice 1"):
        data[bad[0]]  # the main-process read names it too


# ------------------------------------------------------------------ streamed evaluation

def test_streamed_evaluation_equals_in_memory(smoke_manifest, smoke_profile, real_shaped):
    from mriunlearn.manifest import EVAL_ROLES
    from mriunlearn.metrics import evaluate, zero_filled
    from mriunlearn.model import build_model

    stream = smoke_profile.replace(data_path="stream", num_workers=1)
    model = build_model(smoke_profile)
    a = evaluate(model, smoke_manifest, list(EVAL_ROLES), smoke_profile)
    b = evaluate(model, smoke_manifest, list(EVAL_ROLES), stream)
    assert list(a.file) == list(b.file) and len(a) == len(smoke_manifest.table) - 5  # no retain/val
    np.testing.assert_allclose(b[["psnr", "ssim", "nmse"]], a[["psnr", "ssim", "nmse"]], rtol=0, atol=1e-5)
    assert zero_filled(smoke_manifest, list(EVAL_ROLES), stream).equals(
        zero_filled(smoke_manifest, list(EVAL_ROLES), smoke_profile))
    # real shapes, narrow and knee volumes included: the zero-filled tables are identical
    manifest, profile, roles = real_shaped
    mem_zf = zero_filled(manifest, roles, profile)
    st_zf = zero_filled(manifest, roles, profile.replace(data_path="stream", num_workers=2))
    assert st_zf.equals(mem_zf) and len(st_zf) == 6
    narrow = st_zf.set_index("file").loc["file_brain_AXT2_201_2010294.h5"]
    assert 15 < narrow.psnr < 60  # scored on the (300, 300) crop: an image, not a mismatch


def test_streamed_evaluation_holds_one_volume_at_a_time(smoke_manifest, smoke_profile, monkeypatch):
    from mriunlearn import metrics

    prof = smoke_profile.replace(data_path="stream", eval_batch_size=1)
    data = metrics.eval_data(smoke_manifest, "test_brain", prof)
    assert isinstance(data, StreamingSliceData)
    log = []
    real_get, real_metrics = StreamingSliceData.__getitem__, metrics.volume_metrics
    monkeypatch.setattr(StreamingSliceData, "__getitem__",
                        lambda self, i: log.append(("read", self.meta[i].volume)) or real_get(self, i))
    monkeypatch.setattr(metrics, "volume_metrics", lambda gt, pred: log.append(("score", None))
                        or real_metrics(gt, pred))
    metrics.zero_filled(smoke_manifest, "test_brain", prof)
    slices = data.infos[0].num_slices
    assert log == [e for v in range(data.num_volumes) for e in [("read", v)] * slices + [("score", None)]]


_DDP_EVAL = """
import sys, pandas as pd
from mriunlearn import distributed
from mriunlearn.manifest import load_manifest
from mriunlearn.metrics import zero_filled
from mriunlearn.profiles import get_profile
from mriunlearn.dataset import VolumeBatchSampler, make_dataset
csv, root, out = sys.argv[1:4]
manifest = load_manifest(csv, root)
prof = get_profile("smoke", manifest=csv, data_root=root, data_path="stream", num_workers=1)
info = distributed.init()
roles = manifest.roles()
table = zero_filled(manifest, roles, prof, dist=info)
vols = {r: VolumeBatchSampler(make_dataset(manifest, r, prof, train=False), 1, rank=info.rank,
                              world_size=info.world_size).volumes() for r in roles}
pd.Series({r: list(v) for r, v in vols.items()}).to_json(f"{out}/vols{info.rank}.json")
table.to_csv(f"{out}/table{info.rank}.csv", index=False)
distributed.cleanup()
"""


@pytest.mark.slow
def test_two_rank_streamed_evaluation_splits_volumes_and_gathers_the_table(real_shaped, fastmri_like,
                                                                           tmp_path):
    import os
    import subprocess
    import sys

    from mriunlearn.metrics import zero_filled

    manifest, profile, roles = real_shaped
    root, _, csv = fastmri_like
    script = tmp_path / "ddp_eval.py"
    script.write_text(_DDP_EVAL)
    torchrun = Path(sys.executable).with_name("torchrun")
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(script),
                           str(csv), str(root), str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = zero_filled(manifest, roles, profile)
    for rank in (0, 1):  # every rank holds the whole table, in manifest order
        got = pd.read_csv(tmp_path / f"table{rank}.csv")
        assert list(got.file) == list(single.file)
        np.testing.assert_allclose(got[["psnr", "ssim", "nmse"]], single[["psnr", "ssim", "nmse"]],
                                   rtol=1e-12)
    v0 = json.loads((tmp_path / "vols0.json").read_text())
    v1 = json.loads((tmp_path / "vols1.json").read_text())
    for role in roles:  # whole volumes, each on exactly one rank
        n = len(manifest.files(role))
        assert sorted(v0[role] + v1[role]) == list(range(n)) and not set(v0[role]) & set(v1[role])
    assert v1["retain"] == [1] and v1["val"] == []  # a rank may hold no volume of a role


@pytest.mark.parametrize("method", ["nl_ft", "salun"])
def test_streamed_unlearning_equals_in_memory(smoke_manifest, smoke_profile, tmp_path, method, same_weights):
    import copy

    from mriunlearn.train import train_original
    from mriunlearn.unlearning import UnlearnConfig, unlearn

    g = train_original(smoke_profile, smoke_manifest, cache=RunCache(tmp_path), progress=False)
    retain, forget = smoke_manifest.files("retain")[:2], smoke_manifest.files("forget")
    out = {}
    for path, prof in (("memory", smoke_profile),
                       ("stream", smoke_profile.replace(data_path="stream", num_workers=1))):
        cfg = UnlearnConfig(method, prof, epochs=1, seed=5)
        out[path] = unlearn(copy.deepcopy(g.model), retain, forget, cfg).state_dict()
    assert same_weights(out["memory"], out["stream"])
    assert not same_weights(out["memory"], g.model)


# ------------------------------------------------------------------ streamed validation, landscape, forgetting

def _no_slicedata(monkeypatch) -> None:
    """Make building an in-memory :class:`SliceData` (a whole role's k-space) fail."""
    def refuse(self, *args, **kwargs):
        raise AssertionError("the streaming path built an in-memory SliceData")
    monkeypatch.setattr(SliceData, "__init__", refuse)


def _log_reads_and_forwards(monkeypatch, module) -> list[str]:
    """A log of slice reads (``"read"``) and forwards of ``module.reconstruct`` (``"forward"``)."""
    log: list[str] = []
    real_get, real_rec = StreamingSliceData.__getitem__, module.reconstruct
    monkeypatch.setattr(StreamingSliceData, "__getitem__",
                        lambda self, i: log.append("read") or real_get(self, i))
    monkeypatch.setattr(module, "reconstruct",
                        lambda model, batch, profile: log.append("forward") or real_rec(model, batch, profile))
    return log


def test_streamed_validation_equals_in_memory_one_batch_at_a_time(smoke_manifest, smoke_profile,
                                                                  monkeypatch):
    from mriunlearn import train as train_mod
    from mriunlearn.model import build_model

    model = build_model(smoke_profile)
    mem = train_mod.validate(model, make_dataset(smoke_manifest, "val", smoke_profile, train=False),
                             smoke_profile)
    one = smoke_profile.replace(eval_batch_size=1)
    mem_one = train_mod.validate(model, make_dataset(smoke_manifest, "val", one, train=False), one)
    _no_slicedata(monkeypatch)
    prof = smoke_profile.replace(data_path="stream", num_workers=1)
    data = make_dataset(smoke_manifest, "val", prof, train=False)
    assert isinstance(data, StreamingSliceData)
    assert train_mod.validate(model, data, prof) == mem
    # in-process reads, batches of one slice: each slice is read just before its forward
    prof0 = one.replace(data_path="stream", num_workers=0)
    log = _log_reads_and_forwards(monkeypatch, train_mod)
    assert train_mod.validate(model, make_dataset(smoke_manifest, "val", prof0, train=False), prof0) == mem_one
    assert log == ["read", "forward"] * len(data) and len(data) >= 2


def test_streamed_landscape_equals_in_memory_and_rereads_each_point(smoke_manifest, smoke_profile,
                                                                    monkeypatch):
    from mriunlearn import landscape as L
    from mriunlearn.model import build_model

    a = build_model(smoke_profile, seed=1).state_dict()
    d1 = L.direction_between(a, build_model(smoke_profile, seed=2).state_dict())
    d2 = L.random_direction(a, seed=3)
    files = smoke_manifest.files("forget")
    kw = dict(grid=([0.0, 1.0], [0.0]), max_slices=3)
    mem = L.loss_plane(a, d1, d2, files, smoke_profile, **kw)
    one = smoke_profile.replace(eval_batch_size=1)
    mem_one = L.loss_plane(a, d1, d2, files, one, **kw)
    _no_slicedata(monkeypatch)
    prof = smoke_profile.replace(data_path="stream", num_workers=1)
    for data in (files, StreamingSliceData(files, prof, train=False)):  # paths or a dataset
        st = L.loss_plane(a, d1, d2, data, prof, **kw)
        assert np.array_equal(st.loss, mem.loss)
        assert (st.n_slices, st.files) == (mem.n_slices, mem.files) == (3, tuple(Path(f).name for f in files))
    with pytest.raises(ConfigError, match="train=False"):
        L.loss_plane(a, d1, d2, StreamingSliceData(files, prof, train=True), prof, **kw)
    # in-process reads, batches of one slice: every grid point reads its slices again, one by one
    prof0 = one.replace(data_path="stream", num_workers=0)
    log = _log_reads_and_forwards(monkeypatch, L)
    assert np.array_equal(L.loss_plane(a, d1, d2, files, prof0, **kw).loss, mem_one.loss)
    assert log == ["read", "forward"] * 3 * 2


def test_streamed_forgetting_metrics_equal_in_memory(smoke_manifest, smoke_profile, monkeypatch):
    from mriunlearn import forgetting as F
    from mriunlearn import membership as M
    from mriunlearn.metrics import eval_data
    from mriunlearn.model import build_model

    model = build_model(smoke_profile)
    mem_feats = F.slice_loss_features(model, eval_data(smoke_manifest, "forget", smoke_profile),
                                      smoke_profile)
    mem_stats, mem_groups = M.role_statistics(model, smoke_manifest, smoke_profile)
    mem_curve = F.relearn_curve(model, smoke_manifest, smoke_profile, "forget", [0, 2], seed=3)
    _no_slicedata(monkeypatch)
    prof = smoke_profile.replace(data_path="stream", num_workers=1)
    data = eval_data(smoke_manifest, "forget", prof)
    assert isinstance(data, StreamingSliceData)
    feats = F.slice_loss_features(model, data, prof)
    assert feats.shape == (len(data), 2) and np.array_equal(feats, mem_feats)
    stats, groups = M.role_statistics(model, smoke_manifest, prof)
    assert groups == mem_groups and all(np.array_equal(stats[r], mem_stats[r]) for r in stats)
    curve = F.relearn_curve(model, smoke_manifest, prof, "forget", [0, 2], seed=3)
    assert curve[["step", "slice_steps", "file", "role"]].equals(mem_curve[["step", "slice_steps", "file", "role"]])
    np.testing.assert_allclose(curve.psnr.to_numpy(), mem_curve.psnr.to_numpy(), rtol=0, atol=1e-5)
    # in-process reads, batches of one slice: each slice is read just before its forward
    prof0 = prof.replace(num_workers=0, eval_batch_size=1)
    log = _log_reads_and_forwards(monkeypatch, F)
    F.slice_loss_features(model, eval_data(smoke_manifest, "forget", prof0), prof0)
    assert log == ["read", "forward"] * len(data)


def test_streaming_bounds_the_heap_in_the_main_process_and_every_worker(real_shaped, monkeypatch):
    """glibc keeps freed slice-sized blocks in the heap once a freed block has raised its mmap
    threshold (measured: a streamed evaluation's workers grew ~150 MiB per real-size volume);
    mriunlearn.heap pins the threshold. Checked in fresh processes: RSS kept after freeing
    20-28 MiB blocks, each behind a small block that stays, without and with ``bound_heap``."""
    import os
    import subprocess
    import sys
    import textwrap

    from mriunlearn import heap

    if heap._libc() is None:
        pytest.skip("no glibc mallopt here")
    probe = textwrap.dedent("""
        import sys
        import numpy as np
        from mriunlearn import heap
        if sys.argv[1] == "bounded":
            assert heap.bound_heap()
        def rss():
            return next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmRSS")) // 1024
        first = np.ones(30 << 18, np.float32)  # a 30 MiB block freed: glibc raises its threshold to it
        del first
        base = rss()
        keep = []
        for i in range(9):
            block = np.ones((20 + i) << 18, np.float32)
            keep.append(np.ones(1 << 10, np.float32))
            del block
        print(rss() - base)
    """)
    kept = {}
    for mode in ("default", "bounded"):
        out = subprocess.run([sys.executable, "-c", probe, mode], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        kept[mode] = int(out.stdout.split()[-1])
    if kept["default"] < 40:
        pytest.skip(f"this libc kept only {kept['default']} MiB without the bound: nothing to compare")
    assert kept["bounded"] <= 5, kept
    # the streaming dataset bounds its process's heap, and its loaders bound each worker's
    # where it is applied: each streaming loader's workers, and the main process while a streamed
    # evaluation runs (afterwards glibc's steady-state threshold, so CPU training is not slowed)
    import contextlib

    from mriunlearn import metrics

    manifest, profile, _ = real_shaped
    data = StreamingSliceData(manifest.files("test_brain")[:1], profile, train=False)
    assert ds.stream_loader(data, [[0]], 1).worker_init_fn is heap.worker_init
    entered = []

    @contextlib.contextmanager
    def recording():
        entered.append("in")
        yield True
        entered.append("out")

    monkeypatch.setattr(metrics, "bounded_heap", recording)
    volumes = [v for v, *_ in metrics.stream_volumes(None, data, profile)]
    assert volumes == [0] and entered == ["in", "out"]
    with heap.bounded_heap() as applied:  # glibc accepts both settings
        assert applied is True
