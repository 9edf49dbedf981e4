"""Unlearning cost: slice-steps and wall time of every method as a fraction of retraining the oracle.

G and the oracle come from the engine's run cache (:func:`mriunlearn.train.train_original` /
:func:`~mriunlearn.train.train_oracle`; trained once into the cache given, ~3 minutes each on the
default profile). Each method in :data:`mriunlearn.unlearning.METHODS` then runs through
:func:`mriunlearn.unlearning.run_unlearning` from G with its default (paper) settings and the
profile's budget, *uncached* so its time is measured now (evaluation excluded by the runner);
``retrain`` is the oracle itself (fraction 1). Slice-steps (slices through a forward + backward
pass) do not depend on the machine; the wall-time fraction compares a time measured now with the
oracle's recorded training time (its epochs include validation).
NL-FT must stay under :data:`NL_FT_LIMIT` of retraining in both.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from mriunlearn import paths
from mriunlearn.cache import RunCache
from mriunlearn.manifest import Manifest
from mriunlearn.profiles import Profile
from mriunlearn.train import train_oracle, train_original
from mriunlearn.unlearning import METHODS, run_unlearning

from .common import machine_info, md_table, verdict

NL_FT_LIMIT = 0.05
COLUMNS = ["method", "epochs", "retain_volumes", "slice_steps", "wall_s", "steps_fraction",
           "wall_fraction", "UA_psnr", "BTA_psnr", "check"]


def _psnr(result: Any, column: str) -> float | None:
    table = result.table()
    hit = table[(table.column == column) & (table.metric == "psnr")]
    return float(hit["mean"].iloc[0]) if len(hit) else None


def run(profile: Profile, manifest: Manifest, runs_dir: str | os.PathLike[str], *,
        methods: Sequence[str] | None = None, progress: bool = False) -> dict[str, Any]:
    """Cost table of ``methods`` (default: all registered) against the oracle cached in ``runs_dir``."""
    cache = RunCache(runs_dir)
    g = train_original(profile, manifest, cache=cache, progress=progress)
    oracle = train_oracle(profile, manifest, cache=cache, progress=progress)
    machine = machine_info()
    rows: list[dict[str, Any]] = [{
        "method": "retrain", "epochs": profile.epochs, "retain_volumes": len(manifest.files("retain")),
        "slice_steps": oracle.slice_steps, "wall_s": oracle.wall_time_s, "steps_fraction": 1.0,
        "wall_fraction": 1.0, "UA_psnr": None, "BTA_psnr": None,
        "check": "oracle (cached)" if oracle.cached else "oracle (trained now)"}]
    names = [m for m in (methods or list(METHODS)) if m != "retrain"]
    for name in names:
        res = run_unlearning(profile, manifest, name, original=g, cache=False, progress=progress,
                             eval_every_epoch=False)
        steps_frac = res.slice_steps / oracle.slice_steps
        wall_frac = res.wall_time_s / oracle.wall_time_s
        row = {"method": name, "epochs": res.config.get("epochs"),
               "retain_volumes": len(res.retain_files),
               "slice_steps": res.slice_steps, "wall_s": res.wall_time_s, "steps_fraction": steps_frac,
               "wall_fraction": wall_frac, "UA_psnr": _psnr(res, "UA"), "BTA_psnr": _psnr(res, "BTA"),
               "check": ""}
        if name == "nl_ft":
            row["check"] = verdict(steps_frac < NL_FT_LIMIT and wall_frac < NL_FT_LIMIT)
        rows.append(row)
    nl = next((r for r in rows if r["method"] == "nl_ft"), None)
    ok = nl is not None and nl["check"] == "PASS"
    check = ("NL-FT (paper settings) costs "
             + (f"{100 * nl['steps_fraction']:.1f}% of the oracle's slice-steps and "
                f"{100 * nl['wall_fraction']:.1f}% of its wall time" if nl else "(not run)")
             + f"; target < {100 * NL_FT_LIMIT:.0f}% in both: {verdict(ok)}")
    md = "\n".join([
        f"Unlearning cost, profile `{profile.name}`: every method from G with its default (paper) "
        f"parameters and the profile's budget ({profile.unlearn_epochs} epochs, retain fraction "
        f"{profile.retain_fraction}); oracle: {oracle.slice_steps} slice-steps, {oracle.wall_time_s:.0f} s "
        f"({'from the run cache' if oracle.cached else 'trained in this run'}, run cache {paths.portable(cache.root)}). "
        "`retain_volumes`: the retain volumes a method saw; wall times exclude evaluation.",
        "", md_table(rows, COLUMNS), "", f"**{check}**"])
    return {"machine": machine, "profile": profile.name, "runs_dir": paths.portable(cache.root),
            "oracle": {"slice_steps": oracle.slice_steps, "wall_time_s": oracle.wall_time_s,
                       "cached": oracle.cached},
            "original_cached": g.cached, "rows": rows, "limit": NL_FT_LIMIT, "pass": ok, "check": check,
            "markdown": md}
