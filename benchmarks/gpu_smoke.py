"""GPU smoke benchmark: a few training steps of the ``paper`` profile's E2E-VarNet on a CUDA device.

Self-contained: synthetic multi-coil k-space (no data needed), the ``paper`` model (12 cascades,
chans 18, 4 pools, sens_chans 8, sens_pools 4) at 320x320, bf16 autocast with fp32 master weights,
the engine's own :func:`mriunlearn.train.train_step` (loss SSIM + 1e-5 L1, clipping, Adam).
Prints slices/s and peak GPU memory (``torch.cuda.max_memory_allocated``). Where no CUDA device
exists it prints why and exits 0.

Usage::

    python benchmarks/gpu_smoke.py [--steps 10] [--coils 16] [--size 320] [--batch 1] [--cascades 12]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script from anywhere


def synthetic_batch(batch: int, coils: int, size: int, profile, seed: int = 0):
    """A collated :class:`VarNetSample`: random smooth coil images -> k-space ``(B, C, H, W, 2)``,
    the profile's equispaced mask, RSS target ``(B, H, W)``."""
    import torch
    from fastmri.data.transforms import VarNetSample, apply_mask

    import fastmri
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
    return {"device": torch.cuda.get_device_name(device) if cuda else str(device), "torch": torch.__version__,
            "profile": "paper", "cascades": cascades, "size": size, "coils": coils, "batch": batch,
            "precision": precision, "steps": steps, "slices_per_s": steps * batch / wall,
            "ms_per_step": 1000 * wall / steps,
            "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed training steps (after 2 warm-up steps)")
    parser.add_argument("--coils", type=int, default=16)
    parser.add_argument("--size", type=int, default=320, help="image height = width")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--cascades", type=int, default=12)
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("gpu_smoke: no CUDA device here (torch.cuda.is_available() is False); skipped.")
        return 0
    result = run_steps(torch.device("cuda"), steps=args.steps, coils=args.coils, size=args.size,
                       batch=args.batch, cascades=args.cascades, precision=args.precision)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
