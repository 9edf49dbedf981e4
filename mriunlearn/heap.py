"""Process heap settings for the streaming data path (glibc only; a no-op elsewhere).

glibc serves a large ``malloc`` (at first: 128 KiB and more) with ``mmap`` and gives it back to the
system on ``free``, but after freeing such a block it raises that threshold to the block's size
(up to 32 MiB). From then on blocks of a real k-space slice (16 coils x 640 x 320 complex64 =
26 MiB), its sample tensors and the reconstructions of a volume come from the heap, whose freed
pages stay in the process: a streamed evaluation's memory would grow with every volume although
no reference outlives its volume.

The remedy, :func:`bound_heap`, pins the threshold at glibc's starting value, so freed large blocks
go back to the system. It is applied where a process mostly moves whole slices:

- in each DataLoader worker of the streaming loaders (:func:`worker_init`): a worker only reads and
  collates slices;
- in the main process while a streamed evaluation runs (:func:`bounded_heap`). Not for the whole
  process: there every large tensor of a CPU training step would be a fresh ``mmap`` with page
  faults, so on leaving the evaluation the threshold goes to glibc's ceiling, 32 MiB, where its own
  adjustment would have put it after the first freed slice.

Memory and time with and without it: ``python -m benchmarks scale``, reported in
``docs/performance.md`` ("Memory at the paper's data size").
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
from collections.abc import Iterator

#: ``mallopt`` parameter number of ``M_MMAP_THRESHOLD`` in glibc's ``<malloc.h>``
M_MMAP_THRESHOLD = -3
#: glibc's initial ``M_MMAP_THRESHOLD`` (``DEFAULT_MMAP_THRESHOLD_MIN``), kept fixed
MMAP_THRESHOLD = 128 * 1024
#: glibc's ceiling for its own threshold adjustment (``DEFAULT_MMAP_THRESHOLD_MAX`` on 64-bit): the
#: value it reaches once a slice-sized block has been freed, set when a :func:`bounded_heap` ends
STEADY_THRESHOLD = 32 * 1024 * 1024


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    # glibc has both; musl and macOS lack them
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def bound_heap(threshold: int = MMAP_THRESHOLD) -> bool:
    """Serve every allocation of ``threshold`` bytes or more with ``mmap`` in this process (and in
    processes it forks later), so freed large blocks go back to the system instead of staying in
    the heap. Returns whether it took effect (``False`` without glibc).

    Changes memory placement only, never a computed value.
    """
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, int(threshold)) == 1)


@contextlib.contextmanager
def bounded_heap() -> Iterator[bool]:
    """:func:`bound_heap` for the ``with`` block (yields whether it took effect); afterwards the
    threshold is :data:`STEADY_THRESHOLD` and the heap's free pages are returned
    (``malloc_trim``)."""
    applied = bound_heap()
    try:
        yield applied
    finally:
        if applied:
            bound_heap(STEADY_THRESHOLD)
            _libc().malloc_trim(0)


def worker_init(worker_id: int) -> None:
    """``worker_init_fn`` of the streaming loaders: :func:`bound_heap` in each DataLoader worker."""
    bound_heap()
