"""Slices held in memory, undersampling masks and batch loaders.

Each volume is read once through :func:`mriunlearn.fastmri_h5.load_volume` and kept in memory as
a float32 tensor ``(S, C, H, W, 2)``; items are fastMRI :class:`~fastmri.data.transforms.VarNetSample`
built with :func:`fastmri.data.transforms.apply_mask` (the same steps as fastMRI's
``VarNetDataTransform``).

Masks (fastMRI ``EquiSpacedMaskFunc``):

- training: a fresh mask per slice and epoch, drawn from the seed ``(run seed, epoch, slice index)``
  so any epoch of a run can be replayed (and resumed) exactly;
- evaluation: seeded by the file name, ``tuple(map(ord, fname))`` (fastMRI's convention), so every
  slice of a volume shares one mask and every model sees the same input.

Batches hold slices of one shape only (real fastMRI shapes vary: those batches then shrink).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from fastmri.data.subsample import EquiSpacedMaskFunc, MaskFunc
from fastmri.data.transforms import VarNetSample, apply_mask

from .fastmri_h5 import load_volume
from .manifest import Manifest
from .profiles import Profile


def make_mask_func(profile: Profile) -> MaskFunc:
    """fastMRI ``EquiSpacedMaskFunc([center_fraction], [acceleration])`` of the profile."""
    return EquiSpacedMaskFunc([profile.center_fraction], [profile.acceleration])


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


class SliceData(torch.utils.data.Dataset):
    """All slices of ``files`` in memory.

    Args:
        files: volume paths.
        profile: gives the mask parameters.
        train: random replayable masks per (seed, epoch, slice) if True, else file-name seeded.
        seed: run seed for the training masks (default: ``profile.seed``).
        organs, roles: per-file metadata (default ``"unknown"``), kept in :attr:`meta`.

    Item ``i`` is a ``VarNetSample`` with ``masked_kspace (C, H, W, 2)``, ``mask (1, 1, W, 1)`` bool,
    ``num_low_frequencies`` int, ``target (h, w)``, ``fname``, ``slice_num``, ``max_value`` (the
    volume's target maximum), ``crop_size (h, w)``.
    """

    def __init__(self, files: Sequence[str | Path], profile: Profile, *, train: bool,
                 seed: int | None = None, organs: Sequence[str] | None = None,
                 roles: Sequence[str] | None = None) -> None:
        self.profile = profile
        self.train = train
        self.seed = profile.seed if seed is None else int(seed)
        self.epoch = 0
        self.mask_func = make_mask_func(profile)
        self.kspace: list[torch.Tensor] = []  # per volume (S, C, H, W, 2) float32
        self.targets: list[torch.Tensor] = []  # per volume (S, h, w) float32
        self.max_values: list[float] = []
        self.paddings: list[tuple[int, int]] = []
        self.meta: list[SliceMeta] = []
        self._index: list[tuple[int, int]] = []  # (volume, slice)
        for v, f in enumerate(files):
            path = Path(f)
            kspace, target, info = load_volume(path)
            self.kspace.append(torch.view_as_real(torch.from_numpy(kspace)).contiguous())
            self.targets.append(torch.from_numpy(target))
            self.max_values.append(float(info.attrs["max"]))
            self.paddings.append(info.padding)
            organ = organs[v] if organs is not None else "unknown"
            role = roles[v] if roles is not None else "unknown"
            for s in range(info.num_slices):
                self.meta.append(SliceMeta(path.name, s, organ, role, v, path))
                self._index.append((v, s))

    @classmethod
    def from_manifest(cls, manifest: Manifest, roles: str | Sequence[str], profile: Profile, *,
                      train: bool, seed: int | None = None,
                      files: Sequence[Path] | None = None) -> SliceData:
        """The volumes of ``roles`` (in manifest order), or only ``files`` among them."""
        roles = [roles] if isinstance(roles, str) else list(roles)
        table = manifest.table[manifest.table.role.isin(roles)]
        if files is not None:
            wanted = {str(Path(f)) for f in files}
            table = table[table.path.isin(wanted)]
        return cls(list(table.path), profile, train=train, seed=seed, organs=list(table.organ),
                   roles=list(table.role))

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose training masks are drawn (no effect on evaluation masks)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._index)

    def shape(self, i: int) -> tuple[int, ...]:
        """k-space shape ``(C, H, W)`` of slice ``i``."""
        v, _ = self._index[i]
        return tuple(self.kspace[v].shape[1:4])

    def batch_key(self, i: int) -> tuple[int, ...]:
        """The batching key of slice ``i``: k-space shape ``(C, H, W)`` then target size ``(h, w)``
        (slices batch together only when both agree)."""
        v, _ = self._index[i]
        return self.shape(i) + tuple(self.targets[v].shape[1:3])

    def mask_seed(self, i: int) -> tuple[int, ...]:
        """The seed of slice ``i``'s mask: (seed, epoch, i) in training, the file name's ords in eval."""
        if self.train:
            return (self.seed, self.epoch, i)
        return tuple(map(ord, self.meta[i].fname))

    def __getitem__(self, i: int) -> VarNetSample:
        v, s = self._index[i]
        kspace = self.kspace[v][s]
        masked, mask, num_low = apply_mask(kspace, self.mask_func, seed=self.mask_seed(i),
                                           padding=self.paddings[v])
        target = self.targets[v][s]
        return VarNetSample(masked_kspace=masked, mask=mask.to(torch.bool),
                            num_low_frequencies=int(num_low), target=target,
                            fname=self.meta[i].fname, slice_num=s, max_value=self.max_values[v],
                            crop_size=tuple(target.shape))


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

    def __init__(self, dataset: SliceData, batch_size: int, *, shuffle: bool, seed: int = 0,
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


def make_loader(data: SliceData | Sequence[str | Path], profile: Profile, *, train: bool,
                seed: int | None = None, batch_size: int | None = None, rank: int = 0,
                world_size: int = 1) -> torch.utils.data.DataLoader:
    """A DataLoader over ``data`` (a :class:`SliceData`, or volume paths loaded into one) yielding
    collated :class:`VarNetSample` batches.

    Training loaders shuffle with ``(seed, epoch)``; call ``loader.batch_sampler.set_epoch(e)``
    and ``data.set_epoch(e)`` (or :func:`set_epoch`) before each epoch. Batch size defaults to
    ``profile.batch_size`` (train) or ``profile.eval_batch_size`` (eval). In-process (no workers):
    the slices are already in memory.
    """
    seed = profile.seed if seed is None else seed
    if not isinstance(data, SliceData):
        data = SliceData(list(data), profile, train=train, seed=seed)
    bs = batch_size or (profile.batch_size if train else profile.eval_batch_size)
    sampler = ShapeBatchSampler(data, bs, shuffle=train, seed=seed, rank=rank,
                                world_size=world_size)
    return torch.utils.data.DataLoader(data, batch_sampler=sampler, collate_fn=_collate_or_empty,
                                       num_workers=0)


def _collate_or_empty(samples: Sequence[VarNetSample]) -> VarNetSample | None:
    return collate(samples) if samples else None


def set_epoch(loader: torch.utils.data.DataLoader, epoch: int) -> None:
    """Select ``epoch`` for a loader's shuffling and its dataset's training masks."""
    loader.batch_sampler.set_epoch(epoch)  # type: ignore[union-attr]
    loader.dataset.set_epoch(epoch)  # type: ignore[attr-defined]
