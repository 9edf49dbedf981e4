"""Notebook 02, joint-training hallucinations: the paper's Fig. 1 with measured null-space maps, and
hallucination scores of G, Ĝ and an unlearned model; G against Ĝ over training seeds."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..fastmri_h5 import inspect_volume
from ..hallucination import (DEFAULT_TOL, acquisition, hallucinated_regions, hallucination_map, label_regions,
                             leaves_null_space, null_space_share)
from ..metrics import reconstruct_volume
from .results import (MIN_TRAIN_SEEDS, hallucination_scores, judge_difference, paired_difference, seed_evidence,
                      seed_paired_difference)
from .study import Study, run_records, training_record

__all__ = ["PICKS", "hallucination_examples", "hallucination_scores", "hallucination_verdict", "panel_caption", "pick_slices",
           "run_records", "slice_errors", "training_record", "training_scores"]


def slice_errors(study: Study, models: Mapping[str, Any], role: str = "test_brain") -> tuple[pd.DataFrame, dict[str, dict[str, np.ndarray]]]:
    """Per-slice relative squared error ``‖x̂ − x‖² / ‖x‖²`` of each model on ``role``.

    Args:
        models: display name -> model (e.g. ``{"G": ..., "oracle": ..., "G^U": ...}``).

    Returns:
        ``(table, volumes)``: one row per (file, slice) with a column per model; and per file the
        arrays ``target`` and each model's reconstruction, shape (S, h, w).
    """

    rows, volumes = [], {}
    for path in study.manifest.files(role):
        target, _, _ = reconstruct_volume(None, path, study.profile)
        vol = {"target": target}
        for name, model in models.items():
            vol[name] = reconstruct_volume(model, path, study.profile)[1]
        volumes[path.name] = vol
        energy = (target.astype(np.float64) ** 2).sum(axis=(1, 2))
        for s in range(target.shape[0]):
            rows.append({"file": path.name, "slice": s,
                         **{n: float(((vol[n][s] - target[s]) ** 2).sum() / energy[s]) for n in models}})
    return pd.DataFrame(rows), volumes


#: how :func:`hallucination_examples` picks its slices: ``excess`` where G's error most exceeds Ĝ's
#: (the paper's Fig. 1 shows slices chosen for their visible errors), ``random`` drawn with a seed
#: (what an unselected slice looks like)
PICKS: tuple[str, ...] = ("excess", "random")


def pick_slices(errors: pd.DataFrame, n: int, pick: str = "excess", seed: int = 0) -> pd.DataFrame:
    """The rows of ``errors`` (one per slice, columns ``G`` and ``oracle`` at least, as from
    :func:`slice_errors`) shown in the panel, at most ``n`` of them (all when fewer exist).

    ``pick="excess"``: the largest ``G − oracle``, largest first (ties in table order);
    ``pick="random"``: distinct rows drawn by ``numpy.random.default_rng(seed)``, in table order
    (the same ``seed`` and table give the same slices).

    Raises:
        ConfigError: ``pick`` not in :data:`PICKS`, or ``n < 1``.
    """
    if pick not in PICKS:
        raise ConfigError(f"pick={pick!r} is not valid; valid: {', '.join(PICKS)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n={n!r} is not valid; valid: an integer >= 1 (slices in the panel)")
    if pick == "excess":
        return errors.assign(excess=errors["G"] - errors["oracle"]).sort_values(
            "excess", ascending=False, kind="stable").head(n)
    drawn = np.random.default_rng(seed).choice(len(errors), size=min(int(n), len(errors)), replace=False)
    return errors.iloc[np.sort(drawn)]


def panel_caption(table: pd.DataFrame, pick: str, unlearned: str = "Gᵁ", seed: int | None = None) -> str:
    """The Fig. 1 panel's caption, from :func:`hallucination_examples`' ``table``: how its slices
    were picked (``pick``, ``seed`` for ``random``) and on how many of them the unlearned model's
    relative squared error is larger than G's, and Ĝ's smaller than G's (counted, not assumed)."""
    n = len(table)
    how = ("picked where G's error most exceeds Ĝ's" if pick == "excess"
           else f"drawn at random (seed {seed})")
    larger = int((table["rel_err_GU"] > table["rel_err_G"]).sum())
    oracle_smaller = int((table["rel_err_oracle"] < table["rel_err_G"]).sum())
    return (f"{n} brain test slice{'s' if n != 1 else ''} {how}. Relative squared error ‖x̂ − x‖²/‖x‖²: "
            f"{unlearned} larger than G on {larger} of {n}; Ĝ smaller than G on {oracle_smaller} of {n}.")


def _example_row(study: Study, vol: Mapping[str, np.ndarray], path: Any, s: int, method: str,
                 box: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """One slice ``s`` of one volume ``vol`` (:func:`slice_errors`' arrays) as a panel row (maps,
    zoom box, G's circled regions) and its line of the chosen-slices table (hallucination scores)."""
    from scipy import ndimage

    target = vol["target"][s]
    mask, sens, phase, _ = acquisition(path, study.profile, target.shape)
    maps = {k: hallucination_map(vol[k][s], target, sens[s], mask, phase=phase[s], method=method)
            for k in ("G", "oracle", "GU")}
    null_g = np.abs(maps["G"].null_map)
    regions = label_regions(hallucinated_regions(null_g, target), null_g)
    excess = ndimage.gaussian_filter(np.abs(vol["G"][s] - target) - np.abs(vol["oracle"][s] - target), 2)
    r, c = np.unravel_index(int(np.argmax(excess)), excess.shape)
    h, w = target.shape
    r0, c0 = int(min(max(r - box // 2, 0), h - box)), int(min(max(c - box // 2, 0), w - box))
    row = {"target": target, "original": vol["G"][s], "oracle": vol["oracle"][s], "unlearned": vol["GU"][s],
           "box": (r0, c0, box, box), "title": f"{path.name.removesuffix('.h5')} #{s}",
           "regions": [(g.centroid[0], g.centroid[1], max(2.0, math.sqrt(g.area / math.pi) + 1.5)) for g in regions[:3]],
           "null_G": null_g, "null_GU": np.abs(maps["GU"].null_map), "null_oracle": np.abs(maps["oracle"].null_map)}
    scores = {"halluc_G": float(maps["G"].score), "halluc_oracle": float(maps["oracle"].score),
              "halluc_GU": float(maps["GU"].score), "regions_G": len(regions)}
    return row, scores


def hallucination_examples(study: Study, unlearned: Any, n: int = 2, box: int = 32, role: str = "test_brain",
                           method: str | None = None, pick: str = "excess",
                           seed: int = 0) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """The paper's Fig. 1, measured: ``n`` slices picked by :func:`pick_slices` (``pick``, ``seed``;
    by default the slices where G's error most exceeds Ĝ's).

    For each, the null-space (hallucination) maps of G and of the unlearned model ``unlearned``
    are computed (:mod:`mriunlearn.hallucination`, projector ``method``; ``None``: the profile's
    ``hallucination_projector``); the hallucinated regions of G are circled and the zoom box is
    centred on the largest excess of |G − x| over |Ĝ − x| (smoothed).

    Returns:
        ``(rows, table)``: rows ready for :func:`mriunlearn.plots.hallucination_panel` (each also
        holds ``null_G`` and ``null_GU`` maps (h, w)); and a table of the chosen slices with the
        relative errors and hallucination scores of G, Ĝ and Gᵁ, and how they were picked
        (``pick``; ``seed`` for ``random``, else ``None``).
    """
    method = study.profile.hallucination_projector if method is None else method
    models = {"G": study.original.model, "oracle": study.oracle.model, "GU": unlearned}
    errors, volumes = slice_errors(study, models, role)
    chosen = pick_slices(errors, n, pick, seed)
    paths = {p.name: p for p in study.manifest.files(role)}
    rows, table = [], []
    for rec in chosen.itertuples():
        row, scores = _example_row(study, volumes[rec.file], paths[rec.file], rec.slice, method, box)
        rows.append(row)
        table.append({"file": rec.file, "slice": rec.slice, "rel_err_G": rec.G, "rel_err_oracle": rec.oracle,
                      "rel_err_GU": rec.GU, **scores, "pick": pick, "seed": seed if pick == "random" else None})
    return rows, pd.DataFrame(table)


def acquisition_null_shares(manifest: Any, profile: Any, role: str = "test_brain", tol: float = DEFAULT_TOL
                            ) -> pd.DataFrame:
    """Per volume of ``role`` in ``manifest``: the share of image directions its evaluation
    acquisition under ``profile`` (mask and coil maps, :func:`~mriunlearn.hallucination.acquisition`)
    leaves unmeasured (:func:`~mriunlearn.hallucination.null_space_share`, threshold ``tol``).
    Columns ``file``, ``sens_source``, ``null_space_share``."""
    rows = []
    for path in manifest.files(role):
        mask, sens, _, source = acquisition(path, profile, inspect_volume(path).crop_size)
        rows.append({"file": path.name, "sens_source": source, "null_space_share": null_space_share(sens, mask, tol)})
    return pd.DataFrame(rows)


def training_scores(studies: Sequence[Study], role: str = "test_brain", method: str | None = None) -> pd.DataFrame:
    """G's and Ĝ's per-volume hallucination scores at every training seed (``studies``: one per
    seed, e.g. ``[study.at_seed(s) for s in seeds]``; ``seed`` = the training seed; cached;
    ``method``: the projector, ``None`` = the profile's ``hallucination_projector``)."""
    return pd.concat([hallucination_scores(s, role=role, method=method, zero_filled=False) for s in studies],
                     ignore_index=True)


def hallucination_verdict(scores: pd.DataFrame, method: str, train_scores: pd.DataFrame | None = None,
                          null_shares: Sequence[float] | None = None) -> str:
    """Compare the mean brain hallucination score of G, Ĝ and the unlearned model.

    Args:
        scores: :func:`hallucination_scores` of one training seed (zero-filled, G, Ĝ, ``method``).
        train_scores: :func:`training_scores` over the training seeds (default: G's and Ĝ's rows
            of ``scores``, one seed).
        null_shares: per test volume, the share of image directions the acquisition leaves
            unmeasured (:func:`acquisition_null_shares`); when none leaves any
            (:func:`~mriunlearn.hallucination.leaves_null_space`), every score is zero by construction
            and the verdict says the measure cannot decide, instead of comparing zeros.

    Whether G hallucinates more than Ĝ compares two trainings: it is judged by
    :func:`~mriunlearn.experiments.results.judge_difference` on the paired per-volume difference
    over training seeds. This score has no measured training-to-training spread, so one seed is
    always "inconclusive at one seed"; three seeds or more decide by their 95% interval.
    """
    m = scores.groupby("model").hallucination_score.mean()
    g, o, u = m["original"], m["oracle"], m[method]
    lines = [f"Mean hallucination score on BTA (x100): G {100 * g:.3f}, oracle {100 * o:.3f}, {method} {100 * u:.3f}, "
             f"zero-filled {100 * m['zero_filled']:.3f}."]
    if null_shares is not None and not leaves_null_space(null_shares):
        lines.append("The acquisition leaves no image direction unmeasured (null-space share 0 at the projector's "
                     "threshold): every hallucination map and score is zero by construction, so this measure cannot "
                     "say whether joint training hallucinates; the error maps of Fig. 1 show where G goes wrong.")
        return "\n".join(lines)
    pairs = scores if train_scores is None else train_scores
    pairs = pairs[pairs.model.isin(["original", "oracle"])].assign(hallucination_score=lambda t: 100 * t.hallucination_score)
    d = seed_paired_difference(pairs, "original", "oracle", "BTA", "hallucination_score")
    evidence = seed_evidence(d, unit="", digits=3)
    outcome = judge_difference(d)
    if g <= o:
        removes = ""
    elif u > g:  # a share of the excess would read as a negative percentage
        removes = f"{method} adds to it ({100 * u:.3f}, {100 * (u - g):.3f} above G)"
    else:
        removes = (f"{method} {'removes' if u <= o + 0.5 * (g - o) else 'does not remove'} most of it "
                   f"({(g - u) / (g - o) * 100:.0f}% of the excess)")
    if outcome == "inconclusive":
        if d["n"] == 1:
            v = paired_difference(pairs, "original", "oracle", "BTA", "hallucination_score")
            evidence += f" (paired 95% interval over {v['n']} volumes [{v['low']:+.3f}, {v['high']:+.3f}])"
        where = "one seed" if d["n"] == 1 else f"{d['n']} seeds"
        lines.append(f"G − oracle (x100): {evidence}: inconclusive at {where}; "
                     f"TRAIN_SEEDS with >= {MIN_TRAIN_SEEDS} seeds decides whether joint training adds null-space error.")
        if removes:
            lines.append(f"At the first training seed G exceeds the oracle by {100 * (g - o):.3f}; {removes}.")
    elif outcome == "positive":
        lines.append(f"Joint training adds null-space error on brain: G exceeds the oracle (x100: {evidence}).")
        if removes:
            lines.append(f"At the first training seed, {removes}.")
    else:
        lines.append(f"G does not hallucinate more than the oracle on this data (G − oracle x100: {evidence}): the paper's "
                     "hallucination effect is NOT reproduced by this measure (per-slice extremes are shown above).")
    return "\n".join(lines)


def panel_rows_table(rows: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    """The numbers behind :func:`~mriunlearn.plots.hallucination_panel` and :func:`~mriunlearn.plots.null_space_figure`, one line per
    slice, model and map: the grey/colour scale each panel was drawn with, the zoom box, the circled
    regions, and the mean and max of every error map (|x̂ − x| and its null-space part)."""
    out = []
    for row in rows:
        gt = np.asarray(row["target"])
        r0, c0, bh, bw = row["box"]  # type: ignore[misc]
        errs = {key: np.abs(np.asarray(row[key]) - gt) for key in ("original", "oracle", "unlearned") if key in row}
        emax = float(max(errs.get("original", gt * 0).max(), errs.get("unlearned", gt * 0).max())) or 1.0
        base = {"slice": row.get("title", ""), "box_row0": r0, "box_col0": c0, "box_height": bh, "box_width": bw,
                "regions": json.dumps([[round(float(v), 2) for v in reg] for reg in row.get("regions", [])]),  # type: ignore[union-attr]
                "grey_vmax": float(gt.max()), "error_vmax_fig1": emax}
        for key, null_key in (("original", "null_G"), ("oracle", "null_oracle"), ("unlearned", "null_GU")):
            if key not in errs:
                continue
            null = np.asarray(row[null_key]) if null_key in row else None
            out.append({**base, "model": key, "err_mean": float(errs[key].mean()), "err_max": float(errs[key].max()),
                        "null_err_mean": float(null.mean()) if null is not None else np.nan,
                        "null_err_max": float(null.max()) if null is not None else np.nan})
    return pd.DataFrame(out)
