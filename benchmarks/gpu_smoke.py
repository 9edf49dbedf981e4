"""GPU smoke benchmark: a few training steps of the ``paper`` profile's E2E-VarNet on a CUDA device.

Self-contained: synthetic multi-coil k-space (no data needed), the ``paper`` model (12 cascades,
chans 18, 4 pools, sens_chans 8, sens_pools 4) at 320x320, bf16 autocast with fp32 master weights,
the engine's own :func:`mriunlearn.train.train_step` (loss SSIM + 1e-5 L1, clipping, Adam).
Prints slices/s, peak GPU memory (``torch.cuda.max_memory_allocated``) and forward + backward
of the engine's folded forward against the plainly centred one (:func:`time_forwards`). Where no CUDA device
exists it prints why and exits 0.

``--paper-scale`` (under 8 minutes on one GPU): writes a few fastMRI-shaped brain files (16 coils,
k-space 640 x 320, target 320 x 320; :func:`benchmarks.scale.write_volumes`) to a temporary folder
and trains the full ``paper`` model (12 cascades, chans 18) in bf16, fed by the engine's streaming
loader (:class:`~mriunlearn.dataset.StreamingSliceData`, ``--workers`` DataLoader workers, pinned
batches). Prints the loader's slices/s alone, the training step's slices/s on a resident batch
(compute only), the fed training loop's slices/s, peak GPU memory, and the time 50 epochs over the
paper's retain + forget set would take at the fed rate (:data:`PAPER_SLICES_PER_EPOCH`; the rate
after each epoch's first batch, plus one loader start-up per epoch; validation not included).
Then (unless ``--no-engine``) the engine check (:func:`run_engine_path`): G trained and unlearned
with NL-FT through the entry points the CLI uses (``train_original``, ``run_unlearning`` with its
BTA/KTA/UA evaluation), 2 optimiser steps each, recording the device of every module that runs;
PASS when training, unlearning and evaluation ran only on the process's default device (the GPU),
else FAIL and exit status 1 (a single-GPU process once unlearned on the CPU).

``--device cpu`` runs the timed loop on the CPU (with ``--tiny``: a shrunk model at a small size,
in seconds: the check of this code path without a GPU); the engine check always uses the default
device.

Usage::

    python benchmarks/gpu_smoke.py [--steps 10] [--coils 16] [--size 320] [--batch 1] [--cascades 12]
    python benchmarks/gpu_smoke.py --paper-scale [--volumes 4] [--slices 8] [--workers 4] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script from anywhere

#: the paper's training set, for the extrapolation: retain ~1,000 brain volumes x 16 slices,
#: forget 20 knee volumes x ~35 slices (fastMRI brain AXT2 volumes hold ~16 slices, knee ~35)
PAPER_RETAIN = (1000, 16)
PAPER_FORGET = (20, 35)
PAPER_SLICES_PER_EPOCH = PAPER_RETAIN[0] * PAPER_RETAIN[1] + PAPER_FORGET[0] * PAPER_FORGET[1]
PAPER_EPOCHS = 50
#: a shrunk model and size for the CPU check of the paper-scale loop (``--tiny``)
TINY = {"model": {"num_cascades": 1, "chans": 2, "pools": 1, "sens_chans": 2, "sens_pools": 1},
        "coils": 2, "hw": (64, 32)}


def synthetic_batch(batch: int, coils: int, size: int, profile, seed: int = 0):
    """A collated :class:`VarNetSample`: random smooth coil images -> k-space ``(B, C, H, W, 2)``,
    the profile's equispaced mask, RSS target ``(B, H, W)``."""
    import fastmri
    import torch
    from fastmri.data.transforms import VarNetSample, apply_mask

    from mriunlearn.dataset import collate, make_mask_func

    g = torch.Generator().manual_seed(seed)
    samples = []
    mask_func = make_mask_func(profile)
    for b in range(batch):
        low = torch.randn(coils, size // 8, size // 8, 2, generator=g)
        img = torch.nn.functional.interpolate(low.permute(0, 3, 1, 2), size=(size, size), mode="bilinear",
                                              align_corners=False).permute(0, 2, 3, 1).contiguous()
        kspace = fastmri.fft2c(img)
        target = fastmri.rss(fastmri.complex_abs(img), dim=0)
        masked, mask, num_low = apply_mask(kspace, mask_func, seed=(seed, b))
        samples.append(VarNetSample(masked_kspace=masked, mask=mask.to(torch.bool), num_low_frequencies=int(num_low),
                                    target=target, fname=f"synthetic_{b}.h5", slice_num=b,
                                    max_value=float(target.max()), crop_size=(size, size)))
    return collate(samples)


def run_steps(device, *, steps: int = 10, coils: int = 16, size: int = 320, batch: int = 1,
              cascades: int = 12, precision: str = "bf16", warmup: int = 2, **profile_overrides) -> dict:
    """Time ``steps`` training steps (after ``warmup``) of the ``paper`` model on ``device``.

    Returns the result record: device name, settings, ``slices_per_s``, ``ms_per_step`` and
    ``peak_memory_gib`` (``torch.cuda.max_memory_allocated``; ``None`` off CUDA). ``profile_overrides``
    shrink the model for a CPU check of this code path (the tests use it).
    """
    import torch

    from mriunlearn.model import build_model
    from mriunlearn.profiles import get_profile
    from mriunlearn.train import make_optimizer, train_step

    cuda = device.type == "cuda"
    profile = get_profile("paper", precision=precision, num_cascades=cascades, batch_size=batch,
                          **profile_overrides)
    model = build_model(profile).to(device).train()
    optimizer = make_optimizer(model, profile)
    data = synthetic_batch(batch, coils, size, profile)
    data = data._replace(masked_kspace=data.masked_kspace.to(device), mask=data.mask.to(device),
                         target=data.target.to(device), max_value=data.max_value.to(device))
    for _ in range(warmup):
        train_step(model, optimizer, data, profile)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step(model, optimizer, data, profile)
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None
    return {"device": torch.cuda.get_device_name(device) if cuda else str(device), "torch": torch.__version__,
            "profile": "paper", "cascades": cascades, "size": size, "coils": coils, "batch": batch,
            "precision": precision, "steps": steps, "slices_per_s": steps * batch / wall,
            "ms_per_step": 1000 * wall / steps, "peak_memory_gib": peak,
            "forward_backward_ms": time_forwards(model, data, profile, steps)}


def time_forwards(model, batch, profile, steps: int) -> dict[str, float]:
    """Forward + backward of the engine's folded forward against :func:`~mriunlearn.varnet.centred_forward`
    (a checkerboard multiply around every FFT; the same bits), ``steps`` of each, interleaved.

    Returns median ms per step of each (``folded``, ``centred``) and ``centred / folded``.
    """
    import statistics

    import torch

    from mriunlearn.model import autocast
    from mriunlearn.varnet import centred_forward

    cuda = batch.masked_kspace.is_cuda
    forwards = {"folded": type(model).forward, "centred": centred_forward}
    times: dict[str, list[float]] = {name: [] for name in forwards}
    for _ in range(steps):
        for name, forward in forwards.items():
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            with autocast(profile, batch.masked_kspace.device):
                out = forward(model, batch.masked_kspace, batch.mask, batch.num_low_frequencies)
            out.float().square().mean().backward()
            if cuda:
                torch.cuda.synchronize()
            times[name].append(1000 * (time.perf_counter() - t0))
    model.zero_grad(set_to_none=True)
    ms = {name: statistics.median(ts) for name, ts in times.items()}
    return {**ms, "centred_over_folded": ms["centred"] / ms["folded"]}


def _to(batch, device, non_blocking: bool):
    return batch._replace(masked_kspace=batch.masked_kspace.to(device, non_blocking=non_blocking),
                          mask=batch.mask.to(device, non_blocking=non_blocking),
                          target=batch.target.to(device, non_blocking=non_blocking),
                          max_value=batch.max_value.to(device, non_blocking=non_blocking))


def run_paper_scale(device, *, volumes: int = 4, slices: int = 8, coils: int = 16,
                    hw: tuple[int, int] = (640, 320), workers: int = 4, epochs: int = 2,
                    warmup: int = 3, compute_steps: int = 5, precision: str = "bf16",
                    model: dict | None = None, workdir: str | None = None) -> dict:
    """The ``paper`` model trained from the streaming loader on fastMRI-shaped files (see the module
    docstring); returns the result record. ``model`` overrides the network (the CPU test shrinks it);
    ``workdir``: where the files go (default: a temporary folder, removed after)."""
    import torch

    from benchmarks.scale import write_manifest, write_volumes
    from mriunlearn.dataset import make_dataset, make_loader, set_epoch
    from mriunlearn.manifest import load_manifest
    from mriunlearn.model import build_model
    from mriunlearn.profiles import get_profile
    from mriunlearn.train import make_optimizer, train_step

    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda *a: None)
    with tempfile.TemporaryDirectory(prefix="mriunlearn-paper-scale-") as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        files = write_volumes(root, volumes, slices=slices, coils=coils, hw=hw)
        csv = write_manifest(root, files, "retain", "manifest.csv", slices)
        write_s = time.perf_counter() - t0
        profile = get_profile("paper", manifest=str(csv), data_root=str(root), precision=precision,
                              num_workers=workers, **(model or {}))
        manifest = load_manifest(csv, root, verify_hashes=False)
        data = make_dataset(manifest, "retain", profile, train=True)
        loader = make_loader(data, profile, train=True)
        n = len(data)

        set_epoch(loader, 0)  # the loader alone: one epoch, nothing else
        t0 = time.perf_counter()
        loaded = sum(len(b.fname) for b in loader if b is not None)
        loader_s = time.perf_counter() - t0

        net = build_model(profile).to(device).train()
        optimizer = make_optimizer(net, profile)
        first = _to(next(iter(loader)), device, False)
        for _ in range(warmup):
            train_step(net, optimizer, first, profile)
        sync()
        t0 = time.perf_counter()  # compute only: a resident batch
        for _ in range(compute_steps):
            train_step(net, optimizer, first, profile)
        sync()
        compute_s = time.perf_counter() - t0
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        trained = 0
        startup_s = steady_s = 0.0  # per epoch: start to first batch (workers forked afresh), then the rest
        t0 = time.perf_counter()  # the training loop fed by the loader
        for epoch in range(1, epochs + 1):
            set_epoch(loader, epoch)
            te = time.perf_counter()
            tf = None
            for batch in loader:
                if tf is None:
                    tf = time.perf_counter()
                    startup_s += tf - te
                if batch is None:
                    continue
                train_step(net, optimizer, _to(batch, device, cuda), profile)
                trained += len(batch.fname)
            sync()
            steady_s += time.perf_counter() - (tf if tf is not None else te)
        fed_s = time.perf_counter() - t0
    fed_rate = trained / fed_s
    steady_rate = trained / steady_s
    startup = startup_s / epochs
    # an epoch of the paper's set: its slices at the steady fed rate plus one loader start-up
    paper_epoch_s = PAPER_SLICES_PER_EPOCH / steady_rate + startup
    return {
        "device": torch.cuda.get_device_name(device) if cuda else str(device), "torch": torch.__version__,
        "profile": "paper", "model": {k: getattr(profile, k) for k in
                                      ("num_cascades", "chans", "pools", "sens_chans", "sens_pools")},
        "precision": precision, "volumes": volumes, "slices_per_volume": slices, "coils": coils,
        "kspace_hw": list(hw), "workers": workers, "epochs": epochs, "write_s": write_s,
        "loader_slices_per_s": loaded / loader_s,
        "compute_slices_per_s": compute_steps * profile.batch_size / compute_s,
        "train_slices_per_s": fed_rate, "train_steady_slices_per_s": steady_rate,
        "loader_startup_s": startup, "train_slices": trained, "dataset_slices": n,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
        "paper_slices_per_epoch": PAPER_SLICES_PER_EPOCH,
        "paper_set": (f"retain {PAPER_RETAIN[0]} brain volumes x {PAPER_RETAIN[1]} slices + forget "
                      f"{PAPER_FORGET[0]} knee volumes x {PAPER_FORGET[1]} slices"),
        "paper_epochs": PAPER_EPOCHS,
        "paper_epoch_hours": paper_epoch_s / 3600,
        "paper_hours_extrapolated": PAPER_EPOCHS * paper_epoch_s / 3600,
    }


#: the engine check's split of the written files: (role, organ) per volume, in file order
ENGINE_SPLIT = (("retain", "brain"), ("retain", "brain"), ("forget", "knee"), ("val", "brain"),
                ("test_brain", "brain"), ("test_knee", "knee"))


def devices_ok(train_devices: list[str], unlearn_devices: list[str], expected: str) -> bool:
    """The engine check's verdict: both phases ran modules, and only on ``expected``."""
    return bool(train_devices) and bool(unlearn_devices) and set(train_devices) | set(unlearn_devices) == {expected}


def run_engine_path(*, slices: int = 2, coils: int = 16, hw: tuple[int, int] = (640, 320),
                    precision: str = "bf16", workers: int = 2, max_steps: int = 2,
                    method: str = "nl_ft", model: dict | None = None) -> dict:
    """G trained and unlearned through the engine's own entry points, as the CLI runs them.

    Writes six fastMRI-shaped volumes (:data:`ENGINE_SPLIT`: 2 retain, 1 forget, 1 val, 1 test_brain,
    1 test_knee; the "knee" ones are brain-shaped files labelled knee: only where tensors live is
    checked), then :func:`mriunlearn.train.train_original` and
    :func:`mriunlearn.unlearning.runner.run_unlearning` (``method``, evaluation of BTA/KTA/UA
    included) with the ``paper`` profile capped at ``max_steps`` optimiser steps, into a temporary
    run cache. A global forward pre-hook records the device of the parameters of every module
    that runs, separately for training and unlearning: the check is that both ran only on this
    process's device (:func:`mriunlearn.distributed.default_device`: the GPU when there is one).
    Returns ``{"expected_device", "train_devices", "unlearn_devices", "ok", "train_s",
    "unlearn_s", "bta", "kta", "ua", "model", "max_steps", "method"}``.
    """
    import torch

    from benchmarks.scale import write_volumes
    from mriunlearn import manifest as manifest_mod
    from mriunlearn.cache import RunCache
    from mriunlearn.distributed import default_device
    from mriunlearn.profiles import get_profile
    from mriunlearn.train import train_original
    from mriunlearn.unlearning.runner import run_unlearning

    seen: set[str] = set()

    def record(module, args):
        param = next(module.parameters(recurse=False), None)
        if param is not None:
            seen.add(str(param.device))

    with tempfile.TemporaryDirectory(prefix="mriunlearn-engine-") as tmp:
        root = Path(tmp)
        files = write_volumes(root, len(ENGINE_SPLIT), slices=slices, coils=coils, hw=hw)
        rows = [manifest_mod.file_row(f, root, organ, role, slices, hash_file=False)
                for f, (role, organ) in zip(files, ENGINE_SPLIT)]
        csv = manifest_mod.write_manifest(rows, root / "engine.csv")
        profile = get_profile("paper", manifest=str(csv), data_root=str(root), precision=precision,
                              num_workers=workers, max_steps=max_steps, **(model or {}))
        cache = RunCache(root / "runs")
        handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
        try:
            t0 = time.perf_counter()
            g = train_original(profile, cache=cache, progress=False)
            train_s = time.perf_counter() - t0
            train_devices = sorted(seen)
            seen.clear()
            t0 = time.perf_counter()
            res = run_unlearning(profile, method=method, cache=cache, original=g, progress=False,
                                 eval_every_epoch=False)
            unlearn_s = time.perf_counter() - t0
            unlearn_devices = sorted(seen)
        finally:
            handle.remove()
    expected = str(default_device())
    final = res.per_epoch[res.per_epoch["metric"] == "psnr"].groupby("column")["mean"].last()
    return {"expected_device": expected, "train_devices": train_devices, "unlearn_devices": unlearn_devices,
            "ok": devices_ok(train_devices, unlearn_devices, expected),
            "train_s": train_s, "unlearn_s": unlearn_s, "method": method, "max_steps": max_steps,
            "model": {k: getattr(profile, k) for k in ("num_cascades", "chans", "pools", "sens_chans",
                                                       "sens_pools")},
            **{c.lower(): float(final.get(c, float("nan"))) for c in ("BTA", "KTA", "UA")}}


def format_engine_path(res: dict) -> str:
    """The record of :func:`run_engine_path` as one verdict line."""
    verdict = "PASS" if res["ok"] else "FAIL"
    return (f"engine path (train_original + run_unlearning {res['method']}, {res['max_steps']} steps each, "
            f"model {res['model']}): training ran on {res['train_devices']}, unlearning and its "
            f"evaluation on {res['unlearn_devices']}; expected {res['expected_device']}: {verdict} "
            f"({res['train_s']:.1f} s + {res['unlearn_s']:.1f} s; PSNR BTA {res['bta']:.2f}, "
            f"KTA {res['kta']:.2f}, UA {res['ua']:.2f} dB after {res['max_steps']} steps: not a result)")


def format_paper_scale(res: dict) -> str:
    """The record of :func:`run_paper_scale` as a few readable lines."""
    mem = "-" if res["peak_memory_gib"] is None else f"{res['peak_memory_gib']:.1f} GiB"
    head = (f"paper scale on {res['device']} (torch {res['torch']}), {res['precision']}, model {res['model']}, "
            f"{res['volumes']} volumes x {res['slices_per_volume']} slices, {res['coils']} coils, k-space "
            f"{res['kspace_hw'][0]}x{res['kspace_hw'][1]}, {res['workers']} loader workers")
    fed = (f"training slices/s (fed, {res['epochs']} ep):   {res['train_slices_per_s']:.2f} overall, "
           f"{res['train_steady_slices_per_s']:.2f} after each epoch's first batch "
           f"(loader start-up {res['loader_startup_s']:.1f} s/epoch)")
    paper = (f"paper epoch: {res['paper_slices_per_epoch']} slices ({res['paper_set']}); "
             f"{res['paper_epochs']} epochs at the steady fed rate plus one start-up per epoch: "
             f"{res['paper_hours_extrapolated']:.1f} h ({res['paper_epoch_hours']:.2f} h/epoch; "
             "validation not included)")
    return "\n".join([head,
                      f"loader slices/s (alone):         {res['loader_slices_per_s']:.1f}",
                      f"train step slices/s (compute):   {res['compute_slices_per_s']:.2f}",
                      fed,
                      f"peak GPU memory:                 {mem}",
                      paper])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed training steps (after 2 warm-up steps)")
    parser.add_argument("--coils", type=int, default=16)
    parser.add_argument("--size", type=int, default=320, help="image height = width")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--cascades", type=int, default=12)
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--paper-scale", action="store_true",
                        help="train the paper model from the streaming loader on fastMRI-shaped files")
    parser.add_argument("--volumes", type=int, default=4, help="--paper-scale: files written")
    parser.add_argument("--slices", type=int, default=8, help="--paper-scale: slices per file")
    parser.add_argument("--workers", type=int, default=4, help="--paper-scale: DataLoader workers")
    parser.add_argument("--epochs", type=int, default=2, help="--paper-scale: timed epochs of the fed loop")
    parser.add_argument("--no-engine", action="store_true",
                        help="--paper-scale: skip the engine check (G trained and unlearned through "
                             "train_original and run_unlearning, 2 steps each; must run on the GPU)")
    parser.add_argument("--device", default="cuda", help="cuda (default; skipped without one) or cpu")
    parser.add_argument("--tiny", action="store_true",
                        help="--paper-scale: a shrunk model, 2 coils, 64x32 (the CPU check of the loop)")
    args = parser.parse_args(argv)

    import torch

    if args.paper_scale:
        device = torch.device(args.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            print("gpu_smoke --paper-scale: no CUDA device here (torch.cuda.is_available() is False); "
                  "skipped (--device cpu runs the loop on the CPU).")
            return 0
        extra = {"model": TINY["model"], "coils": TINY["coils"], "hw": TINY["hw"]} if args.tiny else {}
        res = run_paper_scale(device, volumes=args.volumes, slices=args.slices, workers=args.workers,
                              epochs=args.epochs, precision=args.precision, **extra)
        print(format_paper_scale(res))
        if not args.no_engine:
            res["engine"] = run_engine_path(precision=args.precision, workers=min(args.workers, 2),
                                            **{k: extra[k] for k in ("model", "coils", "hw") if k in extra})
            print(format_engine_path(res["engine"]))
        print(json.dumps(res, indent=2))
        return 0 if res.get("engine", {"ok": True})["ok"] else 1
    if not torch.cuda.is_available():
        print("gpu_smoke: no CUDA device here (torch.cuda.is_available() is False); skipped.")
        return 0
    result = run_steps(torch.device("cuda"), steps=args.steps, coils=args.coils, size=args.size,
                       batch=args.batch, cascades=args.cascades, precision=args.precision)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
