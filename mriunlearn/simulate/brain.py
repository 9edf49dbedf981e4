"""T2-weighted-looking axial brain slices synthesised from the MNI152 2009 template.

Source anatomy: the MNI ICBM152 2009 (sym, 09a) T1 template and its grey/white-matter probability
maps shipped inside ``nilearn`` (``nilearn.datasets.load_mni152_*``; read from the installed
package, nothing is downloaded). The template is skull-stripped, so the head around the brain is
synthesised: an intracranial envelope (the brain mask smoothed and closed) and its signed distance
give the CSF between brain and skull and, outside it, concentric layers of inner table, diploe,
outer table, galea/temporalis muscle, subcutaneous fat and skin.

T2 FSE contrast (relative): CSF 1.0 > fat ~0.7 > grey matter ~0.45 > white matter ~0.3 > muscle
~0.2 > cortical bone ~0.03. Each subject (see :class:`BrainParams`) gets its own affine pose and
size, a smooth random 3-D displacement field, layer thicknesses, tissue contrasts, a smooth bias
field, fine texture and a random block of axial levels; all draws come from one
``numpy.random.Generator`` so a subject is replayable.

A second anatomy source, for test brains of an anatomy no training brain deforms (``anatomy="colin27"``):
Colin27, one real person's brain (27 scans of the same man, averaged), skull-stripped on the MNI grid, as
Debian's and Ubuntu's ``mricron-data`` install it (:func:`~mriunlearn.paths.colin27_file`). No package
ships its segmentation, so its grey/white-matter probabilities come from a three-class Gaussian mixture of
its T1 intensities (:func:`_load_colin27`); the head around it is synthesised as for the template.

Image orientation: radiological display, anterior at the top (row 0), the patient's right on the
image's left (column 0).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import ndimage

from .. import paths
from ..atomic import sha256_file
from ..errors import ConfigError
from .partial_volume import slice_offsets

#: label map values of :func:`render_brain`
BRAIN_LABELS: dict[int, str] = {
    0: "background", 1: "csf", 2: "grey_matter", 3: "white_matter", 4: "bone", 5: "diploe",
    6: "muscle", 7: "fat", 8: "skin",
}
#: mean T2 FSE intensity of each label (before per-subject jitter); background is 0
T2_INTENSITY: dict[str, float] = {
    "csf": 1.0, "grey_matter": 0.46, "white_matter": 0.31, "bone": 0.03, "diploe": 0.42,
    "muscle": 0.2, "fat": 0.72, "skin": 0.35,
}
#: outer layers of the head, inside out, and their mean thickness in mm
_LAYERS: tuple[tuple[str, float], ...] = (
    ("bone", 1.8), ("diploe", 2.6), ("bone", 1.5), ("muscle", 1.6), ("fat", 4.5), ("skin", 1.4),
)
_SD_STEP_MM = 2.0  # grid step of the signed-distance map
_SD_PAD = 14  # voxels of padding around the 2 mm grid (28 mm of head layers fit)
_SUPERSAMPLE = 2  # render at this factor, then block-average (partial volume, no aliasing)
#: steepness of an individual's tissue boundaries on the template's probability scale
#: (:func:`_individual_detail`): a probability 0.1 from 0.5 is ~84 % one tissue
_SHARP_WIDTH = 0.06
#: sulcal clefts (:func:`_sulci`): wavelengths (mm) of the random folding field, and its number of modes
_SULCUS_WAVELENGTH_MM: tuple[float, float] = (18.0, 32.0)
_SULCUS_MODES = 24
#: half-width of a cleft on the folding field's unit-variance scale (about 1-1.5 mm at these wavelengths)
_SULCUS_WIDTH = 0.18
#: sulci reach this deep (mm) below the intracranial envelope
_SULCUS_DEPTH_MM = 18.0
#: last element of a subject's seed for its sulci, apart from the stream of its other draws
_SULCUS_STREAM = 7


@dataclass(frozen=True)
class _Template:
    gm: np.ndarray  # (X, Y, Z) float32 grey-matter probability, 1 mm grid
    wm: np.ndarray  # (X, Y, Z) float32 white-matter probability
    sd: np.ndarray  # (X', Y', Z') float32 signed distance (mm) to the intracranial envelope, 2 mm grid
    origin: np.ndarray  # (3,) MNI mm of voxel (0, 0, 0) of the 1 mm grid


_MNI_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}


def _load_mni152() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(t1, gm, wm, affine)``, each map rescaled to a maximum of 1 as nilearn's loaders do.

    Reads the files that ``nilearn.datasets.load_mni152_{template,gm_template,wm_template}``
    (resolution=1) read, straight from the installed package with nibabel: importing
    ``nilearn.datasets`` alone takes ~2 s. Falls back to nilearn's loaders if the files moved.
    """
    import importlib.util

    import nibabel

    spec = importlib.util.find_spec("nilearn")
    folders = [Path(p) / "datasets" / "data" for p in (spec.submodule_search_locations or [])] if spec else []
    found = [f for f in folders if all((f / name).exists() for name in _MNI_FILES.values())]
    if found:
        imgs = {k: nibabel.load(found[0] / name) for k, name in _MNI_FILES.items()}
    else:  # pragma: no cover - depends on the nilearn layout
        from nilearn import datasets

        imgs = {"t1": datasets.load_mni152_template(resolution=1),
                "gm": datasets.load_mni152_gm_template(resolution=1),
                "wm": datasets.load_mni152_wm_template(resolution=1)}
    maps = []
    for key in ("t1", "gm", "wm"):
        data = np.asarray(imgs[key].get_fdata(dtype=np.float32), dtype=np.float32)
        maps.append(data / data.max())
    return maps[0], maps[1], maps[2], np.asarray(imgs["t1"].affine)


#: every subsampled voxel of Colin27's brain the tissue mixture is fitted to (:func:`_load_colin27`)
_MIXTURE_STRIDE = 5


def _load_colin27() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(t1, gm, wm, affine)`` of Colin27 (:func:`~mriunlearn.paths.colin27_file`): its T1 scaled to a
    maximum of 1, and grey- and white-matter probabilities from a three-class Gaussian mixture of the
    brain's T1 intensities (CSF < grey < white matter; seeded, fitted on every
    :data:`_MIXTURE_STRIDE`-th brain voxel).

    Raises:
        ConfigError: the file is missing (how to install it is named).
    """
    import nibabel
    from sklearn.mixture import GaussianMixture

    path = paths.colin27_file()
    if not path.is_file():
        raise ConfigError(f"Colin27 (one real brain, the held-out anatomy) not found at {path}: install Debian's or "
                          "Ubuntu's mricron-data (apt-get install mricron-data), or set MRIUNLEARN_COLIN27 to a "
                          "skull-stripped 1 mm T1 NIfTI on the MNI grid")
    img = nibabel.load(path)
    t1 = np.asarray(img.get_fdata(dtype=np.float32), dtype=np.float32)
    t1 /= t1.max()
    inside = t1 > 0
    values = t1[inside].astype(np.float64).reshape(-1, 1)
    mixture = GaussianMixture(3, random_state=0).fit(values[::_MIXTURE_STRIDE])
    posterior = mixture.predict_proba(values)[:, np.argsort(mixture.means_.ravel())]  # (N, 3): csf, grey, white
    gm, wm = np.zeros_like(t1), np.zeros_like(t1)
    gm[inside], wm[inside] = posterior[:, 1], posterior[:, 2]
    return t1, gm, wm, np.asarray(img.affine)


#: the anatomy sources a brain subject can deform (:func:`render_brain`'s ``anatomy``) and their loaders
ANATOMIES: dict[str, Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {
    "mni152": _load_mni152, "colin27": _load_colin27}


def check_anatomy(anatomy: str) -> str:
    """``anatomy`` if it names an :data:`ANATOMIES` source; else ConfigError naming the valid ones."""
    if anatomy not in ANATOMIES:
        raise ConfigError(f"unknown brain anatomy {anatomy!r}; valid: {', '.join(ANATOMIES)}")
    return anatomy


def anatomy_identity(anatomy: str) -> str:
    """A name for ``anatomy`` that changes with its source: ``"mni152"`` (it ships with nilearn, whose
    version the environment pins) or ``"colin27_<first 12 hex digits of its file's SHA-256>"``."""
    if check_anatomy(anatomy) == "mni152":
        return anatomy
    path = paths.colin27_file()
    if not path.is_file():
        _load_colin27()  # raises, naming how to install it
    return f"{anatomy}_{sha256_file(path)[:12]}"


def _template(anatomy: str = "mni152") -> _Template:
    """An anatomy's maps (:data:`ANATOMIES`), loaded once per source (:func:`anatomy_identity`)."""
    return _template_of(anatomy_identity(anatomy))


@lru_cache(maxsize=None)
def _template_of(identity: str) -> _Template:
    """Load the maps of the anatomy ``identity`` names and derive its intracranial envelope's signed distance."""
    anatomy = identity.split("_")[0]
    t1, gm, wm, affine = ANATOMIES[anatomy]()
    if not np.allclose(affine[:3, :3], np.eye(3)):
        raise ConfigError(f"{anatomy} anatomy: expected a 1 mm RAS grid, got affine {affine.tolist()}")
    gm, wm = np.clip(gm, 0, 1), np.clip(wm, 0, 1)
    total = gm + wm
    over = total > 1
    gm[over] /= total[over]
    wm[over] /= total[over]
    # intracranial envelope on a 2 mm grid: brain mask, smoothed (fills sulci), holes filled
    mask = (t1 > 0.05).astype(np.float32)
    coarse = ndimage.zoom(mask, 1.0 / _SD_STEP_MM, order=1)
    coarse = np.pad(coarse, _SD_PAD)
    env = ndimage.gaussian_filter(coarse, 1.5) > 0.3
    env = ndimage.binary_fill_holes(env)
    sd = (ndimage.distance_transform_edt(~env) - ndimage.distance_transform_edt(env)) * _SD_STEP_MM
    return _Template(gm=gm, wm=wm, sd=sd.astype(np.float32), origin=affine[:3, 3].astype(np.float64))


@dataclass(frozen=True)
class BrainParams:
    """One subject's random parameters (lengths in mm, angles in radians)."""

    z_levels: np.ndarray  # (S,) axial levels of the slices, MNI z in mm
    scale: np.ndarray  # (3,) head size factors along x, y, z
    angles: np.ndarray  # (3,) rotations about x (pitch), y (roll), z (in-plane yaw)
    shift: np.ndarray  # (3,) translation of the head in the field of view
    modes_k: np.ndarray  # (K, 3) wave vectors of the displacement field, rad/mm
    modes_amp: np.ndarray  # (K, 3) displacement amplitude per mode, mm
    modes_phase: np.ndarray  # (K,)
    layer_scale: float  # head layers' thickness factor
    fat_scale: float  # subcutaneous fat thickness factor
    contrast: dict[str, float]  # T2 intensity per tissue
    bias_k: np.ndarray  # (B, 3) wave vectors of the log bias field
    bias_amp: np.ndarray  # (B,)
    bias_phase: np.ndarray  # (B,)
    texture_amp: float  # relative amplitude of fine tissue texture
    texture_seed: int


#: MNI z range (mm) of the axial slices by default: mid-brain to near the vertex
Z_RANGE_MM: tuple[float, float] = (-8.0, 52.0)


def sample_brain_params(
    rng: np.random.Generator, num_slices: int, spacing_mm: float | None = None,
    z_range_mm: tuple[float, float] = Z_RANGE_MM,
) -> BrainParams:
    """Draw a subject: pose, size, deformation, contrast, bias field and ``num_slices`` axial levels.

    The slab of slices starts uniformly within ``z_range_mm`` (MNI z, mm) and ends at most at its top
    (a slab taller than the range starts at its bottom)."""
    if int(num_slices) < 1:
        raise ConfigError(f"num_slices must be >= 1, got {num_slices!r}")
    s = int(num_slices)
    spacing = float(rng.uniform(5.0, 7.0)) if spacing_mm is None else float(spacing_mm)
    top = float(z_range_mm[1]) - (s - 1) * spacing
    bottom = min(float(z_range_mm[0]), top)
    z0 = rng.uniform(bottom, max(top, bottom))
    k_modes = 8
    directions = rng.standard_normal((k_modes, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    wavelengths = rng.uniform(50.0, 150.0, k_modes)
    b_modes = 4
    bdir = rng.standard_normal((b_modes, 3))
    bdir /= np.linalg.norm(bdir, axis=1, keepdims=True)
    contrast = {name: float(v * np.exp(rng.normal(0.0, 0.07))) for name, v in T2_INTENSITY.items()}
    return BrainParams(
        z_levels=z0 + spacing * np.arange(s),
        scale=rng.uniform(0.9, 1.06) * (1.0 + rng.normal(0.0, 0.03, 3)),
        angles=np.deg2rad(np.clip(rng.normal(0.0, [5.0, 2.0, 6.0]), -12, 12)),
        shift=np.array([rng.normal(0.0, 4.0), rng.normal(0.0, 5.0), 0.0]),
        modes_k=directions * (2.0 * np.pi / wavelengths)[:, None],
        modes_amp=rng.normal(0.0, 1.3, (k_modes, 3)),
        modes_phase=rng.uniform(0.0, 2.0 * np.pi, k_modes),
        layer_scale=float(rng.uniform(0.8, 1.3)),
        fat_scale=float(rng.uniform(0.6, 1.7)),
        contrast=contrast,
        bias_k=bdir * (2.0 * np.pi / rng.uniform(200.0, 400.0, b_modes))[:, None],
        bias_amp=rng.normal(0.0, 0.08, b_modes),
        bias_phase=rng.uniform(0.0, 2.0 * np.pi, b_modes),
        texture_amp=float(rng.uniform(0.02, 0.05)),
        texture_seed=int(rng.integers(0, 2**31 - 1)),
    )


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for ``(N, K) @ (K, M)`` or ``(N, K) @ (K,)`` without BLAS.

    numpy hands ``@`` to OpenBLAS, whose kernels (chosen per processor, or by ``OPENBLAS_CORETYPE``)
    round differently, so the same seed built different bytes on different machines. A broadcast
    product summed by numpy itself does not depend on the BLAS build.
    """
    if b.ndim == 1:
        return (a * b).sum(axis=-1)
    return (a[..., :, None] * b).sum(axis=-2)


def _rotation(angles: np.ndarray) -> np.ndarray:
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return _matmul(_matmul(rz, ry), rx)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _scanner_points(z_levels: np.ndarray, hs: int, ws: int, fov_mm: float) -> np.ndarray:
    """Pixel centres of an ``(hs, ws)`` grid at each axial level: ``(S * hs * ws, 3)`` mm.

    Scanner frame: x right->left on screen, y anterior up, z the level; one plane per level.
    """
    px_r, px_c = fov_mm / hs, fov_mm / ws
    rows = (np.arange(hs) - (hs - 1) / 2.0) * px_r
    cols = (np.arange(ws) - (ws - 1) / 2.0) * px_c
    s = len(z_levels)
    x = np.broadcast_to(-cols[None, None, :], (s, hs, ws))
    y = np.broadcast_to(-rows[None, :, None], (s, hs, ws))
    z = np.broadcast_to(z_levels[:, None, None], (s, hs, ws))
    return np.stack([x, y, z], axis=-1).reshape(-1, 3)  # (N, 3) mm


def _template_points(params: BrainParams, pts: np.ndarray) -> np.ndarray:
    """Scanner points ``(N, 3)`` mapped into MNI template space ``(N, 3)`` mm: the subject's pose
    and size, then its smooth displacement field."""
    rot = _rotation(params.angles)
    centre = np.array([0.0, -17.0, 0.0])
    tpt = _matmul(pts - params.shift, rot) / params.scale + centre
    arg = _matmul(tpt, params.modes_k.T) + params.modes_phase  # (N, K)
    return tpt + _matmul(np.sin(arg), params.modes_amp)


def _head_layers(params: BrainParams, sd: np.ndarray, inside: np.ndarray, tpt: np.ndarray
                 ) -> dict[str, np.ndarray]:
    """Fractions ``(N,)`` of the head's outer layers (:data:`_LAYERS`, inside out) outside the
    intracranial envelope, from its signed distance ``sd`` ``(N,)`` mm; the muscle thickens
    laterally and low (temporalis)."""
    layers: dict[str, np.ndarray] = {}
    lateral = np.clip(np.abs(tpt[:, 0]) / 70.0, 0.0, 1.0) ** 4 * _sigmoid((25.0 - tpt[:, 2]) / 6.0)
    edge = np.zeros_like(sd)
    outside = 1.0 - inside
    for name, thickness in _LAYERS:
        t = thickness * params.layer_scale
        if name == "fat":
            t = thickness * params.fat_scale
        if name == "muscle":
            t = t + 7.0 * lateral  # temporalis
        frac = (_sigmoid((sd - edge) / 0.5) - _sigmoid((sd - edge - t) / 0.5)) * outside
        layers[name] = layers.get(name, 0.0) + frac
        edge = edge + t
    return layers


def _sulci(params: BrainParams, tpt: np.ndarray) -> np.ndarray:
    """Sulcal cleft profile ``(N,)`` in [0, 1] at the template points ``tpt`` ``(N, 3)`` mm.

    The zero sheets of a random sum of plane waves (wavelengths :data:`_SULCUS_WAVELENGTH_MM`,
    drawn from the subject's ``texture_seed``) form a labyrinth with a sheet every ~10-15 mm, as
    gyri and sulci do; a cleft is the thin neighbourhood of a sheet."""
    rng = np.random.default_rng([params.texture_seed, _SULCUS_STREAM])
    directions = rng.standard_normal((_SULCUS_MODES, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    wavelengths = rng.uniform(*_SULCUS_WAVELENGTH_MM, _SULCUS_MODES)
    amp = rng.rayleigh(1.0, _SULCUS_MODES)
    phase = rng.uniform(0.0, 2.0 * np.pi, _SULCUS_MODES)
    field = _matmul(np.sin(_matmul(tpt, (directions * (2.0 * np.pi / wavelengths)[:, None]).T) + phase), amp)
    field /= np.sqrt((amp**2).sum() / 2.0)  # unit variance
    return np.exp(-0.5 * (field / _SULCUS_WIDTH) ** 2)


def _individual_detail(params: BrainParams, gm: np.ndarray, wm: np.ndarray, sd: np.ndarray, tpt: np.ndarray,
                       detail: float) -> tuple[np.ndarray, np.ndarray]:
    """Grey and white matter fractions ``(N,)`` of one individual rather than of the population
    average the template is: boundaries as sharp as a single subject's (the template's
    probabilities, averaged over subjects, blur them over several mm) and sulcal CSF clefts
    through the cortex (bright on T2, smeared out of the average), only within
    :data:`_SULCUS_DEPTH_MM` of the intracranial envelope (``sd``, signed distance in mm), so the
    deep grey matter stays whole. ``detail`` in [0, 1] blends the template (0) with the
    individual (1); the CSF is what the envelope leaves over."""
    lo, hi = _sigmoid(np.array([-0.5, 0.5]) / _SHARP_WIDTH)

    def sharpen(p: np.ndarray) -> np.ndarray:  # keeps 0 at 0 and 1 at 1
        return (1.0 - detail) * p + detail * (_sigmoid((p - 0.5) / _SHARP_WIDTH) - lo) / (hi - lo)

    parenchyma = sharpen(np.clip(gm + wm, 0.0, 1.0))
    wm = np.minimum(sharpen(wm), parenchyma)
    gm = parenchyma - wm
    cortex = _sigmoid((sd + _SULCUS_DEPTH_MM) / 2.0)
    return gm * (1.0 - detail * cortex * _sulci(params, tpt)), wm


def _tissue_fractions(params: BrainParams, tpl: _Template, tpt: np.ndarray, detail: float = 0.0
                      ) -> dict[str, np.ndarray]:
    """Fraction ``(N,)`` of each tissue at the template points ``tpt`` ``(N, 3)``: CSF, grey and
    white matter inside the envelope, then the head layers; keys in that order. ``detail`` > 0 adds
    an individual's detail (:func:`_individual_detail`)."""
    vox = (tpt - tpl.origin).T  # (3, N) 1 mm grid indices
    gm = ndimage.map_coordinates(tpl.gm, vox, order=1, mode="constant", cval=0.0)
    wm = ndimage.map_coordinates(tpl.wm, vox, order=1, mode="constant", cval=0.0)
    sd_vox = vox / _SD_STEP_MM + _SD_PAD
    sd = ndimage.map_coordinates(tpl.sd, sd_vox, order=1, mode="nearest")
    if detail > 0:
        gm, wm = _individual_detail(params, gm, wm, sd, tpt, detail)
    inside = _sigmoid(-sd / 0.6)
    gm = np.minimum(gm, inside)
    wm = np.minimum(wm, inside - gm)
    return {"csf": np.clip(inside - gm - wm, 0.0, 1.0), "grey_matter": gm, "white_matter": wm,
            **_head_layers(params, sd, inside, tpt)}


def _t2_image(params: BrainParams, names: list[str], stack: np.ndarray, pts: np.ndarray,
              size: tuple[int, int, int]) -> np.ndarray:
    """Block-averaged magnitude ``(S, H, W)`` float64 from the fractions ``stack`` ``(T, N)`` of
    tissues ``names`` at the scanner points ``pts`` ``(N, 3)`` (``N = S * H * W * _SUPERSAMPLE**2``):
    contrast-weighted sum times a smooth bias field and a fine texture (both multiplicative)."""
    s, h, w = size
    ss = _SUPERSAMPLE
    hs, ws = h * ss, w * ss
    contrast = np.array([params.contrast[n] for n in names])
    image = (contrast[:, None] * stack).sum(axis=0)
    bias = np.exp(_matmul(np.sin(_matmul(pts, params.bias_k.T) + params.bias_phase), params.bias_amp))
    image = (image * bias).reshape(s, hs, ws)
    tex_rng = np.random.default_rng(params.texture_seed)
    texture = ndimage.gaussian_filter(tex_rng.standard_normal((s, hs, ws)), sigma=(0, 1.0, 1.0))
    texture /= texture.std() + 1e-12
    image = image * (1.0 + params.texture_amp * texture)
    return np.clip(image, 0.0, None).reshape(s, h, ss, w, ss).mean(axis=(2, 4))


def _dominant_labels(names: list[str], stack: np.ndarray, size: tuple[int, int, int]) -> np.ndarray:
    """uint8 labels ``(S, H, W)``: the tissue of ``names`` with the largest block-averaged fraction
    in ``stack`` ``(T, N)``, background where none exceeds 0.25."""
    s, h, w = size
    ss = _SUPERSAMPLE
    coarse = stack.reshape(len(names), s, h, ss, w, ss).mean(axis=(3, 5))
    label_of = {n: k for k, n in BRAIN_LABELS.items()}
    codes = np.array([label_of[n] for n in names], dtype=np.uint8)
    return np.where(coarse.max(axis=0) > 0.25, codes[np.argmax(coarse, axis=0)], 0).astype(np.uint8)


def render_brain(
    params: BrainParams, shape: tuple[int, int], fov_mm: float = 220.0, detail: float = 0.0,
    thickness_mm: float = 0.0, anatomy: str = "mni152",
) -> tuple[np.ndarray, np.ndarray]:
    """Render a subject's axial slices.

    Args:
        params: from :func:`sample_brain_params`.
        shape: ``(H, W)`` output size.
        fov_mm: square field of view.
        detail: in [0, 1], an individual's tissue boundaries and sulci instead of the template's
            average (:func:`_individual_detail`); 0 renders the template as it is.
        thickness_mm: > 0 averages each slice over the planes of
            :func:`~mriunlearn.simulate.partial_volume.slice_offsets` (each with its own fine
            texture); the labels are the middle plane's.
        anatomy: the brain the subject deforms, an :data:`ANATOMIES` name (the template by default).

    Returns:
        ``(images, labels)``: images float32 ``(S, H, W)`` T2-like magnitude (CSF ~1), labels uint8
        ``(S, H, W)`` the dominant tissue of each pixel (:data:`BRAIN_LABELS`).
    """
    tpl = _template(anatomy)
    h, w = int(shape[0]), int(shape[1])
    if h < 2 or w < 2:
        raise ConfigError(f"render_brain: shape must be at least (2, 2), got {shape}")
    if not 0.0 <= detail <= 1.0:
        raise ConfigError(f"render_brain: detail must lie in [0, 1], got {detail}")
    offsets = slice_offsets(thickness_mm)
    if len(offsets) > 1:
        s, n = len(params.z_levels), len(offsets)
        planes = replace(params, z_levels=(params.z_levels[:, None] + offsets[None, :]).ravel())
        images, labels = render_brain(planes, shape, fov_mm, detail, anatomy=anatomy)
        return images.reshape(s, n, h, w).mean(axis=1), labels.reshape(s, n, h, w)[:, n // 2]
    size = (len(params.z_levels), h, w)
    pts = _scanner_points(params.z_levels, h * _SUPERSAMPLE, w * _SUPERSAMPLE, fov_mm)
    fractions = _tissue_fractions(params, tpl, _template_points(params, pts), detail)
    names = list(fractions)
    stack = np.stack([fractions[n] for n in names])  # (T, N)
    image = _t2_image(params, names, stack, pts, size)
    return image.astype(np.float32), _dominant_labels(names, stack, size)


def brain_volume(
    rng: np.random.Generator, num_slices: int, shape: tuple[int, int], fov_mm: float = 220.0,
    z_range_mm: tuple[float, float] = Z_RANGE_MM, detail: float = 0.0, thickness_mm: float = 0.0,
    anatomy: str = "mni152",
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a subject and render it (:func:`render_brain`): ``(images (S, H, W) float32, labels (S, H, W) uint8)``."""
    params = sample_brain_params(rng, num_slices, z_range_mm=z_range_mm)
    return render_brain(params, shape, fov_mm, detail, thickness_mm, anatomy)
