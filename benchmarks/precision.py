"""bf16 autocast vs fp32: final validation PSNR of two training runs of the same seed.

Both runs train the oracle (retain slices) with the engine's :func:`mriunlearn.train.train` for the
profile's epochs (or ``epochs``), no cache, same seed, masks and shuffling; only ``precision``
differs. The final validation PSNR must agree within :data:`TOLERANCE_DB`. Also reported: the
fp32-trained model evaluated under bf16 autocast (inference precision alone, same weights) and, as a
yardstick (``control``), an fp32 run with the next seed: how much the final PSNR moves when only the
random draws change.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mriunlearn.dataset import SliceData
from mriunlearn.forgetting import summarise_seeds
from mriunlearn.manifest import Manifest
from mriunlearn.profiles import Profile, get_profile
from mriunlearn.train import train, validate

from .common import machine_info, md_table, verdict

TOLERANCE_DB = 0.1
COLUMNS = ["run", "precision", "seed", "epochs", "val_psnr_db", "val_loss", "train_s"]


def run(profile: Profile, manifest: Manifest, *, epochs: int | None = None, seeds: int = 1,
        control: bool = True) -> dict[str, Any]:
    """Train fp32 and bf16 for ``epochs`` (default: the profile's) and compare their final
    validation PSNR.

    The check is the issue's: bf16 vs fp32 for the profile's seed. ``seeds`` > 1 repeats the pair
    for the next seeds and reports the mean paired difference with its 95% t-interval (is there a
    systematic bf16 effect, beyond run-to-run chaos?). The seed-to-seed yardstick is fp32 at seed + 1
    minus fp32 at the seed (trained for it when ``seeds`` is 1 and ``control`` is on).
    """
    epochs = profile.epochs if epochs is None else int(epochs)
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    machine = machine_info()
    rows: list[dict[str, Any]] = []
    results = {}
    seed_list = [profile.seed + i for i in range(seeds)]
    runs = [(p, s) for s in seed_list for p in ("fp32", "bf16")]
    if seeds == 1 and control:
        runs.append(("fp32", profile.seed + 1))
    for precision, seed in runs:
        prof = get_profile(profile, epochs=epochs, precision=precision, seed=seed)
        res = train(prof, manifest, ("retain",), cache=False, progress=False)
        last = res.history.iloc[-1]
        results[(precision, seed)] = res
        rows.append({"run": f"train {precision}, seed {seed}", "precision": precision, "seed": seed,
                     "epochs": epochs, "val_psnr_db": float(last.val_psnr), "val_loss": float(last.val_loss),
                     "train_s": res.wall_time_s})
    psnr = {(r["precision"], r["seed"]): r["val_psnr_db"] for r in rows}
    diff = psnr[("bf16", profile.seed)] - psnr[("fp32", profile.seed)]
    yard = ("fp32", profile.seed + 1)
    seed_diff = psnr[yard] - psnr[("fp32", profile.seed)] if yard in psnr else None
    paired = [psnr[("bf16", s)] - psnr[("fp32", s)] for s in seed_list]
    spread = summarise_seeds(pd.DataFrame({"key": 0, "diff": paired}), by="key", value="diff").iloc[0]
    if manifest.files("val"):
        val = SliceData.from_manifest(manifest, "val", profile, train=False)
        loss16, psnr16 = validate(results[("fp32", profile.seed)].model, val, profile.replace(precision="bf16"))
        rows.append({"run": f"fp32 weights, bf16 inference, seed {profile.seed}", "precision": "bf16 (eval)",
                     "seed": profile.seed, "epochs": epochs, "val_psnr_db": psnr16, "val_loss": loss16,
                     "train_s": None})
    ok = abs(diff) <= TOLERANCE_DB
    check = (f"bf16 - fp32 final validation PSNR after {epochs} epochs = {diff:+.3f} dB; target "
             f"|diff| <= {TOLERANCE_DB} dB: {verdict(ok)}")
    if seed_diff is not None:
        check += f" (yardstick: fp32 seed {profile.seed + 1} - seed {profile.seed} = {seed_diff:+.3f} dB)"
    if seeds > 1:
        check += (f"; over {seeds} seeds the paired bf16 - fp32 difference is {spread['mean']:+.3f} dB, "
                  f"95% interval [{spread['low']:+.3f}, {spread['high']:+.3f}]")
    reduced = f" (reduced from the profile's {profile.epochs})" if epochs != profile.epochs else ""
    md = "\n".join([f"Precision, profile `{profile.name}` trained on the retain slices for {epochs} epochs"
                    f"{reduced}, seeds {', '.join(map(str, seed_list))}, no cache.", "", md_table(rows, COLUMNS),
                    "", f"**{check}**"])
    return {"machine": machine, "profile": profile.name, "epochs": epochs, "seeds": seed_list, "rows": rows,
            "diff_db": diff, "seed_diff_db": seed_diff, "paired_diffs_db": paired,
            "paired_mean_db": float(spread["mean"]), "paired_low_db": float(spread["low"]),
            "paired_high_db": float(spread["high"]), "tolerance_db": TOLERANCE_DB, "pass": ok,
            "check": check, "markdown": md}
