"""Slice thickness: a 2-D slice of a real scan averages the anatomy over its thickness.

Both simulators render one plane per slice by default. Given a thickness, they render
:func:`slice_offsets` planes through the slab instead and average them (through-plane partial
volume): oblique edges blur and textures finer than the slab (trabecular bone, muscle fascicles,
small sulci) average down, as in fastMRI's 3 mm knee and 5 mm brain slices.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

#: spacing (mm) of the planes one slice's thickness is averaged over
SUBPLANE_MM = 1.0


def slice_offsets(thickness_mm: float) -> np.ndarray:
    """Through-plane offsets (mm) ``(n,)`` of the planes averaged into one slice of ``thickness_mm``.

    ``n`` is the odd number nearest ``thickness_mm / SUBPLANE_MM`` (so the middle plane, index
    ``n // 2``, is the slice's own position); each plane stands for ``thickness_mm / n`` of the
    slab. A thickness of 0 gives ``[0.0]``: one plane, as without thickness."""
    if not thickness_mm >= 0:
        raise ConfigError(f"slice thickness must be >= 0 mm, got {thickness_mm}")
    n = max(1, int(round(thickness_mm / SUBPLANE_MM)))
    n += 1 - n % 2
    return (np.arange(n) - (n - 1) / 2.0) * (thickness_mm / n)
