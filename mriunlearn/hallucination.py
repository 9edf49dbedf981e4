"""Hallucination maps and scores: the null-space part of a reconstruction's error.

Following Bhadra et al., "On hallucinations in tomographic image reconstruction", IEEE TMI 2021,
the error ``e = x̂ − x`` of a reconstruction ``x̂`` of a slice ``x`` is split into the part the
acquisition can see and the part it cannot::

    e = P_meas e + P_null e,   P_meas = A⁺A (projector onto the row space of A),
                               P_null = I − A⁺A (projector onto the null space of A).

``P_null e`` is the **hallucination map**: structure the reconstruction added (or removed) that
no measured k-space sample could confirm or refute. ``‖P_null e‖² / ‖x‖²`` is the slice's
**hallucination score**; ``‖P_null e‖² / ‖e‖²`` (the *null fraction*) says which share of the
error lies in the null space.

Forward operator (fastMRI multi-coil, Cartesian column mask)
------------------------------------------------------------
For an image ``x`` on the k-space grid (H, W), coil sensitivities ``S_c`` (C, H, W), the centred
orthonormal 2-D FFT ``F`` (``fastmri.fft2c``) and the column mask ``M`` (W,) (sampled
phase-encode columns)::

    A x = [M F (S_c x)]_{c=1..C}      A: C^{H·W} → C^{C·H·W}
    A^H y = Σ_c conj(S_c) F^H M y_c
    A^H A = Σ_c conj(S_c) F^H M F S_c

Because the readout direction (H) is fully sampled, ``F_H`` cancels in ``F^H M F = F_W^H M F_W``:
``A^H A`` is block diagonal over the H image rows; row ``h`` is the W×W Hermitian matrix ::

    G_h = Q ∘ K_h,   Q = F_W^H diag(M) F_W,   K_h[i, j] = Σ_c conj(S_c[h, i]) S_c[h, j]

(``∘``: element-wise product). Every row is an independent small problem, which both methods
below exploit. No coil-wise approximation is made: the projector is the multi-coil one (the cheap
"mask each coil's k-space, then combine with S^H" operator equals ``A^H A`` itself, which is a
projector only when the maps are constant along W, e.g. single-coil data).

Two ways to apply P_meas (``method=``)
--------------------------------------
- ``"eig"`` (default, exact): eigendecomposition ``G_h = U diag(λ) U^H`` of every row (complex128),
  ``P_meas = U diag(λ > tol·s_max) U^H`` with ``s_max = max_pixels Σ_c |S_c|²`` (= 1 for normalised
  maps, an upper bound of every λ). An eigenvalue is ``‖A u‖²`` for a unit image ``u``: the share of
  that direction's energy the acquisition records. With unit-normalised maps, ``tol`` is therefore
  "a direction counts as measured when the acquisition keeps more than ``tol`` of its energy".
  As ``tol → 0`` this is exactly ``A⁺A``; for any ``tol`` it is an orthogonal projector
  (idempotent, self-adjoint, ``P_meas e ⟂ P_null e``). The threshold matters for multi-coil data:
  with C ≥ acceleration coils the exact null space is (generically) trivial but ill-conditioned;
  directions measured with 1e-6 of their energy are invisible under any noise. Measured on smooth
  analytic maps (128², 8×, 4 % ACS): the measured rank is 45 / 67 / 77 % of W for 4 / 8 / 16 coils at
  ``tol = 1e-8`` but 41 % for all three at ``tol = 1e-3 … 1e-2`` (a plateau), hence
  ``DEFAULT_TOL = 1e-3``. Cost: O(H·W³) per slice (≈0.2 s for 128×128 on one core); memory is
  bounded by processing rows in chunks.
- ``"cg"`` (matrix-free): conjugate gradient on every row system ``(G_h + τ I) z = G_h e``,
  ``τ = tol·s_max``, from ``z = 0`` (per-row inner products, batched in torch, complex128), and
  ``P_meas e ≈ z``. This is the Tikhonov ("soft") version of the spectral threshold: each
  eigen-direction is kept with weight ``λ/(λ+τ)`` instead of ``1[λ > τ]``; it equals ``A⁺A`` as
  ``tol → 0`` and ``n_iter → ∞``, and is close to, not exactly, an orthogonal projector. The damping
  is deliberate: undamped CG on ``G_h z = G_h e`` (the textbook ``A⁺A``) converges to the exact
  projector, but multi-coil ``G_h`` is so ill-conditioned that after n steps its answer is set by n
  (measured, 32², 4 coils, 4×: the null part moves by 17 % → 13 % → 0 % of ‖e‖ after 10 / 30 / 100
  steps), whereas the damped system has condition number ≤ (1+tol)/tol and converges in ≈ 30
  steps. Cost O(n_iter·C·H·W·log W): the choice for large grids (real fastMRI, 640×368).
  Measured against ``"eig"`` at ``tol = 1e-3`` with 30 steps: ‖null_cg − null_eig‖ / ‖e‖ = 0.024–0.035
  (smooth analytic maps, 128², 8× with 4 % centre, 4 / 8 / 16 coils; about 0.5 s vs 1 s per slice on
  one core) and 0.075 on the 32², 4-coil, 4× test case, where the two scores differ by 4.6 %;
  ``tests/test_hallucination.py`` checks this and the convergence to ``A⁺A``.

Images, crops and phase
-----------------------
- Inputs ``recon``/``target`` are the (h, w) images the metrics see (fastMRI targets are centre
  crops of the (H, W) k-space grid). They are zero-padded back to (H, W) with the offsets of
  ``fastmri.data.transforms.center_crop``: the error outside the recon field of view is taken to
  be zero. Energies are computed on the full grid (so ``meas_energy + null_energy = error_energy``
  exactly); the returned maps are cropped back to (h, w) (``meas_map + null_map = e`` exactly).
- VarNet outputs the RSS magnitude and targets are magnitudes, while the operator acts on complex
  images. The choice made here: magnitude images get the *ground truth's phase* φ (``phase=``),
  ``x = target·e^{iφ}``, ``x̂ = recon·e^{iφ}``, with φ the angle of the coil-combined fully sampled
  image ``S^H F^H k`` (:func:`complex_image`). Consequences: only magnitude errors are scored
  (VarNet's phase errors are invisible to the metrics too); for the simulated data (true maps,
  ``Σ_c|S_c|² = 1``) ``|S^H F^H k| ≈`` the RSS target up to noise. With maps *estimated* by
  :func:`estimate_sensitivities`, the maps absorb the object's smooth phase
  (``S_est ≈ S·e^{iφ_lowres}``), so ``S^H F^H k`` is nearly real and ``phase=None`` (real images)
  is the consistent choice there.
- Complex inputs are used as they are (no phase is applied).

Public API (every function accepts numpy arrays or torch tensors, one slice or a batch)
-------------------------------------------------------------------------------------
``measurement_null_split(error, sens, mask) -> (meas, null)``, ``hallucination_map(recon, target,
sens, mask) -> HallucinationResult``, ``hallucination_score(...) -> float``,
``hallucinated_regions(null_map, target) -> bool mask``, ``label_regions(mask) -> [Region]``,
``volume_hallucination(recons, targets, sens, masks) -> VolumeHallucination``,
``hallucination_table(model, manifest, role, profile) -> DataFrame`` (one row per volume; uses
:mod:`mriunlearn.metrics` and :mod:`mriunlearn.dataset`, imported only when called),
``estimate_sensitivities(kspace, num_low_freqs)``, ``load_sensitivities(path)``,
``complex_image(kspace, sens)``, ``forward_operator`` / ``adjoint_operator`` (A and A^H).

Sensitivities: where they come from
-----------------------------------
- Simulated (embedded) data: the true maps, stored per file as the dataset ``sens_maps``
  ``(slices, coils, H, W)`` complex64 (:func:`load_sensitivities` reads them).
- Real fastMRI data (no stored maps): :func:`estimate_sensitivities` from the fully sampled
  k-space centre (ESPIRiT-like low-resolution estimate: Hann-windowed central k-space block,
  inverse FFT, division by the RSS, so ``Σ_c |S_c|² = 1``), with ``SENS_ACS_FRACTION`` of the
  columns (at least ``SENS_MIN_ACS`` lines). VarNet's own ``model.sens_net(masked_kspace, mask,
  num_low_frequencies)`` also returns RSS-normalised maps, but they are trained implicitly and
  model-dependent: using them would make the operator, and hence the score, depend on the model
  being scored, so they are not used.

Measured on the embedded data (``DatasetSpec.default()``: 96², 4 coils, 8× with 4 % centre,
zero-filled RSS reconstruction, one core): null fraction 0.55 (brain) / 0.41 (knee); scores with
true vs estimated maps within 5 %, ``"eig"`` vs ``"cg"`` within 7 %; 0.21 s (eig) / 0.05 s (cg) per
slice; estimated maps agree with the true ones to a per-pixel coherence ``|<S_true, S_est>|`` of
0.99 (brain) / 0.98 (knee) inside the object.

Regions
-------
:func:`hallucinated_regions` thresholds the smoothed ``|P_null e|``: a pixel is flagged when the
Gaussian-smoothed magnitude exceeds ``max(median + k·1.4826·MAD, frac·max|target|)`` (robust noise
level, with a floor relative to the target so an accurate reconstruction flags nothing); connected
components smaller than ``min_size`` pixels are dropped. :func:`label_regions` lists the
components (area, centroid, bounding box, peak) so a notebook can circle them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from scipy import ndimage

from .errors import ConfigError, DataError
from .fastmri_h5 import SENS_KEY

ArrayLike = Any  # numpy.ndarray or torch.Tensor

#: default spectral threshold of the ``"eig"`` projector (share of a direction's energy that is measured)
DEFAULT_TOL = 1e-3
#: default CG iterations of the ``"cg"`` method
DEFAULT_N_ITER = 30
METHODS: tuple[str, ...] = ("eig", "cg")
#: share of the k-space columns used to estimate sensitivities from fully sampled data
SENS_ACS_FRACTION = 0.08
#: minimum number of central columns used to estimate sensitivities
SENS_MIN_ACS = 8
#: bytes of row matrices (complex128) the ``"eig"`` method builds at once
_EIG_CHUNK_BYTES = 128 * 2**20


# ----------------------------------------------------------------------------- input handling
def _as_tensor(x: ArrayLike, name: str) -> torch.Tensor:
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


def _complex(x: ArrayLike, name: str) -> torch.Tensor:
    """complex128 tensor of ``x`` (real inputs get zero imaginary part); rejects NaN/Inf."""
    t = _as_tensor(x, name)
    t = t.to(torch.complex128)
    if not torch.isfinite(torch.view_as_real(t)).all():
        raise ConfigError(f"{name} holds NaN or Inf values")
    return t


def _images(x: ArrayLike, name: str) -> tuple[torch.Tensor, bool]:
    """``x`` as complex128 (B, H, W); also whether the input was a single (H, W) image."""
    t = _complex(x, name)
    if t.ndim == 2:
        return t[None], True
    if t.ndim == 3:
        if t.shape[0] == 0:
            raise ConfigError(f"{name} is an empty batch (shape {tuple(t.shape)})")
        return t, False
    raise ConfigError(f"{name} must have shape (H, W) or (B, H, W), got {tuple(t.shape)}")


def _sens(sens: ArrayLike, batch: int, grid: tuple[int, int]) -> torch.Tensor:
    """Sensitivities as complex128 (B, C, H, W), checked against ``batch`` and ``grid`` (H, W)."""
    s = _complex(sens, "sens")
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


def _mask(mask: ArrayLike, batch: int, width: int) -> torch.Tensor:
    """Column mask as bool (B, W).

    Accepts (W,), (B, W) (a (1, W) mask is shared by the batch) and fastMRI's layouts
    (1, 1, W, 1) (one slice) and (B, 1, 1, W, 1) (a batch).
    """
    m = _as_tensor(mask, "mask")
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


def _check_method(method: str, tol: float, n_iter: int) -> None:
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    if not (isinstance(tol, (int, float)) and 0.0 < float(tol) < 1.0):
        raise ConfigError(f"tol must lie in (0, 1), got {tol!r}")
    if not (isinstance(n_iter, int) and n_iter >= 1):
        raise ConfigError(f"n_iter must be a positive integer, got {n_iter!r}")


def _crop_offsets(grid: tuple[int, int], size: tuple[int, int]) -> tuple[int, int]:
    """Top-left offsets of ``fastmri.data.transforms.center_crop`` of ``size`` out of ``grid``."""
    return (grid[0] - size[0]) // 2, (grid[1] - size[1]) // 2


def _pad_to(x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Zero-pad (..., h, w) to (..., H, W): the inverse of fastMRI's centre crop."""
    h, w = x.shape[-2:]
    if (h, w) == tuple(grid):
        return x
    top, left = _crop_offsets(grid, (h, w))
    out = x.new_zeros(*x.shape[:-2], *grid)
    out[..., top:top + h, left:left + w] = x
    return out


def _crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    grid = tuple(x.shape[-2:])
    if grid == tuple(size):
        return x
    top, left = _crop_offsets(grid, size)  # type: ignore[arg-type]
    return x[..., top:top + size[0], left:left + size[1]]


# ----------------------------------------------------------------------------- operators
def _fft1c(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal FFT along the last dim (W), fastMRI's convention."""
    return torch.fft.fftshift(torch.fft.fft(torch.fft.ifftshift(x, dim=-1), dim=-1, norm="ortho"), dim=-1)


def _ifft1c(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.fftshift(torch.fft.ifft(torch.fft.ifftshift(x, dim=-1), dim=-1, norm="ortho"), dim=-1)


def _fft2c(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2-D FFT on complex tensors (= ``fastmri.fft2c`` on the real view)."""
    dims = (-2, -1)
    return torch.fft.fftshift(torch.fft.fftn(torch.fft.ifftshift(x, dim=dims), dim=dims, norm="ortho"), dim=dims)


def _ifft2c(x: torch.Tensor) -> torch.Tensor:
    dims = (-2, -1)
    return torch.fft.fftshift(torch.fft.ifftn(torch.fft.ifftshift(x, dim=dims), dim=dims, norm="ortho"), dim=dims)


def _normal(x: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``A^H A x`` for x (B, H, W), sens (B, C, H, W), mask (B, W); uses 1-D FFTs along W only."""
    m = mask[:, None, None, :].to(x.dtype)
    coil = _ifft1c(m * _fft1c(sens * x[:, None]))
    return (sens.conj() * coil).sum(dim=1)


def forward_operator(image: ArrayLike, sens: ArrayLike, mask: ArrayLike) -> np.ndarray:
    """``A x``: masked multi-coil k-space of an image.

    Args:
        image: complex or real, (H, W) or (B, H, W).
        sens: complex, (C, H, W) or (B, C, H, W).
        mask: bool, (W,) or (B, W) (or fastMRI's (B, 1, 1, W, 1)).

    Returns:
        complex128 numpy, (C, H, W) or (B, C, H, W): ``M F (S_c x)`` with zeros on unsampled columns.
    """
    x, single = _images(image, "image")
    s = _sens(sens, x.shape[0], tuple(x.shape[-2:]))
    m = _mask(mask, x.shape[0], x.shape[-1])
    k = m[:, None, None, :].to(x.dtype) * _fft2c(s * x[:, None])
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
    k = _complex(kspace, "kspace")
    single = k.ndim == 3
    if single:
        k = k[None]
    if k.ndim != 4:
        raise ConfigError(f"kspace must have shape (C, H, W) or (B, C, H, W), got {tuple(k.shape)}")
    s = _sens(sens, k.shape[0], tuple(k.shape[-2:]))
    if s.shape[1] != k.shape[1]:
        raise ConfigError(f"sens has {s.shape[1]} coils but kspace has {k.shape[1]}")
    m = _mask(mask, k.shape[0], k.shape[-1])
    img = (s.conj() * _ifft2c(m[:, None, None, :].to(k.dtype) * k)).sum(dim=1)
    out = img.numpy()
    return out[0] if single else out


# ----------------------------------------------------------------------------- projectors
def _project_eig(e: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor, tol: float) -> torch.Tensor:
    """``P_meas e`` by per-row eigendecomposition of ``G_h = Q ∘ K_h`` (see module docstring)."""
    b, c, h, w = sens.shape
    eye = torch.eye(w, dtype=torch.complex128)
    fw = _fft1c(eye.T).T  # (W, W): column j is the centred DFT of e_j, i.e. the DFT matrix F_W
    out = torch.empty_like(e)
    chunk = max(1, _EIG_CHUNK_BYTES // (16 * w * w * 3))
    smax = (sens.abs() ** 2).sum(dim=1).flatten(1).amax(dim=1)  # (B,)
    for i in range(b):
        q = fw.conj().T @ (mask[i].to(torch.complex128)[:, None] * fw)  # F_W^H M F_W
        for r0 in range(0, h, chunk):
            s = sens[i, :, r0:r0 + chunk]  # (C, rows, W)
            k = torch.einsum("cri,crj->rij", s.conj(), s)
            g = q[None] * k
            g = 0.5 * (g + g.conj().transpose(-1, -2))
            lam, u = torch.linalg.eigh(g)
            keep = (lam > tol * smax[i]).to(u.dtype)
            coef = torch.einsum("rji,rj->ri", u.conj(), e[i, r0:r0 + chunk]) * keep
            out[i, r0:r0 + chunk] = torch.einsum("rij,rj->ri", u, coef)
    return out


def _project_cg(e: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor, tol: float, n_iter: int) -> torch.Tensor:
    """``P_meas e ≈ z``: CG on every row system ``(G_h + τ I) z = G_h e`` from ``z = 0``, τ = tol·s_max.

    Inner products are taken per image row (the rows are independent systems), so every row gets
    its own step sizes; iteration stops early once every row's residual has dropped by 1e-14.
    """
    smax = (sens.abs() ** 2).sum(dim=1).flatten(1).amax(dim=1)[:, None, None]  # (B, 1, 1)
    damp = tol * smax

    def op(v: torch.Tensor) -> torch.Tensor:
        return _normal(v, sens, mask) + damp * v

    z = torch.zeros_like(e)
    r = _normal(e, sens, mask)
    p = r.clone()
    rs = (r.abs() ** 2).sum(dim=-1, keepdim=True)  # (B, H, 1)
    stop = 1e-28 * rs.clamp_min(torch.finfo(torch.float64).tiny)
    for _ in range(n_iter):
        active = rs > stop
        if not bool(active.any()):
            break
        ap = op(p)
        pap = (p.conj() * ap).sum(dim=-1, keepdim=True).real
        alpha = torch.where(active, rs / torch.where(active, pap, torch.ones_like(pap)), torch.zeros_like(pap))
        z = z + alpha * p
        r = r - alpha * ap
        rs_new = (r.abs() ** 2).sum(dim=-1, keepdim=True)
        beta = torch.where(active, rs_new / torch.where(active, rs, torch.ones_like(rs)), torch.zeros_like(rs))
        p = r + beta * p
        rs = torch.where(active, rs_new, rs)
    return z


def _split(e: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor, method: str, tol: float,
           n_iter: int) -> tuple[torch.Tensor, torch.Tensor]:
    meas = _project_eig(e, sens, mask, tol) if method == "eig" else _project_cg(e, sens, mask, tol, n_iter)
    return meas, e - meas


def measurement_null_split(
    error: ArrayLike, sens: ArrayLike, mask: ArrayLike, *, method: str = "eig", tol: float = DEFAULT_TOL,
    n_iter: int = DEFAULT_N_ITER,
) -> tuple[np.ndarray, np.ndarray]:
    """Split an error image into its measurement-space and null-space parts.

    Args:
        error: complex (or real) image on the k-space grid, (H, W) or (B, H, W).
        sens: coil sensitivities, complex, (C, H, W) or (B, C, H, W).
        mask: sampled columns, bool, (W,) or (B, W) (fastMRI's (B, 1, 1, W, 1) also accepted).
        method: ``"eig"`` (exact projector with spectral threshold ``tol``) or ``"cg"``
            (``n_iter`` conjugate-gradient steps); see the module docstring.
        tol: share of a direction's energy the acquisition must keep to count as measured
            (``"eig"``: hard threshold; ``"cg"``: Tikhonov damping ``tol·s_max``), in (0, 1).
        n_iter: CG iterations (``"cg"`` only).

    Returns:
        ``(meas, null)``: complex128 numpy arrays of the shape of ``error``; ``meas + null == error``.

    Raises:
        ConfigError: bad shapes, mismatched grids or coil counts, an empty mask, NaN/Inf values,
            unknown ``method`` or out-of-range ``tol`` / ``n_iter`` (the message names the argument).
    """
    _check_method(method, tol, n_iter)
    e, single = _images(error, "error")
    s = _sens(sens, e.shape[0], tuple(e.shape[-2:]))
    m = _mask(mask, e.shape[0], e.shape[-1])
    meas, null = _split(e, s, m, method, float(tol), n_iter)
    meas_np, null_np = meas.numpy(), null.numpy()
    return (meas_np[0], null_np[0]) if single else (meas_np, null_np)


# ----------------------------------------------------------------------------- maps and scores
@dataclass(frozen=True)
class HallucinationResult:
    """The split of one slice's (or a batch's) reconstruction error.

    Shapes: ``(h, w)`` maps and float scalars for a single slice; ``(B, h, w)`` maps and ``(B,)``
    arrays for a batch. Maps are complex128 on the image grid of the inputs; energies are sums of
    squared magnitudes on the full k-space grid.

    - ``null_map``: ``P_null e``, the hallucination map.
    - ``meas_map``: ``P_meas e``, the error the measurements can see (``meas_map + null_map = e``).
    - ``score``: ``null_energy / target_energy``.
    - ``null_fraction``: ``null_energy / error_energy`` (0 when the error is zero).
    """

    null_map: np.ndarray
    meas_map: np.ndarray
    score: Any
    null_fraction: Any
    error_energy: Any
    meas_energy: Any
    null_energy: Any
    target_energy: Any


def _is_complex_input(x: ArrayLike) -> bool:
    return x.is_complex() if isinstance(x, torch.Tensor) else bool(np.iscomplexobj(x))


def _with_phase(img: torch.Tensor, phase: torch.Tensor | None, given_complex: bool) -> torch.Tensor:
    """A real (magnitude) input times the unit-modulus ``phase``; complex inputs unchanged."""
    if phase is None or given_complex:
        return img
    return img.real.to(torch.complex128) * phase


def _phase(phase: ArrayLike | None, shape: tuple[int, ...]) -> torch.Tensor | None:
    """Unit-modulus complex (B, h, w) from radians (real) or complex values (their angle)."""
    if phase is None:
        return None
    p = _as_tensor(phase, "phase")
    if p.ndim == 2:
        p = p[None]
    if tuple(p.shape) != shape:
        raise ConfigError(f"phase has shape {tuple(p.shape)} but the images have {shape}")
    if p.is_complex():
        ang = torch.angle(p.to(torch.complex128))
    else:
        ang = p.to(torch.float64)
    if not torch.isfinite(ang).all():
        raise ConfigError("phase holds NaN or Inf values")
    return torch.polar(torch.ones_like(ang), ang)


def hallucination_map(
    recon: ArrayLike, target: ArrayLike, sens: ArrayLike, mask: ArrayLike, *, phase: ArrayLike | None = None,
    method: str = "eig", tol: float = DEFAULT_TOL, n_iter: int = DEFAULT_N_ITER,
) -> HallucinationResult:
    """Hallucination map and score of a reconstruction.

    Args:
        recon: reconstruction, (h, w) or (B, h, w); real magnitude (VarNet) or complex.
        target: ground truth, same shape as ``recon``; real magnitude or complex.
        sens: coil sensitivities on the k-space grid, complex, (C, H, W) or (B, C, H, W), with
            ``h <= H``, ``w <= W`` (images are zero-padded to the grid, fastMRI centre-crop offsets).
        mask: sampled columns, bool, (W,) or (B, W).
        phase: optional phase given to real (magnitude) images, (h, w) or (B, h, w): radians
            (real) or a complex image whose angle is used (e.g. :func:`complex_image`).
        method, tol, n_iter: see :func:`measurement_null_split`.

    Returns:
        :class:`HallucinationResult`.

    Raises:
        ConfigError: mismatched ``recon``/``target`` shapes, images larger than the ``sens`` grid,
            and everything :func:`measurement_null_split` refuses.
    """
    _check_method(method, tol, n_iter)
    xh, single = _images(recon, "recon")
    x, _ = _images(target, "target")
    if xh.shape != x.shape:
        raise ConfigError(f"recon has shape {tuple(xh.shape)} but target has {tuple(x.shape)}")
    s_t = _complex(sens, "sens")
    if s_t.ndim not in (3, 4):
        raise ConfigError(f"sens must have shape (C, H, W) or (B, C, H, W), got {tuple(s_t.shape)}")
    grid = tuple(s_t.shape[-2:])
    size = tuple(x.shape[-2:])
    if size[0] > grid[0] or size[1] > grid[1]:
        raise ConfigError(f"target is {size} but the sens grid is only {grid}")
    ph = _phase(phase, tuple(x.shape))
    xh, x = _with_phase(xh, ph, _is_complex_input(recon)), _with_phase(x, ph, _is_complex_input(target))
    e = _pad_to(xh - x, grid)  # type: ignore[arg-type]
    s = _sens(s_t, e.shape[0], grid)  # type: ignore[arg-type]
    m = _mask(mask, e.shape[0], grid[1])
    meas, null = _split(e, s, m, method, float(tol), n_iter)
    err_en = (e.abs() ** 2).sum(dim=(-2, -1))
    meas_en = (meas.abs() ** 2).sum(dim=(-2, -1))
    null_en = (null.abs() ** 2).sum(dim=(-2, -1))
    tgt_en = (x.abs() ** 2).sum(dim=(-2, -1))
    if (tgt_en <= 0).any():
        bad = (tgt_en <= 0).nonzero().flatten().tolist()
        raise ConfigError(f"target is zero everywhere (batch item(s) {bad}): the score is undefined")
    score = null_en / tgt_en
    frac = torch.where(err_en > 0, null_en / torch.where(err_en > 0, err_en, torch.ones_like(err_en)),
                       torch.zeros_like(err_en))
    null_map = _crop_to(null, size).numpy()  # type: ignore[arg-type]
    meas_map = _crop_to(meas, size).numpy()  # type: ignore[arg-type]

    def out(v: torch.Tensor) -> Any:
        a = v.numpy()
        return float(a[0]) if single else a

    if single:
        null_map, meas_map = null_map[0], meas_map[0]
    return HallucinationResult(null_map, meas_map, out(score), out(frac), out(err_en), out(meas_en),
                               out(null_en), out(tgt_en))


def hallucination_score(recon: ArrayLike, target: ArrayLike, sens: ArrayLike, mask: ArrayLike,
                        **kwargs: Any) -> Any:
    """``‖P_null (x̂ − x)‖² / ‖x‖²``: float for one (h, w) slice, (B,) array for a batch.

    Arguments as :func:`hallucination_map`.
    """
    return hallucination_map(recon, target, sens, mask, **kwargs).score


# ----------------------------------------------------------------------------- regions
class Region(NamedTuple):
    """One connected hallucinated region: ``label`` (1-based), ``area`` (pixels), ``centroid``
    (row, col), ``bbox`` (row0, col0, row1, col1; end exclusive), ``peak`` (max |null_map| inside)."""

    label: int
    area: int
    centroid: tuple[float, float]
    bbox: tuple[int, int, int, int]
    peak: float


def hallucinated_regions(
    null_map: ArrayLike, target: ArrayLike, *, sigma: float = 1.0, k: float = 3.0, frac: float = 0.05,
    min_size: int = 4,
) -> np.ndarray:
    """Boolean mask of the hallucinated regions of a null-space map.

    A pixel is flagged when the Gaussian-smoothed (``sigma`` pixels) ``|null_map|`` exceeds
    ``max(median + k·1.4826·MAD, frac·max|target|)``; connected components (8-connectivity) with
    fewer than ``min_size`` pixels are dropped.

    Args:
        null_map: (h, w) or (B, h, w), complex or real (its magnitude is used).
        target: same shape; only its maximum magnitude (per slice) is used.

    Returns:
        bool numpy array of the shape of ``null_map``.
    """
    if not (sigma >= 0 and k >= 0 and 0 <= frac < 1 and int(min_size) >= 1):
        raise ConfigError(f"need sigma >= 0, k >= 0, 0 <= frac < 1, min_size >= 1; got "
                          f"sigma={sigma}, k={k}, frac={frac}, min_size={min_size}")
    nm, single = _images(null_map, "null_map")
    tg, _ = _images(target, "target")
    if nm.shape != tg.shape:
        raise ConfigError(f"null_map has shape {tuple(nm.shape)} but target has {tuple(tg.shape)}")
    mag = nm.abs().numpy()
    tmax = tg.abs().flatten(1).amax(dim=1).numpy()
    out = np.zeros(mag.shape, dtype=bool)
    structure = np.ones((3, 3), dtype=bool)
    for i in range(mag.shape[0]):
        a = ndimage.gaussian_filter(mag[i], sigma) if sigma > 0 else mag[i]
        med = float(np.median(a))
        robust = 1.4826 * float(np.median(np.abs(a - med)))
        thr = max(med + k * robust, frac * float(tmax[i]))
        flagged = a > thr
        labels, n = ndimage.label(flagged, structure=structure)
        if n:
            sizes = ndimage.sum_labels(flagged, labels, index=np.arange(1, n + 1))
            keep = np.zeros(n + 1, dtype=bool)
            keep[1:] = sizes >= int(min_size)
            flagged = keep[labels]
        out[i] = flagged
    return out[0] if single else out


def label_regions(regions: ArrayLike, null_map: ArrayLike | None = None) -> list[Region]:
    """Connected components (8-connectivity) of a single-slice (h, w) region mask, largest first.

    ``null_map`` (h, w), if given, supplies each region's peak ``|null_map|`` (else 0).
    """
    r = np.asarray(regions.cpu() if isinstance(regions, torch.Tensor) else regions).astype(bool)
    if r.ndim != 2:
        raise ConfigError(f"regions must be a single (h, w) mask, got shape {r.shape}")
    mag = None
    if null_map is not None:
        mag = np.abs(np.asarray(null_map.cpu() if isinstance(null_map, torch.Tensor) else null_map))
        if mag.shape != r.shape:
            raise ConfigError(f"null_map has shape {mag.shape} but regions has {r.shape}")
    labels, n = ndimage.label(r, structure=np.ones((3, 3), dtype=bool))
    found = []
    for lab, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        inside = labels[sl] == lab
        rows, cols = np.nonzero(inside)
        peak = float(mag[sl][inside].max()) if mag is not None else 0.0
        found.append(Region(lab, int(inside.sum()),
                            (float(rows.mean() + sl[0].start), float(cols.mean() + sl[1].start)),
                            (sl[0].start, sl[1].start, sl[0].stop, sl[1].stop), peak))
    return sorted(found, key=lambda g: (-g.area, g.label))


# ----------------------------------------------------------------------------- sensitivities
def _kspace_complex(kspace: ArrayLike) -> tuple[torch.Tensor, bool]:
    """k-space as complex128 (B, C, H, W) and whether a single slice was given.

    Accepts complex (C, H, W) / (B, C, H, W) or fastMRI's real view (C, H, W, 2) / (B, C, H, W, 2).
    """
    t = _as_tensor(kspace, "kspace")
    if not t.is_complex():
        if t.ndim in (4, 5) and t.shape[-1] == 2:
            t = torch.view_as_complex(t.to(torch.float64).contiguous())
        else:
            raise ConfigError(f"kspace must be complex (C, H, W) / (B, C, H, W) or fastMRI's real view "
                              f"(C, H, W, 2) / (B, C, H, W, 2), got real shape {tuple(t.shape)}")
    t = _complex(t, "kspace")
    single = t.ndim == 3
    if single:
        t = t[None]
    if t.ndim != 4 or min(t.shape) == 0:
        raise ConfigError(f"kspace must have shape (C, H, W) or (B, C, H, W), got {tuple(t.shape)}")
    return t, single


def default_num_low_freqs(width: int) -> int:
    """Central columns used to estimate sensitivities from fully sampled k-space of width W."""
    return min(width, max(SENS_MIN_ACS, int(round(SENS_ACS_FRACTION * width))))


def estimate_sensitivities(kspace: ArrayLike, num_low_freqs: int | None = None) -> np.ndarray:
    """ESPIRiT-like low-resolution coil sensitivities from (fully sampled) k-space.

    The central ``num_low_freqs`` columns (and the same share of rows, at least as many as the
    columns allow) are kept under a separable Hann window, inverse FFT'd and divided by their RSS,
    so that ``Σ_c |S_c|² = 1`` at every pixel (pixels where the low-resolution RSS is below 1e-6
    of its maximum get zero maps). The maps absorb the object's low-resolution phase.

    Args:
        kspace: complex (C, H, W) or (B, C, H, W), or fastMRI's real view (..., 2).
        num_low_freqs: central columns to use (``default_num_low_freqs(W)`` if None); with
            undersampled data use at most the mask's fully sampled centre.

    Returns:
        complex64 numpy, (C, H, W) or (B, C, H, W).
    """
    k, single = _kspace_complex(kspace)
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
    low = _ifft2c(k * win.to(k.dtype))
    rss = torch.sqrt((low.abs() ** 2).sum(dim=1, keepdim=True))
    floor = 1e-6 * rss.flatten(1).amax(dim=1)[:, None, None, None]
    sens = torch.where(rss > floor, low / torch.where(rss > floor, rss, torch.ones_like(rss)), torch.zeros_like(low))
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
    k, single = _kspace_complex(kspace)
    s = _sens(sens, k.shape[0], tuple(k.shape[-2:]))
    if s.shape[1] != k.shape[1]:
        raise ConfigError(f"sens has {s.shape[1]} coils but kspace has {k.shape[1]}")
    img = (s.conj() * _ifft2c(k)).sum(dim=1).numpy()
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

    from .fastmri_h5 import KSPACE_KEY, inspect_volume

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


# ----------------------------------------------------------------------------- volumes
@dataclass(frozen=True)
class VolumeHallucination:
    """Per-slice table and volume summary.

    ``per_slice``: DataFrame with columns ``slice, score, null_fraction, error_energy, meas_energy,
    null_energy, target_energy, region_pixels``. ``summary``: ``score_mean`` (mean of the slice
    scores), ``score_volume`` (Σ null energy / Σ target energy), ``null_fraction`` (Σ null energy /
    Σ error energy), ``region_pixels`` (total flagged pixels), ``num_slices``.
    """

    per_slice: pd.DataFrame
    summary: dict[str, float]


def volume_hallucination(
    recons: ArrayLike, targets: ArrayLike, sens: ArrayLike, masks: ArrayLike, *, phases: ArrayLike | None = None,
    method: str = "eig", tol: float = DEFAULT_TOL, n_iter: int = DEFAULT_N_ITER, region_kwargs: dict | None = None,
) -> VolumeHallucination:
    """Hallucination scores of every slice of a volume.

    Args:
        recons: (S, h, w) reconstructions (magnitude or complex).
        targets: (S, h, w) ground truth.
        sens: (S, C, H, W) sensitivities (or (C, H, W) shared by all slices).
        masks: (W,) one mask for the volume, or (S, W).
        phases: optional (S, h, w) phase for magnitude images (see :func:`hallucination_map`).
        region_kwargs: passed to :func:`hallucinated_regions`.

    Returns:
        :class:`VolumeHallucination`.
    """
    r = _complex(recons, "recons")
    if r.ndim != 3:
        raise ConfigError(f"recons must have shape (S, h, w), got {tuple(r.shape)}")
    res = hallucination_map(recons, targets, sens, masks, phase=phases, method=method, tol=tol, n_iter=n_iter)
    regions = hallucinated_regions(res.null_map, np.asarray(_complex(targets, "targets")), **(region_kwargs or {}))
    table = pd.DataFrame({
        "slice": np.arange(r.shape[0]), "score": res.score, "null_fraction": res.null_fraction,
        "error_energy": res.error_energy, "meas_energy": res.meas_energy, "null_energy": res.null_energy,
        "target_energy": res.target_energy, "region_pixels": regions.reshape(r.shape[0], -1).sum(axis=1),
    })
    err = float(table.error_energy.sum())
    summary = {
        "score_mean": float(table.score.mean()),
        "score_volume": float(table.null_energy.sum() / table.target_energy.sum()),
        "null_fraction": float(table.null_energy.sum() / err) if err > 0 else 0.0,
        "region_pixels": float(table.region_pixels.sum()),
        "num_slices": float(len(table)),
    }
    return VolumeHallucination(table, summary)


def acquisition(path: str | os.PathLike[str], profile: Any, image_size: tuple[int, int]
                ) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, str]:
    """The evaluation acquisition of one volume, as the hallucination maps need it.

    Returns:
        ``(mask, sens, phase, sens_source)``: the eval mask (W,) bool (seeded by file name, the one
        :func:`mriunlearn.metrics.evaluate` uses); coil maps (S, C, H, W) complex (stored or
        estimated, ``sens_source`` says which); the phase image (S, h, w) complex of the fully
        sampled data combined with those maps, centre-cropped to ``image_size``.
    """
    from .dataset import SliceData

    data = SliceData([path], profile, train=False)
    mask = data[0].mask.reshape(-1)  # (W,) one eval mask per volume (seeded by file name)
    kspace = torch.view_as_complex(data.kspace[0])  # (S, C, H, W)
    sens, source = load_sensitivities(path, kspace.numpy())
    phase = _crop_to(torch.from_numpy(complex_image(kspace, sens)), image_size)
    return mask, sens, phase, source


def hallucination_table(
    model: torch.nn.Module | None, manifest: Any, role: str, profile: Any, *, method: str = "eig",
    tol: float = DEFAULT_TOL, n_iter: int = DEFAULT_N_ITER, files: Any = None,
) -> pd.DataFrame:
    """Per-volume hallucination scores of ``model`` on the volumes of ``role``.

    Each volume is reconstructed with :func:`mriunlearn.metrics.reconstruct_volume` (evaluation
    mask seeded by the file name, the same inputs :func:`mriunlearn.metrics.evaluate` scores); the
    mask is the one :class:`mriunlearn.dataset.SliceData` draws for that file (padding included);
    sensitivities come from :func:`load_sensitivities` (stored ``sens_maps`` of simulated data, else
    the estimate from the fully sampled k-space); magnitude images get the phase of
    :func:`complex_image` (fully sampled k-space, those maps), centre-cropped to the target.

    Args:
        model: a VarNet, or ``None`` to score the zero-filled baseline.
        manifest: a :class:`mriunlearn.manifest.Manifest`.
        role: one of :data:`mriunlearn.manifest.ROLES`.
        profile: a :class:`mriunlearn.profiles.Profile` (mask parameters, precision).
        method, tol, n_iter: see :func:`measurement_null_split` (``"cg"`` for real 640×368 data).
        files: optional subset of the role's volume paths.

    Returns:
        One row per volume: ``file, role, organ, slices, sens_source, hallucination_score`` (mean
        of the slice scores), ``score_volume`` (Σ null energy / Σ target energy),
        ``null_fraction`` (Σ null energy / Σ error energy: the share of the error that is
        hallucination), ``region_pixels``.
    """
    from pathlib import Path

    from .metrics import reconstruct_volume

    _check_method(method, tol, n_iter)
    paths = manifest.files(role)
    if files is not None:
        wanted = {str(Path(f)) for f in files}
        paths = [p for p in paths if str(p) in wanted]
    if not paths:
        raise ConfigError(f"role {role!r} holds no volume to score in {manifest.source or 'the manifest'}")
    table = manifest.table.set_index("path")
    rows = []
    for path in paths:
        target, recon, _ = reconstruct_volume(model, path, profile)
        mask, sens, phase, source = acquisition(path, profile, tuple(target.shape[-2:]))
        vol = volume_hallucination(recon, target, sens, mask, phases=phase, method=method, tol=tol,
                                   n_iter=n_iter)
        meta = table.loc[str(path)]
        rows.append({"file": meta["file"], "role": role, "organ": meta["organ"], "slices": int(target.shape[0]),
                     "sens_source": source, "hallucination_score": vol.summary["score_mean"],
                     "score_volume": vol.summary["score_volume"], "null_fraction": vol.summary["null_fraction"],
                     "region_pixels": int(vol.summary["region_pixels"])})
    return pd.DataFrame(rows, columns=["file", "role", "organ", "slices", "sens_source", "hallucination_score",
                                       "score_volume", "null_fraction", "region_pixels"])


__all__ = [
    "DEFAULT_N_ITER", "DEFAULT_TOL", "METHODS", "SENS_KEY", "HallucinationResult", "Region", "VolumeHallucination",
    "acquisition", "adjoint_operator", "complex_image", "default_num_low_freqs", "estimate_sensitivities", "forward_operator",
    "hallucinated_regions", "hallucination_map", "hallucination_score", "hallucination_table", "label_regions",
    "load_sensitivities", "measurement_null_split", "volume_hallucination",
]
