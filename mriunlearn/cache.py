"""Run cache: trained and unlearned models stored under a key hashed from their full config.

Layout: ``<root>/<kind>/<key>/`` with

- ``config.json``: kind, key, config, manifest hash, seed (written when the entry is created);
- ``checkpoint.pt``: the last completed epoch (model + optimiser + scheduler), for resuming;
- ``model.pt``: the final weights (state dict);
- ``*.csv`` / ``*.json``: per-epoch history, per-volume metrics, summaries;
- ``DONE``: written last; only an entry with ``DONE`` counts as finished;
- ``LOCK``: present while a job computes the entry (:mod:`mriunlearn.lock`).

A half-written entry (no ``DONE``) is never taken for a finished one; training resumes from its
checkpoint. A job computes an unfinished entry only while holding its lock (:meth:`RunCache.claim`),
so two jobs asking for the same run never write it at once: the second waits (``lock_wait``
seconds, then loads the finished entry) or stops naming the holder; a finished entry is read
without a lock. The key is ``sha256(kind, config, manifest hash, seed, NUMERICS_VERSION)``.

Training (:func:`mriunlearn.train.train`) and the unlearning runner
(:func:`mriunlearn.unlearning.runner.run_unlearning`) store their runs through one protocol,
:meth:`RunCache.run`: finished? (rank 0 decides) -> load; else claim the lock -> finished by the job
waited for, or shipped as a published base model (:mod:`mriunlearn.base_models`)? -> load; else
compute, mark done.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import torch

from . import base_models, distributed, paths
from .atomic import atomic_path, atomic_write_text, sha256_text
from .checkpoint import canonical_config
from .errors import CheckpointError, ConfigError, EntryLockedError, MriUnlearnError
from .lock import EntryLock, check_wait, lock_wait_from_env

T = TypeVar("T")

DONE = "DONE"
LOCK = "LOCK"
#: Version of the engine's numerics, part of every key: bump it in any change that alters what a run
#: computes for the same config (model forward, loss, masks, data path, optimiser), so an existing
#: ``runs/`` folder retrains instead of silently serving models made by the old code.
#: 2: complex-arithmetic VarNet forward (``mriunlearn.varnet``).
NUMERICS_VERSION = 2


@dataclass(frozen=True)
class CacheEntry:
    """One run's folder. ``config`` is the dict the key was hashed from."""

    root: Path
    kind: str
    key: str
    config: dict[str, Any]
    manifest_hash: str
    seed: int

    @property
    def path(self) -> Path:
        return self.root / self.kind / self.key

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def model_path(self) -> Path:
        return self.path / "model.pt"

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK

    def identity(self) -> dict[str, Any]:
        """What the key hashes (also what checkpoints of this entry must have been written for)."""
        return {"kind": self.kind, "config": self.config, "manifest_hash": self.manifest_hash,
                "seed": self.seed, "numerics": NUMERICS_VERSION}

    def is_done(self) -> bool:
        return (self.path / DONE).exists()

    def create(self) -> CacheEntry:
        """Make the folder and write ``config.json`` (idempotent)."""
        self.path.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            record = {"key": self.key, **self.identity()}
            atomic_write_text(self.config_path, json.dumps(record, sort_keys=True, indent=2, default=str))
        return self

    def mark_done(self) -> None:
        """Write the ``DONE`` marker (last step of a run), then delete temporary files that a write
        killed part-way left behind (``.<name>.*.tmp``, see :func:`mriunlearn.atomic.atomic_path`;
        never read, only their space is reclaimed)."""
        atomic_write_text(self.path / DONE, "done\n")
        for stale in self.path.glob(".*.tmp"):
            stale.unlink(missing_ok=True)

    def reset(self) -> None:
        """Forget a finished state (remove ``DONE``) so the run is redone; other files stay."""
        (self.path / DONE).unlink(missing_ok=True)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_csv(self, name: str, table: pd.DataFrame) -> Path:
        buf = io.StringIO()
        table.to_csv(buf, index=False, lineterminator="\n")
        atomic_write_text(self.file(name), buf.getvalue())
        return self.file(name)

    def read_csv(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.file(name))

    def write_json(self, name: str, data: Any) -> Path:
        atomic_write_text(self.file(name), json.dumps(data, sort_keys=True, indent=2, default=str))
        return self.file(name)

    def read_json(self, name: str) -> Any:
        return json.loads(self.file(name).read_text())

    def save_model(self, model: torch.nn.Module) -> Path:
        """Save the final weights (state dict, unwrapping DDP) atomically to ``model.pt``."""
        model = getattr(model, "module", model)
        with atomic_path(self.model_path) as tmp:
            torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
        return self.model_path

    def load_state_dict(self, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """The final weights (``weights_only=True``).

        Raises:
            CheckpointError: missing or corrupt ``model.pt`` (names the file).
        """
        if not self.model_path.exists():
            raise CheckpointError(f"model {self.model_path} not found (unfinished run?)")
        try:
            return torch.load(self.model_path, map_location=map_location, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many types for damaged files
            raise CheckpointError(f"model file {self.model_path} is corrupt or unreadable: {exc}") from exc


class RunCache:
    """The run cache rooted at ``root`` (default :func:`mriunlearn.paths.runs_dir`, i.e.
    ``$MRIUNLEARN_RUNS`` or ``<repo>/runs``).

    ``lock_wait``: seconds a job waits for another job computing the same entry before stopping
    with :class:`~mriunlearn.errors.EntryLockedError` (``None``: ``$MRIUNLEARN_LOCK_WAIT`` or 0;
    ``math.inf``: no bound).

    Raises:
        ConfigError: ``root`` exists but is not a folder; ``lock_wait`` is not a number >= 0.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *,
                 lock_wait: float | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else paths.runs_dir()
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"run cache folder {self.root} exists and is not a folder")
        self.lock_wait = lock_wait_from_env() if lock_wait is None else check_wait(lock_wait, "lock_wait")

    def __repr__(self) -> str:
        return f"RunCache({str(self.root)!r})"

    @staticmethod
    def key(kind: str, config: dict[str, Any], manifest_hash: str, seed: int) -> str:
        """24 hex digits of ``sha256`` over the canonical JSON of (kind, config, manifest, seed,
        :data:`NUMERICS_VERSION`)."""
        ident = {"kind": kind, "config": config, "manifest_hash": manifest_hash, "seed": int(seed),
                 "numerics": NUMERICS_VERSION}
        return sha256_text(canonical_config(ident))[:24]

    def entry(self, kind: str, config: dict[str, Any], manifest_hash: str, seed: int) -> CacheEntry:
        """The entry for this run (not created on disk until :meth:`CacheEntry.create`)."""
        if not kind or "/" in kind or kind.startswith("."):
            raise ValueError(f"invalid cache kind {kind!r}")
        config = json.loads(canonical_config(config))  # plain JSON types, as stored
        return CacheEntry(self.root, kind, self.key(kind, config, manifest_hash, seed), config,
                          manifest_hash, int(seed))

    def lock(self, entry: CacheEntry) -> EntryLock:
        """The (not yet acquired) lock of ``entry``, waiting up to :attr:`lock_wait` seconds."""
        return EntryLock(entry.lock_path, entry=entry.path, wait=self.lock_wait)

    @contextlib.contextmanager
    def claim(self, entry: CacheEntry, dist: distributed.DistInfo | None = None) -> Iterator[bool]:
        """Hold ``entry``'s lock while the caller computes it; yields whether the entry is finished.

        Rank 0 (the only writer under DDP, see :mod:`mriunlearn.distributed`) takes the lock,
        waiting up to :attr:`lock_wait` seconds, and creates the entry (``config.json``); if the
        store of published base models ships the entry's key (:func:`mriunlearn.base_models.restore`),
        it copies it in and marks it done. Other ranks take no lock. Every rank then learns from
        rank 0 whether the entry was finished meanwhile (by the job it waited for, or from the store:
        yields ``True``, the caller loads it) and whether the lock was
        refused, so a refusal raises on every rank instead of leaving the others in a collective.
        The lock is released when the block ends, normally or by an exception.

        Raises:
            EntryLockedError: another job holds the lock (names it), on every rank.
        """
        dist = dist or distributed.DistInfo.single()
        lock: EntryLock | None = None
        failure: BaseException | None = None
        done = False
        if dist.is_main:
            try:
                lock = self.lock(entry).acquire()
                done = entry.is_done()
                if not done:
                    entry.create()
                    done = base_models.restore(entry.kind, entry.key, entry.identity(), entry.path)
                    if done:
                        entry.mark_done()
            except Exception as exc:  # noqa: BLE001 - reported to every rank below, then re-raised
                failure = exc
                if lock is not None:
                    lock.release()
        outcome = distributed.broadcast_object(
            (done, None if failure is None else f"{type(failure).__name__}: {failure}"), dist)
        if failure is not None:
            raise failure
        done, message = outcome
        if message is not None:
            error = EntryLockedError if message.startswith(EntryLockedError.__name__) else MriUnlearnError
            raise error(f"rank 0 could not claim the run cache entry {entry.path}: {message}")
        try:
            yield bool(done)
        finally:
            if lock is not None:
                lock.release()

    def run(self, entry: CacheEntry, compute: Callable[[CacheEntry], T], load: Callable[[CacheEntry], T],
            dist: distributed.DistInfo | None = None) -> tuple[T, bool]:
        """The run-cache protocol: ``(load(entry), True)`` for a finished entry, else
        ``(compute(entry), False)`` computed under the entry's lock. DDP-aware: call it on every rank.

        1. Finished? Rank 0's ``entry.is_done()`` is broadcast, so every rank takes one path; a
           finished entry is loaded without a lock (another job may hold it).
        2. Else :meth:`claim`: rank 0 takes the lock (waiting up to :attr:`lock_wait` seconds) and
           creates the entry; if the job it waited for finished the entry, or the store of
           published base models shipped it, every rank loads it.
        3. Else every rank calls ``compute(entry)``, which must write the entry's files from rank 0
           only (everything but ``DONE``); then rank 0 marks the entry done, all ranks meet at a
           barrier (on return the entry is finished for every rank) and the lock is released.

        If ``compute`` raises (an interruption included), ``DONE`` is not written and the lock is
        released: the next call computes the entry again from what ``compute`` left there (a
        checkpoint to resume from, say).

        Raises:
            EntryLockedError: another job holds the lock (:meth:`claim`), on every rank.
        """
        dist = dist or distributed.DistInfo.single()
        if distributed.broadcast_object(entry.is_done(), dist):
            return load(entry), True
        with self.claim(entry, dist) as finished:
            if finished:
                return load(entry), True
            result = compute(entry)
            if dist.is_main:
                entry.mark_done()
            distributed.barrier(dist)
        return result, False

    def entries(self, kind: str) -> list[CacheEntry]:
        """Finished entries of ``kind`` (read from their ``config.json``)."""
        out = []
        for folder in sorted((self.root / kind).glob("*/")):
            if (folder / DONE).exists() and (folder / "config.json").exists():
                rec = json.loads((folder / "config.json").read_text())
                out.append(CacheEntry(self.root, kind, rec["key"], rec["config"],
                                      rec["manifest_hash"], rec["seed"]))
        return out
