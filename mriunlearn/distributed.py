"""Data parallelism: the same training and unlearning entry points under ``torchrun --nproc_per_node N``.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`init` then joins the
process group (NCCL on ``cuda:LOCAL_RANK`` when CUDA is available, else gloo on the CPU).
Every global batch is the one a single process would see, split ``batch[rank::world]`` across
ranks (see :class:`mriunlearn.dataset.ShapeBatchSampler`), gradients are averaged by
``DistributedDataParallel`` (training) or by :meth:`mriunlearn.unlearning.base.Method.average_grads`
(unlearning, see :mod:`mriunlearn.unlearning.base`); rank 0 alone writes checkpoints, logs and cache
entries.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place: ``rank`` of ``world_size``, ``local_rank``, ``device``."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def single(cls) -> DistInfo:
        """A plain single process on the CPU: rank 0 of 1 (what a caller that passes no ``dist`` means).

        >>> DistInfo.single()
        DistInfo(rank=0, world_size=1, local_rank=0, device=device(type='cpu'))
        """
        return cls(0, 1, 0, torch.device("cpu"))


def default_device(local_rank: int = 0) -> torch.device:
    """``cuda:local_rank`` when CUDA is available, else the CPU."""
    return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")


def init() -> DistInfo:
    """Read the ``torchrun`` environment and join the process group if ``WORLD_SIZE > 1``.

    Idempotent; a plain single process gets rank 0 of 1 and no process group.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = default_device(local)
    if world > 1 and not torch_dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank,
                                      world_size=world)
    return DistInfo(rank, world, local, device)


def all_reduce_sum(t: torch.Tensor, dist: DistInfo) -> torch.Tensor:
    """Sum ``t`` over ranks in place (no-op for one process); returns ``t``."""
    if dist.distributed:
        torch_dist.all_reduce(t, op=torch_dist.ReduceOp.SUM)
    return t


def barrier(dist: DistInfo) -> None:
    if dist.distributed:
        torch_dist.barrier()


def broadcast_object(obj, dist: DistInfo):
    """Rank 0's ``obj`` on every rank."""
    if not dist.distributed:
        return obj
    box = [obj]
    torch_dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(obj, dist: DistInfo) -> list:
    """Every rank's ``obj``, in rank order, on every rank (``[obj]`` for one process)."""
    if not dist.distributed:
        return [obj]
    out: list = [None] * dist.world_size
    torch_dist.all_gather_object(out, obj)
    return out


def wrap(model: torch.nn.Module, dist: DistInfo) -> torch.nn.Module:
    """``DistributedDataParallel(model)`` when running distributed, else ``model``."""
    if not dist.distributed:
        return model
    ids = [dist.device.index] if dist.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def cleanup() -> None:
    """Leave the process group (if one was joined)."""
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()
