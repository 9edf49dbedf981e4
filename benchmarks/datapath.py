"""Data path: slices per second the engine's training loader delivers vs what training consumes.

Two timing units, interleaved: one full epoch of the engine's training loader alone
(:func:`mriunlearn.dataset.make_loader` over the profile's retain slices: mask drawing, masking,
collation; nothing else), and one batch of the engine's training step (channels-last bf16 model as
shipped) on batches drawn beforehand. The ratio (loader slices/s over training slices/s, paired per
repetition) must be at least :data:`TARGET_RATIO`.
"""

from __future__ import annotations

from typing import Any

import torch

from mriunlearn.dataset import SliceData, make_loader, set_epoch
from mriunlearn.manifest import Manifest
from mriunlearn.model import build_model
from mriunlearn.profiles import Profile
from mriunlearn.train import make_optimizer, train_step

from .common import interleave, machine_info, md_table, paired_ratios, summarize, verdict

TARGET_RATIO = 10.0
COLUMNS = ["unit", "slices_per_unit", "slices_per_s", "q1", "q3", "ms_per_slice"]


def run(profile: Profile, manifest: Manifest, *, reps: int = 6, warmup: int = 1,
        train_batches: int = 2) -> dict[str, Any]:
    """Time the loader alone against the training step; return the ``datapath`` section."""
    data = SliceData.from_manifest(manifest, "retain", profile, train=True)
    loader = make_loader(data, profile, train=True)
    epoch = {"n": 0}

    def load_epoch() -> int:
        set_epoch(loader, epoch["n"])
        epoch["n"] += 1
        n = 0
        for batch in loader:
            if batch is not None:
                n += len(batch.fname)
        return n

    batches = [b for b in loader if b is not None][:train_batches]
    model = build_model(profile).train()
    opt = make_optimizer(model, profile)

    def train_some() -> int:
        n = 0
        for b in batches:
            train_step(model, opt, b, profile)
            n += len(b.fname)
        return n

    units = {"loader epoch (alone)": load_epoch, "training step": train_some}
    per_unit = {"loader epoch (alone)": len(data), "training step": sum(len(b.fname) for b in batches)}
    machine = machine_info()
    rates = interleave(units, reps, warmup=warmup)
    rows = []
    for name, r in rates.items():
        s = summarize(r)
        rows.append({"unit": name, "slices_per_unit": per_unit[name], "slices_per_s": s["median"],
                     "q1": s["q1"], "q3": s["q3"], "ms_per_slice": 1000 / s["median"]})
    ratio = summarize(paired_ratios(rates["loader epoch (alone)"], rates["training step"]))
    ok = ratio["median"] >= TARGET_RATIO
    check = (f"loader delivers {ratio['median']:.0f}x the slices/s training consumes (paired median, "
             f"range {ratio['min']:.0f}-{ratio['max']:.0f}); target >= {TARGET_RATIO:.0f}x: {verdict(ok)}")
    md = "\n".join([f"Data path, profile `{profile.name}`, {torch.get_num_threads()} torch thread(s), "
                    f"{reps} interleaved repetitions.", "", md_table(rows, COLUMNS), "", f"**{check}**"])
    return {"machine": machine, "profile": profile.name, "reps": reps, "rows": rows, "ratio": ratio,
            "target_ratio": TARGET_RATIO, "pass": ok, "check": check, "markdown": md}
