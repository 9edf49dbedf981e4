"""Forgetting metrics: membership inference, oracle gap, relearn time, cost, seed summaries."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from mriunlearn.cache import RunCache
from mriunlearn.errors import ConfigError
from mriunlearn.forgetting import (cost, forgetting_table, membership_inference,
                                   membership_inference_from_losses, oracle_distance, oracle_gap,
                                   relearn_time, summarise_seeds)

torch.set_num_threads(1)


def test_mia_is_chance_on_one_distribution_and_high_on_separable_ones():
    rng = np.random.default_rng(0)
    same = [membership_inference_from_losses(rng.normal(size=(200, 2)), rng.normal(size=(300, 2)),
                                             seed=s) for s in range(5)]
    assert abs(np.mean(same) - 0.5) < 0.06
    sep = membership_inference_from_losses(rng.normal(0.0, 1.0, 200), rng.normal(4.0, 1.0, 200), seed=0)
    assert sep > 0.95
    # balanced by subsampling: a lopsided pair of identical samples still scores about 0.5
    lop = membership_inference_from_losses(rng.normal(size=40), rng.normal(size=4000), seed=1)
    assert 0.3 < lop < 0.7
    with pytest.raises(ConfigError, match=">= 2 slices"):
        membership_inference_from_losses(np.ones(1), np.ones(10))


def _pv(brain: float, knee: float, forget: float) -> pd.DataFrame:
    rows = []
    for role, v in (("test_brain", brain), ("test_knee", knee), ("forget", forget)):
        rows += [{"file": f"{role}{i}", "role": role, "organ": "x", "slices": 2, "psnr": v + d,
                  "ssim": 0.9, "nmse": 0.01} for i, d in enumerate((-0.5, 0.5))]
    return pd.DataFrame(rows)


def test_oracle_gap_and_distance():
    gap = oracle_gap(_pv(38.0, 31.0, 32.0), _pv(39.0, 32.0, 31.0)).set_index("column")
    assert list(gap.index) == ["BTA", "KTA", "UA"]
    assert gap.loc["BTA", "psnr_gap"] == pytest.approx(-1.0)
    assert gap.loc["UA", "psnr_gap"] == pytest.approx(1.0)
    assert gap.loc["KTA", "ssim_gap"] == pytest.approx(0.0)
    assert oracle_distance(_pv(38.0, 31.0, 32.0), _pv(39.0, 32.0, 31.0)) == pytest.approx(1.0)
    assert oracle_distance(_pv(1.0, 2.0, 3.0), _pv(1.0, 2.0, 3.0)) == 0.0


def test_summarise_seeds_t_interval():
    df = pd.DataFrame({"method": ["a"] * 4 + ["b"], "psnr": [1.0, 2.0, 3.0, 4.0, 7.0]})
    out = summarise_seeds(df, by="method", value="psnr").set_index("method")
    x = np.array([1.0, 2.0, 3.0, 4.0])
    half = stats.t.ppf(0.975, 3) * x.std(ddof=1) / 2.0
    assert out.loc["a", "mean"] == pytest.approx(2.5)
    assert out.loc["a", "half_width"] == pytest.approx(half)
    assert out.loc["a", "low"] == pytest.approx(2.5 - half) and out.loc["a", "n"] == 4
    assert out.loc["b", "mean"] == 7.0 and math.isnan(out.loc["b", "half_width"])
    with pytest.raises(ConfigError, match="unknown column"):
        summarise_seeds(df, by="method", value="ssim")


def test_cost_fractions():
    c = cost(30.0, 100, 120.0, 1000)
    assert c == {"time_fraction": 0.25, "slice_fraction": 0.1}


@pytest.fixture(scope="module")
def models(smoke_profile, smoke_manifest, tmp_path_factory):
    from mriunlearn.train import train_oracle, train_original

    cache = RunCache(tmp_path_factory.mktemp("forgetting_runs"))
    G = train_original(smoke_profile, smoke_manifest, cache=cache, progress=False)
    O = train_oracle(smoke_profile, smoke_manifest, cache=cache, progress=False)
    return G, O, cache


def test_membership_inference_on_models(models, smoke_profile, smoke_manifest):
    G, _, _ = models
    score = membership_inference(G.model, smoke_manifest, smoke_profile, seed=0)
    assert 0.0 <= score <= 1.0
    assert score == membership_inference(G.model, smoke_manifest, smoke_profile, seed=0)


def test_relearn_time(models, smoke_profile, smoke_manifest):
    from mriunlearn.metrics import evaluate

    G, _, _ = models
    ua = float(evaluate(G.model, smoke_manifest, "forget", smoke_profile).psnr.mean())
    done = relearn_time(G.model, smoke_manifest, smoke_profile, ua - 1.0)
    assert done.steps == 0 and not done.cap_hit
    capped = relearn_time(G.model, smoke_manifest, smoke_profile, ua + 100.0, max_steps=2, check_every=1)
    assert capped.cap_hit and capped.steps == 2 and len(capped.trace) == 3
    assert capped.slice_steps >= 2


def test_forgetting_table(models, smoke_profile, smoke_manifest):
    from mriunlearn.unlearning import run_unlearning

    G, O, cache = models
    res = run_unlearning(smoke_profile, smoke_manifest, "nl_ft", cache=cache, progress=False, original=G)
    table = forgetting_table({"nl_ft": res}, original=G, oracle=O, manifest=smoke_manifest,
                             profile=smoke_profile, relearn=True, relearn_kwargs={"max_steps": 2})
    assert list(table.model) == ["G", "oracle", "nl_ft"]
    oracle = table.set_index("model").loc["oracle"]
    assert oracle.oracle_distance == 0.0 and oracle.time_fraction == pytest.approx(1.0)
    assert table.mia.between(0, 1).all()
    assert {"BTA", "KTA", "UA", "UA_gap", "relearn_steps", "relearn_cap_hit", "slice_fraction"} <= set(table.columns)
    assert table.set_index("model").loc["G", "relearn_steps"] == 0
