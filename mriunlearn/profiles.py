"""Frozen run configurations ("profiles"), recorded with every result.

Three profiles exist (:data:`PROFILES`):

- ``paper``: the authors' recipe on real fastMRI data (E2E-VarNet with fastMRI's defaults).
- ``default``: the same recipe scaled to the embedded simulated dataset and a 2-core CPU.
- ``smoke``: a seconds-long configuration for tests.

Use :func:`get_profile` to obtain one, optionally with overrides::

    prof = get_profile("default", epochs=4, precision="fp32")

Unknown profile names, unknown override keys and out-of-range values raise
:class:`~mriunlearn.errors.ConfigError` naming the valid choices.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths
from .errors import ConfigError, ManifestError
from .keys import key_config

LOSSES: tuple[str, ...] = ("ssim_l1", "l1")
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
#: how slices reach the model: ``memory`` (every volume loaded once) or ``stream`` (one slice at a
#: time from HDF5, in DataLoader workers); both give bit-identical samples, masks and batch order
DATA_PATHS: tuple[str, ...] = ("memory", "stream")
#: how the hallucination maps apply the measured-space projector P_meas (``method=`` of
#: :mod:`mriunlearn.hallucination`, whose ``METHODS`` this mirrors): ``eig`` (exact, O(H·W³) per
#: slice) or ``cg`` (matrix-free, for real fastMRI grids)
HALLUCINATION_PROJECTORS: tuple[str, ...] = ("eig", "cg")
#: undersampling patterns (``mask_type``): ``equispaced`` (fastMRI ``EquiSpacedMaskFunc``, the paper's; what
#: ``None`` means) or ``random`` (fastMRI ``RandomMaskFunc``: the same centre, the other lines drawn at random)
MASK_TYPES: tuple[str, ...] = ("equispaced", "random")
#: fields that say where data lives, how it is read or how many threads run, or how a trained model
#: is analysed afterwards: not part of a run's identity (cache key); the data path is recorded in each
#: run's ``summary.json`` instead, and the projector in the hallucination tables' names
RUNTIME_FIELDS: tuple[str, ...] = ("manifest", "data_root", "num_threads", "data_path", "num_workers",
                                   "hallucination_projector")
#: fields that do not change how a model is trained (evaluation batch, unlearning budget)
NON_TRAINING_FIELDS: tuple[str, ...] = ("eval_batch_size", "unlearn_epochs", "retain_fraction")

SMOKE_MANIFEST: Path = paths.MANIFESTS_DIR / "smoke.csv"


@dataclass(frozen=True)
class Profile:
    """One run configuration. All fields are plain JSON types so :meth:`to_dict` round-trips.

    Model (``fastmri.models.VarNet``): ``num_cascades, chans, pools, sens_chans, sens_pools``.
    Optimisation: Adam(``lr``), ``epochs``, ``batch_size`` (slices per step; same-shape slices are
    batched), ``loss`` (``"ssim_l1"``: 1-SSIM + ``l1_weight``·L1 on the RSS magnitude, the authors'
    code; ``"l1"``: plain L1, the paper's text), ``grad_clip`` (max gradient norm, 0 = off),
    ReduceLROnPlateau(``plateau_factor``, ``plateau_patience``) on the validation loss.
    Masks: fastMRI ``EquiSpacedMaskFunc([center_fraction], [acceleration])``; ``mask_type="random"``
    draws the lines outside the centre at random (``RandomMaskFunc``) instead, e.g. to evaluate trained
    models under another sampling pattern (``None``, the default, is equispaced and stays out of the
    cache key).
    ``precision``: ``"fp32"`` or ``"bf16"`` (autocast of the U-Nets; master weights stay fp32).
    Unlearning budget: ``unlearn_epochs`` (10% of ``epochs``, at least 1) and ``retain_fraction``.
    Data: ``manifest`` (CSV) and ``data_root`` (folder its ``file`` column is relative to);
    ``None`` means "must be given by the user" (paper profile).
    ``num_threads``: torch CPU threads for training (0 = all cores).
    ``data_path``: ``"memory"`` (all volumes of a role loaded once; the simulated data) or
    ``"stream"`` (an index of (file, slice) in memory, each slice read from HDF5 when used, in
    ``num_workers`` DataLoader worker processes per rank; the paper's 1,000 volumes). Both give the
    same samples, masks and batch order, so neither is part of the cache key.
    ``max_steps``: a cap on the optimiser steps of one run (``None``: no cap). Training stops after
    ``max_steps`` global batches (counted across epochs; the epoch it stops in is validated and
    checkpointed as usual), an unlearning run after ``max_steps`` optimiser steps. For smoke runs
    of the paper-size recipe (``--set max_steps=2``); it changes what a run computes, so it is part
    of the cache key when set and, like every field of :data:`OPTIONAL_FIELDS`, absent when ``None``
    (:func:`~mriunlearn.keys.key_config`).
    ``hallucination_projector``: how the notebooks' hallucination maps and scores apply the
    measured-space projector (``method=`` of :mod:`mriunlearn.hallucination`): ``"eig"`` (exact
    spectral threshold, one W x W eigendecomposition per image row, O(H·W³) per slice; ``default``
    and ``smoke``, 96x96 and 32x32) or ``"cg"`` (matrix-free damped CG, O(n_iter·C·H·W·log W);
    ``paper``, 640x320 to 640x368). It trains no model differently, so it is not part of the cache
    key; each cached hallucination table names its projector (``hallucination_<role>_<projector>.csv``).
    """

    name: str
    num_cascades: int
    chans: int
    pools: int
    sens_chans: int
    sens_pools: int
    lr: float
    epochs: int
    batch_size: int
    eval_batch_size: int
    loss: str
    l1_weight: float
    grad_clip: float
    plateau_factor: float
    plateau_patience: int
    seed: int
    acceleration: int
    center_fraction: float
    precision: str
    unlearn_epochs: int
    retain_fraction: float
    manifest: str | None
    data_root: str | None
    num_threads: int = 0
    data_path: str = "memory"
    num_workers: int = 0
    max_steps: int | None = None
    hallucination_projector: str = "eig"
    mask_type: str | None = None
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-serialisable dict (recorded with every result); an unset field of
        :data:`OPTIONAL_FIELDS` is left out (:func:`~mriunlearn.keys.key_config`)."""
        return key_config(dataclasses.asdict(self), OPTIONAL_FIELDS)

    def portable_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` with the data folders as :func:`mriunlearn.paths.portable` writes them
        (no machine's folders in a committed or shipped JSON)."""
        d = self.to_dict()
        for key in ("manifest", "data_root"):
            d[key] = paths.portable(d[key])
        return d

    def identity(self) -> dict[str, Any]:
        """The fields that define a run's numbers (no data location, threads or description)."""
        d = self.to_dict()
        for key in (*RUNTIME_FIELDS, "description"):
            d.pop(key, None)
        return d

    def train_identity(self) -> dict[str, Any]:
        """:meth:`identity` without the fields that do not affect training (the key of a trained
        model: changing the unlearning budget or the evaluation batch does not retrain G)."""
        d = self.identity()
        for key in NON_TRAINING_FIELDS:
            d.pop(key, None)
        return d

    def replace(self, **overrides: Any) -> Profile:
        """A copy with ``overrides`` applied (validated like :func:`get_profile`)."""
        _check_keys(overrides)
        return dataclasses.replace(self, **overrides)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """Rebuild a profile recorded by :meth:`to_dict`; unknown keys raise ConfigError."""
        _check_keys({k: v for k, v in data.items() if k != "name"})
        return cls(**data)

    def manifest_path(self) -> Path:
        """The manifest CSV this profile trains and evaluates on.

        Raises:
            ConfigError: the profile names no manifest (paper: the user must give one).
        """
        if self.manifest is None or self.data_root is None:
            raise ConfigError(
                f"profile {self.name!r} needs real fastMRI data: pass manifest=<CSV> and "
                "data_root=<folder> (make the manifest with `python -m mriunlearn split` from the "
                "authors' split listing, mriunlearn.splits.import_paper_tree, or draw one with "
                "mriunlearn.splits.draw_split)")
        return Path(self.manifest)

    def load_manifest(self, *, verify_hashes: bool = True):  # -> Manifest
        """Load and validate the profile's manifest (see :func:`mriunlearn.manifest.load_manifest`).

        Raises:
            ConfigError: no manifest configured.
            ManifestError: the manifest file is missing, with the command that builds it.
        """
        from .manifest import load_manifest

        path = self.manifest_path()
        if not path.exists():
            hint = (f"build it with `python -m mriunlearn data --profile {self.name}`"
                    if self.name in ("default", "smoke") else
                    "make one with `python -m mriunlearn split` (see mriunlearn.splits)")
            raise ManifestError(f"manifest {path} for profile {self.name!r} not found: {hint}")
        return load_manifest(path, self.data_root, verify_hashes=verify_hashes)


#: the fields whose default is ``None`` (unset): left out of :meth:`Profile.to_dict`, and so of every
#: cache key, while unset; a set value changes what a run computes and enters the key
OPTIONAL_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Profile) if f.default is None)

_RANGES: dict[str, tuple[float, float]] = {
    "num_cascades": (1, 64), "chans": (1, 512), "pools": (1, 8), "sens_chans": (1, 256),
    "sens_pools": (1, 8), "lr": (1e-8, 1.0), "epochs": (1, 10_000), "batch_size": (1, 4096),
    "eval_batch_size": (1, 4096), "l1_weight": (0.0, 1e3), "grad_clip": (0.0, 1e6),
    "plateau_factor": (1e-6, 0.999999), "plateau_patience": (0, 10_000), "seed": (0, 2**32 - 1),
    "acceleration": (1, 64), "center_fraction": (1e-6, 1.0), "unlearn_epochs": (1, 10_000),
    "retain_fraction": (1e-6, 1.0), "num_threads": (0, 1024), "num_workers": (0, 256),
}
_INT_FIELDS = {"num_cascades", "chans", "pools", "sens_chans", "sens_pools", "epochs", "batch_size",
               "eval_batch_size", "plateau_patience", "seed", "acceleration", "unlearn_epochs",
               "num_threads", "num_workers"}


def _validate(p: Profile) -> None:
    for name, (lo, hi) in _RANGES.items():
        value = getattr(p, name)
        if name in _INT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"profile {p.name!r}: {name} must be an integer, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"profile {p.name!r}: {name} must be a number, got {value!r}")
        if not lo <= value <= hi:
            raise ConfigError(f"profile {p.name!r}: {name}={value!r} is out of range [{lo}, {hi}]")
    if p.loss not in LOSSES:
        raise ConfigError(f"profile {p.name!r}: unknown loss {p.loss!r}; valid: {', '.join(LOSSES)}")
    if p.data_path not in DATA_PATHS:
        raise ConfigError(f"profile {p.name!r}: unknown data_path {p.data_path!r}; "
                          f"valid: {', '.join(DATA_PATHS)}")
    if p.hallucination_projector not in HALLUCINATION_PROJECTORS:
        raise ConfigError(f"profile {p.name!r}: unknown hallucination_projector {p.hallucination_projector!r}; "
                          f"valid: {', '.join(HALLUCINATION_PROJECTORS)}")
    if p.mask_type is not None and p.mask_type not in MASK_TYPES:
        raise ConfigError(f"profile {p.name!r}: unknown mask_type {p.mask_type!r}; valid: {', '.join(MASK_TYPES)}")
    if p.precision not in PRECISIONS:
        raise ConfigError(f"profile {p.name!r}: unknown precision {p.precision!r}; "
                          f"valid: {', '.join(PRECISIONS)}")
    if p.max_steps is not None and (isinstance(p.max_steps, bool) or not isinstance(p.max_steps, int)
                                    or not 1 <= p.max_steps <= 10**9):
        raise ConfigError(f"profile {p.name!r}: max_steps must be None (no cap) or an integer in "
                          f"[1, {10**9}], got {p.max_steps!r}")
    for name in ("manifest", "data_root"):
        value = getattr(p, name)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"profile {p.name!r}: {name} must be a path string, got {value!r}")


def _check_keys(overrides: dict[str, Any]) -> None:
    valid = [f.name for f in dataclasses.fields(Profile) if f.name != "name"]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ConfigError(f"unknown profile option(s) {unknown}; valid options: {', '.join(valid)}")


def unlearn_budget(epochs: int) -> int:
    """The paper's unlearning budget: 10% of the training epochs, at least 1 (5 of 50)."""
    return max(1, round(0.1 * epochs))


def _paper() -> Profile:
    """The authors' recipe (fastMRI E2E-VarNet defaults, 29.9M parameters) on real fastMRI data.

    Adam 1e-3, 50 epochs, batch 1, SSIM + 1e-5·L1 (the authors' code; ``loss="l1"`` is the paper's
    text), gradient clipping 0.5, ReduceLROnPlateau(0.1, 10), seed 42, equispaced 8x / 0.04.
    ``manifest`` and ``data_root`` must be given (``get_profile("paper", manifest=..., data_root=...)``).
    Data streams from HDF5 (``data_path="stream"``, 4 DataLoader workers per rank): 1,000 volumes of
    ~0.4 GB do not fit in memory. Hallucination maps use the matrix-free ``"cg"`` projector
    (``hallucination_projector``): the exact ``"eig"`` one costs O(H·W³) per slice at 640x368
    (``--set hallucination_projector=eig`` brings it back; :mod:`mriunlearn.hallucination` describes
    both, ``docs/performance.md`` their measured agreement).
    """
    return Profile(
        name="paper", num_cascades=12, chans=18, pools=4, sens_chans=8, sens_pools=4, lr=1e-3,
        epochs=50, batch_size=1, eval_batch_size=1, loss="ssim_l1", l1_weight=1e-5, grad_clip=0.5,
        plateau_factor=0.1, plateau_patience=10, seed=42, acceleration=8, center_fraction=0.04,
        precision="fp32", unlearn_epochs=unlearn_budget(50), retain_fraction=0.1, manifest=None,
        data_root=None, data_path="stream", num_workers=4, hallucination_projector="cg",
        description=_paper.__doc__ or "")


def _default() -> Profile:
    """The paper's recipe scaled to the embedded data (96x96, 16 coils) and a 2-core CPU.

    Kept from ``paper``: SSIM + 1e-5·L1 loss, Adam 1e-3, gradient clipping 0.5,
    ReduceLROnPlateau(0.1, 10) on the validation loss, seed 42, equispaced masks.

    Scaled, and why (the lever and regime studies behind the operating point, with their
    measurements: ``docs/operating_point.md``):

    - network: 4 cascades, chans 8, 2 pools, sens_chans 4, sens_pools 3 (a wider network gains
      oracle BTA PSNR for a multiple of the time, which the 40-minute ``make reproduce`` budget
      cannot carry through notebooks 03/04; 2 pools instead of 3: the regime study's candidates);
    - batch 8 of same-shape slices (smaller batches: the same trade of PSNR for time);
    - bf16 autocast of the forward pass (fp32 master weights, fp32 loss); its speed and accuracy
      against fp32: ``make bench``, precision section;
    - acceleration 4 instead of the paper's 8: at 8x no model of this size learns the 96x96 knee
      as a distribution (it memorises the forget slices, and brain knowledge does not carry to
      the knee); at 4x both happen, as in the paper at 8x on 640x320 k-space. The price: with 16
      coils at 4x the acquisition leaves no null space, so notebook 02's hallucination maps are zero;
    - centre fraction 0.08, i.e. 8 fully sampled centre lines of 96 (0.04 gives 4): the paper's
      0.04 of ~320 phase-encode lines is ~13 lines, and what calibrates the coil sensitivities is
      the number of lines (the maps are smooth on the field-of-view scale), so 8 lines is nearer
      the paper than 4; it raises the BTA PSNR of the oracle and of the zero-filled input. With
      fastMRI's ``EquiSpacedMaskFunc`` the overall sampling is then 8 + 96/4 = ~32 of 96 lines
      (~3x) against the paper's ~53 of 320 (~6x);
    - 60 epochs: where both models' validation PSNR levels off on the individual brains, and
      the 10% unlearning budget is then 6 epochs.
    """
    return Profile(
        name="default", num_cascades=4, chans=8, pools=2, sens_chans=4, sens_pools=3, lr=1e-3,
        epochs=60, batch_size=8, eval_batch_size=8, loss="ssim_l1", l1_weight=1e-5, grad_clip=0.5,
        plateau_factor=0.1, plateau_patience=10, seed=42, acceleration=4, center_fraction=0.08,
        precision="bf16", unlearn_epochs=unlearn_budget(60), retain_fraction=0.1,
        manifest=str(paths.DEFAULT_MANIFEST), data_root=str(paths.default_data_dir()),
        description=_default.__doc__ or "")


def _smoke() -> Profile:
    """Seconds-long configuration for tests: 2 cascades, tiny channels, 2 epochs, 32x32 data."""
    return Profile(
        name="smoke", num_cascades=2, chans=4, pools=2, sens_chans=2, sens_pools=2, lr=1e-3,
        epochs=2, batch_size=2, eval_batch_size=4, loss="ssim_l1", l1_weight=1e-5, grad_clip=0.5,
        plateau_factor=0.1, plateau_patience=10, seed=42, acceleration=8, center_fraction=0.04,
        precision="fp32", unlearn_epochs=1, retain_fraction=0.5,
        manifest=str(SMOKE_MANIFEST), data_root=str(paths.data_dir() / "smoke"), num_threads=1,
        description=_smoke.__doc__ or "")


_FACTORIES = {"smoke": _smoke, "default": _default, "paper": _paper}
#: the profile names, in increasing size
PROFILES: tuple[str, ...] = tuple(_FACTORIES)


def get_profile(name: str | Profile, **overrides: Any) -> Profile:
    """The profile ``name`` with ``overrides`` applied.

    Paths given as ``manifest`` / ``data_root`` may be ``str`` or ``os.PathLike``.
    If ``epochs`` is overridden and ``unlearn_epochs`` is not, the latter follows the 10% rule.

    Raises:
        ConfigError: unknown name (lists :data:`PROFILES`), unknown option (lists the valid ones)
        or an out-of-range value (names the field).
    """
    if isinstance(name, Profile):
        base = name
    else:
        if name not in _FACTORIES:
            raise ConfigError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}")
        base = _FACTORIES[name]()
    _check_keys(overrides)
    for key in ("manifest", "data_root"):
        if isinstance(overrides.get(key), os.PathLike):
            overrides[key] = str(Path(overrides[key]))
    if "epochs" in overrides and "unlearn_epochs" not in overrides:
        epochs = overrides["epochs"]
        if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 1:
            overrides["unlearn_epochs"] = unlearn_budget(epochs)
    return dataclasses.replace(base, **overrides)
