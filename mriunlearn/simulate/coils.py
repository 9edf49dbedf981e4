"""Multi-coil acquisition model: coil sensitivities, image phase, centred FFT, k-space noise.

Deterministic operators (:func:`sensitivity_maps`; the centred FFTs and RSS of :mod:`mriunlearn.physics`) are
kept apart from the random draws of their parameters (:func:`sample_coil_geometry`,
:func:`smooth_phase`), so a volume is replayable from its generator.

Coil model (our own, analytic): ``num_coils`` small receive loops sit evenly on an ellipse around
the field of view (random rotation, radius and axial offsets per volume). A loop's sensitivity
magnitude falls off like the on-axis Biot-Savart field of a loop of radius ``a``,
``(1 + (d / a)^2)^(-3/2)`` with ``d`` the 3-D distance from the loop centre, and its phase is the
loop's own phase plus a gentle linear ramp. The maps are then normalised so that
``sum_c |S_c|^2 = 1`` at every pixel, hence the noise-free RSS of the coil images equals the object
magnitude exactly.

FFT convention (as ``fastmri.fft2c``; :func:`mriunlearn.physics.fft2c` on numpy arrays):
``ifftshift -> fft2(norm="ortho") -> fftshift`` over the last two axes. With the orthonormal FFT, complex white noise of standard deviation ``sigma`` per k-space
sample has the same standard deviation per image pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import ConfigError
from ..physics import fft2c, ifft2c, rss


@dataclass(frozen=True)
class CoilGeometry:
    """Random parameters of one volume's receive array (drawn once, then reused for every slice).

    Lengths are in units of the half field of view (the image spans [-1, 1] on both axes).
    """

    angles: np.ndarray  # (C,) angular position of each loop on the ellipse, radians
    radii: np.ndarray  # (C,) distance of each loop from the centre
    z_offsets: np.ndarray  # (C,) position of each loop along the slice axis
    loop_radius: float  # a, the loops' size
    phases: np.ndarray  # (C,) constant phase of each loop, radians
    ramps: np.ndarray  # (C, 2) linear phase ramp (rad per half-FOV) along (rows, cols)

    @property
    def num_coils(self) -> int:
        return int(self.angles.shape[0])


def sample_coil_geometry(num_coils: int, rng: np.random.Generator, loop_scale: float = 1.0) -> CoilGeometry:
    """Draw a receive-array geometry with ``num_coils`` loops.

    ``loop_scale`` multiplies the drawn loop radius (0.55-0.8 half-FOVs: loops of a sparse 8-channel
    array); the random draws are the same for every value, so only the loops' size changes.
    """
    if int(num_coils) < 1:
        raise ConfigError(f"num_coils must be >= 1, got {num_coils!r}")
    if not loop_scale > 0:
        raise ConfigError(f"loop_scale must be > 0, got {loop_scale!r}")
    c = int(num_coils)
    start = rng.uniform(0.0, 2.0 * np.pi)
    angles = start + 2.0 * np.pi * np.arange(c) / c + rng.normal(0.0, 0.08, c)
    radii = rng.uniform(1.05, 1.3) * (1.0 + rng.normal(0.0, 0.03, c))
    z_offsets = rng.normal(0.0, 0.25, c)
    return CoilGeometry(
        angles=angles, radii=radii, z_offsets=z_offsets, loop_radius=float(rng.uniform(0.55, 0.8)) * loop_scale,
        phases=rng.uniform(-np.pi, np.pi, c), ramps=rng.normal(0.0, 0.6, (c, 2)),
    )


def sensitivity_maps(geometry: CoilGeometry, shape: tuple[int, int], z: float = 0.0) -> np.ndarray:
    """Coil sensitivities of ``geometry`` on an ``(H, W)`` grid at slice position ``z`` (half-FOVs).

    Returns:
        complex64 ``(C, H, W)`` with ``sum_c |S_c|^2 = 1`` at every pixel.
    """
    h, w = shape
    rows = np.linspace(-1.0, 1.0, h, dtype=np.float64)[None, :, None]
    cols = np.linspace(-1.0, 1.0, w, dtype=np.float64)[None, None, :]
    cr = (geometry.radii * np.sin(geometry.angles))[:, None, None]
    cc = (geometry.radii * np.cos(geometry.angles))[:, None, None]
    dz = (z - geometry.z_offsets)[:, None, None]
    d2 = (rows - cr) ** 2 + (cols - cc) ** 2 + dz ** 2
    mag = (1.0 + d2 / geometry.loop_radius ** 2) ** -1.5
    phase = (geometry.phases[:, None, None] + geometry.ramps[:, 0, None, None] * rows
             + geometry.ramps[:, 1, None, None] * cols)
    maps = mag * np.exp(1j * phase)
    maps /= np.sqrt(np.sum(np.abs(maps) ** 2, axis=0, keepdims=True))
    return maps.astype(np.complex64)


def smooth_phase(shape: tuple[int, int], rng: np.random.Generator, max_rad: float = np.pi / 2) -> np.ndarray:
    """A smooth random object phase on an ``(H, W)`` grid: a random plane plus a low-pass random field.

    Returns:
        float64 ``(H, W)`` radians, roughly within ``[-max_rad, max_rad]``.
    """
    h, w = shape
    rows = np.linspace(-1.0, 1.0, h)[:, None]
    cols = np.linspace(-1.0, 1.0, w)[None, :]
    plane = rng.uniform(-0.5, 0.5) * rows + rng.uniform(-0.5, 0.5) * cols
    field = ndimage.gaussian_filter(rng.standard_normal((h, w)), sigma=max(h, w) / 6.0, mode="wrap")
    field /= np.abs(field).max() + 1e-12
    return max_rad * (0.5 * plane + 0.5 * field) + rng.uniform(-np.pi, np.pi)


def noise_sigma(magnitude: np.ndarray, snr_db: float) -> float:
    """Per-sample standard deviation of complex k-space noise for a given SNR.

    SNR is defined on the image: ``20 log10(mean object magnitude / sigma)``, the object being the
    pixels above 10 % of the maximum of ``magnitude`` (any shape, e.g. a whole ``(S, H, W)`` volume).
    """
    mag = np.abs(np.asarray(magnitude)).astype(np.float64)
    peak = mag.max()
    if not peak > 0:
        raise ConfigError("noise_sigma: the image is empty (maximum magnitude is 0)")
    mean_obj = mag[mag > 0.1 * peak].mean()
    return float(mean_obj / 10.0 ** (float(snr_db) / 20.0))


def simulate_multicoil(
    image: np.ndarray,
    num_coils: int,
    rng: np.random.Generator,
    snr_db: float,
    *,
    geometry: CoilGeometry | None = None,
    z: float = 0.0,
    sigma: float | None = None,
    phase: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate a fully sampled multi-coil acquisition of one slice.

    Args:
        image: ``(H, W)`` object; a real magnitude is given a smooth random phase, a complex image
            is used as is.
        num_coils: number of receive coils C (ignored if ``geometry`` is given; must match it).
        rng: random generator (coil geometry if not given, phase, noise).
        snr_db: image SNR (see :func:`noise_sigma`); ignored when ``sigma`` is given.
        geometry: a volume's coil array, to share one array across slices.
        z: slice position along the slice axis, in half-FOVs.
        sigma: noise standard deviation per complex k-space sample (share it across a volume).
        phase: ``(H, W)`` radians to use instead of a random phase (real ``image`` only).

    Returns:
        ``(kspace, target, sens)``: kspace complex64 ``(C, H, W)`` (noisy, fully sampled),
        target float32 ``(H, W)`` = RSS of ``ifft2c(kspace)`` (fastMRI's reconstruction_rss),
        sens complex64 ``(C, H, W)`` the true sensitivities (``sum_c |S_c|^2 = 1``).
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ConfigError(f"simulate_multicoil: image must be 2-D (H, W), got shape {image.shape}")
    if geometry is None:
        geometry = sample_coil_geometry(num_coils, rng)
    elif geometry.num_coils != int(num_coils):
        raise ConfigError(f"simulate_multicoil: num_coils={num_coils} but the geometry has {geometry.num_coils}")
    if np.iscomplexobj(image):
        obj = image.astype(np.complex128)
    else:
        ph = smooth_phase(image.shape, rng) if phase is None else phase
        obj = image.astype(np.float64) * np.exp(1j * ph)
    sens = sensitivity_maps(geometry, image.shape, z)
    if sigma is None:
        sigma = noise_sigma(obj, snr_db)
    kspace = fft2c(sens.astype(np.complex128) * obj[None])
    noise = rng.standard_normal((2,) + kspace.shape) * (sigma / np.sqrt(2.0))
    kspace = (kspace + noise[0] + 1j * noise[1]).astype(np.complex64)
    target = rss(ifft2c(kspace)).astype(np.float32)
    return kspace, target, sens
