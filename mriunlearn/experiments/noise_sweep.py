"""Notebook 03, beyond the paper: how large must the noisy labels be? NL and NL-FT swept over the noise
scale λ (and the authors' code variant), judged against G and Ĝ."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ConfigError
from ..forgetting import oracle_distance
from ..unlearning.base import VARIANTS
from .results import column_means, run_row
from .study import (NOISE_SWEEP_RUN, Study, check_choices, check_noise_scales, read_committed, sweep_records,
                    target_scale)

__all__ = ["NOISE_METHODS", "committed_sweep", "noise_sweep", "noise_table", "noise_verdict", "reference_gaps",
           "sweep_record", "sweep_run", "target_scale"]


#: the methods whose forget term is a noisy label (their ``noise_std`` is λ)
NOISE_METHODS: tuple[str, ...] = ("nl", "nl_ft")


def noise_sweep(study: Study, methods: Sequence[str], scales: Sequence[float], seeds: Sequence[int],
                variants: Sequence[str] = ("paper",)) -> tuple[pd.DataFrame, dict[tuple[str, float, int], Any]]:
    """Every noisy-label method × variant × λ × seed, at the profile's budget and retain fraction,
    each run evaluated once, at its end.

    ``variants``: ``"paper"`` (zero-mean noise, pair-summed steps) and/or ``"code"`` (the authors' code:
    |N| noise, alternating steps). A code-variant run is labelled ``"<method>:code"`` in the table.

    Returns:
        ``(table, runs)``: per (label, λ, seed) the BTA/KTA/UA PSNR means, ``variant``, ``noise_rel``
        (λ over :func:`target_scale`), ``gap`` (mean absolute PSNR gap to Ĝ over BTA, KTA, UA), wall
        time, slice-steps, retain volumes; and the runs themselves, keyed ``(label, λ, seed)``.

    Raises:
        ConfigError: a method without a noise scale, an unknown variant, or a negative or
            non-numeric λ.
    """

    methods = check_choices("NOISE_METHODS", methods, NOISE_METHODS)
    variants = check_choices("NOISE_VARIANTS", variants, VARIANTS)
    scales = check_noise_scales(scales)
    scale = target_scale(study)
    oracle = column_means(study.per_volume("oracle"))
    runs: dict[tuple[str, float, int], Any] = {}
    rows = []
    for s in seeds:
        for m in methods:
            for v in variants:
                name = m if v == "paper" else f"{m}:{v}"
                for lam in scales:
                    r = study.unlearn(m, s, params={"noise_std": lam, "variant": v}, eval_every_epoch=False)
                    runs[(name, lam, s)] = r
                    row = run_row(r)
                    rows.append({"method": name, "variant": v, "noise_std": lam, "noise_rel": lam / scale,
                                 "seed": s, **row, "gap": oracle_distance(row, oracle)})
    return pd.DataFrame(rows), runs


#: what a committed sweep must share with this study to stand in for it: the split, G, Ĝ and the
#: unlearning budget every run of the sweep used
_SAME_START: tuple[str, ...] = ("manifest_hash", "original_key", "oracle_key", "unlearn_epochs", "retain_fraction")


def sweep_record(study: Study, runs: Mapping[tuple[str, float, int], Any]) -> dict[str, Any]:
    """Every choice behind a sweep, saved beside it: :func:`~mriunlearn.experiments.study.sweep_records`
    (setup, G's and Ĝ's keys, per run λ, seed, retain files and cache key) and the unlearning budget."""
    return {**sweep_records(study, runs, swept="noise_std"), "unlearn_epochs": study.profile.unlearn_epochs,
            "retain_fraction": study.profile.retain_fraction}


def committed_sweep(study: Study, root: Path | None = None) -> tuple[pd.DataFrame | None, str, dict[str, Any]]:
    """The committed run's sweep (:data:`~mriunlearn.experiments.study.NOISE_SWEEP_RUN`,
    ``03_noise_sweep.csv``) when it started from this study's split, G, Ĝ and unlearning budget, where
    it comes from, and its record (:func:`~mriunlearn.experiments.study.read_committed`)."""
    table, source, theirs = read_committed(NOISE_SWEEP_RUN, "03_noise_sweep", sweep_record(study, {}), _SAME_START,
                                           root)
    if table is None:
        source += ' (-p NOISE_METHODS \'["nl_ft", "nl"]\' computes the sweep)'
    return table, source, theirs


def sweep_run(study: Study, methods: Sequence[str], scales: Sequence[float], seeds: Sequence[int],
              variants: Sequence[str] = ("paper",)) -> tuple[pd.DataFrame | None, str, dict[str, Any]]:
    """The sweep notebook 03 shows, where it comes from, and the record to save beside it.

    With ``methods``, :func:`noise_sweep` runs it here; with none, the committed run's is read
    (:func:`committed_sweep`). ``(None, why, {})`` when neither.
    """
    if not methods:
        return committed_sweep(study)
    table, runs = noise_sweep(study, methods, scales, seeds, variants)
    return table, "this run", sweep_record(study, runs)


def reference_gaps(study: Study) -> pd.DataFrame:
    """G and Ĝ as rows of the noise-sweep table's columns (``BTA, KTA, UA, gap``)."""
    oracle = column_means(study.per_volume("oracle"))
    rows = []
    for name in ("original", "oracle"):
        means = oracle if name == "oracle" else column_means(study.per_volume(name))
        rows.append({"model": name, **means, "gap": oracle_distance(means, oracle)})
    return pd.DataFrame(rows).set_index("model")


def reference_gaps_of(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`reference_gaps` from a Table 1 (:func:`~mriunlearn.experiments.results.summary_table`,
    or its saved CSV): G's and Ĝ's PSNR means over volumes are the same numbers."""
    p = summary[summary.metric == "psnr"].pivot_table(index="model", columns="column", values="mean", observed=True)
    oracle = {c: float(p.loc["oracle", c]) for c in ("BTA", "KTA", "UA")}
    rows = [{"model": m, **{c: float(p.loc[m, c]) for c in oracle}} for m in ("original", "oracle")]
    return pd.DataFrame([{**r, "gap": oracle_distance(r, oracle)} for r in rows]).set_index("model")


def noise_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """The sweep per (method, λ): λ relative to the target peak, BTA/KTA/UA, gap to Ĝ (seed means)."""
    cols = ["noise_rel", "BTA", "KTA", "UA", "gap"]
    return sweep.groupby(["method", "noise_std"], sort=False)[cols].mean()


def noise_verdict(sweep: pd.DataFrame, refs: pd.DataFrame, paper_lambda: float = 1e-5) -> str:
    """Per method: does any λ bring it nearer Ĝ than G is (mean |gap|), and does the paper's λ?

    Margins are printed in dB rather than judged against a threshold: read margins within one seed's
    run-to-run spread (:data:`~mriunlearn.experiments.results.SINGLE_SEED_NOISE_DB`) as ties."""
    g_gap = float(refs.loc["original", "gap"])
    lines = [f"G's mean |gap| to the oracle over BTA/KTA/UA: {g_gap:.2f} dB "
             f"(UA: G {refs.loc['original', 'UA']:.2f}, oracle {refs.loc['oracle', 'UA']:.2f} dB)."]
    t = noise_table(sweep).reset_index()
    for m in dict.fromkeys(sweep.method):
        g = t[t.method == m].set_index("noise_std")
        best = float(g.gap.idxmin())
        b = g.loc[best]
        moves = b.gap < g_gap
        line = (f"{m}: closest to the oracle at λ = {best:g} ({b.noise_rel:.2g} x the target peak): gap "
                f"{b.gap:.2f} dB, UA {b.UA:.2f}, KTA {b.KTA:.2f}, BTA {b.BTA:.2f} -> "
                + (f"moves toward the oracle (gap {g_gap - b.gap:.2f} dB smaller than G's)." if moves
                   else "never nearer the oracle than G on this data."))
        if paper_lambda in g.index:
            p = g.loc[paper_lambda]
            side = "smaller" if p.gap < g_gap else "larger"
            line += (f" At the paper's λ = {paper_lambda:g} ({p.noise_rel:.2g} x the peak): gap {p.gap:.2f} dB, "
                     f"UA {p.UA:.2f} dB (gap {abs(g_gap - p.gap):.2f} dB {side} than G's).")
        if 0.0 in g.index:
            line += f" Without noise (λ = 0): gap {g.loc[0.0].gap:.2f} dB."
        lines.append(line)
    return "\n".join(lines)

