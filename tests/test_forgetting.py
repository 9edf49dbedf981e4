"""Forgetting metrics: distance to the oracle, relearn time, seed summaries."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from mriunlearn.cache import RunCache
from mriunlearn.errors import ConfigError
from mriunlearn import forgetting
from mriunlearn.experiments.results import column_means
from mriunlearn.forgetting import oracle_distance, relearn_time, summarise_seeds

torch.set_num_threads(1)


def _pv(brain: float, knee: float, forget: float) -> pd.DataFrame:
    rows = []
    for role, v in (("test_brain", brain), ("test_knee", knee), ("forget", forget)):
        rows += [{"file": f"{role}{i}", "role": role, "organ": "x", "slices": 2, "psnr": v + d,
                  "ssim": 0.9, "nmse": 0.01} for i, d in enumerate((-0.5, 0.5))]
    return pd.DataFrame(rows)


def test_oracle_distance_is_the_mean_absolute_psnr_gap():
    model, oracle = column_means(_pv(38.0, 31.0, 34.0)), column_means(_pv(39.0, 32.0, 31.0))
    assert model == {"BTA": 38.0, "KTA": 31.0, "UA": 34.0}
    assert oracle_distance(model, oracle) == pytest.approx(5.0 / 3.0)  # |−1| + |−1| + |+3|
    assert oracle_distance(oracle, oracle) == 0.0
    assert oracle_distance(pd.Series({**model, "other": 99.0}), oracle) == pytest.approx(5.0 / 3.0)
    examples = doctest.testmod(forgetting)
    assert examples.attempted >= 1 and examples.failed == 0


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


@pytest.fixture(scope="module")
def G(smoke_profile, smoke_manifest, tmp_path_factory):
    from mriunlearn.train import train_original

    cache = RunCache(tmp_path_factory.mktemp("forgetting_runs"))
    return train_original(smoke_profile, smoke_manifest, cache=cache, progress=False)


def test_relearn_time(G, smoke_profile, smoke_manifest):
    from mriunlearn.metrics import evaluate

    ua = float(evaluate(G.model, smoke_manifest, "forget", smoke_profile).psnr.mean())
    done = relearn_time(G.model, smoke_manifest, smoke_profile, ua - 1.0)
    assert done.steps == 0 and not done.cap_hit
    capped = relearn_time(G.model, smoke_manifest, smoke_profile, ua + 100.0, max_steps=2, check_every=1)
    assert capped.cap_hit and capped.steps == 2 and len(capped.trace) == 3
    assert capped.slice_steps >= 2
