"""Per-volume fastMRI metrics, model / zero-filled evaluation and the paper's table.

Metrics are fastMRI's own (:mod:`fastmri.evaluate`): PSNR and NMSE over the whole volume with data
range = the target volume's maximum; SSIM per slice (7x7 window, data range = the volume's
maximum) averaged over slices. Reconstructions are centre-cropped to the target size first.
Evaluation masks are seeded by file name (fastMRI), so every model sees the same inputs.

With ``profile.data_path == "stream"`` evaluation streams volume by volume: a volume's slices are
read (in DataLoader workers), reconstructed, scored and dropped before the next volume's results
are kept, so memory holds one volume's k-space and reconstructions (plus the workers' prefetched
batches), never a whole role. Given a :class:`~mriunlearn.distributed.DistInfo` of several ranks,
each rank scores the volumes ``rank::world_size`` and the per-volume rows are gathered (every rank
returns the whole table, in manifest order).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from fastmri import evaluate as fm_eval
from fastmri.data.transforms import VarNetSample, center_crop

from . import distributed
from .dataset import (SliceData, SliceIndex, StreamingSliceData, VolumeBatchSampler, collate,
                      make_dataset, make_loader, stream_loader)
from .errors import DataError
from .heap import bounded_heap
from .manifest import EVAL_ROLES, PAPER_COLUMNS, Manifest
from .model import reconstruct
from .physics import zero_filled_image
from .profiles import Profile

METRICS: tuple[str, ...] = ("psnr", "ssim", "nmse")


def volume_metrics(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """fastMRI PSNR, SSIM and NMSE of one volume.

    Args:
        gt: target ``(S, h, w)``.
        pred: reconstruction ``(S, H', W')`` with ``H' >= h, W' >= w`` (centre-cropped to ``gt``).
    """
    gt = np.asarray(gt, dtype=np.float32)
    pred = np.asarray(pred, dtype=np.float32)
    if gt.ndim != 3 or pred.ndim != 3 or pred.shape[0] != gt.shape[0]:
        raise ValueError(f"gt {gt.shape} and pred {pred.shape} must be (S, h, w) volumes of equal S")
    if pred.shape[1:] != gt.shape[1:]:
        pred = center_crop(torch.from_numpy(pred), gt.shape[1:]).numpy()
    with np.errstate(divide="ignore"):  # identical volumes: PSNR = inf
        psnr = _scalar(fm_eval.psnr(gt, pred))
    return {"psnr": psnr, "ssim": _scalar(fm_eval.ssim(gt, pred)),
            "nmse": _scalar(fm_eval.nmse(gt, pred))}


def ssim_by_label(gt: np.ndarray, pred: np.ndarray, labels: np.ndarray) -> dict[int, tuple[int, float]]:
    """Where a volume's SSIM is lost: ``{label: (pixels, sum of the SSIM map)}`` over the pixels that
    fastMRI's SSIM averages (each slice's 7x7-window map, data range = the volume's maximum, the
    3-pixel border left out as scikit-image does).

    Args:
        gt, pred: target and reconstruction ``(S, h, w)`` (``pred`` centre-cropped as in
            :func:`volume_metrics`).
        labels: integer tissue labels ``(S, h, w)``.

    ``1 - sum(ssim sums) / sum(pixels)`` is the volume's fastMRI SSIM deficit, so a label's
    ``pixels - ssim sum`` over the total pixels is its share of that deficit."""
    from skimage.metrics import structural_similarity

    gt = np.asarray(gt, dtype=np.float32)
    pred = np.asarray(pred, dtype=np.float32)
    if pred.shape[1:] != gt.shape[1:]:
        pred = center_crop(torch.from_numpy(pred), gt.shape[1:]).numpy()
    if labels.shape != gt.shape:
        raise ValueError(f"labels {labels.shape} must match the target {gt.shape}")
    out: dict[int, tuple[int, float]] = {}
    pad = (7 - 1) // 2  # scikit-image's default 7x7 window: its mean SSIM leaves this border out
    for target, recon, lab in zip(gt, pred, labels):
        _, smap = structural_similarity(target, recon, data_range=float(gt.max()), full=True)
        smap, lab = smap[pad:-pad, pad:-pad], lab[pad:-pad, pad:-pad]
        for code in np.unique(lab):
            mask = lab == code
            n, total = out.get(int(code), (0, 0.0))
            out[int(code)] = (n + int(mask.sum()), total + float(smap[mask].sum()))
    return out


def _scalar(x: object) -> float:
    return float(np.asarray(x, dtype=np.float64).reshape(-1)[0])


def eval_data(manifest: Manifest, role: str, profile: Profile,
              files: Sequence[str | os.PathLike[str]] | None = None) -> SliceIndex:
    """Evaluation slices of ``role`` (or of ``files`` among them), loaded now and not kept: a
    :class:`SliceData` (read and validated here) or, streaming, a :class:`StreamingSliceData` (an
    index only). To reuse them across evaluations, ask an :class:`EvalData` instead.

    Raises:
        DataError: ``role`` holds no volume.
    """
    if not manifest.files(role):
        raise DataError(f"role {role!r} holds no volume in {manifest.source or 'the manifest'}")
    return make_dataset(manifest, role, profile, train=False, files=files)


class EvalData:
    """Evaluation slices kept by their owner (one unlearning run, one relearn test) for reuse.

    Called as :func:`eval_data`; the first call for a key loads, later calls return the same object.
    The key is the manifest's content, data root, role, mask parameters (acceleration, centre
    fraction, mask type), ``files`` and data path. At most ``maxsize`` sets are kept (the least recently used
    is dropped). Nothing is shared between instances: an owner that drops its instance drops its
    slices.
    """

    def __init__(self, maxsize: int = 8) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._sets: OrderedDict[tuple, SliceIndex] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sets)

    def __call__(self, manifest: Manifest, role: str, profile: Profile,
                 files: Sequence[str | os.PathLike[str]] | None = None) -> SliceIndex:
        key = (manifest.content_hash(), str(manifest.data_root), role, profile.acceleration,
               profile.center_fraction, profile.mask_type, tuple(str(Path(f)) for f in files) if files else None,
               profile.data_path)
        if key in self._sets:
            self._sets.move_to_end(key)
            return self._sets[key]
        data = self._sets[key] = eval_data(manifest, role, profile, files)
        while len(self._sets) > self.maxsize:
            self._sets.popitem(last=False)
        return data


@torch.no_grad()
def _volumes(model: torch.nn.Module | None, data: SliceData, profile: Profile,
             batch_size: int | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per volume ``(target, recon, zero_filled)`` arrays ``(S, h, w)``; ``recon`` is the
    zero-filled image when ``model`` is None."""
    recons: list[list[np.ndarray]] = [[None] * t.shape[0] for t in data.targets]  # type: ignore[list-item]
    zfs: list[list[np.ndarray]] = [[None] * t.shape[0] for t in data.targets]  # type: ignore[list-item]
    was_training = model.training if model is not None else False
    if model is not None:
        model.eval()
    try:
        for batch_idx in make_loader(data, profile, train=False, batch_size=batch_size).batch_sampler:
            batch = _collate(data, batch_idx)
            zf = zero_filled_image(batch.masked_kspace, batch.crop_size).cpu().numpy()
            out = reconstruct(model, batch, profile).cpu().numpy() if model is not None else zf
            for j, i in enumerate(batch_idx):
                m = data.meta[i]
                recons[m.volume][m.slice_num] = out[j]
                zfs[m.volume][m.slice_num] = zf[j]
    finally:
        if model is not None:
            model.train(was_training)
    return [(data.targets[v].numpy(), np.stack(recons[v]), np.stack(zfs[v])) for v in range(len(recons))]


def _collate(data: SliceData, idx: Sequence[int]) -> VarNetSample:
    return collate([data[i] for i in idx])


@torch.no_grad()
def stream_volumes(model: torch.nn.Module | None, data: StreamingSliceData, profile: Profile,
                   batch_size: int | None = None, dist: distributed.DistInfo | None = None,
                   ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """``(volume, target, recon, zero_filled)`` (arrays ``(S, h, w)``) for each volume of this
    rank (:class:`~mriunlearn.dataset.VolumeBatchSampler`), one volume at a time: a volume's
    arrays are yielded as soon as its last slice is reconstructed and not kept afterwards.
    ``recon`` is the zero-filled image when ``model`` is None."""
    dist = dist or distributed.DistInfo.single()
    sampler = VolumeBatchSampler(data, batch_size or profile.eval_batch_size, rank=dist.rank,
                                 world_size=dist.world_size)
    loader = stream_loader(data, sampler, profile.num_workers)
    was_training = model.training if model is not None else False
    if model is not None:
        model.eval()
    try:
        with bounded_heap():  # freed slice-sized blocks go back to the system (see mriunlearn.heap)
            parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
            for idx, batch in zip(sampler, loader, strict=True):
                v = data.meta[idx[0]].volume
                zf = zero_filled_image(batch.masked_kspace, batch.crop_size).cpu().numpy()
                out = reconstruct(model, batch, profile).cpu().numpy() if model is not None else zf
                parts.append((batch.target.numpy(), out, zf))
                if data.meta[idx[-1]].slice_num == data.infos[v].num_slices - 1:  # volume complete
                    target, recon, zfs = (np.concatenate(a) for a in zip(*parts))
                    parts = []
                    yield v, target, recon, zfs
    finally:
        if model is not None:
            model.train(was_training)


def _stream_table(model: torch.nn.Module | None, data: StreamingSliceData, profile: Profile,
                  batch_size: int | None, dist: distributed.DistInfo | None) -> pd.DataFrame:
    """Per-volume rows of this rank's volumes, gathered from every rank, in dataset order."""
    dist = dist or distributed.DistInfo.single()
    rows = []
    for v, gt, rec, _ in stream_volumes(model, data, profile, batch_size, dist):
        m = data.meta[data.volume_slices(v)[0]]
        rows.append({"_volume": v, "file": m.fname, "role": m.role, "organ": m.organ,
                     "slices": gt.shape[0], **volume_metrics(gt, rec)})
    rows = sorted((r for part in distributed.all_gather_object(rows, dist) for r in part),
                  key=lambda r: r["_volume"])
    return pd.DataFrame(rows, columns=["file", "role", "organ", "slices", *METRICS])


def _role_table(model: torch.nn.Module | None, data: SliceIndex, profile: Profile,
                batch_size: int | None = None, dist: distributed.DistInfo | None = None) -> pd.DataFrame:
    """Per-volume rows of one role's data: streamed volume by volume, or from memory."""
    if isinstance(data, StreamingSliceData):
        return _stream_table(model, data, profile, batch_size, dist)
    return _table(data, _volumes(model, data, profile, batch_size))


def _table(data: SliceData, vols: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    rows = []
    first = {}
    for m in data.meta:
        first.setdefault(m.volume, m)
    for v, (gt, rec, _) in enumerate(vols):
        m = first[v]
        rows.append({"file": m.fname, "role": m.role, "organ": m.organ, "slices": gt.shape[0],
                     **volume_metrics(gt, rec)})
    return pd.DataFrame(rows, columns=["file", "role", "organ", "slices", *METRICS])


def evaluate(model: torch.nn.Module, manifest: Manifest, role: str | Sequence[str], profile: Profile,
             *, batch_size: int | None = None, entry=None, name: str | None = None,
             dist: distributed.DistInfo | None = None, data: EvalData | None = None) -> pd.DataFrame:
    """Per-volume PSNR / SSIM / NMSE of ``model`` on the volumes of ``role`` (or several roles).

    Eval masks are seeded by file name; no gradients; batches of ``profile.eval_batch_size``.
    With a cache ``entry``, the table is also saved beside the model as
    ``metrics_<role>.csv`` (or ``<name>.csv``; by rank 0 only). Streaming (``profile.data_path``),
    ``dist`` of several ranks splits the volumes across them (every rank must call this).
    ``data``: the caller's :class:`EvalData` to take the slices from (``None``: loaded for this call).

    Returns:
        One row per volume: ``file, role, organ, slices, psnr, ssim, nmse``.
    """
    roles = [role] if isinstance(role, str) else list(role)
    load = eval_data if data is None else data
    tables = [_role_table(model, load(manifest, r, profile), profile, batch_size, dist) for r in roles]
    table = pd.concat(tables, ignore_index=True)
    if entry is not None and (dist is None or dist.is_main):
        entry.write_csv(f"{name or 'metrics_' + '_'.join(roles)}.csv", table)
    return table


def evaluate_run(result, manifest: Manifest, roles: Sequence[str] = EVAL_ROLES) -> pd.DataFrame:
    """Per-volume metrics of a trained run (a :class:`mriunlearn.train.TrainResult`), cached as
    ``metrics_<roles>.csv`` in its finished cache entry: computed once, then read back."""
    entry = getattr(result, "entry", None)
    name = "metrics_" + "_".join(roles)
    if entry is not None and entry.is_done() and entry.file(name + ".csv").exists():
        return entry.read_csv(name + ".csv")
    return evaluate(result.model, manifest, list(roles), result.profile, entry=entry, name=name)


def zero_filled(manifest: Manifest, role: str | Sequence[str], profile: Profile, *,
                dist: distributed.DistInfo | None = None, data: EvalData | None = None) -> pd.DataFrame:
    """Per-volume metrics of the zero-filled baseline (RSS of the masked k-space; no model);
    ``dist`` and ``data`` as in :func:`evaluate`."""
    roles = [role] if isinstance(role, str) else list(role)
    load = eval_data if data is None else data
    tables = [_role_table(None, load(manifest, r, profile), profile, dist=dist) for r in roles]
    return pd.concat(tables, ignore_index=True)


def reconstruct_volume(model: torch.nn.Module | None, path: str | os.PathLike[str], profile: Profile,
                       slices: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(target, recon, zero_filled)`` arrays ``(S, h, w)`` of one volume with its eval mask
    (seeded by file name); ``slices`` selects some slices (all by default). ``model=None`` gives
    the zero-filled image as ``recon``."""
    data = SliceData([path], profile, train=False)
    target, recon, zf = _volumes(model, data, profile)[0]
    if slices is not None:
        idx = list(slices)
        return target[idx], recon[idx], zf[idx]
    return target, recon, zf


def paper_table(per_volume: pd.DataFrame, by: str | Sequence[str] = "model",
                metrics: Sequence[str] = ("psnr", "ssim")) -> pd.DataFrame:
    """The paper's columns as one tidy table: BTA (role ``test_brain``), KTA (``test_knee``),
    UA (``forget``), each metric's mean ± std over volumes.

    Args:
        per_volume: rows from :func:`evaluate` (several models stacked, with a ``model`` column,
            or any other grouping columns named in ``by``; missing grouping columns are ignored).

    Returns:
        Columns ``[*by, column, metric, mean, std, n]``, one row per group x paper column x metric,
        columns in the order BTA, KTA, UA. ``std`` is the sample standard deviation (ddof=1; NaN for
        one volume).
    """
    by = [by] if isinstance(by, str) else list(by)
    by = [b for b in by if b in per_volume.columns]
    df = per_volume[per_volume.role.isin(PAPER_COLUMNS)].copy()
    df["column"] = pd.Categorical(df.role.map(PAPER_COLUMNS), categories=list(PAPER_COLUMNS.values()),
                                  ordered=True)
    long = df.melt(id_vars=[*by, "column"], value_vars=list(metrics), var_name="metric")
    out = (long.groupby([*by, "column", "metric"], observed=True, sort=False)["value"]
           .agg(mean="mean", std="std", n="count").reset_index())
    out["metric"] = pd.Categorical(out.metric, categories=list(metrics), ordered=True)
    out = out.sort_values([*by, "column", "metric"], kind="stable").reset_index(drop=True)
    out["column"] = out.column.astype(str)
    out["metric"] = out.metric.astype(str)
    return out


def format_paper_table(tidy: pd.DataFrame, by: str | Sequence[str] = "model", digits: int = 2) -> pd.DataFrame:
    """Wide, printable form of :func:`paper_table`: one row per group, cells ``"mean ± std"``,
    columns like ``BTA psnr``."""
    by = [by] if isinstance(by, str) else list(by)
    by = [b for b in by if b in tidy.columns]
    t = tidy.copy()
    fmt = {"psnr": digits, "ssim": 3, "nmse": 4}
    t["cell"] = [f"{m:.{fmt.get(k, digits)}f} ± {s:.{fmt.get(k, digits)}f}"
                 for m, s, k in zip(t["mean"], t["std"].fillna(0.0), t.metric)]
    t["col"] = t.column + " " + t.metric
    order = list(dict.fromkeys(t.col))
    if not by:
        return t.set_index("col")["cell"].reindex(order).to_frame().T.reset_index(drop=True)
    wide = t.pivot_table(index=by, columns="col", values="cell", aggfunc="first", sort=False)
    return wide.reindex(columns=order).reset_index()
