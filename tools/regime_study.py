"""Measure the regime indicators of a candidate embedded dataset and profile, without the notebooks.

Builds the candidate data (:class:`~mriunlearn.simulate.build.DatasetSpec` with ``--spec``
changes), trains G and Ĝ on it (``--set`` changes the profile), and measures on its own test
volumes the operating point (:func:`~mriunlearn.experiments.data_overlap.operating_point`: R5, R6)
and the regime indicators (:func:`~mriunlearn.experiments.data_overlap.regime_indicators`: R1–R4,
and R8 on the same test brains imaged at :data:`~mriunlearn.experiments.data_overlap.SHIFTED_FOV_MM`,
geometry options off). This is how a lever is judged before it becomes the default
(docs/operating_point.md): by the indicators and the minutes, never by an unlearning result.

Usage::

    python tools/regime_study.py NAME [--spec KEY=JSON ...] [--set KEY=JSON ...] [--out DIR]
        [--profile default] [--base default]

e.g. ``python tools/regime_study.py geometry --spec 'brain_fov_range_mm=[140, 240]' brain_pe_swap=0.5``.
``--base plain`` starts from the simulator with every option off (8 coils; :class:`DatasetSpec`'s own
field defaults) instead of the embedded default's spec.
Writes ``DIR/NAME/{per_volume.csv, regime.csv, operating_point.csv, record.json}`` (DIR defaults to
``runs/regime_study``); data and trained models stay under ``DIR`` (``data/NAME``, ``runs``), so a
repeated call reuses them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from mriunlearn import paths
from mriunlearn.cache import RunCache
from mriunlearn.cli import key_values
from mriunlearn.errors import ConfigError, MriUnlearnError
from mriunlearn.experiments import data_overlap as ov
from mriunlearn.manifest import load_manifest
from mriunlearn.metrics import evaluate, zero_filled
from mriunlearn.profiles import Profile, get_profile
from mriunlearn.simulate.build import SPECS, DatasetSpec, at_fov, build_dataset
from mriunlearn.train import TrainResult, train_oracle, train_original

#: the specs ``--spec`` changes: the built-in datasets, and ``plain`` (every simulator option off)
BASES = {**SPECS, "plain": DatasetSpec}
#: the roles of the per-volume table (BTA, KTA, UA)
ROLES: tuple[str, ...] = ("test_brain", "test_knee", "forget")


def candidate_spec(changes: dict[str, Any], base: DatasetSpec | None = None) -> DatasetSpec:
    """``base`` (the default spec) with ``changes``; lists become tuples; an unknown field is named."""
    base = base or DatasetSpec.default()
    fields = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(changes) - fields)
    if unknown:
        raise ConfigError(f"unknown DatasetSpec field(s) {', '.join(unknown)}; valid: {', '.join(sorted(fields))}")
    return dataclasses.replace(base, **{k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()})


def per_volume_table(models: dict[str, TrainResult], manifest: Any, profile: Profile, roles=ROLES) -> pd.DataFrame:
    """Per-volume metrics of the zero-filled input and of each model (``model`` original / oracle)
    on ``roles``, with ``seed`` = the profile's seed (as :func:`~mriunlearn.experiments.results.training_per_volume`)."""
    frames = [zero_filled(manifest, list(roles), profile).assign(model="zero_filled")]
    frames += [evaluate(r.model, manifest, list(roles), profile).assign(model=name) for name, r in models.items()]
    return pd.concat(frames, ignore_index=True).assign(seed=profile.seed)


def run(name: str, spec: DatasetSpec, profile: Profile, out: Path) -> dict[str, pd.DataFrame]:
    """Build, train G and Ĝ, measure; write the tables and a record under ``out / name``."""
    t0 = time.monotonic()
    data = out / "data" / name
    manifest_path = build_dataset(data, spec, data / "manifest.csv", progress=True)
    shifted_dir = out / "data" / f"{name}_shifted"
    shifted_path = build_dataset(shifted_dir, at_fov(spec, ov.SHIFTED_FOV_MM), shifted_dir / "manifest.csv", roles=("test_brain",))
    built = time.monotonic() - t0
    profile = get_profile(profile, manifest=str(manifest_path), data_root=str(data))
    manifest = load_manifest(manifest_path, data)
    cache = RunCache(out / "runs")
    models = {"oracle": train_oracle(profile, manifest, cache=cache), "original": train_original(profile, manifest, cache=cache)}
    per_volume = per_volume_table(models, manifest, profile)
    shifted = per_volume_table({"oracle": models["oracle"]}, load_manifest(shifted_path, shifted_dir), profile, ("test_brain",))
    histories = pd.concat([r.history.assign(model=m, seed=profile.seed) for m, r in models.items()], ignore_index=True)
    tables = {"per_volume": per_volume, "regime": ov.regime_indicators(per_volume, shifted),
              "operating_point": ov.operating_point(per_volume, histories, profile.lr, shifted)}
    target = out / name
    target.mkdir(parents=True, exist_ok=True)
    for key, table in tables.items():
        table.to_csv(target / f"{key}.csv", index=key != "per_volume")
    record = {"spec": json.loads(spec.volume_key()), "counts": {r: spec.count(r) for r in ("retain", "val", "test_brain", "forget", "test_knee")},
              "profile": profile.name, "profile_fields": profile.train_identity(), "seed": profile.seed, "build_s": round(built, 1),
              "train_s": {m: round(r.wall_time_s, 1) for m, r in models.items()}}
    (target / "record.json").write_text(json.dumps(record, indent=2) + "\n")
    return tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="a name for the candidate (its folder under --out)")
    parser.add_argument("--spec", nargs="*", metavar="KEY=JSON", help="DatasetSpec changes from the default")
    parser.add_argument("--set", dest="overrides", nargs="*", metavar="KEY=JSON", help="profile changes")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--base", choices=sorted(BASES), default="default", help="the DatasetSpec --spec changes")
    parser.add_argument("--out", type=Path, default=paths.runs_dir() / "regime_study")
    args = parser.parse_args(argv)
    try:
        spec = candidate_spec(key_values(args.spec, "--spec"), BASES[args.base]())
        profile = get_profile(args.profile, **key_values(args.overrides, "--set"))
    except MriUnlearnError as err:
        parser.error(str(err))
    tables = run(args.name, spec, profile, args.out)
    with pd.option_context("display.width", 160, "display.max_colwidth", 60):
        print(ov.format_operating_point(tables["operating_point"]).to_string())
        print(tables["regime"].round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
