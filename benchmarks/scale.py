"""Scale: does memory stay flat as the data grows, and can the streaming loader feed training?

Two measurements on fastMRI-shaped files written here (brain AXT2: 16 coils, k-space 640 x 320,
``reconstruction_rss`` 320 x 320, the ``paper`` profile's data format) with the ``paper`` recipe
and a shrunk model (:data:`SCALE_MODEL`: only the network is smaller, so a CPU runs it in minutes):

1. **Peak memory.** One training epoch (capped at ``max_steps`` steps) and one evaluation
   (:func:`mriunlearn.metrics.evaluate`) on N volumes and on ``factor`` x N volumes, each in its own
   fresh subprocess (``python -m benchmarks.scale --child``) that reports
   ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (its own peak RSS) and ``RUSAGE_CHILDREN`` (the
   largest reaped child's: the DataLoader workers, which also count the pages they share with the
   main process, and any helper a library forks, which on Linux inherits the parent's peak at
   ``fork``). The figure compared is the larger of the two (the largest single process). Criterion, for training and evaluation separately: the streaming path's peak on
   ``factor`` x N volumes is at most :data:`RATIO_LIMIT` x its peak on N volumes. The in-memory
   path is measured beside it for contrast (it holds every volume, so it grows).
   N must hold at least ``workers x 2`` slices (the loaders' prefetch depth) so that the prefetch
   queue is already full on N volumes and does not count as growth.
2. **Loader vs training at real size.** Slices/s of the streaming training loader alone (one epoch
   over the ``factor`` x N volumes, mask drawing and collation included) with 0, 2 and 4 DataLoader
   workers, interleaved with the training step of the same model on batches drawn beforehand; each
   loader's rate is also given as a multiple of the training step's. On a GPU the training step is
   ~100x faster: ``python benchmarks/gpu_smoke.py --paper-scale`` measures that case.

The files are read from the page cache after the first pass (a real disk is slower): the loader
rates are an upper bound on what a cold data set delivers.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: the model of the scale runs: the ``paper`` profile's data and recipe, a smaller network
SCALE_MODEL: dict[str, int] = {"num_cascades": 1, "chans": 4, "pools": 4, "sens_chans": 4, "sens_pools": 4}
#: streaming criterion: peak memory on ``factor`` x N volumes at most this times the peak on N
RATIO_LIMIT = 1.2
MEMORY_COLUMNS = ["data_path", "task", "volumes", "slices", "steps", "peak_mib", "main_peak_mib",
                  "children_peak_mib", "wall_s"]
LOADER_COLUMNS = ["unit", "workers", "slices_per_unit", "slices_per_s", "q1", "q3", "x_training"]
_MARK = "SCALE-CHILD-RESULT "


# ---------------------------------------------------------------------------------------------
# data: fastMRI-shaped brain volumes
# ---------------------------------------------------------------------------------------------

def _coil_maps(coils: int, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[-1:1:complex(0, h), -1:1:complex(0, w)]
    angles = 2 * np.pi * np.arange(coils) / coils
    return np.stack([np.exp(-((x - 1.2 * np.cos(a)) ** 2 + (y - 1.2 * np.sin(a)) ** 2) / 1.5)
                     * np.exp(1j * (a + 0.5 * x)) for a in angles]).astype(np.complex64)


def volume_arrays(slices: int, coils: int, hw: tuple[int, int], seed: int,
                  target_hw: tuple[int, int] = (320, 320)) -> tuple[np.ndarray, np.ndarray]:
    """``kspace`` complex64 ``(S, C, H, W)`` and RSS ``target`` float32 ``(S, *target_hw)`` of one
    brain-like volume (smooth head phantom x smooth coil maps, the object filling the central half of
    the 2x oversampled readout, a little noise). Seeded: the same call gives the same arrays."""
    rng = np.random.default_rng(seed)
    h, w = hw
    maps = _coil_maps(coils, h, w)
    y, x = np.mgrid[-2:2:complex(0, h), -1:1:complex(0, w)]
    kspace = np.empty((slices, coils, h, w), np.complex64)
    target = np.zeros((slices, *target_hw), np.float32)
    th, tw = min(h, target_hw[0]), min(w, target_hw[1])
    for s in range(slices):
        img = np.zeros((h, w), np.float32)
        shapes = [(0, 0, 0.8, 0.9, 1.0), (0, 0, 0.65, 0.75, -0.4)]
        shapes += [(rng.uniform(-.4, .4), rng.uniform(-.4, .4), rng.uniform(.08, .2), rng.uniform(.08, .2),
                    rng.uniform(.2, .5)) for _ in range(3)]
        for cx, cy, a, b, val in shapes:
            img[((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1] += val
        coil = np.abs(img)[None] * maps
        k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coil, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
        k += 1e-3 * (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape))
        kspace[s] = k
        rss = np.sqrt((np.abs(coil) ** 2).sum(0))
        target[s, (target_hw[0] - th) // 2:(target_hw[0] - th) // 2 + th,
               (target_hw[1] - tw) // 2:(target_hw[1] - tw) // 2 + tw] = \
            rss[(h - th) // 2:(h - th) // 2 + th, (w - tw) // 2:(w - tw) // 2 + tw]
    return kspace, target


def write_volumes(root: str | os.PathLike[str], volumes: int, *, slices: int = 2, coils: int = 16,
                  hw: tuple[int, int] = (640, 320), seed: int = 0) -> list[Path]:
    """Write ``volumes`` fastMRI-shaped brain AXT2 files under ``root/brain_multicoil_train`` (fastMRI
    file names, one patient each); returns their paths in order."""
    from mriunlearn import fastmri_h5

    root = Path(root)
    paths = []
    for v in range(volumes):
        side = min(320, hw[1])  # fastMRI brain targets: 320 x 320 (smaller only for tiny test shapes)
        kspace, target = volume_arrays(slices, coils, hw, seed=seed + v, target_hw=(side, side))
        path = root / "brain_multicoil_train" / f"file_brain_AXT2_200_{6000000 + v}.h5"
        path.parent.mkdir(parents=True, exist_ok=True)
        fastmri_h5.write_volume(path, kspace, target, patient_id=f"scale{v}", acquisition="AXT2")
        paths.append(path)
    return paths


def write_manifest(root: str | os.PathLike[str], files: Sequence[Path], role: str, name: str,
                   slices: int) -> Path:
    """A manifest ``root/name`` listing ``files`` (brain) in ``role`` (no hashes, as for real data)."""
    from mriunlearn import manifest

    root = Path(root)
    rows = [manifest.file_row(Path(f), root, "brain", role, slices, hash_file=False) for f in files]
    return manifest.write_manifest(rows, root / name)


def scale_profile(manifest: str | os.PathLike[str], data_root: str | os.PathLike[str], *,
                  data_path: str = "stream", num_workers: int = 2, num_threads: int = 0,
                  model: dict[str, int] | None = None, **overrides: Any):
    """The ``paper`` profile on ``manifest`` with the shrunk :data:`SCALE_MODEL` (or ``model``)."""
    from mriunlearn.profiles import get_profile

    return get_profile("paper", manifest=str(manifest), data_root=str(data_root), data_path=data_path,
                       num_workers=num_workers, num_threads=num_threads,
                       **(SCALE_MODEL if model is None else model), **overrides)


# ---------------------------------------------------------------------------------------------
# peak memory, each run in a fresh process
# ---------------------------------------------------------------------------------------------

def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """One training epoch or one evaluation as ``spec`` says; returns its record (peak RSS in KiB)."""

    from mriunlearn.dataset import make_dataset, make_loader, rank_batches, set_epoch
    from mriunlearn.manifest import load_manifest
    from mriunlearn.metrics import evaluate
    from mriunlearn.model import build_model
    from mriunlearn.train import make_optimizer, set_threads, train_step

    profile = scale_profile(spec["manifest"], spec["data_root"], data_path=spec["data_path"],
                            num_workers=spec["num_workers"], num_threads=spec.get("threads", 0),
                            model=spec.get("model"))
    set_threads(profile)
    manifest = load_manifest(spec["manifest"], spec["data_root"], verify_hashes=False)
    t0 = time.perf_counter()
    model = build_model(profile).train()
    steps = 0
    if spec["task"] == "train":
        data = make_dataset(manifest, "retain", profile, train=True)
        loader = make_loader(data, profile, train=True)
        optimizer = make_optimizer(model, profile)
        set_epoch(loader, 0)
        max_steps = spec.get("max_steps")
        for _, _, batch in rank_batches(loader):
            if max_steps is not None and steps >= max_steps:
                break
            train_step(model, optimizer, batch, profile)
            steps += 1
        slices = len(data)
        del loader
    elif spec["task"] == "eval":
        table = evaluate(model, manifest, "test_brain", profile)
        slices = int(table.slices.sum())
    else:
        raise ValueError(f"unknown task {spec['task']!r}")
    wall = time.perf_counter() - t0
    gc.collect()  # DataLoader workers are joined (so counted in RUSAGE_CHILDREN) once their iterator is gone
    return {"peak_self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "peak_children_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            "slices": slices, "steps": steps, "wall_s": wall}


def measure(spec: dict[str, Any], cwd: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Run :func:`_child` for ``spec`` in a fresh ``python -m benchmarks.scale --child`` process."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.scale", "--child", json.dumps(spec)],
                          cwd=cwd or root, env=env, capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(_MARK):
            rec = json.loads(line[len(_MARK):])
            main, workers = rec["peak_self_kib"] / 1024, rec["peak_children_kib"] / 1024
            return {"main_peak_mib": main, "children_peak_mib": workers, "peak_mib": max(main, workers),
                    "slices": rec["slices"], "steps": rec["steps"], "wall_s": rec["wall_s"]}
    raise RuntimeError(f"scale: the child for {spec['task']} ({spec['data_path']}) reported nothing "
                       f"(exit {proc.returncode}):\n{proc.stderr[-4000:]}")


def growth_verdict(peak_n: float, peak_kn: float, limit: float = RATIO_LIMIT) -> tuple[float, bool]:
    """``(ratio, ok)``: ``ratio = peak_kn / peak_n`` and whether it is at most ``limit``."""
    if peak_n <= 0:
        raise ValueError(f"peak on N volumes must be positive, got {peak_n}")
    ratio = peak_kn / peak_n
    return ratio, ratio <= limit


# ---------------------------------------------------------------------------------------------
# loader vs training step at real size
# ---------------------------------------------------------------------------------------------

def loader_table(manifest, profile, *, workers: Sequence[int] = (0, 2, 4), reps: int = 2, warmup: int = 1,
                 train_batches: int = 2) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    """Rows of the streaming training loader's slices/s (alone, one epoch) with each of ``workers``
    and of the training step of ``profile``'s model (batches drawn beforehand), timed interleaved."""
    from mriunlearn.dataset import make_dataset, make_loader, set_epoch
    from mriunlearn.model import build_model
    from mriunlearn.train import make_optimizer, train_step

    from .common import interleave, summarize

    data = make_dataset(manifest, "retain", profile, train=True)
    loaders = {w: make_loader(data, profile.replace(num_workers=w), train=True) for w in workers}
    epoch = {"n": 0}

    def unit(w: int):
        def load_epoch() -> int:
            set_epoch(loaders[w], epoch["n"])
            epoch["n"] += 1
            return sum(len(b.fname) for b in loaders[w] if b is not None)
        return load_epoch

    batches = []
    for b in make_loader(data, profile.replace(num_workers=0), train=True):
        batches.append(b)
        if len(batches) >= train_batches:
            break
    model = build_model(profile).train()
    opt = make_optimizer(model, profile)

    def train_some() -> int:
        for b in batches:
            train_step(model, opt, b, profile)
        return sum(len(b.fname) for b in batches)

    names = {f"loader, {w} workers": w for w in workers}
    units = {name: unit(w) for name, w in names.items()}
    units["training step"] = train_some
    rates = interleave(units, reps, warmup=warmup)
    train_rate = summarize(rates["training step"])["median"]
    rows = []
    for name, r in rates.items():
        s = summarize(r)
        rows.append({"unit": name, "workers": names.get(name), "slices_per_unit":
                     len(data) if name in names else sum(len(b.fname) for b in batches),
                     "slices_per_s": s["median"], "q1": s["q1"], "q3": s["q3"],
                     "x_training": s["median"] / train_rate})
    return rows, rates


# ---------------------------------------------------------------------------------------------
# the section
# ---------------------------------------------------------------------------------------------

def header_check_ms(files: Sequence[Path], reps: int = 3) -> float:
    """Median over ``reps`` passes of the milliseconds per volume that the pre-training check takes
    (:func:`mriunlearn.fastmri_h5.inspect_volume`: header, dataset shapes and attributes, no k-space
    read), over ``files`` (page cache warm after the first pass; a cold disk is slower)."""
    from mriunlearn.fastmri_h5 import inspect_volume

    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for f in files:
            inspect_volume(f)
        times.append((time.perf_counter() - t0) / len(files) * 1e3)
    return float(np.median(times))


def run(*, volumes: int = 2, slices: int = 8, coils: int = 16, hw: tuple[int, int] = (640, 320),
        factor: int = 4, num_workers: int = 2, max_steps: int | None = 16, threads: int = 0,
        model: dict[str, int] | None = None, loader_workers: Sequence[int] = (0, 2, 4),
        loader_reps: int = 2, paths: Sequence[str] = ("stream", "memory"),
        workdir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Measure and return the ``scale`` section (see the module docstring).

    ``volumes`` x ``slices`` is N; ``factor`` x N the larger run. ``num_workers``: DataLoader workers
    of the streaming runs; ``max_steps``: cap on a training epoch's steps (default 16: the whole
    epoch of N = 2 x 8 slices: both sizes train the same steps, only the data grows; with 8
    slices per volume the in-memory path grows past the limit, so the criterion can tell the paths
    apart; ``separates`` in the result says whether it did); ``threads``: torch threads (0 = all cores);
    ``workdir``: where the files go (default: a temporary folder, removed after).
    """
    from mriunlearn.manifest import load_manifest

    from .common import machine_info, md_table, verdict

    model = dict(SCALE_MODEL if model is None else model)
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="mriunlearn-scale-") as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        files = write_volumes(root, factor * volumes, slices=slices, coils=coils, hw=hw)
        write_s = time.perf_counter() - t0
        sizes = {1: files[:volumes], factor: files}
        manifests = {(k, task): write_manifest(root, fs, "retain" if task == "train" else "test_brain",
                                               f"{task}_{k}x.csv", slices)
                     for k, fs in sizes.items() for task in ("train", "eval")}
        rows = []
        for data_path in paths:
            for task in ("train", "eval"):
                for k, fs in sizes.items():
                    spec = {"task": task, "data_path": data_path, "manifest": str(manifests[(k, task)]),
                            "data_root": str(root), "num_workers": num_workers, "threads": threads,
                            "model": model, "max_steps": max_steps}
                    rec = measure(spec)
                    rows.append({"data_path": data_path, "task": task, "volumes": len(fs), **rec})
                    print(f"[scale] {data_path} {task} {len(fs)} volumes: peak {rec['peak_mib']:.0f} MiB "
                          f"({rec['wall_s']:.0f} s)", flush=True)
        criteria = {}
        for data_path in paths:
            for task in ("train", "eval"):
                small, large = (r for r in rows if r["data_path"] == data_path and r["task"] == task)
                ratio, ok = growth_verdict(small["peak_mib"], large["peak_mib"])
                criteria[f"{data_path} {task}"] = {"ratio": ratio, "ok": ok,
                                                   "grew_mib": large["peak_mib"] - small["peak_mib"]}
        profile = scale_profile(manifests[(factor, "train")], root, num_workers=num_workers,
                                num_threads=threads, model=model)
        manifest = load_manifest(manifests[(factor, "train")], root, verify_hashes=False)
        lrows, _ = loader_table(manifest, profile, workers=loader_workers, reps=loader_reps)
        check_ms = header_check_ms(files)
    stream_keys = [k for k in criteria if k.startswith("stream ")]
    ok = all(criteria[k]["ok"] for k in stream_keys) if stream_keys else None
    # the criterion means something only where the in-memory path, measured beside it, fails it
    separates = {task: not criteria[f"memory {task}"]["ok"] for task in ("train", "eval")
                 if f"memory {task}" in criteria}
    lines = []
    for key, c in criteria.items():
        who = "criterion" if key.startswith("stream ") else "contrast"
        sep = separates.get(key.split()[-1])
        lines.append(f"- {key}: peak x{c['ratio']:.2f} on {factor}x the volumes ({c['grew_mib']:+.0f} MiB); "
                     + (f"<= {RATIO_LIMIT}x: {verdict(c['ok'])}" if who == "criterion"
                        else "in-memory, for contrast: " + (
                            f"grows past {RATIO_LIMIT}x, so this N tells the paths apart" if sep else
                            f"stays within {RATIO_LIMIT}x, so this N is too small to tell the paths apart")))
    lines.append(f"- header check before training (`inspect_volume`: header, shapes, attributes; no k-space "
                 f"read): {check_ms:.2f} ms per volume over {len(files)} files, page cache warm")
    check = ("; ".join(f"{k}: x{criteria[k]['ratio']:.2f} {verdict(criteria[k]['ok'])}" for k in stream_keys)
             + f" (streaming peak on {factor}N <= {RATIO_LIMIT}x N)"
             + ("" if all(separates.values()) else
                "; in-memory also within the limit for " + ", ".join(t for t, v in separates.items() if not v)
                + ": not discriminating at this N"))
    model_txt = ", ".join(f"{k} {v}" for k, v in model.items())
    head = (f"Scale, `paper` profile data format ({coils} coils, k-space {hw[0]}x{hw[1]}, fp32, batch 1) with a "
            f"shrunk model ({model_txt}); N = {volumes} volumes x {slices} slices, {factor}N = "
            f"{factor * volumes} volumes; streaming with {num_workers} DataLoader workers; training epoch capped "
            f"at {max_steps} steps; each run in a fresh process; peak = the larger of the main process's and "
            f"the largest child's (workers) peak RSS; {write_s:.0f} s to write the files.")
    loader_head = (f"Streaming loader alone (one epoch over the {factor}N volumes, page-cached files) vs the "
                   f"training step of the same model on this CPU ({loader_reps} interleaved repetitions); "
                   "x_training = loader slices/s over training-step slices/s. On a GPU run "
                   "`python benchmarks/gpu_smoke.py --paper-scale`.")
    md = "\n".join([head, "", md_table(rows, MEMORY_COLUMNS), "", *lines, "", loader_head, "",
                    md_table(lrows, LOADER_COLUMNS), "", f"**{check}**"])
    return {"machine": machine, "model": model, "volumes": volumes, "slices": slices, "factor": factor,
            "coils": coils, "hw": list(hw), "num_workers": num_workers, "max_steps": max_steps,
            "rows": rows, "criteria": criteria, "ratio_limit": RATIO_LIMIT, "loader_rows": lrows,
            "separates": separates, "header_check_ms_per_volume": check_ms,
            "pass": ok, "check": check, "markdown": md}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        result = _child(json.loads(sys.argv[2]))
        print(_MARK + json.dumps(result), flush=True)
        sys.exit(0)
    sys.exit("usage: python -m benchmarks scale (this module's --child is internal)")
