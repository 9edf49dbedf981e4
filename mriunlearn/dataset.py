"""Slices in memory or streamed from HDF5, undersampling masks and batch loaders.

Two datasets give the same items (fastMRI :class:`~fastmri.data.transforms.VarNetSample` built by
:func:`build_sample` with :func:`fastmri.data.transforms.apply_mask`, the steps of fastMRI's
``VarNetDataTransform``), the same masks and, through :class:`ShapeBatchSampler`, the same batches
in the same order; the profile's ``data_path`` picks one (:func:`make_dataset`):

- :class:`SliceData` (``"memory"``): each volume is read once through
  :func:`mriunlearn.fastmri_h5.load_volume` and kept as a float32 tensor ``(S, C, H, W, 2)``;
- :class:`StreamingSliceData` (``"stream"``): only an index of (file, slice) and each volume's
  header (:func:`mriunlearn.fastmri_h5.inspect_volume`: shapes, padding, attrs) is held; a slice is
  read when it is used, in DataLoader worker processes (``profile.num_workers``) that open their
  own HDF5 handles lazily (h5py handles do not survive ``fork``).

Masks (fastMRI ``EquiSpacedMaskFunc``):

- training: a fresh mask per slice and epoch, drawn from the seed ``(run seed, epoch, slice index)``
  so any epoch of a run can be replayed (and resumed) exactly;
- evaluation: seeded by the file name, ``tuple(map(ord, fname))`` (fastMRI's convention), so every
  slice of a volume shares one mask and every model sees the same input.

Batches hold slices of one shape only (real fastMRI shapes vary: those batches then shrink).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from fastmri.data.subsample import EquiSpacedMaskFunc, MaskFunc, RandomMaskFunc
from fastmri.data.transforms import VarNetSample, apply_mask, center_crop

from .errors import DataError
from .fastmri_h5 import KSPACE_KEY, TARGET_KEY, VolumeInfo, crop_size, inspect_volume, load_volume
from .heap import worker_init
from .manifest import Manifest
from .profiles import Profile


def make_mask_func(profile: Profile) -> MaskFunc:
    """fastMRI ``EquiSpacedMaskFunc([center_fraction], [acceleration])`` of the profile, or
    ``RandomMaskFunc`` with the same arguments for ``profile.mask_type == "random"``."""
    cls = RandomMaskFunc if profile.mask_type == "random" else EquiSpacedMaskFunc
    return cls([profile.center_fraction], [profile.acceleration])


def crop_target(target: torch.Tensor, kspace_hw: tuple[int, int]) -> torch.Tensor:
    """``target (..., h, w)`` centre-cropped to :func:`mriunlearn.fastmri_h5.crop_size` (itself,
    unless the volume is narrower than its target: fastMRI's ``(W, W)`` crop)."""
    size = crop_size(kspace_hw, tuple(target.shape[-2:]))
    return target if tuple(target.shape[-2:]) == size else center_crop(target, size)


def build_sample(kspace: torch.Tensor, target: torch.Tensor, mask_func: MaskFunc, *,
                 seed: tuple[int, ...], padding: tuple[int, int], fname: str, slice_num: int,
                 max_value: float) -> VarNetSample:
    """One slice's sample, the same for the in-memory and the streaming path.

    Args:
        kspace: ``(C, H, W, 2)`` float32 (real/imaginary last).
        target: ``(h, w)`` float32, cropped here by :func:`crop_target`.
        seed: the mask seed (see :meth:`SliceData.mask_seed`); ``padding``: acquired columns.

    Returns:
        ``masked_kspace (C, H, W, 2)``, ``mask (1, 1, W, 1)`` bool, ``num_low_frequencies`` int,
        ``target (h, w)``, ``fname``, ``slice_num``, ``max_value``, ``crop_size (h, w)``.
    """
    masked, mask, num_low = apply_mask(kspace, mask_func, seed=seed, padding=padding)
    target = crop_target(target, tuple(kspace.shape[1:3]))
    return VarNetSample(masked_kspace=masked, mask=mask.to(torch.bool),
                        num_low_frequencies=int(num_low), target=target, fname=fname,
                        slice_num=slice_num, max_value=max_value, crop_size=tuple(target.shape))


@dataclass(frozen=True)
class SliceMeta:
    """Where a slice comes from: ``fname`` (file name), ``slice_num``, ``organ``, ``role``, ``volume``
    (index of the volume in the dataset), ``path``."""

    fname: str
    slice_num: int
    organ: str
    role: str
    volume: int
    path: Path


class SliceIndex(torch.utils.data.Dataset):
    """What both data paths share: an index of (volume, slice), each volume's header
    (:class:`~mriunlearn.fastmri_h5.VolumeInfo`), mask seeds and batching keys. No arrays.

    Args:
        profile: gives the mask parameters.
        train: random replayable masks per (seed, epoch, slice) if True, else file-name seeded.
        seed: run seed for the training masks (default: ``profile.seed``).
    """

    def __init__(self, profile: Profile, *, train: bool, seed: int | None = None) -> None:
        self.profile = profile
        self.train = train
        self.seed = profile.seed if seed is None else int(seed)
        self.epoch = 0
        self.mask_func = make_mask_func(profile)
        self.infos: list[VolumeInfo] = []
        self.max_values: list[float] = []
        self.paddings: list[tuple[int, int]] = []
        self.meta: list[SliceMeta] = []
        self._index: list[tuple[int, int]] = []  # (volume, slice)
        self._starts: list[int] = []  # dataset index of each volume's first slice

    def _add_volume(self, path: Path, info: VolumeInfo, organ: str, role: str) -> None:
        v = len(self.infos)
        self.infos.append(info)
        self.max_values.append(float(info.attrs["max"]))
        self.paddings.append(info.padding)
        self._starts.append(len(self._index))
        for s in range(info.num_slices):
            self.meta.append(SliceMeta(path.name, s, organ, role, v, path))
            self._index.append((v, s))

    @classmethod
    def from_manifest(cls, manifest: Manifest, roles: str | Sequence[str], profile: Profile, *,
                      train: bool, seed: int | None = None, files: Sequence[Path] | None = None):
        """The volumes of ``roles`` (in manifest order), or only ``files`` among them."""
        roles = [roles] if isinstance(roles, str) else list(roles)
        table = manifest.table[manifest.table.role.isin(roles)]
        if files is not None:
            wanted = {str(Path(f)) for f in files}
            table = table[table.path.isin(wanted)]
        return cls(list(table.path), profile, train=train, seed=seed, organs=list(table.organ),
                   roles=list(table.role))

    @property
    def num_volumes(self) -> int:
        return len(self.infos)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose training masks are drawn (no effect on evaluation masks)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._index)

    def shape(self, i: int) -> tuple[int, ...]:
        """k-space shape ``(C, H, W)`` of slice ``i`` (from the header: no k-space is read)."""
        info = self.infos[self._index[i][0]]
        return (info.num_coils, *info.kspace_shape)

    def batch_key(self, i: int) -> tuple[int, ...]:
        """The batching key of slice ``i``: k-space shape ``(C, H, W)`` then target crop size
        ``(h, w)`` (slices batch together only when both agree)."""
        return self.shape(i) + self.infos[self._index[i][0]].crop_size

    def volume_slices(self, v: int) -> list[int]:
        """Dataset indices of volume ``v``'s slices, in slice order."""
        return list(range(self._starts[v], self._starts[v] + self.infos[v].num_slices))

    def mask_seed(self, i: int) -> tuple[int, ...]:
        """The seed of slice ``i``'s mask: (seed, epoch, i) in training, the file name's ords in eval."""
        if self.train:
            return (self.seed, self.epoch, i)
        return tuple(map(ord, self.meta[i].fname))

    def _sample(self, i: int, kspace: torch.Tensor, target: torch.Tensor) -> VarNetSample:
        v, s = self._index[i]
        return build_sample(kspace, target, self.mask_func, seed=self.mask_seed(i),
                            padding=self.paddings[v], fname=self.meta[i].fname, slice_num=s,
                            max_value=self.max_values[v])


class SliceData(SliceIndex):
    """All slices of ``files`` in memory.

    Args:
        files: volume paths.
        profile: gives the mask parameters.
        train: random replayable masks per (seed, epoch, slice) if True, else file-name seeded.
        seed: run seed for the training masks (default: ``profile.seed``).
        organs, roles: per-file metadata (default ``"unknown"``), kept in :attr:`meta`.

    Item ``i`` is a ``VarNetSample`` with ``masked_kspace (C, H, W, 2)``, ``mask (1, 1, W, 1)`` bool,
    ``num_low_frequencies`` int, ``target (h, w)``, ``fname``, ``slice_num``, ``max_value`` (the
    volume's target maximum), ``crop_size (h, w)``. :attr:`targets` hold the cropped targets.
    """

    def __init__(self, files: Sequence[str | Path], profile: Profile, *, train: bool,
                 seed: int | None = None, organs: Sequence[str] | None = None,
                 roles: Sequence[str] | None = None) -> None:
        super().__init__(profile, train=train, seed=seed)
        self.kspace: list[torch.Tensor] = []  # per volume (S, C, H, W, 2) float32
        self.targets: list[torch.Tensor] = []  # per volume (S, h, w) float32
        for v, f in enumerate(files):
            path = Path(f)
            kspace, target, info = load_volume(path)
            self.kspace.append(torch.view_as_real(torch.from_numpy(kspace)).contiguous())
            self.targets.append(crop_target(torch.from_numpy(target), info.kspace_shape))
            self._add_volume(path, info, organs[v] if organs is not None else "unknown",
                             roles[v] if roles is not None else "unknown")

    def __getitem__(self, i: int) -> VarNetSample:
        v, s = self._index[i]
        return self._sample(i, self.kspace[v][s], self.targets[v][s])


def read_slice(path: Path, slice_num: int, hf: h5py.File | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One slice's ``kspace`` complex64 ``(C, H, W)`` and ``target`` float32 ``(h, w)`` from an
    HDF5 file (``hf``, an open handle of ``path``, or opened here and closed again).

    Raises:
        DataError: naming the file and slice: the read fails (truncated or corrupt data) or the
        values hold NaN/Inf.
    """
    try:
        if hf is None:
            with h5py.File(path, "r") as f:
                return read_slice(path, slice_num, f)
        kspace = np.asarray(hf[KSPACE_KEY][slice_num], dtype=np.complex64)
        target = np.asarray(hf[TARGET_KEY][slice_num], dtype=np.float32)
    except (OSError, RuntimeError, KeyError) as exc:
        raise DataError(f"{path}: slice {slice_num}: reading it failed (truncated or corrupt "
                        f"file?): {exc}") from exc
    if not np.isfinite(kspace.view(np.float32)).all():
        raise DataError(f"{path}: slice {slice_num}: kspace holds NaN or Inf values")
    if not np.isfinite(target).all():
        raise DataError(f"{path}: slice {slice_num}: {TARGET_KEY} holds NaN or Inf values")
    return kspace, target


class StreamingSliceData(SliceIndex):
    """The slices of ``files`` read one at a time from HDF5 (same items as :class:`SliceData`).

    Construction reads only each volume's header and dataset shapes
    (:func:`~mriunlearn.fastmri_h5.inspect_volume`: a truncated or malformed file stops here, named,
    before any training); memory then holds the (file, slice) index, not k-space. Items are read
    when asked for: in a DataLoader worker through that worker's own handles (opened lazily, at most
    ``max_open`` per worker, least recently used closed first), in the main process by opening the
    file for the one read (so no handle is ever inherited across ``fork``). A slice that cannot be
    read or holds NaN/Inf raises :class:`~mriunlearn.errors.DataError` naming file and slice.

    Args: as :class:`SliceData`, plus ``max_open`` (handles kept per worker).
    """

    def __init__(self, files: Sequence[str | Path], profile: Profile, *, train: bool,
                 seed: int | None = None, organs: Sequence[str] | None = None,
                 roles: Sequence[str] | None = None, max_open: int = 32) -> None:
        super().__init__(profile, train=train, seed=seed)
        self.max_open = int(max_open)
        self._handles: OrderedDict[Path, h5py.File] = OrderedDict()
        self._handles_pid: int | None = None
        for v, f in enumerate(files):
            path = Path(f)
            self._add_volume(path, inspect_volume(path), organs[v] if organs is not None else "unknown",
                             roles[v] if roles is not None else "unknown")

    def _handle(self, path: Path) -> h5py.File | None:
        """This worker's open handle of ``path`` (``None`` in the main process)."""
        if torch.utils.data.get_worker_info() is None:
            return None
        if self._handles_pid != os.getpid():  # a fresh worker: drop what the parent's copy held
            self._handles = OrderedDict()
            self._handles_pid = os.getpid()
        hf = self._handles.get(path)
        if hf is None:
            try:
                hf = h5py.File(path, "r")
            except OSError as exc:
                raise DataError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {exc}") from exc
            self._handles[path] = hf
            while len(self._handles) > self.max_open:
                self._handles.popitem(last=False)[1].close()
        else:
            self._handles.move_to_end(path)
        return hf

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"] = OrderedDict()  # handles never travel to another process
        state["_handles_pid"] = None
        return state

    def __getitem__(self, i: int) -> VarNetSample:
        v, s = self._index[i]
        path = self.meta[i].path
        kspace, target = read_slice(path, s, self._handle(path))
        return self._sample(i, torch.view_as_real(torch.from_numpy(kspace)),
                            torch.from_numpy(target))


def dataset_class(profile: Profile) -> type[SliceData] | type[StreamingSliceData]:
    """The dataset class of ``profile.data_path``: :class:`StreamingSliceData` for ``"stream"``,
    else :class:`SliceData`."""
    return StreamingSliceData if profile.data_path == "stream" else SliceData


def make_dataset(manifest: Manifest, roles: str | Sequence[str], profile: Profile, *, train: bool,
                 seed: int | None = None, files: Sequence[Path] | None = None) -> SliceIndex:
    """The dataset of ``profile.data_path`` (:class:`SliceData` or :class:`StreamingSliceData`)
    over the volumes of ``roles`` (or ``files`` among them)."""
    return dataset_class(profile).from_manifest(manifest, roles, profile, train=train, seed=seed,
                                                files=files)


def collate(samples: Sequence[VarNetSample]) -> VarNetSample:
    """Batch same-shape samples: ``masked_kspace (B, C, H, W, 2)``, ``mask (B, 1, 1, W, 1)``,
    ``num_low_frequencies`` int (or ``(B,)`` tensor if they differ), ``target (B, h, w)``,
    ``fname`` list, ``slice_num (B,)``, ``max_value (B,)`` float32, ``crop_size (h, w)``."""
    shapes = {tuple(x.masked_kspace.shape) for x in samples}
    if len(shapes) != 1:
        raise ValueError(f"cannot batch slices of different shapes {sorted(shapes)}")
    lows = [x.num_low_frequencies for x in samples]
    num_low = lows[0] if len(set(lows)) == 1 else torch.tensor(lows)
    return VarNetSample(
        masked_kspace=torch.stack([x.masked_kspace for x in samples]),
        mask=torch.stack([x.mask for x in samples]),
        num_low_frequencies=num_low,
        target=torch.stack([x.target for x in samples]),
        fname=[x.fname for x in samples],
        slice_num=torch.tensor([x.slice_num for x in samples]),
        max_value=torch.tensor([x.max_value for x in samples], dtype=torch.float32),
        crop_size=samples[0].crop_size,
    )


class ShapeBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Global batches of same-shape slices, optionally shuffled per epoch, split across ranks.

    Shuffling draws a permutation from ``(seed, epoch)`` (numpy), then slices are grouped by shape
    in that order and cut into batches of ``batch_size``; the batch order is drawn from the same
    generator. Under data parallelism each global batch is split ``batch[rank::world_size]`` so that
    ``world_size`` processes see exactly the batches one process would (same global batch).
    A rank whose share is empty gets ``[]``.
    """

    def __init__(self, dataset: SliceIndex, batch_size: int, *, shuffle: bool, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def global_batches(self) -> list[list[int]]:
        n = len(self.dataset)
        rng = np.random.default_rng([self.seed, self.epoch, 7919])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i in order.tolist():
            groups.setdefault(self.dataset.batch_key(i), []).append(i)
        batches = [idx[k:k + self.batch_size] for idx in groups.values()
                   for k in range(0, len(idx), self.batch_size)]
        if self.shuffle and len(groups) > 1:
            batches = [batches[j] for j in rng.permutation(len(batches)).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.global_batches():
            yield batch[self.rank::self.world_size]

    def __len__(self) -> int:
        return len(self.global_batches())


class VolumeBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Evaluation batches that never mix volumes: the volumes ``rank::world_size`` (in dataset
    order), each cut into batches of up to ``batch_size`` of its slices, in slice order.

    fastMRI's ``VolumeSampler`` idea (a volume is evaluated whole on one rank, so per-volume
    metrics need no cross-rank reduction), without its padding by repeated slices and with batches
    that stay inside one volume (so they share one shape).
    """

    def __init__(self, dataset: SliceIndex, batch_size: int, *, rank: int = 0,
                 world_size: int = 1) -> None:
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.rank = rank
        self.world_size = world_size

    def volumes(self) -> list[int]:
        """The volume indices this rank evaluates."""
        return list(range(self.rank, self.dataset.num_volumes, self.world_size))

    def __iter__(self) -> Iterator[list[int]]:
        for v in self.volumes():
            idx = self.dataset.volume_slices(v)
            for k in range(0, len(idx), self.batch_size):
                yield idx[k:k + self.batch_size]

    def __len__(self) -> int:
        return sum(-(-self.dataset.infos[v].num_slices // self.batch_size) for v in self.volumes())


def make_loader(data: SliceIndex | Sequence[str | Path], profile: Profile, *, train: bool,
                seed: int | None = None, batch_size: int | None = None, rank: int = 0,
                world_size: int = 1) -> torch.utils.data.DataLoader:
    """A DataLoader over ``data`` (a :class:`SliceData` / :class:`StreamingSliceData`, or volume
    paths loaded into a :class:`SliceData`) yielding collated :class:`VarNetSample` batches.

    Training loaders shuffle with ``(seed, epoch)``; call ``loader.batch_sampler.set_epoch(e)``
    and ``data.set_epoch(e)`` (or :func:`set_epoch`) before each epoch. Batch size defaults to
    ``profile.batch_size`` (train) or ``profile.eval_batch_size`` (eval).

    In memory: in-process (no workers), the slices are already loaded. Streaming:
    ``profile.num_workers`` worker processes read the slices, batches are pinned on a CUDA machine,
    and the workers are started afresh each epoch (not persistent) so they see the epoch set on the
    dataset; the loader's base seed comes from its own generator, not from the global torch RNG.
    """
    seed = profile.seed if seed is None else seed
    if not isinstance(data, SliceIndex):
        data = SliceData(list(data), profile, train=train, seed=seed)
    bs = batch_size or (profile.batch_size if train else profile.eval_batch_size)
    sampler = ShapeBatchSampler(data, bs, shuffle=train, seed=seed, rank=rank,
                                world_size=world_size)
    if not isinstance(data, StreamingSliceData):
        return torch.utils.data.DataLoader(data, batch_sampler=sampler, collate_fn=_collate_or_empty,
                                           num_workers=0)
    return stream_loader(data, sampler, profile.num_workers, seed)


def stream_loader(data: StreamingSliceData, batch_sampler: Iterable[list[int]],
                  num_workers: int, seed: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader of the index batches of ``batch_sampler`` (a sampler, or a list re-iterated on
    each pass) reading ``data``'s slices in ``num_workers`` processes: pinned batches on a CUDA
    machine, fresh (non-persistent) workers per iteration so they see the dataset's current epoch,
    a base seed from its own generator (the global torch RNG is not consumed), each worker's heap
    bounded (:func:`mriunlearn.heap.worker_init`)."""
    return torch.utils.data.DataLoader(
        data, batch_sampler=batch_sampler, collate_fn=_collate_or_empty, num_workers=num_workers,
        pin_memory=torch.cuda.is_available(), persistent_workers=False, worker_init_fn=worker_init,
        generator=torch.Generator().manual_seed(int(seed)),
        prefetch_factor=2 if num_workers > 0 else None)


def rank_batches(loader: torch.utils.data.DataLoader) -> Iterator[tuple[list[int], list[int], VarNetSample | None]]:
    """``(global_batch, mine, batch)`` for each global batch of the epoch: ``mine`` are this rank's
    indices, ``batch`` their collated sample (``None`` where this rank has none).

    Without workers the batch is built in-process from ``loader.dataset``; with workers it is the
    loader's own (prefetched) batch. Both are the same slices in the same order.
    """
    sampler = loader.batch_sampler
    data = loader.dataset
    global_batches = sampler.global_batches()  # type: ignore[union-attr]
    split = [g[sampler.rank::sampler.world_size] for g in global_batches]  # type: ignore[union-attr]
    if loader.num_workers == 0:
        for g, mine in zip(global_batches, split, strict=True):
            yield g, mine, (loader.collate_fn([data[i] for i in mine]) if mine else None)
        return
    for g, mine, batch in zip(global_batches, split, loader, strict=True):
        yield g, mine, batch


def _collate_or_empty(samples: Sequence[VarNetSample]) -> VarNetSample | None:
    return collate(samples) if samples else None


def set_epoch(loader: torch.utils.data.DataLoader, epoch: int) -> None:
    """Select ``epoch`` for a loader's shuffling and its dataset's training masks."""
    loader.batch_sampler.set_epoch(epoch)  # type: ignore[union-attr]
    loader.dataset.set_epoch(epoch)  # type: ignore[attr-defined]
