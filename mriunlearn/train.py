"""The training entry point, shared by notebooks, the CLI and ``torchrun``.

``train(profile, manifest, roles)`` trains a fresh E2E-VarNet on the slices of ``roles``:

- ``("retain",)`` -> the oracle Ĝ (:func:`train_oracle`);
- ``("retain", "forget")`` -> the original model G (:func:`train_original`).

A run is stored in the run cache under a key hashed from (profile, roles, init weights, manifest
content, seed); a finished entry is loaded instead of retrained, a half-finished one resumes from
its last full-epoch checkpoint and ends with the same weights as an uninterrupted run (masks and
shuffling are drawn from (seed, epoch), never from global RNG state). The final checkpoint keeps
the optimiser and scheduler state, so unlearning can continue from G as the authors did.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from fastmri.data.transforms import VarNetSample
from tqdm import tqdm

from . import distributed, paths
from .cache import CacheEntry, RunCache
from .checkpoint import load_checkpoint, save_checkpoint
from .dataset import SliceIndex, make_dataset, make_loader, rank_batches, set_epoch
from .errors import CheckpointError, ConfigError
from .losses import recon_loss
from .manifest import ROLES, TRAIN_ROLES, Manifest, load_manifest
from .model import build_model, effective_precision, reconstruct
from .profiles import Profile, get_profile

KIND = "train"
HISTORY_CSV = "history.csv"
SUMMARY_JSON = "summary.json"
#: the files of a finished training run's cache entry, all a published base model ships
#: (:mod:`mriunlearn.base_models`); analyses cached beside them later are not part of the run
RUN_FILES: tuple[str, ...] = ("config.json", "checkpoint.pt", "model.pt", HISTORY_CSV, SUMMARY_JSON)
#: the columns of a run's ``history.csv`` and :attr:`TrainResult.history`, one row per epoch
HISTORY_COLUMNS: tuple[str, ...] = ("epoch", "train_loss", "val_loss", "val_psnr", "lr", "seconds", "slices")
#: how every random choice of a run is derived from its seed (recorded in each ``summary.json``)
SAMPLING: dict[str, str] = {
    "init": "model weights: torch.manual_seed(profile.seed) in a forked RNG (model.build_model)",
    "train_masks": "EquiSpacedMaskFunc seeded by (seed, epoch, slice index in manifest order)",
    "shuffle": "numpy default_rng([seed, epoch, 7919]) permutation of the slices",
    "eval_masks": "EquiSpacedMaskFunc seeded by tuple(map(ord, file name)) (fastMRI convention)",
}


@dataclass
class TrainResult:
    """What :func:`train` returns.

    ``model``: the trained VarNet (eval mode, on the training device); ``entry``: its cache entry
    (``None`` with ``cache=False``); ``history``: one row per epoch (``epoch, train_loss, val_loss,
    val_psnr, lr, seconds, slices``); ``wall_time_s``: training seconds summed over epochs (also
    across a resume); ``slice_steps``: slices seen in training (epochs x slices); ``cached``:
    loaded from a finished cache entry.
    """

    model: torch.nn.Module
    entry: CacheEntry | None
    history: pd.DataFrame
    wall_time_s: float
    slice_steps: int
    profile: Profile
    roles: tuple[str, ...]
    cached: bool = False


def in_notebook() -> bool:
    """True inside a Jupyter/IPython kernel (progress bars are then off by default)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def resolve_manifest(profile: Profile, manifest: Manifest | str | os.PathLike[str] | None) -> Manifest:
    """A :class:`Manifest` from an object, a CSV path (data root: the profile's) or ``None``
    (the profile's own manifest)."""
    if isinstance(manifest, Manifest):
        return manifest
    if manifest is None:
        return profile.load_manifest()
    root = profile.data_root if profile.data_root is not None else Path(manifest).parent
    return load_manifest(manifest, root)


def _check_roles(roles: str | Sequence[str]) -> tuple[str, ...]:
    roles = (roles,) if isinstance(roles, str) else tuple(roles)
    bad = [r for r in roles if r not in TRAIN_ROLES]
    if not roles or bad:
        raise ConfigError(f"training roles must be among {', '.join(TRAIN_ROLES)}; got {list(roles)}")
    return tuple(r for r in ROLES if r in roles)


def state_hash(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 (24 hex digits) of a state dict's names and tensor bytes."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:24]


def _init_state(init_from: Any) -> tuple[dict[str, torch.Tensor] | None, str | None]:
    """Weights to start from and their identity for the cache key."""
    if init_from is None:
        return None, None
    if isinstance(init_from, TrainResult):
        init_from = init_from.entry if init_from.entry is not None else init_from.model
    if isinstance(init_from, CacheEntry):
        return init_from.load_state_dict(), f"{init_from.kind}/{init_from.key}"
    if isinstance(init_from, torch.nn.Module):
        state = getattr(init_from, "module", init_from).state_dict()
    elif isinstance(init_from, (str, os.PathLike)):
        path = Path(init_from)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(f"init_from {path} is corrupt or unreadable: {exc}") from exc
        if isinstance(state, dict) and "model" in state and "format" in state:
            state = state["model"]
    elif isinstance(init_from, dict):
        state = init_from
    else:
        raise ConfigError(f"init_from must be a model, state dict, cache entry or path, got {type(init_from)}")
    state = {k: v.detach().cpu().clone() for k, v in state.items()}
    return state, "sha256:" + state_hash(state)


def make_optimizer(model: torch.nn.Module, profile: Profile) -> torch.optim.Adam:
    """Adam(lr = ``profile.lr``), as in the paper."""
    return torch.optim.Adam(model.parameters(), lr=profile.lr)


def make_scheduler(optimizer: torch.optim.Optimizer, profile: Profile) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
    """ReduceLROnPlateau(mode min, ``plateau_factor``, ``plateau_patience``) on the validation loss."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=profile.plateau_factor, patience=profile.plateau_patience)


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: VarNetSample,
               profile: Profile, *, global_count: int | None = None, world_size: int = 1,
               loss_fn: Callable[..., torch.Tensor] | None = None) -> float:
    """One optimiser step on ``batch`` with the profile's loss and gradient clipping.

    The loss is the sum of per-slice losses divided by ``global_count`` (the slices of the global
    batch across ranks) and multiplied by ``world_size``, so DDP's gradient averaging equals the
    single-process mean over the global batch. Returns the (local) summed per-slice loss.
    ``loss_fn(pred, target, max_value) -> (B,)`` replaces the profile's loss when given.
    """
    n = len(batch.fname)
    global_count = global_count or n
    optimizer.zero_grad(set_to_none=True)
    pred = reconstruct(model, batch, profile)
    target = batch.target.to(pred.device)
    maxv = batch.max_value.to(pred.device)
    per = (loss_fn(pred, target, maxv) if loss_fn is not None
           else recon_loss(pred, target, maxv, profile, reduction="none"))
    (per.sum() * (world_size / global_count)).backward()
    if profile.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), profile.grad_clip)
    optimizer.step()
    return float(per.detach().sum())


def _dummy_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: VarNetSample,
                profile: Profile) -> None:
    """A rank with no slice in this global batch joins DDP's gradient all-reduce with zeros."""
    optimizer.zero_grad(set_to_none=True)
    pred = reconstruct(model, batch, profile)
    (pred.sum() * 0.0).backward()
    if profile.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), profile.grad_clip)
    optimizer.step()


@torch.no_grad()
def validate(model: torch.nn.Module, data: SliceIndex, profile: Profile,
             dist: distributed.DistInfo | None = None) -> tuple[float, float]:
    """Mean validation loss over slices and mean per-volume PSNR (fastMRI convention: data range =
    the volume's maximum) with file-name-seeded masks. Sharded across ranks, then summed.

    ``data`` is an evaluation dataset of either path (:func:`~mriunlearn.dataset.make_dataset`):
    batches of ``profile.eval_batch_size`` same-shape slices come from
    :func:`~mriunlearn.dataset.make_loader`, so streaming (:class:`~mriunlearn.dataset.
    StreamingSliceData`, read by ``profile.num_workers`` workers) holds one batch of
    ``masked_kspace (B, C, H, W, 2)`` at a time plus per-volume sums ``(V,)``, never the role;
    both paths give the same numbers.

    Returns:
        ``(val_loss, val_psnr)``.
    """
    dist = dist or distributed.DistInfo.single()
    loader = make_loader(data, profile, train=False, rank=dist.rank, world_size=dist.world_size)
    nvol = data.num_volumes
    sse = torch.zeros(nvol, dtype=torch.float64)
    npx = torch.zeros(nvol, dtype=torch.float64)
    loss = torch.zeros(2, dtype=torch.float64)  # sum, count
    was_training = model.training
    model.eval()
    for _, batch_idx, batch in rank_batches(loader):
        if batch is None:
            continue
        pred = reconstruct(model, batch, profile)
        target = batch.target.to(pred.device)
        per = recon_loss(pred, target, batch.max_value.to(pred.device), profile, reduction="none")
        loss[0] += float(per.sum())
        loss[1] += len(batch_idx)
        err = ((pred - target).double() ** 2).flatten(1).sum(1).cpu()
        for j, i in enumerate(batch_idx):
            v = data.meta[i].volume
            sse[v] += err[j]
            npx[v] += target[j].numel()
    model.train(was_training)
    stats = torch.cat([loss, sse, npx])
    distributed.all_reduce_sum(stats, dist)
    loss, sse, npx = stats[:2], stats[2:2 + nvol], stats[2 + nvol:]
    maxv = torch.tensor(data.max_values, dtype=torch.float64)
    psnr = 10 * torch.log10(maxv ** 2 / (sse / npx))
    return float(loss[0] / loss[1]), float(psnr.mean())


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity (a batch scheduler's cpuset, ``taskset``), not
    the machine's core count (``os.cpu_count()``), which on a shared cluster node is far larger."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity call on this platform (macOS, Windows)
        return os.cpu_count() or 1


def set_threads(profile: Profile) -> None:
    """Set torch's intra-op threads from the profile (0 = all usable cores, split across the local
    DDP ranks).

    Float summation order, hence the last digits of every result, depends on the thread count, so
    every entry point (training, unlearning, the notebooks' study) sets it the same way instead of
    inheriting it from the environment: ``OMP_NUM_THREADS`` does not limit a run; ``num_threads``
    (``--set num_threads=N``) does.
    """
    if profile.num_threads > 0:
        torch.set_num_threads(profile.num_threads)
        return
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    torch.set_num_threads(max(1, usable_cores() // local_world))


def train_config(profile: Profile, roles: Sequence[str], init_id: str | None) -> dict[str, Any]:
    """The dict a training run's cache key is hashed from."""
    return {"task": "train", "profile": profile.train_identity(), "roles": list(roles),
            "init_from": init_id, "val_role": "val"}


def train(profile: Profile | str, manifest: Manifest | str | os.PathLike[str] | None = None,
          roles: str | Sequence[str] = ("retain",), *, cache: RunCache | bool | None = None,
          progress: bool | None = None, init_from: Any = None,
          on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None) -> TrainResult:
    """Train a fresh VarNet (or one initialised from ``init_from``) on the slices of ``roles``.

    Args:
        profile: a :class:`Profile` or a profile name.
        manifest: a :class:`Manifest`, a manifest CSV (data root: ``profile.data_root``) or ``None``
            for the profile's own.
        roles: training roles: ``("retain",)`` (oracle) or ``("retain", "forget")`` (original).
        cache: a :class:`RunCache`; ``None`` -> the default cache under ``paths.runs_dir()``;
            ``False`` -> no cache, no checkpoints.
        progress: tqdm bar on stderr (loss, slices/s); ``None`` -> on unless inside a Jupyter kernel.
        init_from: start weights: a model, state dict, :class:`CacheEntry`, ``TrainResult`` or a
            ``model.pt`` / checkpoint path (part of the cache key).
        on_epoch_end: called as ``on_epoch_end(epoch, record)`` after each epoch's checkpoint is
            written (raising from it interrupts the run; the next call resumes).

    The cache entry goes through :meth:`RunCache.run`: an unfinished one is trained only while
    holding its lock; if another job is training the same run, this call waits up to
    ``cache.lock_wait`` seconds (then loads that job's finished result) or raises
    :class:`~mriunlearn.errors.EntryLockedError` naming it.

    Runs as DDP when launched by ``torchrun`` (see :mod:`mriunlearn.distributed`).

    Returns:
        :class:`TrainResult`.
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    roles = _check_roles(roles)
    manifest = resolve_manifest(profile, manifest)
    for role in roles:
        if not manifest.files(role):
            raise ConfigError(f"role {role!r} holds no volume in {manifest.source or 'the manifest'}")
    if progress is None:
        progress = not in_notebook()
    dist = distributed.init()
    init_state, init_id = _init_state(init_from)
    config = train_config(profile, roles, init_id)

    # every volume is checked (the streaming path: headers only) before an entry or epoch starts
    data = make_dataset(manifest, roles, profile, train=True)
    val = make_dataset(manifest, "val", profile, train=False) if manifest.files("val") else None
    if cache is False:
        result = _fit(profile, manifest, roles, data, val, None, dist, init_state, progress, on_epoch_end)
        distributed.barrier(dist)  # the ranks leave together, as from a cached run
        return result
    cache = cache if isinstance(cache, RunCache) else RunCache()
    entry = cache.entry(KIND, config, manifest.content_hash(), profile.seed)
    result, _ = cache.run(
        entry, lambda e: _fit(profile, manifest, roles, data, val, e, dist, init_state, progress, on_epoch_end),
        lambda e: load_result(e, profile, roles, device=dist.device), dist)
    return result


def _fit(profile: Profile, manifest: Manifest, roles: tuple[str, ...], data: SliceIndex, val: SliceIndex | None,
         entry: CacheEntry | None, dist: distributed.DistInfo, init_state: dict[str, torch.Tensor] | None,
         progress: bool, on_epoch_end: Callable[[int, dict[str, Any]], None] | None) -> TrainResult:
    """The training of :func:`train` on the checked datasets ``data`` (training roles) and ``val``:
    resume from ``entry``'s checkpoint if there is one, train the remaining epochs and, with an
    ``entry`` (created, its lock held by rank 0), write the run's files from rank 0; marking it done
    is :meth:`RunCache.run`'s step."""
    set_threads(profile)
    model, optimizer, scheduler = _start_model(profile, init_state, dist.device)
    history, start = _resume(entry, model, optimizer, scheduler, dist.device)
    loader = make_loader(data, profile, train=True, rank=dist.rank, world_size=dist.world_size)
    ddp_model = distributed.wrap(model, dist)
    # profile.max_steps caps the optimiser steps (global batches: the same count on every rank);
    # after a resume the full epochs already run count as theirs (a capped run's last epoch is the
    # one the cap was reached in, so a resume past it runs nothing more)
    cap = profile.max_steps
    steps = min(cap, start * len(loader)) if cap is not None else start * len(loader)
    bar = tqdm(total=(profile.epochs - start) * len(data), unit="slice", file=sys.stderr, dynamic_ncols=True,
               disable=not (progress and dist.is_main), desc=f"train {'+'.join(roles)} ({profile.name})")
    try:
        for epoch in range(start, profile.epochs):
            if cap is not None and steps >= cap:
                break
            t0 = time.perf_counter()
            train_loss, seen, steps = _train_epoch(ddp_model, optimizer, loader, data, profile, dist, epoch,
                                                   steps, bar)
            val_loss, val_psnr = validate(model, val, profile, dist) if val is not None else (math.nan, math.nan)
            scheduler.step(val_loss if val is not None else train_loss)
            record = {"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss,
                      "val_psnr": val_psnr, "lr": optimizer.param_groups[0]["lr"],
                      "seconds": time.perf_counter() - t0, "slices": seen}
            history.append(record)
            if entry is not None and dist.is_main:
                save_checkpoint(entry.checkpoint_path, model, optimizer, scheduler, epoch,
                                entry.identity(), history=history)
            distributed.barrier(dist)
            if on_epoch_end is not None:
                on_epoch_end(epoch, record)
    finally:
        bar.close()

    hist = pd.DataFrame(history, columns=list(HISTORY_COLUMNS))
    if entry is not None and dist.is_main:
        entry.save_model(model)
        entry.write_csv(HISTORY_CSV, hist)
        entry.write_json(SUMMARY_JSON, _summary(profile, manifest, roles, hist, dist, steps))
    model.eval()
    return TrainResult(model, entry, hist, float(hist.seconds.sum()), int(hist.slices.sum()), profile, roles,
                       cached=False)


def _start_model(profile: Profile, init_state: dict[str, torch.Tensor] | None, device: torch.device
                 ) -> tuple[torch.nn.Module, torch.optim.Adam, torch.optim.lr_scheduler.ReduceLROnPlateau]:
    """A fresh VarNet (weights from ``init_state`` when given) on ``device`` with its new optimiser
    and scheduler."""
    model = build_model(profile)
    if init_state is not None:
        model.load_state_dict(init_state)
    model.to(device)
    optimizer = make_optimizer(model, profile)
    return model, optimizer, make_scheduler(optimizer, profile)


def _resume(entry: CacheEntry | None, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau, device: torch.device
            ) -> tuple[list[dict[str, Any]], int]:
    """Load ``entry``'s last full-epoch checkpoint into ``model``, ``optimizer`` and ``scheduler``.

    Returns:
        ``(history, first epoch to run)``: the checkpoint's epoch records and the epoch after its
        own, or ``([], 0)`` without an entry or a checkpoint.

    Raises:
        CheckpointError: the checkpoint is unreadable or belongs to another run (never resumed
            from, nor silently dropped).
    """
    if entry is None or not entry.checkpoint_path.exists():
        return [], 0
    try:
        state = load_checkpoint(entry.checkpoint_path, config=entry.identity(), map_location=device)
    except CheckpointError as exc:
        raise CheckpointError(f"cannot resume the run in {entry.path}: {exc}. Delete "
                              f"{entry.checkpoint_path} to restart this run from epoch 1") from exc
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return list(state["history"]), state["epoch"] + 1


def _train_epoch(ddp_model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: torch.utils.data.DataLoader,
                 data: SliceIndex,
                 profile: Profile, dist: distributed.DistInfo, epoch: int, steps: int, bar: tqdm
                 ) -> tuple[float, int, int]:
    """One training epoch of ``loader``'s global batches, stopping early once ``steps`` (optimiser
    steps so far) reaches ``profile.max_steps``; a rank with no slice in a global batch takes
    :func:`_dummy_step` so DDP's all-reduce stays in step.

    Returns:
        ``(train_loss, slices seen, steps)``: the mean per-slice loss over all ranks, the slices of
        the global batches run, and the optimiser step count after the epoch.
    """
    cap = profile.max_steps
    set_epoch(loader, epoch)
    ddp_model.train()
    total = torch.zeros(2, dtype=torch.float64)  # summed loss, slice count
    seen = 0
    for global_batch, mine, batch in rank_batches(loader):
        if cap is not None and steps >= cap:
            break
        if batch is not None:
            total[0] += train_step(ddp_model, optimizer, batch, profile,
                                   global_count=len(global_batch), world_size=dist.world_size)
            total[1] += len(mine)
        else:
            _dummy_step(ddp_model, optimizer, loader.collate_fn([data[global_batch[0]]]), profile)
        steps += 1
        seen += len(global_batch)
        bar.update(len(global_batch))
        if total[1] > 0:
            bar.set_postfix(epoch=epoch + 1, loss=f"{float(total[0] / total[1]):.4f}", refresh=False)
    distributed.all_reduce_sum(total, dist)
    return float(total[0] / total[1]), seen, steps


def _summary(profile: Profile, manifest: Manifest, roles: tuple[str, ...], hist: pd.DataFrame,
             dist: distributed.DistInfo, steps: int) -> dict[str, Any]:
    """The ``summary.json`` of a finished run: its totals, settings and sampling rules
    (``precision_run``: the precision it computed in, :func:`~mriunlearn.model.effective_precision`;
    ``max_steps`` and ``optimizer_steps`` only for a capped run)."""
    cap = profile.max_steps
    return {"wall_time_s": float(hist.seconds.sum()), "slice_steps": int(hist.slices.sum()),
            "profile": profile.portable_dict(), "roles": list(roles), "world_size": dist.world_size,
            "data_path": profile.data_path, "num_workers": profile.num_workers,
            "precision_run": effective_precision(profile, dist.device),
            **({"max_steps": cap, "optimizer_steps": steps} if cap is not None else {}),
            "manifest": paths.portable(manifest.source), "seed": profile.seed, "sampling": SAMPLING}


def load_result(entry: CacheEntry, profile: Profile, roles: Sequence[str],
                device: torch.device | str = "cpu") -> TrainResult:
    """A :class:`TrainResult` from a finished cache entry (no training)."""
    model = build_model(profile)
    model.load_state_dict(entry.load_state_dict())
    model.to(device).eval()
    hist = entry.read_csv(HISTORY_CSV)
    summary = entry.read_json(SUMMARY_JSON)
    return TrainResult(model, entry, hist, float(summary["wall_time_s"]), int(summary["slice_steps"]),
                       profile, tuple(roles), cached=True)


def train_original(profile: Profile | str, manifest: Manifest | str | os.PathLike[str] | None = None,
                   **kwargs: Any) -> TrainResult:
    """G: trained on retain + forget (see :func:`train` for the keyword arguments)."""
    return train(profile, manifest, ("retain", "forget"), **kwargs)


def train_oracle(profile: Profile | str, manifest: Manifest | str | os.PathLike[str] | None = None,
                 **kwargs: Any) -> TrainResult:
    """Ĝ, the oracle: trained on retain only (see :func:`train` for the keyword arguments)."""
    return train(profile, manifest, ("retain",), **kwargs)
