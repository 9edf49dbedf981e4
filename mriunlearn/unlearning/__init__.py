"""Machine unlearning for MRI reconstruction: one interface, a registry of methods, a cached runner.

Every method is called the same way::

    from mriunlearn.unlearning import unlearn, UnlearnConfig
    model = unlearn(model, retain, forget, UnlearnConfig("nl_ft", profile, params={"noise_std": 1e-5}))

``retain`` / ``forget`` are training loaders (:func:`mriunlearn.dataset.make_loader`) or lists of
volume paths (made into loaders with the run's seed); ``retain`` is whatever part of D_r the method
may see (the runner passes the seeded subset D'_r, or all of D_r for ``full_ft``/``retrain``).
The model is updated in place and returned. Under ``torchrun`` the file lists' global batches are
split across ranks and gradients averaged, as in training (:mod:`mriunlearn.unlearning.base`); the
model must then be on the rank's device (:attr:`mriunlearn.distributed.DistInfo.device`).

Methods are found by name in :data:`METHODS`; each declares a one-line ``summary``, its
``source`` (the publication it comes from) and its hyper-parameters
(:class:`~mriunlearn.unlearning.base.Param`, defaults from its source). :func:`describe_methods`
renders all of it (``python -m mriunlearn methods``, ``unlearn --help``). :func:`validate_params`
rejects unknown methods, unknown parameter names and out-of-range values with a
:class:`~mriunlearn.errors.ConfigError` that lists the valid ones. Adding a method is one file with a
:class:`~mriunlearn.unlearning.base.Method` subclass decorated with :func:`register`, plus its import
below.

:func:`~mriunlearn.unlearning.runner.run_unlearning` runs a method from G's cached final checkpoint,
evaluates after every epoch, caches the result and records time, slice-steps, subset and seeds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from .. import distributed
from ..errors import ConfigError
from ..keys import key_config
from .base import (Method, MethodRun, Param, StepBudgetReached, UnlearnConfig, as_loader, check_steps,
                   describe_params)

#: registry: method name -> Method subclass, in registration order
METHODS: dict[str, type[Method]] = {}


def register(method_cls: type[Method]) -> type[Method]:
    """Class decorator adding a :class:`Method` subclass to :data:`METHODS` under ``method_cls.name``.

    Raises:
        ConfigError: the name is empty or taken, or the class declares no ``summary`` or ``source``
            (the command line lists both for every method).
    """
    if not method_cls.name or method_cls.name in METHODS:
        raise ConfigError(f"method name {method_cls.name!r} is empty or already registered")
    missing = [attr for attr in ("summary", "source") if not getattr(method_cls, attr).strip()]
    if missing:
        where = f"{method_cls.__module__}.{method_cls.__qualname__}"
        raise ConfigError(f"method {method_cls.name!r} ({where}) declares no {' and no '.join(missing)}")
    METHODS[method_cls.name] = method_cls
    return method_cls


def get_method(name: str) -> type[Method]:
    """The method class registered as ``name``.

    Raises:
        ConfigError: unknown name (lists the registered methods).
    """
    if name not in METHODS:
        raise ConfigError(f"unknown unlearning method {name!r}; valid methods: {', '.join(METHODS)}")
    return METHODS[name]


def validate_params(name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``params`` completed with the defaults of method ``name`` and checked, with every optional
    parameter that is unset, or set to the value the method implies for it
    (:meth:`~Method.implied_params`), left out (:func:`~mriunlearn.keys.key_config`): what a result
    records and what its cache key hashes.

    Raises:
        ConfigError: unknown method, unknown parameter (lists the valid ones with their defaults and
            ranges), wrong type or out-of-range value (names the parameter and the range).
    """
    method_cls = get_method(name)
    params = dict(params or {})
    unknown = sorted(set(params) - set(method_cls.params))
    if unknown:
        raise ConfigError(f"method {name!r}: unknown parameter(s) {unknown}; valid parameters: "
                          f"{describe_params(method_cls.params)}")
    checked = {k: spec.check(name, k, params.get(k, spec.default)) for k, spec in method_cls.params.items()}
    implied = method_cls.implied_params(checked)
    resolved = {k: None if k in implied and v == implied[k] else v for k, v in checked.items()}
    return key_config(resolved, [k for k, spec in method_cls.params.items() if spec.optional])


def method_table() -> list[dict[str, Any]]:
    """One row per method: name, summary, retain scope, whether it trains, its parameters and source."""
    return [{"method": n, "summary": c.summary, "retain": c.retain_scope, "forget": c.uses_forget,
             "trains": c.trains, "params": describe_params(c.params), "source": c.source}
            for n, c in METHODS.items()]


_READS = {"subset": "the retain subset D'_r", "all": "all of D_r", "none": ""}


def describe_method(name: str, *, source: bool = True) -> str:
    """Text of method ``name``, generated from its class: the summary, the data it reads, its budget,
    one line per parameter (type, default with its valid range or choices, meaning) and, with
    ``source``, the publication it comes from.

    Raises:
        ConfigError: unknown name (lists the registered methods).
    """
    method_cls = get_method(name)
    data = ("D_f" if method_cls.uses_forget else "", _READS[method_cls.retain_scope])
    reads = " and ".join(x for x in data if x)
    lines = [f"{name}: {method_cls.summary}", f"    reads {reads}; {method_cls.budget_text()}"]
    lines += [f"    {k}  {spec.kind.__name__}, default {spec.describe()}: {spec.doc}"
              for k, spec in method_cls.params.items()] or ["    no parameters"]
    if source:
        lines.append(f"    source: {method_cls.source}")
    return "\n".join(lines)


def describe_methods(names: Iterable[str] | None = None, *, source: bool = True) -> str:
    """:func:`describe_method` of each of ``names`` (default: every registered method, in
    registration order), separated by blank lines."""
    return "\n\n".join(describe_method(n, source=source) for n in (METHODS if names is None else names))


def check_budget(method_cls: type[Method], epochs: int | None, steps: Any) -> int | None:
    """``steps`` checked against the method and the epoch budget (see :func:`check_steps`).

    Raises:
        ConfigError: a bad ``steps``, or ``steps`` with ``epochs`` or for a method that takes no
            optimiser step.
    """
    steps = check_steps(steps)
    if steps is not None and not method_cls.trains:
        raise ConfigError(f"method {method_cls.name!r} takes no optimiser step: steps cannot be given")
    if steps is not None and epochs is not None:
        raise ConfigError(f"give either epochs ({epochs}) or steps ({steps}), not both")
    return steps


def _epochs(impl: Method, steps: int | None) -> Iterable[int]:
    """0-based epochs of the run: ``num_epochs()`` of them, or as many as ``steps`` needs."""
    return itertools.count() if steps is not None else range(impl.num_epochs())


def run_method(model: torch.nn.Module, retain: Any, forget: Any, cfg: UnlearnConfig) -> MethodRun:
    """:func:`unlearn` that also returns the slice-steps taken, resolved parameters, epochs run and lr.

    Raises:
        ConfigError: as :func:`unlearn`; under a steps budget also an epoch without an optimiser step
            (no data: the budget could never be reached).
    """
    params = validate_params(cfg.method, cfg.params)
    method_cls = get_method(cfg.method)
    steps = check_budget(method_cls, cfg.epochs, cfg.steps)
    seed = cfg.run_seed
    bs = 1 if steps is not None else None
    dist = distributed.init()  # torchrun: file lists' global batches are split across the ranks
    retain_l: Iterable[Any] = (as_loader(retain, cfg.profile, seed, bs, dist)
                               if method_cls.retain_scope != "none" else [])
    forget_l: Iterable[Any] = as_loader(forget, cfg.profile, seed, bs, dist) if method_cls.uses_forget else []
    impl = method_cls(model, cfg, params, dist)
    model.train()
    impl.setup(retain_l, forget_l)
    ran = 0
    for epoch in _epochs(impl, steps):
        model.train()
        ran = epoch + 1
        impl.epoch_start_steps = impl.optimizer_steps
        try:
            impl.run_epoch(epoch, retain_l, forget_l)
        except StepBudgetReached:  # steps or profile.max_steps: this epoch is the run's last
            if cfg.on_epoch is not None:
                cfg.on_epoch(epoch + 1, model, sum(impl.global_slice_steps()))
            break
        if cfg.on_epoch is not None:
            cfg.on_epoch(epoch + 1, model, sum(impl.global_slice_steps()))
        if steps is not None and impl.optimizer_steps == impl.epoch_start_steps:
            raise ConfigError(f"method {method_cls.name!r}: epoch {epoch + 1} took no optimiser step (no "
                              f"data), so the budget of {steps} steps cannot be reached")
    lr = impl.optimizer.param_groups[0]["lr"] if impl.optimizer is not None else None
    model.eval()
    run_info = impl.info()
    per_rank = impl.global_slice_steps()  # summed over ranks: the slices of the global batches
    if len(per_rank) > 1:
        run_info = {**run_info, "world_size": len(per_rank), "rank_slice_steps": per_rank}
    if impl.step_cap() is not None:
        run_info = key_config({**run_info, "steps": steps, "max_steps": cfg.profile.max_steps,
                               "optimizer_steps": impl.optimizer_steps, "epochs_run": ran},
                              ("steps", "max_steps"))
    return MethodRun(model, sum(per_rank), params, impl.num_epochs() if steps is None else ran, lr, run_info)


def unlearn(model: torch.nn.Module, retain: Any, forget: Any, cfg: UnlearnConfig) -> torch.nn.Module:
    """Apply unlearning method ``cfg.method`` to ``model`` (in place) and return it.

    Args:
        model: G, a ``VarNet`` (any module :func:`mriunlearn.model.reconstruct` can run).
        retain: loader or list of volume paths of the retain data the method may see.
        forget: loader or list of volume paths of D_f.
        cfg: method, parameters, profile, budget, seed, optimiser state (:class:`UnlearnConfig`).

    Raises:
        ConfigError: unknown method or parameter, out-of-range value, a bad ``cfg.steps``.
    """
    return run_method(model, retain, forget, cfg).model


# Method files register themselves on import (order = listing order).
from . import (  # noqa: E402,F401
    retrain, full_ft, ft, ga, ga_l1, nl, ga_l1_ft, nl_ft,
    neggrad_plus, bad_teacher, scrub, ssd, salun, l1_sparse,
)
from .runner import UnlearnPlan, UnlearnResult, plan_unlearning, run_unlearning  # noqa: E402

__all__ = ["METHODS", "Method", "MethodRun", "Param", "UnlearnConfig", "UnlearnPlan", "UnlearnResult",
           "check_budget", "describe_method", "describe_methods", "get_method", "method_table", "plan_unlearning",
           "register", "run_method", "run_unlearning", "unlearn", "validate_params"]
