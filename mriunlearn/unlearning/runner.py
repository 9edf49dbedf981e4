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
   content and the seed (:meth:`UnlearnPlan.cache_config`); a second call with the same inputs loads
   it. The entry goes through :meth:`~mriunlearn.cache.RunCache.run`: an unfinished one is computed
   only while holding its lock, and a second job asking for the same run waits ``cache.lock_wait``
   seconds or stops naming the first.

The arguments are checked and the run decided by :func:`plan_unlearning` (no model, no training)
before G is found or trained.

``retrain`` delegates to :func:`mriunlearn.train.train_oracle` (the engine's recipe and cache,
with the profile's seed replaced by ``seed`` when they differ).

Under ``torchrun --nproc_per_node N`` a run is data-parallel as training is: every global batch is
split across the ranks, gradients are averaged (see :mod:`mriunlearn.unlearning.base`), the model
lives on the rank's device, evaluation splits streamed volumes across ranks, and rank 0 alone
holds the entry's lock and writes it (the others wait at a barrier). As in training the cache key
does not hold the world size (the same global batches); the summary records it when above 1.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

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
from .base import Method, UnlearnConfig, check_resume, file_names, frozen_copy

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


class Original(NamedTuple):
    """G as an unlearning run starts from it: its model, its identity in cache keys
    (``"train/<key>"`` for a cache entry, else ``"sha256:<weights hash>"``) and, when asked for,
    its final Adam ``state_dict`` (else ``None``)."""

    model: torch.nn.Module
    ident: str
    optimizer_state: dict[str, Any] | None


def _resolve_original(profile: Profile, manifest: Manifest, original: Any, cache: Any,
                      progress: bool, resume: bool = True) -> Original:
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
    return Original(getattr(model, "module", model), ident, state)


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


def _retain_files(method_cls: Any, method: str, manifest: Manifest, profile: Profile,
                  retain_fraction: float | None, retain_files: Sequence[str | os.PathLike[str]] | None,
                  seed: int) -> tuple[list[Path], float | None]:
    if method_cls.retain_scope in ("all", "none"):
        if retain_fraction is not None or retain_files is not None:
            what = "all of D_r" if method_cls.retain_scope == "all" else "no retain data"
            raise ConfigError(f"method {method!r} uses {what}: retain_fraction / retain_files "
                              "cannot be given (use 'ft' for a retain subset)")
        return (manifest.files("retain") if method_cls.retain_scope == "all" else []), \
            (1.0 if method_cls.retain_scope == "all" else None)
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


def _check_inputs(method: str, method_cls: Any, manifest: Manifest) -> None:
    """Before any work: every role the run reads holds a volume and every volume of those roles
    opens with a valid structure (:func:`~mriunlearn.fastmri_h5.inspect_volume`, no arrays read), so
    a bad volume is reported now and not after G's training or the first unlearning epoch. (NaN/Inf
    values need the arrays: evaluation volumes are loaded before the first unlearning step.)

    Raises:
        ConfigError: a needed role is empty (names the role and the method).
        DataError: an unreadable or malformed volume (names the file).
    """
    roles = ["forget", *EVAL_ROLES] + (["retain"] if method_cls.retain_scope != "none" else [])
    for role in dict.fromkeys(roles):
        if not manifest.files(role):
            raise ConfigError(f"role {role!r} holds no volume in {manifest.source or 'the manifest'} "
                              f"(method {method!r} needs {', '.join(dict.fromkeys(roles))})")
    for role in dict.fromkeys(roles):
        for path in manifest.files(role):
            inspect_volume(path)


def _evaluate(model: torch.nn.Module, manifest: Manifest, profile: Profile,
              dist: distributed.DistInfo | None = None, data: EvalData | None = None) -> pd.DataFrame:
    return evaluate(model, manifest, list(EVAL_ROLES), profile, dist=dist, data=data)


def _epoch_table(per_volume: pd.DataFrame, epoch: int, slice_steps: int, seconds: float) -> pd.DataFrame:
    tidy = paper_table(per_volume.assign(epoch=epoch), by="epoch", metrics=("psnr", "ssim", "nmse"))
    tidy.insert(1, "slice_steps", slice_steps)
    tidy.insert(2, "seconds", seconds)
    return tidy


@dataclass(frozen=True)
class UnlearnPlan:
    """A checked unlearning run, decided before any model is built (:func:`plan_unlearning`).

    Attributes:
        method: a registered method name; ``profile``, ``manifest``: the resolved ones.
        params: the method's validated parameters (defaults filled in).
        seed: the unlearning seed (retain draw, noise, loaders, teachers).
        retain_files: the retain volumes the method sees (``[]`` for forget-only methods).
        retain_fraction: their fraction of the retain role (``None`` for forget-only methods).
        retain_drawn: the retain volumes are a subset drawn with ``seed`` (no ``retain_files`` given).
        epochs: the epoch budget (``None`` under a ``steps`` budget).
        steps: the optimiser-step budget, or ``None``.
        resume_optimizer, eval_every_epoch: as given to :func:`run_unlearning`.
    """

    method: str
    profile: Profile
    manifest: Manifest
    params: dict[str, Any]
    seed: int
    retain_files: list[Path]
    retain_fraction: float | None
    retain_drawn: bool
    epochs: int | None
    steps: int | None
    resume_optimizer: bool
    eval_every_epoch: bool

    @property
    def method_class(self) -> type[Method]:
        """The registered class of :attr:`method`."""
        return get_method(self.method)

    @property
    def needs_original(self) -> bool:
        """Whether the run starts from G (every method but ``retrain``)."""
        return self.method != "retrain"

    @property
    def resumes_optimizer(self) -> bool:
        """Whether G's final Adam state is asked for (a method that trains, with ``resume_optimizer``)."""
        return self.resume_optimizer and self.method_class.trains

    def cache_config(self, original: str | None) -> dict[str, Any]:
        """The dict the run's cache key is hashed from, given G's identity ``original`` (``None``
        for ``retrain``); ``steps`` is in it only when set."""
        return key_config({
            "task": "unlearn", "method": self.method, "params": self.params, "profile": self.profile.identity(),
            "retain_files": file_names(self.retain_files), "retain_fraction": self.retain_fraction,
            "original": original, "resume_optimizer": self.resume_optimizer, "epochs": self.epochs,
            "eval_every_epoch": bool(self.eval_every_epoch), "eval_roles": list(EVAL_ROLES), "steps": self.steps,
        }, ("steps",))

    def entry(self, cache: RunCache, original: str | None) -> CacheEntry:
        """The run's cache entry in ``cache`` (not created on disk)."""
        return cache.entry(KIND, self.cache_config(original), self.manifest.content_hash(), self.seed)


def plan_unlearning(profile: Profile | str, manifest: Manifest | str | os.PathLike[str] | None = None,
                    method: str = "nl_ft", *, params: Mapping[str, Any] | None = None,
                    retain_fraction: float | None = None,
                    retain_files: Sequence[str | os.PathLike[str]] | None = None,
                    seed: int | None = None, resume_optimizer: bool = True, epochs: int | None = None,
                    steps: int | None = None, eval_every_epoch: bool = True) -> UnlearnPlan:
    """Check the arguments of :func:`run_unlearning` (same meaning) and decide the run: method,
    parameters, budget, retain volumes. Builds no model and trains nothing; reads only the headers
    of the volumes the run needs (:func:`_check_inputs`).

    Raises:
        ConfigError, DataError: as :func:`run_unlearning`.
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    method_cls = get_method(method)
    params = validate_params(method, params)
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
    steps = check_budget(method_cls, epochs, steps)
    if steps is not None and method == "retrain":
        raise ConfigError("method 'retrain' trains the oracle with the engine's recipe "
                          "(profile.epochs): steps cannot be given (profile.max_steps caps it)")
    resume_optimizer = check_resume(resume_optimizer)
    manifest = resolve_manifest(profile, manifest)
    _check_inputs(method, method_cls, manifest)
    seed = profile.seed if seed is None else int(seed)
    files, fraction = _retain_files(method_cls, method, manifest, profile, retain_fraction, retain_files, seed)
    return UnlearnPlan(
        method=method, profile=profile, manifest=manifest, params=params, seed=seed, retain_files=files,
        retain_fraction=fraction, retain_drawn=method_cls.retain_scope == "subset" and retain_files is None,
        # under a steps budget: as many epochs as the steps need
        epochs=None if steps is not None else method_cls.epoch_budget(profile, epochs), steps=steps,
        resume_optimizer=resume_optimizer, eval_every_epoch=bool(eval_every_epoch))


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

    The arguments are checked by :func:`plan_unlearning`; the cache entry goes through
    :meth:`RunCache.run` (loaded when finished, else computed under its lock by
    :func:`_execute`).

    Raises:
        ConfigError: unknown method or parameter, out-of-range value, retain options a method does
            not take, a retain file outside the manifest's retain role, ``steps`` not a positive
            integer, given with ``epochs`` or for ``ssd``/``retrain``, ``resume_optimizer`` not a bool.
        CheckpointError: ``resume_optimizer`` and G's cache entry has no usable optimiser state.
    """
    plan = plan_unlearning(profile, manifest, method, params=params, retain_fraction=retain_fraction,
                           retain_files=retain_files, seed=seed, resume_optimizer=resume_optimizer,
                           epochs=epochs, steps=steps, eval_every_epoch=eval_every_epoch)
    set_threads(plan.profile)
    g = (_resolve_original(plan.profile, plan.manifest, original, cache, progress, plan.resumes_optimizer)
         if plan.needs_original else None)
    run_cache = None if cache is False else cache if isinstance(cache, RunCache) else RunCache()
    entry = plan.entry(run_cache, g.ident if g is not None else None) if run_cache is not None else None
    dist = distributed.init()

    def compute(e: CacheEntry | None) -> UnlearnResult:
        return _execute(plan, g, e, dist, cache=cache, progress=progress)

    if run_cache is None or entry is None:
        result = compute(None)
        distributed.barrier(dist)  # the ranks leave together, as from a cached run
        return result
    result, _ = run_cache.run(entry, compute, lambda e: load_unlearn_result(e, plan.profile), dist)
    return result


@dataclass
class _Outcome:
    """What a computed run hands to :func:`_execute` for its result and summary."""

    model: torch.nn.Module
    per_epoch: pd.DataFrame
    final: pd.DataFrame
    wall_time_s: float
    slice_steps: int
    lr: float | None
    info: dict[str, Any]
    optimizer_resumed: bool


def _execute(plan: UnlearnPlan, g: Original | None, entry: CacheEntry | None, dist: distributed.DistInfo,
             *, cache: RunCache | bool | None, progress: bool) -> UnlearnResult:
    """Compute the planned run on every rank and, with an ``entry`` (created, its lock held by
    rank 0), write its files from rank 0 (marking it done is :meth:`RunCache.run`'s step).

    ``g``: G (``None`` for ``retrain``); ``cache``: the cache ``retrain`` trains the oracle in.
    """
    # the run's evaluation slices: loaded and validated (NaN/Inf) before any training, then
    # reused by every evaluation of this run
    eval_sets = EvalData()
    for role in EVAL_ROLES:
        eval_sets(plan.manifest, role, plan.profile)
    if g is None:
        outcome = _retrain(plan, dist, eval_sets, cache=cache, progress=progress)
    else:
        outcome = _unlearn(plan, g, dist, eval_sets, progress=progress)
    model = outcome.model.cpu().eval()
    summary = _summary(plan, outcome, g.ident if g is not None else None, entry, dist)
    # under torchrun the ranks ran one data-parallel unlearning; rank 0 alone writes
    if entry is not None and dist.is_main:
        entry.save_model(model)
        entry.write_csv(PER_EPOCH_CSV, outcome.per_epoch)
        entry.write_csv(FINAL_CSV, outcome.final)
        entry.write_json(SUMMARY_JSON, summary)
    return UnlearnResult(model, outcome.per_epoch, outcome.final, float(outcome.wall_time_s),
                         int(outcome.slice_steps), file_names(plan.retain_files), summary, entry,
                         cached=False, info=outcome.info)


def _retrain(plan: UnlearnPlan, dist: distributed.DistInfo, eval_sets: EvalData, *,
             cache: RunCache | bool | None, progress: bool) -> _Outcome:
    """``retrain``: the oracle from :func:`~mriunlearn.train.train_oracle` (the engine's recipe and
    cache, the profile's seed replaced by the plan's when they differ), evaluated once; its wall
    time and slice-steps are the engine's training ones."""
    prof = plan.profile if plan.seed == plan.profile.seed else plan.profile.replace(seed=plan.seed)
    res = train_oracle(prof, plan.manifest, cache=cache, progress=progress)
    model = res.model.cpu().eval()
    final = _evaluate(model, plan.manifest, plan.profile, dist, eval_sets)
    per_epoch = _epoch_table(final, plan.epochs, res.slice_steps, res.wall_time_s)
    info = {"oracle_entry": f"{res.entry.kind}/{res.entry.key}" if res.entry is not None else None}
    return _Outcome(model, per_epoch, final, res.wall_time_s, res.slice_steps, plan.profile.lr, info,
                    optimizer_resumed=False)


class _EpochEvaluator:
    """The ``on_epoch`` callback of an unlearning run: evaluates BTA/KTA/UA after an epoch (every
    epoch, or only the last without ``eval_every_epoch``) and keeps evaluation time out of the
    unlearning time (:meth:`unlearn_seconds`)."""

    def __init__(self, plan: UnlearnPlan, dist: distributed.DistInfo, eval_sets: EvalData, bar: tqdm) -> None:
        self.plan, self.dist, self.eval_sets, self.bar = plan, dist, eval_sets, bar
        self.tables: list[pd.DataFrame] = []
        self.final: pd.DataFrame | None = None
        self.eval_seconds = 0.0
        self.t_start = time.perf_counter()

    def unlearn_seconds(self, now: float | None = None) -> float:
        """Seconds since the start, evaluation excluded."""
        return (time.perf_counter() if now is None else now) - self.t_start - self.eval_seconds

    def evaluate(self, model: torch.nn.Module, epoch: int, slice_steps: int) -> pd.DataFrame:
        """Evaluate ``model`` now, record the epoch's table and return the per-volume metrics."""
        t0 = time.perf_counter()
        seconds = self.unlearn_seconds(t0)
        self.final = _evaluate(model, self.plan.manifest, self.plan.profile, self.dist, self.eval_sets)
        self.tables.append(_epoch_table(self.final, epoch, slice_steps, seconds))
        self.eval_seconds += time.perf_counter() - t0
        return self.final

    def __call__(self, epoch: int, model: torch.nn.Module, slice_steps: int) -> None:
        self.bar.update(1)
        if not self.plan.eval_every_epoch and (self.plan.epochs is None or epoch < self.plan.epochs):
            return
        per_volume = self.evaluate(model, epoch, slice_steps)
        ua = per_volume.loc[per_volume.role == "forget", "psnr"].mean()
        self.bar.set_postfix(UA=f"{ua:.2f}", refresh=False)


def _unlearn(plan: UnlearnPlan, g: Original, dist: distributed.DistInfo, eval_sets: EvalData, *,
             progress: bool) -> _Outcome:
    """Every method but ``retrain``: run it from a copy of G (on the process's device: a rank's
    GPU under torchrun, the GPU of a single-GPU machine, else the CPU), evaluating as
    :class:`_EpochEvaluator` does and once more after the run if no evaluation saw its end."""
    model = build_model(plan.profile)
    model.load_state_dict(g.model.state_dict())
    model.to(dist.device)
    teacher = frozen_copy(model)
    bar = tqdm(total=plan.epochs, unit="epoch", file=sys.stderr, disable=not (progress and dist.is_main),
               desc=f"unlearn {plan.method} ({plan.profile.name})")
    evaluator = _EpochEvaluator(plan, dist, eval_sets, bar)
    config = UnlearnConfig(method=plan.method, profile=plan.profile, params=plan.params, epochs=plan.epochs,
                           steps=plan.steps, seed=plan.seed, resume_optimizer=plan.resume_optimizer,
                           optimizer_state=g.optimizer_state, original=teacher, on_epoch=evaluator,
                           retain_total_slices=plan.manifest.num_slices("retain"))
    forget = plan.manifest.files("forget") if plan.method_class.uses_forget else []
    try:
        run = run_method(model, plan.retain_files, forget, config)
    finally:
        bar.close()
    final = evaluator.final
    if final is None:  # a step budget ended the run (or skipped evaluation)
        final = evaluator.evaluate(model, int(run.info.get("epochs_run", run.epochs)), run.slice_steps)
    resumed = bool(plan.resume_optimizer and g.optimizer_state is not None and plan.method_class.trains)
    return _Outcome(model, pd.concat(evaluator.tables, ignore_index=True), final, evaluator.unlearn_seconds(),
                    run.slice_steps, run.lr, dict(run.info), optimizer_resumed=resumed)


def _summary(plan: UnlearnPlan, outcome: _Outcome, g_id: str | None, entry: CacheEntry | None,
             dist: distributed.DistInfo) -> dict[str, Any]:
    """The run's ``summary.json`` (also :attr:`UnlearnResult.config`)."""
    return key_config({
        "method": plan.method, "params": plan.params, "variant": plan.params.get("variant"), "seed": plan.seed,
        "retain_seed": plan.seed if plan.retain_drawn else None,
        "retain_fraction": plan.retain_fraction, "retain_files": file_names(plan.retain_files),
        "resume_optimizer": plan.resume_optimizer, "optimizer_resumed": outcome.optimizer_resumed,
        "lr": outcome.lr, "epochs": plan.epochs if plan.epochs is not None else int(outcome.info["epochs_run"]),
        "steps": plan.steps, "original": g_id,
        "wall_time_s": outcome.wall_time_s, "slice_steps": outcome.slice_steps,
        **({"world_size": dist.world_size} if dist.distributed else {}),
        "profile": plan.profile.to_dict(), "manifest": str(plan.manifest.source), "info": outcome.info,
        "key": entry.key if entry is not None else None,
        "sampling": {**SAMPLING,
                     "retain_subset": "Manifest.subset('retain', retain_fraction, seed): numpy "
                                      "default_rng(seed) draw of volumes",
                     "method_noise": "torch.Generator().manual_seed(seed) and numpy "
                                     "default_rng([seed, 104729]) (unlearning.base.Method)"},
    }, ("steps",))


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
