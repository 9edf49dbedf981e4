"""MRI physics in one place: centred FFTs, the multi-coil SENSE operator, coil sensitivities, zero-filled images.

Every other module that touches k-space takes its operators from here: the VarNet forward
(:mod:`mriunlearn.varnet`), the null-space analysis (:mod:`mriunlearn.hallucination`), the simulator
(:mod:`mriunlearn.simulate.coils`) and the metrics (:mod:`mriunlearn.metrics`). fastMRI's own
functions are used wherever they already do the job (``fastmri.fft2c``, ``fastmri.ifft2c``,
``fastmri.rss_complex``, ``fastmri.rss``, ``fastmri.complex_abs``, ``center_crop``).

Conventions
-----------
- Centred orthonormal FFT (fastMRI's): ``fftshift(F(ifftshift(x)))`` over the last two axes (or the
  last one for the 1-D versions), ``norm="ortho"``.
- Complex data are native complex tensors/arrays ``(..., H, W)``; fastMRI's real view ``(..., 2)`` is
  converted at the boundary (``torch.view_as_real`` is a free view).
- Sensitivities ``S`` are ``(C, H, W)`` or ``(B, C, H, W)``; the column mask ``M`` is ``(W,)`` or
  ``(B, W)`` (the phase-encode columns sampled).

Two centred FFTs on torch tensors, one function
-----------------------------------------------
:func:`fft2c` / :func:`ifft2c` are fastMRI's (two rolls around the FFT) and accept numpy arrays too
(numpy's FFT, which the simulator has always used, so the embedded data stay byte-identical).
:func:`fft2c_modulated` / :func:`ifft2c_modulated` compute the same function for even sizes without
the rolls: a roll by ``N/2`` on one side of a DFT is a ``(-1)^k`` modulation on the other, so the four
copies become one multiplication by a fixed checkerboard before and one after the transform
(:func:`centring_modulations`). They agree with :func:`fft2c` to float rounding
(``tests/test_varnet.py``); the VarNet trains with them, and folds the checkerboards into its
k-space and coil maps so that its cascades run the uncentred :func:`fft2` / :func:`ifft2`
(:mod:`mriunlearn.varnet`), because autograd through the rolls, then the modulations, was a
measurable share of a CPU training step. The analysis code keeps fastMRI's bit pattern.

The SENSE operator (fastMRI multi-coil, Cartesian column mask)
--------------------------------------------------------------
For an image ``x`` on the k-space grid (H, W)::

    A x = [M F (S_c x)]_{c=1..C}      A^H y = Σ_c conj(S_c) F^H M y_c

:func:`sense_expand` / :func:`sense_reduce` are the unmasked halves (the VarNet's
``sens_expand``/``sens_reduce``), :func:`forward_operator` / :func:`adjoint_operator` the masked
operator on numpy or torch input, and :func:`normal_operator` ``A^H A``, which needs only 1-D FFTs
along W because the readout direction is fully sampled (``F_H`` cancels in ``F^H M F``).
:func:`sense_g_factor` is the noise amplification of unfolding every R-th column with known maps:
how much of the reconstruction a coil array can do without any prior.

Coil sensitivities
------------------
:func:`estimate_sensitivities` (a windowed low-resolution estimate from the fully sampled centre:
the Hann-windowed centre's coil images divided by their RSS; not ESPIRiT),
:func:`load_sensitivities` (the stored maps of simulated files, else the estimate) and
:func:`complex_image` (``S^H F^H k``, the coil-combined complex image).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import fastmri
import numpy as np
import torch
from fastmri.data.transforms import center_crop

from .errors import ConfigError, DataError

ArrayLike = Any  # numpy.ndarray or torch.Tensor
T = TypeVar("T", np.ndarray, torch.Tensor)

#: share of the k-space columns used to estimate sensitivities from fully sampled data
SENS_ACS_FRACTION = 0.08
#: minimum number of central columns used to estimate sensitivities
SENS_MIN_ACS = 8
_IMAGE_DIMS = (-2, -1)


# ----------------------------------------------------------------------------- centred FFTs
def _numpy_centred(x: np.ndarray, transform: Callable[..., np.ndarray], axes: tuple[int, ...]) -> np.ndarray:
    return np.fft.fftshift(transform(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


def fft2c(x: T) -> T:
    """Centred orthonormal 2-D FFT over the last two axes of complex ``(..., H, W)``.

    torch: ``fastmri.fft2c`` on the real view (bit for bit); numpy: ``numpy.fft.fft2`` between the
    same shifts. Returns the input's type and shape.
    """
    if isinstance(x, np.ndarray):
        return _numpy_centred(x, np.fft.fft2, _IMAGE_DIMS)
    return torch.view_as_complex(fastmri.fft2c(torch.view_as_real(x)))


def ifft2c(x: T) -> T:
    """Centred orthonormal 2-D inverse FFT over the last two axes (see :func:`fft2c`)."""
    if isinstance(x, np.ndarray):
        return _numpy_centred(x, np.fft.ifft2, _IMAGE_DIMS)
    return torch.view_as_complex(fastmri.ifft2c(torch.view_as_real(x)))


def fft1c(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal FFT along the last axis (W) of a complex tensor ``(..., W)``."""
    return torch.fft.fftshift(torch.fft.fft(torch.fft.ifftshift(x, dim=-1), dim=-1, norm="ortho"), dim=-1)


def ifft1c(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal inverse FFT along the last axis (W) of a complex tensor ``(..., W)``."""
    return torch.fft.fftshift(torch.fft.ifft(torch.fft.ifftshift(x, dim=-1), dim=-1, norm="ortho"), dim=-1)


def _checkerboard(h: int, w: int, like: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """Real ``(h, w)`` of ``(-1)^(i + j + offset)``, in the real dtype and device of ``like``."""
    i = torch.arange(h, device=like.device).view(h, 1)
    j = torch.arange(w, device=like.device).view(1, w)
    return (1 - 2 * ((i + j + offset) % 2)).to(like.real.dtype)


def centring_modulations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The checkerboards ``(before, after)`` that replace the centring rolls of complex ``(..., H, W)``.

    For even ``N`` both shifts are a roll by ``N/2``, and per axis ``fftshift(F(ifftshift(x)))[k] =
    (-1)^(k + N/2) F((-1)^n x)[k]``; so for even ``H`` and ``W``, ``fft2c(x) = after * F(before * x)``
    and ``ifft2c(x) = after * F^-1(before * x)`` with the real ``(H, W)`` patterns
    ``before = (-1)^(i + j)`` and ``after = (-1)^(i + j + H/2 + W/2)`` (so ``after = ±before``).
    Returns ``None`` for odd sizes, where only the rolls work.
    """
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        return None
    return _checkerboard(h, w, x), _checkerboard(h, w, x, offset=h // 2 + w // 2)


def _modulated(x: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``fftshift(transform(ifftshift(x)))`` over the last two axes of complex ``(..., H, W)``, by
    :func:`centring_modulations` where the sizes are even, else by the rolls."""
    mods = centring_modulations(x)
    if mods is None:
        return torch.fft.fftshift(transform(torch.fft.ifftshift(x, dim=_IMAGE_DIMS)), dim=_IMAGE_DIMS)
    before, after = mods
    return transform(x * before) * after


def fft2(x: torch.Tensor) -> torch.Tensor:
    """Uncentred orthonormal 2-D FFT over the last two axes of complex ``(..., H, W)``."""
    return torch.fft.fftn(x, dim=_IMAGE_DIMS, norm="ortho")


def ifft2(x: torch.Tensor) -> torch.Tensor:
    """Uncentred orthonormal 2-D inverse FFT over the last two axes of complex ``(..., H, W)``."""
    return torch.fft.ifftn(x, dim=_IMAGE_DIMS, norm="ortho")


def fft2c_modulated(x: torch.Tensor) -> torch.Tensor:
    """:func:`fft2c` of complex ``(..., H, W)`` with checkerboard modulations instead of rolls."""
    return _modulated(x, fft2)


def ifft2c_modulated(x: torch.Tensor) -> torch.Tensor:
    """:func:`ifft2c` of complex ``(..., H, W)`` with checkerboard modulations instead of rolls."""
    return _modulated(x, ifft2)


def rss(x: T, dim: int = -3) -> T:
    """Root-sum-of-squares of complex coil data over ``dim`` (the coil axis of ``(..., C, H, W)``).

    torch: ``fastmri.rss_complex`` on the real view; numpy: ``sqrt(Σ |x|²)``. Returns real data.
    """
    if isinstance(x, np.ndarray):
        return np.sqrt(np.sum(np.abs(x) ** 2, axis=dim))
    return fastmri.rss_complex(torch.view_as_real(x), dim=dim)


# ----------------------------------------------------------------------------- crops
def pad_to(x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Zero-pad ``(..., h, w)`` to ``(..., H, W)``: the inverse of fastMRI's ``center_crop``."""
    h, w = x.shape[-2:]
    if (h, w) == tuple(grid):
        return x
    top, left = (grid[0] - h) // 2, (grid[1] - w) // 2
    out = x.new_zeros(*x.shape[:-2], *grid)
    out[..., top:top + h, left:left + w] = x
    return out


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """fastMRI's ``center_crop`` of ``(..., H, W)`` to ``(..., h, w)`` (the input itself if equal)."""
    return x if tuple(x.shape[-2:]) == tuple(size) else center_crop(x, tuple(size))


def zero_filled_image(masked_kspace: torch.Tensor, crop_size: tuple[int, int]) -> torch.Tensor:
    """The model-free baseline: RSS of the inverse FFT of masked k-space, centre-cropped.

    Args:
        masked_kspace: real ``(B, C, H, W, 2)`` (fastMRI layout).
        crop_size: ``(h, w)`` of the target.

    Returns:
        real ``(B, h, w)``.
    """
    image = fastmri.rss(fastmri.complex_abs(fastmri.ifft2c(masked_kspace)), dim=1)
    return center_crop(image, tuple(crop_size))


# ----------------------------------------------------------------------------- input handling
def as_tensor(x: ArrayLike, name: str) -> torch.Tensor:
    """A CPU tensor of ``x`` (numpy or torch), refusing dtypes no operator here accepts."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
    else:
        try:
            t = torch.from_numpy(np.ascontiguousarray(np.asarray(x)))
        except TypeError as exc:
            raise ConfigError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}") from exc
    if t.dtype == torch.bool:
        return t
    if not (t.is_complex() or t.is_floating_point() or t.dtype in (torch.int32, torch.int64, torch.uint8)):
        raise ConfigError(f"{name} has unsupported dtype {t.dtype}")
    return t


def as_complex(x: ArrayLike, name: str) -> torch.Tensor:
    """complex128 tensor of ``x`` (real inputs get zero imaginary part); rejects NaN/Inf."""
    t = as_tensor(x, name).to(torch.complex128)
    if not torch.isfinite(torch.view_as_real(t)).all():
        raise ConfigError(f"{name} holds NaN or Inf values")
    return t


def as_images(x: ArrayLike, name: str) -> tuple[torch.Tensor, bool]:
    """``x`` as complex128 ``(B, H, W)``; also whether the input was a single ``(H, W)`` image."""
    t = as_complex(x, name)
    if t.ndim == 2:
        return t[None], True
    if t.ndim == 3:
        if t.shape[0] == 0:
            raise ConfigError(f"{name} is an empty batch (shape {tuple(t.shape)})")
        return t, False
    raise ConfigError(f"{name} must have shape (H, W) or (B, H, W), got {tuple(t.shape)}")


def as_sens(sens: ArrayLike, batch: int, grid: tuple[int, int]) -> torch.Tensor:
    """Sensitivities as complex128 ``(B, C, H, W)``, checked against ``batch`` and ``grid`` (H, W)."""
    s = as_complex(sens, "sens")
    if s.ndim == 3:
        s = s[None].expand(batch, *s.shape)
    elif s.ndim != 4:
        raise ConfigError(f"sens must have shape (C, H, W) or (B, C, H, W), got {tuple(s.shape)}")
    if s.shape[0] != batch:
        raise ConfigError(f"sens holds {s.shape[0]} slices but the images hold {batch}")
    if s.shape[1] == 0:
        raise ConfigError("sens has zero coils")
    if tuple(s.shape[-2:]) != tuple(grid):
        raise ConfigError(f"sens has grid (H, W) = {tuple(s.shape[-2:])} but the images need {tuple(grid)}")
    if not (s.abs() > 0).any():
        raise ConfigError("sens is zero everywhere")
    return s


def as_column_mask(mask: ArrayLike, batch: int, width: int) -> torch.Tensor:
    """Column mask as bool ``(B, W)``.

    Accepts ``(W,)``, ``(B, W)`` (a ``(1, W)`` mask is shared by the batch) and fastMRI's layouts
    ``(1, 1, W, 1)`` (one slice) and ``(B, 1, 1, W, 1)`` (a batch).
    """
    m = as_tensor(mask, "mask")
    shape = tuple(m.shape)
    if m.is_complex():
        raise ConfigError("mask must be real (boolean or 0/1), got a complex array")
    if m.ndim in (4, 5):  # fastMRI layouts
        if shape[-1] != 1 or any(d != 1 for d in shape[-4 if m.ndim == 5 else 0:-2]):
            raise ConfigError(f"mask must have shape (W,), (B, W), (1, 1, W, 1) or (B, 1, 1, W, 1), got {shape}")
        m = m.reshape(-1, shape[-2]) if m.ndim == 5 else m.reshape(shape[-2])
    if m.ndim not in (1, 2) or m.shape[-1] != width:
        raise ConfigError(f"mask has shape {shape}; it must hold one entry per k-space column (W = {width}) "
                          f"as (W,) or ({batch}, W)")
    if m.dtype != torch.bool:
        mf = m.to(torch.float64)
        if not ((mf == 0) | (mf == 1)).all():
            raise ConfigError("mask must be boolean or hold only 0 and 1")
        m = mf > 0
    if m.ndim == 1 or m.shape[0] == 1:
        m = m.reshape(1, width).expand(batch, width)
    if m.shape[0] != batch:
        raise ConfigError(f"mask holds {m.shape[0]} rows but the images hold {batch} slices")
    empty = (~m.any(dim=1)).nonzero().flatten().tolist()
    if empty:
        raise ConfigError(f"mask samples no k-space column (empty mask) for batch item(s) {empty}")
    return m


def as_kspace(kspace: ArrayLike) -> tuple[torch.Tensor, bool]:
    """k-space as complex128 ``(B, C, H, W)`` and whether a single slice was given.

    Accepts complex ``(C, H, W)`` / ``(B, C, H, W)`` or fastMRI's real view ``(C, H, W, 2)`` /
    ``(B, C, H, W, 2)``.
    """
    t = as_tensor(kspace, "kspace")
    if not t.is_complex():
        if t.ndim in (4, 5) and t.shape[-1] == 2:
            t = torch.view_as_complex(t.to(torch.float64).contiguous())
        else:
            raise ConfigError(f"kspace must be complex (C, H, W) / (B, C, H, W) or fastMRI's real view "
                              f"(C, H, W, 2) / (B, C, H, W, 2), got real shape {tuple(t.shape)}")
    t = as_complex(t, "kspace")
    single = t.ndim == 3
    if single:
        t = t[None]
    if t.ndim != 4 or min(t.shape) == 0:
        raise ConfigError(f"kspace must have shape (C, H, W) or (B, C, H, W), got {tuple(t.shape)}")
    return t, single


# ----------------------------------------------------------------------------- the SENSE operator
def sense_expand(image: torch.Tensor, sens: torch.Tensor,
                 fft: Callable[[torch.Tensor], torch.Tensor] = fft2c) -> torch.Tensor:
    """Coil k-space ``F (S_c x)`` of complex images ``(B, 1, H, W)`` with maps ``(B, C, H, W)``."""
    return fft(image * sens)


def sense_reduce(kspace: torch.Tensor, sens: torch.Tensor,
                 ifft: Callable[[torch.Tensor], torch.Tensor] = ifft2c) -> torch.Tensor:
    """Coil-combined image ``Σ_c conj(S_c) F^H k_c``: complex ``(B, C, H, W)`` -> ``(B, 1, H, W)``."""
    return (ifft(kspace) * sens.conj()).sum(dim=1, keepdim=True)


def forward_operator(image: ArrayLike, sens: ArrayLike, mask: ArrayLike) -> np.ndarray:
    """``A x``: masked multi-coil k-space of an image.

    Args:
        image: complex or real, (H, W) or (B, H, W).
        sens: complex, (C, H, W) or (B, C, H, W).
        mask: bool, (W,) or (B, W) (or fastMRI's (B, 1, 1, W, 1)).

    Returns:
        complex128 numpy, (C, H, W) or (B, C, H, W): ``M F (S_c x)`` with zeros on unsampled columns.
    """
    x, single = as_images(image, "image")
    s = as_sens(sens, x.shape[0], tuple(x.shape[-2:]))
    m = as_column_mask(mask, x.shape[0], x.shape[-1])
    k = m[:, None, None, :].to(x.dtype) * sense_expand(x[:, None], s)
    out = k.numpy()
    return out[0] if single else out


def adjoint_operator(kspace: ArrayLike, sens: ArrayLike, mask: ArrayLike) -> np.ndarray:
    """``A^H y = Σ_c conj(S_c) F^H M y_c``.

    Args:
        kspace: complex, (C, H, W) or (B, C, H, W).
        sens: complex, same shape as ``kspace`` (or (C, H, W) shared by the batch).
        mask: bool, (W,) or (B, W).

    Returns:
        complex128 numpy image, (H, W) or (B, H, W).
    """
    k = as_complex(kspace, "kspace")
    single = k.ndim == 3
    if single:
        k = k[None]
    if k.ndim != 4:
        raise ConfigError(f"kspace must have shape (C, H, W) or (B, C, H, W), got {tuple(k.shape)}")
    s = as_sens(sens, k.shape[0], tuple(k.shape[-2:]))
    if s.shape[1] != k.shape[1]:
        raise ConfigError(f"sens has {s.shape[1]} coils but kspace has {k.shape[1]}")
    m = as_column_mask(mask, k.shape[0], k.shape[-1])
    out = sense_reduce(m[:, None, None, :].to(k.dtype) * k, s)[:, 0].numpy()
    return out[0] if single else out


def normal_operator(x: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``A^H A x`` for complex ``x (B, H, W)``, ``sens (B, C, H, W)``, bool ``mask (B, W)``.

    Uses 1-D FFTs along W only (the readout direction H is fully sampled, so ``F_H`` cancels).
    """
    m = mask[:, None, None, :].to(x.dtype)
    coil = ifft1c(m * fft1c(sens * x[:, None]))
    return (sens.conj() * coil).sum(dim=1)


# ----------------------------------------------------------------------------- sensitivities
def default_num_low_freqs(width: int) -> int:
    """Central columns used to estimate sensitivities from fully sampled k-space of width W."""
    return min(width, max(SENS_MIN_ACS, int(round(SENS_ACS_FRACTION * width))))


def estimate_sensitivities(kspace: ArrayLike, num_low_freqs: int | None = None) -> np.ndarray:
    """Windowed low-resolution coil sensitivities from (fully sampled) k-space.

    The central ``num_low_freqs`` columns (and the same share of rows, at least as many as the
    columns allow) are kept under a separable Hann window, inverse FFT'd and divided by their RSS,
    so that ``Σ_c |S_c|² = 1`` at every pixel (pixels where the low-resolution RSS is below 1e-6
    of its maximum get zero maps). The maps absorb the object's low-resolution phase.

    This is not ESPIRiT: there is no calibration matrix and no eigen-decomposition, so the maps
    are as smooth as the window and do not fall to zero outside the object's support. A true
    ESPIRiT calibration (e.g. ``sigpy.mri.app.EspiritCalib``, not a dependency of this project)
    can be passed wherever maps are taken as an argument.

    Args:
        kspace: complex (C, H, W) or (B, C, H, W), or fastMRI's real view (..., 2).
        num_low_freqs: central columns to use (``default_num_low_freqs(W)`` if None); with
            undersampled data use at most the mask's fully sampled centre.

    Returns:
        complex64 numpy, (C, H, W) or (B, C, H, W).
    """
    k, single = as_kspace(kspace)
    _, _, h, w = k.shape
    n = default_num_low_freqs(w) if num_low_freqs is None else num_low_freqs
    if not (isinstance(n, (int, np.integer)) and 1 <= int(n) <= w):
        raise ConfigError(f"num_low_freqs must be an integer in [1, {w}], got {num_low_freqs!r}")
    n = int(n)
    nh = min(h, max(n, int(round(n * h / w))))

    def window(size: int, keep: int) -> torch.Tensor:
        win = torch.zeros(size, dtype=torch.float64)
        start = size // 2 - keep // 2  # the k-space centre (index size // 2) is the window's centre
        taper = torch.from_numpy(np.hanning(keep + 2)[1:-1].copy())
        win[start:start + keep] = taper
        return win

    win = window(h, nh)[:, None] * window(w, n)[None, :]
    low = ifft2c(k * win.to(k.dtype))
    norm = torch.sqrt((low.abs() ** 2).sum(dim=1, keepdim=True))
    floor = 1e-6 * norm.flatten(1).amax(dim=1)[:, None, None, None]
    sens = torch.where(norm > floor, low / torch.where(norm > floor, norm, torch.ones_like(norm)), torch.zeros_like(low))
    out = sens.to(torch.complex64).numpy()
    return out[0] if single else out


def complex_image(kspace: ArrayLike, sens: ArrayLike) -> np.ndarray:
    """Coil-combined complex image ``S^H F^H k`` of fully sampled k-space.

    Args:
        kspace: complex (C, H, W) / (B, C, H, W) or fastMRI's real view (..., 2).
        sens: complex, (C, H, W) or (B, C, H, W).

    Returns:
        complex128 numpy, (H, W) or (B, H, W). With ``Σ_c|S_c|² = 1`` its magnitude is the
        SENSE-combined image (≈ the RSS target) and its angle the phase to give magnitude images.
    """
    k, single = as_kspace(kspace)
    s = as_sens(sens, k.shape[0], tuple(k.shape[-2:]))
    if s.shape[1] != k.shape[1]:
        raise ConfigError(f"sens has {s.shape[1]} coils but kspace has {k.shape[1]}")
    img = sense_reduce(k, s)[:, 0].numpy()
    return img[0] if single else img


def load_sensitivities(path: str | os.PathLike[str], kspace: ArrayLike | None = None,
                       num_low_freqs: int | None = None) -> tuple[np.ndarray, str]:
    """Coil sensitivities of a volume: the stored ``sens_maps`` when present, else an estimate.

    Args:
        path: fastMRI-format HDF5 volume.
        kspace: its k-space (slices, coils, H, W), to skip re-reading it when an estimate is needed.
        num_low_freqs: see :func:`estimate_sensitivities`.

    Returns:
        ``(sens (slices, coils, H, W) complex64, source)`` with source ``"stored"`` or ``"estimated"``.

    Raises:
        DataError: naming ``path`` when stored maps do not match the k-space shape.
    """
    import h5py

    from .fastmri_h5 import KSPACE_KEY, SENS_KEY, inspect_volume

    info = inspect_volume(path)
    with h5py.File(info.path, "r") as hf:
        if SENS_KEY in hf:
            sens = np.asarray(hf[SENS_KEY][()], dtype=np.complex64)
            expect = (info.num_slices, info.num_coils, *info.kspace_shape)
            if sens.shape != expect:
                raise DataError(f"{info.path}: {SENS_KEY} has shape {sens.shape}, expected {expect}")
            if not np.isfinite(sens.view(np.float32)).all():
                raise DataError(f"{info.path}: {SENS_KEY} holds NaN or Inf values")
            return sens, "stored"
        if kspace is None:
            kspace = np.asarray(hf[KSPACE_KEY][()], dtype=np.complex64)
    return estimate_sensitivities(kspace, num_low_freqs), "estimated"


def sense_g_factor(maps: np.ndarray, acceleration: int) -> np.ndarray:
    """SENSE g-factor of unfolding 1-D equispaced undersampling along the columns (no calibration lines).

    The noise amplification of the best linear unfolding with known ``maps``: 1 where the coils
    separate the aliased pixels perfectly, large where their sensitivities are alike.

    Args:
        maps: complex ``(C, H, W)`` coil sensitivities; ``W`` divisible by ``acceleration``.
        acceleration: R, every R-th column sampled.

    Returns:
        float64 ``(H, W)``; ``inf`` where the unfolding is singular (e.g. fewer coils than R).
    """
    c, h, w = maps.shape
    r = int(acceleration)
    if r < 1 or w % r:
        raise ConfigError(f"sense_g_factor: acceleration {acceleration!r} must divide the width {w}")
    n = w // r
    folded = np.asarray(maps, np.complex128).reshape(c, h, r, n).transpose(1, 3, 0, 2)  # (H, n, C, R)
    gram = np.conj(np.swapaxes(folded, -1, -2)) @ folded  # (H, n, R, R)
    diag = np.real(np.diagonal(gram, axis1=-2, axis2=-1))
    g = np.full((h, n, r), np.inf)
    well_posed = np.linalg.matrix_rank(gram) == r
    inverse_diag = np.real(np.diagonal(np.linalg.inv(gram[well_posed]), axis1=-2, axis2=-1))
    g[well_posed] = np.sqrt(np.maximum(inverse_diag * diag[well_posed], 1.0))
    return g.transpose(0, 2, 1).reshape(h, w)
