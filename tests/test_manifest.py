"""Split manifests: validation on load (each error names the manifest and the offending file/role),
seeded subsets and a content hash that survives moving the data."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mriunlearn.errors import ManifestError
from mriunlearn.fastmri_h5 import write_volume
from mriunlearn.manifest import COLUMNS, ROLES, Manifest, file_row, load_manifest, write_manifest

ROLE_ORGAN = {"retain": "brain", "forget": "knee", "val": "brain", "test_brain": "brain", "test_knee": "knee"}
COUNTS = {"retain": 10, "forget": 2, "val": 2, "test_brain": 2, "test_knee": 2}


def _volume(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    kspace = rng.standard_normal((1, 1, 4, 4)) + 1j * rng.standard_normal((1, 1, 4, 4))
    write_volume(path, kspace, rng.random((1, 4, 4)) + 0.1, patient_id=f"p{seed}", acquisition="AXT2")
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data root, manifest) with COUNTS volumes per role, files under <root>/<role>/."""
    root = tmp_path_factory.mktemp("data")
    rows = []
    seed = 0
    for role, n in COUNTS.items():
        for i in range(n):
            p = _volume(root / role / f"{role}_{i:02d}.h5", seed)
            rows.append(file_row(p, root, ROLE_ORGAN[role], role, 1))
            seed += 1
    manifest = write_manifest(rows, root / "split.csv")
    return root, manifest


def _table(manifest: Path) -> pd.DataFrame:
    return pd.read_csv(manifest, dtype=str, keep_default_na=False)


def _rewrite(table: pd.DataFrame, path: Path) -> Path:
    table.to_csv(path, index=False)
    return path


def test_load_valid(dataset: tuple[Path, Path]) -> None:
    root, path = dataset
    m = load_manifest(path, root, require_roles=ROLES)
    assert m.roles() == list(ROLES)
    for role, n in COUNTS.items():
        files = m.files(role)
        assert len(files) == n and all(f.is_file() and f.parent.name == role for f in files)
        assert m.num_slices(role) == n
    assert list(_table(path).columns) == list(COLUMNS)


def test_missing_file(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    root, path = dataset
    table = _table(path)
    table.loc[3, "file"] = "retain/ghost.h5"
    bad = _rewrite(table, tmp_path / "m.csv")
    with pytest.raises(ManifestError, match=r"retain/ghost\.h5.*not found") as exc:
        load_manifest(bad, root)
    assert str(bad) in str(exc.value)


def test_directory_is_not_a_volume(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    root, path = dataset
    table = _table(path)
    table.loc[0, "file"] = "retain"  # a folder that exists
    with pytest.raises(ManifestError, match="retain.*not found"):
        load_manifest(_rewrite(table, tmp_path / "m.csv"), root)


def test_empty_file_name(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    root, path = dataset
    table = _table(path)
    table.loc[0, "file"] = ""
    with pytest.raises(ManifestError, match="empty file name"):
        load_manifest(_rewrite(table, tmp_path / "m.csv"), root)


def test_changed_hash(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    root, path = dataset
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    m = load_manifest(path, copy)
    victim = m.files("forget")[1]
    _volume(victim, seed=999)  # same name, new content
    with pytest.raises(ManifestError, match=r"forget/forget_01\.h5 has changed"):
        load_manifest(path, copy)
    load_manifest(path, copy, verify_hashes=False)  # explicitly skipped
    table = _table(path)
    table["sha256"] = ""  # real-data manifests without hashes are accepted
    load_manifest(_rewrite(table, tmp_path / "nohash.csv"), copy)


def test_volume_in_two_roles(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    root, path = dataset
    table = _table(path)
    dup = table.iloc[[0]].copy()
    dup["role"] = "retain"
    table.loc[len(table) - 1, ["file", "sha256"]] = [table.loc[1, "file"], table.loc[1, "sha256"]]
    table.loc[len(table) - 1, "role"] = "forget"
    table.loc[len(table) - 1, "organ"] = "brain"
    with pytest.raises(ManifestError, match=r"retain/retain_01\.h5 is listed more than once.*forget.*retain"):
        load_manifest(_rewrite(table, tmp_path / "m.csv"), root)
    twice = pd.concat([_table(path), dup], ignore_index=True)
    with pytest.raises(ManifestError, match=r"retain_00\.h5 is listed more than once"):
        load_manifest(_rewrite(twice, tmp_path / "m2.csv"), root)


@pytest.mark.parametrize("eval_role", ["val", "test_brain", "test_knee"])
def test_leakage_eval_volume_in_training_role(dataset: tuple[Path, Path], tmp_path: Path, eval_role: str) -> None:
    root, path = dataset
    table = _table(path)
    leak = table[table.role == eval_role].iloc[[0]].copy()
    leak["role"] = "retain"
    bad = _rewrite(pd.concat([table, leak], ignore_index=True), tmp_path / "m.csv")
    with pytest.raises(ManifestError, match=rf"leakage.*{eval_role}_00\.h5.*retain.*{eval_role}"):
        load_manifest(bad, root)
    with pytest.raises(ManifestError, match="leakage"):  # refused on write too
        write_manifest(pd.read_csv(bad, keep_default_na=False).to_dict("records"), tmp_path / "w.csv")
    assert not (tmp_path / "w.csv").exists()


def test_leakage_by_name_across_folders(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    """The same file name in another folder is the same fastMRI volume."""
    root, path = dataset
    table = _table(path)
    extra = root / "elsewhere"
    extra.mkdir(exist_ok=True)
    shutil.copy(root / "test_knee" / "test_knee_00.h5", extra / "test_knee_00.h5")
    leak = table[table.role == "forget"].iloc[[0]].copy()
    leak["file"] = "elsewhere/test_knee_00.h5"
    leak["sha256"] = ""
    with pytest.raises(ManifestError, match="leakage"):
        load_manifest(_rewrite(pd.concat([table, leak], ignore_index=True), tmp_path / "m.csv"), root)


@pytest.mark.parametrize("column,value", [("role", "train"), ("role", ""), ("organ", "liver"), ("organ", "")])
def test_unknown_role_or_organ(dataset: tuple[Path, Path], tmp_path: Path, column: str, value: str) -> None:
    root, path = dataset
    table = _table(path)
    table.loc[0, column] = value
    with pytest.raises(ManifestError, match=rf"unknown {column}s \['{value}'\]"):
        load_manifest(_rewrite(table, tmp_path / "m.csv"), root)


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "many", ""])
def test_invalid_num_slices(dataset: tuple[Path, Path], tmp_path: Path, value: str) -> None:
    root, path = dataset
    table = _table(path)
    table.loc[4, "num_slices"] = value
    with pytest.raises(ManifestError, match=r"retain_04\.h5 has an invalid num_slices"):
        load_manifest(_rewrite(table, tmp_path / "m.csv"), root)


def test_missing_column(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    root, path = dataset
    bad = _rewrite(_table(path).drop(columns=["organ"]), tmp_path / "m.csv")
    with pytest.raises(ManifestError, match=r"missing columns \['organ'\]") as exc:
        load_manifest(bad, root)
    assert str(bad) in str(exc.value)


def test_require_roles(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    root, path = dataset
    table = _table(path)
    only = _rewrite(table[table.role != "val"], tmp_path / "m.csv")
    load_manifest(only, root, require_roles=("retain", "forget"))
    with pytest.raises(ManifestError, match=r"role 'val' holds no volume") as exc:
        load_manifest(only, root, require_roles=("retain", "val"))
    assert str(only) in str(exc.value)
    with pytest.raises(ManifestError, match="unknown role 'train'"):
        load_manifest(only, root, require_roles=("train",))


def test_unknown_role_in_accessors(dataset: tuple[Path, Path]) -> None:
    m = load_manifest(dataset[1], dataset[0])
    for call in (lambda: m.files("train"), lambda: m.num_slices("train"), lambda: m.subset("train", 0.5, 0)):
        with pytest.raises(ManifestError, match="unknown role 'train'"):
            call()


@pytest.mark.parametrize("fraction", [0, 0.0, -0.1, 1.5, math.nan, math.inf, -math.inf, True, "0.5", None])
def test_subset_fraction_out_of_range(dataset: tuple[Path, Path], fraction: object) -> None:
    m = load_manifest(dataset[1], dataset[0])
    with pytest.raises(ManifestError, match="fraction must be in"):
        m.subset("retain", fraction, seed=0)  # type: ignore[arg-type]


def test_subset_sizes_and_determinism(dataset: tuple[Path, Path]) -> None:
    m = load_manifest(dataset[1], dataset[0])
    retain = m.files("retain")
    assert m.subset("retain", 1.0, 0) == retain
    assert len(m.subset("retain", 0.01, 0)) == 1  # at least one volume
    assert len(m.subset("retain", np.float32(0.3), 0)) == 3  # numpy scalars are accepted
    a = m.subset("retain", 0.5, seed=7)
    assert len(a) == 5 and set(a) <= set(retain)
    assert a == sorted(a, key=retain.index)  # manifest order
    assert m.subset("retain", 0.5, seed=7) == a
    draws = {tuple(m.subset("retain", 0.5, seed=s)) for s in range(6)}
    assert len(draws) > 1  # different seeds give different subsets


def test_subset_of_empty_role(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    root, path = dataset
    table = _table(path)
    m = load_manifest(_rewrite(table[table.role != "val"], tmp_path / "m.csv"), root)
    with pytest.raises(ManifestError, match="role 'val' holds no volume"):
        m.subset("val", 0.5, 0)


def test_content_hash_independent_of_data_root(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    root, path = dataset
    moved = tmp_path / "moved" / "deeper"
    shutil.copytree(root, moved)
    a = load_manifest(path, root)
    b = load_manifest(moved / "split.csv", moved)
    assert a.files("retain") != b.files("retain")
    assert a.content_hash() == b.content_hash()
    table = _table(path)
    table.loc[0, "num_slices"] = "2"
    c = load_manifest(_rewrite(table, tmp_path / "c.csv"), root, verify_hashes=False)
    assert c.content_hash() != a.content_hash()  # content changes change the hash


def test_written_csv_is_stable(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    root, path = dataset
    rows = load_manifest(path, root).table[list(COLUMNS)].to_dict("records")
    again = write_manifest(rows, tmp_path / "again.csv")
    assert again.read_bytes() == path.read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_file_row_without_hash(dataset: tuple[Path, Path]) -> None:
    root, _ = dataset
    p = root / "retain" / "retain_00.h5"
    assert file_row(p, root, "brain", "retain", 1, hash_file=False)["sha256"] == ""
    assert len(str(file_row(p, root, "brain", "retain", 1)["sha256"])) == 64


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage\x81\x82" * 50, b"", b'file,organ\n"a,b\n',
                                     b"a,b\n1,2,3,4\n"])
def test_unreadable_csv(dataset: tuple[Path, Path], tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    with pytest.raises(ManifestError) as exc:
        load_manifest(bad, dataset[0])
    assert str(bad) in str(exc.value)


def test_manifest_path_problems(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not found"):
        load_manifest(tmp_path / "absent.csv", dataset[0])
    with pytest.raises(ManifestError, match="not a readable CSV"):
        load_manifest(tmp_path, dataset[0])  # a folder


def test_manifest_dataclass_is_frozen(dataset: tuple[Path, Path]) -> None:
    m = load_manifest(dataset[1], dataset[0])
    assert isinstance(m, Manifest) and m.source == dataset[1]
    with pytest.raises(AttributeError):
        m.source = None  # type: ignore[misc]
