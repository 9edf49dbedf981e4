"""Split manifests: which volume plays which role.

A manifest is a CSV with one row per volume and the columns

``file, organ, role, num_slices, sha256``

- ``file``: path relative to the data root given when loading (or absolute);
- ``organ``: ``brain`` or ``knee``;
- ``role``: one of :data:`ROLES`;
- ``num_slices``: slices in the volume;
- ``sha256``: SHA-256 of the file's bytes, or empty for manifests of real data whose hash was not
  recorded (hash checking is then skipped for that row).

Loading refuses, with an error naming the file: a volume listed in two roles, a missing file, a file
whose hash differs from the recorded one (unless the data root's :data:`STAND_INS` names it as this
machine's rebuild of the recorded file), test or validation volumes inside a training role
(leakage), two rows with identical recorded hashes (one volume copied under another name; leakage
when the copy crosses training and evaluation roles), unknown roles or organs, and a role asked
for that holds no volume.
"""

from __future__ import annotations

import io
import json
import math
import numbers
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_write_text, sha256_file, sha256_text
from .errors import ManifestError

#: roles in the order they are listed; ``retain`` and ``forget`` are the training roles
ROLES: tuple[str, ...] = ("retain", "forget", "val", "test_brain", "test_knee")
TRAIN_ROLES: tuple[str, ...] = ("retain", "forget")
ORGANS: tuple[str, ...] = ("brain", "knee")
COLUMNS: tuple[str, ...] = ("file", "organ", "role", "num_slices", "sha256")
#: the paper's column names for the evaluation roles
PAPER_COLUMNS: dict[str, str] = {"test_brain": "BTA", "test_knee": "KTA", "forget": "UA"}
#: the roles behind the paper's columns BTA, KTA, UA: what every model is evaluated on
EVAL_ROLES: tuple[str, ...] = tuple(PAPER_COLUMNS)


@dataclass(frozen=True)
class Manifest:
    """A validated split. ``table`` holds one row per volume with :data:`COLUMNS` plus ``path``
    (the absolute path). ``source`` is the CSV it came from (or ``None``)."""

    table: pd.DataFrame
    data_root: Path
    source: Path | None = None

    def files(self, role: str) -> list[Path]:
        """Absolute paths of the volumes of ``role``, in manifest order."""
        if role not in ROLES:
            raise ManifestError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
        return [Path(p) for p in self.table.loc[self.table.role == role, "path"]]

    def num_slices(self, role: str) -> int:
        """Total number of slices of ``role``."""
        if role not in ROLES:
            raise ManifestError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
        return int(self.table.loc[self.table.role == role, "num_slices"].sum())

    def roles(self) -> list[str]:
        """Roles present, in :data:`ROLES` order."""
        present = set(self.table.role)
        return [r for r in ROLES if r in present]

    def content_hash(self) -> str:
        """Hash of the split's content (file names, roles, slice counts, file hashes).

        Independent of where the data root lies, so a cache key survives moving the data.
        """
        cols = ["file", "organ", "role", "num_slices", "sha256"]
        return sha256_text(self.table[cols].to_csv(index=False))

    def subset(self, role: str, fraction: float, seed: int) -> list[Path]:
        """A seeded per-volume random draw of ``fraction`` of the volumes of ``role``.

        At least one volume is drawn; the draw is ``round(fraction * n)`` volumes, returned in
        manifest order. The same (role, fraction, seed) always gives the same volumes.

        Raises:
            ManifestError: ``fraction`` outside (0, 1] or an empty role.
        """
        if (isinstance(fraction, bool) or not isinstance(fraction, numbers.Real)
                or not math.isfinite(float(fraction)) or not 0.0 < float(fraction) <= 1.0):
            raise ManifestError(f"retain fraction must be in (0, 1], got {fraction!r}")
        files = self.files(role)
        if not files:
            raise ManifestError(f"role {role!r} holds no volume in {self.source or 'the manifest'}")
        n = max(1, int(round(float(fraction) * len(files))))
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(len(files), size=n, replace=False))
        return [files[i] for i in chosen]


def file_row(
    path: Path, data_root: Path, organ: str, role: str, num_slices: int, *, hash_file: bool = True,
) -> dict[str, object]:
    """A manifest row for ``path``: hash computed from its bytes, or empty when ``hash_file`` is false
    (large real files; loading then skips the hash check for this row)."""
    rel = os.path.relpath(path, data_root)
    return {"file": rel, "organ": organ, "role": role, "num_slices": int(num_slices),
            "sha256": sha256_file(path) if hash_file else ""}


#: a data root's record of the volumes rebuilt on this machine whose bytes differ from the recorded ones
#: (another CPU's floating point): ``{file: {"recorded": sha256, "local": sha256}}``; loading accepts
#: such a file in place of the recorded one (written by
#: :func:`mriunlearn.simulate.build.ensure_dataset`)
STAND_INS: str = ".stand_in_sha256.json"


def stand_ins(data_root: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """The :data:`STAND_INS` record of ``data_root``; ``{}`` when there is none or it is unreadable."""
    try:
        record = json.loads((Path(data_root) / STAND_INS).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def hash_accepted(record: dict[str, dict[str, str]], file: str, recorded: str, actual: str) -> bool:
    """Whether a file ``file`` hashing to ``actual`` is the one whose manifest hash is ``recorded``:
    the same hash, or ``record`` (:func:`stand_ins`) names it as this machine's rebuild of it."""
    entry = record.get(file)
    return actual == recorded or (isinstance(entry, dict) and entry.get("recorded") == recorded
                                  and entry.get("local") == actual)


def write_manifest(rows: Iterable[dict[str, object]], path: str | os.PathLike[str]) -> Path:
    """Write manifest rows (dicts with :data:`COLUMNS`) to ``path`` atomically; returns the path."""
    table = pd.DataFrame(list(rows), columns=list(COLUMNS))
    _check_table(table, Path(path))
    buf = io.StringIO()
    table.to_csv(buf, index=False, lineterminator="\n")
    atomic_write_text(path, buf.getvalue())
    return Path(path)


def _check_table(table: pd.DataFrame, source: Path | None) -> None:
    where = source or "manifest"
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ManifestError(f"{where}: missing columns {missing}; expected {list(COLUMNS)}")
    bad_roles = sorted(set(table.role) - set(ROLES))
    if bad_roles:
        raise ManifestError(f"{where}: unknown roles {bad_roles}; valid roles: {', '.join(ROLES)}")
    bad_organs = sorted(set(table.organ) - set(ORGANS))
    if bad_organs:
        raise ManifestError(f"{where}: unknown organs {bad_organs}; valid organs: {', '.join(ORGANS)}")
    slices = pd.to_numeric(table.num_slices, errors="coerce")
    bad = table[~(slices.notna() & (slices >= 1) & (slices == slices.round()))]
    if len(bad):
        raise ManifestError(f"{where}: volume {bad.iloc[0].file} has an invalid num_slices "
                            f"{bad.iloc[0].num_slices!r} (expected a positive integer)")
    empty = table[table.file.map(lambda f: not str(f).strip())]
    if len(empty):
        raise ManifestError(f"{where}: row {int(empty.index[0]) + 1} has an empty file name")
    names = table.file.map(lambda f: Path(str(f)).name)
    dup = table[names.duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]
        roles = sorted(set(dup.loc[names[dup.index] == Path(first.file).name, "role"]))
        eval_roles = [r for r in roles if r not in TRAIN_ROLES]
        if eval_roles and any(r in TRAIN_ROLES for r in roles):
            raise ManifestError(f"{where}: leakage: volume {first.file} is in training role(s) "
                                f"{[r for r in roles if r in TRAIN_ROLES]} and in {eval_roles}")
        raise ManifestError(f"{where}: volume {first.file} is listed more than once (roles {roles})")
    hashes = table.sha256.map(lambda h: str(h).strip().lower() if isinstance(h, str) else "")
    same = table[(hashes != "") & hashes.duplicated(keep=False)]
    if len(same):  # one volume copied under another name: leakage when it crosses train/eval roles
        group = same[hashes[same.index] == hashes[same.index[0]]]
        kind = ("leakage: " if len(set(group.role) & set(TRAIN_ROLES)) and len(set(group.role) - set(TRAIN_ROLES))
                else "")
        raise ManifestError(f"{where}: {kind}volumes {list(group.file)} (roles {list(group.role)}) have "
                            f"identical content (sha256 {hashes[group.index[0]][:12]}…)")


def load_manifest(
    path: str | os.PathLike[str], data_root: str | os.PathLike[str], *, verify_hashes: bool = True,
    require_roles: Sequence[str] = (),
) -> Manifest:
    """Load and validate a manifest against the files under ``data_root``.

    Args:
        path: the CSV.
        data_root: folder the ``file`` column is relative to.
        verify_hashes: recompute each file's SHA-256 and compare with the recorded one (or the
            data root's :data:`STAND_INS` rebuild of it).
        require_roles: roles that must hold at least one volume.

    Raises:
        ManifestError: naming the manifest and the offending file or role.
    """
    source = Path(path)
    if not source.exists():
        raise ManifestError(f"manifest {source} not found")
    try:
        table = pd.read_csv(source, dtype={"file": str, "organ": str, "role": str, "sha256": str},
                            keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ManifestError(f"manifest {source} is not a readable CSV: {exc}") from exc
    _check_table(table, source)
    root = Path(data_root)
    table = table.copy()
    table["path"] = [str(p if Path(p).is_absolute() else (root / p)) for p in table.file]
    rebuilt = stand_ins(root) if verify_hashes else {}
    for row in table.itertuples():
        p = Path(row.path)
        if not p.is_file():
            raise ManifestError(f"{source}: file {row.file} (role {row.role}) not found at {p}")
        if verify_hashes and row.sha256:
            actual = sha256_file(p)
            if not hash_accepted(rebuilt, row.file, row.sha256, actual):
                raise ManifestError(f"{source}: file {row.file} has changed: sha256 {actual[:12]}… "
                                    f"differs from the recorded {row.sha256[:12]}…")
    for role in require_roles:
        if role not in ROLES:
            raise ManifestError(f"unknown role {role!r}; valid roles: {', '.join(ROLES)}")
        if not (table.role == role).any():
            raise ManifestError(f"{source}: role {role!r} holds no volume")
    return Manifest(table.reset_index(drop=True), root, source)
