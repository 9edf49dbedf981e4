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
    from mriunlearn.model import build_model
    from mriunlearn.profiles import get_profile
    from mriunlearn.train import make_optimizer, train_step

    device = torch.device("cuda")
    profile = get_profile("paper", precision=args.precision, num_cascades=args.cascades,
                          batch_size=args.batch)
    model = build_model(profile).to(device).train()
    optimizer = make_optimizer(model, profile)
    batch = synthetic_batch(args.batch, args.coils, args.size, profile)
    batch = batch._replace(masked_kspace=batch.masked_kspace.to(device), mask=batch.mask.to(device),
                           target=batch.target.to(device), max_value=batch.max_value.to(device))
    for _ in range(2):
        train_step(model, optimizer, batch, profile)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        train_step(model, optimizer, batch, profile)
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "profile": "paper",
              "cascades": args.cascades, "size": args.size, "coils": args.coils, "batch": args.batch,
              "precision": args.precision, "steps": args.steps,
              "slices_per_s": args.steps * args.batch / wall, "ms_per_step": 1000 * wall / args.steps,
              "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
