"""Real fastMRI splits: the authors' published split, or a fresh seeded split of the same shape.

Two ways to get a split manifest (see :mod:`mriunlearn.manifest`) for real fastMRI data:

- :func:`import_paper_tree` reads the authors' ``tree`` listing (``paths.PAPER_SPLIT_TREE``), maps
  their folders to this project's roles (:data:`ROLE_FOLDERS`) and their retain-fraction folders to
  named subsets (:data:`PAPER_SUBSETS`), finds every listed ``.h5`` name in the user's fastMRI
  folders (searched recursively) and writes ``paper.csv`` + ``paper_subsets.csv``.
- :func:`draw_split` draws a new split of the same shape from any fastMRI folders with a seed and
  writes ``<name>.csv`` + ``<name>_subsets.csv``.

A *subsets* CSV has the columns ``subset, fraction, file``: one row per (subset, retain volume);
``file`` is written exactly as in the manifest's ``file`` column. :func:`load_subsets` turns it into
``{subset name: [absolute paths of retain volumes]}`` and refuses a file that is not a retain volume of
the manifest. Subset names are ``"<pct>pct"`` (``"1pct"``, ``"10pct"``, ...); the authors' three extra
10% draws are ``"10pct_v1"`` .. ``"10pct_v3"``.

Facts about the authors' listing (checked on the real copy; see ``tests/test_splits.py``): 38 folders,
12,739 ``.h5`` entries, 7,019 distinct names; the five role folders are pairwise disjoint; every
fraction folder lies inside ``brain_retain``; the fraction folders are *not* nested; one volume of
``brain_test_set`` (``file_brain_AXT2_202_2020117.h5``) comes from fastMRI brain *train* (the authors'
``multicoil_T2_train``); it is in no training role, so there is no leakage, and the import keeps it in
``test_brain`` and records it in :attr:`ImportReport.notes`.
"""

from __future__ import annotations

import io
import numbers
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_write_text
from .errors import ConfigError, DataError, ManifestError
from .fastmri_h5 import inspect_volume
from .manifest import ROLES, TRAIN_ROLES, Manifest, file_row, load_manifest, write_manifest

#: the authors' folder (path in their tree, relative to its root) that holds each role
ROLE_FOLDERS: dict[str, str] = {
    "retain": "brain_multicoil/brain_retain",
    "forget": "knee_multicoil/knee_forget_set",
    "val": "brain_multicoil/multicoil_val",
    "test_brain": "brain_multicoil/brain_test_set",
    "test_knee": "knee_multicoil/knee_test_set",
}
#: the organ of each role in the paper's protocol (retain = brain, forget = knee)
ROLE_ORGANS: dict[str, str] = {
    "retain": "brain", "forget": "knee", "val": "brain", "test_brain": "brain", "test_knee": "knee",
}
#: subset name -> (the authors' folder, nominal fraction of the 1,000 retain volumes)
PAPER_SUBSETS: dict[str, tuple[str, float]] = {
    "1pct": ("brain_multicoil/brain_retain_1_v1", 0.01),
    "5pct": ("brain_multicoil/brain_retain_5_v1", 0.05),
    "10pct": ("brain_multicoil/brain_0.1_retain", 0.10),
    "20pct": ("brain_multicoil/brain_retain_20_v1", 0.20),
    "50pct": ("brain_multicoil/brain_retain_50_v1", 0.50),
    "10pct_v1": ("brain_multicoil/brain_retain_v1", 0.10),
    "10pct_v2": ("brain_multicoil/brain_retain_v2", 0.10),
    "10pct_v3": ("brain_multicoil/brain_retain_v3", 0.10),
}
SUBSET_COLUMNS: tuple[str, ...] = ("subset", "fraction", "file")
#: the root folder's key in :func:`parse_tree`'s result
TREE_ROOT = "."

_BRAIN_AXT2 = re.compile(r"^file_brain_AXT2_.*\.h5$")
_BRAIN = re.compile(r"^file_brain_.*\.h5$")
_KNEE = re.compile(r"^file\d+\.h5$")
# one indentation level of `tree` output: "│   " / "|   " / four blanks (tree may print NBSPs)
_INDENT = r"(?:[│|][ \u00a0]{3}|[ \u00a0]{4})"
_ENTRY = re.compile(rf"^(?P<indent>(?:{_INDENT})*)(?:[├└]── |[|`]-- )(?P<name>.+)$")
_SUMMARY = re.compile(r"^(\d+) director(?:y|ies)(?:, (\d+) files?)?$")


# ----------------------------------------------------------------------------------------------
# parsing the authors' listing
# ----------------------------------------------------------------------------------------------

def parse_tree(text: str, *, source: str = "<tree text>") -> dict[str, list[str]]:
    """Parse the output of ``tree`` into ``{folder path: [file names]}``.

    Folder paths are relative to the listing's root, joined with ``/`` (``"brain_multicoil/brain_retain"``);
    the root itself is :data:`TREE_ROOT` (``"."``) and is always present. An entry is a folder when
    deeper entries follow it (or when ``tree -F`` marked it with a trailing ``/``); every other entry is
    a file. Files keep the listing's order. Both the Unicode (``├──``, ``└──``, ``│``) and the ASCII
    (``|--``, ```--``) drawing styles are read. When the listing ends with ``tree``'s summary line
    (``"38 directories, 12741 files"``), the counts are checked against it.

    Raises:
        DataError: naming ``source`` and the line number, for a line that is not a tree entry, an
            entry nested more than one level below its parent, or counts that disagree with the summary.
    """
    entries: list[tuple[int, str, int]] = []  # (depth, name, line number)
    summary: tuple[int, int | None] | None = None
    seen_root = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        match = _ENTRY.match(line)
        if match:
            depth = len(match.group("indent")) // 4 + 1
            entries.append((depth, match.group("name"), lineno))
            continue
        found = _SUMMARY.match(line.strip())
        if found:
            summary = (int(found.group(1)), int(found.group(2)) if found.group(2) else None)
            continue
        if not seen_root and not entries:
            seen_root = True  # the first line names the listed folder (".", "./", "/data", ...)
            continue
        raise DataError(f"{source}: line {lineno} is not a `tree` entry: {line!r}")

    folders: dict[str, list[str]] = {TREE_ROOT: []}
    stack: list[str] = []  # folder names from the root to the current parent
    n_files = 0
    for i, (depth, name, lineno) in enumerate(entries):
        if depth > len(stack) + 1:
            raise DataError(f"{source}: line {lineno} ({name!r}) is nested deeper than its parent")
        del stack[depth - 1:]
        next_depth = entries[i + 1][0] if i + 1 < len(entries) else 0
        is_folder = next_depth > depth or name.endswith("/")
        clean = name.split(" -> ")[0].rstrip("/")  # `tree` shows symlinks as "name -> target"
        if is_folder:
            stack.append(clean)
            folders["/".join(stack)] = []
        else:
            folders["/".join(stack) if stack else TREE_ROOT].append(clean)
            n_files += 1
    if summary is not None:
        n_dirs = len(folders) - 1
        if n_dirs != summary[0] or (summary[1] is not None and n_files != summary[1]):
            raise DataError(f"{source}: parsed {n_dirs} folders and {n_files} files, but the listing's "
                            f"summary says {summary[0]} and {summary[1]} (truncated or edited copy?)")
    return folders


def read_tree(tree_path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """:func:`parse_tree` of a file (UTF-8). Raises DataError naming the file if it is unreadable."""
    path = Path(tree_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the split listing: {exc}") from exc
    return parse_tree(text, source=str(path))


# ----------------------------------------------------------------------------------------------
# finding volumes in the user's fastMRI folders
# ----------------------------------------------------------------------------------------------

def organ_of(name: str) -> str | None:
    """``"brain"`` for ``file_brain_*.h5``, ``"knee"`` for ``file<digits>.h5``, else ``None``."""
    if _BRAIN.match(name):
        return "brain"
    if _KNEE.match(name):
        return "knee"
    return None


def folder_split(path: Path) -> str | None:
    """``"train"``, ``"val"`` or ``"test"`` from the innermost folder of ``path`` whose name has that
    word as an ``_``-separated token (``multicoil_train``, ``knee_multicoil_val``, ``multicoil_test``,
    ``..._challenge``); ``None`` when no folder says."""
    for part in reversed(path.parent.parts):
        tokens = set(re.split(r"[_\-.]", part.lower()))
        if "train" in tokens:
            return "train"
        if "val" in tokens:
            return "val"
        if tokens & {"test", "challenge"}:
            return "test"
    return None


def index_volumes(fastmri_dirs: Sequence[str | os.PathLike[str]]) -> dict[str, list[Path]]:
    """``{file name: [paths]}`` of every ``.h5`` file below ``fastmri_dirs`` (recursive, sorted).

    Files inside a folder whose name contains ``singlecoil`` are skipped: fastMRI's single-coil knee
    files share their names with the multi-coil ones.

    Raises:
        ConfigError: naming a folder that does not exist.
    """
    index: dict[str, list[Path]] = {}
    for d in fastmri_dirs:
        root = Path(d).expanduser().resolve()
        if not root.is_dir():
            raise ConfigError(f"fastMRI folder {root} does not exist or is not a folder")
        for p in sorted(root.rglob("*.h5")):
            if not p.is_file() or any("singlecoil" in part.lower() for part in p.relative_to(root).parts):
                continue
            index.setdefault(p.name, [])
            if p not in index[p.name]:
                index[p.name].append(p)
    return index


def _data_root(fastmri_dirs: Sequence[str | os.PathLike[str]], data_root: str | os.PathLike[str] | None) -> Path:
    dirs = [Path(d).expanduser().resolve() for d in fastmri_dirs]
    if not dirs:
        raise ConfigError("no fastMRI folder given (fastmri_dirs is empty)")
    root = Path(data_root).expanduser().resolve() if data_root is not None else Path(os.path.commonpath(dirs))
    for d in dirs:
        if not d.is_relative_to(root):
            raise ConfigError(f"data_root {root} does not contain the fastMRI folder {d}")
    return root


def _rows(files: Iterable[tuple[Path, str, str]], data_root: Path, hashes: bool) -> list[dict[str, object]]:
    """Manifest rows for (path, organ, role); num_slices from :func:`inspect_volume` (validates)."""
    return [file_row(p, data_root, organ, role, inspect_volume(p).num_slices, hash_file=hashes)
            for p, organ, role in files]


# ----------------------------------------------------------------------------------------------
# subsets CSV
# ----------------------------------------------------------------------------------------------

def subset_seed(seed: int, fraction: float) -> int:
    """The seed :func:`draw_split` passes to :meth:`Manifest.subset` for ``fraction``.

    Derived from (seed, fraction) so that different fractions are independent draws (as the authors'
    folders are), not nested prefixes of one permutation.
    """
    return int(np.random.SeedSequence([int(seed), int(round(float(fraction) * 1_000_000))]).generate_state(1)[0])


def subset_name(fraction: float) -> str:
    """``0.1 -> "10pct"``, ``0.01 -> "1pct"``, ``0.025 -> "2.5pct"``."""
    return f"{float(fraction) * 100:.6g}pct"


def write_subsets(rows: Iterable[tuple[str, float, str]], path: str | os.PathLike[str]) -> Path:
    """Write (subset, nominal fraction, manifest ``file``) rows atomically as a subsets CSV."""
    table = pd.DataFrame(list(rows), columns=list(SUBSET_COLUMNS))
    buf = io.StringIO()
    table.to_csv(buf, index=False, lineterminator="\n")
    atomic_write_text(path, buf.getvalue())
    return Path(path)


def load_subsets(path: str | os.PathLike[str], manifest: Manifest) -> dict[str, list[Path]]:
    """``{subset name: [absolute paths of its retain volumes]}`` from a subsets CSV.

    Raises:
        ManifestError: naming ``path`` and the subset/file: unreadable CSV, missing columns, a file
            that is not a retain volume of ``manifest``, a file listed twice in one subset, a fraction
            outside (0, 1].
    """
    source = Path(path)
    try:
        table = pd.read_csv(source, dtype={"subset": str, "file": str}, keep_default_na=False)
    except FileNotFoundError as exc:
        raise ManifestError(f"subsets file {source} not found") from exc
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ManifestError(f"subsets file {source} is not a readable CSV: {exc}") from exc
    missing = [c for c in SUBSET_COLUMNS if c not in table.columns]
    if missing:
        raise ManifestError(f"{source}: missing columns {missing}; expected {list(SUBSET_COLUMNS)}")
    fractions = pd.to_numeric(table.fraction, errors="coerce")
    bad = table[~((fractions > 0) & (fractions <= 1))]
    if len(bad):
        raise ManifestError(f"{source}: subset {bad.iloc[0].subset!r} has fraction {bad.iloc[0].fraction!r} "
                            "outside (0, 1]")
    retain = manifest.table.loc[manifest.table.role == "retain"]
    by_file = dict(zip(retain.file, retain.path))
    out: dict[str, list[Path]] = {}
    for row in table.itertuples():
        if row.file not in by_file:
            raise ManifestError(f"{source}: subset {row.subset!r} lists {row.file}, which is not a retain "
                                f"volume of {manifest.source or 'the manifest'}")
        chosen = out.setdefault(row.subset, [])
        p = Path(by_file[row.file])
        if p in chosen:
            raise ManifestError(f"{source}: subset {row.subset!r} lists {row.file} twice")
        chosen.append(p)
    return out


# ----------------------------------------------------------------------------------------------
# importing the authors' split
# ----------------------------------------------------------------------------------------------

@dataclass
class ImportReport:
    """What :func:`import_paper_tree` found and wrote.

    ``expected``/``found``: volumes per role (listed by the authors / found in the user's folders);
    ``missing``: per role, the listed names not found (sorted); ``subset_found``: per subset, volumes
    written (nominal size in ``subset_expected``); ``duplicates``: names found at several paths (the
    first in sorted order is used); ``notes``: facts worth knowing (e.g. a test volume that comes from
    a training folder).
    """

    manifest: Path
    subsets: Path | None
    data_root: Path
    expected: dict[str, int]
    found: dict[str, int]
    missing: dict[str, list[str]]
    subset_expected: dict[str, int] = field(default_factory=dict)
    subset_found: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, list[Path]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every listed volume was found."""
        return not any(self.missing.values())

    def summary(self, show: int = 5) -> str:
        """A human-readable report (counts per role, the first ``show`` missing names per role)."""
        lines = [f"manifest {self.manifest} (files relative to {self.data_root})"]
        for role in ROLES:
            if role not in self.expected:
                continue
            line = f"  {role:<10} {self.found[role]:>5} / {self.expected[role]} found"
            miss = self.missing.get(role, [])
            if miss:
                more = f", ... (+{len(miss) - show})" if len(miss) > show else ""
                line += f"; MISSING {len(miss)}: {', '.join(miss[:show])}{more}"
            lines.append(line)
        if self.subsets is not None:
            lines.append(f"subsets {self.subsets}")
            for name, n in self.subset_found.items():
                lines.append(f"  {name:<10} {n:>5} / {self.subset_expected[name]} found")
        if self.duplicates:
            lines.append(f"{len(self.duplicates)} name(s) found at several paths (first path used), e.g. "
                         f"{next(iter(self.duplicates))}")
        if not self.complete:
            lines.append("WARNING: the split is incomplete; the manifests list the volumes that were found.")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _check_paper_tree(tree: Mapping[str, list[str]], source: str) -> dict[str, list[str]]:
    """The role folders' .h5 names; raises ManifestError for a missing folder or a name in two roles."""
    by_role: dict[str, list[str]] = {}
    for role, folder in ROLE_FOLDERS.items():
        if folder not in tree:
            raise ManifestError(f"{source}: the authors' folder {folder!r} (role {role}) is not in the listing")
        by_role[role] = sorted({n for n in tree[folder] if n.endswith(".h5")})
    owner: dict[str, str] = {}
    for role, names in by_role.items():
        for name in names:
            if name in owner:
                raise ManifestError(f"{source}: volume {name} is listed in two roles: {owner[name]} "
                                    f"({ROLE_FOLDERS[owner[name]]}) and {role} ({ROLE_FOLDERS[role]})")
            owner[name] = role
            if organ_of(name) not in (None, ROLE_ORGANS[role]):
                raise ManifestError(f"{source}: volume {name} in {ROLE_FOLDERS[role]} is not a "
                                    f"{ROLE_ORGANS[role]} volume (role {role})")
    return by_role


def _train_sourced(tree: Mapping[str, list[str]], names: Iterable[str]) -> dict[str, list[str]]:
    """Folders of the listing named like a training folder that hold any of ``names``."""
    names = set(names)
    hits: dict[str, list[str]] = {}
    for folder, files in tree.items():
        if folder == TREE_ROOT or folder_split(Path(folder) / "x") != "train":
            continue
        for n in sorted(names.intersection(files)):
            hits.setdefault(n, []).append(folder)
    return hits


def _refuse_overwrite(targets: Iterable[Path], overwrite: bool) -> None:
    """Stop before any work when a manifest file this call would write already exists.

    A manifest names the volumes of every role; silently replacing one (e.g. the authors' imported
    split by a random draw of the same name) changes every later result. ``overwrite=True`` (the
    CLI's ``--force``) allows it.

    Raises:
        ManifestError: one of ``targets`` exists and ``overwrite`` is false (names it and the flag).
    """
    if overwrite:
        return
    existing = [str(t) for t in targets if Path(t).exists()]
    if existing:
        raise ManifestError(f"{existing[0]} already exists: refusing to overwrite a manifest "
                            f"(choose another --name or --out, or pass --force to replace it)")


def _paper_subset_names(tree: Mapping[str, list[str]], source: str, retain_names: set[str]) -> dict[str, list[str]]:
    """The sorted .h5 names of each fraction folder of :data:`PAPER_SUBSETS`.

    Raises:
        ManifestError: a fraction folder absent from the listing, or one naming a volume outside
            ``retain_names``.
    """
    subsets: dict[str, list[str]] = {}
    for sub, (folder, _) in PAPER_SUBSETS.items():
        if folder not in tree:
            raise ManifestError(f"{source}: the authors' fraction folder {folder!r} is not in the listing")
        names = sorted({n for n in tree[folder] if n.endswith(".h5")})
        outside = [n for n in names if n not in retain_names]
        if outside:
            raise ManifestError(f"{source}: {folder} lists {outside[0]}, which is not in "
                                f"{ROLE_FOLDERS['retain']} ({len(outside)} such names)")
        subsets[sub] = names
    return subsets


def _locate_roles(by_role: Mapping[str, list[str]], index: Mapping[str, list[Path]],
                  fastmri_dirs: Sequence[str | os.PathLike[str]]
                  ) -> tuple[dict[str, list[Path]], dict[str, list[str]], dict[str, list[Path]]]:
    """``(found paths, missing names, names found at several paths)``: the first two per role.

    Raises:
        ManifestError: a role of which no volume is in ``index``.
    """
    found: dict[str, list[Path]] = {}
    missing: dict[str, list[str]] = {}
    for role, names in by_role.items():
        found[role] = [index[n][0] for n in names if n in index]
        missing[role] = [n for n in names if n not in index]
        if not found[role]:
            raise ManifestError(
                f"none of the {len(names)} {role} volumes of {ROLE_FOLDERS[role]} (e.g. {names[0]}) was found "
                f"under {', '.join(str(d) for d in fastmri_dirs)}")
    listed = {n for names in by_role.values() for n in names}
    duplicates = {n: index[n] for n in sorted(listed) if len(index.get(n, [])) > 1}
    return found, missing, duplicates


def _write_paper_manifest(found: Mapping[str, list[Path]], root: Path, verify_hashes: bool, path: Path
                          ) -> tuple[list[dict[str, object]], Path]:
    """Write the manifest of the ``found`` volumes (role by role, :data:`ROLES` order): ``(rows, path)``."""
    rows = _rows(((p, ROLE_ORGANS[role], role) for role in ROLES for p in found.get(role, [])),
                 root, verify_hashes)
    return rows, write_manifest(rows, path)


def _write_paper_subsets(rows: Sequence[Mapping[str, object]], subsets: Mapping[str, list[str]],
                         path: Path) -> tuple[Path, dict[str, int]]:
    """Write the subsets CSV for the retain volumes among manifest ``rows``.

    Returns:
        ``(path written, {subset: how many of its names were found})``.
    """
    rel = {Path(str(r["file"])).name: str(r["file"]) for r in rows if r["role"] == "retain"}
    sub_rows = [(sub, PAPER_SUBSETS[sub][1], rel[n]) for sub, names in subsets.items()
                for n in names if n in rel]
    subsets_path = write_subsets(sub_rows, path)
    return subsets_path, {sub: sum(n in rel for n in names) for sub, names in subsets.items()}


def _leakage_notes(tree: Mapping[str, list[str]], by_role: Mapping[str, list[str]]) -> list[str]:
    """A note per non-training volume that the listing also holds in a training folder."""
    notes = []
    for role in ROLES:
        if role in TRAIN_ROLES:
            continue
        for n, folders in _train_sourced(tree, by_role[role]).items():
            notes.append(f"{role} volume {n} comes from a training folder of the authors' listing "
                         f"({', '.join(folders)}); it is in no training role of this split (no leakage)")
    return notes


def import_paper_tree(
    tree_path: str | os.PathLike[str],
    fastmri_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    verify_hashes: bool = False,
    fraction_folders: bool = True,
    data_root: str | os.PathLike[str] | None = None,
    name: str = "paper",
    verbose: bool = True,
    overwrite: bool = False,
) -> ImportReport:
    """Import the authors' split: write ``<out_dir>/<name>.csv`` (+ ``<name>_subsets.csv``).

    Args:
        tree_path: the authors' ``tree`` listing (``paths.PAPER_SPLIT_TREE``).
        fastmri_dirs: folders holding the user's fastMRI multi-coil ``.h5`` files (searched
            recursively, e.g. brain and knee ``multicoil_train``/``multicoil_val``).
        out_dir: where the CSVs go (``paths.MANIFESTS_DIR`` for the committed ones).
        verify_hashes: compute each file's SHA-256 and record it (later loads then verify it);
            ``False`` writes an empty ``sha256`` (real files are large: hashing 1,400 volumes is slow).
        fraction_folders: also write the retain subsets of :data:`PAPER_SUBSETS`.
        data_root: folder the manifest's ``file`` column is relative to (default: the common parent
            of ``fastmri_dirs``); pass the same folder to :func:`manifest.load_manifest`.
        name: file stem of the written CSVs.
        verbose: print :meth:`ImportReport.summary`.
        overwrite: replace existing ``<name>.csv`` / ``<name>_subsets.csv`` (default: refuse).

    Missing volumes: the manifests list the volumes that were found, and the report names the rest
    (counts per role and the names). A role of which *no* volume is found raises, and nothing is
    written.

    Raises:
        ManifestError: a role folder absent from the listing, a name in two roles, a fraction folder
            with names outside ``brain_retain``, a role with no volume found, or an existing manifest
            of that name without ``overwrite`` (checked first).
        DataError: an unreadable listing or an invalid volume (naming the file).
        ConfigError: a fastMRI folder that does not exist, or a ``data_root`` that does not contain it.
    """
    out = Path(out_dir)
    _refuse_overwrite([out / f"{name}.csv", *([out / f"{name}_subsets.csv"] if fraction_folders else [])],
                      overwrite)
    source = str(tree_path)
    tree = read_tree(tree_path)
    by_role = _check_paper_tree(tree, source)
    subsets = _paper_subset_names(tree, source, set(by_role["retain"])) if fraction_folders else {}
    root = _data_root(fastmri_dirs, data_root)
    found, missing, duplicates = _locate_roles(by_role, index_volumes(fastmri_dirs), fastmri_dirs)
    rows, manifest_path = _write_paper_manifest(found, root, verify_hashes, out / f"{name}.csv")
    subsets_path, subset_found = (_write_paper_subsets(rows, subsets, out / f"{name}_subsets.csv")
                                  if fraction_folders else (None, {}))
    report = ImportReport(
        manifest=manifest_path, subsets=subsets_path, data_root=root,
        expected={r: len(v) for r, v in by_role.items()}, found={r: len(v) for r, v in found.items()},
        missing=missing, subset_expected={s: len(v) for s, v in subsets.items()}, subset_found=subset_found,
        duplicates=duplicates, notes=_leakage_notes(tree, by_role),
    )
    if verbose:
        print(report.summary())
    return report


# ----------------------------------------------------------------------------------------------
# drawing a fresh split
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SplitFiles:
    """The CSVs :func:`draw_split` wrote and the folder their ``file`` column is relative to."""

    manifest: Path
    subsets: Path
    data_root: Path


def _pools(index: Mapping[str, list[Path]]) -> dict[str, list[Path]]:
    """Candidate volumes by kind, sorted by file name; a name in both a train and a val folder raises."""
    pools: dict[str, list[Path]] = {"brain_train": [], "knee_train": [], "brain_val": [], "knee_val": []}
    for name in sorted(index):
        organ = organ_of(name)
        if organ is None or (organ == "brain" and not _BRAIN_AXT2.match(name)):
            continue
        splits = {folder_split(p) for p in index[name]} & {"train", "val"}
        if len(splits) > 1:
            raise ManifestError(f"volume {name} lies in both a train and a val folder: "
                                f"{', '.join(str(p) for p in index[name])}")
        if splits:
            split = splits.pop()
            pools[f"{organ}_{split}"].append(next(p for p in index[name] if folder_split(p) == split))
    return pools


def _check_acquisition(p: Path, expected: str) -> int:
    info = inspect_volume(p)
    acq = info.attrs.get("acquisition")
    if acq is not None and str(acq) != expected:
        raise DataError(f"{p}: acquisition attribute is {acq!r} but the file name says {expected}")
    return info.num_slices


def _check_split_sizes(sizes: Mapping[str, int], fractions: Sequence[float]) -> None:
    """Raises ConfigError for a negative or non-integer size, ``n_retain``/``n_forget`` zero, or a
    fraction outside (0, 1]."""
    for key, value in sizes.items():
        if int(value) != value or value < 0:
            raise ConfigError(f"{key} must be a non-negative integer, got {value!r}")
    for key in ("n_retain", "n_forget"):
        if sizes[key] == 0:
            raise ConfigError(f"{key} must be at least 1")
    for f in fractions:
        if isinstance(f, bool) or not isinstance(f, numbers.Real) or not 0.0 < float(f) <= 1.0:
            raise ConfigError(f"retain fraction must be in (0, 1], got {f!r}")


def _draw_roles(pools: Mapping[str, list[Path]], sizes: Mapping[str, int], seed: int,
                fastmri_dirs: Sequence[str | os.PathLike[str]]) -> dict[str, list[Path]]:
    """Each role's volumes, drawn without replacement from its pool by the pool's own child of
    ``SeedSequence(seed)``; val and test_brain split one draw from the brain val pool.

    Raises:
        ManifestError: a pool smaller than asked (says found vs needed).
    """
    n_val, n_test_brain = sizes["n_val"], sizes["n_test_brain"]
    where = ", ".join(str(d) for d in fastmri_dirs)
    need = {"brain_train": sizes["n_retain"], "knee_train": sizes["n_forget"], "brain_val": n_val + n_test_brain,
            "knee_val": sizes["n_test_knee"]}
    what = {"brain_train": "brain AXT2 train (retain)", "knee_train": "knee train (forget)",
            "brain_val": "brain AXT2 val (val + test_brain)", "knee_val": "knee val (test_knee)"}
    for kind, n in need.items():
        if len(pools[kind]) < n:
            raise ManifestError(f"not enough {what[kind]} volumes under {where}: found {len(pools[kind])}, "
                                f"need {n}")
    streams = np.random.SeedSequence(int(seed)).spawn(len(need))

    def draw(kind: str, ss: np.random.SeedSequence) -> list[Path]:
        idx = np.random.default_rng(ss).choice(len(pools[kind]), size=need[kind], replace=False)
        return [pools[kind][i] for i in idx]

    brain_val = draw("brain_val", streams[2])
    return {
        "retain": draw("brain_train", streams[0]),
        "forget": draw("knee_train", streams[1]),
        "val": brain_val[:n_val],
        "test_brain": brain_val[n_val:],
        "test_knee": draw("knee_val", streams[3]),
    }


def _drawn_rows(chosen: Mapping[str, list[Path]], root: Path, verify_hashes: bool) -> list[dict[str, object]]:
    """Manifest rows, by role and then file name; brain volumes must be AXT2 acquisitions."""
    rows = []
    for role in ROLES:
        for p in sorted(chosen[role], key=lambda q: q.name):
            organ = ROLE_ORGANS[role]
            n_slices = _check_acquisition(p, "AXT2") if organ == "brain" else inspect_volume(p).num_slices
            rows.append(file_row(p, root, organ, role, n_slices, hash_file=verify_hashes))
    return rows


def _write_drawn_subsets(manifest_path: Path, root: Path, fractions: Sequence[float], seed: int,
                         path: Path) -> Path:
    """Write the retain subsets (one :meth:`Manifest.subset` draw per fraction) of the written manifest."""
    manifest = load_manifest(manifest_path, root, verify_hashes=False)
    rel = dict(zip(manifest.table.path, manifest.table.file))
    sub_rows = [(subset_name(f), float(f), rel[str(p)])
                for f in fractions for p in manifest.subset("retain", f, subset_seed(seed, f))]
    return write_subsets(sub_rows, path)


def draw_split(
    fastmri_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    n_retain: int = 1000,
    n_forget: int = 20,
    n_val: int = 200,
    n_test_brain: int = 100,
    n_test_knee: int = 100,
    fractions: Sequence[float] = (0.01, 0.05, 0.1, 0.2, 0.5),
    data_root: str | os.PathLike[str] | None = None,
    name: str | None = None,
    verify_hashes: bool = False,
    overwrite: bool = False,
) -> SplitFiles:
    """Draw a seeded split shaped like the paper's from any fastMRI folders.

    Kinds of volume (file name + the nearest folder named ``*train*``/``*val*``, see :func:`folder_split`):
    retain = brain ``file_brain_AXT2_*`` from train; forget = knee from train; val and test_brain =
    brain AXT2 from val (disjoint); test_knee = knee from val. Brain files whose ``acquisition``
    attribute contradicts their AXT2 name raise. Single-coil folders and test/challenge folders (no
    fully sampled targets) are ignored.

    Determinism: candidates are sorted by file name, and each kind is drawn by its own child of
    ``np.random.SeedSequence(seed)``, so the result depends only on ``seed``, the sizes and the set of
    files (not on folder order). Retain subsets: ``manifest.subset("retain", f, subset_seed(seed, f))``
    for each fraction (:meth:`Manifest.subset` semantics: ``max(1, round(f * n_retain))`` volumes),
    written as ``"<pct>pct"`` subsets; different fractions are independent draws, not nested.

    Writes ``<out_dir>/<name>.csv`` and ``<name>_subsets.csv`` (``name`` defaults to ``drawn_seed<seed>``);
    an existing one is replaced only with ``overwrite=True`` (checked before anything is read).

    Raises:
        ManifestError: fewer volumes of a kind than asked (says found vs needed), a name in both a
            train and a val folder, or an existing manifest of that name without ``overwrite``.
        ConfigError: a negative size, ``n_retain``/``n_forget`` zero, or a fraction outside (0, 1].
    """
    stem = name or f"drawn_seed{seed}"
    out = Path(out_dir)
    _refuse_overwrite([out / f"{stem}.csv", out / f"{stem}_subsets.csv"], overwrite)
    sizes = {"n_retain": n_retain, "n_forget": n_forget, "n_val": n_val,
             "n_test_brain": n_test_brain, "n_test_knee": n_test_knee}
    _check_split_sizes(sizes, fractions)
    root = _data_root(fastmri_dirs, data_root)
    chosen = _draw_roles(_pools(index_volumes(fastmri_dirs)), sizes, seed, fastmri_dirs)
    manifest_path = write_manifest(_drawn_rows(chosen, root, verify_hashes), out / f"{stem}.csv")
    subsets_path = _write_drawn_subsets(manifest_path, root, fractions, seed, out / f"{stem}_subsets.csv")
    return SplitFiles(manifest_path, subsets_path, root)
