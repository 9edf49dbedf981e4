"""The embedded, offline dataset: simulated fastMRI multi-coil brain (retain) and knee (forget) volumes.

- :mod:`.brain`: T2-like axial slices from the MNI152 template shipped in nilearn;
- :mod:`.knee`: a procedural sagittal proton-density knee with tissue labels;
- :mod:`.coils`: coil sensitivities, object phase, centred FFT and k-space noise;
- :mod:`.build`: :class:`DatasetSpec`, :func:`build_dataset`, :func:`ensure_dataset`.
"""

from .build import SENS_KEY, DatasetSpec, build_dataset, ensure_dataset, generate_volume
from .coils import simulate_multicoil

__all__ = ["SENS_KEY", "DatasetSpec", "build_dataset", "ensure_dataset", "generate_volume", "simulate_multicoil"]
