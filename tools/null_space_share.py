"""How much of the image an acquisition leaves unmeasured: the null-space share of embedded test volumes.

The hallucination maps of notebook 02 (:mod:`mriunlearn.hallucination`) are the part of a
reconstruction's error in the null space of the acquisition. An acquisition that keeps more than
the projector's threshold of every image direction's energy has none, and then every map is zero.
This prints, for a built dataset and each acceleration asked for, the share of image directions the
evaluation acquisition (mask and stored coil maps) leaves unmeasured
(:func:`~mriunlearn.experiments.hallucinations.acquisition_null_shares`), and for comparison the
share of a paper-sized acquisition simulated with the same coil model (``--paper-grid``).

Usage::

    python tools/null_space_share.py --data data/default --manifest data/manifests/default.csv \
        --accelerations 4 8 [--role test_brain] [--paper-grid 640 320 --coils 16 --loop-scale 0.4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from fastmri.data.subsample import EquiSpacedMaskFunc

from mriunlearn.experiments.hallucinations import acquisition_null_shares
from mriunlearn.hallucination import DEFAULT_TOL, null_space_share
from mriunlearn.manifest import load_manifest
from mriunlearn.profiles import get_profile
from mriunlearn.simulate.coils import sample_coil_geometry, sensitivity_maps


def paper_grid_share(grid: tuple[int, int], coils: int, loop_scale: float, acceleration: int,
                     center_fraction: float, seed: int = 0) -> float:
    """Null-space share of one simulated acquisition on ``grid`` (H, W): ``coils`` receive loops of
    the simulator's model (radius factor ``loop_scale``), fastMRI's equispaced mask at
    ``acceleration`` with ``center_fraction``."""
    maps = sensitivity_maps(sample_coil_geometry(coils, np.random.default_rng(seed), loop_scale), grid)
    mask = EquiSpacedMaskFunc([center_fraction], [acceleration])((1, grid[1], 1), seed=seed)[0]
    return null_space_share(maps, mask.reshape(-1).numpy().astype(bool), DEFAULT_TOL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the folder the manifest's files are relative to")
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--accelerations", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--role", default="test_brain")
    parser.add_argument("--center-fraction", type=float, default=None, help="default: the default profile's")
    parser.add_argument("--paper-grid", type=int, nargs=2, metavar=("H", "W"), default=None)
    parser.add_argument("--coils", type=int, default=16)
    parser.add_argument("--loop-scale", type=float, default=0.4)
    args = parser.parse_args(argv)
    manifest = load_manifest(args.manifest, args.data)
    for acc in args.accelerations:
        overrides = {"acceleration": acc, "manifest": str(args.manifest), "data_root": str(args.data)}
        if args.center_fraction is not None:
            overrides["center_fraction"] = args.center_fraction
        profile = get_profile("default", **overrides)
        shares = acquisition_null_shares(manifest, profile, args.role)["null_space_share"]
        print(f"{args.data} x{acc} (centre {profile.center_fraction:g}): null-space share {shares.mean():.3f} "
              f"(min {shares.min():.3f}, max {shares.max():.3f}, {len(shares)} {args.role} volumes)")
        if args.paper_grid:
            grid = tuple(args.paper_grid)
            centre = get_profile("paper").center_fraction
            share = paper_grid_share(grid, args.coils, args.loop_scale, acc, centre)
            print(f"  simulated {grid[0]}x{grid[1]}, {args.coils} loops (scale {args.loop_scale:g}) x{acc}, "
                  f"the paper's centre {centre:g}: {share:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
