"""Trained and unlearned models out of the compendium: TorchScript or a plain fastMRI state dict.

The engine's :class:`mriunlearn.varnet.VarNet` has fastMRI's modules and weights but an eager-mode
complex-arithmetic forward that ``torch.jit.script`` cannot compile. Its ``state_dict`` is
``fastmri.models.VarNet``'s, so an export loads the weights into a plain ``fastmri.models.VarNet``
(strictly: same names and shapes, nothing missing or left over) and writes one of :data:`FORMATS`:

- ``torchscript``: ``torch.jit.script`` of that model, saved with ``torch.jit.save``. It loads with
  ``torch.jit.load(path)`` alone (neither mriunlearn nor fastMRI needed) and is called as
  ``model(masked_kspace, mask, num_low_frequencies)`` with real ``masked_kspace (B, C, H, W, 2)``,
  ``mask (B, 1, 1, W, 1)`` bool and ``num_low_frequencies`` an int or ``None`` (read from the mask);
  it returns the ``(B, H, W)`` root-sum-of-squares image (not centre-cropped).
- ``state_dict``: the plain ``fastmri.models.VarNet`` state dict (``torch.save``; load it with
  ``torch.load(path, weights_only=True)`` into
  ``fastmri.models.VarNet(**mriunlearn.model.varnet_kwargs(profile))``).

The file is written under a temporary name (:func:`mriunlearn.atomic.atomic_path`), read back, and
its output on a seeded random input (:func:`check_input`) compared with the engine's ``VarNet``
loaded with the given weights; only a file that reproduces it is renamed into place: its steady-state
calls within :data:`RTOL`, its first call within :data:`FIRST_CALL_RTOL`.

The first call of a TorchScript module in a process is the profiling executor's run; with more than
one intra-op thread it can differ from every later call by more than float32 rounding (with one
thread, or under ``torch.jit.optimized_execution(False)``, it does not). Later calls are reproducible.

``torch.export`` was tried first-hand on torch 2.13 and fails on fastMRI's VarNet:
``batched_mask_center`` slices k-space with tensor-valued bounds, a data-dependent shape
(``GuardOnDataDependentSymNode``). ``torch.jit.script`` works (torch 2.13 marks it deprecated with a
``DeprecationWarning``); the ``state_dict`` format does not depend on it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from fastmri.models import VarNet as FastmriVarNet

from .atomic import atomic_path
from .errors import CheckpointError, ConfigError, MriUnlearnError
from .model import varnet_kwargs
from .profiles import Profile
from .varnet import VarNet

#: what :func:`export_varnet` writes
FORMATS: tuple[str, ...] = ("torchscript", "state_dict")
#: largest relative output difference (max |exported - engine| / max |engine|, float32) accepted
RTOL = 1e-4
#: the same bound for the first call of a TorchScript module in a process (the profiling run, see above)
FIRST_CALL_RTOL = 1e-3

Weights = Mapping[str, torch.Tensor] | torch.nn.Module


def _state_dict(weights: Weights) -> Mapping[str, torch.Tensor]:
    """``weights`` itself, or the state dict of a model (a DDP wrapper unwrapped)."""
    if isinstance(weights, torch.nn.Module):
        return getattr(weights, "module", weights).state_dict()
    return weights


def check_format(fmt: str) -> str:
    """``fmt`` if it is one of :data:`FORMATS`, else a :class:`ConfigError` listing them."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    return fmt


def fastmri_varnet(weights: Weights, profile: Profile, source: str = "the model") -> FastmriVarNet:
    """A plain ``fastmri.models.VarNet`` of the profile's size holding ``weights`` (eval mode, CPU,
    float32).

    Args:
        weights: a state dict or a model (a DDP wrapper is unwrapped).
        profile: gives the architecture (:func:`mriunlearn.model.varnet_kwargs`).
        source: what the weights are (a file name), for error messages.

    Raises:
        CheckpointError: the weights are not those of this architecture (names ``source``, the
            profile and the first mismatching keys or shapes).
    """
    kwargs = varnet_kwargs(profile)
    model = FastmriVarNet(**kwargs)
    try:
        model.load_state_dict(_state_dict(weights))
    except RuntimeError as exc:
        details = [line.strip()[:200] for line in str(exc).splitlines()[1:] if line.strip()]
        more = " ..." if len(details) > 3 else ""
        arch = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        raise CheckpointError(
            f"{source} does not hold a VarNet of profile {profile.name!r}'s architecture ({arch}): "
            f"{'; '.join(details[:3])}{more}. Give the --profile (and --set fields) it was trained with"
        ) from exc
    return model.eval()


def check_input(profile: Profile, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random input the profile's VarNet accepts.

    Returns:
        ``masked_kspace (1, 2, N, N, 2)`` of ``dtype`` and ``mask (1, 1, 1, N, 1)`` bool (every
        4th line and 8 centre lines), ``N = max(32, 2**max(pools, sens_pools))``.
    """
    n = max(32, 2 ** max(profile.pools, profile.sens_pools))
    mask = torch.zeros(1, 1, 1, n, 1, dtype=torch.bool)
    mask[..., ::4, :] = True
    mask[..., n // 2 - 4:n // 2 + 4, :] = True
    generator = torch.Generator().manual_seed(0)
    kspace = torch.randn(1, 2, n, n, 2, generator=generator, dtype=torch.float64).to(dtype) * 1e-4
    return kspace * mask, mask


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """``max |got - want| / max |want|`` (``inf`` where ``got`` is not finite)."""
    err = (got - want).abs().max() / want.abs().max().clamp_min(torch.finfo(want.dtype).tiny)
    return float(err) if bool(torch.isfinite(err)) else float("inf")


def export_varnet(weights: Weights, profile: Profile, out: str | os.PathLike[str], fmt: str = "torchscript",
                  source: str = "the model") -> Path:
    """Write ``weights`` as a TorchScript ``fastmri.models.VarNet`` or a plain fastMRI state dict.

    Args:
        weights: a state dict (:func:`mriunlearn.checkpoint.read_model_weights`) or a model.
        profile: gives the architecture.
        out: the file to write (atomically; its folder is created).
        fmt: one of :data:`FORMATS`.
        source: what the weights are, for messages.

    Returns:
        ``out`` as a path.

    Raises:
        ConfigError: unknown ``fmt``, or ``out`` is a folder.
        CheckpointError: the weights do not fit the profile's architecture.
        MriUnlearnError: scripting failed, or the written file does not reproduce the engine's
            output (nothing is left at ``out`` then).
    """
    check_format(fmt)
    out = Path(out)
    if out.is_dir():
        raise ConfigError(f"export target {out} is a folder; give a file name")
    plain = fastmri_varnet(weights, profile, source)
    engine = VarNet(**varnet_kwargs(profile))  # the reference: the given weights, not plain's copy
    engine.load_state_dict(_state_dict(weights))
    engine.eval()
    with atomic_path(out) as tmp:
        if fmt == "torchscript":
            try:
                scripted = torch.jit.script(plain)
            except Exception as exc:  # noqa: BLE001 - TorchScript raises many types
                raise MriUnlearnError(f"TorchScript cannot compile fastmri.models.VarNet with torch "
                                      f"{torch.__version__} ({type(exc).__name__}: {exc}); use the "
                                      f"state_dict format") from exc
            torch.jit.save(scripted, str(tmp))
            written: torch.nn.Module = torch.jit.load(str(tmp), map_location="cpu")
        else:
            torch.save(plain.state_dict(), tmp)
            written = FastmriVarNet(**varnet_kwargs(profile))
            written.load_state_dict(torch.load(tmp, map_location="cpu", weights_only=True))
            written.eval()
        kspace, mask = check_input(profile)
        with torch.no_grad():
            want = engine(kspace, mask, None)
            errors = [relative_error(written(kspace, mask, None), want) for _ in range(2)]
        for call, err, bound in zip(("first", "second"), errors, (FIRST_CALL_RTOL, RTOL)):
            if not err <= bound:
                raise MriUnlearnError(f"the {fmt} export of {source} does not reproduce the engine's VarNet "
                                      f"(relative error of its {call} call {err:.2e} > {bound:.0e}); "
                                      f"{out} was not written")
    return out
