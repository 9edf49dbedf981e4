"""Published base models: finished training runs shipped with the repository, pinned by their hashes.

The store (:func:`mriunlearn.paths.base_models_dir`: ``<repo>/models``, moved by
``$MRIUNLEARN_BASE_MODELS``, turned off by ``MRIUNLEARN_BASE_MODELS=off``) holds run-cache entries
of the kinds in :data:`SHIPPED_KINDS` in the run cache's own layout, ``<kind>/<key>/`` (the final
checkpoint included: unlearning resumes G's Adam state from it), and ``SHA256SUMS`` (``sha256sum``
format) pinning every file. A folder's name is its run-cache key, which hashes the code's numerics
version, the profile's config, the manifest's content hash and the seed
(:meth:`mriunlearn.cache.RunCache.key`), so a shipped run serves exactly the run that would
otherwise be trained, and any change to code numerics, profile, data or seed misses the store and
trains.

:func:`restore` is called by the run cache (:meth:`mriunlearn.cache.RunCache.claim`) for an
unfinished entry while it holds the entry's lock: it verifies the shipped files against
``SHA256SUMS``, copies them in (each atomically), records where they came from
(:data:`RESTORED_JSON`), and the cache marks the entry done. A file whose hash or identity does not
match stops with an error naming it, before anything is copied. :func:`export` writes finished runs
of a run cache into a store (``python -m mriunlearn ship``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from . import paths
from .atomic import atomic_write_bytes, atomic_write_text, sha256_bytes, sha256_file
from .errors import CheckpointError, ConfigError

#: run-cache kinds a store may hold (trained base models; unlearning runs are always computed)
SHIPPED_KINDS: tuple[str, ...] = ("train",)
#: the file of a store that pins every other file's SHA-256
SUMS = "SHA256SUMS"
#: files of a run-cache entry that are never shipped (markers; temporaries start with a dot)
_NOT_SHIPPED: frozenset[str] = frozenset({"DONE", "LOCK"})
#: written into a restored entry: the store and the pinned hashes it was restored from
RESTORED_JSON = "restored_from.json"
#: the most a store may hold, MB (it lives in the git repository)
MAX_STORE_MB = 20.0


def read_sums(store: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of ``store / SHA256SUMS`` (empty when the store has none).

    Raises:
        CheckpointError: a line that is not ``<64 hex digits>  <path>`` (names the line).
    """
    sums_path = store / SUMS
    if not sums_path.exists():
        return {}
    out = {}
    for number, line in enumerate(sums_path.read_text().splitlines(), start=1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or not rel:
            raise CheckpointError(f"{sums_path}, line {number}: expected '<sha256>  <path>', got {line!r}")
        out[rel] = digest
    return out


def _shipped_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name not in _NOT_SHIPPED
                  and not p.name.startswith("."))


def _verified_files(store: Path, kind: str, key: str, identity: dict[str, Any]
                    ) -> tuple[dict[str, bytes], dict[str, str]]:
    """The shipped files of run ``kind/key`` by name and their pinned hashes, each file checked
    against ``SHA256SUMS``, and the shipped ``config.json`` checked against ``identity``."""
    folder = store / kind / key
    prefix = f"{kind}/{key}/"
    pinned = {rel[len(prefix):]: digest for rel, digest in read_sums(store).items() if rel.startswith(prefix)}
    present = {p.name: p.read_bytes() for p in _shipped_files(folder)}
    for name in sorted(set(pinned) | set(present)):
        where = folder / name
        if name not in present:
            raise CheckpointError(f"shipped base model file {where} is pinned in {store / SUMS} but missing")
        if name not in pinned:
            raise CheckpointError(f"shipped base model file {where} is not pinned in {store / SUMS}")
        if sha256_bytes(present[name]) != pinned[name]:
            raise CheckpointError(f"shipped base model file {where} does not match its SHA-256 in {store / SUMS}; "
                                  "restore it (git checkout), or train instead with MRIUNLEARN_BASE_MODELS=off")
    record = json.loads(present.get("config.json", b"{}"))
    expected = json.loads(json.dumps(identity, default=str))
    if {k: record.get(k) for k in expected} != expected:
        raise CheckpointError(f"shipped base model {folder}: its config.json does not describe the run of key "
                              f"{key} (kind, config, manifest hash, seed and numerics must all match)")
    return present, pinned


def restore(kind: str, key: str, identity: dict[str, Any], dest: Path, store: Path | None = None) -> bool:
    """Copy the shipped run ``kind/key`` into the run-cache folder ``dest``; ``True`` if the store has it.

    ``identity``: what the key hashes (:meth:`mriunlearn.cache.CacheEntry.identity`), checked against
    the shipped ``config.json``. ``store``: default :func:`mriunlearn.paths.base_models_dir`
    (``None`` there: off). The caller holds the entry's lock and marks it done after a ``True``.

    Raises:
        CheckpointError: a shipped file is missing, unpinned, or differs from its pinned hash, or the
            shipped ``config.json`` is another run's (nothing is copied then).
    """
    store = paths.base_models_dir() if store is None else store
    if store is None or kind not in SHIPPED_KINDS or not (store / kind / key).is_dir():
        return False
    files, pinned = _verified_files(store, kind, key, identity)
    for name, data in files.items():
        if name != "config.json":
            atomic_write_bytes(dest / name, data)
    provenance = {"store": paths.portable(store), "sha256": pinned}
    atomic_write_text(dest / RESTORED_JSON, json.dumps(provenance, sort_keys=True, indent=2))
    return True


def export(entries: Iterable[Path], store: Path, names: Collection[str]) -> list[Path]:
    """Copy the files ``names`` of finished run-cache entry folders (``<runs>/<kind>/<key>``, kind in
    :data:`SHIPPED_KINDS`) into ``store`` and rewrite its ``SHA256SUMS``; returns the store folders
    written. ``names``: what a finished run consists of (:data:`mriunlearn.train.RUN_FILES`), so
    analyses cached in the entry later are recomputed where the model is used, never shipped.

    Raises:
        ConfigError: an entry of another kind, not finished or missing one of ``names``, or a store
            that would exceed :data:`MAX_STORE_MB` (nothing is written then).
    """
    entries = [Path(e) for e in entries]
    for e in entries:
        if e.parent.name not in SHIPPED_KINDS or not (e / "DONE").exists():
            raise ConfigError(f"{e} is not a finished run of a kind that ships ({', '.join(SHIPPED_KINDS)})")
        missing = sorted(n for n in names if not (e / n).is_file())
        if missing:
            raise ConfigError(f"{e} lacks {', '.join(missing)}: not a complete run to ship")
    sources = {e: [e / n for n in sorted(names)] for e in entries}
    replaced = {store / e.parent.name / e.name for e in entries}
    kept = [p for kind in SHIPPED_KINDS for folder in sorted((store / kind).glob("*/")) if folder not in replaced
            for p in _shipped_files(folder)]
    new_mb = sum(p.stat().st_size for files in sources.values() for p in files) / 2**20
    kept_mb = sum(p.stat().st_size for p in kept) / 2**20
    if new_mb + kept_mb > MAX_STORE_MB:
        raise ConfigError(f"shipping {len(entries)} runs ({new_mb:.1f} MB) beside the {kept_mb:.1f} MB of other runs "
                          f"in {store} would exceed {MAX_STORE_MB:g} MB; remove the runs no longer needed first")
    written = []
    for e, files in sources.items():
        folder = store / e.parent.name / e.name
        for p in files:
            atomic_write_bytes(folder / p.name, p.read_bytes())
        written.append(folder)
    write_sums(store)
    return written


def write_sums(store: Path) -> Path:
    """Rewrite ``store / SHA256SUMS`` over every shipped file under the kinds' folders."""
    lines = [f"{sha256_file(p)}  {p.relative_to(store).as_posix()}"
             for kind in SHIPPED_KINDS for p in sorted((store / kind).glob("*/*")) if p.is_file()]
    atomic_write_text(store / SUMS, "".join(line + "\n" for line in lines))
    return store / SUMS
