"""Reading and writing fastMRI multi-coil HDF5 volumes, with validation.

File layout (the fastMRI multicoil convention, also what :class:`fastmri.data.SliceDataset` reads):

- ``kspace``: complex64, shape ``(slices, coils, H, W)``; H is the readout (frequency-encode)
  direction, W the phase-encode direction along which the Cartesian mask samples columns.
- ``reconstruction_rss``: float32, shape ``(slices, h, w)``, the root-sum-of-squares target,
  centre-cropped to the recon size (320 x 320 for real data; equal to ``(H, W)`` for simulated data).
  Real brain volumes narrower than the recon size (phase-encode ``W < w``, e.g. 640 x 300 with a
  320 x 320 target; "FLAIR 203" in fastMRI's code) are evaluated on a ``(W, W)`` centre crop of both
  image and target, fastMRI's rule (see :attr:`VolumeInfo.crop_size`).
- ``ismrmrd_header``: ISMRMRD XML with encoded/recon matrix sizes and the phase-encode limits.
- attrs: ``max`` (maximum of the target volume), ``norm`` (its Frobenius norm), ``acquisition``,
  ``patient_id``.

Every read checks the file before any work starts and raises :class:`~mriunlearn.errors.DataError`
naming the file: unreadable/truncated HDF5, missing key, wrong number of dimensions, zero coils,
NaN/Inf k-space, target larger than the k-space grid.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import h5py
import numpy as np
from fastmri.data.mri_data import et_query

from .atomic import atomic_path
from .errors import DataError

KSPACE_KEY = "kspace"
TARGET_KEY = "reconstruction_rss"
HEADER_KEY = "ismrmrd_header"
#: optional extra dataset of simulated files: true coil maps, complex64 (slices, coils, H, W)
SENS_KEY = "sens_maps"

_HEADER_TEMPLATE = """<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">
  <encoding>
    <encodedSpace>
      <matrixSize><x>{enc_x}</x><y>{enc_y}</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>{fov_x}</x><y>{fov_y}</y><z>{slice_mm}</z></fieldOfView_mm>
    </encodedSpace>
    <reconSpace>
      <matrixSize><x>{rec_x}</x><y>{rec_y}</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>{fov_x}</x><y>{fov_y}</y><z>{slice_mm}</z></fieldOfView_mm>
    </reconSpace>
    <encodingLimits>
      <kspace_encoding_step_1><minimum>0</minimum><maximum>{pe_max}</maximum><center>{pe_center}</center></kspace_encoding_step_1>
      <kspace_encoding_step_2><minimum>0</minimum><maximum>0</maximum><center>0</center></kspace_encoding_step_2>
      <slice><minimum>0</minimum><maximum>{slice_max}</maximum><center>0</center></slice>
    </encodingLimits>
    <trajectory>cartesian</trajectory>
  </encoding>
  <acquisitionSystemInformation><receiverChannels>{coils}</receiverChannels></acquisitionSystemInformation>
</ismrmrdHeader>
"""

ISMRMRD_NAMESPACE = "http://www.ismrm.org/ISMRMRD"


@dataclass(frozen=True)
class VolumeInfo:
    """What a validated volume holds (no arrays are loaded)."""

    path: Path
    num_slices: int
    num_coils: int
    kspace_shape: tuple[int, int]  # (H, W)
    recon_size: tuple[int, int]  # (h, w) of the target
    padding: tuple[int, int]  # (padding_left, padding_right) along W, fastMRI's convention
    attrs: dict[str, Any]

    @property
    def crop_size(self) -> tuple[int, int]:
        """``(h, w)`` that reconstructions and targets are compared on: the target size, or
        ``(W, W)`` for a volume narrower than its target (fastMRI's FLAIR 203 rule)."""
        return crop_size(self.kspace_shape, self.recon_size)


def crop_size(kspace_hw: tuple[int, int], target_hw: tuple[int, int]) -> tuple[int, int]:
    """The comparison size of a ``target_hw`` target on a ``kspace_hw`` = (H, W) grid: the target
    size, or ``(W, W)`` when the target is wider than the phase-encode width ``W`` (fastMRI's
    ``UnetDataTransform`` / ``VarNetModule`` "FLAIR 203" special case)."""
    h, w = kspace_hw
    if target_hw[1] > w:
        return (w, w)
    return (int(target_hw[0]), int(target_hw[1]))


def _target_fits(kspace_hw: tuple[int, int], target_hw: tuple[int, int]) -> bool:
    """A target fits the grid, or (narrow volume: only the width exceeds ``W``) holds the
    ``(W, W)`` crop."""
    (h, w), (th, tw) = kspace_hw, target_hw
    return th <= h and (tw <= w or th >= w)


def make_ismrmrd_header(
    kspace_hw: tuple[int, int], recon_hw: tuple[int, int], num_coils: int, num_slices: int,
    fov_mm: tuple[float, float] = (220.0, 220.0), slice_mm: float = 5.0,
    pe_limits: tuple[int, int] | None = None,
) -> str:
    """ISMRMRD XML for a Cartesian acquisition of ``kspace_hw`` = (H, W).

    fastMRI reads x as the readout (H) and y as the phase-encode (W) size. ``pe_limits`` =
    ``(maximum, center)`` of ``encodingLimits/kspace_encoding_step_1`` for a grid whose phase-encode
    edges were zero-padded (real knee files: W = 368, about 333 acquired lines); fastMRI derives the
    acquired columns ``[W // 2 - center, W // 2 - center + maximum + 1)`` from them. ``None``: fully
    sampled, ``(W - 1, W // 2)``.
    """
    h, w = kspace_hw
    pe_max, pe_center = (w - 1, w // 2) if pe_limits is None else (int(pe_limits[0]), int(pe_limits[1]))
    return _HEADER_TEMPLATE.format(
        enc_x=h, enc_y=w, rec_x=recon_hw[0], rec_y=recon_hw[1], fov_x=fov_mm[0], fov_y=fov_mm[1],
        slice_mm=slice_mm, pe_max=pe_max, pe_center=pe_center, slice_max=num_slices - 1,
        coils=num_coils,
    )


def write_volume(
    path: str | os.PathLike[str],
    kspace: np.ndarray,
    target: np.ndarray,
    *,
    patient_id: str,
    acquisition: str,
    fov_mm: tuple[float, float] = (220.0, 220.0),
    pe_limits: tuple[int, int] | None = None,
) -> None:
    """Write one multi-coil volume atomically (temporary name, then rename).

    Args:
        path: destination ``.h5`` file.
        kspace: complex, shape ``(slices, coils, H, W)``; stored as complex64.
        target: real, shape ``(slices, h, w)`` with ``h <= H``, ``w <= W`` (or, a narrow volume,
            ``w > W`` with ``h, w >= W``: see :func:`crop_size`); stored as float32.
        patient_id: stored in attrs (also used to keep a subject in one split).
        acquisition: e.g. ``"AXT2"`` or ``"CORPD_FBK"``.
        pe_limits: ``(maximum, center)`` of the header's phase-encode encoding limits (see
            :func:`make_ismrmrd_header`); ``None`` for a fully sampled grid.

    The file bytes depend only on the arrays and arguments: HDF5 object timestamps are off, so
    the same inputs give byte-identical files.
    """
    kspace = np.asarray(kspace)
    target = np.asarray(target)
    if kspace.ndim != 4:
        raise DataError(f"{path}: kspace must have shape (slices, coils, H, W), got {kspace.shape}")
    if target.ndim != 3 or target.shape[0] != kspace.shape[0]:
        raise DataError(f"{path}: target must have shape (slices, h, w) matching kspace {kspace.shape}, got {target.shape}")
    s, c, h, w = kspace.shape
    if s == 0 or c == 0:
        raise DataError(f"{path}: kspace has zero slices or coils: shape {kspace.shape}")
    if not _target_fits((h, w), target.shape[1:]):
        raise DataError(f"{path}: target {target.shape[1:]} is larger than the k-space grid {(h, w)}")
    if not (np.isfinite(kspace).all() and np.isfinite(target).all()):
        raise DataError(f"{path}: kspace or target holds NaN or Inf values")
    header = make_ismrmrd_header((h, w), target.shape[1:], c, s, fov_mm, pe_limits=pe_limits)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=False) as hf:
            hf.create_dataset(KSPACE_KEY, data=kspace.astype(np.complex64), track_times=False)
            hf.create_dataset(TARGET_KEY, data=target.astype(np.float32), track_times=False)
            hf.create_dataset(HEADER_KEY, data=np.bytes_(header.encode("utf-8")), track_times=False)
            hf.attrs["max"] = float(target.max())
            hf.attrs["norm"] = float(np.sqrt(np.sum(np.square(target.astype(np.float64)))))  # no BLAS: same bytes on every machine
            hf.attrs["acquisition"] = acquisition
            hf.attrs["patient_id"] = patient_id


def _header_int(root: ElementTree.Element, *tags: str, path: Path) -> int:
    """The integer under ``tags`` of an ISMRMRD header, found as fastMRI finds it
    (:func:`fastmri.data.mri_data.et_query`); a header written without the ISMRMRD namespace is
    read too.

    Raises:
        DataError: naming ``path``: the element is missing or its text is not a number.
    """
    for namespace in (ISMRMRD_NAMESPACE, ""):  # "": elements without a namespace
        try:
            text = et_query(root, list(tags), namespace=namespace)
            break
        except RuntimeError:  # et_query's "Element not found"
            continue
    else:
        raise DataError(f"{path}: ismrmrd_header lacks {'/'.join(tags)}")
    try:
        return int(float(text))
    except ValueError as exc:
        raise DataError(f"{path}: ismrmrd_header {'/'.join(tags)} is not a number: {text!r}") from exc


def _open(path: Path) -> h5py.File:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {exc}") from exc


def inspect_volume(path: str | os.PathLike[str]) -> VolumeInfo:
    """Validate a volume's structure (keys, shapes, header) without loading the arrays.

    Raises:
        DataError: naming ``path`` for any problem.
    """
    path = Path(path)
    with _open(path) as hf:
        try:
            keys = set(hf.keys())
        except (OSError, RuntimeError) as exc:  # damaged object headers
            raise DataError(f"{path}: cannot list HDF5 contents (corrupt?): {exc}") from exc
        for key in (KSPACE_KEY, TARGET_KEY):
            if key not in keys:
                raise DataError(f"{path}: missing key {key!r} (found {sorted(keys)})")
        ks, tg = hf[KSPACE_KEY], hf[TARGET_KEY]
        if ks.ndim != 4:
            raise DataError(f"{path}: kspace must be 4-D (slices, coils, H, W), got shape {ks.shape}")
        if not np.issubdtype(ks.dtype, np.complexfloating):
            raise DataError(f"{path}: kspace must be complex, got dtype {ks.dtype}")
        s, c, h, w = ks.shape
        if s == 0:
            raise DataError(f"{path}: kspace has zero slices")
        if c == 0:
            raise DataError(f"{path}: kspace has zero coils")
        if tg.ndim != 3 or tg.shape[0] != s:
            raise DataError(f"{path}: {TARGET_KEY} must have shape ({s}, h, w), got {tg.shape}")
        if not _target_fits((h, w), tg.shape[1:]):
            raise DataError(f"{path}: target {tg.shape[1:]} is larger than the k-space grid {(h, w)}")
        recon = (int(tg.shape[1]), int(tg.shape[2]))
        padding = (0, w)
        if HEADER_KEY in keys:
            try:
                root = ElementTree.fromstring(hf[HEADER_KEY][()])
            except (ElementTree.ParseError, TypeError) as exc:
                raise DataError(f"{path}: ismrmrd_header is not valid XML: {exc}") from exc
            enc = ["encoding", "encodedSpace", "matrixSize"]
            enc_y = _header_int(root, *enc, "y", path=path)
            lims = ["encoding", "encodingLimits", "kspace_encoding_step_1"]
            center = _header_int(root, *lims, "center", path=path)
            maximum = _header_int(root, *lims, "maximum", path=path) + 1
            left = enc_y // 2 - center
            padding = (left, left + maximum)
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in hf.attrs.items()}
        if "max" not in attrs:
            raise DataError(f"{path}: missing attribute 'max' (the target volume maximum)")
        try:
            peak = float(attrs["max"])
        except (TypeError, ValueError):
            peak = math.nan
        if not (math.isfinite(peak) and peak > 0):  # read from the header: a cheap sign of bad data
            raise DataError(f"{path}: attribute 'max' (the target volume maximum) is {attrs['max']!r}, "
                            "not a finite positive number (NaN or Inf in the target?)")
    return VolumeInfo(path, s, c, (h, w), recon, padding, attrs)


def load_volume(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, VolumeInfo]:
    """Load and validate a whole volume.

    Returns:
        ``(kspace, target, info)``: kspace complex64 ``(slices, coils, H, W)``, target float32
        ``(slices, h, w)``.

    Raises:
        DataError: naming ``path``: structure problems (see :func:`inspect_volume`), a read that
        fails part-way (truncated file), or NaN/Inf values in k-space or target.
    """
    info = inspect_volume(path)
    with _open(info.path) as hf:
        try:
            kspace = np.asarray(hf[KSPACE_KEY][()], dtype=np.complex64)
            target = np.asarray(hf[TARGET_KEY][()], dtype=np.float32)
        except (OSError, RuntimeError) as exc:
            raise DataError(f"{info.path}: reading the arrays failed (truncated file?): {exc}") from exc
    if not np.isfinite(kspace.view(np.float32)).all():
        bad = np.unique(np.nonzero(~np.isfinite(kspace.view(np.float32)))[0]).tolist()
        raise DataError(f"{info.path}: kspace holds NaN or Inf values (slices {bad})")
    if not np.isfinite(target).all():
        raise DataError(f"{info.path}: {TARGET_KEY} holds NaN or Inf values")
    return kspace, target, info
