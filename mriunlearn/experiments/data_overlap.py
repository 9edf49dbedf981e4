"""Notebook 01, data overlap: the split, example inputs, the operating point G and Ĝ reach, and their
shared knowledge (BTA, KTA, UA), over one or several training seeds."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import paper_numbers
from ..claims import verdict
from ..errors import ConfigError
from ..hallucination import acquisition
from ..manifest import PAPER_COLUMNS, Manifest, load_manifest
from ..metrics import evaluate, format_paper_table, paper_table, reconstruct_volume, zero_filled
from .results import (MIN_TRAIN_SEEDS, SINGLE_SEED_NOISE_DB, judge_difference, paired_difference, seed_evidence, seed_means,
                      seed_paired_difference, training_interval, training_per_volume)
from .study import Study, study_record, training_record

__all__ = ["convergence", "data_examples", "embedded_spec_name", "format_operating_point", "format_paper_table",
           "geometry_shift", "history_curves", "operating_point", "operating_point_verdict", "regime_indicators",
           "shared_knowledge", "shared_knowledge_verdict", "split_summary", "study_record", "training_histories",
           "training_per_volume", "training_record"]


#: the operating point the embedded default aims at (docs/operating_point.md), thresholds of the targets
TARGETS: dict[str, float] = {"oracle_bta_ssim": 0.90, "oracle_bta_gain_db": 8.0, "original_kta_ssim": 0.80,
                             "kta_gap_db": 3.0}

#: the tolerance class (:data:`mriunlearn.reproduction.TOLERANCES`) of each target's quantity: a
#: margin from the threshold within its width is what two machines' runs differ by, so the target
#: reads "borderline" (:func:`mriunlearn.claims.verdict`), neither met nor missed
TARGET_TOLERANCES: dict[str, str] = {"oracle_bta_ssim": "trained_ssim", "oracle_bta_gain_db": "trained_db",
                                     "original_kta_ssim": "trained_ssim", "kta_gap_db": "trained_db", "converged": "slope",
                                     "memorised_db": "trained_db", "transfer_ratio": "ssim_ratio",
                                     "geometry_ratio": "gain_ratio"}

#: converged: the validation PSNR gains less than this (dB per epoch) over the last epochs ...
CONVERGED_SLOPE_DB = 0.05

#: ... namely this share of the epochs (at least two), or the plateau scheduler lowered the lr
CONVERGENCE_TAIL = 0.2


def split_summary(manifest: Manifest) -> pd.DataFrame:
    """Volumes and slices per role and organ, with the paper's column name of each role."""
    t = manifest.table.groupby(["role", "organ"], sort=False).agg(volumes=("file", "count"), slices=("num_slices", "sum")).reset_index()
    t["paper column"] = t.role.map({**PAPER_COLUMNS, "retain": "D_r", "val": "validation"}).fillna("")
    return t


def data_examples(study: Study) -> dict[str, dict[str, np.ndarray]]:
    """One middle slice per organ from the test roles: target, zero-filled input, coil maps and mask.

    Returns per organ: ``target`` (h, w), ``zero_filled`` (h, w), ``sens`` (C, H, W) magnitudes,
    ``mask`` (W,) bool, and ``name`` (file and slice).
    """

    out = {}
    for organ, role in (("brain", "test_brain"), ("knee", "test_knee")):
        path = study.manifest.files(role)[0]
        target, zf, _ = reconstruct_volume(None, path, study.profile)
        s = target.shape[0] // 2
        mask, sens, _, source = acquisition(path, study.profile, target.shape[-2:])
        out[organ] = {"target": target[s], "zero_filled": zf[s], "sens": np.abs(np.asarray(sens[s])),
                      "mask": np.asarray(mask, dtype=bool), "name": f"{path.name} slice {s} (coil maps: {source})"}
    return out


def training_histories(studies: Sequence[Study]) -> pd.DataFrame:
    """The training histories of G (``model="original"``) and Ĝ (``"oracle"``) at every training seed
    (``studies``: one per seed), stacked: ``model, seed`` plus the engine's history columns (``epoch,
    train_loss, val_loss, val_psnr, lr, seconds, slices``), one row per epoch."""
    frames = [getattr(s, m).history.assign(model=m, seed=s.profile.seed) for s in studies for m in ("original", "oracle")]
    out = pd.concat(frames, ignore_index=True)
    return out[["model", "seed", *[c for c in out.columns if c not in ("model", "seed")]]]


def history_curves(histories: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """:func:`training_histories` as ``{curve label: history}`` for :func:`mriunlearn.plots.training_curves`
    (the seed is named in the label when there are several)."""
    names = {"original": "G (brain+knee)", "oracle": "Ĝ oracle (brain)"}
    several = histories.seed.nunique() > 1
    return {names[m] + (f" seed {s}" if several else ""): g.drop(columns=["model", "seed"]).reset_index(drop=True)
            for (s, m), g in histories.groupby(["seed", "model"], sort=False)}


def convergence(history: pd.DataFrame, initial_lr: float, tail: float = CONVERGENCE_TAIL,
                max_slope: float = CONVERGED_SLOPE_DB) -> dict[str, Any]:
    """Whether one training has converged: over the last ``tail`` of its epochs (at least two) the
    least-squares slope of the validation PSNR is below ``max_slope`` dB/epoch, or the plateau
    scheduler lowered the learning rate below ``initial_lr`` (the profile's ``lr``).

    Args:
        history: one row per epoch with ``epoch``, ``val_psnr`` (dB) and ``lr`` (after that epoch's
            scheduler step), as :class:`mriunlearn.train.TrainResult` keeps it.

    Returns:
        ``{"slope", "first_epoch", "last_epoch", "lr_lowered", "lowered_at", "final_lr", "converged"}``:
        the slope (dB/epoch; NaN for fewer than two epochs or a missing validation PSNR) and the epochs
        it is fitted over, whether and after which epoch the lr was first lowered.
    """
    h = history.sort_values("epoch")
    n = len(h)
    k = min(n, max(2, math.ceil(round(tail * n, 9))))
    t = h.tail(k)
    fit = k >= 2 and bool(t.val_psnr.notna().all())
    slope = float(np.polyfit(t.epoch.to_numpy(float), t.val_psnr.to_numpy(float), 1)[0]) if fit else math.nan
    lowered = h[h.lr < initial_lr * (1 - 1e-9)]
    return {"slope": slope, "first_epoch": int(t.epoch.iloc[0]) if n else None,
            "last_epoch": int(t.epoch.iloc[-1]) if n else None, "lr_lowered": not lowered.empty,
            "lowered_at": int(lowered.epoch.iloc[0]) if not lowered.empty else None,
            "final_lr": float(h.lr.iloc[-1]) if n else math.nan,
            "converged": (not lowered.empty) or (math.isfinite(slope) and slope < max_slope)}


def judged_target(margin: float, key: str) -> dict[str, Any]:
    """A target's judgement from its ``margin`` (measured value's signed distance from the threshold,
    positive: on the right side) under :data:`TARGET_TOLERANCES` ``[key]``: ``met`` (``margin >= 0``),
    ``margin``, ``tolerance`` (the class) and ``verdict`` (``"yes"``, ``"no"`` or ``"borderline"``)."""
    tol = TARGET_TOLERANCES[key]
    return {"met": bool(margin >= 0), "margin": float(margin), "tolerance": tol, "verdict": verdict(float(margin), tol)}


def _convergence_margin(run: Mapping[str, Any], max_slope: float = CONVERGED_SLOPE_DB) -> float:
    """How far one training seed's :func:`convergence` is inside the criterion: ``inf`` when the lr was
    lowered (converged by the scheduler), else ``max_slope − slope`` (``−inf`` for an unmeasured slope)."""
    if run["lr_lowered"]:
        return math.inf
    return max_slope - run["slope"] if math.isfinite(run["slope"]) else -math.inf


def _convergence_row(histories: pd.DataFrame, model: str, initial_lr: float) -> dict[str, Any]:
    """One model's convergence over its training seeds: the worst (largest) slope, met when every
    seed converged."""
    runs = {int(s): convergence(g, initial_lr) for s, g in histories[histories.model == model].groupby("seed", sort=False)}
    if not runs:
        raise ConfigError(f"operating_point: no training history of {model!r}")
    slopes = [r["slope"] for r in runs.values()]
    worst = max(slopes, key=lambda v: -math.inf if math.isnan(v) else v)
    if len(runs) == 1:
        r = next(iter(runs.values()))
        note = f"fitted over epochs {r['first_epoch']}-{r['last_epoch']}"
        if r["lr_lowered"]:
            note += f"; lr lowered after epoch {r['lowered_at']} (to {r['final_lr']:.0e})"
    else:
        lowered = [s for s, r in runs.items() if r["lr_lowered"]]
        note = (f"largest of {len(runs)} training seeds; lr lowered at "
                + (f"seed(s) {', '.join(map(str, lowered))}" if lowered else "no seed"))
    name = "G" if model == "original" else "Ĝ"
    return {"measure": f"{name} converged (val PSNR slope, dB/epoch)", "ours": worst, "paper": math.nan,
            "target": f"< {CONVERGED_SLOPE_DB:g} or lr lowered",
            **judged_target(min(_convergence_margin(r) for r in runs.values()), "converged"), "note": note}


#: the paper's world, judged on G, Ĝ and the zero-filled input only (docs/operating_point.md): targets of
#: R1 G's UA − KTA PSNR (dB, at most: the forget slices are not memorised more than unseen knees),
#: R2 Ĝ's KTA SSIM ÷ G's (at least: brain knowledge carries over to the knee), R3 G − Ĝ on KTA (dB,
#: a range: joint training adds the last few dB, as the paper's 4.8), R8 Ĝ's gain over the zero-filled
#: input on test brains imaged at :data:`SHIFTED_FOV_MM` ÷ its gain at the training field of view (at
#: least: the model learned reconstruction, not one object scale), R7 Ĝ's BTA PSNR on brains of a real
#: anatomy the retain set never saw minus on the usual test brains (dB, at least); R4 is
#: ``TARGETS["original_kta_ssim"]``
REGIME_TARGETS: dict[str, float] = {"memorised_db": 1.0, "transfer_ratio": 0.90, "kta_gap_low_db": TARGETS["kta_gap_db"],
                                    "kta_gap_high_db": 7.0, "geometry_ratio": 0.75, "anatomy_db": -1.0}

#: the smaller field of view (mm) of the geometry-shift test brains behind R8 (the head fills more of the image)
SHIFTED_FOV_MM = 170.0


def _model_means(per_volume: pd.DataFrame, metrics: Sequence[str] = ("psnr", "ssim")) -> pd.Series:
    """Per (model, paper column, metric): the mean over seeds of the per-seed mean over volumes."""
    return seed_means(per_volume, metrics).groupby(["model", "column", "metric"])["mean"].mean()


def _mean(means: pd.Series, model: str, column: str, metric: str) -> float:
    """``means[model, column, metric]`` (:func:`_model_means`); a missing model or role is named."""
    try:
        return float(means[model, column, metric])
    except KeyError:
        role = {c: r for r, c in PAPER_COLUMNS.items()}[column]
        raise ConfigError(f"regime_indicators: no {model!r} rows of role {role!r}") from None


#: ids of the rows that judge whether the models work (the operating point proper); the other ids
#: judge whether their setting is the paper's (the regime)
OPERATING_IDS: tuple[str, ...] = ("R3", "R4", "R5", "R6")

#: R7 when the test brains come from the same anatomy source as the retain brains (the embedded data)
R7_NOT_MEASURED = "not measured: every embedded brain deforms one template; no real brain installs offline"


def operating_point(per_volume: pd.DataFrame, histories: pd.DataFrame, initial_lr: float,
                    shifted: pd.DataFrame | None = None, held_out_anatomy: bool = False) -> pd.DataFrame:
    """Where G and Ĝ stand, beside the paper's numbers, judged by the targets of the embedded default.

    The operating point (ids R3–R6): Ĝ reconstructs well (R5: BTA SSIM >= 0.90, BTA PSNR >= 8 dB above
    the zero-filled input), G knows the knee (R4: KTA SSIM >= 0.80; R3: G − Ĝ on KTA from 3 to 7 dB),
    both converged (R6, :func:`convergence`). The paper's regime (R1, R2, R7, R8; targets in
    :data:`REGIME_TARGETS`): the forget slices are not memorised (R1), brain knowledge carries to the
    knee (R2), Ĝ holds on held-out brain anatomy (R7) and at another field of view (R8). Ĝ's BTA PSNR
    and G's KTA PSNR are shown for the paper's comparison and have no target. Several training seeds:
    the means over seeds of the per-seed means (G − Ĝ: of the paired per-volume differences), the
    largest convergence slope, convergence met only when every seed converged.

    Args:
        per_volume: :func:`training_per_volume` (``model`` zero_filled / oracle / original, ``seed``).
        histories: :func:`training_histories`.
        initial_lr: the profile's learning rate (the plateau scheduler's start).
        shifted: :func:`geometry_shift` (R8); ``None``: R8 is not measured.
        held_out_anatomy: the test brains are subjects of a real anatomy the retain set never saw
            (real data): R7 is met by construction; ``False``: R7 is not measured.

    Returns:
        One row per measure (index ``measure``): ``id`` (R1–R8, empty for the rows without a target),
        ``ours``, ``paper`` (NaN where the paper reports none), ``target`` (text), ``met`` (nullable
        bool: on the threshold's right side; ``<NA>`` without a target or measurement), ``margin``
        (signed distance from the threshold, positive: met; for convergence the smallest over seeds,
        ``inf`` when the lr was lowered), ``tolerance`` and ``verdict`` (:func:`judged_target`:
        ``"borderline"`` when the margin is within the tolerance; empty when not judged) and ``note``.
    """
    m = _model_means(per_volume)
    seeds = per_volume[per_volume.model == "original"].seed.nunique()
    over = f"mean over {seeds} training seeds" if seeds > 1 else ""
    gain = m["oracle", "BTA", "psnr"] - m["zero_filled", "BTA", "psnr"]
    paper, t = paper_numbers.TABLE1, TARGETS
    regime = _regime_rows(per_volume, shifted, over)
    rows = [
        {"id": "", "measure": "Ĝ BTA PSNR (dB)", "ours": m["oracle", "BTA", "psnr"], "paper": paper["oracle"]["BTA_psnr"],
         "target": "", **_NOT_JUDGED, "note": over},
        {"id": "R5", "measure": "Ĝ BTA SSIM", "ours": m["oracle", "BTA", "ssim"], "paper": paper["oracle"]["BTA_ssim"],
         "target": f">= {t['oracle_bta_ssim']:.2f}", **judged_target(m["oracle", "BTA", "ssim"] - t["oracle_bta_ssim"], "oracle_bta_ssim"),
         "note": over},
        {"id": "R5", "measure": "Ĝ BTA − zero-filled (dB)", "ours": gain, "paper": math.nan,
         "target": f">= {t['oracle_bta_gain_db']:g}", **judged_target(gain - t["oracle_bta_gain_db"], "oracle_bta_gain_db"),
         "note": f"zero-filled BTA {m['zero_filled', 'BTA', 'psnr']:.2f} dB"},
        {"id": "", "measure": "G KTA PSNR (dB)", "ours": m["original", "KTA", "psnr"], "paper": paper["original"]["KTA_psnr"],
         "target": "", **_NOT_JUDGED, "note": over},
        regime["R4"], regime["R3"],
        {"id": "R6", **_convergence_row(histories, "original", initial_lr)},
        {"id": "R6", **_convergence_row(histories, "oracle", initial_lr)},
        regime["R1"], regime["R2"], _anatomy_row(held_out_anatomy), regime["R8"],
    ]
    return _typed(pd.DataFrame(rows).set_index("measure"))


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """A table of target rows with ``ours``, ``paper`` and ``margin`` as floats, ``met`` as nullable bool."""
    return table.astype({"ours": float, "paper": float, "margin": float, "met": "boolean"})


#: the judgement columns of a row without a target (or not measured)
_NOT_JUDGED: dict[str, Any] = {"met": None, "margin": math.nan, "tolerance": "", "verdict": ""}


def _regime_rows(per_volume: pd.DataFrame, shifted: pd.DataFrame | None, over: str = "") -> dict[str, dict[str, Any]]:
    """Rows R1–R4 and R8 of :func:`operating_point` (``over``: the note of a mean over seeds)."""
    p, t, m = paper_numbers.TABLE1, REGIME_TARGETS, _model_means(per_volume)
    mem = _mean(m, "original", "UA", "psnr") - _mean(m, "original", "KTA", "psnr")
    g_ssim = _mean(m, "original", "KTA", "ssim")
    ratio = _mean(m, "oracle", "KTA", "ssim") / g_ssim
    kta = seed_paired_difference(per_volume, "original", "oracle", "KTA")
    gap = kta["mean"]
    rows = [
        ("R1", "G's UA − KTA PSNR (dB)", mem, p["original"]["UA_psnr"] - p["original"]["KTA_psnr"],
         f"<= {t['memorised_db']:g}", judged_target(t["memorised_db"] - mem, "memorised_db"),
         "forget slices vs unseen knee volumes"),
        ("R2", "Ĝ KTA SSIM ÷ G KTA SSIM", ratio, p["oracle"]["KTA_ssim"] / p["original"]["KTA_ssim"],
         f">= {t['transfer_ratio']:.2f}", judged_target(ratio - t["transfer_ratio"], "transfer_ratio"),
         "brain knowledge carried to the knee"),
        ("R3", "G − Ĝ on KTA (dB)", gap, paper_numbers.SHARED_KNOWLEDGE_GAP_DB["KTA"],
         f"{t['kta_gap_low_db']:g} to {t['kta_gap_high_db']:g}",
         judged_target(min(gap - t["kta_gap_low_db"], t["kta_gap_high_db"] - gap), "kta_gap_db"),
         seed_evidence(kta) if kta["n"] > 1 else "paired per volume"),
        ("R4", "G KTA SSIM", g_ssim, p["original"]["KTA_ssim"], f">= {TARGETS['original_kta_ssim']:.2f}",
         judged_target(g_ssim - TARGETS["original_kta_ssim"], "original_kta_ssim"), over),
        _geometry_row(m, shifted),
    ]
    return {r[0]: {"id": r[0], "measure": r[1], "ours": r[2], "paper": r[3], "target": r[4], **r[5], "note": r[6]}
            for r in rows}


def _geometry_row(means: pd.Series, shifted: pd.DataFrame | None) -> tuple[Any, ...]:
    """R8: Ĝ's gain over the zero-filled input at :data:`SHIFTED_FOV_MM` ÷ at the training field of view."""
    target = f">= {REGIME_TARGETS['geometry_ratio']:.2f}"
    measure = f"Ĝ gain over zero-filled at {SHIFTED_FOV_MM:g} mm FOV ÷ at the training FOV"
    if shifted is None:
        return ("R8", measure, math.nan, math.nan, target, _NOT_JUDGED, "not measured")
    moved_means = _model_means(shifted, ("psnr",))
    base = _mean(means, "oracle", "BTA", "psnr") - _mean(means, "zero_filled", "BTA", "psnr")
    moved = _mean(moved_means, "oracle", "BTA", "psnr") - _mean(moved_means, "zero_filled", "BTA", "psnr")
    ratio = moved / base if base > 0 else math.nan  # no gain at the training FOV: nothing to keep, not judged
    judged = judged_target(ratio - REGIME_TARGETS["geometry_ratio"], "geometry_ratio") if base > 0 else _NOT_JUDGED
    return ("R8", measure, ratio, math.nan, target, judged,
            f"gain {moved:+.2f} dB at {SHIFTED_FOV_MM:g} mm, {base:+.2f} dB at the training FOV")


def _anatomy_row(held_out: bool) -> dict[str, Any]:
    """R7: Ĝ on brains of a real anatomy the retain set never saw, against the usual test brains."""
    judged = {"met": True, "margin": math.nan, "tolerance": "", "verdict": "yes"} if held_out else _NOT_JUDGED
    note = "the test brains are real subjects the retain set never saw" if held_out else R7_NOT_MEASURED
    return {"id": "R7", "measure": "Ĝ BTA PSNR, held-out anatomy − test brains (dB)", "ours": math.nan,
            "paper": math.nan, "target": f">= {REGIME_TARGETS['anatomy_db']:g}, or held-out test anatomy",
            **judged, "note": note}


def regime_indicators(per_volume: pd.DataFrame, shifted: pd.DataFrame | None = None) -> pd.DataFrame:
    """Indicators of the paper's regime R1–R4 and R8 alone (:func:`operating_point`'s rows of those
    ids), indexed by ``id``: ``measure``, ``ours``, ``paper``, ``target``, ``met`` (nullable bool),
    ``margin``, ``tolerance``, ``verdict``, ``note``; for judging a candidate dataset without training
    histories (``tools/regime_study.py``). ``per_volume`` and ``shifted`` as there."""
    rows = _regime_rows(per_volume, shifted)
    return _typed(pd.DataFrame([rows[i] for i in ("R1", "R2", "R3", "R4", "R8")]).set_index("id"))


def embedded_spec_name(study: Study) -> str | None:
    """The embedded dataset (``"default"``, ``"smoke"``) the study runs on, or ``None`` for any
    other manifest (real fastMRI scans, a drawn split)."""
    from ..simulate.build import embedded_spec_name as of_manifest

    return of_manifest(study.profile.manifest_path())


def geometry_shift(studies: Sequence[Study]) -> pd.DataFrame:
    """Per-volume PSNR and SSIM of the zero-filled input and of Ĝ (every study: one training seed) on
    the test brains re-imaged at :data:`SHIFTED_FOV_MM` (R8 of :func:`operating_point`).

    Only the embedded simulated data can be re-imaged: the same subjects are simulated again at the
    smaller field of view (:func:`mriunlearn.simulate.build.ensure_test_brains_at_fov`, built once
    under the data folder).

    Returns:
        ``file, role, organ, slices, psnr, ssim, nmse, model, seed`` (``model`` zero_filled / oracle).

    Raises:
        ConfigError: the studies run on other data than the embedded (real scans cannot be re-imaged).
    """
    from ..simulate.build import ensure_test_brains_at_fov

    return _reimaged_test_brains(studies, lambda name: ensure_test_brains_at_fov(name, SHIFTED_FOV_MM),
                                 "re-imaged at another field of view")


def anatomy_shift(studies: Sequence[Study], anatomy: str = "colin27") -> pd.DataFrame:
    """Per-volume PSNR and SSIM of the zero-filled input and of Ĝ (every study: one training seed) on
    the test brains with another anatomy underneath (R7 of :func:`operating_point`): the same subjects,
    pose, contrast, geometry, coils and noise, deforming ``anatomy`` (``"colin27"``: one real person's
    brain, which no training brain deforms; :func:`mriunlearn.simulate.build.ensure_test_brains_of_anatomy`).
    Returns and raises as :func:`geometry_shift`; also ConfigError when the anatomy is not installed."""
    from ..simulate.build import ensure_test_brains_of_anatomy

    return _reimaged_test_brains(studies, lambda name: ensure_test_brains_of_anatomy(name, anatomy),
                                 "given another anatomy")


def anatomy_gap(usual: pd.DataFrame, shifted: pd.DataFrame) -> pd.DataFrame:
    """R7 per training seed: Ĝ's PSNR on the test brains of another anatomy (:func:`anatomy_shift`)
    minus on the usual test brains (``usual``: the same columns, ``model`` oracle / zero_filled, role
    test_brain), paired per volume (the same subjects), and the zero-filled input's same difference.

    Returns:
        One row per seed: ``seed``, ``oracle_db`` and ``zero_filled_db`` (mean paired difference, dB),
        ``n`` (volumes); the zero-filled input is the same at every seed.
    """
    def psnr(table: pd.DataFrame, model: str, seed: int) -> pd.Series:  # per file; zero-filled has no seed
        rows = table[(table.model == model) & (table.role == "test_brain")]
        return (rows if model == "zero_filled" else rows[rows.seed == seed]).groupby("file").psnr.mean()

    def paired(model: str, seed: int) -> pd.Series:
        a, b = psnr(shifted, model, seed), psnr(usual, model, seed)
        if set(a.index) != set(b.index) or a.empty:
            raise ConfigError(f"anatomy_gap: the two sets of test brains differ for {model} at seed {seed}")
        return a - b.reindex(a.index)

    rows = []
    for seed in sorted(set(shifted[shifted.model == "oracle"].seed)):
        d = paired("oracle", seed)
        rows.append({"seed": int(seed), "oracle_db": float(d.mean()), "zero_filled_db": float(paired("zero_filled", seed).mean()),
                     "n": int(len(d))})
    return pd.DataFrame(rows)


def _reimaged_test_brains(studies: Sequence[Study], build: Callable[[str], Path], what: str) -> pd.DataFrame:
    """The zero-filled input and every study's Ĝ on the test brains that ``build(spec name)`` makes
    (its manifest path) from the embedded dataset the studies run on."""
    first = studies[0]
    name = embedded_spec_name(first)
    if name is None:
        raise ConfigError(f"{first.profile.manifest_path()} is not an embedded dataset; only simulated test "
                          f"brains can be {what}")
    path = build(name)
    manifest = load_manifest(path, path.parent)
    frames = [zero_filled(manifest, "test_brain", first.profile).assign(model="zero_filled", seed=first.profile.seed)]
    frames += [evaluate(s.oracle.model, manifest, "test_brain", s.profile).assign(model="oracle", seed=s.profile.seed)
               for s in studies]
    return pd.concat(frames, ignore_index=True)


def format_operating_point(op: pd.DataFrame) -> pd.DataFrame:
    """:func:`operating_point` as text for printing: the ``id``, SSIM, ratios and slopes with 3
    decimals, dB with 2, ``met`` as the target's verdict: yes / no / borderline (empty without a
    target or measurement), a blank where there is no number."""
    def num(v: float, measure: str) -> str:
        if not math.isfinite(v):
            return ""
        return f"{v:.3f}" if any(k in measure for k in ("SSIM", "slope", "÷")) else f"{v:.2f}"

    out = pd.DataFrame(index=op.index)
    out["id"] = op["id"]
    out["ours"] = [num(v, i) for i, v in op.ours.items()]
    out["paper"] = [num(v, i) for i, v in op.paper.items()]
    out["target"] = op.target
    out["met"] = op.verdict.fillna("")
    out["note"] = op.note
    return out


def operating_point_verdict(op: pd.DataFrame) -> str:
    """Two lines: is the operating point reached (every target of ids :data:`OPERATING_IDS` with
    verdict ``"yes"``), and is the setting the paper's regime (the other ids); each names the targets
    missed (``"no"``), borderline (within their tolerance: a re-run could flip them) and not measured."""
    operating = op["id"].isin(OPERATING_IDS)
    return "\n".join([_verdict_line("Operating point", op[operating]),
                      _verdict_line("The paper's regime", op[~operating & (op["id"] != "")])])


def _verdict_line(title: str, rows: pd.DataFrame) -> str:
    """One line of :func:`operating_point_verdict` over ``rows``."""
    judged = rows[rows.verdict.fillna("") != ""]
    missed = [f"{rows.loc[i, 'id']} {i}" for i, v in judged.verdict.items() if v == "no"]
    near = [f"{rows.loc[i, 'id']} {i}" for i, v in judged.verdict.items() if v == "borderline"]
    unmeasured = sorted(set(rows[rows.verdict.fillna("") == ""]["id"]))
    met = len(judged) - len(missed) - len(near)
    if not missed and not near:
        line = f"{title} reached: all {len(judged)} targets met"
    else:
        head = "NOT reached" if missed else "reached only within the reproduction tolerance"
        line = f"{title} {head}: {met} of {len(judged)} targets met"
    if missed:
        line += f"; missed: {'; '.join(missed)}"
    if near:
        line += f"; borderline (margin within the reproduction tolerance): {'; '.join(near)}"
    if unmeasured:
        line += f"; not measured: {', '.join(unmeasured)}"
    return line + "."


def _brain_cost(d: Mapping[str, float], over: str = "volumes") -> str:
    """Plain words for a G − Ĝ BTA difference with its 95% interval (paired over ``d["n"]`` volumes,
    or over training seeds): costs / improves / no measurable difference."""
    ci = f"paired 95% interval of G−Ĝ [{d['low']:+.2f}, {d['high']:+.2f}] dB over {d['n']} {over}"
    if d["high"] < 0:
        return f"{ci}: pooling costs brain quality, as in the paper."
    if d["low"] > 0:
        return f"{ci}: joint training improves brain quality here, the opposite of the paper."
    return f"{ci}: no measurable brain-quality difference (the interval contains 0), so the paper's small loss is not seen."


def shared_knowledge(per_volume: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """G vs Ĝ (and the zero-filled input) on BTA, KTA, UA, at one or several training seeds.

    Args:
        per_volume: :func:`training_per_volume` (``model`` zero_filled / oracle / original, ``seed``).

    Returns:
        ``(table, gaps)``: the tidy paper table of the three models (mean ± std over the volumes of
        every training seed); and per column G − Ĝ in PSNR, the mean over training seeds of the
        per-seed paired per-volume mean difference, with the paper's value beside it, and with several
        seeds the 95% t-interval over seeds and their number.
    """
    table = paper_table(per_volume)
    paper = paper_numbers.TABLE1
    rows = []
    for c in PAPER_COLUMNS.values():
        d = seed_paired_difference(per_volume, "original", "oracle", c)
        rows.append({"column": c, "G − Ĝ (ours, dB)": d["mean"], "low": d["low"], "high": d["high"], "seeds": d["n"],
                     "G − Ĝ (paper, dB)": paper["original"][f"{c}_psnr"] - paper["oracle"][f"{c}_psnr"]})
    gaps = pd.DataFrame(rows)
    if gaps.seeds.max() == 1:  # one training: no interval over seeds
        gaps = gaps.drop(columns=["low", "high", "seeds"])
    return table, gaps


def shared_knowledge_verdict(per_volume: pd.DataFrame) -> str:
    """Plain-language comparison of our G − Ĝ gaps with the paper's.

    Args:
        per_volume: :func:`training_per_volume` (the zero-filled input, G and Ĝ per volume at one
            or more training seeds).

    The knee and brain statements follow :func:`judge_difference`: with one training seed a
    difference within :data:`SINGLE_SEED_NOISE_DB` is "inconclusive at one seed" (a brain difference
    above it is then judged by the paired 95% interval over volumes); with three seeds or more the
    95% interval over seeds decides; two seeds are inconclusive.
    """
    m = paper_table(per_volume).query("metric == 'psnr'").pivot(index="model", columns="column", values="mean")
    zf_gain = m.loc["oracle", "BTA"] - m.loc["zero_filled", "BTA"]
    p = paper_numbers.SHARED_KNOWLEDGE_GAP_DB
    ua_paper = paper_numbers.TABLE1["original"]["UA_psnr"] - paper_numbers.TABLE1["oracle"]["UA_psnr"]
    d = {c: seed_paired_difference(per_volume, "original", "oracle", c) for c in PAPER_COLUMNS.values()}
    n = d["BTA"]["n"]
    seeds = f", mean over {n} training seeds" if n > 1 else ""
    floor = SINGLE_SEED_NOISE_DB
    knee = {"positive": "joint training transfers knee knowledge, as in the paper",
            "negative": "no knee advantage (G is worse): the paper's effect is NOT reproduced",
            "none": "no knee advantage: the paper's effect is NOT reproduced",
            "inconclusive": f"inconclusive: {seed_evidence(d['KTA'], noise_floor=floor)}"}[judge_difference(d["KTA"], floor)]
    if n > 1 and not knee.startswith("inconclusive"):
        knee += f" (95% interval over seeds [{d['KTA']['low']:+.2f}, {d['KTA']['high']:+.2f}] dB)"
    _, interval = training_interval(per_volume)
    if interval is None:
        brain = f"inconclusive at {'one seed' if n == 1 else f'{n} seeds'}: {seed_evidence(d['BTA'], noise_floor=floor)}"
        if n == 1:
            v = paired_difference(per_volume, "original", "oracle")
            brain += f" (paired 95% interval over {v['n']} volumes [{v['low']:+.2f}, {v['high']:+.2f}] dB)"
        brain += f"; TRAIN_SEEDS with >= {MIN_TRAIN_SEEDS} seeds decides."
    else:
        brain = _brain_cost(interval, over=interval["over"])
    lines = [
        f"Oracle vs zero-filled input on BTA: {zf_gain:+.2f} dB "
        f"({'a real reconstructor' if zf_gain >= 5 else 'WEAK: below the 5 dB bar'}).",
        f"Knee (KTA): G is {d['KTA']['mean']:+.2f} dB vs Ĝ{seeds} (paper {p['KTA']:+.2f} dB) -> {knee}.",
        f"Forget slices (UA): G is {d['UA']['mean']:+.2f} dB vs Ĝ{seeds} (paper {ua_paper:+.2f} dB).",
        f"Brain (BTA): G is {d['BTA']['mean']:+.2f} dB vs Ĝ{seeds} (paper {p['BTA']:+.2f} dB) -> {brain}",
    ]
    if abs(d["KTA"]["mean"]) < abs(p["KTA"]) / 2:
        lines.append("The knee gap is less than half the paper's. Candidate reasons (not tested here): a much smaller "
                     "forget set and network than the paper's, and simulated rather than real knee anatomy. "
                     "The data were not tuned to agree.")
    return "\n".join(lines)


def data_examples_table(examples: Mapping[str, Mapping[str, object]]) -> pd.DataFrame:
    """The numbers behind :func:`~mriunlearn.plots.data_examples_figure`: per organ and panel the source slice, the
    image size, its value range and mean, the grey scale it was drawn with, and the sampled k-space
    lines of the mask."""
    out = []
    for organ, e in examples.items():
        target = np.asarray(e["target"])
        mask = np.asarray(e["mask"], dtype=bool)
        panels = [("ground truth", target, float(target.max())), ("zero-filled", np.asarray(e["zero_filled"]), float(target.max()))]
        panels += [(f"|S{c}|", s, np.nan) for c, s in enumerate(np.asarray(e["sens"]))]
        for name, img, vmax in panels:
            out.append({"organ": organ, "source": str(e["name"]), "panel": name, "height": img.shape[0], "width": img.shape[1],
                        "min": float(img.min()), "max": float(img.max()), "mean": float(img.mean()), "drawn_vmax": vmax})
        out.append({"organ": organ, "source": str(e["name"]), "panel": "mask", "height": target.shape[0],
                    "width": mask.size, "min": 0.0, "max": 1.0, "mean": float(mask.mean()), "drawn_vmax": 1.0,
                    "sampled_lines": " ".join(map(str, np.flatnonzero(mask)))})
    return pd.DataFrame(out)
