"""Run an unlearning method from G's final checkpoint, evaluate every epoch, cache the result.

:func:`run_unlearning` is what notebooks and the CLI call:

1. G comes from the engine's cache (:func:`mriunlearn.train.train_original`, trained if missing) or
   from ``original``; the run starts from G's final weights and, with ``resume_optimizer=True`` (the
   authors' choice), from G's final Adam state (moments, step counts and learning rate, bit for
   bit, from the ``optimizer`` of G's ``checkpoint.pt``; a G entry without one is refused). G's
   ReduceLROnPlateau state is not resumed: unlearning runs at that fixed learning rate.
2. The retain data the method sees: a seeded per-volume draw
   ``manifest.subset("retain", fraction, seed)`` (``profile.retain_fraction`` by default, any
   fraction on request), an explicit ``retain_files`` list, all of D_r (``full_ft``, ``retrain``) or
   none (``ga``, ``ga_l1``, ``nl``).
3. After every unlearning epoch the model is evaluated on ``test_brain``, ``test_knee`` and
   ``forget`` (BTA / KTA / UA, the paper's Table 2 dynamics); evaluation time is excluded from the
   recorded wall time.
4. The result is stored in the run cache (kind ``"unlearn"``) under a key hashed from the method,
   its resolved parameters, the profile, the retain files, G's identity, the optimiser option, the
   budget (epochs, or ``steps`` when set: ``steps`` enters the key only when set), the manifest
   content and the seed; a second call with the same inputs loads it. An
   unfinished entry is computed only while holding its lock (:meth:`~mriunlearn.cache.RunCache.claim`):
   a second job asking for the same run waits ``cache.lock_wait`` seconds or stops naming the first.

``retrain`` delegates to :func:`mriunlearn.train.train_oracle` (the engine's recipe and cache,
with the profile's seed replaced by ``seed`` when they differ).

Under ``torchrun --nproc_per_node N`` a run is data-parallel as training is: every global batch is
split across the ranks, gradients are averaged (see :mod:`mriunlearn.unlearning.base`), the model
lives on the rank's device, evaluation splits streamed volumes across ranks, and rank 0 alone
holds the entry's lock and writes it (the others wait at a barrier). As in training the cache key
does not hold the world size (the same global batches); the summary records it when above 1.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from .. import distributed
from ..cache import CacheEntry, RunCache
from ..checkpoint import load_checkpoint
from ..errors import CheckpointError, ConfigError
from ..fastmri_h5 import inspect_volume
from ..keys import key_config
from ..manifest import EVAL_ROLES, Manifest
from ..metrics import EvalData, evaluate, paper_table
from ..model import build_model
from ..profiles import Profile, get_profile
from ..train import SAMPLING, TrainResult, resolve_manifest, set_threads, state_hash, train_oracle, train_original
from . import check_budget, get_method, run_method, validate_params
from .base import UnlearnConfig, check_resume, file_names, frozen_copy

KIND = "unlearn"
PER_EPOCH_CSV = "per_epoch.csv"
FINAL_CSV = "final_per_volume.csv"
SUMMARY_JSON = "summary.json"


@dataclass
class UnlearnResult:
    """What :func:`run_unlearning` returns.

    Attributes:
        model: the unlearned VarNet (eval mode, CPU).
        per_epoch: tidy BTA/KTA/UA table per epoch: ``epoch, slice_steps, seconds, column, metric,
            mean, std, n`` (:func:`mriunlearn.metrics.paper_table` of each epoch's evaluation).
        final: per-volume metrics after the last epoch (``file, role, organ, slices, psnr, ssim,
            nmse``), the rows behind the final BTA/KTA/UA.
        wall_time_s: unlearning seconds (evaluation excluded; for ``retrain``: the engine's
            training seconds).
        slice_steps: slices through forward + backward passes (see :mod:`.base`).
        retain_files: names of the retain volumes the method saw (``[]`` for forget-only methods).
        config: method, resolved parameters (``variant`` included where it exists), seed, retain
            fraction and files, resume option, epochs, lr, G's identity, profile, cache key.
        entry: the cache entry (``None`` with ``cache=False``). cached: loaded from the cache.
    """

    model: torch.nn.Module
    per_epoch: pd.DataFrame
    final: pd.DataFrame
    wall_time_s: float
    slice_steps: int
    retain_files: list[str]
    config: dict[str, Any]
    entry: CacheEntry | None = None
    cached: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return str(self.config["method"])

    def table(self) -> pd.DataFrame:
        """The final BTA/KTA/UA table (mean ± std over volumes, PSNR and SSIM)."""
        return paper_table(self.final.assign(model=self.method))


def _resolve_original(profile: Profile, manifest: Manifest, original: Any, cache: Any,
                      progress: bool, resume: bool = True) -> tuple[torch.nn.Module, str, dict[str, Any] | None]:
    """G's model, identity string and, with ``resume``, final optimiser state (``None`` for a G
    without a cache entry, or without ``resume``).

    Raises:
        CheckpointError: with ``resume``, G's cache entry has no final checkpoint, a corrupt one, one
            written for another config or one without an optimiser state (the state would otherwise
            be dropped silently under the same key).
    """
    if original is None:
        original = train_original(profile, manifest, cache=cache, progress=progress)
    if isinstance(original, TrainResult):
        model = original.model
        entry = original.entry
    elif isinstance(original, torch.nn.Module):
        model, entry = original, None
    else:
        raise ConfigError(f"original must be a TrainResult or a model, got {type(original).__name__}")
    if entry is not None:
        ident = f"{entry.kind}/{entry.key}"
        state = _g_optimizer_state(entry) if resume else None
    else:
        ident, state = "sha256:" + state_hash(getattr(model, "module", model).state_dict()), None
    return getattr(model, "module", model), ident, state


def _g_optimizer_state(entry: CacheEntry) -> dict[str, Any]:
    """The Adam ``state_dict`` in G's final checkpoint (``torch.load(..., weights_only=True)``).

    Raises:
        CheckpointError: the checkpoint is missing, corrupt, written for another config or holds no
            optimiser state (names the file; ``resume_optimizer=False`` starts a fresh Adam instead).
    """
    path = entry.checkpoint_path
    try:
        state = load_checkpoint(path, config=entry.identity())["optimizer"]
    except CheckpointError as exc:
        raise CheckpointError(f"G's final checkpoint cannot be used ({exc}); delete the "
                              f"entry {entry.path} to retrain G") from exc
    if not state:
        raise CheckpointError(f"G's final checkpoint {path} holds no optimiser state to resume; "
                              "pass resume_optimizer=False for a fresh Adam(profile.lr)")
    return state


def _retain_files(cls: Any, method: str, manifest: Manifest, profile: Profile,
                  retain_fraction: float | None, retain_files: Sequence[str | os.PathLike[str]] | None,
                  seed: int) -> tuple[list[Path], float | None]:
    if cls.retain_scope in ("all", "none"):
        if retain_fraction is not None or retain_files is not None:
            what = "all of D_r" if cls.retain_scope == "all" else "no retain data"
            raise ConfigError(f"method {method!r} uses {what}: retain_fraction / retain_files "
                              "cannot be given (use 'ft' for a retain subset)")
        return (manifest.files("retain") if cls.retain_scope == "all" else []), \
            (1.0 if cls.retain_scope == "all" else None)
    if retain_files is not None:
        if retain_fraction is not None:
            raise ConfigError("give either retain_fraction or retain_files, not both")
        pool = {p.name: p for p in manifest.files("retain")}
        chosen = []
        for f in retain_files:
            name = Path(f).name
            if name not in pool:
                raise ConfigError(f"retain file {f} is not a retain volume of "
                                  f"{manifest.source or 'the manifest'}")
            chosen.append(pool[name])
        if not chosen:
            raise ConfigError("retain_files is empty")
        return chosen, len(chosen) / len(pool)
    fraction = profile.retain_fraction if retain_fraction is None else retain_fraction
    return manifest.subset("retain", fraction, seed), float(fraction)


def _check_inputs(method: str, cls: Any, manifest: Manifest) -> None:
    """Before any work: every role the run reads holds a volume and every volume of those roles
    opens with a valid structure (:func:`~mriunlearn.fastmri_h5.inspect_volume`, no arrays read), so
    a bad volume is reported now and not after G's training or the first unlearning epoch. (NaN/Inf
    values need the arrays: evaluation volumes are loaded before the first unlearning step.)

    Raises:
        ConfigError: a needed role is empty (names the role and the method).
        DataError: an unreadable or malformed volume (names the file).
    """
    roles = ["forget", *EVAL_ROLES] + (["retain"] if cls.retain_scope != "none" else [])
    for role in dict.fromkeys(roles):
        if not manifest.files(role):
            raise ConfigError(f"role {role!r} holds no volume in {manifest.source or 'the manifest'} "
                              f"(method {method!r} needs {', '.join(dict.fromkeys(roles))})")
    for role in dict.fromkeys(roles):
        for path in manifest.files(role):
            inspect_volume(path)


def _evaluate(model: torch.nn.Module, manifest: Manifest, profile: Profile,
              info: distributed.DistInfo | None = None, data: EvalData | None = None) -> pd.DataFrame:
    return evaluate(model, manifest, list(EVAL_ROLES), profile, info=info, data=data)


def _epoch_table(per_volume: pd.DataFrame, epoch: int, slice_steps: int, seconds: float) -> pd.DataFrame:
    tidy = paper_table(per_volume.assign(epoch=epoch), by="epoch", metrics=("psnr", "ssim", "nmse"))
    tidy.insert(1, "slice_steps", slice_steps)
    tidy.insert(2, "seconds", seconds)
    return tidy


def run_unlearning(profile: Profile | str, manifest: Manifest | str | os.PathLike[str] | None = None,
                   method: str = "nl_ft", *, params: Mapping[str, Any] | None = None,
                   retain_fraction: float | None = None,
                   retain_files: Sequence[str | os.PathLike[str]] | None = None,
                   seed: int | None = None, cache: RunCache | bool | None = None,
                   progress: bool = True, original: Any = None, resume_optimizer: bool = True,
                   epochs: int | None = None, steps: int | None = None,
                   eval_every_epoch: bool = True) -> UnlearnResult:
    """Unlearn D_f from G with ``method`` and evaluate it (cached).

    Args:
        profile: :class:`Profile` or name; gives the loss, lr, clipping, budget and defaults.
        manifest: :class:`Manifest`, CSV path or ``None`` (the profile's).
        method: a name in :data:`mriunlearn.unlearning.METHODS`.
        params: the method's hyper-parameters (validated; defaults filled in and recorded).
        retain_fraction: fraction of the retain volumes drawn with ``seed`` (default
            ``profile.retain_fraction``); only for methods that take a retain subset.
        retain_files: an explicit retain subset (volume paths or names of retain volumes).
        seed: unlearning seed (retain draw, noise, loaders, teachers; default ``profile.seed``).
        cache: a :class:`RunCache`, ``None`` (the default cache) or ``False`` (no caching).
        progress: a tqdm bar over epochs on stderr.
        original: G as a :class:`~mriunlearn.train.TrainResult` (its cache entry gives the
            optimiser state) or a model; ``None``: ``train_original(profile, manifest, cache=cache)``.
        resume_optimizer: start from G's final Adam state and learning rate (the authors' choice)
            when G comes with a cache entry; ``False``: a fresh Adam(``profile.lr``).
        epochs: unlearning epochs (default ``profile.unlearn_epochs``).
        steps: instead of ``epochs``, exactly this many optimiser steps with batch size 1 (the
            paper's step counts; see :mod:`mriunlearn.unlearning.base` for what a step is);
            recorded and keyed only when set.
        eval_every_epoch: evaluate BTA/KTA/UA after every epoch (else only after the last).

    Raises:
        ConfigError: unknown method or parameter, out-of-range value, retain options a method does
            not take, a retain file outside the manifest's retain role, ``steps`` not a positive
            integer, given with ``epochs`` or for ``ssd``/``retrain``, ``resume_optimizer`` not a bool.
        CheckpointError: ``resume_optimizer`` and G's cache entry has no usable optimiser state.
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    set_threads(profile)
    cls = get_method(method)
    params = validate_params(method, params)
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
    steps = check_budget(cls, epochs, steps)
    if steps is not None and method == "retrain":
        raise ConfigError("method 'retrain' trains the oracle with the engine's recipe "
                          "(profile.epochs): steps cannot be given (profile.max_steps caps it)")
    resume_optimizer = check_resume(resume_optimizer)
    manifest = resolve_manifest(profile, manifest)
    _check_inputs(method, cls, manifest)
    seed = profile.seed if seed is None else int(seed)
    files, fraction = _retain_files(cls, method, manifest, profile, retain_fraction, retain_files, seed)
    # under a steps budget: as many epochs as the steps need
    n_epochs = None if steps is not None else cls.epoch_budget(profile, epochs)
    run_cache = None if cache is False else cache if isinstance(cache, RunCache) else RunCache()

    if method == "retrain":
        g_model, g_id, g_opt = None, None, None
    else:
        g_model, g_id, g_opt = _resolve_original(profile, manifest, original, cache, progress,
                                                 resume_optimizer and cls.trains)
    config = key_config({
        "task": "unlearn", "method": method, "params": params, "profile": profile.identity(),
        "retain_files": file_names(files), "retain_fraction": fraction, "original": g_id,
        "resume_optimizer": resume_optimizer, "epochs": n_epochs,
        "eval_every_epoch": bool(eval_every_epoch), "eval_roles": list(EVAL_ROLES), "steps": steps,
    }, ("steps",))
    entry = run_cache.entry(KIND, config, manifest.content_hash(), seed) if run_cache is not None else None
    dist = distributed.init()
    # a finished entry is read without a lock; rank 0's view decides, so all ranks take one path
    if entry is not None and distributed.broadcast_object(entry.is_done(), dist):
        return load_unlearn_result(entry, profile)
    # an unfinished one is computed holding its lock (another job computing it: wait or stop);
    # under torchrun only rank 0 takes it and writes, and a refusal stops every rank
    claim = (run_cache.claim(entry, dist) if run_cache is not None and entry is not None
             else contextlib.nullcontext(False))
    with claim as finished:
        if finished:  # by the job this one waited for
            return load_unlearn_result(entry, profile)
        # the run's evaluation slices: loaded and validated (NaN/Inf) before any training, then
        # reused by every evaluation of this run
        eval_sets = EvalData()
        for role in EVAL_ROLES:
            eval_sets(manifest, role, profile)

        if method == "retrain":
            prof = profile if seed == profile.seed else profile.replace(seed=seed)
            res = train_oracle(prof, manifest, cache=cache, progress=progress)
            model = res.model.cpu().eval()
            final = _evaluate(model, manifest, profile, dist, eval_sets)
            per_epoch = _epoch_table(final, n_epochs, res.slice_steps, res.wall_time_s)
            wall, slice_steps, lr, info = res.wall_time_s, res.slice_steps, profile.lr, {
                "oracle_entry": f"{res.entry.kind}/{res.entry.key}" if res.entry is not None else None}
            resumed = False
        else:
            assert g_model is not None
            model = build_model(profile)
            model.load_state_dict(g_model.state_dict())
            # on the process's device, as training: a rank's GPU under torchrun, the GPU of a
            # single-GPU machine, else the CPU
            model.to(dist.device)
            teacher = frozen_copy(model)
            eval_seconds = 0.0
            epoch_tables: list[pd.DataFrame] = []
            last_eval: dict[str, pd.DataFrame] = {}
            t_start = time.perf_counter()
            bar = tqdm(total=n_epochs, unit="epoch", file=sys.stderr, disable=not (progress and dist.is_main),
                       desc=f"unlearn {method} ({profile.name})")

            def on_epoch(epoch: int, m: torch.nn.Module, slice_steps: int) -> None:
                nonlocal eval_seconds
                bar.update(1)
                if not eval_every_epoch and (n_epochs is None or epoch < n_epochs):
                    return
                t0 = time.perf_counter()
                seconds = t0 - t_start - eval_seconds
                per_volume = _evaluate(m, manifest, profile, dist, eval_sets)
                last_eval["final"] = per_volume
                epoch_tables.append(_epoch_table(per_volume, epoch, slice_steps, seconds))
                eval_seconds += time.perf_counter() - t0
                ua = per_volume.loc[per_volume.role == "forget", "psnr"].mean()
                bar.set_postfix(UA=f"{ua:.2f}", refresh=False)

            ucfg = UnlearnConfig(method=method, profile=profile, params=params, epochs=n_epochs,
                                 steps=steps, seed=seed, resume_optimizer=resume_optimizer,
                                 optimizer_state=g_opt, original=teacher, on_epoch=on_epoch,
                                 retain_total_slices=manifest.num_slices("retain"))
            try:
                run = run_method(model, files, manifest.files("forget") if cls.uses_forget else [], ucfg)
            finally:
                bar.close()
            if "final" not in last_eval:  # a step budget ended the run (or skipped evaluation)
                t0 = time.perf_counter()
                seconds = t0 - t_start - eval_seconds
                last_eval["final"] = per_volume = _evaluate(model, manifest, profile, dist, eval_sets)
                eval_seconds += time.perf_counter() - t0
                epoch_tables.append(_epoch_table(per_volume, int(run.info.get("epochs_run", run.epochs)),
                                                 run.slice_steps, seconds))
            wall = time.perf_counter() - t_start - eval_seconds
            slice_steps, lr = run.slice_steps, run.lr
            final = last_eval["final"]
            per_epoch = pd.concat(epoch_tables, ignore_index=True)
            resumed = bool(resume_optimizer and g_opt is not None and cls.trains)
            info = dict(run.info)
        model = model.cpu().eval()
        summary = key_config({
            "method": method, "params": params, "variant": params.get("variant"), "seed": seed,
            "retain_seed": seed if cls.retain_scope == "subset" and retain_files is None else None,
            "retain_fraction": fraction, "retain_files": file_names(files),
            "resume_optimizer": resume_optimizer, "optimizer_resumed": resumed, "lr": lr,
            "epochs": n_epochs if n_epochs is not None else int(info["epochs_run"]),
            "steps": steps, "original": g_id, "wall_time_s": wall,
            "slice_steps": slice_steps, **({"world_size": dist.world_size} if dist.distributed else {}),
            "profile": profile.to_dict(), "manifest": str(manifest.source), "info": info,
            "key": entry.key if entry is not None else None,
            "sampling": {**SAMPLING,
                         "retain_subset": "Manifest.subset('retain', retain_fraction, seed): numpy "
                                          "default_rng(seed) draw of volumes",
                         "method_noise": "torch.Generator().manual_seed(seed) and numpy "
                                         "default_rng([seed, 104729]) (unlearning.base.Method)"},
        }, ("steps",))
        # under torchrun the ranks ran one data-parallel unlearning; rank 0 alone writes
        if entry is not None and dist.is_main:
            entry.save_model(model)
            entry.write_csv(PER_EPOCH_CSV, per_epoch)
            entry.write_csv(FINAL_CSV, final)
            entry.write_json(SUMMARY_JSON, summary)
            entry.mark_done()
        distributed.barrier(dist)
        return UnlearnResult(model, per_epoch, final, float(wall), int(slice_steps), file_names(files),
                             summary, entry, cached=False, info=info)


def load_unlearn_result(entry: CacheEntry, profile: Profile) -> UnlearnResult:
    """An :class:`UnlearnResult` from a finished cache entry (no computation)."""
    model = build_model(profile)
    model.load_state_dict(entry.load_state_dict())
    model.eval()
    summary = entry.read_json(SUMMARY_JSON)
    return UnlearnResult(model, entry.read_csv(PER_EPOCH_CSV), entry.read_csv(FINAL_CSV),
                         float(summary["wall_time_s"]), int(summary["slice_steps"]),
                         list(summary["retain_files"]), summary, entry, cached=True,
                         info=dict(summary.get("info") or {}))
