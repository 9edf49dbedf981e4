"""``python -m benchmarks [MODE ...]`` (``make bench``): run benchmarks, print tables, write results.

Modes: ``throughput`` (training step vs the authors' loop, ablation), ``breakdown`` (where the
training step's time goes: sensitivity network, cascade U-Nets, k-space physics, loss, optimiser),
``precision`` (bf16 vs fp32 PSNR), ``datapath`` (loader vs training), ``unlearning`` (cost of every
method vs retraining), ``scale`` (peak memory of training and evaluation on N and 4N fastMRI-shaped
640x320 16-coil volumes, streaming vs in memory, the header check's cost per volume, and the
streaming loader's slices/s with 0/2/4 workers vs the training step; a few minutes; ignores
``--profile``: it writes its own ``paper``-format files), ``e2e`` (``make reproduce`` first run and
cached re-run; only on request, ~40 minutes).
Default: ``throughput breakdown precision datapath unlearning scale`` (most of the time goes to
precision's three trainings at the profile's epochs, and to the first training of G and the oracle
for ``unlearning``, which the run cache keeps for the next time).
``make bench BENCH_ARGS="precision --precision-seeds 5"`` passes arguments through.

Results go to ``benchmarks/results/latest.json`` and ``latest.md`` (sections of modes not run are
kept from the previous file).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_MODES = ("throughput", "breakdown", "precision", "datapath", "unlearning", "scale")
MODES = (*DEFAULT_MODES, "e2e")
#: the default run cache of the unlearning benchmark (outside the repository's runs/)
DEFAULT_RUNS = Path(tempfile.gettempdir()) / "mriunlearn-bench-runs"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("modes", nargs="*", metavar="MODE",
                   help=f"any of {', '.join(MODES)} (default: {' '.join(DEFAULT_MODES)})")
    p.add_argument("--profile", default="default", help="profile name (default: default)")
    p.add_argument("--manifest", default=None, help="manifest CSV (default: the profile's)")
    p.add_argument("--data-root", default=None, help="data root of --manifest")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads for every timed run (default 0: what training uses, i.e. the "
                        "profile's num_threads or all cores; run on an idle machine, since OpenMP threads "
                        "stall whenever another process competes for the cores)")
    p.add_argument("--reps", type=int, default=10, help="interleaved repetitions of the throughput ablation")
    p.add_argument("--datapath-reps", type=int, default=6)
    p.add_argument("--precision-epochs", type=int, default=None,
                   help="epochs of the bf16-vs-fp32 runs (default: the profile's)")
    p.add_argument("--precision-seeds", type=int, default=1,
                   help="seeds of the bf16-vs-fp32 comparison (the paired criterion needs >= 5; fewer: not judged)")
    p.add_argument("--rejudge", action="store_true",
                   help="precision: judge the stored runs (latest.json) again by today's rule, no training")
    p.add_argument("--runs", default=str(DEFAULT_RUNS),
                   help=f"run cache for G and the oracle (default {DEFAULT_RUNS}; 'repo' = the repository's runs/)")
    p.add_argument("--methods", default=None, help="comma-separated unlearning methods (default: all)")
    p.add_argument("--e2e-command", default=None, help="command timed by e2e (default: make reproduce)")
    p.add_argument("--scale-volumes", type=int, default=2, help="scale: N, volumes of the smaller run")
    p.add_argument("--scale-slices", type=int, default=8, help="scale: slices per volume")
    p.add_argument("--scale-factor", type=int, default=4, help="scale: the larger run has FACTOR x N volumes")
    p.add_argument("--scale-max-steps", type=int, default=16,
                   help="scale: cap on a training epoch's steps (0 = no cap; default 16, the whole N epoch)")
    p.add_argument("--scale-workers", type=int, default=2, help="scale: DataLoader workers of the streaming runs")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = p.parse_args(argv)
    bad = [m for m in args.modes if m not in MODES]
    if bad:
        p.error(f"unknown mode(s) {bad}; valid modes: {', '.join(MODES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from mriunlearn import paths
    from mriunlearn.model import native_bf16
    from mriunlearn.profiles import get_profile

    from . import common

    modes = list(dict.fromkeys(args.modes or DEFAULT_MODES))
    overrides = {}
    if args.manifest:
        overrides["manifest"] = args.manifest
        overrides["data_root"] = args.data_root or str(Path(args.manifest).parent)
    if args.threads < 0:
        raise SystemExit("--threads must be >= 0")
    if args.threads > 0:
        overrides["num_threads"] = args.threads
    profile = get_profile(args.profile, **overrides)
    out = Path(args.out) if args.out else common.RESULTS_DIR
    sections = {}
    own_data = ("e2e", "scale", *(("precision",) if args.rejudge else ()))  # modes that need no manifest
    manifest = profile.load_manifest() if any(m not in own_data for m in modes) else None
    if profile.num_threads > 0:
        torch.set_num_threads(profile.num_threads)
    for mode in modes:
        t0 = time.perf_counter()
        print(f"[bench] {mode} ...", flush=True)
        if mode == "throughput":
            from . import throughput
            sec = throughput.run(profile, manifest, reps=args.reps,
                                 threads=profile.num_threads or None)
        elif mode == "breakdown":
            from . import breakdown
            sec = breakdown.run(profile, manifest, reps=args.reps)
        elif mode == "precision" and args.rejudge:
            from . import precision
            stored = common.load_results(out).get("precision")
            if stored is None:
                raise SystemExit(f"--rejudge: no precision section in {out / 'latest.json'} to judge again")
            sec = precision.rejudge(stored)
        elif mode == "precision" and not native_bf16():
            print("[bench] precision skipped: this CPU has no native bf16 (AVX512-BF16 or AMX), so the profile's "
                  "bf16 runs in fp32 here and there is nothing to compare; the stored section is kept", flush=True)
            continue
        elif mode == "precision":
            from . import precision
            sec = precision.run(profile, manifest, epochs=args.precision_epochs, seeds=args.precision_seeds)
        elif mode == "datapath":
            from . import datapath
            sec = datapath.run(profile, manifest, reps=args.datapath_reps)
        elif mode == "unlearning":
            from . import unlearning_cost
            runs = paths.runs_dir() if args.runs == "repo" else Path(args.runs)
            methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
            sec = unlearning_cost.run(profile, manifest, runs, methods=methods)
        elif mode == "scale":
            from . import scale
            sec = scale.run(volumes=args.scale_volumes, slices=args.scale_slices, factor=args.scale_factor,
                            max_steps=args.scale_max_steps or None, num_workers=args.scale_workers,
                            threads=profile.num_threads)
        else:
            from . import e2e
            sec = e2e.run(args.e2e_command)
        sec["seconds"] = time.perf_counter() - t0
        sections[mode] = sec
        print(f"\n## {mode} ({sec['seconds']:.0f} s)\n\n{sec['markdown']}\n", flush=True)
        common.write_results({mode: sec}, out)  # keep what is done if a later mode fails
    json_path, md_path = common.write_results(sections, out)
    print(f"[bench] wrote {json_path} and {md_path}")
    failed = [m for m, s in sections.items() if s.get("pass") is False or s.get("ok") is False]
    if failed:
        print(f"[bench] targets missed: {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
