"""Forgetting metrics beyond PSNR/SSIM, one table per run beside BTA/KTA/UA.

- :func:`oracle_distance`: the mean absolute PSNR gap to the oracle Ĝ over BTA, KTA and UA (0 = Ĝ's
  numbers).
- :func:`slice_loss_features`: per-slice loss features, the statistic of the calibrated
  membership test (:mod:`mriunlearn.membership`).
- :func:`parameter_distance`: how far apart two models' weights are.
- :func:`relearn_curve`: the relearning attack's raw material: a copy fine-tuned on a few forget
  volumes or on retain data, with UA and KTA per volume after each checkpoint's number of steps.
- :func:`summarise_seeds`: mean ± 95% t-interval over seeds.

The notebook's forgetting table (these metrics for G, Ĝ and every run, cached per run) is
:func:`mriunlearn.experiments.unlearning.forgetting`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .dataset import SliceIndex, make_dataset, make_loader, set_epoch
from .errors import ConfigError
from .intervals import mean_interval
from .losses import recon_loss
from .manifest import PAPER_COLUMNS, Manifest
from .metrics import EvalData, evaluate
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
def parameter_distance(a: torch.nn.Module, b: torch.nn.Module) -> float:
    """Euclidean distance between the parameters of two models of one architecture, all parameters
    flattened into one vector (buffers left out).

    Raises:
        ConfigError: the models' parameters differ in names or shapes.
    """
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    if pa.keys() != pb.keys() or any(pa[k].shape != pb[k].shape for k in pa):
        raise ConfigError("parameter_distance: the two models have different parameters (another architecture)")
    return float(torch.sqrt(sum(((pa[k].double() - pb[k].double()) ** 2).sum() for k in pa)))


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


#: the columns a relearning curve is evaluated on: UA (D_f, less the slices fine-tuned on) and KTA
RELEARN_ROLES: tuple[str, ...] = ("forget", "test_knee")


def relearn_curve(model: torch.nn.Module, manifest: Manifest, profile: Profile, role: str,
                  checkpoints: Sequence[int], *, files: Sequence[Path] | None = None,
                  seed: int | None = None) -> pd.DataFrame:
    """Fine-tune a copy of ``model`` on the slices of ``role`` (or of ``files`` among them) and
    evaluate it on :data:`RELEARN_ROLES` after each number of optimiser steps in ``checkpoints``.

    The copy trains with a fresh Adam(``profile.lr``), the profile's loss, gradient clipping and
    training masks, in batches of ``profile.batch_size`` reshuffled every pass (seeded by ``seed``,
    default the profile's); slices are held in memory or streamed (``profile.data_path``) with the
    same steps. ``model`` itself is not changed.

    Returns:
        One row per (checkpoint, evaluated volume): ``step``, ``slice_steps`` (slices seen so far) and
        :func:`~mriunlearn.metrics.evaluate`'s ``file, role, organ, slices, psnr, ssim, nmse``. The
        caller drops the fine-tuned volumes from UA (they are in ``file``).

    Raises:
        ConfigError: ``checkpoints`` empty, negative or not increasing.
    """
    from .train import train_step

    marks = [int(c) for c in checkpoints]
    if not marks or marks[0] < 0 or any(b <= a for a, b in zip(marks, marks[1:])):
        raise ConfigError(f"checkpoints must be increasing step counts >= 0, got {list(checkpoints)}")
    seed = profile.seed if seed is None else seed
    net = copy.deepcopy(model)
    opt = torch.optim.Adam(net.parameters(), lr=profile.lr)
    loader = make_loader(make_dataset(manifest, role, profile, train=True, seed=seed, files=files),
                         profile, train=True, seed=seed)
    held = EvalData()  # the evaluation slices, loaded once for every checkpoint
    tables: list[pd.DataFrame] = []
    steps, slices, epoch = 0, 0, 0

    def reached() -> bool:
        """Evaluate when ``steps`` is the next checkpoint; True once the last one is done."""
        if steps == marks[len(tables)]:
            t = evaluate(net, manifest, list(RELEARN_ROLES), profile, data=held)
            tables.append(t.assign(step=steps, slice_steps=slices))
        return len(tables) == len(marks)

    done = reached()
    while not done:
        set_epoch(loader, profile.epochs + epoch)
        for batch in loader:
            net.train()
            train_step(net, opt, batch, profile)
            steps, slices = steps + 1, slices + len(batch.fname)
            if done := reached():
                break
        if slices == 0:
            raise ConfigError(f"relearning on role {role!r} found no slice to train on")
        epoch += 1
    cols = ["step", "slice_steps"]
    out = pd.concat(tables, ignore_index=True)
    return out[cols + [c for c in out.columns if c not in cols]]


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
