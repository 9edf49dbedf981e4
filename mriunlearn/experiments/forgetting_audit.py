"""Notebook 03, beyond the paper: the forgetting audit, one row per model, every column a different
way of asking "is this model like the oracle Ĝ, which never saw D_f?".

:data:`AUDIT_COLUMNS` names each column with its meaning and direction. :func:`closeness` puts them
on one scale by one rule: a model's distance from Ĝ's value in units of G's distance from it (0 = where
Ĝ is, 1 = where G is, above 1 = farther from Ĝ than G).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..forgetting import parameter_distance
from ..reproduction import cell_number

__all__ = ["AUDIT_COLUMNS", "audit_table", "closeness", "parameter_distances"]

#: every audit column, with its meaning and direction (the one place they are stated)
AUDIT_COLUMNS: dict[str, str] = {
    "gap (dB)": "mean |PSNR gap| to Ĝ over BTA, KTA and UA at the trained sampling; 0 = Ĝ's numbers",
    "gap under shift (dB)": "the same gap averaged over the shifted sampling conditions (each against Ĝ there); 0 = Ĝ's",
    "membership AUC": "calibrated membership AUC, forget vs unseen knee slices; 0.5 = no signal, Ĝ's value = the test's noise",
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
                distances: pd.DataFrame) -> pd.DataFrame:
    """The audit, one row per model of ``forget_table`` (its order), columns :data:`AUDIT_COLUMNS`.

    Args:
        forget_table: :func:`~mriunlearn.experiments.unlearning.forgetting_summary` (``mean |gap|``, ``mia_auc``).
        shift: :func:`~mriunlearn.experiments.sampling_shift.shift_table` (``gap`` per condition, ``trained``).
        recovery: :func:`~mriunlearn.experiments.relearning.recovery_steps` (its UA rows), or ``None``
            without a relearning run (the steps ``"-"``, the dB NaN), as for models it lacks.
        distances: :func:`parameter_distances`.
    """
    t = forget_table.set_index("model")
    shifted = shift[~shift.trained].groupby("model").gap.mean()
    out = pd.DataFrame(index=t.index)
    out["gap (dB)"] = t["mean |gap|"]
    out["gap under shift (dB)"] = shifted.reindex(out.index)
    out["membership AUC"] = t["mia_auc"]
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
