"""Notebook 04, subset retain: Table 3 and Fig. 5, unlearning with a growing share of the retain set."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import paper_numbers
from ..intervals import mean_interval, quadratic_fit
from ..manifest import PAPER_COLUMNS
from ..unlearning import get_method
from ..unlearning.base import VARIANTS
from .results import SINGLE_SEED_NOISE_DB, header_digits, metric_headers, oracle_targets, run_row, summary_table
from .study import Study, check_choices, subsets_path, sweep_records

__all__ = ["FRACTION_METHODS", "VARIANTS", "best_fraction", "compare_fractions_with_paper", "fraction_sweep", "fraction_table",
           "fraction_verdict", "header_digits", "oracle_targets", "paper_gaps", "retain_subsets", "subsets_note", "summary_table", "sweep_records"]


FRACTION_METHODS: tuple[str, ...] = ("ft", "nl_ft", "ga_l1_ft")


def paper_gaps() -> pd.DataFrame:
    """The paper's Table 3 as gaps to its own Ĝ (Table 1's oracle row): per method, fraction and
    column (BTA, KTA) the paper's PSNR minus the paper's Ĝ PSNR, in dB. Gaps are what compares
    across data sets (absolute PSNRs of 320x320 fastMRI and the embedded data do not).

    Returns:
        Columns ``method``, ``fraction``, ``column``, ``gap`` (one row per number the paper gives).
    """
    oracle = paper_numbers.TABLE1["oracle"]
    rows = [{"method": m, "fraction": f, "column": col, "gap": value - oracle[f"{col}_psnr"]}
            for m, by_f in paper_numbers.TABLE3.items() for f, values in by_f.items()
            for col, value in zip(("BTA", "KTA"), values)]
    return pd.DataFrame(rows)


def fraction_sweep(study: Study, methods: Sequence[str], fractions: Sequence[float], seeds: Sequence[int],
                   variants: Sequence[str] = ("paper",)) -> tuple[pd.DataFrame, dict[tuple[str, float, int], Any]]:
    """Table 3: every method × variant × retain fraction × seed. A fraction of 1.0 uses all retain volumes.

    ``variants``: ``"paper"`` and/or ``"code"`` (the authors' code: NL-FT and GA-ℓ1-FT take one
    shuffled stream of forget and retain batches instead of pair-summed steps; see
    :mod:`mriunlearn.unlearning.nl_ft`). A method without a ``variant`` parameter (FT) runs once,
    as ``"paper"``. A code-variant run is labelled ``"<method>:code"`` in ``method``, as notebook 03's
    noise sweep does.

    Retain data per fraction: the subset shipped with the manifest when there is one
    (:func:`retain_subsets`: the authors' folders on real data), else a per-seed draw
    ``Manifest.subset("retain", fraction, seed)`` (the embedded data); a printed line
    (:func:`subsets_note`) says which each fraction used.

    Returns:
        ``(table, runs)``: per (label, fraction, seed) the BTA/KTA/UA PSNR means (dB; columns
        ``BTA``, ``KTA``, ``UA``), their SSIM means (``BTA_ssim``, ``KTA_ssim``, ``UA_ssim``), wall
        time, slice-steps and the number of retain volumes drawn; and the runs themselves, keyed
        ``(label, fraction, seed)``.

    Raises:
        ConfigError: an unknown variant (the error names ``VARIANTS``).
    """
    variants = check_choices("VARIANTS", variants, VARIANTS)
    runs: dict[tuple[str, float, int], Any] = {}
    rows = []
    shipped = retain_subsets(study, fractions)
    print(subsets_note(study, shipped, fractions))
    for s in seeds:
        for m in methods:
            has_variant = "variant" in get_method(m).params
            for v in (variants if has_variant else ["paper"]):
                name = m if v == "paper" else f"{m}:{v}"
                # the paper variant is the methods' default: its runs (and cache keys) are those without it;
                # Table 3 reads only the end of a run, so no run is evaluated after every epoch
                extra = ({"params": {"variant": v}} if v != "paper" else {}) | {"eval_every_epoch": False}
                for f in fractions:
                    if f in shipped:
                        r = study.unlearn(m, s, retain_files=shipped[f][1], **extra)
                    else:
                        r = study.unlearn(m, s, f, **extra)
                    runs[(name, f, s)] = r
                    rows.append({"method": name, "fraction": f, "seed": s, **run_row(r, ssim=True)})
    return pd.DataFrame(rows), runs


def retain_subsets(study: Study, fractions: Sequence[float]) -> dict[float, tuple[str, list[Any]]]:
    """``{fraction: (subset name, retain volumes)}`` for the fractions below 1 that the manifest's
    shipped subsets (``<stem>_subsets.csv``, e.g. the authors' ``paper_subsets.csv``) cover; the
    other fractions are seeded draws (``Manifest.subset``), and 1.0 is all of D_r either way."""
    out = {}
    for f in fractions:
        found = study.retain_subset(f) if f < 1 else None
        if found is not None:
            out[f] = found
    return out


def subsets_note(study: Study, shipped: dict[float, tuple[str, list[Any]]], fractions: Sequence[float]) -> str:
    """One line saying which retain fractions use the shipped subsets and which are seeded draws."""
    drawn = [f"{f:g}" for f in fractions if f not in shipped]
    if study.subsets_source is None:
        expected = subsets_path(study.manifest)
        where = f"no {expected.name} beside the manifest" if expected is not None else "no subsets file"
        partial = [f"{f:g}" for f in fractions if f < 1]
        return (f"retain subsets: seeded draws per unlearning seed ({where}; Manifest.subset) for "
                f"fractions {', '.join(partial) or 'none'}" + ("; fraction 1 = all of D_r" if 1 in fractions else ""))
    used = ", ".join(f"{f:g} -> {name} ({len(files)} volumes)" for f, (name, files) in shipped.items())
    return (f"retain subsets from {study.subsets_source}: {used or 'none of the swept fractions'}"
            + (f"; seeded draws (or all of D_r at 1): {', '.join(drawn)}" if drawn else ""))


def best_fraction(sweep: pd.DataFrame, method: str, oracle_bta: float) -> float:
    """The retain fraction whose mean BTA comes closest to Ĝ's for ``method``."""
    m = sweep[sweep.method == method].groupby("fraction").BTA.mean()
    return float((m - oracle_bta).abs().idxmin())


def fraction_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """Table 3 wide: rows fraction; per method the columns ``"<method> BTA PSNR"``, ``"<method> BTA
    SSIM"``, … (mean over seeds), then the first method's ``"<method> volumes"``. A sweep without the
    ``*_ssim`` columns (a CSV saved before Table 3 had SSIM) gives the PSNR columns alone."""
    ssim = all(f"{c}_ssim" in sweep.columns for c in PAPER_COLUMNS.values())
    headers = [h for _, h in metric_headers(["psnr", "ssim"] if ssim else ["psnr"])]
    # header -> the sweep's column: "BTA PSNR" -> BTA, "BTA SSIM" -> BTA_ssim
    source = {h: h.split()[0] + ("_ssim" if h.endswith("SSIM") else "") for h in headers}
    wide = sweep.groupby(["fraction", "method"], sort=False)[[*source.values(), "retain_volumes"]].mean().unstack("method")
    names = {c: h for h, c in source.items()} | {"retain_volumes": "volumes"}
    wide.columns = [f"{m} {names[c]}" for c, m in wide.columns]
    methods = list(dict.fromkeys(sweep.method))
    cols = [f"{m} {h}" for m in methods for h in headers] + [f"{methods[0]} volumes"]
    return wide[cols].sort_index()


def compare_fractions_with_paper(sweep: pd.DataFrame) -> pd.DataFrame:
    """Our BTA/KTA per (method, fraction) beside the paper's Table 3 (NaN where the paper has none);
    a variant label (``"nl_ft:code"``) is set beside its method's numbers."""
    ours = sweep.groupby(["method", "fraction"], sort=False)[["BTA", "KTA"]].mean().reset_index()
    ours["base"] = ours.method.str.partition(":")[0]
    paper = paper_numbers.table3_frame().rename(columns={"method": "base", "BTA_psnr": "BTA paper", "KTA_psnr": "KTA paper"})
    for t in (ours, paper):
        t["fraction"] = t.fraction.round(4)
    out = ours.rename(columns={"BTA": "BTA ours", "KTA": "KTA ours"}).merge(paper, on=["base", "fraction"], how="left")
    return out.set_index(["method", "fraction"])[["BTA ours", "BTA paper", "KTA ours", "KTA paper"]]


def fraction_verdict(sweep: pd.DataFrame, oracle_summary: pd.DataFrame) -> str:
    """The best fraction per method (BTA closest to Ĝ's, and highest BTA), stated with numbers.

    An intermediate optimum (the paper's claim for NL-FT) is claimed only when the interior peak beats
    both end fractions by more than noise: with one seed by more than :data:`SINGLE_SEED_NOISE_DB`,
    with several seeds when the 95% t-interval of the per-seed margin lies above 0; otherwise the
    verdict says it is inconclusive."""
    o = float(oracle_summary.query("column == 'BTA' and metric == 'psnr'")["mean"].iloc[0])
    lines = [f"Oracle BTA: {o:.2f} dB."]
    for m in dict.fromkeys(sweep.method):
        rows = sweep[sweep.method == m]
        g = rows.groupby("fraction")[["BTA", "KTA"]].mean()
        best = best_fraction(sweep, m, o)
        top = float(g.BTA.idxmax())
        lo, hi = float(g.index.min()), float(g.index.max())
        line = (f"{m}: BTA closest to the oracle at {best:.0%} ({g.BTA[best]:.2f} dB); highest BTA at {top:.0%} "
                f"({g.BTA[top]:.2f} dB) -> ")
        if top in (lo, hi):
            lines.append(line + "no intermediate optimum on this data.")
            continue
        per_seed = rows.pivot_table(index="seed", columns="fraction", values="BTA")
        margins = per_seed[top] - per_seed[[lo, hi]].max(axis=1)
        if len(margins) == 1:
            margin = float(margins.iloc[0])
            held = margin > SINGLE_SEED_NOISE_DB
            why = (f"it beats both ends by {margin:.2f} dB, "
                   + ("more than" if held else "within") + f" the ~{SINGLE_SEED_NOISE_DB} dB single-seed noise")
        else:
            s = mean_interval(margins)
            held = s["low"] > 0
            why = (f"its margin over both ends is {s['mean']:+.2f} dB, 95% interval [{s['low']:+.2f}, "
                   f"{s['high']:+.2f}] over {int(s['n'])} seeds")
        lines.append(line + (f"an intermediate fraction is best, as the paper reports for NL-FT ({why})." if held
                             else f"inconclusive: {why}; no intermediate optimum can be claimed."))
    return "\n".join(lines)


def fraction_fits(sweep: pd.DataFrame) -> pd.DataFrame:
    """The quadratic fits :func:`~mriunlearn.plots.fraction_figure` draws: per method and x axis
    (``wall_time_s``, ``slice_steps``) the coefficients of ``BTA ≈ a x² + b x + c``
    (:func:`~mriunlearn.intervals.quadratic_fit`) and the number of points; no row where fewer than
    3 distinct x values give no fit."""
    out = []
    for m in dict.fromkeys(sweep.method):
        t = sweep[sweep.method == m]
        for xcol in ("wall_time_s", "slice_steps"):
            x, y = t[xcol].to_numpy(float), t.BTA.to_numpy(float)
            if len(np.unique(x)) >= 3:
                a, b, c = quadratic_fit(x, y)
                out.append({"method": m, "x": xcol, "a": float(a), "b": float(b), "c": float(c), "n_points": len(x)})
    return pd.DataFrame(out, columns=["method", "x", "a", "b", "c", "n_points"])
