"""E2E-VarNet construction and forward passes.

The model is :class:`mriunlearn.varnet.VarNet`: ``fastmri.models.VarNet`` with the same modules and
weights and a faster complex-arithmetic forward (see that module).
"""

from __future__ import annotations

import contextlib

import torch
from fastmri.data.transforms import VarNetSample, center_crop

from .profiles import Profile
from .varnet import VarNet


def varnet_kwargs(profile: Profile) -> dict[str, int]:
    """The profile's network size as ``fastmri.models.VarNet`` constructor arguments
    (``num_cascades, sens_chans, sens_pools, chans, pools``)."""
    return dict(num_cascades=profile.num_cascades, sens_chans=profile.sens_chans,
                sens_pools=profile.sens_pools, chans=profile.chans, pools=profile.pools)


def build_model(profile: Profile, seed: int | None = None) -> VarNet:
    """A freshly initialised ``VarNet`` of the profile's size.

    The initial weights are drawn from ``torch.manual_seed(seed)`` (default ``profile.seed``) in a
    forked RNG state, so building a model does not disturb (nor depend on) the global RNG.

    The 4-D convolution weights are stored channels-last (``torch.channels_last``), so the U-Nets'
    convolutions run on channels-last activations, which oneDNN runs faster on a CPU
    (``benchmarks/throughput.py`` measures by how much; ``docs/performance.md``). Values,
    parameter names and shapes are those of a plain ``fastmri.models.VarNet`` (the ``state_dict``
    loads into one); only the strides and the forward's arithmetic differ.
    """
    seed = profile.seed if seed is None else seed
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VarNet(**varnet_kwargs(profile))
    return model.to(memory_format=torch.channels_last)


def autocast(profile: Profile, device: torch.device | str = "cpu") -> contextlib.AbstractContextManager:
    """bf16 autocast for ``profile.precision == "bf16"`` (weights stay fp32), else a no-op."""
    device = torch.device(device)
    if profile.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter."""
    return next(model.parameters()).device


def reconstruct(model: torch.nn.Module, batch: VarNetSample, profile: Profile | None = None) -> torch.Tensor:
    """Run VarNet on a collated batch and centre-crop to the target size.

    Args:
        model: a ``VarNet`` (or a DDP wrapper of one).
        batch: ``masked_kspace (B, C, H, W, 2)``, ``mask (B, 1, 1, W, 1)``, ``num_low_frequencies``,
            ``crop_size (h, w)``.
        profile: selects bf16 autocast when ``profile.precision == "bf16"``.

    Returns:
        ``(B, h, w)`` float32 RSS magnitude on the model's device.
    """
    device = model_device(model)
    num_low = batch.num_low_frequencies
    if isinstance(num_low, torch.Tensor):
        num_low = num_low.to(device)
    ctx = autocast(profile, device) if profile is not None else contextlib.nullcontext()
    with ctx:
        out = model(batch.masked_kspace.to(device), batch.mask.to(device), num_low)
    return center_crop(out.float(), tuple(batch.crop_size))
