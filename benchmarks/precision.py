"""bf16 autocast vs fp32: final validation PSNR of two short training runs of the same seed.

Both runs train the oracle (retain slices) with the engine's :func:`mriunlearn.train.train` for a
reduced number of epochs (default 3, to keep the benchmark short; the profile trains 15), no cache,
same seed, masks and shuffling; only ``precision`` differs. The final validation PSNR must agree
within :data:`TOLERANCE_DB`. Also reported: the fp32-trained model evaluated under bf16 autocast
(inference precision alone, same weights).
"""

from __future__ import annotations

from typing import Any

from mriunlearn.dataset import SliceData
from mriunlearn.manifest import Manifest
from mriunlearn.profiles import Profile, get_profile
from mriunlearn.train import train, validate

from .common import machine_info, md_table, verdict

TOLERANCE_DB = 0.1
COLUMNS = ["run", "precision", "epochs", "val_psnr_db", "val_loss", "train_s"]


def run(profile: Profile, manifest: Manifest, *, epochs: int = 3) -> dict[str, Any]:
    """Train fp32 and bf16 for ``epochs`` and compare their final validation PSNR."""
    machine = machine_info()
    rows: list[dict[str, Any]] = []
    results = {}
    for precision in ("fp32", "bf16"):
        prof = get_profile(profile, epochs=epochs, precision=precision)
        res = train(prof, manifest, ("retain",), cache=False, progress=False)
        last = res.history.iloc[-1]
        results[precision] = res
        rows.append({"run": f"train {precision}", "precision": precision, "epochs": epochs,
                     "val_psnr_db": float(last.val_psnr), "val_loss": float(last.val_loss),
                     "train_s": res.wall_time_s})
    diff = rows[1]["val_psnr_db"] - rows[0]["val_psnr_db"]
    if manifest.files("val"):
        val = SliceData.from_manifest(manifest, "val", profile, train=False)
        loss16, psnr16 = validate(results["fp32"].model, val, profile.replace(precision="bf16"))
        rows.append({"run": "fp32 weights, bf16 inference", "precision": "bf16 (eval)", "epochs": epochs,
                     "val_psnr_db": psnr16, "val_loss": loss16, "train_s": None})
    ok = abs(diff) <= TOLERANCE_DB
    check = (f"bf16 - fp32 final validation PSNR after {epochs} epochs = {diff:+.3f} dB; target "
             f"|diff| <= {TOLERANCE_DB} dB: {verdict(ok)}")
    md = "\n".join([f"Precision, profile `{profile.name}` trained on the retain slices for {epochs} epochs "
                    f"(reduced from {profile.epochs} to keep the benchmark short), seed {profile.seed}, "
                    "no cache.", "", md_table(rows, COLUMNS), "", f"**{check}**"])
    return {"machine": machine, "profile": profile.name, "epochs": epochs, "rows": rows,
            "diff_db": diff, "tolerance_db": TOLERANCE_DB, "pass": ok, "check": check, "markdown": md}
