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

Forward operator (fastMRI multi-coil, Cartesian column mask; :mod:`mriunlearn.physics`)
--------------------------------------------------------------------------------------
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
  directions measured with 1e-6 of their energy are invisible under any noise. ``DEFAULT_TOL = 1e-3``
  lies on the plateau where the measured rank no longer depends on the number of coils (the
  measurement: ``docs/performance.md``, "Hallucination projectors"). Cost: O(H·W³) per slice;
  memory is bounded by processing rows in chunks.
- ``"cg"`` (matrix-free): conjugate gradient on every row system ``(G_h + τ I) z = G_h e``,
  ``τ = tol·s_max``, from ``z = 0`` (per-row inner products, batched in torch, complex128), and
  ``P_meas e ≈ z``. This is the Tikhonov ("soft") version of the spectral threshold: each
  eigen-direction is kept with weight ``λ/(λ+τ)`` instead of ``1[λ > τ]``; it equals ``A⁺A`` as
  ``tol → 0`` and ``n_iter → ∞``, and is close to, not exactly, an orthogonal projector. The damping
  is deliberate: undamped CG on ``G_h z = G_h e`` (the textbook ``A⁺A``) converges to the exact
  projector, but multi-coil ``G_h`` is so ill-conditioned that after n steps its answer is set by n,
  whereas the damped system has condition number ≤ (1+tol)/tol and converges within
  ``DEFAULT_N_ITER`` steps. Cost O(n_iter·C·H·W·log W): the choice for large grids (real fastMRI,
  640×368). ``tests/test_hallucination.py`` checks its agreement with ``"eig"`` and its convergence
  to ``A⁺A``; measured distances and times: ``docs/performance.md``, "Hallucination projectors".

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
  image ``S^H F^H k`` (:func:`mriunlearn.physics.complex_image`). Consequences: only magnitude errors are scored
  (VarNet's phase errors are invisible to the metrics too); for the simulated data (true maps,
  ``Σ_c|S_c|² = 1``) ``|S^H F^H k| ≈`` the RSS target up to noise. With maps *estimated* by
  :func:`mriunlearn.physics.estimate_sensitivities`, the maps absorb the object's smooth phase
  (``S_est ≈ S·e^{iφ_lowres}``), so ``S^H F^H k`` is nearly real and ``phase=None`` (real images)
  is the consistent choice there.
- Complex inputs are used as they are (no phase is applied).

Public API (every function accepts numpy arrays or torch tensors, one slice or a batch)
-------------------------------------------------------------------------------------
``measurement_null_split(error, sens, mask) -> (meas, null)``, ``hallucination_map(recon, target,
sens, mask) -> HallucinationResult``, ``hallucination_score(...) -> float``,
``hallucinated_regions(null_map, target) -> bool mask``, ``label_regions(mask) -> [Region]``,
``volume_hallucination(recons, targets, sens, masks) -> VolumeHallucination``,
``acquisition(path, profile, size)`` and ``hallucination_table(model, manifest, role, profile) ->
DataFrame`` (one row per volume; use :mod:`mriunlearn.metrics` and :mod:`mriunlearn.dataset`,
imported only when called). The operators themselves (``A``, ``A^H``, ``A^H A``, the centred FFTs)
and the coil sensitivities (``estimate_sensitivities``, ``load_sensitivities``, ``complex_image``)
live in :mod:`mriunlearn.physics`.

Sensitivities: where they come from
-----------------------------------
- Simulated (embedded) data: the true maps, stored per file as the dataset ``sens_maps``
  ``(slices, coils, H, W)`` complex64 (:func:`mriunlearn.physics.load_sensitivities` reads them).
- Real fastMRI data (no stored maps): :func:`mriunlearn.physics.estimate_sensitivities` from the fully sampled
  k-space centre (a windowed low-resolution estimate, not ESPIRiT: Hann-windowed central k-space block,
  inverse FFT, division by the RSS, so ``Σ_c |S_c|² = 1``), with ``physics.SENS_ACS_FRACTION`` of the
  columns (at least ``physics.SENS_MIN_ACS`` lines). VarNet's own ``model.sens_net(masked_kspace, mask,
  num_low_frequencies)`` also returns RSS-normalised maps, but they are trained implicitly and
  model-dependent: using them would make the operator, and hence the score, depend on the model
  being scored, so they are not used.

How the scores with estimated maps compare with those with the true maps on the embedded data:
``docs/performance.md``, "Hallucination projectors".

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
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from scipy import ndimage

from .errors import ConfigError
from .physics import (as_column_mask, as_complex, as_images, as_sens, as_tensor, complex_image, crop_to, fft1c,
                      load_sensitivities, normal_operator, pad_to)
from .profiles import HALLUCINATION_PROJECTORS

ArrayLike = Any  # numpy.ndarray or torch.Tensor

#: default spectral threshold of the ``"eig"`` projector (share of a direction's energy that is measured)
DEFAULT_TOL = 1e-3
#: default CG iterations of the ``"cg"`` method
DEFAULT_N_ITER = 30
#: the projectors (``method=``); a profile chooses one for the notebooks (``hallucination_projector``)
METHODS: tuple[str, ...] = HALLUCINATION_PROJECTORS
#: bytes of row matrices (complex128) the ``"eig"`` method builds at once
_EIG_CHUNK_BYTES = 128 * 2**20


def _check_method(method: str, tol: float, n_iter: int) -> None:
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    if not (isinstance(tol, (int, float)) and 0.0 < float(tol) < 1.0):
        raise ConfigError(f"tol must lie in (0, 1), got {tol!r}")
    if not (isinstance(n_iter, int) and n_iter >= 1):
        raise ConfigError(f"n_iter must be a positive integer, got {n_iter!r}")


# ----------------------------------------------------------------------------- projectors
def _row_eigs(sens: torch.Tensor, mask: torch.Tensor) -> Iterator[tuple[int, slice, torch.Tensor, torch.Tensor]]:
    """Eigendecompositions of the row matrices ``G_h = Q ∘ K_h`` (see module docstring), in chunks.

    ``sens`` (B, C, H, W) complex128, ``mask`` (B, W). Yields ``(i, rows, lam, u)``: slice ``i``, the
    image rows of the chunk, their eigenvalues (R, W) ascending and eigenvectors (R, W, W).
    """
    b, c, h, w = sens.shape
    eye = torch.eye(w, dtype=torch.complex128)
    fw = fft1c(eye.T).T  # (W, W): column j is the centred DFT of e_j, i.e. the DFT matrix F_W
    chunk = max(1, _EIG_CHUNK_BYTES // (16 * w * w * 3))
    for i in range(b):
        q = fw.conj().T @ (mask[i].to(torch.complex128)[:, None] * fw)  # F_W^H M F_W
        for r0 in range(0, h, chunk):
            s = sens[i, :, r0:r0 + chunk]  # (C, rows, W)
            k = torch.einsum("cri,crj->rij", s.conj(), s)
            g = q[None] * k
            g = 0.5 * (g + g.conj().transpose(-1, -2))
            lam, u = torch.linalg.eigh(g)
            yield i, slice(r0, r0 + chunk), lam, u


def _smax(sens: torch.Tensor) -> torch.Tensor:
    """(B,) ``max_pixels Σ_c |S_c|²``, an upper bound of every eigenvalue of a slice's ``A^H A``."""
    return (sens.abs() ** 2).sum(dim=1).flatten(1).amax(dim=1)


def _project_eig(e: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor, tol: float) -> torch.Tensor:
    """``P_meas e`` by per-row eigendecomposition of ``G_h = Q ∘ K_h`` (see module docstring)."""
    out = torch.empty_like(e)
    smax = _smax(sens)
    for i, rows, lam, u in _row_eigs(sens, mask):
        keep = (lam > tol * smax[i]).to(u.dtype)
        coef = torch.einsum("rji,rj->ri", u.conj(), e[i, rows]) * keep
        out[i, rows] = torch.einsum("rij,rj->ri", u, coef)
    return out


def null_space_share(sens: ArrayLike, mask: ArrayLike, tol: float = DEFAULT_TOL) -> float:
    """Share of the image directions an acquisition leaves unmeasured: the null space's dimension
    ÷ the image's, where a direction counts as measured when the acquisition keeps more than ``tol``
    of its energy (the ``"eig"`` projector's rule).

    ``sens``: coil maps (C, H, W) or (S, C, H, W); ``mask``: the column mask (W,) or (S, W), shared
    by the slices when 1-D. 0 means every reconstruction error is visible in the measured k-space,
    so every hallucination map and score is zero by construction.
    """
    _check_method("eig", tol, 1)
    raw = as_complex(sens, "sens")
    batch = raw.shape[0] if raw.ndim == 4 else 1
    maps = as_sens(raw, batch, tuple(raw.shape[-2:]))
    cols = as_column_mask(mask, batch, maps.shape[-1])
    smax = _smax(maps)
    unmeasured = sum(int((lam <= tol * smax[i]).sum()) for i, _, lam, _ in _row_eigs(maps, cols))
    return unmeasured / (maps.shape[0] * maps.shape[-2] * maps.shape[-1])


def leaves_null_space(shares: ArrayLike) -> bool:
    """Whether any of the acquisitions whose :func:`null_space_share` values are ``shares`` leaves an
    image direction unmeasured. With none, every hallucination map and score is zero by
    construction: the one rule by which the notebooks and the claims call hallucination "not measurable".

    >>> leaves_null_space([0.0, 0.0]), leaves_null_space([0.0, 0.01])
    (False, True)
    """
    return bool(np.any(np.asarray(shares, dtype=np.float64) > 0))


def _project_cg(e: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor, tol: float, n_iter: int) -> torch.Tensor:
    """``P_meas e ≈ z``: CG on every row system ``(G_h + τ I) z = G_h e`` from ``z = 0``, τ = tol·s_max.

    Inner products are taken per image row (the rows are independent systems), so every row gets
    its own step sizes; iteration stops early once every row's residual has dropped by 1e-14.

    The iteration runs on images ``ifftshift``-ed along W (maps, error and mask shifted once): there
    the centring shifts of ``fft1c``/``ifft1c`` inside :func:`mriunlearn.physics.normal_operator`
    cancel, ``ifftshift(A^H A x) = Σ_c conj(S'_c) F^H M' F (S'_c x')`` with plain orthonormal FFTs
    (``'`` = shifted). A shift is a permutation within each row, so the row inner products, step
    sizes and result are those of the unshifted iteration (to rounding); it saves the four shifts
    of every operator application.
    """
    smax = (sens.abs() ** 2).sum(dim=1).flatten(1).amax(dim=1)[:, None, None]  # (B, 1, 1)
    damp = tol * smax
    s = torch.fft.ifftshift(sens, dim=-1)
    m = torch.fft.ifftshift(mask, dim=-1)[:, None, None, :].to(e.dtype)

    def normal(v: torch.Tensor) -> torch.Tensor:  # ifftshift(A^H A fftshift(v)), see above
        coil = torch.fft.ifft(m * torch.fft.fft(s * v[:, None], dim=-1, norm="ortho"), dim=-1, norm="ortho")
        return (s.conj() * coil).sum(dim=1)

    def op(v: torch.Tensor) -> torch.Tensor:
        return normal(v) + damp * v

    e = torch.fft.ifftshift(e, dim=-1)
    z = torch.zeros_like(e)
    r = normal(e)
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
    return torch.fft.fftshift(z, dim=-1)


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
    e, single = as_images(error, "error")
    s = as_sens(sens, e.shape[0], tuple(e.shape[-2:]))
    m = as_column_mask(mask, e.shape[0], e.shape[-1])
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
    p = as_tensor(phase, "phase")
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


def _checked_pair(recon: ArrayLike, target: ArrayLike, sens: ArrayLike
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """``(recon (B, h, w), target (B, h, w), sens complex (C, H, W) or (B, C, H, W), single)``;
    ``single``: the inputs were one ``(h, w)`` slice.

    Raises:
        ConfigError: mismatched ``recon``/``target`` shapes, ``sens`` not 3-D or 4-D, or images
            larger than the ``sens`` grid.
    """
    xh, single = as_images(recon, "recon")
    x, _ = as_images(target, "target")
    if xh.shape != x.shape:
        raise ConfigError(f"recon has shape {tuple(xh.shape)} but target has {tuple(x.shape)}")
    s_t = as_complex(sens, "sens")
    if s_t.ndim not in (3, 4):
        raise ConfigError(f"sens must have shape (C, H, W) or (B, C, H, W), got {tuple(s_t.shape)}")
    grid = tuple(s_t.shape[-2:])
    size = tuple(x.shape[-2:])
    if size[0] > grid[0] or size[1] > grid[1]:
        raise ConfigError(f"target is {size} but the sens grid is only {grid}")
    return xh, x, s_t, single


def _split_result(e: torch.Tensor, meas: torch.Tensor, null: torch.Tensor, x: torch.Tensor,
                  size: tuple[int, int], single: bool) -> HallucinationResult:
    """Energies, score and maps (cropped to ``size``) of the error ``e = meas + null`` ``(B, H, W)``
    against the target ``x`` ``(B, h, w)``; a ``single`` slice gets ``(h, w)`` maps and float scalars.

    Raises:
        ConfigError: a batch item whose target is zero everywhere (the score is undefined).
    """
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
    null_map = crop_to(null, size).numpy()  # type: ignore[arg-type]
    meas_map = crop_to(meas, size).numpy()  # type: ignore[arg-type]

    def out(v: torch.Tensor) -> Any:
        a = v.numpy()
        return float(a[0]) if single else a

    if single:
        null_map, meas_map = null_map[0], meas_map[0]
    return HallucinationResult(null_map, meas_map, out(score), out(frac), out(err_en), out(meas_en),
                               out(null_en), out(tgt_en))


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
    xh, x, s_t, single = _checked_pair(recon, target, sens)
    grid = tuple(s_t.shape[-2:])
    size = tuple(x.shape[-2:])
    ph = _phase(phase, tuple(x.shape))
    xh, x = _with_phase(xh, ph, _is_complex_input(recon)), _with_phase(x, ph, _is_complex_input(target))
    e = pad_to(xh - x, grid)  # type: ignore[arg-type]
    s = as_sens(s_t, e.shape[0], grid)  # type: ignore[arg-type]
    m = as_column_mask(mask, e.shape[0], grid[1])
    meas, null = _split(e, s, m, method, float(tol), n_iter)
    return _split_result(e, meas, null, x, size, single)  # type: ignore[arg-type]


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
    nm, single = as_images(null_map, "null_map")
    tg, _ = as_images(target, "target")
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
    r = as_complex(recons, "recons")
    if r.ndim != 3:
        raise ConfigError(f"recons must have shape (S, h, w), got {tuple(r.shape)}")
    res = hallucination_map(recons, targets, sens, masks, phase=phases, method=method, tol=tol, n_iter=n_iter)
    regions = hallucinated_regions(res.null_map, np.asarray(as_complex(targets, "targets")), **(region_kwargs or {}))
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
    phase = crop_to(torch.from_numpy(complex_image(kspace, sens)), image_size)
    return mask, sens, phase, source


def hallucination_table(
    model: torch.nn.Module | None, manifest: Any, role: str, profile: Any, *, method: str | None = None,
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
        profile: a :class:`mriunlearn.profiles.Profile` (mask parameters, precision, and the
            projector ``hallucination_projector`` used when ``method`` is ``None``).
        method, tol, n_iter: see :func:`measurement_null_split` (``"cg"`` for real 640×368 data);
            ``method=None``: the profile's ``hallucination_projector`` (``"cg"`` for ``paper``).
        files: optional subset of the role's volume paths.

    Returns:
        One row per volume: ``file, role, organ, slices, sens_source, hallucination_score`` (mean
        of the slice scores), ``score_volume`` (Σ null energy / Σ target energy),
        ``null_fraction`` (Σ null energy / Σ error energy: the share of the error that is
        hallucination), ``region_pixels``.
    """
    from pathlib import Path

    from .metrics import reconstruct_volume

    if method is None:
        method = profile.hallucination_projector
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
    "DEFAULT_N_ITER", "DEFAULT_TOL", "METHODS", "HallucinationResult", "Region", "VolumeHallucination",
    "acquisition", "hallucinated_regions", "hallucination_map", "hallucination_score", "hallucination_table",
    "label_regions", "measurement_null_split", "volume_hallucination",
]
