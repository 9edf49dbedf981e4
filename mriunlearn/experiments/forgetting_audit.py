"""Notebook 03, beyond the paper: the forgetting audit, one row per model, every column a different
way of asking "is this model like the oracle Ĝ, which never saw D_f?".

:data:`AUDIT_COLUMNS` names each column with its meaning and direction. :func:`closeness` puts them
on one scale by one rule: a model's distance from Ĝ's value in units of G's distance from it (0 = where
Ĝ is, 1 = where G is, above 1 = farther from Ĝ than G).

One column is a per-slice test against ensembles (pixel-space U-LiRA, Hayes et al. 2024): G and Ĝ
trained again at other seeds (``LIRA_SEEDS``) give, for every forget slice, the statistic of models
that trained on it and of models that never did (:func:`ensemble_statistics`); each model's slice then
*passes* when its statistic is at least as likely under the second
(:func:`~mriunlearn.membership.likelihood_ratios` <= 0), and :func:`lira_audit` reports the fraction
of forget slices that pass, with a subject-clustered interval. Each seed costs two trainings, so
``make reproduce`` reads the ensemble's statistics from the committed run of the relearning attack,
and a run with more seeds trains only those the committed run lacks (:func:`ensemble_run`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import paths
from ..errors import ConfigError
from ..forgetting import parameter_distance
from ..membership import MEMBER_ROLE, attack_impossible, clustered_mean_interval, likelihood_ratios
from ..reproduction import cell_number
from .results import model_statistics
from .study import FORGETTING_AUDIT_RUN, Study, read_committed, run_entry, study_record

__all__ = ["AUDIT_COLUMNS", "ENSEMBLE_TABLE", "audit_table", "check_ensemble_seeds", "closeness", "ensemble_run",
           "ensemble_statistics", "lira_audit", "parameter_distances"]

#: the committed run's table of the ensembles' per-slice statistics (in :data:`~mriunlearn.experiments.study.FORGETTING_AUDIT_RUN`)
ENSEMBLE_TABLE: str = "03_lira_ensemble"
#: what must match between this study and the committed ensemble for its statistics to be read
_SAME_ENSEMBLE: tuple[str, ...] = ("manifest_hash", "original_key", "oracle_key")

#: every audit column, with its meaning and direction (the one place they are stated)
AUDIT_COLUMNS: dict[str, str] = {
    "gap (dB)": "mean |PSNR gap| to Ĝ over BTA, KTA and UA at the trained sampling; 0 = Ĝ's numbers",
    "gap under shift (dB)": "the same gap averaged over the shifted sampling conditions (each against Ĝ there); 0 = Ĝ's",
    "membership AUC": "calibrated membership AUC, forget vs unseen knee slices; 0.5 = no signal, Ĝ's value = the test's noise",
    "ensemble pass fraction": "share of forget slices whose statistic is at least as likely under the oracles of other seeds "
                              "as under the originals (U-LiRA); Ĝ's = the target, G's = a model that remembers",
    "relearn UA, forget (steps)": "fine-tuning steps on one forget volume until UA on the others recovers half of G's gap "
                                  "over Ĝ; fewer than Ĝ's = knowledge hidden, not removed (>N: not within N steps)",
    "UA over Ĝ after relearning, forget (dB)": "UA after that fine-tuning's last step minus Ĝ's after the same; 0 = like Ĝ, "
                                               "above the other oracles' spread = D_f came back",
    "UA over Ĝ after relearning, retain (dB)": "the same after fine-tuning on retain data only (no knee seen)",
    "distance to Ĝ (× G's)": "parameter distance to Ĝ divided by G's; 0 = Ĝ's weights, 1 = as far from them as G",
    "distance to G (× Ĝ's)": "parameter distance to G divided by Ĝ's; 0 = G's weights (nothing changed), 1 = as far from them as Ĝ",
}


def parameter_distances(models: Mapping[str, Any]) -> pd.DataFrame:
    """Each model's parameter distance (:func:`~mriunlearn.forgetting.parameter_distance`) to G and
    to Ĝ, and to Ĝ relative to G's; ``models`` maps labels to results with a ``model`` and must
    hold ``"original"`` and ``"oracle"``. Rows: ``model``, ``to_G``, ``to_oracle``, and both divided by
    the distance between G and Ĝ: ``to_G_rel``, ``to_oracle_rel``."""
    g, o = models["original"].model, models["oracle"].model
    scale = parameter_distance(g, o)
    rows = [{"model": name, "to_G": parameter_distance(r.model, g), "to_oracle": parameter_distance(r.model, o)}
            for name, r in models.items()]
    out = pd.DataFrame(rows)
    out["to_G_rel"] = out.to_G / scale
    out["to_oracle_rel"] = out.to_oracle / scale
    return out


def audit_table(forget_table: pd.DataFrame, shift: pd.DataFrame, recovery: pd.DataFrame | None,
                distances: pd.DataFrame, lira: pd.DataFrame | None = None) -> pd.DataFrame:
    """The audit, one row per model of ``forget_table`` (its order), columns :data:`AUDIT_COLUMNS`.

    Args:
        forget_table: :func:`~mriunlearn.experiments.unlearning.forgetting_summary` (``mean |gap|``, ``mia_auc``).
        shift: :func:`~mriunlearn.experiments.sampling_shift.shift_table` (``gap`` per condition, ``trained``).
        recovery: :func:`~mriunlearn.experiments.relearning.recovery_steps` (its UA rows), or ``None``
            without a relearning run (the steps ``"-"``, the dB NaN), as for models it lacks.
        distances: :func:`parameter_distances`.
        lira: :func:`lira_audit`, or ``None`` without an ensemble (that column NaN), as for models it lacks.
    """
    t = forget_table.set_index("model")
    shifted = shift[~shift.trained].groupby("model").gap.mean()
    out = pd.DataFrame(index=t.index)
    out["gap (dB)"] = t["mean |gap|"]
    out["gap under shift (dB)"] = shifted.reindex(out.index)
    out["membership AUC"] = t["mia_auc"]
    passed = lira.set_index("model").pass_fraction if lira is not None else pd.Series(dtype=float)
    out["ensemble pass fraction"] = passed.reindex(out.index)
    ua = recovery[recovery.column == "UA"] if recovery is not None else None
    steps = ua[ua.condition == "forget"].set_index("model").relearn if ua is not None else pd.Series(dtype=object)
    out["relearn UA, forget (steps)"] = steps.reindex(out.index).fillna("-")
    for condition in ("forget", "retain"):
        over = (ua[ua.condition == condition].set_index("model").end_over_oracle if ua is not None
                else pd.Series(dtype=float))
        out[f"UA over Ĝ after relearning, {condition} (dB)"] = over.reindex(out.index)
    d = distances.set_index("model")
    out["distance to Ĝ (× G's)"] = d.to_oracle_rel.reindex(out.index)
    out["distance to G (× Ĝ's)"] = d.to_G_rel.reindex(out.index)
    return out.reset_index()


def closeness(audit: pd.DataFrame) -> pd.DataFrame:
    """:func:`audit_table`'s numbers on one scale: per column ``|value − Ĝ's| / |G's − Ĝ's|`` (0 = Ĝ,
    1 = G); a count ``">N"`` is read as N + 1; NaN where a value, G's or Ĝ's is missing or G's equals
    Ĝ's. Same shape and index as ``audit.set_index("model")``."""
    values = audit.set_index("model")[list(AUDIT_COLUMNS)].map(cell_number)
    scale = (values.loc["original"] - values.loc["oracle"]).abs()
    return (values - values.loc["oracle"]).abs() / scale.where(scale > 0)


def check_ensemble_seeds(study: Study, seeds: Sequence[Any]) -> list[int]:
    """``LIRA_SEEDS`` checked: empty, or at least two distinct integers other than the study's own
    training seed (whose G and Ĝ are models under test; a side needs two models for a variance)."""
    seeds = list(seeds)
    if any(isinstance(s, bool) or not isinstance(s, int) for s in seeds) or len(set(seeds)) != len(seeds) \
            or len(seeds) == 1 or study.profile.seed in seeds:
        raise ConfigError(f"LIRA_SEEDS must be [] or >= 2 distinct integers other than the training seed "
                          f"{study.profile.seed}, got {seeds!r}")
    return seeds


def ensemble_statistics(study: Study, seeds: Sequence[int]) -> pd.DataFrame:
    """G and Ĝ trained (or restored) at every seed of ``seeds``: their membership statistic on each
    forget slice (:func:`~mriunlearn.experiments.results.model_statistics`, cached per model).

    Returns:
        ``seed``, ``model`` (``"original"``, ``"oracle"``), ``subject``, ``slice`` (index in D_f), ``stat``
        and ``cache_key``.
    """
    parts = []
    for seed in seeds:
        at = study.at_seed(seed)
        for name in ("original", "oracle"):
            result = getattr(at, name)
            stats, groups = model_statistics(study, result)
            n = len(stats[MEMBER_ROLE])
            parts.append(pd.DataFrame({"seed": seed, "model": name, "subject": groups[MEMBER_ROLE], "slice": np.arange(n),
                                       "stat": stats[MEMBER_ROLE], "cache_key": getattr(run_entry(result), "key", None)}))
    return pd.concat(parts, ignore_index=True)


def ensemble_run(study: Study, seeds: Sequence[int]) -> tuple[pd.DataFrame | None, str, dict[str, Any]]:
    """The ensemble notebook 03 scores against, where it comes from, and the record to save beside it.

    With ``seeds`` (:func:`check_ensemble_seeds`) the ensemble holds exactly those seeds, in that order:
    a seed the committed run already holds (same split, G and Ĝ, hence the same models' cache keys) is
    read from it, the others are trained here, so the ensemble grows by the new seeds' trainings only;
    with the published base models off (``MRIUNLEARN_BASE_MODELS=off``, the cold path) every seed is
    trained. The record's ``lira_seeds_committed`` names the seeds read. With none, the committed
    run's statistics when it started from the same split, G and Ĝ; ``(None, why, {})`` when neither.
    """
    why_not = attack_impossible(study.manifest)
    if why_not is not None:
        return None, f"not run: {why_not}", {}
    seeds = check_ensemble_seeds(study, seeds)
    record = study_record(study)
    committed, source, theirs = read_committed(FORGETTING_AUDIT_RUN, ENSEMBLE_TABLE, record, _SAME_ENSEMBLE)
    if not seeds:
        if committed is None and "no committed run" in source:
            source += " (-p LIRA_SEEDS '[43, 44]' trains the ensembles)"
        return committed, source, theirs
    held = set(committed.seed) if committed is not None and paths.base_models_dir() is not None else set()
    parts = [committed[committed.seed == s] if s in held else ensemble_statistics(study, [s]) for s in seeds]
    read = [s for s in seeds if s in held]
    where = "this run" + (f" (seeds {read} read from {source}, the others trained here)" if read else "")
    return pd.concat(parts, ignore_index=True), where, {**record, "lira_seeds": seeds, "lira_seeds_committed": read}


def lira_audit(study: Study, models: Mapping[str, Any], ensemble: pd.DataFrame) -> pd.DataFrame:
    """Every model of ``models`` scored per forget slice against ``ensemble`` (:func:`ensemble_statistics`).

    Returns:
        ``model``, ``pass_fraction`` (share of forget slices with likelihood ratio <= 0), ``low`` and
        ``high`` (its 95% interval, resampling subjects), ``mean_llr`` and ``k`` (ensemble models per side).

    Raises:
        ConfigError: the ensemble's slices are not this study's forget slices.
    """
    sides = {name: ensemble[ensemble.model == name].pivot(index="seed", columns="slice", values="stat").to_numpy()
             for name in ("original", "oracle")}
    subjects = ensemble[ensemble.seed == ensemble.seed.iloc[0]].drop_duplicates("slice").sort_values("slice").subject
    rows = []
    for name, result in models.items():
        stats, groups = model_statistics(study, result)
        if [str(g) for g in groups[MEMBER_ROLE]] != [str(g) for g in subjects]:
            raise ConfigError("the ensemble's statistics are of other forget slices than this study's")
        llr = likelihood_ratios(stats[MEMBER_ROLE], sides["original"], sides["oracle"])
        passed = (llr <= 0).astype(np.float64)
        low, high = clustered_mean_interval(passed, groups[MEMBER_ROLE])
        rows.append({"model": name, "pass_fraction": float(passed.mean()), "low": low, "high": high,
                     "mean_llr": float(llr.mean()), "k": min(len(v) for v in sides.values())})
    return pd.DataFrame(rows)
