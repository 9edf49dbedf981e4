"""Results tables that several notebooks share: per-volume metrics of G, Ĝ and the unlearning runs,
their means over volumes and seeds, paired differences (within one training and over training
seeds), and hallucination scores.

Two trainings of the same seed differ when the initial weights move by one ulp (by how much:
``benchmarks/precision.py``, ``docs/performance.md``), so a claim that compares two trainings
(G against Ĝ) is judged over :data:`MIN_TRAIN_SEEDS` training seeds (:func:`seed_paired_difference`,
:func:`judge_difference`); at one seed only a difference above :data:`SINGLE_SEED_NOISE_DB` says
anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..errors import ConfigError
from ..forgetting import CI95_OVER_SEEDS, STD_OVER_VOLUMES, seed_half_width, summarise_seeds
from ..hallucination import hallucination_table
from ..intervals import mean_interval
from ..labels import label
from ..manifest import PAPER_COLUMNS
from ..membership import Groups, Statistics, role_statistics
from ..metrics import paper_table
from .study import Study, cached_table, run_entry


#: a single-seed difference below this is noise on this project (one-ulp nudges of the initial weights
#: move final PSNRs by up to ~0.35 dB; see the precision benchmark)
SINGLE_SEED_NOISE_DB = 0.3

#: the fewest training seeds whose 95% interval judges a claim that compares two trainings
MIN_TRAIN_SEEDS = 3


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

    A model run at one seed: ``mean`` over volumes and :data:`STD_OVER_VOLUMES`. A model run at
    several: ``mean`` over seeds of the per-seed means and :data:`CI95_OVER_SEEDS` (half-width of
    the 95% t-interval over ``n_seeds`` seeds). Each ± column holds one convention only (NaN in the
    rows of the other); a column no row uses is left out, so a one-seed table has no interval column.
    """
    per_seed = seed_means(per_volume, metrics)
    n_seeds = per_seed.groupby("model").seed.nunique()
    rows = []
    for (model, column, metric), g in per_seed.groupby(["model", "column", "metric"], sort=False):
        if n_seeds[model] > 1:
            s = summarise_seeds(g, by=["model"], value="mean").iloc[0]
            rows.append({"model": model, "column": column, "metric": metric, "mean": s["mean"],
                         CI95_OVER_SEEDS: s["half_width"], "n_seeds": int(s["n"])})
        else:
            rows.append({"model": model, "column": column, "metric": metric, "mean": float(g["mean"].iloc[0]),
                         STD_OVER_VOLUMES: float(g["std"].iloc[0]), "n_seeds": 1})
    out = pd.DataFrame(rows)
    spreads = [c for c in (STD_OVER_VOLUMES, CI95_OVER_SEEDS) if c in out.columns]
    out = out[["model", "column", "metric", "mean", *spreads, "n_seeds"]]
    out["model"] = pd.Categorical(out.model, categories=[m for m in order if m in set(out.model)], ordered=True)
    return out.sort_values(["model", "column", "metric"], key=lambda s: s.map({c: i for i, c in enumerate(PAPER_COLUMNS.values())}) if s.name == "column" else s).reset_index(drop=True)


def spread_convention(summary: pd.DataFrame) -> str:
    """What the ± of a printed :func:`summary_table` means, for its header: the std over volumes,
    the 95% interval over N seeds, or (a multi-seed run beside one-seed G and Ĝ) which rows hold which."""
    n = int(summary.n_seeds.max())
    if n == 1:
        return "± std over volumes"
    single = [label(str(m)) for m in dict.fromkeys(summary[summary.n_seeds == 1].model)]
    text = f"± 95% interval over {n} seeds"
    return text + (f"; {', '.join(single)}: one seed" if single else "")


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


def seed_paired_difference(per_volume: pd.DataFrame, a: str, b: str, column: str = "BTA",
                           metric: str = "psnr") -> dict[str, Any]:
    """``a − b`` over training seeds: per seed the paired per-volume mean difference
    (:func:`paired_difference` on that seed's rows), then the mean over seeds and its 95% t-interval.

    Args:
        per_volume: per-volume rows of both models with ``model``, ``seed`` (the training seed),
            ``role``, ``file`` and ``metric`` columns, e.g. :func:`training_per_volume`.

    Returns:
        ``{"mean", "low", "high", "n", "per_seed"}``: ``n`` is the number of seeds (NaN bounds for
        one seed), ``per_seed`` maps each seed to its paired mean difference.

    Raises:
        ConfigError: no ``seed`` column, or a seed without rows of both models on ``column``.
    """
    if "seed" not in per_volume.columns:
        raise ConfigError("seed_paired_difference: the per-volume table needs a 'seed' column (the training seed)")
    rows = per_volume[per_volume.model.isin([a, b])]
    per_seed = {int(s): paired_difference(g, a, b, column, metric)["mean"] for s, g in rows.groupby("seed", sort=False)}
    s = mean_interval(list(per_seed.values()))
    return {"mean": s["mean"], "low": s["low"], "high": s["high"], "n": s["n"], "per_seed": per_seed}


def judge_difference(d: Mapping[str, Any], noise_floor: float | None = None) -> str:
    """What a difference over training seeds (:func:`seed_paired_difference`) supports.

    With :data:`MIN_TRAIN_SEEDS` seeds or more the 95% interval over seeds decides: ``"positive"``
    (above 0), ``"negative"`` (below 0) or ``"none"`` (it contains 0). With one seed the sign of the
    mean counts only when ``noise_floor`` is given and ``|mean| >= noise_floor``; otherwise, and with
    2 .. MIN_TRAIN_SEEDS − 1 seeds, ``"inconclusive"``.
    """
    n, mean = int(d["n"]), float(d["mean"])
    if n >= MIN_TRAIN_SEEDS:
        return "positive" if d["low"] > 0 else "negative" if d["high"] < 0 else "none"
    if n == 1 and noise_floor is not None and abs(mean) >= noise_floor:
        return "positive" if mean > 0 else "negative"
    return "inconclusive"


def seed_evidence(d: Mapping[str, Any], unit: str = "dB", noise_floor: float | None = None, digits: int = 2) -> str:
    """The numbers behind :func:`judge_difference` in words: one seed's difference against the noise
    floor, or the mean and 95% interval over seeds (and why fewer than MIN_TRAIN_SEEDS cannot judge).
    ``unit`` follows every number (``""``: none)."""
    def num(v: float) -> str:
        return f"{v:+.{digits}f}" + (f" {unit}" if unit else "")

    n = int(d["n"])
    if n == 1:
        text = f"{num(d['mean'])} at one training seed"
        if noise_floor is None:
            return text + ", whose training-to-training spread is not measured"
        side = "below" if abs(d["mean"]) < noise_floor else "above"
        return text + f", {side} the ~{noise_floor:g}{' ' + unit if unit else ''} by which two trainings of one seed can differ"
    text = f"mean {num(d['mean'])} over {n} training seeds, 95% interval [{num(d['low'])}, {num(d['high'])}]"
    return text + (f" (fewer than the {MIN_TRAIN_SEEDS} seeds a verdict needs)" if n < MIN_TRAIN_SEEDS else "")


def training_interval(per_volume: pd.DataFrame, a: str = "original", b: str = "oracle",
                      column: str = "BTA") -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The interval that judges ``a − b`` between two trainings (G − Ĝ), as notebooks 01 and 03 judge it.

    Returns:
        ``(seeds, interval)``: ``seeds`` is :func:`seed_paired_difference`; ``interval`` is ``None``
        when :func:`judge_difference` (with :data:`SINGLE_SEED_NOISE_DB`) says "inconclusive", else
        the 95% interval over training seeds (several seeds) or the paired one over volumes (one seed,
        a difference above the noise floor), with ``"over"`` naming which.
    """
    seeds = seed_paired_difference(per_volume, a, b, column)
    if judge_difference(seeds, SINGLE_SEED_NOISE_DB) == "inconclusive":
        return seeds, None
    if seeds["n"] > 1:
        return seeds, {**seeds, "over": "training seeds"}
    return seeds, {**paired_difference(per_volume, a, b, column), "over": "volumes"}


def training_per_volume(studies: Sequence[Study]) -> pd.DataFrame:
    """Per-volume metrics of the zero-filled input (once, with the first study's seed) and of G and
    Ĝ at every training seed (``studies``: one per seed, e.g. ``[study.at_seed(s) for s in seeds]``;
    ``seed`` = the training seed)."""
    first = studies[0]
    zf = first.per_volume("zero_filled").assign(seed=first.profile.seed)
    return pd.concat([zf, *(final_per_volume(s, {}) for s in studies)], ignore_index=True)


def column_means(per_volume: pd.DataFrame, metric: str = "psnr") -> dict[str, float]:
    """``{BTA, KTA, UA: mean of metric over volumes}`` of one model's per-volume metrics (PSNR by default)."""
    means = paper_table(per_volume, by=[], metrics=(metric,)).set_index("column")["mean"]
    return {c: float(means[c]) for c in PAPER_COLUMNS.values()}


def run_row(result: Any, ssim: bool = False) -> dict[str, Any]:
    """BTA/KTA/UA PSNR means of one unlearning run, with ``ssim`` also its SSIM means as ``BTA_ssim``,
    ``KTA_ssim``, ``UA_ssim`` (the naming of every tidy table's SSIM columns), then its wall time,
    slice-steps and retain volumes."""
    row = column_means(result.final)
    if ssim:
        row |= {f"{c}_ssim": v for c, v in column_means(result.final, "ssim").items()}
    return {**row, "wall_time_s": result.wall_time_s, "slice_steps": result.slice_steps,
            "retain_volumes": len(result.retain_files)}


def metric_headers(metrics: Sequence[str]) -> list[tuple[str, str]]:
    """``[(metric, "<column> <METRIC>")]`` of the wide tables, columns BTA, KTA, UA in the paper's
    order and each column's metrics side by side: ``("psnr", "BTA PSNR"), ("ssim", "BTA SSIM"), …``."""
    return [(k, f"{c} {k.upper()}") for c in PAPER_COLUMNS.values() for k in metrics]


def header_digits(headers: Sequence[str]) -> dict[str, int]:
    """Decimals to show per wide-table header: 3 for an SSIM (``"BTA SSIM"``), 0 for a count
    (``"ft volumes"``), 2 for the rest (PSNR in dB); for ``DataFrame.round`` and ``tables.styled``."""
    return {str(h): 3 if str(h).endswith("SSIM") else 0 if str(h).endswith("volumes") else 2 for h in headers}


def oracle_targets(summary: pd.DataFrame, headers: Sequence[str]) -> dict[str, float]:
    """``{header: Ĝ's mean}`` for the wide tables' headers that end in ``"<column> PSNR"`` or
    ``"<column> SSIM"`` (``"BTA SSIM"``, ``"nl_ft BTA PSNR"``): what ``tables.styled(closest_to=...)``
    marks the closest row to. ``summary``: a :func:`summary_table` holding the ``oracle`` model;
    headers of another form (``"ft volumes"``) are left out."""
    o = summary[summary.model == "oracle"].set_index(["column", "metric"])["mean"]
    out = {}
    for h in headers:
        key = tuple(str(h).split()[-2:])
        if len(key) == 2 and (key[0], key[1].lower()) in o.index:
            out[h] = float(o[(key[0], key[1].lower())])
    return out


def hallucination_scores(study: Study, results: Mapping[tuple[str, int], Any] | None = None,
                         role: str = "test_brain", method: str | None = None, zero_filled: bool = True) -> pd.DataFrame:
    """Per-volume hallucination scores (null-space error energy / target energy) on ``role`` for
    the zero-filled input (unless ``zero_filled=False``), G, Ĝ and every run (cached in each entry,
    as ``hallucination_<role>_<method>.csv``). ``method``: the projector of
    :mod:`mriunlearn.hallucination`; ``None`` is the profile's ``hallucination_projector``
    (``"eig"`` for ``default``/``smoke``, ``"cg"`` for ``paper``)."""
    p = study.profile
    method = p.hallucination_projector if method is None else method
    frames = ([hallucination_table(None, study.manifest, role, p, method=method).assign(model="zero_filled", seed=p.seed)]
              if zero_filled else [])
    models = {("original", p.seed): study.original, ("oracle", p.seed): study.oracle, **(results or {})}
    for (m, s), r in models.items():
        t = cached_table(run_entry(r), f"hallucination_{role}_{method}",
                         lambda r=r: hallucination_table(r.model, study.manifest, role, p, method=method))
        frames.append(t.assign(model=m, seed=s))
    return pd.concat(frames, ignore_index=True)


def model_statistics(study: Study, result: Any) -> tuple[Statistics, Groups]:
    """The membership statistic of one model (a training or unlearning result) on every member and
    non-member slice, and the subject of each slice (:func:`~mriunlearn.membership.role_statistics`;
    the table cached in its entry as ``membership_statistic.csv``)."""
    table = cached_table(run_entry(result), "membership_statistic", lambda: _statistic_table(
        *role_statistics(result.model, study.manifest, study.profile)))
    by_role = dict(tuple(table.groupby("role", sort=False)))
    return ({role: g.stat.to_numpy() for role, g in by_role.items()},
            {role: g.subject.astype(str).tolist() for role, g in by_role.items()})


def _statistic_table(stats: Statistics, groups: Groups) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"role": role, "subject": groups[role], "stat": stats[role]}) for role in stats],
                     ignore_index=True)
