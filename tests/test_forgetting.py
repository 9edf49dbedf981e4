"""Forgetting metrics: distance to the oracle, parameter distance, relearning curves, seed summaries."""

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
from mriunlearn.forgetting import oracle_distance, parameter_distance, relearn_curve, summarise_seeds

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


def test_relearn_curve_fine_tunes_a_copy_and_measures_ua_and_kta_at_each_checkpoint(G, smoke_profile, smoke_manifest):
    from mriunlearn.metrics import evaluate

    before = {k: v.clone() for k, v in G.model.state_dict().items()}
    files = smoke_manifest.files("forget")[:1]
    curve = relearn_curve(G.model, smoke_manifest, smoke_profile, "forget", [0, 1, 3], files=files, seed=5)
    assert all(torch.equal(before[k], v) for k, v in G.model.state_dict().items())  # the model itself is untouched
    n_vols = len(smoke_manifest.files("forget")) + len(smoke_manifest.files("test_knee"))
    assert list(curve.step.unique()) == [0, 1, 3] and len(curve) == 3 * n_vols
    assert set(curve.role) == set(forgetting.RELEARN_ROLES)
    # slices seen: one forget volume's slices per step, batches of at most batch_size
    per_step = min(smoke_profile.batch_size, smoke_manifest.table.set_index("path").num_slices[str(files[0])])
    assert list(curve.groupby("step").slice_steps.first()) == [0, per_step, 3 * per_step]
    start = evaluate(G.model, smoke_manifest, list(forgetting.RELEARN_ROLES), smoke_profile)
    np.testing.assert_allclose(curve[curve.step == 0].psnr.to_numpy(), start.psnr.to_numpy(), rtol=0, atol=1e-9)
    assert not np.allclose(curve[curve.step == 3].psnr.to_numpy(), start.psnr.to_numpy())  # it did train
    again = relearn_curve(G.model, smoke_manifest, smoke_profile, "forget", [0, 1, 3], files=files, seed=5)
    pd.testing.assert_frame_equal(curve, again)  # seeded: the same steps give the same numbers
    retain = relearn_curve(G.model, smoke_manifest, smoke_profile, "retain", [2], seed=5)
    assert list(retain.step.unique()) == [2] and (retain.slice_steps == 2 * smoke_profile.batch_size).all()
    for bad in ([], [-1, 2], [2, 2], [3, 1]):
        with pytest.raises(ConfigError, match="checkpoints"):
            relearn_curve(G.model, smoke_manifest, smoke_profile, "forget", bad)


def test_parameter_distance_is_the_euclidean_distance_of_all_parameters():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    flat = lambda m: torch.cat([p.detach().flatten() for p in m.parameters()]).double()
    assert parameter_distance(a, b) == pytest.approx(float((flat(a) - flat(b)).norm()), rel=1e-12)
    assert parameter_distance(a, b) == parameter_distance(b, a) and parameter_distance(a, a) == 0.0
    with pytest.raises(ConfigError, match="different parameters"):
        parameter_distance(a, torch.nn.Linear(3, 4))
