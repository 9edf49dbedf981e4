"""Forgetting metrics beyond PSNR/SSIM, one table per run beside BTA/KTA/UA.

- :func:`oracle_distance`: the mean absolute PSNR gap to the oracle Ĝ over BTA, KTA and UA (0 = Ĝ's
  numbers).
- :func:`slice_loss_features`: per-slice loss features, the statistic of the calibrated
  membership test (:mod:`mriunlearn.membership`).
- :func:`relearn_time`: fine-tuning steps on D_f until the model's forget-set PSNR (UA) is back to
  G's, checked every ``check_every`` steps, capped (the cap hit is reported).
- :func:`summarise_seeds`: mean ± 95% t-interval over seeds.

The notebook's forgetting table (these metrics for G, Ĝ and every run, cached per run) is
:func:`mriunlearn.experiments.unlearning.forgetting`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .dataset import SliceIndex, make_dataset, make_loader, set_epoch
from .errors import ConfigError
from .intervals import mean_interval
from .losses import recon_loss
from .manifest import PAPER_COLUMNS, Manifest
from .metrics import EvalData, eval_data, evaluate
from .model import reconstruct
from .profiles import Profile

#: feature names of :func:`slice_loss_features`
LOSS_FEATURES: tuple[str, ...] = ("loss", "log_nmse")


def oracle_distance(means: Mapping[str, float] | pd.Series, oracle: Mapping[str, float] | pd.Series) -> float:
    """Mean absolute PSNR gap to the oracle Ĝ over BTA, KTA and UA (dB; 0 = Ĝ's numbers).

    Args:
        means, oracle: a model's and Ĝ's PSNR means by paper column (``"BTA"``, ``"KTA"``, ``"UA"``;
            other keys ignored), e.g. a row of Table 1's model x column pivot.

    >>> oracle_distance({"BTA": 28.0, "KTA": 20.0, "UA": 24.0}, {"BTA": 29.0, "KTA": 20.0, "UA": 22.0})
    1.0
    """
    return float(np.mean([abs(means[c] - oracle[c]) for c in PAPER_COLUMNS.values()]))


@torch.no_grad()
def slice_loss_features(model: torch.nn.Module, data: SliceIndex, profile: Profile) -> np.ndarray:
    """Per-slice loss features ``(len(data), 2)`` float64, row ``i`` for slice ``i`` of ``data``:
    the profile's loss and ``log10`` of the slice NMSE, with evaluation masks (seeded by file name).

    ``data`` is an evaluation :class:`~mriunlearn.dataset.SliceData` or, streaming, a
    :class:`~mriunlearn.dataset.StreamingSliceData` (e.g. from :func:`mriunlearn.metrics.eval_data`):
    its batches of ``profile.eval_batch_size`` same-shape slices come from
    :func:`~mriunlearn.dataset.make_loader` (read by ``profile.num_workers`` workers when
    streaming), so memory holds one batch, never the role; the features are the same either way."""
    was = model.training
    model.eval()
    feats = np.zeros((len(data), len(LOSS_FEATURES)), dtype=np.float64)
    try:
        loader = make_loader(data, profile, train=False)
        for idx, batch in zip(loader.batch_sampler, loader, strict=True):  # type: ignore[arg-type]
            pred = reconstruct(model, batch, profile)
            target = batch.target.to(pred.device)
            loss = recon_loss(pred, target, batch.max_value, profile, reduction="none")
            nmse = ((pred - target) ** 2).flatten(1).sum(1) / (target ** 2).flatten(1).sum(1).clamp_min(1e-30)
            feats[idx, 0] = loss.double().cpu().numpy()
            feats[idx, 1] = np.log10(nmse.double().cpu().numpy().clip(1e-30))
    finally:
        model.train(was)
    return feats


@dataclass
class Relearn:
    """Result of :func:`relearn_time`: optimiser ``steps`` and ``slice_steps`` until the forget-set
    PSNR reached ``target_psnr`` (the cap if ``cap_hit``), and the ``trace`` of (steps, UA PSNR)."""

    steps: int
    slice_steps: int
    cap_hit: bool
    target_psnr: float
    trace: list[tuple[int, float]]


def _ua_psnr(model: torch.nn.Module, manifest: Manifest, profile: Profile, data: EvalData) -> float:
    return float(evaluate(model, manifest, "forget", profile, data=data).psnr.mean())


def relearn_time(model: torch.nn.Module, manifest: Manifest, profile: Profile, target_psnr: float, *,
                 max_steps: int = 200, check_every: int = 5, seed: int | None = None) -> Relearn:
    """Fine-tuning steps on D_f until the forget-set PSNR (UA) is back to ``target_psnr`` (G's).

    A copy of ``model`` is trained with Adam(``profile.lr``), the profile's loss, gradient clipping
    and training masks (batches of ``profile.batch_size``, reshuffled every pass); UA is checked
    before the first step and every ``check_every`` steps. ``model`` itself is not changed.
    D_f is held in memory or streamed slice by slice (``profile.data_path``), with the same steps.
    """
    from .train import train_step

    if max_steps < 0 or check_every < 1:
        raise ConfigError(f"max_steps must be >= 0 and check_every >= 1, got {max_steps}, {check_every}")
    seed = profile.seed if seed is None else seed
    net = copy.deepcopy(model)
    opt = torch.optim.Adam(net.parameters(), lr=profile.lr)
    data = make_dataset(manifest, "forget", profile, train=True, seed=seed)  # streamed if profile says
    loader = make_loader(data, profile, train=True, seed=seed)
    forget_eval = EvalData()  # D_f's evaluation slices, loaded once for every check
    trace = [(0, _ua_psnr(net, manifest, profile, forget_eval))]
    steps, slices, epoch = 0, 0, 0
    if trace[-1][1] >= target_psnr:
        return Relearn(0, 0, False, float(target_psnr), trace)
    while steps < max_steps:
        set_epoch(loader, profile.epochs + epoch)
        for batch in loader:
            net.train()
            train_step(net, opt, batch, profile)
            steps += 1
            slices += len(batch.fname)
            if steps % check_every == 0 or steps == max_steps:
                trace.append((steps, _ua_psnr(net, manifest, profile, forget_eval)))
                if trace[-1][1] >= target_psnr:
                    return Relearn(steps, slices, False, float(target_psnr), trace)
            if steps >= max_steps:
                break
        epoch += 1
    return Relearn(steps, slices, True, float(target_psnr), trace)


#: Table 1's ± columns, one convention each (named by the header): the std over test volumes of a
#: model run at one seed (the paper's ±), and the half-width of the 95% t-interval over seeds of a
#: model run at several (``n_seeds`` says how many)
STD_OVER_VOLUMES: str = "std_over_volumes"
CI95_OVER_SEEDS: str = "ci95_over_seeds"


def summarise_seeds(df: pd.DataFrame, by: str | Sequence[str], value: str | Sequence[str],
                    confidence: float = 0.95) -> pd.DataFrame:
    """Mean ± t-interval of ``value`` over the rows (seeds) of each group of ``by``.

    Returns:
        ``[*by, value, mean, half_width, low, high, n]`` per group and value column;
        ``half_width = t_{(1+confidence)/2, n-1} · sd / sqrt(n)`` (NaN for one seed).
    """
    by = [by] if isinstance(by, str) else list(by)
    values = [value] if isinstance(value, str) else list(value)
    missing = [c for c in [*by, *values] if c not in df.columns]
    if missing:
        raise ConfigError(f"summarise_seeds: unknown column(s) {missing}; columns: {list(df.columns)}")
    rows = []
    for keys, group in df.groupby(by, sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        for v in values:
            rows.append({**dict(zip(by, keys)), "value": v, **mean_interval(group[v], confidence)})
    return pd.DataFrame(rows, columns=[*by, "value", "mean", "half_width", "low", "high", "n"])


def seed_half_width(summary: pd.DataFrame) -> pd.Series:
    """Per row of a :func:`summary_table` (also one read back from its CSV), the half-width of the
    95% interval over seeds; 0 where the row's model ran at one seed."""
    if CI95_OVER_SEEDS not in summary.columns:
        return pd.Series(0.0, index=summary.index)
    return summary[CI95_OVER_SEEDS].astype(float).fillna(0.0)
