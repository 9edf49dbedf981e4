"""Notebook 03, beyond the paper: does forgetting hold when the sampling changes? G, Ĝ and every
unlearned model evaluated, without retraining, at other accelerations and with random instead of
equispaced masks; per condition the mean absolute PSNR gap to Ĝ and how far the ranking of the
methods by that gap agrees with the trained condition's (Spearman's ρ)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from scipy import stats

from ..errors import ConfigError
from ..forgetting import oracle_distance
from ..metrics import EVAL_ROLES, evaluate
from ..profiles import MASK_TYPES
from .results import column_means
from .study import Study, cached_table, run_entry

__all__ = ["Condition", "check_conditions", "conditions", "ranking_agreement", "shift_table"]

#: one sampling condition: ``(mask type, acceleration)``
Condition = tuple[str, int]


def check_conditions(accelerations: Sequence[Any], mask_types: Sequence[Any]) -> tuple[list[int], list[str]]:
    """``SHIFT_ACCELERATIONS`` (integers >= 2) and ``SHIFT_MASKS`` (of :data:`~mriunlearn.profiles.MASK_TYPES`) checked."""
    accs = list(accelerations)
    if not accs or any(isinstance(a, bool) or not isinstance(a, int) or a < 2 for a in accs):
        raise ConfigError(f"SHIFT_ACCELERATIONS must be a non-empty list of integers >= 2, got {accelerations!r}")
    masks = list(mask_types)
    if not masks or any(m not in MASK_TYPES for m in masks):
        raise ConfigError(f"SHIFT_MASKS must be a non-empty list of {', '.join(MASK_TYPES)}, got {mask_types!r}")
    return accs, masks


def conditions(trained: Condition, accelerations: Sequence[int], mask_types: Sequence[str]) -> list[Condition]:
    """Every equispaced acceleration of ``accelerations`` and the trained condition, by acceleration,
    then every other mask type at the trained acceleration (each once).

    >>> conditions(("equispaced", 8), [4, 12], ["equispaced", "random"])
    [('equispaced', 4), ('equispaced', 8), ('equispaced', 12), ('random', 8)]
    """
    equispaced = sorted({("equispaced", a) for a in accelerations} | ({trained} if trained[0] == "equispaced" else set()),
                        key=lambda c: c[1])
    others = [(m, trained[1]) for m in mask_types if m != "equispaced"]
    return list(dict.fromkeys([*equispaced, *others, trained]))


def _shifted(study: Study, result: Any, condition: Condition) -> pd.DataFrame:
    """Per-volume metrics of ``result``'s model under ``condition`` (cached in its run entry)."""
    mask, acc = condition
    profile = study.profile.replace(acceleration=acc, mask_type=None if mask == "equispaced" else mask)
    return cached_table(run_entry(result), f"shift_{mask}_{acc}x",
                        lambda: evaluate(result.model, study.manifest, list(EVAL_ROLES), profile))


def shift_table(study: Study, results: Mapping[tuple[str, int], Any], accelerations: Sequence[int],
                mask_types: Sequence[str]) -> pd.DataFrame:
    """BTA/KTA/UA PSNR means of G, Ĝ and every run (first seed of each method) under every condition
    (:func:`conditions`), and ``gap``: the mean absolute PSNR gap to Ĝ *under the same condition*.

    Each evaluation is cached in its run's entry (``shift_<mask>_<acc>x.csv``). Rows: ``model``,
    ``mask``, ``acceleration``, ``condition`` (e.g. ``"8x equispaced"``), ``trained`` (the condition the
    models were trained under), ``BTA``, ``KTA``, ``UA``, ``gap``.
    """
    trained = ("equispaced" if study.profile.mask_type is None else study.profile.mask_type, study.profile.acceleration)
    models: dict[str, Any] = {"original": study.original, "oracle": study.oracle}
    at_trained = {"original": study.per_volume("original"), "oracle": study.per_volume("oracle")}
    for (m, _s), r in results.items():
        if m not in models:
            models[m], at_trained[m] = r, r.final
    rows = []
    for cond in conditions(trained, accelerations, mask_types):
        means = {m: column_means(at_trained[m] if cond == trained else _shifted(study, r, cond))
                 for m, r in models.items()}
        for m, v in means.items():
            rows.append({"model": m, "mask": cond[0], "acceleration": cond[1], "condition": f"{cond[1]}x {cond[0]}",
                         "trained": cond == trained, **v, "gap": oracle_distance(v, means["oracle"])})
    return pd.DataFrame(rows)


def ranking_agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Per condition: Spearman's ρ between the methods' gaps there and under the trained condition,
    the method nearest Ĝ and its gap (G and Ĝ are not ranked)."""
    methods = table[~table.model.isin(["original", "oracle"])]
    wide = methods.pivot_table(index="model", columns="condition", values="gap", sort=False)
    first = str(table.loc[table.trained, "condition"].iloc[0])
    rows = []
    for cond in wide.columns:
        rho = stats.spearmanr(wide[first], wide[cond]).statistic if len(wide) > 2 else float("nan")
        rows.append({"condition": cond, "spearman_rho": float(rho), "nearest": str(wide[cond].idxmin()),
                     "nearest_gap": float(wide[cond].min())})
    return pd.DataFrame(rows)
