"""Where a training step's time goes: the engine's step split into its parts, timed side by side.

Every unit works on one batch of the profile's retain slices (``batch_size`` same-shape slices) and
is timed interleaved with the others (:func:`benchmarks.common.interleave`), so the shares are
ratios measured under the same machine load:

- ``train step``: :func:`~mriunlearn.train.train_step` as shipped (the 100 % of the shares);
- ``forward + backward``: the model's forward and backward alone (bf16 autocast as the profile says);
- ``sensitivity network``: :func:`~mriunlearn.varnet.sensitivity_maps`, forward and backward
  (its U-Net sees ``batch x coils`` single-coil images);
- ``cascade U-Nets``: one cascade's ``NormUnet`` forward and backward on a ``(B, 1, H, W)``
  image, times ``num_cascades``;
- ``k-space physics`` (derived, not timed): forward + backward minus the two rows above, i.e. the
  FFTs, coil products, data consistency and root-sum-of-squares;
- ``loss``: the profile's loss, forward and backward, on a fixed prediction;
- ``clip + Adam``: gradient clipping and the optimiser step;
- ``forward + backward, centred FFTs``: :func:`~mriunlearn.varnet.centred_forward`, the same
  function with a checkerboard multiply around every FFT: the "before" of the folded modulations.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import torch

from mriunlearn.dataset import SliceData, make_loader, set_epoch
from mriunlearn.losses import recon_loss
from mriunlearn.manifest import Manifest
from mriunlearn.model import autocast, build_model, reconstruct
from mriunlearn.profiles import Profile
from mriunlearn.train import make_optimizer, set_threads, train_step
from mriunlearn.varnet import centred_forward, norm_unet, sensitivity_maps

from .common import interleave, machine_info, md_table, paired_ratios, summarize

COLUMNS = ["part", "ms_per_step", "q1", "q3", "share_of_step"]


def _backward(out: torch.Tensor) -> None:
    """Backward from a scalar of ``out`` (real or complex): what the timing needs, not a loss."""
    (torch.view_as_real(out) if out.is_complex() else out).float().square().mean().backward()


def make_units(profile: Profile, manifest: Manifest) -> dict[str, Callable[[], int]]:
    """The timed parts (name -> callable doing one batch's work, returning 1)."""
    data = SliceData.from_manifest(manifest, "retain", profile, train=True)
    loader = make_loader(data, profile, train=True)
    set_epoch(loader, 0)
    batch = next(b for b in loader if b is not None)
    model = build_model(profile).train()
    optimizer = make_optimizer(model, profile)
    kspace, mask, num_low = batch.masked_kspace.contiguous(), batch.mask, batch.num_low_frequencies
    b, _, h, w, _ = kspace.shape
    image = torch.randn(b, 1, h, w, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    pred = reconstruct(model, batch, profile).detach().requires_grad_()

    def unit(fn: Callable[[], object]) -> Callable[[], int]:
        def run() -> int:
            fn()
            return 1
        return run

    def backward_of(forward: Callable[[], torch.Tensor]) -> Callable[[], int]:
        def fn() -> None:
            model.zero_grad(set_to_none=True)
            with autocast(profile):
                out = forward()
            _backward(out)
        return unit(fn)

    def clip_and_step() -> None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), profile.grad_clip)
        optimizer.step()

    return {
        "train step": unit(lambda: train_step(model, optimizer, batch, profile)),
        "forward + backward": backward_of(lambda: model(kspace, mask, num_low)),
        "sensitivity network": backward_of(lambda: sensitivity_maps(model.sens_net, kspace, mask, num_low)),
        "cascade U-Nets": backward_of(lambda: norm_unet(model.cascades[0].model, image)),
        "loss": unit(lambda: recon_loss(pred, batch.target, batch.max_value, profile,
                                        reduction="none").sum().backward()),
        "clip + Adam": unit(clip_and_step),
        "forward + backward, centred FFTs": backward_of(lambda: centred_forward(model, kspace, mask, num_low)),
    }


def _rows(ms: dict[str, dict[str, float]], cascades: int) -> list[dict[str, Any]]:
    """Table rows in ms per step: the U-Net row times ``cascades``, the physics row derived."""
    def row(part: str, stats: dict[str, float], times: int = 1) -> dict[str, Any]:
        return {"part": part, "ms_per_step": times * stats["median"], "q1": times * stats["q1"],
                "q3": times * stats["q3"]}

    physics = (ms["forward + backward"]["median"] - ms["sensitivity network"]["median"]
               - cascades * ms["cascade U-Nets"]["median"])
    rows = [row(name, ms[name]) for name in ("train step", "forward + backward", "sensitivity network")]
    rows.append(row(f"cascade U-Nets (x{cascades})", ms["cascade U-Nets"], cascades))
    rows.append({"part": "k-space physics (derived)", "ms_per_step": physics, "q1": None, "q3": None})
    rows += [row(name, ms[name]) for name in ("loss", "clip + Adam", "forward + backward, centred FFTs")]
    for r in rows:
        r["share_of_step"] = r["ms_per_step"] / ms["train step"]["median"]
    return rows


def run(profile: Profile, manifest: Manifest, *, reps: int = 10, warmup: int = 1) -> dict[str, Any]:
    """Time the parts and return the section for ``latest.json`` (rows, markdown, the fold's ratio)."""
    set_threads(profile)
    units = make_units(profile, manifest)
    machine = machine_info()
    rates = interleave(units, reps, warmup=warmup)
    ms = {name: summarize([1000 / r for r in rs]) for name, rs in rates.items()}
    rows = _rows(ms, profile.num_cascades)
    fold = statistics.median(paired_ratios(rates["forward + backward"], rates["forward + backward, centred FFTs"]))
    note = (f"forward + backward with the checkerboards folded into k-space and maps runs {fold:.2f}x as fast as "
            f"with a checkerboard multiply around every FFT (paired median of {reps}; same bits)")
    md = "\n".join([
        f"Where the training step's time goes, profile `{profile.name}` (batch {profile.batch_size}, "
        f"{profile.num_cascades} cascades, {profile.precision}), {torch.get_num_threads()} torch thread(s), "
        f"{reps} interleaved repetitions (median ms per batch, q1-q3; share = of the train step's median; "
        "the parts do not sum exactly to the step: each is timed on its own).",
        "", md_table(rows, COLUMNS), "", f"**{note}**"])
    return {"machine": machine, "profile": profile.name, "reps": reps, "rows": rows, "fold_speedup": fold,
            "check": note, "markdown": md}
