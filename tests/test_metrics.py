"""fastMRI metrics, model / zero-filled evaluation, reconstructions and the paper table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from fastmri import evaluate as fm

from mriunlearn import metrics
from mriunlearn.metrics import (EvalData, evaluate, format_paper_table, paper_table, reconstruct_volume,
                                volume_metrics, zero_filled)
from mriunlearn.model import build_model


def test_volume_metrics_equal_fastmri_evaluate():
    rng = np.random.default_rng(0)
    gt = rng.random((3, 20, 18)).astype(np.float32) * 5
    pred = gt + 0.3 * rng.standard_normal((3, 24, 22)).astype(np.float32)[:, 2:22, 2:20]
    padded = np.zeros((3, 24, 22), np.float32)
    padded[:, 2:22, 2:20] = pred
    got = volume_metrics(gt, padded)  # centre-cropped to the target size
    assert got["psnr"] == pytest.approx(float(fm.psnr(gt, pred)), abs=1e-6)
    assert got["ssim"] == pytest.approx(float(fm.ssim(gt, pred)[0]), abs=1e-6)
    assert got["nmse"] == pytest.approx(float(fm.nmse(gt, pred)), abs=1e-6)
    assert volume_metrics(gt, gt)["nmse"] == 0.0


def test_evaluate_matches_fastmri_on_reconstructions(smoke_manifest, smoke_profile, run_cache):
    model = build_model(smoke_profile)
    table = evaluate(model, smoke_manifest, ["test_brain", "test_knee"], smoke_profile)
    files = smoke_manifest.files("test_brain") + smoke_manifest.files("test_knee")
    assert list(table.columns) == ["file", "role", "organ", "slices", "psnr", "ssim", "nmse"]
    assert table.file.tolist() == [f.name for f in files]
    assert set(table.organ) == {"brain", "knee"}
    for row, path in zip(table.itertuples(), files):
        target, recon, zf = reconstruct_volume(model, path, smoke_profile)
        assert target.shape == recon.shape == zf.shape and target.shape[0] == row.slices
        assert row.psnr == pytest.approx(float(fm.psnr(target, recon)), abs=1e-6)
        assert row.ssim == pytest.approx(float(fm.ssim(target, recon)[0]), abs=1e-6)
        assert row.nmse == pytest.approx(float(fm.nmse(target, recon)), abs=1e-6)
    # batch size does not change the numbers; results are saved beside a cache entry
    entry = run_cache.entry("train", {"x": 1}, "m", 0).create()
    again = evaluate(model, smoke_manifest, ["test_brain", "test_knee"], smoke_profile, batch_size=1, entry=entry)
    assert np.allclose(again[["psnr", "ssim", "nmse"]], table[["psnr", "ssim", "nmse"]], atol=1e-5)
    assert pd.read_csv(entry.file("metrics_test_brain_test_knee.csv")).shape == table.shape


def test_eval_data_is_kept_by_the_instance_that_loaded_it_and_nowhere_else(smoke_manifest, smoke_profile):
    sets = EvalData(maxsize=2)
    forget = sets(smoke_manifest, "forget", smoke_profile)
    assert sets(smoke_manifest, "forget", smoke_profile) is forget
    assert EvalData()(smoke_manifest, "forget", smoke_profile) is not forget  # nothing shared between owners
    assert metrics.eval_data(smoke_manifest, "forget", smoke_profile) is not forget  # the loader keeps nothing
    sets(smoke_manifest, "test_brain", smoke_profile)
    sets(smoke_manifest, "test_knee", smoke_profile)
    assert len(sets) == 2 and sets(smoke_manifest, "forget", smoke_profile) is not forget  # least recent dropped
    with pytest.raises(ValueError, match="maxsize"):
        EvalData(maxsize=0)


def test_evaluating_with_an_owners_eval_data_loads_once_and_scores_the_same(smoke_manifest, smoke_profile,
                                                                           monkeypatch):
    model = build_model(smoke_profile)
    fresh = evaluate(model, smoke_manifest, ["test_brain", "forget"], smoke_profile)
    loads = []
    real = metrics.make_dataset
    monkeypatch.setattr(metrics, "make_dataset", lambda *a, **k: loads.append(a[1]) or real(*a, **k))
    sets = EvalData()
    first = evaluate(model, smoke_manifest, ["test_brain", "forget"], smoke_profile, data=sets)
    again = evaluate(model, smoke_manifest, ["test_brain", "forget"], smoke_profile, data=sets)
    zero_filled(smoke_manifest, "forget", smoke_profile, data=sets)
    assert loads == ["test_brain", "forget"]
    pd.testing.assert_frame_equal(first, fresh)
    pd.testing.assert_frame_equal(again, fresh)
    evaluate(model, smoke_manifest, "forget", smoke_profile)  # without one: loaded for the call
    assert loads == ["test_brain", "forget", "forget"]


def test_zero_filled_baseline(smoke_manifest, smoke_profile):
    table = zero_filled(smoke_manifest, "test_brain", smoke_profile)
    path = smoke_manifest.files("test_brain")[0]
    target, zf, zf2 = reconstruct_volume(None, path, smoke_profile, slices=[0])
    assert np.array_equal(zf, zf2) and target.shape[0] == 1
    full_t, full_zf, _ = reconstruct_volume(None, path, smoke_profile)
    assert table.psnr.iloc[0] == pytest.approx(float(fm.psnr(full_t, full_zf)), abs=1e-6)
    assert (table.psnr < 60).all()  # undersampled: not the target


def test_paper_table_columns_and_stats():
    rows = []
    for model, shift in (("G", 0.0), ("oracle", 1.0)):
        for role, vals in (("test_brain", [30.0, 32.0]), ("test_knee", [25.0, 27.0, 29.0]),
                           ("forget", [20.0]), ("val", [10.0])):
            rows += [{"model": model, "file": f"{role}{i}", "role": role, "organ": "x",
                      "psnr": v + shift, "ssim": 0.5, "nmse": 0.1} for i, v in enumerate(vals)]
    tidy = paper_table(pd.DataFrame(rows))
    assert tidy.column.unique().tolist() == ["BTA", "KTA", "UA"]
    bta = tidy[(tidy.model == "G") & (tidy.column == "BTA") & (tidy.metric == "psnr")].iloc[0]
    assert (bta["mean"], bta["std"], bta["n"]) == (31.0, pytest.approx(np.sqrt(2.0)), 2)
    kta = tidy[(tidy.model == "oracle") & (tidy.column == "KTA") & (tidy.metric == "psnr")].iloc[0]
    assert kta["mean"] == 28.0 and kta["n"] == 3
    wide = format_paper_table(tidy)
    assert wide.model.tolist() == ["G", "oracle"] and wide.loc[0, "BTA psnr"] == "31.00 ± 1.41"


def test_evaluate_run_is_cached_in_the_entry(smoke_manifest, smoke_profile, run_cache, monkeypatch):
    from mriunlearn import metrics
    from mriunlearn.train import train

    result = train(smoke_profile, smoke_manifest, ["retain"], cache=run_cache, progress=False)
    first = metrics.evaluate_run(result, smoke_manifest)
    assert result.entry.file("metrics_test_brain_test_knee_forget.csv").exists()
    assert set(first.role) == {"test_brain", "test_knee", "forget"}
    monkeypatch.setattr(metrics, "evaluate", lambda *a, **k: pytest.fail("recomputed"))
    again = metrics.evaluate_run(result, smoke_manifest)
    assert np.allclose(again.psnr, first.psnr)


def test_ssim_by_label_splits_fastmri_ssim_and_finds_where_it_is_lost():
    """The labels' deficit shares sum to 1 − fastMRI's SSIM, and an error put into one tissue lowers
    that tissue's SSIM, not the others' far from it."""
    rng = np.random.default_rng(0)
    gt = rng.random((2, 40, 48)).astype(np.float32)
    labels = np.zeros(gt.shape, np.int64)
    labels[:, :, 24:] = 1
    pred = gt.copy()
    pred[:, :, 34:] += 0.3 * rng.standard_normal((2, 40, 14)).astype(np.float32)
    parts = metrics.ssim_by_label(gt, pred, labels)
    pixels = sum(n for n, _ in parts.values())
    deficit = sum(n - s for n, s in parts.values()) / pixels
    assert deficit == pytest.approx(1.0 - fm.ssim(gt, pred), abs=1e-5)
    assert parts[0][1] / parts[0][0] > 0.99 > 0.9 > parts[1][1] / parts[1][0]
    with pytest.raises(ValueError, match="labels"):
        metrics.ssim_by_label(gt, pred, labels[:1])
