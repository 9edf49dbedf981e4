"""Build the embedded, offline dataset: simulated fastMRI multi-coil volumes plus their manifest.

Layout under ``out_dir``::

    brain/file_brain_AXT2_sim_<NNNN>.h5   (acquisition "AXT2")
    knee/file_knee_PD_sim_<NNNN>.h5       (acquisition "CORPD_FBK")

Each file is a fastMRI multicoil volume written by :func:`mriunlearn.fastmri_h5.write_volume`, plus
an extra dataset :data:`SENS_KEY` = ``"sens_maps"`` (complex64 ``(slices, coils, H, W)``, the true
coil sensitivities; fastMRI's ``SliceDataset`` ignores it) and the attrs ``sim_spec`` (JSON of the
generation settings) and ``sim_subject``.

Every volume is drawn from its own seed ``SeedSequence([spec.seed, organ code, subject index])``,
so volumes do not depend on build order or on how many volumes the spec asks for. Files are
written atomically; the manifest is written last, so an interrupted build leaves no partial file
and no manifest. A rebuild skips files whose hash matches the manifest already at the destination
and whose ``sim_spec`` matches the spec.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np
import pandas as pd

from .. import paths
from ..atomic import atomic_path, atomic_write_text, sha256_file
from ..errors import ConfigError, ManifestError
from ..fastmri_h5 import SENS_KEY, write_volume
from ..manifest import STAND_INS, file_row, hash_accepted, load_manifest, stand_ins, write_manifest
from . import brain, knee
from .coils import noise_sigma, sample_coil_geometry, simulate_multicoil

#: bump when the generators change, so files built by an older generator are rebuilt
SIM_VERSION = 1
#: extra HDF5 dataset holding the true coil sensitivities, complex64 (slices, coils, H, W)
ORGAN_CODE: dict[str, int] = {"brain": 0, "knee": 1}
ACQUISITION: dict[str, str] = {"brain": "AXT2", "knee": "CORPD_FBK"}
FILE_STEM: dict[str, str] = {"brain": "file_brain_AXT2_sim", "knee": "file_knee_PD_sim"}
#: roles of each organ, in the order subjects are numbered
ORGAN_ROLES: dict[str, tuple[str, ...]] = {"brain": ("retain", "val", "test_brain"), "knee": ("forget", "test_knee")}


#: the brain geometry options of :class:`DatasetSpec` and their "off" values
GEOMETRY_OFF: dict[str, Any] = {"brain_fov_range_mm": None, "brain_rotation_deg": 0.0, "brain_pe_swap": 0.0}
#: every optional :class:`DatasetSpec` field and its "off" value: an option left off stays out of the
#: volume key, so data built before the option existed remain current
OPTIONS_OFF: dict[str, Any] = {**GEOMETRY_OFF, "forget_slices_per_volume": None, "brain_z_range_mm": None,
                               "knee_texture_scale": 1.0, "coil_loop_scale": 1.0, "brain_detail": 0.0,
                               "brain_slice_thickness_mm": 0.0, "knee_slice_thickness_mm": 0.0, "brain_anatomy": "mni152"}
#: last element of a subject's seed for its geometry draws, apart from its anatomy's stream
_GEOMETRY_STREAM = 1


@dataclass(frozen=True)
class DatasetSpec:
    """What to simulate. Volume counts are per (organ, role); subjects are numbered per organ in
    the order retain, val, test_brain (brain) and forget, test_knee (knee)."""

    image_size: tuple[int, int] = (96, 96)
    num_coils: int = 8
    slices_per_volume: int = 4
    brain_retain: int = 50
    brain_val: int = 4
    brain_test: int = 8
    knee_forget: int = 5
    knee_test: int = 8
    seed: int = 0
    snr_db: float = 30.0  # mean image SNR (+-2 dB per volume), see coils.noise_sigma
    target_max: float = 5e-4  # typical maximum of a volume's target (fastMRI scale), +-15 % per volume
    brain_fov_mm: float = 220.0
    knee_fov_mm: float = 160.0
    #: per-subject brain field of view drawn uniformly from this range (mm) instead of ``brain_fov_mm``
    brain_fov_range_mm: tuple[float, float] | None = None
    #: extra in-plane rotation of each brain subject, uniform in ± this many degrees
    brain_rotation_deg: float = 0.0
    #: share of brain subjects imaged with the phase-encoding direction along the other image axis
    brain_pe_swap: float = 0.0
    #: slices of each forget (knee) volume, ``None``: ``slices_per_volume``; fewer slices from more
    #: subjects draw the forget set from many knees, as the paper's randomly drawn forget slices
    forget_slices_per_volume: int | None = None
    #: MNI z range (mm) the brain slabs are drawn within, ``None``: ``brain.Z_RANGE_MM`` (mid-brain to
    #: vertex); a lower bound below it adds the skull base and posterior fossa
    brain_z_range_mm: tuple[float, float] | None = None
    #: factor on the length scales of the knee's marrow and muscle textures (``knee.KneeParams.texture_scale``)
    knee_texture_scale: float = 1.0
    #: factor on the receive loops' radius (``coils.sample_coil_geometry``); below 1 the loops shrink
    #: as in real 15-20-channel arrays, whose loops tile the ring around the object
    coil_loop_scale: float = 1.0
    #: in [0, 1]: each brain subject's tissue boundaries as sharp as an individual's and sulcal CSF
    #: through its cortex, instead of the averaged template's (``brain.render_brain``'s ``detail``)
    brain_detail: float = 0.0
    #: slice thickness (mm) each brain / knee slice averages the anatomy over (``partial_volume``);
    #: 0 renders one plane per slice (fastMRI: 5 mm brain, 3 mm knee slices)
    brain_slice_thickness_mm: float = 0.0
    knee_slice_thickness_mm: float = 0.0
    #: the anatomy every brain subject deforms, a ``brain.ANATOMIES`` name: the MNI152 template, or
    #: ``"colin27"`` (one real brain, for test brains of an anatomy the training brains never show)
    brain_anatomy: str = "mni152"

    def __post_init__(self) -> None:
        h, w = self.image_size
        if h < 8 or w < 8:
            raise ConfigError(f"DatasetSpec.image_size must be at least (8, 8), got {self.image_size}")
        for name in ("num_coils", "slices_per_volume"):
            if getattr(self, name) < 1:
                raise ConfigError(f"DatasetSpec.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("brain_retain", "brain_val", "brain_test", "knee_forget", "knee_test"):
            if getattr(self, name) < 0:
                raise ConfigError(f"DatasetSpec.{name} must be >= 0, got {getattr(self, name)}")
        if not self.target_max > 0:
            raise ConfigError(f"DatasetSpec.target_max must be > 0, got {self.target_max}")
        r = self.brain_fov_range_mm
        if r is not None and not (len(r) == 2 and 0 < r[0] <= r[1]):
            raise ConfigError(f"DatasetSpec.brain_fov_range_mm must be (low, high) with 0 < low <= high, got {r}")
        if not 0.0 <= self.brain_pe_swap <= 1.0:
            raise ConfigError(f"DatasetSpec.brain_pe_swap must lie in [0, 1], got {self.brain_pe_swap}")
        if self.brain_rotation_deg < 0:
            raise ConfigError(f"DatasetSpec.brain_rotation_deg must be >= 0, got {self.brain_rotation_deg}")
        z = self.brain_z_range_mm
        if z is not None and not (len(z) == 2 and z[0] <= z[1]):
            raise ConfigError(f"DatasetSpec.brain_z_range_mm must be (low, high) with low <= high, got {z}")
        if not self.knee_texture_scale > 0:
            raise ConfigError(f"DatasetSpec.knee_texture_scale must be > 0, got {self.knee_texture_scale}")
        if not 0.0 <= self.brain_detail <= 1.0:
            raise ConfigError(f"DatasetSpec.brain_detail must lie in [0, 1], got {self.brain_detail}")
        for name in ("brain_slice_thickness_mm", "knee_slice_thickness_mm"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"DatasetSpec.{name} must be >= 0, got {getattr(self, name)}")
        brain.check_anatomy(self.brain_anatomy)
        if not self.coil_loop_scale > 0:
            raise ConfigError(f"DatasetSpec.coil_loop_scale must be > 0, got {self.coil_loop_scale}")
        if self.forget_slices_per_volume is not None and self.forget_slices_per_volume < 1:
            raise ConfigError(f"DatasetSpec.forget_slices_per_volume must be >= 1 or None, got {self.forget_slices_per_volume}")

    @classmethod
    def default(cls) -> "DatasetSpec":
        """96x96, 16 coils, 4 slices; brain 50 retain / 4 val / 8 test, knee 5 forget / 8 test.

        Chosen by the regime indicators of ``docs/operating_point.md`` (where each lever is measured):

        - 16 receive loops tiling the ring (``coil_loop_scale=0.4``), as in real 15-20-channel
          arrays, so that the coils rather than anatomy priors unfold the aliasing;
        - each brain subject imaged as in real scans: its field of view drawn from 140-240 mm, an
          in-plane rotation within ±20°, and half of the subjects with the phase-encoding direction
          along the other image axis;
        - each brain an individual's (``brain_detail=1``): ~1 mm tissue boundaries and sulcal CSF
          instead of the averaged template's blur.
        """
        return cls(num_coils=16, coil_loop_scale=0.4, brain_fov_range_mm=(140, 240), brain_rotation_deg=20,
                   brain_pe_swap=0.5, brain_detail=1.0)

    @classmethod
    def smoke(cls) -> "DatasetSpec":
        """32x32, 2 coils, 2 slices; brain 4 retain / 1 val / 2 test, knee 2 forget / 2 test."""
        return cls(image_size=(32, 32), num_coils=2, slices_per_volume=2, brain_retain=4, brain_val=1,
                   brain_test=2, knee_forget=2, knee_test=2)

    def count(self, role: str) -> int:
        """Number of volumes of ``role``."""
        counts = {"retain": self.brain_retain, "val": self.brain_val, "test_brain": self.brain_test,
                  "forget": self.knee_forget, "test_knee": self.knee_test}
        if role not in counts:
            raise ConfigError(f"unknown role {role!r}; valid roles: {', '.join(counts)}")
        return counts[role]

    def slices(self, organ: str, index: int) -> int:
        """Slices of subject ``index`` of ``organ`` (knee subjects ``0 .. knee_forget - 1`` are the forget set)."""
        if organ == "knee" and index < self.knee_forget and self.forget_slices_per_volume is not None:
            return self.forget_slices_per_volume
        return self.slices_per_volume

    def volume_key(self) -> str:
        """JSON of the settings that change a volume's content (not the counts)."""
        d = asdict(self)
        for name in ("brain_retain", "brain_val", "brain_test", "knee_forget", "knee_test"):
            d.pop(name)
        for name, off in OPTIONS_OFF.items():
            if d[name] == off:
                d.pop(name)
        d["image_size"] = list(self.image_size)
        for name in ("brain_fov_range_mm", "brain_z_range_mm"):
            if getattr(self, name) is not None:
                d[name] = list(getattr(self, name))
        d["sim_version"] = SIM_VERSION
        return json.dumps(d, sort_keys=True)

    def plan(self) -> list["VolumePlan"]:
        """Every volume to build, brain first, in manifest order."""
        out = []
        for organ, roles in ORGAN_ROLES.items():
            index = 0
            for role in roles:
                for _ in range(self.count(role)):
                    rel = f"{organ}/{FILE_STEM[organ]}_{index:04d}.h5"
                    out.append(VolumePlan(organ, role, index, rel))
                    index += 1
        return out


class VolumePlan(NamedTuple):
    organ: str
    role: str
    index: int  # subject index within the organ
    file: str  # path relative to the data root


class SimulatedVolume(NamedTuple):
    """One simulated volume (S slices, C coils, H x W)."""

    kspace: np.ndarray  # complex64 (S, C, H, W), noisy, fully sampled
    target: np.ndarray  # float32 (S, H, W), RSS of ifft2c(kspace)
    sens: np.ndarray  # complex64 (S, C, H, W), true sensitivities
    image: np.ndarray  # float32 (S, H, W), noise-free magnitude (scaled)
    labels: np.ndarray  # uint8 (S, H, W), tissue labels (brain.BRAIN_LABELS / knee.KNEE_LABELS)


def subject_rng(seed: int, organ: str, index: int) -> np.random.Generator:
    """The generator of one subject, independent of every other subject."""
    if organ not in ORGAN_CODE:
        raise ConfigError(f"unknown organ {organ!r}; valid organs: {', '.join(ORGAN_CODE)}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), ORGAN_CODE[organ], int(index)]))


def generate_volume(spec: DatasetSpec, organ: str, index: int) -> SimulatedVolume:
    """Simulate subject ``index`` of ``organ`` (anatomy, scale, coils, phase, noise)."""
    rng = subject_rng(spec.seed, organ, index)
    s = spec.slices(organ, index)
    if organ == "brain":
        image, labels = _brain_with_geometry(spec, index, rng)
    else:
        image, labels = knee.knee_volume(rng, s, spec.image_size, spec.knee_fov_mm, spec.knee_texture_scale,
                                         spec.knee_slice_thickness_mm)
    scale = spec.target_max * float(np.exp(rng.uniform(np.log(0.85), np.log(1.15))))
    image = (image / image.max() * scale).astype(np.float32)
    snr = spec.snr_db + float(rng.uniform(-2.0, 2.0))
    sigma = noise_sigma(image, snr)
    geometry = sample_coil_geometry(spec.num_coils, rng, spec.coil_loop_scale)
    kspace, target, sens = [], [], []
    for i in range(s):
        z = 0.05 * (i - (s - 1) / 2.0)
        k, t, m = simulate_multicoil(image[i], spec.num_coils, rng, snr, geometry=geometry, z=z, sigma=sigma)
        kspace.append(k)
        target.append(t)
        sens.append(m)
    return SimulatedVolume(np.stack(kspace), np.stack(target), np.stack(sens), image, labels)


def brain_geometry(spec: DatasetSpec, index: int) -> tuple[float, float, bool]:
    """Brain subject ``index``'s ``(field of view mm, extra in-plane rotation rad, phase-encoding
    swapped)`` under ``spec``'s geometry options; drawn from a stream of its own, so the anatomy of a
    subject is the same with and without them."""
    rng = np.random.default_rng([spec.seed, ORGAN_CODE["brain"], int(index), _GEOMETRY_STREAM])
    lo, hi = spec.brain_fov_range_mm or (spec.brain_fov_mm, spec.brain_fov_mm)
    fov = float(rng.uniform(lo, hi))
    rotation = float(np.deg2rad(rng.uniform(-spec.brain_rotation_deg, spec.brain_rotation_deg)))
    return fov, rotation, bool(rng.random() < spec.brain_pe_swap)


def _brain_with_geometry(spec: DatasetSpec, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A brain subject's ``(images, labels)`` ``(S, H, W)``, imaged with :func:`brain_geometry`."""
    z_range = spec.brain_z_range_mm or brain.Z_RANGE_MM
    if all(getattr(spec, k) == off for k, off in GEOMETRY_OFF.items()):
        return brain.brain_volume(rng, spec.slices_per_volume, spec.image_size, spec.brain_fov_mm, z_range,
                                  spec.brain_detail, spec.brain_slice_thickness_mm, spec.brain_anatomy)
    fov, rotation, swap = brain_geometry(spec, index)
    params = brain.sample_brain_params(rng, spec.slices_per_volume, z_range_mm=z_range)
    params = replace(params, angles=params.angles + np.array([0.0, 0.0, rotation]))
    if swap:  # the object is imaged transposed: phase encoding along the other image axis
        h, w = spec.image_size
        image, labels = brain.render_brain(params, (w, h), fov, spec.brain_detail, spec.brain_slice_thickness_mm,
                                           spec.brain_anatomy)
        return np.ascontiguousarray(image.transpose(0, 2, 1)), np.ascontiguousarray(labels.transpose(0, 2, 1))
    return brain.render_brain(params, spec.image_size, fov, spec.brain_detail, spec.brain_slice_thickness_mm,
                              spec.brain_anatomy)


def write_simulated(path: Path, vol: SimulatedVolume, spec: DatasetSpec, organ: str, index: int) -> None:
    """Write a simulated volume (fastMRI layout + ``sens_maps`` + ``sim_*`` attrs) atomically."""
    fov = brain_geometry(spec, index)[0] if organ == "brain" else spec.knee_fov_mm
    with atomic_path(path) as tmp:
        write_volume(tmp, vol.kspace, vol.target, patient_id=f"sim-{organ}-{spec.seed}-{index:04d}",
                     acquisition=ACQUISITION[organ], fov_mm=(fov, fov))
        with h5py.File(tmp, "a") as hf:
            hf.create_dataset(SENS_KEY, data=vol.sens.astype(np.complex64), track_times=False)
            hf.attrs["sim_spec"] = spec.volume_key()
            hf.attrs["sim_subject"] = int(index)


def _recorded_hashes(manifest_path: Path) -> dict[str, str]:
    """``file -> sha256`` of an existing manifest, or ``{}`` if there is none or it is unreadable."""
    try:
        table = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
        return dict(zip(table["file"], table["sha256"]))
    except (OSError, KeyError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return {}


def _built_with(path: Path, key: str) -> bool:
    """Whether ``path`` is a simulated volume built with the settings ``key`` (its ``sim_spec``)."""
    try:
        with h5py.File(path, "r") as hf:
            stored = hf.attrs.get("sim_spec")
    except OSError:
        return False
    stored = stored.decode() if isinstance(stored, bytes) else stored
    return stored == key


def _is_current(path: Path, file: str, recorded_sha: str | None, key: str, rebuilt: dict[str, dict[str, str]]) -> bool:
    """Whether ``path`` (manifest name ``file``) holds the recorded volume, or this machine's
    stand-in for it (``rebuilt``: :func:`~mriunlearn.manifest.stand_ins`), built with the settings ``key``."""
    if not recorded_sha or not path.exists():
        return False
    return hash_accepted(rebuilt, file, recorded_sha, sha256_file(path)) and _built_with(path, key)


def build_dataset(
    out_dir: str | os.PathLike[str], spec: DatasetSpec, manifest_path: str | os.PathLike[str] | None = None,
    progress: bool = False, roles: Sequence[str] | None = None,
) -> Path:
    """Simulate every volume of ``spec`` into ``out_dir`` and write the manifest last.

    Args:
        out_dir: data root; files go to ``brain/`` and ``knee/`` below it.
        spec: what to build.
        manifest_path: where the manifest goes (default ``out_dir/manifest.csv``); its ``file``
            column is relative to ``out_dir``. Files whose hash matches the manifest already there, or
            that stand in for it (:data:`~mriunlearn.manifest.STAND_INS`), and were built with the same
            :meth:`DatasetSpec.volume_key` are not rebuilt. The manifest lists the files' own hashes.
        progress: show a tqdm progress bar.
        roles: build and list only the volumes of these roles (e.g. ``("test_brain",)`` with another
            ``brain_fov_mm``: the same test subjects imaged differently); ``None``: every role.

    Returns:
        The manifest path.
    """
    out = Path(out_dir)
    manifest = Path(manifest_path) if manifest_path is not None else out / "manifest.csv"
    recorded, rebuilt = _recorded_hashes(manifest), stand_ins(out)
    key = spec.volume_key()
    plan = spec.plan()
    if roles is not None:
        for role in roles:
            spec.count(role)  # raises on an unknown role
        plan = [item for item in plan if item.role in roles]
    if progress:
        from tqdm import tqdm

        plan_iter = tqdm(plan, desc="simulating volumes", unit="vol")
    else:
        plan_iter = plan
    rows = []
    for item in plan_iter:
        path = out / item.file
        if not _is_current(path, item.file, recorded.get(item.file), key, rebuilt):
            vol = generate_volume(spec, item.organ, item.index)
            write_simulated(path, vol, spec, item.organ, item.index)
        rows.append(file_row(path, out, item.organ, item.role, spec.slices(item.organ, item.index)))
    return write_manifest(rows, manifest)


SPECS = {"default": DatasetSpec.default, "smoke": DatasetSpec.smoke}


def _named_spec(spec_name: str) -> DatasetSpec:
    """:data:`SPECS` ``[spec_name]()``; an unknown name is named with the valid ones."""
    if spec_name not in SPECS:
        raise ConfigError(f"unknown dataset spec {spec_name!r}; valid: {', '.join(SPECS)}")
    return SPECS[spec_name]()


def embedded_paths(spec_name: str) -> tuple[Path, Path]:
    """``(data folder, manifest CSV)`` of the embedded dataset ``spec_name`` (a :data:`SPECS` name):
    ``paths.default_data_dir()`` and ``paths.DEFAULT_MANIFEST`` for ``"default"``, else
    ``paths.data_dir() / spec_name`` and ``paths.MANIFESTS_DIR / f"{spec_name}.csv"``."""
    _named_spec(spec_name)
    if spec_name == "default":
        return paths.default_data_dir(), paths.DEFAULT_MANIFEST
    return paths.data_dir() / spec_name, paths.MANIFESTS_DIR / f"{spec_name}.csv"


def embedded_spec_name(manifest: str | os.PathLike[str]) -> str | None:
    """The :data:`SPECS` name whose embedded manifest is ``manifest`` (compared as resolved paths), or
    ``None`` for any other manifest (real data, a drawn split)."""
    target = Path(manifest).expanduser().resolve()
    return next((name for name in SPECS if embedded_paths(name)[1].resolve() == target), None)


def at_fov(spec: DatasetSpec, fov_mm: float) -> DatasetSpec:
    """``spec`` with every brain imaged at field of view ``fov_mm`` and the geometry options off: the
    same subjects (anatomy, coils, noise draws), one other field of view."""
    return replace(spec, brain_fov_mm=float(fov_mm), **GEOMETRY_OFF)


def of_anatomy(spec: DatasetSpec, anatomy: str) -> DatasetSpec:
    """``spec`` with every brain subject deforming ``anatomy`` (a ``brain.ANATOMIES`` name) as it is
    (no added individual detail): the same subjects (pose, size, deformation, contrast, geometry,
    coils, noise draws), another brain underneath."""
    return replace(spec, brain_anatomy=brain.check_anatomy(anatomy), brain_detail=0.0)


def ensure_test_brains_at_fov(spec_name: str, fov_mm: float) -> Path:
    """The test brains of the embedded dataset ``spec_name`` re-imaged by :func:`at_fov`, built (once;
    current files are kept) into ``paths.data_dir() / f"{spec_name}_test_brains_fov{fov_mm:g}"``.

    Returns:
        Their manifest (``manifest.csv`` in that folder; ``file`` paths relative to it).
    """
    return _ensure_test_brains(spec_name, at_fov(_named_spec(spec_name), fov_mm), f"fov{fov_mm:g}")


def ensure_test_brains_of_anatomy(spec_name: str, anatomy: str) -> Path:
    """The test brains of the embedded dataset ``spec_name`` with another anatomy underneath
    (:func:`of_anatomy`), built (once) into ``paths.data_dir() / f"{spec_name}_test_brains_<identity>"``
    (``brain.anatomy_identity``: another source file, another folder); their manifest, as
    :func:`ensure_test_brains_at_fov`'s."""
    return _ensure_test_brains(spec_name, of_anatomy(_named_spec(spec_name), anatomy), brain.anatomy_identity(anatomy))


def _ensure_test_brains(spec_name: str, variant: DatasetSpec, suffix: str) -> Path:
    out = paths.data_dir() / f"{spec_name}_test_brains_{suffix}"
    return build_dataset(out, variant, out / "manifest.csv", roles=("test_brain",))


def _is_built(manifest: Path, data_dir: Path, spec: DatasetSpec) -> bool:
    try:
        loaded = load_manifest(manifest, data_dir, verify_hashes=True)
    except ManifestError:
        return False
    listed = list(zip(loaded.table.file, loaded.table.role))
    if listed != [(p.file, p.role) for p in spec.plan()]:
        return False
    # files and manifest may agree with each other yet come from other settings (the spec changed)
    key = spec.volume_key()
    return all(_built_with(data_dir / f, key) for f in loaded.table.file)


def ensure_dataset(
    spec_name: str = "default", *, data_dir: str | os.PathLike[str] | None = None,
    manifest_path: str | os.PathLike[str] | None = None, progress: bool = False,
) -> Path:
    """Make sure the embedded dataset ``spec_name`` (``"default"`` or ``"smoke"``) is on disk.

    Builds into ``paths.default_data_dir()`` (default) or ``paths.data_dir() / "smoke"`` unless
    ``data_dir`` is given, when a listed file is missing, its hash differs from the manifest's or the
    manifest does not list the spec's volumes. The manifest is ``paths.DEFAULT_MANIFEST`` or
    ``paths.MANIFESTS_DIR / "smoke.csv"`` unless ``manifest_path`` is given; its build record
    (:func:`build_record_path`) names the settings its hashes were made with.

    A volume rebuilt with the recorded settings whose bytes still differ from the recorded hash
    (another CPU's or numpy/scipy/HDF5 build's floating point) *stands in* for the recorded one: the
    manifest keeps the recorded hash, so the dataset keeps its identity (the cache keys of the
    published models and the committed runs), and the data root's
    :data:`~mriunlearn.manifest.STAND_INS` records the local hash, with a warning. Volumes of other
    settings (a changed spec) get their new hashes in the manifest.

    Returns:
        The manifest path.
    """
    spec = _named_spec(spec_name)
    default_dir, default_manifest = embedded_paths(spec_name)
    out = Path(data_dir) if data_dir is not None else default_dir
    manifest = Path(manifest_path) if manifest_path is not None else default_manifest
    key = spec.volume_key()
    if _is_built(manifest, out, spec):
        if _read_build_record(manifest) != key:
            _write_build_record(manifest, key)
        return manifest
    # the recorded hashes of these very settings: the manifest's build record says so, or the file on disk
    same = _read_build_record(manifest) == key
    recorded = {f: sha for f, sha in _recorded_hashes(manifest).items() if sha and (same or _built_with(out / f, key))}
    build_dataset(out, spec, manifest, progress=progress)
    rebuilt = _recorded_hashes(manifest)
    changed = {f: {"recorded": sha, "local": rebuilt[f]} for f, sha in recorded.items()
               if f in rebuilt and rebuilt[f] != sha}
    if changed:
        _keep_recorded(manifest, out, changed)
        first = sorted(changed)[0]
        warnings.warn(f"{manifest}: {len(changed)} volume(s) rebuilt here differ in their bytes from the recorded "
                      f"ones (first: {first}; another CPU's or numpy/scipy/HDF5 build's floating point). They stand "
                      f"in for them, so the published models and committed runs apply; their local hashes are in "
                      f"{out / STAND_INS}.", stacklevel=2)
    _write_build_record(manifest, key)
    return manifest


def build_record_path(manifest: Path) -> Path:
    """``<manifest stem>.build.json`` beside the manifest: the :meth:`DatasetSpec.volume_key` its
    hashes were made with, so a fresh clone knows whether its rebuild should reproduce them."""
    return manifest.with_name(f"{manifest.stem}.build.json")


def _read_build_record(manifest: Path) -> str | None:
    try:
        return json.loads(build_record_path(manifest).read_text()).get("volume_key")
    except (OSError, ValueError, AttributeError):
        return None


def _write_build_record(manifest: Path, key: str) -> None:
    atomic_write_text(build_record_path(manifest), json.dumps({"volume_key": key}, indent=1) + "\n")


def _keep_recorded(manifest: Path, data_dir: Path, changed: dict[str, dict[str, str]]) -> None:
    """Record ``changed`` (``{file: {"recorded", "local"}}``) in ``data_dir``'s stand-in record and put
    the recorded hashes back into ``manifest``."""
    record = {**stand_ins(data_dir), **changed}
    atomic_write_text(data_dir / STAND_INS, json.dumps(record, indent=1, sort_keys=True) + "\n")
    table = pd.read_csv(manifest, dtype={"sha256": str}, keep_default_na=False)
    table["sha256"] = [changed[f]["recorded"] if f in changed else sha for f, sha in zip(table.file, table.sha256)]
    write_manifest(table.to_dict("records"), manifest)
