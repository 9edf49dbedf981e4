"""E2E-VarNet construction and forward passes.

The model is :class:`mriunlearn.varnet.VarNet`: ``fastmri.models.VarNet`` with the same modules and
weights and a faster complex-arithmetic forward (see that module).
"""

from __future__ import annotations

import contextlib
import functools
import warnings

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


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` computes bf16 convolutions in hardware: a CUDA GPU that supports bf16, or a
    CPU with AVX512-BF16 or AMX tiles. Elsewhere oneDNN emulates them, many times slower than fp32."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(probe() for probe in probes if probe is not None)


def effective_precision(profile: Profile, device: torch.device | str = "cpu") -> str:
    """The precision a run of ``profile`` computes in on ``device``: ``profile.precision``, except
    ``"bf16"`` on a device without :func:`native_bf16`, which runs in ``"fp32"`` (the precision
    benchmark judges the two equivalent: ``docs/performance.md``). A run's cache key keeps the
    profile's precision, as it keeps the recipe whatever kernels a CPU picks; its summary records
    this one. Warns once per process when it falls back."""
    if profile.precision == "bf16" and not native_bf16(device):
        _warn_fp32_fallback(torch.device(device).type)
        return "fp32"
    return profile.precision


@functools.lru_cache(maxsize=None)
def _warn_fp32_fallback(device_type: str) -> None:
    units = " (AVX512-BF16 or AMX)" if device_type == "cpu" else ""
    warnings.warn(f"this {device_type.upper()} has no native bf16{units}: the profile's "
                  "bf16 autocast runs in fp32 here, which the precision benchmark judges equivalent and which trains "
                  "several times faster than emulated bf16 (docs/reproducibility.md)", stacklevel=3)


def autocast(profile: Profile, device: torch.device | str = "cpu") -> contextlib.AbstractContextManager:
    """bf16 autocast when :func:`effective_precision` is ``"bf16"`` (weights stay fp32), else a no-op."""
    device = torch.device(device)
    if effective_precision(profile, device) == "bf16":
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
        profile: selects bf16 autocast when ``profile.precision == "bf16"`` (:func:`autocast`).

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
