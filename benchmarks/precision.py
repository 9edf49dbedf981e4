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

from mriunlearn.dataset import SliceData
from mriunlearn.manifest import Manifest
from mriunlearn.profiles import Profile, get_profile
from mriunlearn.train import train, validate

from .common import machine_info, md_table, verdict

TOLERANCE_DB = 0.1
COLUMNS = ["run", "precision", "seed", "epochs", "val_psnr_db", "val_loss", "train_s"]


def run(profile: Profile, manifest: Manifest, *, epochs: int | None = None,
        control: bool = True) -> dict[str, Any]:
    """Train fp32 and bf16 for ``epochs`` (default: the profile's) and compare their final
    validation PSNR; with ``control``, also train fp32 with seed + 1 (the seed-to-seed yardstick)."""
    epochs = profile.epochs if epochs is None else int(epochs)
    machine = machine_info()
    rows: list[dict[str, Any]] = []
    results = {}
    runs = [("fp32", profile.seed), ("bf16", profile.seed)] + ([("fp32", profile.seed + 1)] if control else [])
    for precision, seed in runs:
        prof = get_profile(profile, epochs=epochs, precision=precision, seed=seed)
        res = train(prof, manifest, ("retain",), cache=False, progress=False)
        last = res.history.iloc[-1]
        results[(precision, seed)] = res
        name = f"train {precision}" + (f", seed {seed}" if seed != profile.seed else "")
        rows.append({"run": name, "precision": precision, "seed": seed, "epochs": epochs,
                     "val_psnr_db": float(last.val_psnr), "val_loss": float(last.val_loss),
                     "train_s": res.wall_time_s})
    diff = rows[1]["val_psnr_db"] - rows[0]["val_psnr_db"]
    seed_diff = rows[2]["val_psnr_db"] - rows[0]["val_psnr_db"] if control else None
    if manifest.files("val"):
        val = SliceData.from_manifest(manifest, "val", profile, train=False)
        loss16, psnr16 = validate(results[("fp32", profile.seed)].model, val, profile.replace(precision="bf16"))
        rows.append({"run": "fp32 weights, bf16 inference", "precision": "bf16 (eval)", "seed": profile.seed,
                     "epochs": epochs,
                     "val_psnr_db": psnr16, "val_loss": loss16, "train_s": None})
    ok = abs(diff) <= TOLERANCE_DB
    check = (f"bf16 - fp32 final validation PSNR after {epochs} epochs = {diff:+.3f} dB; target "
             f"|diff| <= {TOLERANCE_DB} dB: {verdict(ok)}")
    if seed_diff is not None:
        check += f" (yardstick: fp32 seed {profile.seed + 1} - seed {profile.seed} = {seed_diff:+.3f} dB)"
    reduced = f" (reduced from the profile's {profile.epochs})" if epochs != profile.epochs else ""
    md = "\n".join([f"Precision, profile `{profile.name}` trained on the retain slices for {epochs} epochs"
                    f"{reduced}, seed {profile.seed}, no cache.", "", md_table(rows, COLUMNS), "", f"**{check}**"])
    return {"machine": machine, "profile": profile.name, "epochs": epochs, "rows": rows,
            "diff_db": diff, "seed_diff_db": seed_diff, "tolerance_db": TOLERANCE_DB, "pass": ok,
            "check": check, "markdown": md}
