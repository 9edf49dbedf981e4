"""A stand-in for Colin27 (one real brain, skull-stripped, 1 mm MNI grid) for the tests of the held-out
anatomy: the real file comes from Debian's ``mricron-data``, which a test machine need not have."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_colin_phantom(path: Path) -> Path:
    """A skull-stripped T1 like Colin27's on a 1 mm MNI grid: white matter inside grey matter inside a
    rim of CSF (T1: 0.9, 0.6, 0.25 with a little noise), zero outside the brain."""
    import nibabel

    x, y, z = np.meshgrid(np.arange(-70, 71), np.arange(-100, 71), np.arange(-50, 71), indexing="ij")
    r = np.sqrt((x / 60.0) ** 2 + ((y + 17) / 75.0) ** 2 + ((z - 10) / 55.0) ** 2)
    t1 = np.select([r < 0.6, r < 0.85, r < 1.0], [0.9, 0.6, 0.25], 0.0)
    t1 = np.where(t1 > 0, t1 + np.random.default_rng(0).normal(0, 0.02, t1.shape), 0.0)
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    affine[:3, 3] = [-70, -100, -50]
    nibabel.save(nibabel.Nifti1Image((np.clip(t1, 0, 1) * 200).astype(np.uint8), affine), path)
    return path
