"""bf16 autocast vs fp32: final validation PSNR of training runs paired by seed.

Per seed, the runs train the oracle (retain slices) with the engine's :func:`mriunlearn.train.train`
for the profile's epochs (or ``epochs``), no cache, same seed, masks and shuffling; only
``precision`` differs. As the noise floor (``control``), a third fp32 run of the same seed starts
from initial weights moved by one unit in the last place (:func:`nudge_one_ulp`): how far the final
PSNR moves when nothing but float rounding differs. Also reported: the fp32-trained model evaluated
under bf16 autocast (inference precision alone, same weights) and the fp32 seed-to-seed spread.

The criterion (:func:`judge_bf16`), paired over at least :data:`MIN_SEEDS` seeds: PASS when the 95%
t-interval of the per-seed differences (bf16 - fp32) lies inside ±:data:`BOUND_DB` dB *and* the mean
|bf16 - fp32| is no larger than the floor's mean |nudged - fp32|; otherwise FAIL. A single seed
cannot judge it: one fp32 run moves by up to 0.35 dB against itself when nudged by one ulp.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from mriunlearn.dataset import SliceData
from mriunlearn.intervals import mean_interval
from mriunlearn.manifest import Manifest
from mriunlearn.model import build_model
from mriunlearn.profiles import Profile, get_profile
from mriunlearn.train import train, validate

from .common import machine_info, md_table, verdict

#: the 95% interval of the paired bf16 - fp32 differences must lie inside ±BOUND_DB (dB)
BOUND_DB = 0.2
#: fewer seeds than this: the bf16 criterion is not judged
MIN_SEEDS = 5
COLUMNS = ["run", "precision", "seed", "epochs", "val_psnr_db", "val_loss", "train_s"]
#: the ``precision`` label of the control run
NUDGED = "fp32, init +1 ulp"


def nudge_one_ulp(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict with every floating-point entry moved to the next representable value towards
    +inf (one ulp: a relative change of ~6e-8 in fp32); other entries are returned as they are."""
    return {k: torch.nextafter(v, torch.full_like(v, math.inf)) if v.is_floating_point() else v
            for k, v in state.items()}


def judge_bf16(paired: Sequence[float], floor: Sequence[float], *, bound_db: float = BOUND_DB,
               min_seeds: int = MIN_SEEDS) -> dict[str, Any]:
    """The bf16 criterion on per-seed final PSNR differences (dB), a pure function.

    Args:
        paired: bf16 - fp32, one per seed.
        floor: nudged fp32 - fp32 for the same seeds (the one-ulp noise floor); may be empty only
            when there are too few seeds anyway.

    Returns:
        ``{"verdict": "PASS" | "FAIL" | "not judged", "pass": True | False | None, "n", "mean",
        "low", "high" (95% t-interval of ``paired``, :func:`~mriunlearn.intervals.mean_interval`),
        "interval_inside", "mean_abs_bf16", "mean_abs_floor", "floor_ok", "text"}``: PASS when
        ``-bound_db <= low`` and ``high <= bound_db`` and ``mean|paired| <= mean|floor|``; "not judged"
        (``pass`` ``None``) with fewer than ``min_seeds`` seeds or without the floor.

    Raises:
        ValueError: ``floor`` given with another length than ``paired``.
    """
    paired = [float(x) for x in paired]
    floor = [float(x) for x in floor]
    n = len(paired)
    if floor and len(floor) != n:
        raise ValueError(f"floor has {len(floor)} values for {n} paired differences")
    spread = mean_interval(paired)
    out: dict[str, Any] = {"n": n, "mean": spread["mean"], "low": spread["low"], "high": spread["high"],
                           "bound_db": bound_db, "min_seeds": min_seeds,
                           "mean_abs_bf16": sum(map(abs, paired)) / n if n else math.nan,
                           "mean_abs_floor": sum(map(abs, floor)) / len(floor) if floor else math.nan,
                           "interval_inside": None, "floor_ok": None}
    if n < min_seeds:
        out.update(verdict="not judged", text=f"bf16 vs fp32: not judged (needs ≥ {min_seeds} seeds); seeds run: {n}")
        out["pass"] = None
        return out
    if not floor:
        out.update(verdict="not judged", text="bf16 vs fp32: not judged (needs the one-ulp floor runs)")
        out["pass"] = None
        return out
    inside = -bound_db <= spread["low"] and spread["high"] <= bound_db
    floor_ok = out["mean_abs_bf16"] <= out["mean_abs_floor"]
    ok = bool(inside and floor_ok)
    out.update(interval_inside=inside, floor_ok=floor_ok, verdict=verdict(ok))
    out["pass"] = ok
    out["text"] = (f"bf16 vs fp32 over {n} seeds (paired): mean {spread['mean']:+.3f} dB, 95% interval "
                   f"[{spread['low']:+.3f}, {spread['high']:+.3f}] "
                   f"{'inside' if inside else 'NOT inside'} ±{bound_db} dB; mean |bf16 - fp32| "
                   f"{out['mean_abs_bf16']:.3f} dB {'<=' if floor_ok else '>'} one-ulp floor mean "
                   f"|nudged - fp32| {out['mean_abs_floor']:.3f} dB: {verdict(ok)}")
    return out


def run(profile: Profile, manifest: Manifest, *, epochs: int | None = None, seeds: int = 1,
        control: bool = True) -> dict[str, Any]:
    """Train fp32 and bf16 for ``epochs`` (default: the profile's) and compare their final
    validation PSNR.

    The check: bf16 vs fp32 for the profile's seed. ``control`` adds, per seed, the
    fp32 run from one-ulp-nudged initial weights: the same comparison with bf16 replaced by nothing
    but a rounding-sized perturbation. ``seeds`` repeats everything for consecutive seeds from the
    profile's; the verdict is :func:`judge_bf16`'s ("not judged" below :data:`MIN_SEEDS` seeds).
    """
    epochs = profile.epochs if epochs is None else int(epochs)
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    machine = machine_info()
    rows: list[dict[str, Any]] = []
    models = {}
    seed_list = [profile.seed + i for i in range(seeds)]
    kinds = ("fp32", "bf16", NUDGED) if control else ("fp32", "bf16")
    for seed in seed_list:
        for kind in kinds:
            prof = get_profile(profile, epochs=epochs, precision="bf16" if kind == "bf16" else "fp32", seed=seed)
            init = nudge_one_ulp(build_model(prof).state_dict()) if kind == NUDGED else None
            res = train(prof, manifest, ("retain",), cache=False, progress=False, init_from=init)
            last = res.history.iloc[-1]
            models[(kind, seed)] = res.model
            label = f"train fp32, seed {seed}, initial weights +1 ulp" if kind == NUDGED else f"train {kind}, seed {seed}"
            rows.append({"run": label, "precision": kind, "seed": seed, "epochs": epochs,
                         "val_psnr_db": float(last.val_psnr), "val_loss": float(last.val_loss),
                         "train_s": res.wall_time_s})
    if manifest.files("val"):
        val = SliceData.from_manifest(manifest, "val", profile, train=False)
        loss16, psnr16 = validate(models[("fp32", profile.seed)], val, profile.replace(precision="bf16"))
        rows.append({"run": f"fp32 weights, bf16 inference, seed {profile.seed}", "precision": "bf16 (eval)",
                     "seed": profile.seed, "epochs": epochs, "val_psnr_db": psnr16, "val_loss": loss16,
                     "train_s": None})
    return summarise(rows, profile.name, epochs, profile.epochs, seed_list, machine)


def summarise(rows: list[dict[str, Any]], profile_name: str, epochs: int, profile_epochs: int,
              seed_list: Sequence[int], machine: dict[str, Any], note: str = "") -> dict[str, Any]:
    """The ``precision`` section from its measured ``rows`` (one per run, :data:`COLUMNS`): the paired
    differences, :func:`judge_bf16`'s verdict and the markdown. ``note``: a line put under the title."""
    seed_list = list(seed_list)
    psnr = {(r["precision"], r["seed"]): r["val_psnr_db"] for r in rows}
    control = all((NUDGED, s) in psnr for s in seed_list)
    paired = [psnr[("bf16", s)] - psnr[("fp32", s)] for s in seed_list]
    floor = [psnr[(NUDGED, s)] - psnr[("fp32", s)] for s in seed_list] if control else []
    first = seed_list[0]
    diff = paired[0]
    floor_diff = floor[0] if control else None
    seed_diff = psnr[("fp32", seed_list[1])] - psnr[("fp32", first)] if len(seed_list) > 1 else None
    judged = judge_bf16(paired, floor)
    check = f"{judged['text']} (final validation PSNR after {epochs} epochs)"
    check += f". Seed {first}: bf16 - fp32 = {diff:+.3f} dB"
    if floor_diff is not None:
        check += f", noise floor (fp32 from weights nudged by one ulp) - fp32 = {floor_diff:+.3f} dB"
    if seed_diff is not None:
        check += f"; fp32 seed {seed_list[1]} - seed {first} = {seed_diff:+.3f} dB"
    reduced = f" (reduced from the profile's {profile_epochs})" if epochs != profile_epochs else ""
    md = "\n".join([f"Precision, profile `{profile_name}` trained on the retain slices for {epochs} epochs"
                    f"{reduced}, seeds {', '.join(map(str, seed_list))}, no cache.", *([note] if note else []),
                    "", md_table(rows, COLUMNS), "", f"**{check}**"])
    return {"machine": machine, "profile": profile_name, "epochs": epochs, "profile_epochs": profile_epochs,
            "seeds": seed_list, "rows": rows,
            "diff_db": diff, "floor_diff_db": floor_diff, "floor_diffs_db": floor, "seed_diff_db": seed_diff,
            "paired_diffs_db": paired, "paired_mean_db": float(judged["mean"]),
            "paired_low_db": float(judged["low"]), "paired_high_db": float(judged["high"]),
            "bound_db": BOUND_DB, "min_seeds": MIN_SEEDS, "judgement": judged, "verdict": judged["verdict"],
            "pass": judged["pass"], "check": check, "markdown": md}


def rejudge(section: dict[str, Any]) -> dict[str, Any]:
    """A stored ``precision`` section (``latest.json``) judged again by today's rule from its measured
    rows, without training: for when the rule changes after the runs were measured. The machine
    record stays the measurement's; a note under the title says when it was re-judged."""
    from datetime import datetime, timezone

    rows = [dict(r) for r in section["rows"]]
    seeds = section.get("seeds") or sorted({r["seed"] for r in rows if r["precision"] == "fp32"})
    epochs = int(section["epochs"])
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    note = (f"Re-judged {when} by `judge_bf16` from the runs measured "
            f"{section['machine'].get('date', '(date not recorded)')} (no training repeated).")
    return summarise(rows, section["profile"], epochs, section.get("profile_epochs", epochs), seeds,
                     section["machine"], note=note)
