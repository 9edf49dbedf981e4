"""Slices in memory, replayable training masks, file-name eval masks, same-shape batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fastmri.data.transforms import VarNetDataTransform

from mriunlearn import dataset as ds
from mriunlearn.dataset import ShapeBatchSampler, SliceData, collate, make_loader, make_mask_func
from mriunlearn.fastmri_h5 import load_volume


def test_volumes_loaded_once_and_metadata_kept(smoke_manifest, smoke_profile, monkeypatch):
    calls = []
    real = ds.load_volume
    monkeypatch.setattr(ds, "load_volume", lambda p: calls.append(p) or real(p))
    data = SliceData.from_manifest(smoke_manifest, ["retain", "forget"], smoke_profile, train=True)
    n_files = len(smoke_manifest.files("retain")) + len(smoke_manifest.files("forget"))
    assert len(calls) == n_files
    assert len(data) == smoke_manifest.num_slices("retain") + smoke_manifest.num_slices("forget")
    for i in range(len(data)):
        data[i]
    assert len(calls) == n_files  # no re-reading per slice
    assert {m.role for m in data.meta} == {"retain", "forget"}
    assert {m.organ for m in data.meta} == {"brain", "knee"}


def test_eval_sample_matches_fastmri_transform(smoke_manifest, smoke_profile):
    path = smoke_manifest.files("test_brain")[0]
    data = SliceData([path], smoke_profile, train=False)
    kspace, target, info = load_volume(path)
    attrs = {**info.attrs, "padding_left": info.padding[0], "padding_right": info.padding[1],
             "recon_size": info.recon_size}
    ref = VarNetDataTransform(make_mask_func(smoke_profile), use_seed=True)(
        kspace[1], None, target[1], attrs, path.name, 1)
    got = data[1]
    assert torch.equal(got.mask, ref.mask)
    assert torch.allclose(got.masked_kspace, ref.masked_kspace)
    assert torch.equal(got.target, ref.target)
    assert got.num_low_frequencies == ref.num_low_frequencies
    assert got.max_value == pytest.approx(ref.max_value) and got.crop_size == tuple(ref.crop_size)
    # every slice of a volume shares the file-name mask
    assert torch.equal(data[0].mask, got.mask)


def test_training_masks_are_replayable_per_seed_epoch_slice(smoke_manifest, smoke_profile):
    files = smoke_manifest.files("retain")
    a = SliceData(files, smoke_profile, train=True, seed=1)
    b = SliceData(files, smoke_profile, train=True, seed=1)
    masks = []
    for epoch in range(6):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        assert torch.equal(a[3].mask, b[3].mask)
        masks.append(a[3].mask)
    assert any(not torch.equal(masks[0], m) for m in masks[1:])  # a fresh mask per epoch
    acc = masks[0].float().mean().item()
    assert 0.1 < acc < 0.25  # 8x equispaced + 4% centre


def test_collate_and_shape_batching(smoke_manifest, smoke_profile):
    data = SliceData.from_manifest(smoke_manifest, "retain", smoke_profile, train=True)
    loader = make_loader(data, smoke_profile, train=True, batch_size=3)
    batch = next(iter(loader))
    c, h, w = data.shape(0)
    assert batch.masked_kspace.shape == (3, c, h, w, 2) and batch.mask.shape == (3, 1, 1, w, 1)
    assert batch.target.shape[0] == 3 and batch.max_value.shape == (3,) and len(batch.fname) == 3
    assert sum(len(b) for b in loader.batch_sampler) == len(data)
    with pytest.raises(ValueError, match="different shapes"):
        small = data[0]._replace(masked_kspace=data[0].masked_kspace[:, :-2])
        collate([data[0], small])


def test_shuffle_depends_on_epoch_and_ranks_split_global_batches(smoke_manifest, smoke_profile):
    data = SliceData.from_manifest(smoke_manifest, ["retain", "forget"], smoke_profile, train=True)
    s = ShapeBatchSampler(data, 3, shuffle=True, seed=5)
    e0 = s.global_batches()
    s.set_epoch(1)
    assert s.global_batches() != e0
    s.set_epoch(0)
    assert s.global_batches() == e0
    assert sorted(i for b in e0 for i in b) == list(range(len(data)))
    ranks = [ShapeBatchSampler(data, 3, shuffle=True, seed=5, rank=r, world_size=2) for r in (0, 1)]
    for g, r0, r1 in zip(e0, *ranks):
        assert sorted(r0 + r1) == sorted(g)
    ev = ShapeBatchSampler(data, 3, shuffle=False)
    assert [i for b in ev for i in b] == list(range(len(data)))


def test_make_loader_accepts_file_lists(smoke_manifest, smoke_profile):
    files = smoke_manifest.files("forget")
    loader = make_loader(files, smoke_profile, train=False, batch_size=1)
    assert len(loader.dataset) == smoke_manifest.num_slices("forget")
    first = next(iter(loader))
    assert first.fname == [files[0].name] and first.slice_num.tolist() == [0]
