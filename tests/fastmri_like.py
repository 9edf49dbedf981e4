"""fastMRI-shaped multi-coil volumes for the tests (real shapes, 1-2 slices per file).

What real fastMRI files look like, and what :func:`write_fastmri_like` writes for each:

- brain AXT2, 16 coils, k-space 640 x 320 (readout oversampled 2x), ``reconstruction_rss``
  320 x 320: ``brain_multicoil_train/file_brain_AXT2_200_2000019.h5`` (2 slices) and
  ``file_brain_AXT2_200_2000020.h5`` (1 slice, so one shape spans two volumes);
- brain, 20 coils, k-space 768 x 396, target 320 x 320:
  ``brain_multicoil_val/file_brain_AXT2_209_2090339.h5``;
- a narrow brain volume, phase-encode width 300 < 320, target 320 x 320 (fastMRI crops image and
  target to 300 x 300): ``brain_multicoil_val/file_brain_AXT2_201_2010294.h5``;
- knee CORPD_FBK, 15 coils, k-space 640 x 368 whose phase-encode edges are zero (only the
  columns ``[18, 351)`` were acquired) and an ISMRMRD header whose ``encodingLimits`` say so
  (maximum 332, center 166, as in real knee headers): ``knee_multicoil_train/file1000001.h5``
  (2 slices) and ``knee_multicoil_val/file1000000.h5``.

Images are smooth phantoms times smooth coil maps, so the k-space has a real centre peak and the
zero-filled reconstructions are images, not noise. Everything is seeded: the same call writes the
same files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mriunlearn import fastmri_h5, manifest


@dataclass(frozen=True)
class VolumeSpec:
    """One file to write: ``folder/name`` with ``slices x coils x H x W`` k-space, a ``target_hw``
    target, and (knee) the acquired phase-encode columns given as header ``pe_limits``."""

    folder: str
    name: str
    organ: str
    acquisition: str
    slices: int
    coils: int
    kspace_hw: tuple[int, int]
    target_hw: tuple[int, int] = (320, 320)
    pe_limits: tuple[int, int] | None = None  # (maximum, center) of kspace_encoding_step_1
    role: str = "retain"

    @property
    def padding(self) -> tuple[int, int]:
        """Acquired columns ``[left, right)``, fastMRI's formula from the header."""
        w = self.kspace_hw[1]
        if self.pe_limits is None:
            return (0, w)
        maximum, center = self.pe_limits
        left = w // 2 - center
        return (left, left + maximum + 1)


SPECS: tuple[VolumeSpec, ...] = (
    VolumeSpec("brain_multicoil_train", "file_brain_AXT2_200_2000019.h5", "brain", "AXT2", 2, 16,
               (640, 320), role="retain"),
    VolumeSpec("brain_multicoil_train", "file_brain_AXT2_200_2000020.h5", "brain", "AXT2", 1, 16,
               (640, 320), role="retain"),
    VolumeSpec("knee_multicoil_train", "file1000001.h5", "knee", "CORPD_FBK", 2, 15, (640, 368),
               pe_limits=(332, 166), role="forget"),
    VolumeSpec("brain_multicoil_val", "file_brain_AXT2_209_2090339.h5", "brain", "AXT2", 1, 20,
               (768, 396), role="val"),
    VolumeSpec("brain_multicoil_val", "file_brain_AXT2_201_2010294.h5", "brain", "AXT2", 1, 16,
               (640, 300), role="test_brain"),
    VolumeSpec("knee_multicoil_val", "file1000000.h5", "knee", "CORPD_FBK", 1, 15, (640, 368),
               pe_limits=(332, 166), role="test_knee"),
)


def _coil_maps(coils: int, h: int, w: int) -> np.ndarray:
    """(coils, h, w) complex smooth sensitivities: Gaussians centred on a ring around the FOV."""
    y, x = np.mgrid[-1:1:complex(0, h), -1:1:complex(0, w)]
    angles = 2 * np.pi * np.arange(coils) / coils
    maps = [np.exp(-((x - 1.2 * np.cos(a)) ** 2 + (y - 1.2 * np.sin(a)) ** 2) / 1.5)
            * np.exp(1j * (a + 0.5 * x)) for a in angles]
    return np.stack(maps).astype(np.complex64)


def _phantom(rng: np.random.Generator, h: int, w: int, organ: str) -> np.ndarray:
    """(h, w) image; the object fills the central half of the readout (2x oversampling)."""
    y, x = np.mgrid[-2:2:complex(0, h), -1:1:complex(0, w)]
    img = np.zeros((h, w))
    if organ == "brain":
        shapes = [(0, 0, 0.8, 0.9, 1.0), (0, 0, 0.65, 0.75, -0.4)]
    else:
        shapes = [(-.45, 0, .35, .9, .8), (.45, 0, .35, .9, .8)]
    shapes += [(rng.uniform(-.4, .4), rng.uniform(-.4, .4), rng.uniform(.08, .2),
                rng.uniform(.08, .2), rng.uniform(.2, .5)) for _ in range(3)]
    for cx, cy, a, b, val in shapes:
        img[((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1] += val
    return np.abs(img)


def _centre_crop_or_pad(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Centre-crop (or zero-pad, for a narrow volume's width) the last two axes to ``hw``."""
    out = np.zeros(img.shape[:-2] + tuple(hw), img.dtype)
    h, w = img.shape[-2:]
    sh, sw = min(h, hw[0]), min(w, hw[1])
    src = img[..., (h - sh) // 2:(h - sh) // 2 + sh, (w - sw) // 2:(w - sw) // 2 + sw]
    out[..., (hw[0] - sh) // 2:(hw[0] - sh) // 2 + sh, (hw[1] - sw) // 2:(hw[1] - sw) // 2 + sw] = src
    return out


def volume_arrays(spec: VolumeSpec, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``kspace`` complex64 ``(S, C, H, W)`` (zero outside the acquired columns) and the RSS
    ``target`` float32 ``(S, *target_hw)`` of one spec."""
    rng = np.random.default_rng(seed)
    h, w = spec.kspace_hw
    maps = _coil_maps(spec.coils, h, w)
    left, right = spec.padding
    kspace = np.empty((spec.slices, spec.coils, h, w), np.complex64)
    target = np.empty((spec.slices, *spec.target_hw), np.float32)
    for s in range(spec.slices):
        coil = _phantom(rng, h, w, spec.organ)[None] * maps  # (C, H, W)
        k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coil, axes=(-2, -1)), norm="ortho"),
                            axes=(-2, -1))
        k += 1e-3 * (rng.standard_normal(k.shape) + 1j * rng.standard_normal(k.shape))
        k[..., :left] = 0
        k[..., right:] = 0
        kspace[s] = k
        image = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"),
                                axes=(-2, -1))
        target[s] = _centre_crop_or_pad(np.sqrt((np.abs(image) ** 2).sum(0)), spec.target_hw)
    return kspace, target


def write_fastmri_like(root: Path, specs: tuple[VolumeSpec, ...] = SPECS) -> dict[str, Path]:
    """Write ``specs`` under ``root`` (fastMRI folder and file names); returns name -> path."""
    out = {}
    for i, spec in enumerate(specs):
        kspace, target = volume_arrays(spec, seed=1000 + i)
        path = root / spec.folder / spec.name
        path.parent.mkdir(parents=True, exist_ok=True)
        fastmri_h5.write_volume(path, kspace, target, patient_id=f"p{i}", acquisition=spec.acquisition,
                                pe_limits=spec.pe_limits)
        out[spec.name] = path
    return out


def write_fastmri_like_manifest(root: Path, files: dict[str, Path],
                                specs: tuple[VolumeSpec, ...] = SPECS) -> Path:
    """A manifest over ``files`` with each spec's role (no hashes recorded, as for real data)."""
    rows = [manifest.file_row(files[s.name], root, s.organ, s.role, s.slices, hash_file=False)
            for s in specs]
    return manifest.write_manifest(rows, root / "manifest.csv")
