"""bf16 autocast vs fp32: final validation PSNR of two training runs of the same seed.

Both runs train the oracle (retain slices) with the engine's :func:`mriunlearn.train.train` for the
profile's epochs (or ``epochs``), no cache, same seed, masks and shuffling; only ``precision``
differs. The final validation PSNR must agree within :data:`TOLERANCE_DB`. Also reported: the
fp32-trained model evaluated under bf16 autocast (inference precision alone, same weights) and, as
the check's noise floor (``control``), a third fp32 run of the same seed whose initial weights are
moved by one unit in the last place (:func:`nudge_one_ulp`): how far the final PSNR moves when
nothing but float rounding differs. With ``seeds`` > 1 the fp32 runs of consecutive seeds also give
the seed-to-seed spread.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from mriunlearn.dataset import SliceData
from mriunlearn.forgetting import mean_interval
from mriunlearn.manifest import Manifest
from mriunlearn.model import build_model
from mriunlearn.profiles import Profile, get_profile
from mriunlearn.train import train, validate

from .common import machine_info, md_table, verdict

TOLERANCE_DB = 0.1
COLUMNS = ["run", "precision", "seed", "epochs", "val_psnr_db", "val_loss", "train_s"]
#: the ``precision`` label of the control run
NUDGED = "fp32, init +1 ulp"


def nudge_one_ulp(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict with every floating-point entry moved to the next representable value towards
    +inf (one ulp: a relative change of ~6e-8 in fp32); other entries are returned as they are."""
    return {k: torch.nextafter(v, torch.full_like(v, math.inf)) if v.is_floating_point() else v
            for k, v in state.items()}


def run(profile: Profile, manifest: Manifest, *, epochs: int | None = None, seeds: int = 1,
        control: bool = True) -> dict[str, Any]:
    """Train fp32 and bf16 for ``epochs`` (default: the profile's) and compare their final
    validation PSNR.

    The check is the issue's: bf16 vs fp32 for the profile's seed. ``control`` adds, per seed, the
    fp32 run from one-ulp-nudged initial weights: the same comparison with bf16 replaced by nothing
    but a rounding-sized perturbation. ``seeds`` > 1 repeats everything for the next seeds and
    reports the mean paired bf16 - fp32 difference with its 95% t-interval (is there a systematic
    bf16 effect, beyond run-to-run chaos?) beside the mean |difference| of bf16 and of the nudge.
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
    psnr = {(r["precision"], r["seed"]): r["val_psnr_db"] for r in rows}
    paired = [psnr[("bf16", s)] - psnr[("fp32", s)] for s in seed_list]
    floor = [psnr[(NUDGED, s)] - psnr[("fp32", s)] for s in seed_list] if control else []
    diff = paired[0]
    floor_diff = floor[0] if control else None
    seed_diff = psnr[("fp32", profile.seed + 1)] - psnr[("fp32", profile.seed)] if seeds > 1 else None
    spread = mean_interval(paired)
    if manifest.files("val"):
        val = SliceData.from_manifest(manifest, "val", profile, train=False)
        loss16, psnr16 = validate(models[("fp32", profile.seed)], val, profile.replace(precision="bf16"))
        rows.append({"run": f"fp32 weights, bf16 inference, seed {profile.seed}", "precision": "bf16 (eval)",
                     "seed": profile.seed, "epochs": epochs, "val_psnr_db": psnr16, "val_loss": loss16,
                     "train_s": None})
    ok = abs(diff) <= TOLERANCE_DB
    check = (f"bf16 - fp32 final validation PSNR after {epochs} epochs = {diff:+.3f} dB; target "
             f"|diff| <= {TOLERANCE_DB} dB: {verdict(ok)}")
    if floor_diff is not None:
        check += (f" (noise floor: fp32 from initial weights nudged by one ulp - fp32 = {floor_diff:+.3f} dB"
                  + (", so the tolerance fails fp32 against itself)" if abs(floor_diff) > TOLERANCE_DB else ")"))
    if seed_diff is not None:
        check += f"; fp32 seed {profile.seed + 1} - seed {profile.seed} = {seed_diff:+.3f} dB"
    if seeds > 1:
        check += (f"; over {seeds} seeds the paired bf16 - fp32 difference is {spread['mean']:+.3f} dB, "
                  f"95% interval [{spread['low']:+.3f}, {spread['high']:+.3f}]")
        if control:
            check += (f"; mean |bf16 - fp32| = {sum(map(abs, paired)) / seeds:.3f} dB vs mean |nudged fp32 - fp32| "
                      f"= {sum(map(abs, floor)) / seeds:.3f} dB")
    reduced = f" (reduced from the profile's {profile.epochs})" if epochs != profile.epochs else ""
    md = "\n".join([f"Precision, profile `{profile.name}` trained on the retain slices for {epochs} epochs"
                    f"{reduced}, seeds {', '.join(map(str, seed_list))}, no cache.", "", md_table(rows, COLUMNS),
                    "", f"**{check}**"])
    return {"machine": machine, "profile": profile.name, "epochs": epochs, "seeds": seed_list, "rows": rows,
            "diff_db": diff, "floor_diff_db": floor_diff, "floor_diffs_db": floor, "seed_diff_db": seed_diff,
            "paired_diffs_db": paired, "paired_mean_db": float(spread["mean"]),
            "paired_low_db": float(spread["low"]), "paired_high_db": float(spread["high"]),
            "tolerance_db": TOLERANCE_DB, "pass": ok, "check": check, "markdown": md}
