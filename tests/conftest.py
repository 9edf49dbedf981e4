"""Shared test fixtures: a tiny fastMRI-format dataset and the smoke profile pointing at it.

``fastmri_like`` writes fastMRI-shaped volumes (real shapes, coils and file names, 1-2 slices each;
see ``tests/fastmri_like.py``).

``smoke_manifest`` uses :func:`mriunlearn.simulate.build_dataset` with ``DatasetSpec.smoke()``
when the simulator is available, else writes phantom volumes itself (32x32, 2 coils, 2 slices,
roles retain / forget / val / test_brain / test_knee) with :mod:`mriunlearn.fastmri_h5` and
:mod:`mriunlearn.manifest`.

``same_weights`` is the one comparison of two models' (or state dicts') weights, bit for bit.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest
import torch

# Figures of the notebooks that nbval executes (and of any test that saves without a folder) go to a
# temporary folder, never into the committed figures/: those are the reference the notebooks'
# reproduction checks compare with. Set before mriunlearn.paths is imported; the nbval kernels
# inherit it from this process.
os.environ.setdefault("MRIUNLEARN_FIGURES", tempfile.mkdtemp(prefix="mriunlearn-test-figures-"))

# The tests that dry-run make (tests/test_install_pins.py, test_lanes.py, test_setup.py) read the
# Makefile as a plain `make` does: under `make test PY=...` the variables of the make that started
# pytest would otherwise reach theirs through the environment.
for _var in ("MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "MAKELEVEL"):
    os.environ.pop(_var, None)

# keep the shared 2-core machine usable while unit tests run. Not OMP_NUM_THREADS: an environment
# variable would leak into the nbval notebook kernels started from this process.
torch.set_num_threads(1)


def _phantom(rng: np.random.Generator, n: int, organ: str) -> np.ndarray:
    """(n, n) magnitude image of a few random ellipses (brain: round head, knee: two long bones)."""
    y, x = np.mgrid[-1:1:complex(0, n), -1:1:complex(0, n)]
    img = np.zeros((n, n))
    if organ == "brain":
        shapes = [(0, 0, 0.8, 0.9, 1.0), (0, 0, 0.65, 0.75, -0.4)]
        shapes += [(rng.uniform(-.4, .4), rng.uniform(-.4, .4), rng.uniform(.08, .2),
                    rng.uniform(.08, .2), rng.uniform(.2, .5)) for _ in range(3)]
    else:
        shapes = [(-.45, rng.uniform(-.1, .1), .35, .9, .8), (.45, rng.uniform(-.1, .1), .35, .9, .8)]
        shapes += [(rng.uniform(-.2, .2), 0, .1, rng.uniform(.3, .6), .5)]
    for cx, cy, a, b, val in shapes:
        img[((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1] += val
    return np.abs(img)


def _write_phantom_dataset(root: Path) -> Path:
    from mriunlearn import fastmri_h5, manifest

    rng = np.random.default_rng(0)
    n, coils, slices = 32, 2, 2
    y, x = np.mgrid[-1:1:complex(0, n), -1:1:complex(0, n)]
    sens = np.stack([np.exp(-((x - 1) ** 2 + y ** 2)), np.exp(-((x + 1) ** 2 + y ** 2))]).astype(np.complex64)
    plan = [("retain", "brain", 4), ("forget", "knee", 2), ("val", "brain", 1),
            ("test_brain", "brain", 2), ("test_knee", "knee", 2)]
    rows = []
    k = 0
    for role, organ, count in plan:
        for _ in range(count):
            imgs = np.stack([_phantom(rng, n, organ) for _ in range(slices)])
            coil = imgs[:, None] * sens[None]  # (S, C, n, n)
            kspace = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coil, axes=(-2, -1)), norm="ortho"),
                                     axes=(-2, -1))
            kspace += 0.001 * (rng.standard_normal(kspace.shape) + 1j * rng.standard_normal(kspace.shape))
            target = np.sqrt((np.abs(coil) ** 2).sum(1))
            name = f"file_{organ}_{k:03d}.h5"
            path = root / name
            fastmri_h5.write_volume(path, kspace, target, patient_id=f"p{k}",
                                    acquisition="AXT2" if organ == "brain" else "CORPD_FBK")
            rows.append(manifest.file_row(path, root, organ, role, slices))
            k += 1
    return manifest.write_manifest(rows, root / "manifest.csv")


@pytest.fixture(scope="session", autouse=True)
def _project_theme():
    """Figures drawn in tests look as the committed ones: under :func:`mriunlearn.plots.themed`
    (importing ``plots`` sets no style; the caller's settings come back at the end)."""
    from mriunlearn import plots

    with plots.themed():
        yield


@pytest.fixture(scope="session")
def smoke_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(manifest_csv, data_root)`` of a tiny dataset built once per test session."""
    root = tmp_path_factory.mktemp("smoke_data")
    try:
        from mriunlearn.simulate import DatasetSpec, build_dataset
    except ImportError:
        return _write_phantom_dataset(root), root
    return Path(build_dataset(root, DatasetSpec.smoke())), root


@pytest.fixture(scope="session")
def smoke_manifest(smoke_data: tuple[Path, Path]):
    """The loaded :class:`~mriunlearn.manifest.Manifest` of the smoke dataset."""
    from mriunlearn.manifest import load_manifest

    path, root = smoke_data
    return load_manifest(path, root)


@pytest.fixture(scope="session")
def smoke_profile(smoke_data: tuple[Path, Path]):
    """The ``smoke`` profile pointing at the session's smoke dataset."""
    from mriunlearn.profiles import get_profile

    path, root = smoke_data
    return get_profile("smoke", manifest=str(path), data_root=str(root))


def _weights_equal(a: torch.nn.Module | Mapping[str, torch.Tensor], b: torch.nn.Module | Mapping[str, torch.Tensor]) -> bool:
    """Whether ``a`` and ``b`` (modules or state dicts) hold bit-identical tensors.

    Raises:
        AssertionError: they name different tensors: not two states of one architecture, so neither
            "same" nor "different" would be a meaningful answer.
    """
    sa = a.state_dict() if isinstance(a, torch.nn.Module) else a
    sb = b.state_dict() if isinstance(b, torch.nn.Module) else b
    assert sa.keys() == sb.keys(), f"different tensors: {sorted(sa.keys() ^ sb.keys())[:5]}"
    return all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="session")
def same_weights() -> Callable[..., bool]:
    """``same_weights(a, b)``: whether two models or state dicts hold bit-identical weights (buffers
    included); their tensor names must agree, else the comparison itself fails."""
    return _weights_equal


@pytest.fixture()
def run_cache(tmp_path: Path):
    """An empty run cache in a temporary folder."""
    from mriunlearn.cache import RunCache

    return RunCache(tmp_path / "runs")


@pytest.fixture(scope="session")
def fastmri_like(tmp_path_factory: pytest.TempPathFactory):
    """fastMRI-shaped volumes (see ``tests/fastmri_like.py``), written once per session:
    ``(root, {file name: path}, manifest_csv)``."""
    from fastmri_like import write_fastmri_like, write_fastmri_like_manifest

    root = tmp_path_factory.mktemp("fastmri_like")
    files = write_fastmri_like(root)
    return root, files, write_fastmri_like_manifest(root, files)
