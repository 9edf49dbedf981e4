"""Notebook 03, beyond the paper: why does NL forget? An ablation of the noisy-label methods.

The paper's NL alone wrecks the brain and its NL-FT brings the knee down to the oracle's level while
keeping the brain (:data:`mriunlearn.paper_numbers.TABLE1`); which factor of the authors' recipe does
that? Five candidate mechanisms, each switched on and off in one *cell* of a grid, all from G with
the same seed:

- **H1** the replacement transform: the authors' January 2024 code replaced each forget target with
  N(0, 1) (``transform="replace"``, λ = 1 in target units, far above the targets' peak);
- **H2** the absolute number of Adam steps: the paper's NL ran ≈ 2,680 batch-1 steps and NL-FT
  ≈ 5,590 (:data:`PAPER_STEPS`), against the few steps of the profile's unlearning epochs;
- **H3** the restored optimizer state: the authors resumed G's Lightning checkpoint, Adam moments and
  learning rate included (``resume_optimizer=True``) instead of a fresh Adam;
- **H4** SSIM on a noisy near-zero background: |N| noise has a positive mean that a scale-equivariant
  VarNet cannot reproduce from the k-space, and SSIM's luminance term is most sensitive where the
  background is near zero (``loss="ssim_l1"`` against ``loss="l1"``);
- **H5** plain forgetting from fine-tuning on the knee: the same steps on clean knee labels (λ = 0).

Every cell starts from the *base* cell, the authors' final code (``transform="abs"``, λ = 1e-5,
G's restored Adam, SSIM + 1e-5·L1, the code variant's schedule: NL-FT alternates forget and retain
slices through one shuffled loader), and changes one factor (:data:`FACTORS`) at one of two budgets:
``today`` (the profile's unlearning epochs, batch size 8) or ``paper`` (:data:`PAPER_STEPS` steps of
batch size 1).

Criteria (fixed before any cell ran): (a) the NL-alone collapse, BTA ≤ 20 dB
(:data:`COLLAPSE_DB`); (b) NL-FT's knee at the oracle's level (KTA ≤ Ĝ's KTA + 1 dB) with the brain
within 1 dB of Ĝ (:data:`TOLERANCE_DB`). A hypothesis *explains* a criterion when its cell meets it
and the cell without its factor does not; two cells closer than 1 dB on the deciding column need
≥ :data:`~mriunlearn.experiments.results.MIN_TRAIN_SEEDS` seeds (their paired interval over seeds)
before the difference counts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from .. import paths
from ..claims import COLLAPSE_DB  # criterion (a): NL-alone's BTA at or below this (dB)
from ..errors import ConfigError
from ..intervals import mean_interval
from ..metrics import paper_table
from .results import MIN_TRAIN_SEEDS, column_means, run_row
from .study import Study, check_seeds, target_scale

__all__ = ["BUDGETS", "COLLAPSE_DB", "FACTORS", "FULL_RUN", "GRIDS", "HYPOTHESES", "PAPER_STEPS", "TOLERANCE_DB",
           "Cell", "ablation_cells", "ablation_table", "check_grid", "check_repeat_steps", "close_cells",
           "full_run_folder", "hypothesis_verdicts", "nl_ablation", "nl_ablation_verdict", "noise_effects",
           "references", "run_cell", "update_cosines", "with_full_run"]

#: the paper's optimiser steps (batch size 1) per method: NL ≈ 536 knee slices x 5 epochs, NL-FT
#: ≈ (582 brain + 536 knee slices) x 5 epochs through the authors' one shuffled loader
PAPER_STEPS: dict[str, int] = {"nl": 2680, "nl_ft": 5590}
#: ``today``: the profile's unlearning epochs at its batch size; ``paper``: :data:`PAPER_STEPS`
BUDGETS: tuple[str, ...] = ("today", "paper")
#: criterion (b): KTA at most this far above Ĝ's, BTA at most this far from Ĝ's (dB)
TOLERANCE_DB = 1.0

#: hypothesis → (what it says, the factor that switches it on, the factor of the cell without it)
HYPOTHESES: dict[str, tuple[str, str, str | None]] = {
    "H1": ("the replacement transform (y := N(0, 1), the authors' January 2024 code)", "replace", "base"),
    "H2": ("the absolute number of Adam steps (the paper's batch-1 counts)", "base@paper", "base@today"),
    "H3": ("the restored optimizer state (G's Adam moments and learning rate)", "base", "fresh"),
    "H4": ("SSIM on a noisy near-zero background (|N| noise, SSIM + L1 against L1)", "base", "l1"),
    "H5": ("plain forgetting from fine-tuning on clean knee (λ = 0, the same steps)", "clean", None),
}


@dataclass(frozen=True)
class Cell:
    """One run of the grid: ``method`` (``nl`` | ``nl_ft``) at ``budget`` with one factor changed.

    ``factor`` names the change from the base cell (:data:`FACTORS`); the other fields are what
    that factor sets: ``transform`` (``gauss`` | ``abs`` | ``replace``), ``noise_std`` (λ, target
    units), ``optimizer`` (``restored`` | ``fresh``), ``loss`` (``ssim_l1`` | ``l1``).
    """

    method: str
    budget: str
    factor: str = "base"
    transform: str = "abs"
    noise_std: float = 1e-5
    optimizer: str = "restored"
    loss: str = "ssim_l1"

    @property
    def label(self) -> str:
        return f"{self.method} {self.factor}@{self.budget}"

    @property
    def steps(self) -> int | None:
        """The optimiser-step budget (``None``: the profile's unlearning epochs)."""
        return PAPER_STEPS[self.method] if self.budget == "paper" else None


_BASE = Cell("nl", "today")
#: factor → the fields it changes from the base cell
FACTORS: dict[str, dict[str, Any]] = {
    "base": {},
    "replace": {"transform": "replace", "noise_std": 1.0},
    "gauss": {"transform": "gauss"},
    "fresh": {"optimizer": "fresh"},
    "l1": {"loss": "l1"},
    "clean": {"noise_std": 0.0},
    "l1_clean": {"loss": "l1", "noise_std": 0.0},
}

#: grid name → (method, budget, factors); ``full`` prunes NL-FT at the paper's budget to the cells
#: H1, H2 and H5 need (the grid's most expensive runs): H3 and H4 are tested on NL at the paper's
#: budget for (a) and on NL-FT at today's budget for (b)
GRIDS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "none": [],
    "today": [("nl", "today", tuple(FACTORS)), ("nl_ft", "today", tuple(FACTORS))],
    "full": [("nl", "today", tuple(FACTORS)), ("nl_ft", "today", tuple(FACTORS)),
             ("nl", "paper", tuple(FACTORS)), ("nl_ft", "paper", ("base", "replace", "clean"))],
}


def ablation_cells(grid: str) -> list[Cell]:
    """The cells of ``grid`` (a name in :data:`GRIDS`).

    Raises:
        ConfigError: an unknown grid (lists the valid ones).
    """
    grid = check_grid(grid)
    return [replace(_BASE, method=m, budget=b, factor=f, **FACTORS[f])
            for m, b, factors in GRIDS[grid] for f in factors]


def run_cell(study: Study, cell: Cell, seed: int) -> Any:
    """One cell's cached unlearning run from the study's G (an
    :class:`~mriunlearn.unlearning.runner.UnlearnResult`).

    Every cell is evaluated once, at its end, as the noise sweep's runs are, so today's base and
    clean cells are the noise sweep's ``:code`` runs, from the cache. A cell with another loss unlearns under a copy of the profile with that loss (its own
    cache key); G is the study's either way.
    """
    params = {"noise_std": cell.noise_std, "variant": "code", "transform": cell.transform}
    profile = study.profile if cell.loss == study.profile.loss else study.profile.replace(loss=cell.loss)
    budget = {"eval_every_epoch": False} | ({} if cell.steps is None else {"steps": cell.steps})
    return study.unlearn(cell.method, seed, params=params, profile=profile,
                         resume_optimizer=cell.optimizer == "restored", **budget)


def _rows(study: Study, cell: Cell, seed: int, scale: float) -> tuple[dict[str, Any], Any]:
    r = run_cell(study, cell, seed)
    ssim = paper_table(r.final, by=[], metrics=("ssim",)).set_index("column")["mean"]
    return {"cell": cell.label, **asdict(cell), "noise_rel": cell.noise_std / scale, "seed": seed,
            **run_row(r), "BTA_ssim": float(ssim["BTA"])}, r


#: pairs of factors whose two cells (at one budget) are compared: each hypothesis's, the noise under
#: SSIM + L1 (base against clean) and under L1 (l1 against l1_clean)
_PAIRS: tuple[tuple[str, str], ...] = (*((w, wo) for _, w, wo in HYPOTHESES.values() if wo is not None),
                                       ("base", "clean"), ("l1", "l1_clean"))


def close_cells(table: pd.DataFrame) -> set[tuple[str, str, str]]:
    """The ``(method, budget, factor)`` cells of every compared pair (:data:`HYPOTHESES`, and the
    noise under each loss) whose seed means differ by less than :data:`TOLERANCE_DB` on the columns
    that decide its criterion (BTA for NL; KTA and BTA for NL-FT, the larger difference): such
    pairs are judged over ≥ 3 seeds with an interval, since a single-seed difference
    below ~1 dB cannot say which cell is lower."""
    means = ablation_table(table)
    out: set[tuple[str, str, str]] = set()
    for m in dict.fromkeys(means.index.get_level_values(0)):
        columns = ["BTA"] if m == "nl" else ["KTA", "BTA"]
        for b in BUDGETS:
            for w, wo in _PAIRS:
                a, c = _spec_at(m, w, b), _spec_at(m, wo, b)
                if (a in means.index and c in means.index and a != c
                        and max(abs(float(means.loc[a, k] - means.loc[c, k])) for k in columns) < TOLERANCE_DB):
                    out |= {a, c}
    return out


def _spec_at(method: str, spec: str, budget: str) -> tuple[str, str, str]:
    factor, _, fixed = spec.partition("@")
    return method, fixed or budget, factor


def nl_ablation(study: Study, cells: Sequence[Cell], seeds: Sequence[int], *,
                repeat_max_steps: int | None = None) -> tuple[pd.DataFrame, dict[tuple[str, int], Any]]:
    """Every cell at ``seeds[0]``; then, at each further seed, the cells of every compared pair
    closer than 1 dB (:func:`close_cells`), so that such cells are judged over ≥ 3 seeds with an
    interval.

    Args:
        repeat_max_steps: repeat only cells whose step budget is at most this (``None``: all; a
            cell at today's epoch budget always counts as cheap). NL-FT at the paper's 5,590 steps
            is the most expensive cell.

    Returns:
        ``(table, runs)``: one row per cell and seed run with the cell's fields, ``noise_rel`` (λ over
        the forget targets' peak, :func:`~mriunlearn.experiments.study.target_scale`), the
        BTA/KTA/UA PSNR means, ``BTA_ssim``, wall time, slice-steps and retain volumes; and the runs,
        keyed ``(cell label, seed)``.
    """
    seeds = check_seeds(seeds, "NL_SEEDS")
    scale = target_scale(study)
    rows, runs = [], {}
    for c in cells:
        row, runs[(c.label, seeds[0])] = _rows(study, c, seeds[0], scale)
        rows.append(row)
    if len(seeds) > 1:
        close = close_cells(pd.DataFrame(rows))
        again = [c for c in cells if (c.method, c.budget, c.factor) in close
                 and (repeat_max_steps is None or c.steps is None or c.steps <= repeat_max_steps)]
        for s in seeds[1:]:
            for c in again:
                row, runs[(c.label, s)] = _rows(study, c, s, scale)
                rows.append(row)
    return pd.DataFrame(rows), runs


def ablation_table(table: pd.DataFrame) -> pd.DataFrame:
    """Seed means per cell, indexed by ``method, budget, factor``: BTA, KTA, UA (PSNR dB),
    ``BTA_ssim``, ``seeds``."""
    keys = ["method", "budget", "factor"]
    out = table.groupby(keys, sort=False)[["BTA", "KTA", "UA", "BTA_ssim"]].mean()
    return out.assign(seeds=table.groupby(keys, sort=False).seed.nunique())


def _criterion_a(row: Mapping[str, float]) -> bool:
    return float(row["BTA"]) <= COLLAPSE_DB


def _criterion_b(row: Mapping[str, float], oracle: Mapping[str, float]) -> bool:
    return (float(row["KTA"]) <= oracle["KTA"] + TOLERANCE_DB
            and abs(float(row["BTA"]) - oracle["BTA"]) <= TOLERANCE_DB)


def _paired(table: pd.DataFrame, a: tuple[str, str, str], b: tuple[str, str, str], column: str) -> dict[str, float]:
    """``a − b`` on ``column`` paired by seed: mean and 95% t-interval over the seeds both ran."""
    def per_seed(k: tuple[str, str, str]) -> pd.Series:
        m, bud, f = k
        g = table[(table.method == m) & (table.budget == bud) & (table.factor == f)]
        return g.set_index("seed")[column]

    d = (per_seed(a) - per_seed(b)).dropna()
    return mean_interval(d.to_numpy())


def _judge(table: pd.DataFrame, means: pd.DataFrame, method: str, with_spec: str, without_spec: str | None,
           criterion: str, oracle: Mapping[str, float]) -> tuple[str, str]:
    """``(verdict, evidence)`` of one hypothesis on one criterion (``"a"`` on NL, ``"b"`` on NL-FT),
    judged at the largest budget where both its cells ran."""
    # the largest budget at which both cells ran (a spec's own budget, as in H2's, is kept)
    for b in reversed(BUDGETS):
        w = _spec_at(method, with_spec, b)
        wo = _spec_at(method, without_spec, b) if without_spec else None
        if w in means.index and (wo is None or wo in means.index):
            break
    else:
        return "not run", "its cells are not in this grid (NL_GRID='full' runs them)"
    meets = _criterion_a if criterion == "a" else (lambda r: _criterion_b(r, oracle))
    rw = means.loc[w]

    def show(k: tuple[str, str, str], r: pd.Series) -> str:
        return f"{k[2]}@{k[1]}: BTA {r.BTA:.2f}, KTA {r.KTA:.2f}"

    evidence = show(w, rw)
    margin = float(rw.BTA) - COLLAPSE_DB if criterion == "a" else float(rw.KTA) - oracle["KTA"] - TOLERANCE_DB
    if abs(margin) < TOLERANCE_DB:  # reported, not judged: the thresholds were fixed beforehand
        evidence += f" ({'BTA' if criterion == 'a' else 'KTA'} {margin:+.2f} dB from the threshold)"
    if not meets(rw):
        return "no", evidence
    if wo is None:
        return "yes", evidence
    rwo = means.loc[wo]
    evidence += f"; without ({show(wo, rwo)})"
    if meets(rwo):
        return "met, but also without it", evidence
    # the deciding column: BTA for (a); for (b) whichever of KTA and BTA the two cells differ more on
    columns = ["BTA"] if criterion == "a" else ["KTA", "BTA"]
    column = max(columns, key=lambda c: abs(float(rw[c] - rwo[c])))
    gap = float(rw[column] - rwo[column])
    if abs(gap) < TOLERANCE_DB:
        d = _paired(table, w, wo, column)
        if d["n"] < MIN_TRAIN_SEEDS:
            return "inconclusive", evidence + f"; {column} differs by {gap:+.2f} dB < 1 dB at {int(d['n'])} seed(s)"
        if d["low"] <= 0 <= d["high"]:
            return "no", evidence + f"; {column} {gap:+.2f} dB, 95% interval over seeds [{d['low']:+.2f}, {d['high']:+.2f}] contains 0"
        evidence += f"; {column} {gap:+.2f} dB [{d['low']:+.2f}, {d['high']:+.2f}] over {int(d['n'])} seeds"
    return "yes", evidence


def hypothesis_verdicts(table: pd.DataFrame, oracle: Mapping[str, float]) -> pd.DataFrame:
    """Per hypothesis, whether it reproduces (a) the NL-alone collapse (BTA ≤ 20 dB) and (b) NL-FT's
    knee at the oracle's level with the brain within 1 dB of Ĝ — ``yes`` (its cell meets the
    criterion and the cell without its factor does not), ``met, but also without it``, ``no``,
    ``inconclusive`` (the two cells are < 1 dB apart at fewer than 3 seeds) or ``not run`` — with
    the numbers behind each.

    Args:
        table: :func:`nl_ablation`'s table (one row per cell and seed).
        oracle: Ĝ's BTA/KTA/UA PSNR means (:func:`~mriunlearn.experiments.results.column_means`).
    """
    means = ablation_table(table)
    rows = []
    for h, (text, with_spec, without_spec) in HYPOTHESES.items():
        va, ea = _judge(table, means, "nl", with_spec, without_spec, "a", oracle)
        vb, eb = _judge(table, means, "nl_ft", with_spec, without_spec, "b", oracle)
        rows.append({"hypothesis": h, "mechanism": text, "(a) NL-alone collapse": va, "(a) evidence": ea,
                     "(b) NL-FT at the oracle": vb, "(b) evidence": eb})
    return pd.DataFrame(rows)


#: the committed run of the full grid (``NL_GRID="full"``, several seeds), a folder beside the
#: default run's tables in :data:`mriunlearn.paths.REFERENCE_DIR`
FULL_RUN: str = "nl_ablation"
#: what a run's record (:func:`~mriunlearn.experiments.study.run_records`) must share with the full
#: run for its verdicts to stand in: the split, and the G and Ĝ every cell starts from and is judged by
_SAME_START: tuple[str, ...] = ("manifest_hash", "original_key", "oracle_key")


def full_run_folder(record: Mapping[str, Any], root: Path | None = None) -> Path | None:
    """The committed full-grid run's figures folder (``root/FULL_RUN/figures``, ``root`` defaulting
    to :data:`~mriunlearn.paths.REFERENCE_DIR`) when it started from the same split, G and Ĝ as the
    run of ``record`` (its ``03_nl_ablation.json``), else ``None``."""
    folder = (root or paths.REFERENCE_DIR) / FULL_RUN / "figures"
    saved = folder / "03_nl_ablation.json"
    if not saved.exists() or not (folder / "03_nl_ablation_verdicts.csv").exists():
        return None
    theirs = json.loads(saved.read_text())
    return folder if all(record.get(k) is not None and record.get(k) == theirs.get(k) for k in _SAME_START) else None


def with_full_run(verdicts: pd.DataFrame, record: Mapping[str, Any], root: Path | None = None) -> pd.DataFrame:
    """:func:`hypothesis_verdicts` with a ``source`` column: every hypothesis whose cells this grid did
    not run (a ``"not run"`` verdict) takes both verdicts and their evidence from the committed
    full-grid run (:func:`full_run_folder`), and ``source`` names that folder and its seeds; the
    other rows are ``"this run"``. Without a matching full run the table is returned as it is,
    with ``source`` added. Rows already sourced keep their ``source``."""
    out = verdicts.copy()
    if "source" not in out.columns:
        out["source"] = "this run"
    folder = full_run_folder(record, root)
    if folder is None:
        return out
    theirs = pd.read_csv(folder / "03_nl_ablation_verdicts.csv", index_col=0).set_index("hypothesis")
    seeds = ", ".join(map(str, sorted(pd.read_csv(folder / "03_nl_ablation.csv").seed.unique())))
    criteria = [c for c in out.columns if c.startswith("(") and not c.endswith("evidence")]
    for i, row in out.iterrows():
        if any(row[c] == "not run" for c in criteria) and row.hypothesis in theirs.index:
            for col in theirs.columns:
                out.loc[i, col] = theirs.loc[row.hypothesis, col]
            out.loc[i, "source"] = f"{paths.for_notebook(folder)} (NL_GRID='full', seeds {seeds})"
    return out


def references(study: Study) -> pd.DataFrame:
    """G, Ĝ and the zero-filled input as rows (``original``, ``oracle``, ``zero_filled``) of BTA/KTA/UA
    PSNR means: the lines the ablation is read against."""
    return pd.DataFrame({name: column_means(study.per_volume(name))
                         for name in ("original", "oracle", "zero_filled")}).T


def nl_ablation_verdict(table: pd.DataFrame, verdicts: pd.DataFrame, refs: pd.DataFrame) -> str:
    """The ablation in words: the references (:func:`references`), each criterion's thresholds,
    which hypotheses explain (a) and (b) here (and which verdicts a committed run gave, when
    ``verdicts`` has :func:`with_full_run`'s ``source``), and what the noise changes under each loss."""
    oracle, zf = refs.loc["oracle"], refs.loc["zero_filled"]
    head = (f"Ĝ: BTA {oracle['BTA']:.2f}, KTA {oracle['KTA']:.2f} dB; zero-filled BTA {zf['BTA']:.2f} dB. "
            f"(a) needs NL's BTA ≤ {COLLAPSE_DB:g} dB; (b) needs NL-FT's KTA ≤ {oracle['KTA'] + TOLERANCE_DB:.2f} "
            f"and BTA within {TOLERANCE_DB:g} dB of {oracle['BTA']:.2f}. Seeds: {sorted(set(table.seed))}.")
    lines = [head]
    for col, what in (("(a) NL-alone collapse", "(a)"), ("(b) NL-FT at the oracle", "(b)")):
        v = verdicts.set_index("hypothesis")[col]
        yes = [h for h in v.index if v[h] == "yes"]
        also = [h for h in v.index if v[h] == "met, but also without it"]
        open_ = [h for h in v.index if v[h] in ("inconclusive", "not run")]
        text = f"{what}: explained here by {', '.join(yes)}" if yes else f"{what}: no hypothesis explains it here"
        if also:
            text += f"; met without the factor too: {', '.join(also)}"
        if open_:
            text += f"; open: {', '.join(f'{h} ({v[h]})' for h in open_)}"
        lines.append(text + ".")
    if "source" in verdicts.columns:
        for source, rows in verdicts[verdicts.source != "this run"].groupby("source", sort=False):
            lines.append(f"{', '.join(rows.hypothesis)}: not in this grid; verdicts from the committed run {source}.")
    lines += noise_effects(table)
    return "\n".join(lines)


def noise_effects(table: pd.DataFrame) -> list[str]:
    """H4's interaction in words: per method and budget, what the noise changes (BTA, KTA; base − clean)
    under SSIM + L1 and under L1 alone (l1 − l1_clean), where the grid has those cells, with the
    95% interval over seeds where both cells ran at ≥ 3 seeds. H4 predicts a large effect under
    SSIM and a small one under L1."""
    means = ablation_table(table)
    out = []
    for (m, b) in dict.fromkeys((m, b) for m, b, _ in means.index):
        parts = []
        for loss, noisy, clean in (("SSIM + L1", "base", "clean"), ("L1", "l1", "l1_clean")):
            a, c = (m, b, noisy), (m, b, clean)
            if a not in means.index or c not in means.index:
                continue
            text = []
            for col in ("BTA", "KTA"):
                d = _paired(table, a, c, col)
                if d["n"] >= MIN_TRAIN_SEEDS:
                    text.append(f"{col} {d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}] over {int(d['n'])} seeds")
                else:
                    diff = float(means.loc[a, col] - means.loc[c, col])
                    text.append(f"{col} {diff:+.2f}" + (" (one seed, < 1 dB: undecided)" if abs(diff) < TOLERANCE_DB else ""))
            parts.append(f"under {loss} " + ", ".join(text))
        if parts:
            out.append(f"{m} @ {b}: the noise (λ = 1e-5, |N|) changes " + "; ".join(parts) + " (dB).")
    return out


def _update(model: Any, reference: dict[str, Any]) -> Any:
    import torch

    sd = getattr(model, "module", model).state_dict()
    return torch.cat([(sd[k].float() - reference[k].float()).flatten()
                      for k in sorted(sd) if sd[k].is_floating_point()])


def update_cosines(study: Study, runs: Mapping[tuple[str, int], Any], labels: Sequence[str], seed: int) -> pd.DataFrame:
    """Cosine similarity between the weight updates ``θ_run − θ_G`` of the cells ``labels`` at
    ``seed`` (a square table; 1 = the same direction). With G's restored Adam state, a loss whose
    gradients are orders of magnitude smaller than the training loss's leaves Adam's update to G's
    last momentum for the first steps, so such cells move along one direction whatever their labels.
    """
    import torch

    g = {k: v.detach() for k, v in getattr(study.original.model, "module", study.original.model).state_dict().items()}
    vecs = {lab: _update(runs[(lab, seed)].model, g) for lab in labels}
    rows = {a: {b: float(torch.nn.functional.cosine_similarity(vecs[a], vecs[b], dim=0)) for b in labels}
            for a in labels}
    return pd.DataFrame(rows).T.loc[list(labels), list(labels)]


def check_repeat_steps(steps: Any) -> int:
    """``NL_REPEAT_MAX_STEPS`` as a positive int; raises :class:`ConfigError` naming it otherwise."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"NL_REPEAT_MAX_STEPS={steps!r} is not valid; valid: a positive integer (optimiser steps)")
    return steps


def check_grid(grid: Any) -> str:
    """``grid`` if it names a grid in :data:`GRIDS`; raises :class:`ConfigError` listing them."""
    if not isinstance(grid, str) or grid not in GRIDS:
        raise ConfigError(f"NL_GRID={grid!r} is not valid; valid: {', '.join(map(repr, GRIDS))}")
    return grid
