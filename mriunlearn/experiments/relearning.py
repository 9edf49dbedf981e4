"""Notebook 03, beyond the paper: the relearning attack. Does knowledge an unlearning method removed
come back after a little fine-tuning, faster than it would to a model that never had it?

Every attacked model (G, Ĝ, the unlearned models, and the oracles Ĝ trained at other seeds, whose
spread is the attack's noise floor) is fine-tuned under two conditions, with the same seed, volumes
and batches for all (:func:`~mriunlearn.forgetting.relearn_curve`):

- ``"forget"``: on :data:`FORGET_VOLUMES` forget volume(s) (a seeded draw; a few of D_f's slices),
  UA then measured on the *other* forget volumes: does fine-tuning on a few forget slices bring the
  rest back?
- ``"retain"``: on the retain data only: does knowledge of D_f come back without seeing any of it?

:func:`recovery_steps` reads the curves: the steps until a column (UA, KTA) recovers half of G's gap
over Ĝ (``threshold = Ĝ₀ + (G₀ − Ĝ₀)/2`` at step 0). An unlearned model that gets there in fewer
steps than the oracles hid its knowledge of D_f rather than removing it.

The attack costs about as much as a dozen evaluations per model, so ``make reproduce`` reads it from a
committed run of this notebook (:data:`~mriunlearn.experiments.study.FORGETTING_AUDIT_RUN`) made with ``RELEARN_MODELS=["all"]``, when that
run started from the same split, G and Ĝ (:func:`committed_curves`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..forgetting import relearn_curve
from ..manifest import PAPER_COLUMNS
from .study import FORGETTING_AUDIT_RUN, Study, cached_table, json_list, read_committed, run_entry, study_record

__all__ = ["CONDITIONS", "FORGET_VOLUMES", "attack_impossible", "attacked_models", "check_checkpoints",
           "committed_curves", "recovery_steps", "relearn_curves", "relearn_volumes", "relearning_record", "relearning_run"]

#: the two fine-tuning conditions of the attack: a few forget volumes, or the retain data only
CONDITIONS: tuple[str, ...] = ("forget", "retain")
#: forget volumes the ``"forget"`` condition fine-tunes on ("a few forget slices": one volume's)
FORGET_VOLUMES: int = 1
#: what must match between this study and the committed run for its curves to be read
_SAME_START: tuple[str, ...] = ("manifest_hash", "original_key", "oracle_key", "relearn_seed", "checkpoints")


def check_checkpoints(checkpoints: Sequence[Any]) -> list[int]:
    """``RELEARN_CHECKPOINTS`` checked: increasing step counts starting at 0."""
    marks = list(checkpoints)
    if (not marks or any(isinstance(c, bool) or not isinstance(c, int) for c in marks) or marks[0] != 0
            or any(b <= a for a, b in zip(marks, marks[1:]))):
        raise ConfigError(f"RELEARN_CHECKPOINTS must be increasing integers starting at 0, got {checkpoints!r}")
    return marks


def attacked_models(study: Study, results: Mapping[tuple[str, int], Any], names: Sequence[str],
                    reference_seeds: Sequence[int]) -> dict[str, Any]:
    """The models ``RELEARN_MODELS`` asks for, by label: ``"original"``, ``"oracle"``, a method's
    name (its first seed's run; a JSON list string is read as the list), or ``"all"`` (G, Ĝ, every run, and each reference oracle Ĝ trained
    at ``reference_seeds``, labelled ``"oracle@<seed>"``). Empty ``names``: none.

    Raises:
        ConfigError: a name that is neither of these, listing the valid ones.
    """
    runs = {m: r for (m, _s), r in reversed(list(results.items()))}  # the first seed's run wins
    valid = ["original", "oracle", *dict.fromkeys(m for m, _ in results)]
    names = json_list(names, "RELEARN_MODELS")
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n != "all" and n not in valid]
    if unknown:
        raise ConfigError(f"RELEARN_MODELS: unknown model(s) {unknown}; valid: all, {', '.join(valid)}")
    wanted = valid if "all" in names else [n for n in valid if n in names]
    models = {n: study.original if n == "original" else study.oracle if n == "oracle" else runs[n] for n in wanted}
    if "all" in names:
        models.update({f"oracle@{s}": study.at_seed(s).oracle for s in reference_seeds})
    return models


def relearn_volumes(study: Study, seed: int) -> list[Path]:
    """The :data:`FORGET_VOLUMES` forget volume(s) the ``"forget"`` condition fine-tunes on: a seeded
    draw (:meth:`~mriunlearn.manifest.Manifest.subset`), the same for every model.

    Raises:
        ConfigError: D_f has no volume left over to measure UA on.
    """
    why_not = attack_impossible(study)
    if why_not is not None:
        raise ConfigError(f"the relearning attack cannot run: {why_not}")
    return study.manifest.subset("forget", FORGET_VOLUMES / len(study.manifest.files("forget")), seed)


def relearn_curves(study: Study, models: Mapping[str, Any], checkpoints: Sequence[int], seed: int) -> pd.DataFrame:
    """UA and KTA PSNR of every model of ``models`` after each number of fine-tuning steps in
    ``checkpoints``, under both :data:`CONDITIONS` (fine-tuning seeded by ``seed``; each model's
    curves cached in its run entry).

    Returns:
        One row per (model, condition, step, column): ``model``, ``condition``, ``step``,
        ``slice_steps``, ``column`` (``"UA"``, ``"KTA"``) and ``psnr``, the mean over volumes (UA
        without the volumes fine-tuned on).
    """
    marks = check_checkpoints(checkpoints)
    tuned = {p.name for p in relearn_volumes(study, seed)}  # left out of UA
    tag = f"seed{seed}_steps{'-'.join(map(str, marks))}"
    rows = []
    for name, result in models.items():
        for condition in CONDITIONS:
            def compute(result: Any = result, condition: str = condition) -> pd.DataFrame:
                files = relearn_volumes(study, seed) if condition == "forget" else None
                return relearn_curve(result.model, study.manifest, study.profile, condition, marks,
                                     files=files, seed=seed)
            per_volume = cached_table(run_entry(result), f"relearn_{condition}_{tag}", compute)
            kept = per_volume[~per_volume.file.map(lambda f: Path(str(f)).name).isin(tuned)]
            means = kept.groupby(["step", "slice_steps", "role"], sort=True).psnr.mean().reset_index()
            rows.append(means.assign(model=name, condition=condition, column=means.role.map(PAPER_COLUMNS)))
    out = pd.concat(rows, ignore_index=True)
    return out[["model", "condition", "step", "slice_steps", "column", "psnr"]]


def recovery_steps(curves: pd.DataFrame) -> pd.DataFrame:
    """Per (model, condition, column) of :func:`relearn_curves`: the first checkpoint at which the
    column reaches ``threshold = Ĝ₀ + (G₀ − Ĝ₀)/2`` (G₀, Ĝ₀: G's and Ĝ's PSNR before fine-tuning),
    i.e. recovers half of G's gap over Ĝ.

    Returns:
        ``model``, ``condition``, ``column``, ``start`` (PSNR at step 0), ``threshold``, ``steps``
        (NaN when never within the checkpoints) and ``relearn``: the steps as text, ``">N"`` (N the
        last checkpoint) when never, ``"no gap"`` (steps NaN) when G does not lie above Ĝ in that
        column, so there is nothing to recover; ``end_over_oracle``: the PSNR at the last checkpoint
        minus Ĝ's after the same fine-tuning (dB; above the oracles' spread = D_f came back).

    Raises:
        ConfigError: ``curves`` lacks G or Ĝ (the threshold needs both).
    """
    start = curves[curves.step == 0].groupby(["model", "column"]).psnr.first()
    last = int(curves.step.max())
    end = curves[curves.step == last].set_index(["model", "condition", "column"]).psnr
    missing = [m for m in ("original", "oracle") if m not in start.index.get_level_values(0)]
    if missing:
        raise ConfigError(f"recovery_steps needs the curves of G and Ĝ; missing: {missing}")
    rows = []
    for (model, condition, column), g in curves.groupby(["model", "condition", "column"], sort=False):
        gap = float(start["original", column] - start["oracle", column])
        threshold = float(start["oracle", column]) + gap / 2
        hit = g[g.psnr >= threshold].step
        steps = float(hit.min()) if len(hit) and gap > 0 else np.nan
        text = "no gap" if gap <= 0 else f">{last}" if np.isnan(steps) else str(int(steps))
        rows.append({"model": model, "condition": condition, "column": column, "start": float(start[model, column]),
                     "threshold": threshold, "steps": steps, "relearn": text,
                     "end_over_oracle": float(end[model, condition, column] - end["oracle", condition, column])})
    return pd.DataFrame(rows)


def relearning_record(study: Study, models: Mapping[str, Any], checkpoints: Sequence[int], seed: int) -> dict[str, Any]:
    """Every choice behind the curves, saved beside them: the setup, G's and Ĝ's keys, the seed,
    the checkpoints, the forget volume(s) fine-tuned on and each attacked model's cache key."""
    return {**study_record(study), "relearn_seed": int(seed),
            "checkpoints": list(checkpoints), "forget_volumes": [p.name for p in relearn_volumes(study, seed)],
            "models": {n: getattr(run_entry(r), "key", None) for n, r in models.items()}}


def committed_curves(record: Mapping[str, Any], root: Path | None = None) -> tuple[pd.DataFrame | None, str, dict[str, Any]]:
    """The committed run's curves (:data:`~mriunlearn.experiments.study.FORGETTING_AUDIT_RUN`, ``03_relearning.csv``) when that run started
    from the same split, G, Ĝ, seed and checkpoints as ``record`` (:func:`relearning_record`), where
    they come from, and that run's record (:func:`~mriunlearn.experiments.study.read_committed`)."""
    curves, source, theirs = read_committed(FORGETTING_AUDIT_RUN, "03_relearning", record, _SAME_START, root)
    if curves is None and "no committed run" in source:
        source += ' (-p RELEARN_MODELS \'["all"]\' computes the curves)'
    return curves, source, theirs


def attack_impossible(study: Study) -> str | None:
    """Why this split cannot run the attack (D_f needs a volume beyond the ones fine-tuned on), or ``None``."""
    n = len(study.manifest.files("forget"))
    return None if n > FORGET_VOLUMES else f"D_f holds {n} volume(s); the attack fine-tunes on {FORGET_VOLUMES} and measures UA on the others"


def relearning_run(study: Study, results: Mapping[tuple[str, int], Any], names: Sequence[str],
                   reference_seeds: Sequence[int], checkpoints: Sequence[int],
                   seed: int) -> tuple[pd.DataFrame | None, str, dict[str, Any]]:
    """The curves notebook 03 shows, where they come from, and the record to save beside them.

    With models asked for (``names``, :func:`attacked_models`), they are computed here
    (:func:`relearn_curves`); with none, the committed run's are read when it started from the same
    split, G, Ĝ, seed and checkpoints (:func:`committed_curves`). ``(None, why, {})`` when neither.
    """
    why_not = attack_impossible(study)
    if why_not is not None:
        return None, f"not run: {why_not}", {}
    models = attacked_models(study, results, names, reference_seeds)
    record = relearning_record(study, models, checkpoints, seed)
    if models:
        return relearn_curves(study, models, checkpoints, seed), "this run", record
    return committed_curves(record)
