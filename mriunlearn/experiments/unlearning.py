"""Notebook 03, unlearning: Table 1 (methods vs G and Ĝ), the paper's claims judged on our numbers,
Table 2 (dynamics), Fig. 3 (radar values and costs), forgetting metrics and Fig. 4 (a measured loss
landscape). The noise-scale sweep of the same notebook is :mod:`mriunlearn.experiments.noise_sweep`."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import paper_numbers
from ..claims import (Criterion, brain_cost_rule, closest_rule, destroys_rule, forgets_rule, knee_gain_rule,
                      stays_near_rule)
from ..errors import ConfigError
from ..forgetting import oracle_distance
from ..intervals import mean_interval
from ..labels import label, short_label
from ..landscape import LossPlane, PlanePoint, plane_through
from ..manifest import PAPER_COLUMNS
from ..membership import Groups, Statistics, attack_impossible, membership_attack, membership_verdict
from ..metrics import paper_table
from .results import (SINGLE_SEED_NOISE_DB, STD_OVER_VOLUMES, final_per_volume, hallucination_scores, header_digits,
                      metric_headers, model_statistics, oracle_targets, paired_difference, seed_evidence, seed_half_width,
                      spread_convention, summary_table, training_interval)
from .study import Study, cached_table, run_entry, run_records

__all__ = ["Landscape", "check_landscape_grid", "compare_with_paper", "costs", "DYNAMICS_METRICS", "dynamics", "dynamics_table", "final_per_volume",
           "forgetting", "forgetting_summary", "MIA_COLUMNS", "check_reference_seeds", "membership_null", "membership_record", "noise_floor", "hallucination_scores", "header_digits", "judge_claims", "landscape_caption",
           "loss_landscape", "oracle_targets", "RADAR_AXES", "radar_psnr", "radar_values", "run_methods", "run_records", "summary_table", "unlearning_verdict", "wide_table"]


def run_methods(study: Study, methods: Sequence[str], seeds: Sequence[int], fraction: float | None = None) -> dict[tuple[str, int], Any]:
    """Run (or load) every method for every seed; returns ``{(method, seed): UnlearnResult}``."""
    return {(m, s): study.unlearn(m, s, fraction) for s in seeds for m in methods}


def wide_table(summary: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Printable Table 1: one row per model, ``BTA psnr`` … cells ``"mean ± spread"``; the model
    closest to Ĝ in each column is marked with ``*`` (smallest absolute difference of means).

    One ± convention for the whole table, named by the columns' name (:func:`spread_convention`):
    the std over volumes when every model ran at one seed; otherwise the 95% interval over seeds,
    and a model run at one seed (G, Ĝ) shows its mean alone."""
    t = summary.copy()
    fmt = {"psnr": digits, "ssim": 3}
    oracle = t[t.model == "oracle"].set_index(["column", "metric"])["mean"]
    several = int(t.n_seeds.max()) > 1
    spread = seed_half_width(t).where(t.n_seeds > 1) if several else t[STD_OVER_VOLUMES]
    t["cell"] = [f"{m:.{fmt[k]}f} ± {s:.{fmt[k]}f}" if not math.isnan(s) else f"{m:.{fmt[k]}f}"
                 for m, s, k in zip(t["mean"], spread, t.metric)]
    t["dist"] = [abs(m - oracle.get((c, k), np.nan)) for m, c, k in zip(t["mean"], t.column, t.metric)]
    cand = t[~t.model.isin(["oracle", "original"])]
    best = cand.loc[cand.groupby(["column", "metric"], observed=True)["dist"].idxmin()]
    t.loc[best.index, "cell"] = t.loc[best.index, "cell"] + " *"
    t["col"] = t.column + " " + t.metric
    wide = t.pivot_table(index="model", columns="col", values="cell", aggfunc="first", observed=True)
    cols = [f"{c} {m}" for c in PAPER_COLUMNS.values() for m in ("psnr", "ssim") if f"{c} {m}" in wide.columns]
    wide = wide[cols]
    wide.columns.name = spread_convention(summary)
    return wide


def compare_with_paper(summary: pd.DataFrame) -> pd.DataFrame:
    """Our PSNR means beside the paper's Table 1, and each relative to its own G and Ĝ.

    ``pos`` = (PSNR − Ĝ) / (G − Ĝ) per column: 0 = at the oracle, 1 = at G (no forgetting),
    computed for ours and for the paper's numbers so the patterns can be compared.
    """
    p = summary[summary.metric == "psnr"].pivot_table(index="model", columns="column", values="mean", observed=True)
    paper = paper_numbers.table1_frame()
    rows = []
    for model in p.index:
        row: dict[str, Any] = {"model": str(model)}
        for c in ("BTA", "KTA", "UA"):
            row[f"{c} ours"] = p.loc[model, c]
            row[f"{c} paper"] = paper.loc[model, f"{c}_psnr"] if model in paper.index else math.nan
        for c in ("KTA", "UA"):
            og, oo = p.loc["original", c], p.loc["oracle", c]
            pg, po = paper.loc["original", f"{c}_psnr"], paper.loc["oracle", f"{c}_psnr"]
            row[f"{c} pos ours"] = (row[f"{c} ours"] - oo) / (og - oo) if og != oo else math.nan
            row[f"{c} pos paper"] = (row[f"{c} paper"] - po) / (pg - po)
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


#: the metrics of Table 2, each a column of :func:`dynamics` (the paper reports both)
DYNAMICS_METRICS: tuple[str, ...] = ("psnr", "ssim")


def dynamics(study: Study, results: Mapping[tuple[str, int], Any]) -> pd.DataFrame:
    """Table 2: BTA/KTA/UA PSNR and SSIM after every unlearning epoch (epoch 0 = G), per method and seed.

    Epoch 0 is G's per-volume means (:func:`~mriunlearn.metrics.paper_table` of ``original``), the
    other epochs each run's recorded ``per_epoch`` table; nothing is run or evaluated here.

    Returns:
        One row per (model, seed, epoch, column): columns ``model``, ``seed``, ``epoch``, ``column``
        (BTA, KTA, UA), ``psnr`` (dB) and ``ssim`` (in [0, 1]), each the mean over volumes.
    """
    keys = ["model", "seed", "epoch", "column"]
    g = paper_table(study.per_volume("original"), by=[], metrics=DYNAMICS_METRICS)
    frames = []
    for (m, s), r in results.items():
        frames.append(g.assign(model=m, seed=s, epoch=0))
        frames.append(r.per_epoch[r.per_epoch.metric.isin(DYNAMICS_METRICS)].assign(model=m, seed=s))
    long = pd.concat(frames, ignore_index=True)
    by_metric = [long[long.metric == k][keys + ["mean"]].rename(columns={"mean": k}) for k in DYNAMICS_METRICS]
    out = by_metric[0]
    for t in by_metric[1:]:  # a left merge keeps the PSNR rows' order
        out = out.merge(t, on=keys, how="left", validate="one_to_one")
    return out.reset_index(drop=True)


def dynamics_table(dyn: pd.DataFrame) -> pd.DataFrame:
    """Table 2 wide: rows (model, epoch), columns ``"BTA PSNR"``, ``"BTA SSIM"``, … (mean over
    seeds). ``dyn`` without an ``ssim`` column (a CSV saved before Table 2 had SSIM) gives the PSNR
    columns alone."""
    metrics = [k for k in DYNAMICS_METRICS if k in dyn.columns]
    wide = dyn.pivot_table(index=["model", "epoch"], columns="column", values=metrics, aggfunc="mean", sort=False)
    wide.columns = [f"{c} {k.upper()}" for k, c in wide.columns]
    return wide[[h for _, h in metric_headers(metrics)]]


def costs(study: Study, results: Mapping[tuple[str, int], Any]) -> pd.DataFrame:
    """Wall time and slice-steps of every run, as fractions of retraining Ĝ."""
    o = study.oracle
    rows = [{"model": "oracle", "seed": study.profile.seed, "wall_time_s": o.wall_time_s, "slice_steps": o.slice_steps}]
    rows += [{"model": m, "seed": s, "wall_time_s": r.wall_time_s, "slice_steps": r.slice_steps} for (m, s), r in results.items()]
    df = pd.DataFrame(rows)
    df["time_fraction"] = df.wall_time_s / o.wall_time_s
    df["slice_fraction"] = df.slice_steps / o.slice_steps
    return df


def radar_values(summary: pd.DataFrame, cost_table: pd.DataFrame) -> pd.DataFrame:
    """Fig. 3's axes per model, each normalised to [0, 1] over the models shown (a variant of the
    paper's form, :func:`radar_psnr`: it spreads every axis over the models' range).

    UA, KTA, BTA: PSNR min-max normalised over all models (G, Ĝ, methods); RTE: reciprocal wall
    time divided by its maximum (1 = the fastest run). Models in ``summary``'s order.
    """
    psnr = summary[summary.metric == "psnr"]
    p = psnr.pivot_table(index="model", columns="column", values="mean", observed=True)
    p = p.reindex(list(dict.fromkeys(psnr.model)))
    out = pd.DataFrame(index=p.index)
    for c in ("UA", "KTA", "BTA"):
        lo, hi = p[c].min(), p[c].max()
        out[c] = (p[c] - lo) / (hi - lo) if hi > lo else 1.0
    t = cost_table.groupby("model").wall_time_s.mean()
    rte = 1.0 / t
    out["RTE"] = (rte / rte.max()).reindex(out.index)
    return out


#: Fig. 3's axes, in the order drawn (counter-clockwise from the right)
RADAR_AXES: tuple[str, ...] = ("UA", "KTA", "BTA", "RTE")


def radar_psnr(summary: pd.DataFrame, cost_table: pd.DataFrame) -> pd.DataFrame:
    """The paper's Fig. 3 axes per model in their own units, with a band over unlearning seeds.

    UA, KTA, BTA: PSNR (dB) from :func:`summary_table` (also as read back from its CSV), ``low`` /
    ``high`` the 95% interval over seeds (equal to ``value`` for a model run at one seed). RTE:
    per run the fastest model's mean wall time over this run's wall time (1 = as fast as the fastest
    model on average), ``value`` its mean over seeds and ``low`` / ``high`` its 95% t-interval
    (:func:`costs` rows; G has none: NaN).

    Returns:
        One row per model and axis: ``model``, ``axis``, ``value``, ``low``, ``high``, ``n_seeds``
        (models in ``summary``'s order).
    """
    p = summary[summary.metric == "psnr"].assign(half=lambda t: seed_half_width(t).to_numpy())
    rows = [{"model": str(r.model), "axis": r.column, "value": r.mean, "low": r.mean - r.half,
             "high": r.mean + r.half, "n_seeds": int(r.n_seeds)} for r in p.itertuples()]
    fastest = float(cost_table.groupby("model").wall_time_s.mean().min())
    for model in dict.fromkeys(str(m) for m in p.model):
        times = cost_table[cost_table.model == model].wall_time_s.to_numpy(float)
        s = mean_interval(fastest / times)  # no runs (G): NaN
        low, high = (s["low"], s["high"]) if s["n"] > 1 else (s["mean"], s["mean"])
        rows.append({"model": model, "axis": "RTE", "value": s["mean"], "low": low, "high": high, "n_seeds": int(s["n"])})
    out = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(dict.fromkeys(out.model))}
    return out.sort_values(["model", "axis"], key=lambda c: c.map(order) if c.name == "model"
                           else c.map(RADAR_AXES.index)).reset_index(drop=True)


#: the forgetting table's membership columns (:mod:`mriunlearn.membership`): AUC, its interval, the verdict
MIA_COLUMNS: tuple[str, ...] = ("mia_auc", "mia_low", "mia_high", "mia_verdict")


def check_reference_seeds(study: Study, seeds: Sequence[Any]) -> list[int]:
    """``MIA_REFERENCE_SEEDS`` checked: distinct integers other than the study's training seed (the
    oracle under test cannot be its own reference); empty means the uncalibrated attack."""
    seeds = list(seeds)
    if any(isinstance(s, bool) or not isinstance(s, int) for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"MIA_REFERENCE_SEEDS must be distinct integers, got {seeds!r}")
    if study.profile.seed in seeds:
        raise ConfigError(f"MIA_REFERENCE_SEEDS={seeds!r} holds the study's own training seed {study.profile.seed}: "
                          f"Ĝ at that seed is a model under test, not a reference")
    return seeds


def oracle_statistics(study: Study, seed: int) -> tuple[Statistics, Groups]:
    """:func:`model_statistics` of the oracle Ĝ trained at ``seed`` (trained or restored as any Ĝ)."""
    return model_statistics(study, study.at_seed(seed).oracle)


def membership_null(study: Study, reference_seeds: Sequence[int]) -> pd.DataFrame:
    """The membership test's noise floor: the oracle Ĝ at the study's seed and at every reference seed,
    each scored against the others (none saw D_f, so whatever they show is noise), with the same
    test as :func:`forgetting`. Rows: ``seed``, ``mia_auc``, ``mia_low``, ``mia_high``, ``mia_verdict``;
    empty without reference seeds or on a split that cannot support the test."""
    seeds = [study.profile.seed, *check_reference_seeds(study, reference_seeds)]
    if len(seeds) < 2 or attack_impossible(study.manifest) is not None:
        return pd.DataFrame(columns=["seed", *MIA_COLUMNS])
    stats = {s: oracle_statistics(study, s) for s in seeds}
    rows = []
    for s in seeds:
        r = membership_attack(stats[s][0], [stats[o][0] for o in seeds if o != s], stats[s][1], seed=s)
        rows.append({"seed": s, **_mia_columns(r.auc, r.low, r.high, None)})
    return pd.DataFrame(rows)


def _mia_columns(auc: float, low: float, high: float, floor: tuple[float, float] | None) -> dict[str, Any]:
    """The :data:`MIA_COLUMNS` of one membership test, its verdict read against ``floor``."""
    return {"mia_auc": auc, "mia_low": low, "mia_high": high, "mia_verdict": membership_verdict(low, high, auc, floor)}


def _membership_row(study: Study, result: Any, seed: int, references: Sequence[Statistics], tag: str,
                    floor: tuple[float, float] | None) -> dict[str, Any]:
    def compute() -> pd.DataFrame:
        stats, groups = model_statistics(study, result)
        return pd.DataFrame([membership_attack(stats, references, groups, seed=seed).to_dict()])
    row = cached_table(run_entry(result), f"membership_{tag}", compute).iloc[0]
    return _mia_columns(float(row.auc), float(row.low), float(row.high), floor)


def membership_record(study: Study, reference_seeds: Sequence[int]) -> dict[str, Any]:
    """What calibrated the membership test, saved beside the forgetting table: the reference seeds and
    the run-cache key of each reference oracle (the published base models serve these keys). On a
    split that cannot support the test no reference is trained, and none is recorded."""
    seeds = check_reference_seeds(study, reference_seeds)
    used = seeds if attack_impossible(study.manifest) is None else []
    return {"mia_reference_seeds": seeds, "mia_reference_keys": [run_entry(study.at_seed(s).oracle).key for s in used]}


def noise_floor(null: pd.DataFrame) -> tuple[float, float] | None:
    """``(lowest, highest)`` AUC of :func:`membership_null`'s oracles, or ``None`` without any."""
    return (float(null.mia_auc.min()), float(null.mia_auc.max())) if len(null) else None


def forgetting(study: Study, results: Mapping[tuple[str, int], Any], *,
               mia_reference_seeds: Sequence[int] = ()) -> pd.DataFrame:
    """Calibrated membership inference for G, Ĝ and every run (cached in each entry).

    ``mia_auc``, ``mia_low``, ``mia_high``, ``mia_verdict``: the membership test of
    :mod:`mriunlearn.membership` (forget slices against unseen knee slices, 0.5 = no membership
    signal) with its subject-clustered 95% interval, calibrated by the oracles Ĝ trained at
    ``mia_reference_seeds`` (each trained or restored; empty: the uncalibrated loss attack), and
    :func:`~mriunlearn.membership.membership_verdict` against the noise floor of
    :func:`membership_null`. A split with fewer than two volumes in a class cannot support the
    test: those columns are NaN/"-", with a warning naming the counts. The relearning attack is
    :mod:`mriunlearn.experiments.relearning`.
    """
    seeds = check_reference_seeds(study, mia_reference_seeds)
    why_not = attack_impossible(study.manifest)
    if why_not is not None:
        warnings.warn(f"membership inference skipped (mia = NaN): {why_not}", stacklevel=2)
    references = [oracle_statistics(study, s)[0] for s in seeds] if why_not is None else []
    floor = noise_floor(membership_null(study, seeds))
    tag = "refs" + "-".join(map(str, seeds)) if seeds else "uncalibrated"
    p = study.profile
    models = {("original", p.seed): study.original, ("oracle", p.seed): study.oracle, **results}
    rows = []
    for (m, s), r in models.items():
        row: dict[str, Any] = {"model": m, "seed": s}
        row.update(_membership_row(study, r, s, references, tag, floor) if why_not is None else
                   {**dict.fromkeys(MIA_COLUMNS[:3], math.nan), "mia_verdict": "-"})
        rows.append(row)
    return pd.DataFrame(rows)


def forgetting_summary(study: Study, results: Mapping[tuple[str, int], Any], summary: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
    """Gap to Ĝ per column (PSNR), mean absolute gap and membership test, one row per model (gaps:
    means over seeds; membership test: the first seed's)."""
    p = summary[summary.metric == "psnr"].pivot_table(index="model", columns="column", values="mean", observed=True)
    gaps = p.sub(p.loc["oracle"], axis=1)[["BTA", "KTA", "UA"]].add_suffix(" gap")
    gaps["mean |gap|"] = [oracle_distance(p.loc[m], p.loc["oracle"]) for m in p.index]
    f = forgetting(study, results, **kwargs)
    first = f.groupby("model", sort=False)[list(MIA_COLUMNS)].first()
    out = gaps.join(first).reset_index()
    out["model"] = out.model.astype(str)
    return out


def _interval(summary: pd.DataFrame, model: str, column: str, metric: str = "psnr") -> tuple[float, float, float]:
    """``(mean, low, high)`` of one Table 1 entry: the 95% interval over seeds, or the mean alone
    (``low == high``) for a model run at one seed."""
    mean, half = _mean_half(summary, model, column, metric)
    return mean, mean - half, mean + half


def _mean_half(summary: pd.DataFrame, model: str, column: str, metric: str = "psnr") -> tuple[float, float]:
    """``(mean, half-width)`` of one Table 1 entry (half-width 0 for a model run at one seed)."""
    rows = summary[(summary.model == model) & (summary.column == column) & (summary.metric == metric)]
    return float(rows["mean"].iloc[0]), float(seed_half_width(rows).iloc[0])


def judge_claims(summary: pd.DataFrame, methods: Sequence[str], per_volume: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's Table 1 claims, each marked reproduced or not on this run's numbers.

    Every criterion is a rule of :mod:`mriunlearn.claims` (its threshold and tolerance class are
    written there once), applied to this run's Table 1 alone: the claims' margins and
    :func:`mriunlearn.claims.verdict` (a margin within the reproduction tolerance is
    ``"borderline"``). Half-widths are the 95% intervals over unlearning seeds (0 at one seed) where
    a claim bounds one model: "destroys" widens its borderline zone by it; "stays near" judges the mean
    and also needs the interval's lower end above Ĝ's UA; "closest" and "forgets" judge means. With
    ``per_volume`` (G's and Ĝ's per-volume metrics) the brain-cost claim needs the paired 95%
    interval of G − Ĝ over the BTA volumes to lie below 0, not just a negative mean.

    Returns:
        One row per claim: ``claim``, ``reproduced`` (yes / no / borderline / inconclusive), ``rule``
        (the criterion with its threshold), ``evidence`` (the numbers, as text) and ``margin`` (dB;
        NaN where inconclusive).
    """
    rows = []

    def add(claim: str, rule: Criterion, evidence: str) -> None:
        rows.append({"claim": claim, "reproduced": rule.verdict(), "rule": rule.rule, "evidence": evidence,
                     "margin": math.nan if rule.margin is None else rule.margin})

    g = {c: _interval(summary, "original", c)[0] for c in ("BTA", "KTA", "UA")}
    o = {c: _interval(summary, "oracle", c)[0] for c in ("BTA", "KTA", "UA")}
    add("G is better than Ĝ on knee (shared knowledge)", knee_gain_rule({c: g[c] - o[c] for c in ("KTA", "UA")}),
        f"KTA G−Ĝ = {g['KTA'] - o['KTA']:+.2f} dB, UA G−Ĝ = {g['UA'] - o['UA']:+.2f} dB (paper +4.83, +5.39)")
    add(*_brain_cost_claim(summary, per_volume))
    if "ft" in methods:
        m, lo, hi = _interval(summary, "ft", "UA")
        near = stays_near_rule("ft", m, 0.0, g["UA"])
        near = near._replace(margin=min(near.margin, lo - o["UA"]), rule=near.rule + " and UA's lower end above Ĝ's UA")
        add("FT alone does not forget (UA stays near G's)", near,
            f"FT UA = {m:.2f} dB vs G {g['UA']:.2f}, Ĝ {o['UA']:.2f}")
    for meth in ("ga_l1", "nl"):
        if meth in methods:
            m, half = _mean_half(summary, meth, "BTA")
            add(f"{meth} alone destroys the model (BTA far below Ĝ)", destroys_rule(meth, m, half, o["BTA"]),
                f"{meth} BTA = {m:.2f} dB vs Ĝ {o['BTA']:.2f}")
    _add_nl_ft_claims(add, summary, methods, o, g)
    return pd.DataFrame(rows)


def _add_nl_ft_claims(add: Callable[[str, Criterion, str], None], summary: pd.DataFrame, methods: Sequence[str],
                      o: Mapping[str, float], g: Mapping[str, float]) -> None:
    """"NL-FT comes closest to Ĝ" and "NL-FT forgets", judged on means, when NL-FT and a rival ran."""
    cand = [m for m in methods if m in set(summary.model)]
    if "nl_ft" not in cand or len(cand) < 2:
        return
    dist = {m: oracle_distance({c: _interval(summary, m, c)[0] for c in o}, o) for m in cand}
    add("NL-FT comes closest to the oracle (mean |PSNR − Ĝ| over BTA, KTA, UA)", closest_rule(dist, "nl_ft"),
        "distance to Ĝ: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(dist.items(), key=lambda kv: kv[1])))
    m = _interval(summary, "nl_ft", "UA")[0]
    add("NL-FT forgets: UA moves from G's toward Ĝ's", forgets_rule(m, 0.0, g["UA"], o["UA"]),
        f"|UA − Ĝ|: NL-FT {abs(m - o['UA']):.2f} dB vs G {abs(g['UA'] - o['UA']):.2f} dB")


def _brain_cost_claim(summary: pd.DataFrame, per_volume: pd.DataFrame | None) -> tuple[str, Criterion, str]:
    """``(claim, criterion, evidence)`` of "joint training costs brain quality".

    With ``per_volume`` two trainings are judged as notebook 01 judges them: one training seed within
    the noise floor is inconclusive (margin ``None``); otherwise the rule takes the upper end of the
    95% interval of G − Ĝ (the claim holds when the whole interval lies below 0).
    """
    claim = "Joint training costs brain quality (G below Ĝ on BTA)"
    if per_volume is None:
        g, o = _interval(summary, "original", "BTA")[0], _interval(summary, "oracle", "BTA")[0]
        return claim, brain_cost_rule(g - o), f"BTA G−Ĝ = {g - o:+.2f} dB (paper −0.29)"
    s, interval = training_interval(per_volume)
    d = paired_difference(per_volume, "original", "oracle")
    evidence = (f"BTA G−Ĝ = {d['mean']:+.2f} dB, paired 95% interval [{d['low']:+.2f}, {d['high']:+.2f}] "
                f"over {d['n']} volumes (paper −0.29)")
    if interval is None:
        return claim, brain_cost_rule(None), evidence + f"; inconclusive: {seed_evidence(s, noise_floor=SINGLE_SEED_NOISE_DB)}"
    return claim, brain_cost_rule(float(interval["high"])), evidence


def unlearning_verdict(summary: pd.DataFrame, claims: pd.DataFrame) -> str:
    """One paragraph: which claims hold, and which method is closest to Ĝ overall. Marks: ``[x]`` holds,
    ``[ ]`` does not, ``[?]`` inconclusive (too few seeds), ``[~]`` borderline (margin within the
    reproduction tolerance of its threshold)."""
    p = summary[summary.metric == "psnr"].pivot_table(index="model", columns="column", values="mean", observed=True)
    dist = pd.Series({m: oracle_distance(p.loc[m], p.loc["oracle"]) for m in p.index}).drop(["oracle", "original"], errors="ignore")
    best = dist.idxmin()
    held = (claims.reproduced == "yes").sum()
    other = [f"{n} {v}" for v in ("inconclusive", "borderline") if (n := int((claims.reproduced == v).sum()))]
    lines = [f"{held} of {len(claims)} claims of the paper hold on this data"
             + (f" ({', '.join(other)})." if other else "."),
             f"Closest to the oracle overall (mean |PSNR gap| over BTA, KTA, UA): {best} ({dist[best]:.2f} dB); "
             f"NL-FT: {dist.get('nl_ft', math.nan):.2f} dB; G itself: "
             f"{oracle_distance(p.loc['original'], p.loc['oracle']):.2f} dB."]
    for row in claims.itertuples():
        mark = {"yes": "x", "inconclusive": "?", "borderline": "~"}.get(row.reproduced, " ")
        lines.append(f"- [{mark}] {row.claim}: {row.evidence}")
    return "\n".join(lines)


@dataclass
class Landscape:
    """Fig. 4's data: both loss grids, every model's position on the plane (``plane_points``) and the
    same positions as a table with the loss there (``points``). :func:`mriunlearn.plots.loss_landscape_figure`
    draws it."""

    points: pd.DataFrame
    retain: LossPlane
    forget: LossPlane
    plane_points: dict[str, PlanePoint]
    #: the models that span the plane: its origin, the x axis' target and the y axis' target
    axes: tuple[str, str, str] = ("original", "ga_l1", "nl_ft")


def landscape_caption(landscape: Landscape, reference: str = "oracle") -> str:
    """Fig. 4's caption, from the plane the code built (``landscape.axes``): which
    models span it, what each axis is, and how much of ``reference``'s displacement from the origin
    lies off the plane (its relative residual; omitted when ``reference`` was not projected)."""
    origin, first, second = (short_label(n) for n in landscape.axes)
    text = (f"Plane through {origin} (origin), {first} and {second}: x axis toward {first}, y axis the part of "
            f"the direction toward {second} orthogonal to it (parameter-space distances).")
    p = landscape.plane_points.get(reference)
    if p is not None:
        name = short_label(reference)
        text += (f" {name} lies {p.relative_residual:.0%} off the plane (share of its distance from {origin}): "
                 f"its marker is its projection, and the loss drawn there is the projection's, not {name}'s.")
    return text


def check_landscape_grid(num: Any) -> int:
    """Notebook 03's ``LANDSCAPE_GRID`` (points per axis of the loss-landscape grid, num² loss
    evaluations per plane) as an int >= 2; raises :class:`ConfigError` naming it otherwise."""
    if isinstance(num, bool) or not isinstance(num, int) or num < 2:
        raise ConfigError(f"LANDSCAPE_GRID={num!r} is not valid; valid: an integer >= 2 (points per axis; 11 in the committed figure)")
    return num


def loss_landscape(study: Study, results: Mapping[tuple[str, int], Any], seed: int, *, first: str = "ga_l1",
                   second: str = "nl_ft", grid_num: int = 11, max_slices: int = 8) -> Landscape:
    """Loss on the plane through G spanned by the directions to two unlearned models.

    Retain loss on the validation brain volumes, forget loss on D_f, both with evaluation masks;
    every model of ``results`` (this ``seed``) and Ĝ is projected onto the plane. The grids are
    cached as CSV in the entry of ``results[(second, seed)]`` (keyed by the other model's entry).

    Raises:
        ConfigError: ``first`` or ``second`` was not run for ``seed`` (add them to METHODS).
    """
    missing = [m for m in (first, second) if (m, seed) not in results]
    if missing:
        raise ConfigError(f"the loss landscape needs the methods {missing} for seed {seed}: add them to METHODS")
    states = {"original": study.original, "oracle": study.oracle,
              **{m: r for (m, s), r in results.items() if s == seed}}
    labels = {k: label(k) for k in states}
    plane = plane_through(states, "original", first, second, labels=labels)
    anchor = run_entry(results[(second, seed)])
    other = getattr(run_entry(results[(first, seed)]), "key", "nocache")
    grids = {}
    for name, role, title in (("retain", "val", "retain loss: brain (validation volumes)"),
                              ("forget", "forget", "forget loss: knee (D_f)")):
        files = study.manifest.files(role)
        table = cached_table(anchor, f"landscape_{name}_{first}-{other}_{grid_num}x{max_slices}",
                             lambda files=files: plane.loss_plane(files, study.profile, grid=plane.grid(grid_num),
                                                                  max_slices=max_slices).to_frame())
        grids[name] = LossPlane.from_frame(table, axis_labels=plane.axis_labels, title=f"{title} · {max_slices} slices")
    points = pd.DataFrame([{"model": k, "alpha": p.alpha, "beta": p.beta, "off_plane": p.residual / p.distance if p.distance else 0.0,
                            "retain_loss": grids["retain"].at(p.alpha, p.beta), "forget_loss": grids["forget"].at(p.alpha, p.beta)}
                           for k, p in plane.points.items()])
    return Landscape(points, grids["retain"], grids["forget"], dict(plane.points), ("original", first, second))

