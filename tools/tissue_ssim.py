"""Where each model loses SSIM on a regime-study candidate's test volumes, tissue by tissue.

Reads what ``tools/regime_study.py NAME`` left under ``--out`` (the candidate's data, its
``record.json`` and the trained G and Ĝ in the run cache; the same ``--set`` profile changes must be
given, and a model not found there is an error, never trained), re-draws each test volume's tissue labels from the simulator (the files do not store them)
and splits every model's fastMRI SSIM deficit by tissue
(:func:`~mriunlearn.metrics.ssim_by_label`). Writes ``DIR/NAME/tissue_ssim.csv``: per model,
role and tissue the pixels, the mean SSIM there and the tissue's share of the role's SSIM deficit
(the shares of a model and role sum to 1 − its SSIM).

Usage::

    python tools/tissue_ssim.py NAME [--set KEY=JSON ...] [--profile default] [--out DIR] [--roles test_knee ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import torch

from mriunlearn import paths, train
from mriunlearn.cache import RunCache
from mriunlearn.cli import key_values
from mriunlearn.errors import ConfigError, MriUnlearnError
from mriunlearn.manifest import Manifest, load_manifest
from mriunlearn.metrics import reconstruct_volume, ssim_by_label
from mriunlearn.profiles import Profile, get_profile
from mriunlearn.simulate.brain import BRAIN_LABELS
from mriunlearn.simulate.build import DatasetSpec, generate_volume
from mriunlearn.simulate.knee import KNEE_LABELS

LABELS = {"brain": BRAIN_LABELS, "knee": KNEE_LABELS}


#: ``record.json``'s volume counts and the :class:`DatasetSpec` fields they are
COUNT_FIELDS = {"retain": "brain_retain", "val": "brain_val", "test_brain": "brain_test",
                "forget": "knee_forget", "test_knee": "knee_test"}


def recorded_spec(record: dict) -> DatasetSpec:
    """The :class:`DatasetSpec` a candidate's ``record.json`` was built with (its volume key and counts)."""
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in record["spec"].items() if k != "sim_version"}
    counts = {COUNT_FIELDS[role]: n for role, n in record["counts"].items()}
    return DatasetSpec(**fields, **counts)


def cached_model(cache: RunCache, profile: Profile, manifest: Manifest, roles: tuple[str, ...]) -> torch.nn.Module:
    """The model the regime study trained on ``roles``, from its run cache; never trains one."""
    entry = cache.entry(train.KIND, train.train_config(profile, roles, None), manifest.content_hash(), profile.seed)
    if not entry.is_done():
        raise ConfigError(f"no finished training on {'+'.join(roles)} in {cache.root} for this candidate and "
                          "profile: give the --set changes its regime_study call had")
    return train.load_result(entry, profile, roles).model


def tissue_table(name: str, overrides: dict, out: Path, roles: list[str], profile_name: str = "default") -> pd.DataFrame:
    """Per model (zero_filled, oracle, original), role and tissue: pixels, mean SSIM, deficit share."""
    record_path = out / name / "record.json"
    if not record_path.exists():
        raise ConfigError(f"{record_path} not found: run tools/regime_study.py {name} --out {out} first")
    spec = recorded_spec(json.loads(record_path.read_text()))
    data = out / "data" / name
    profile = get_profile(profile_name, manifest=str(data / "manifest.csv"), data_root=str(data), **overrides)
    manifest = load_manifest(data / "manifest.csv", data)  # the models' cache keys hash it
    cache = RunCache(out / "runs")
    models = {"zero_filled": None, "oracle": cached_model(cache, profile, manifest, ("retain",)),
              "original": cached_model(cache, profile, manifest, ("retain", "forget"))}
    rows = []
    for plan in (p for p in spec.plan() if p.role in roles):
        labels = generate_volume(spec, plan.organ, plan.index).labels
        for model_name, model in models.items():
            target, recon, _ = reconstruct_volume(model, data / plan.file, profile)
            for code, (pixels, ssim_sum) in ssim_by_label(target, recon, labels).items():
                rows.append({"model": model_name, "role": plan.role, "tissue": LABELS[plan.organ][code],
                             "pixels": pixels, "ssim_sum": ssim_sum})
    table = pd.DataFrame(rows).groupby(["model", "role", "tissue"], as_index=False)[["pixels", "ssim_sum"]].sum()
    total = table.groupby(["model", "role"])["pixels"].transform("sum")
    table["ssim"] = table["ssim_sum"] / table["pixels"]
    table["deficit_share"] = (table["pixels"] - table["ssim_sum"]) / total
    return table.drop(columns="ssim_sum")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="the candidate's name (its folder under --out)")
    parser.add_argument("--set", dest="overrides", nargs="*", metavar="KEY=JSON", help="the candidate's profile changes")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--out", type=Path, default=paths.runs_dir() / "regime_study")
    parser.add_argument("--roles", nargs="*", default=["test_knee"])
    args = parser.parse_args(argv)
    try:
        table = tissue_table(args.name, key_values(args.overrides, "--set"), args.out, args.roles, args.profile)
    except MriUnlearnError as err:
        parser.error(str(err))
    table.to_csv(args.out / args.name / "tissue_ssim.csv", index=False)
    print(table.round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
