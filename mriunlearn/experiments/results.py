"""Results tables that several notebooks share: per-volume metrics of G, Ĝ and the unlearning runs,
their means over volumes and seeds, paired differences, and hallucination scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..forgetting import mean_interval, summarise_seeds
from ..hallucination import hallucination_table
from ..manifest import PAPER_COLUMNS
from ..metrics import paper_table
from .study import Study, cached_table, run_entry


def final_per_volume(study: Study, results: Mapping[tuple[str, int], Any]) -> pd.DataFrame:
    """Per-volume final metrics of G, Ĝ and every run, with ``model`` and ``seed`` columns."""
    frames = [study.per_volume("original").assign(seed=study.profile.seed),
              study.per_volume("oracle").assign(seed=study.profile.seed)]
    frames += [r.final.assign(model=m, seed=s) for (m, s), r in results.items()]
    return pd.concat(frames, ignore_index=True)


def seed_means(per_volume: pd.DataFrame, metrics: Sequence[str] = ("psnr", "ssim")) -> pd.DataFrame:
    """Per (model, seed, column, metric): the mean over volumes (the paper's number for one seed)."""
    return paper_table(per_volume, by=["model", "seed"], metrics=metrics)


def summary_table(per_volume: pd.DataFrame, order: Sequence[str], metrics: Sequence[str] = ("psnr", "ssim")) -> pd.DataFrame:
    """Table 1 in long form: per model, column and metric, the mean over volumes and seeds.

    With one seed: ``mean``, ``std`` over volumes (the paper's ±). With several: ``mean`` over
    seeds of the per-seed means and ``ci95`` (half-width of the 95% t-interval over seeds).
    """
    per_seed = seed_means(per_volume, metrics)
    n_seeds = per_seed.groupby("model").seed.nunique()
    rows = []
    for (model, column, metric), g in per_seed.groupby(["model", "column", "metric"], sort=False):
        if n_seeds[model] > 1:
            s = summarise_seeds(g, by=["model"], value="mean").iloc[0]
            rows.append({"model": model, "column": column, "metric": metric, "mean": s["mean"],
                         "spread": s["half_width"], "spread_kind": "ci95", "n_seeds": int(s["n"])})
        else:
            rows.append({"model": model, "column": column, "metric": metric, "mean": float(g["mean"].iloc[0]),
                         "spread": float(g["std"].iloc[0]), "spread_kind": "std", "n_seeds": 1})
    out = pd.DataFrame(rows)
    out["model"] = pd.Categorical(out.model, categories=[m for m in order if m in set(out.model)], ordered=True)
    return out.sort_values(["model", "column", "metric"], key=lambda s: s.map({c: i for i, c in enumerate(PAPER_COLUMNS.values())}) if s.name == "column" else s).reset_index(drop=True)


def paired_difference(per_volume: pd.DataFrame, a: str, b: str, column: str = "BTA",
                      metric: str = "psnr") -> dict[str, float]:
    """``a − b`` on one paper column, paired by volume (both models scored on the same volumes).

    Returns:
        ``{"mean", "low", "high", "n"}``: the mean per-volume difference and its 95% t-interval over
        volumes (NaN bounds for one volume). An interval that contains 0 means no measurable difference.
    """
    roles = {v: k for k, v in PAPER_COLUMNS.items()}
    if column not in roles:
        raise ConfigError(f"unknown column {column!r}; valid: {', '.join(roles)}")
    pv = per_volume[(per_volume.role == roles[column]) & per_volume.model.isin([a, b])]
    wide = pv.pivot_table(index="file", columns="model", values=metric, aggfunc="mean", observed=True)
    if a not in wide or b not in wide:
        raise ConfigError(f"paired_difference: need per-volume rows of both {a!r} and {b!r} on {column}")
    s = mean_interval(wide[a] - wide[b])
    return {k: s[k] for k in ("mean", "low", "high", "n")}


def column_means(per_volume: pd.DataFrame) -> dict[str, float]:
    """``{BTA, KTA, UA: mean PSNR over volumes}`` of one model's per-volume metrics."""
    means = paper_table(per_volume, by=[], metrics=("psnr",)).set_index("column")["mean"]
    return {c: float(means[c]) for c in PAPER_COLUMNS.values()}


def mean_gap(means: Mapping[str, float], oracle: Mapping[str, float]) -> float:
    """Mean absolute PSNR difference to the oracle over BTA, KTA and UA (0 = Ĝ's numbers)."""
    return float(np.mean([abs(means[c] - oracle[c]) for c in PAPER_COLUMNS.values()]))


def run_row(result: Any) -> dict[str, Any]:
    """BTA/KTA/UA PSNR means of one unlearning run, its wall time, slice-steps and retain volumes."""
    return {**column_means(result.final), "wall_time_s": result.wall_time_s,
            "slice_steps": result.slice_steps, "retain_volumes": len(result.retain_files)}


def hallucination_scores(study: Study, results: Mapping[tuple[str, int], Any] | None = None,
                         role: str = "test_brain", method: str = "eig") -> pd.DataFrame:
    """Per-volume hallucination scores (null-space error energy / target energy) on ``role`` for
    the zero-filled input, G, Ĝ and every run (cached in each entry)."""
    p = study.profile
    frames = [hallucination_table(None, study.manifest, role, p, method=method).assign(model="zero_filled", seed=p.seed)]
    models = {("original", p.seed): study.original, ("oracle", p.seed): study.oracle, **(results or {})}
    for (m, s), r in models.items():
        t = cached_table(run_entry(r), f"hallucination_{role}_{method}",
                         lambda r=r: hallucination_table(r.model, study.manifest, role, p, method=method))
        frames.append(t.assign(model=m, seed=s))
    return pd.concat(frames, ignore_index=True)

