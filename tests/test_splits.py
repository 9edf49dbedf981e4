"""Real fastMRI splits: parsing the authors' `tree` listing, importing it against (tiny, fake) fastMRI
folders, and drawing fresh seeded splits."""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mriunlearn import cli, paths, splits
from mriunlearn.errors import ConfigError, DataError, ManifestError
from mriunlearn.fastmri_h5 import write_volume
from mriunlearn.manifest import ROLES, load_manifest

# A sub-tree of the authors' listing with their exact names and layout (`tree` output).
MINI_TREE = """./
├── brain_multicoil
│   ├── brain_0.1_retain
│   │   └── file_brain_AXT2_200_2000028.h5
│   ├── brain_retain
│   │   ├── file_brain_AXT2_200_2000003.h5
│   │   ├── file_brain_AXT2_200_2000006.h5
│   │   ├── file_brain_AXT2_200_2000007.h5
│   │   ├── file_brain_AXT2_200_2000028.h5
│   │   ├── file_brain_AXT2_200_2000117.h5
│   │   └── file_brain_AXT2_200_2000450.h5
│   ├── brain_retain_1_v1
│   │   └── file_brain_AXT2_200_2000450.h5
│   ├── brain_retain_20_v1
│   │   ├── file_brain_AXT2_200_2000003.h5
│   │   └── file_brain_AXT2_200_2000028.h5
│   ├── brain_retain_50_v1
│   │   ├── file_brain_AXT2_200_2000003.h5
│   │   ├── file_brain_AXT2_200_2000007.h5
│   │   └── file_brain_AXT2_200_2000117.h5
│   ├── brain_retain_5_v1
│   │   └── file_brain_AXT2_200_2000117.h5
│   ├── brain_retain_v1
│   │   └── file_brain_AXT2_200_2000003.h5
│   ├── brain_retain_v2
│   │   └── file_brain_AXT2_200_2000007.h5
│   ├── brain_retain_v3
│   │   └── file_brain_AXT2_200_2000006.h5
│   ├── brain_test_set
│   │   ├── file_brain_AXT2_202_2020117.h5
│   │   └── file_brain_AXT2_209_6001331.h5
│   ├── knee_forget_set
│   │   ├── file1000002.h5
│   │   └── file1000010.h5
│   ├── multicoil_T2_train
│   │   ├── file_brain_AXT2_200_2000003.h5
│   │   └── file_brain_AXT2_202_2020117.h5
│   ├── multicoil_val
│   │   ├── file_brain_AXT2_200_2000019.h5
│   │   └── file_brain_AXT2_200_2000021.h5
│   └── tree.txt
├── knee_multicoil
│   ├── knee_forget_set
│   │   ├── file1000002.h5
│   │   └── file1000010.h5
│   └── knee_test_set
│       ├── file1001143.h5
│       └── file1001144.h5
└── tree.txt

17 directories, 31 files
"""
MINI = {
    "retain": ["file_brain_AXT2_200_2000003.h5", "file_brain_AXT2_200_2000006.h5", "file_brain_AXT2_200_2000007.h5",
               "file_brain_AXT2_200_2000028.h5", "file_brain_AXT2_200_2000117.h5", "file_brain_AXT2_200_2000450.h5"],
    "forget": ["file1000002.h5", "file1000010.h5"],
    "val": ["file_brain_AXT2_200_2000019.h5", "file_brain_AXT2_200_2000021.h5"],
    "test_brain": ["file_brain_AXT2_202_2020117.h5", "file_brain_AXT2_209_6001331.h5"],
    "test_knee": ["file1001143.h5", "file1001144.h5"],
}
MINI_SUBSETS = {
    "1pct": ["file_brain_AXT2_200_2000450.h5"], "5pct": ["file_brain_AXT2_200_2000117.h5"],
    "10pct": ["file_brain_AXT2_200_2000028.h5"],
    "20pct": ["file_brain_AXT2_200_2000003.h5", "file_brain_AXT2_200_2000028.h5"],
    "50pct": ["file_brain_AXT2_200_2000003.h5", "file_brain_AXT2_200_2000007.h5", "file_brain_AXT2_200_2000117.h5"],
    "10pct_v1": ["file_brain_AXT2_200_2000003.h5"], "10pct_v2": ["file_brain_AXT2_200_2000007.h5"],
    "10pct_v3": ["file_brain_AXT2_200_2000006.h5"],
}
TRAIN_SOURCED = "file_brain_AXT2_202_2020117.h5"


def _vol(path: Path, seed: int, acquisition: str | None = None) -> Path:
    """A tiny fastMRI-format volume with 1 + seed % 3 slices."""
    rng = np.random.default_rng(seed)
    s = 1 + seed % 3
    kspace = rng.standard_normal((s, 1, 4, 4)) + 1j * rng.standard_normal((s, 1, 4, 4))
    if acquisition is None:
        acquisition = "AXT2" if path.name.startswith("file_brain_AXT2") else (
            "AXFLAIR" if path.name.startswith("file_brain") else "CORPD_FBK")
    write_volume(path, kspace, rng.random((s, 4, 4)) + 0.1, patient_id=path.stem, acquisition=acquisition)
    return path


def _fake_fastmri(root: Path) -> dict[str, Path]:
    """The user's fastMRI folders holding every MINI name where fastMRI keeps it."""
    where = {"retain": "brain/multicoil_train", "forget": "knee/multicoil_train", "val": "brain/multicoil_val",
             "test_brain": "brain/multicoil_val", "test_knee": "knee/multicoil_val"}
    out: dict[str, Path] = {}
    for i, (role, names) in enumerate(itertools.chain.from_iterable([[(r, n) for n in v] for r, v in MINI.items()])):
        folder = "brain/multicoil_train" if names == TRAIN_SOURCED else where[role]
        out[names] = _vol(root / folder / names, i)
    # fastMRI's single-coil knee files share names with the multi-coil ones: must be ignored
    garbage = root / "knee" / "singlecoil_train" / "file1000002.h5"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(b"not hdf5")
    return out


def _write_tree(tmp_path: Path, text: str = MINI_TREE) -> Path:
    path = tmp_path / "tree.txt"
    path.write_text(text, encoding="utf-8")
    return path


# ================================================================== parse_tree

def test_parse_mini_tree() -> None:
    tree = splits.parse_tree(MINI_TREE)
    assert len(tree) - 1 == 17  # plus the root
    assert tree[splits.TREE_ROOT] == ["tree.txt"]
    assert tree["brain_multicoil"] == ["tree.txt"]
    assert tree["knee_multicoil"] == []
    assert tree["brain_multicoil/brain_retain"] == MINI["retain"]
    assert tree["knee_multicoil/knee_test_set"] == MINI["test_knee"]
    for sub, (folder, _) in splits.PAPER_SUBSETS.items():
        assert tree[folder] == MINI_SUBSETS[sub]


def test_parse_ascii_nbsp_and_marked_folders() -> None:
    text = ("/data\n|-- a\n|   |-- x.h5\n|   `-- b\n|       `-- y.h5\n`-- empty/\n"
            "\n3 directories, 2 files\n")
    assert splits.parse_tree(text) == {".": [], "a": ["x.h5"], "a/b": ["y.h5"], "empty": []}
    nbsp = "./\n└── a\n    ├── b\n    │\u00a0\u00a0 └── y.h5\n    └── z.h5\n"
    assert splits.parse_tree(nbsp) == {".": [], "a": ["z.h5"], "a/b": ["y.h5"]}


@pytest.mark.parametrize("text,match", [
    ("./\n├── a\n│   ├── x.h5\nthis is not tree output\n", r"line 4 is not a `tree` entry"),
    ("./\n├── a\n│   │   ├── x.h5\n", r"line 3 .*nested deeper"),
    (MINI_TREE.replace("17 directories, 31 files", "17 directories, 32 files"), r"parsed 17 folders and 31 files"),
    ("\n".join(MINI_TREE.splitlines()[:30]) + "\n\n17 directories, 31 files\n", "truncated or edited"),
])
def test_parse_errors_name_the_source(text: str, match: str) -> None:
    with pytest.raises(DataError, match=match) as exc:
        splits.parse_tree(text, source="listing.txt")
    assert "listing.txt" in str(exc.value)


def test_read_tree_unreadable(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "absent.txt"))):
        splits.read_tree(tmp_path / "absent.txt")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"./\n\xe9\xff\n")
    with pytest.raises(DataError, match=re.escape(str(bad))):
        splits.read_tree(bad)


def test_helpers() -> None:
    assert splits.organ_of("file_brain_AXT2_200_2000003.h5") == "brain"
    assert splits.organ_of("file1000002.h5") == "knee"
    assert splits.organ_of("tree.txt") is None
    assert splits.folder_split(Path("/d/brain/multicoil_train/x.h5")) == "train"
    assert splits.folder_split(Path("/d/knee_multicoil_val/sub/x.h5")) == "val"
    assert splits.folder_split(Path("/d/multicoil_test/x.h5")) == "test"
    assert splits.folder_split(Path("/train/brain_retain/x.h5")) == "train"  # innermost that says
    assert splits.folder_split(Path("/d/validation_like/x.h5")) is None
    assert [splits.subset_name(f) for f in (0.01, 0.1, 0.025, 1)] == ["1pct", "10pct", "2.5pct", "100pct"]
    assert splits.subset_seed(0, 0.1) == splits.subset_seed(0, 0.1) != splits.subset_seed(0, 0.2)


# ================================================================== the real listing

real_tree = pytest.mark.skipif(not paths.PAPER_SPLIT_TREE.is_file(), reason="the authors' split listing is absent")


@pytest.fixture(scope="module")
def paper_tree() -> dict[str, list[str]]:
    if not paths.PAPER_SPLIT_TREE.is_file():
        pytest.skip("the authors' split listing is absent")
    return splits.read_tree(paths.PAPER_SPLIT_TREE)


@real_tree
def test_real_tree_counts(paper_tree: dict[str, list[str]]) -> None:
    """The counts stated in paper.md, section "The authors' split"."""
    h5 = [n for files in paper_tree.values() for n in files if n.endswith(".h5")]
    assert len(paper_tree) - 1 == 38
    assert len(h5) == 12_739
    assert len(set(h5)) == 7_019
    size = {role: len(paper_tree[folder]) for role, folder in splits.ROLE_FOLDERS.items()}
    assert size == {"retain": 1000, "forget": 20, "val": 200, "test_brain": 101, "test_knee": 100}
    assert len(paper_tree["brain_multicoil/mixed_multicoil_train"]) == 1020
    assert set(paper_tree["brain_multicoil/mixed_multicoil_train"]) == (
        set(paper_tree[splits.ROLE_FOLDERS["retain"]]) | set(paper_tree[splits.ROLE_FOLDERS["forget"]]))
    assert set(paper_tree["brain_multicoil/knee_forget_set"]) == set(paper_tree["knee_multicoil/knee_forget_set"])
    fractions = {sub: len(paper_tree[folder]) for sub, (folder, _) in splits.PAPER_SUBSETS.items()}
    assert fractions == {"1pct": 10, "5pct": 50, "10pct": 100, "20pct": 200, "50pct": 500,
                         "10pct_v1": 100, "10pct_v2": 100, "10pct_v3": 100}
    for sub, (_, f) in splits.PAPER_SUBSETS.items():
        assert fractions[sub] == round(f * 1000)


@real_tree
def test_real_tree_roles_disjoint_and_sourced(paper_tree: dict[str, list[str]]) -> None:
    by_role = {r: set(paper_tree[f]) for r, f in splits.ROLE_FOLDERS.items()}
    for a, b in itertools.combinations(by_role, 2):
        assert not by_role[a] & by_role[b], (a, b)
    retain = by_role["retain"]
    assert all(splits.organ_of(n) == "brain" and n.startswith("file_brain_AXT2_") for n in retain)
    assert all(splits.organ_of(n) == "knee" for n in by_role["forget"] | by_role["test_knee"])
    subsets = {sub: set(paper_tree[f]) for sub, (f, _) in splits.PAPER_SUBSETS.items()}
    assert all(s <= retain for s in subsets.values())
    chain = [subsets[k] for k in ("1pct", "5pct", "10pct", "20pct", "50pct")]
    assert not all(a <= b for a, b in zip(chain, chain[1:]))  # independent draws, not nested
    t2_train = set(paper_tree["brain_multicoil/multicoil_T2_train"])
    t2_val = set(paper_tree["brain_multicoil/multicoil_T2_val"])
    assert retain <= t2_train and by_role["val"] <= t2_val
    assert by_role["test_brain"] & t2_train == {TRAIN_SOURCED}
    assert by_role["test_brain"] - t2_train <= t2_val
    assert by_role["forget"] <= set(paper_tree["knee_multicoil/multicoil_train"])
    assert by_role["test_knee"] <= set(paper_tree["knee_multicoil/multicoil_val"])


@real_tree
def test_import_real_tree_reports_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "fastmri"
    _fake_fastmri(data)
    out = tmp_path / "manifests"
    report = splits.import_paper_tree(paths.PAPER_SPLIT_TREE, [data / "brain", data / "knee"], out)
    assert report.expected == {"retain": 1000, "forget": 20, "val": 200, "test_brain": 101, "test_knee": 100}
    assert report.found == {r: len(v) for r, v in MINI.items()}
    assert {r: len(v) for r, v in report.missing.items()} == {
        r: report.expected[r] - len(MINI[r]) for r in ROLES}
    assert not set(report.missing["retain"]) & set(MINI["retain"])
    assert not report.complete
    assert report.subset_expected["50pct"] == 500 and report.subset_found["50pct"] <= len(MINI["retain"])
    printed = capsys.readouterr().out
    assert "MISSING 994" in printed and "WARNING" in printed and TRAIN_SOURCED in printed
    m = load_manifest(report.manifest, report.data_root, require_roles=ROLES)
    assert sorted(p.name for p in m.files("retain")) == MINI["retain"]


# ================================================================== import_paper_tree on fake data

@pytest.fixture()
def fake(tmp_path: Path) -> tuple[Path, Path, dict[str, Path]]:
    data = tmp_path / "fastmri"
    return _write_tree(tmp_path), data, _fake_fastmri(data)


def test_import_complete(fake: tuple[Path, Path, dict[str, Path]], tmp_path: Path) -> None:
    tree, data, files = fake
    # a second copy of one retain file elsewhere: reported, the first path in sorted order is used
    (data / "brain" / "a_copy").mkdir()
    shutil.copy(files[MINI["retain"][0]], data / "brain" / "a_copy")
    out = tmp_path / "out"
    report = splits.import_paper_tree(tree, [data / "knee", data / "brain"], out, verbose=False)
    assert report.complete and report.found == {r: len(v) for r, v in MINI.items()}
    assert report.data_root == data.resolve()
    assert report.manifest == out / "paper.csv" and report.subsets == out / "paper_subsets.csv"
    assert list(report.duplicates) == [MINI["retain"][0]]
    assert len(report.notes) == 1 and TRAIN_SOURCED in report.notes[0] and "multicoil_T2_train" in report.notes[0]

    m = load_manifest(report.manifest, data, require_roles=ROLES)
    table = m.table
    for role in ROLES:
        assert sorted(p.name for p in m.files(role)) == MINI[role]
        assert set(table.loc[table.role == role, "organ"]) == {splits.ROLE_ORGANS[role]}
    assert (table.sha256 == "").all()
    expected_slices = {n: 1 + i % 3 for i, n in enumerate(itertools.chain.from_iterable(MINI.values()))}
    assert dict(zip(table.file.map(lambda f: Path(f).name), table.num_slices)) == expected_slices
    train_sourced = table.loc[table.file.str.endswith(TRAIN_SOURCED)].iloc[0]
    assert train_sourced.role == "test_brain" and train_sourced.file.startswith("brain/multicoil_train/")
    assert m.files("retain")[0].parent.name == "a_copy"  # "brain/a_copy" sorts before "brain/multicoil_train"

    subsets = splits.load_subsets(report.subsets, m)
    assert {k: sorted(p.name for p in v) for k, v in subsets.items()} == MINI_SUBSETS
    assert all(p in m.files("retain") for v in subsets.values() for p in v)
    frac = pd.read_csv(report.subsets).groupby("subset").fraction.first().to_dict()
    assert frac == {k: f for k, (_, f) in splits.PAPER_SUBSETS.items()}


def test_import_with_hashes_is_verified(fake: tuple[Path, Path, dict[str, Path]], tmp_path: Path) -> None:
    tree, data, files = fake
    report = splits.import_paper_tree(tree, [data], tmp_path / "out", verify_hashes=True,
                                      fraction_folders=False, verbose=False)
    assert report.subsets is None and not (tmp_path / "out" / "paper_subsets.csv").exists()
    table = load_manifest(report.manifest, data).table
    assert table.sha256.str.fullmatch(r"[0-9a-f]{64}").all()
    _vol(files[MINI["val"][0]], seed=1234)  # the file changes after the import
    with pytest.raises(ManifestError, match=MINI["val"][0] + " has changed"):
        load_manifest(report.manifest, data)


def test_import_some_missing(fake: tuple[Path, Path, dict[str, Path]], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    tree, data, files = fake
    gone = [MINI["retain"][2], MINI["retain"][4], MINI["test_knee"][1]]  # ..007 (in 50pct, v2), ..117
    for n in gone:
        files[n].unlink()
    report = splits.import_paper_tree(tree, [data], tmp_path / "out")
    assert not report.complete
    assert report.missing == {"retain": sorted(gone[:2]), "forget": [], "val": [], "test_brain": [],
                              "test_knee": [gone[2]]}
    assert report.found["retain"] == 4 and report.found["test_knee"] == 1
    assert report.subset_found == {**{k: len(v) for k, v in MINI_SUBSETS.items()},
                                   "5pct": 0, "50pct": 1, "10pct_v2": 0}
    printed = capsys.readouterr().out
    assert f"MISSING 2: {', '.join(sorted(gone[:2]))}" in printed and "WARNING" in printed
    m = load_manifest(report.manifest, data)
    assert not {p.name for p in m.files("retain")} & set(gone)
    subsets = splits.load_subsets(report.subsets, m)
    assert "5pct" not in subsets and [p.name for p in subsets["50pct"]] == [MINI["retain"][0]]


def test_import_whole_role_missing(fake: tuple[Path, Path, dict[str, Path]], tmp_path: Path) -> None:
    tree, data, _ = fake
    shutil.rmtree(data / "knee" / "multicoil_val")
    out = tmp_path / "out"
    with pytest.raises(ManifestError, match=r"none of the 2 test_knee volumes .*file1001143\.h5"):
        splits.import_paper_tree(tree, [data], out, verbose=False)
    assert not out.exists()  # nothing written


def test_import_overlap_between_roles(tmp_path: Path, fake: tuple[Path, Path, dict[str, Path]]) -> None:
    _, data, _ = fake
    leaky = MINI_TREE.replace("│   │   └── file_brain_AXT2_200_2000021.h5",
                              "│   │   └── file_brain_AXT2_200_2000003.h5")
    with pytest.raises(ManifestError, match=r"file_brain_AXT2_200_2000003\.h5 is listed in two roles: retain.*val"):
        splits.import_paper_tree(_write_tree(tmp_path, leaky), [data], tmp_path / "out", verbose=False)


def test_import_organ_mismatch(tmp_path: Path, fake: tuple[Path, Path, dict[str, Path]]) -> None:
    _, data, _ = fake
    wrong = MINI_TREE.replace("│       └── file1001144.h5", "│       └── file_brain_AXT2_200_2000019x.h5")
    with pytest.raises(ManifestError, match="is not a knee volume"):
        splits.import_paper_tree(_write_tree(tmp_path, wrong), [data], tmp_path / "out", verbose=False)


def test_import_bad_fraction_folder(tmp_path: Path, fake: tuple[Path, Path, dict[str, Path]]) -> None:
    _, data, _ = fake
    bad = MINI_TREE.replace("│   │   └── file_brain_AXT2_200_2000450.h5\n│   ├── brain_retain_20_v1",
                            "│   │   └── file_brain_AXT2_200_2000019.h5\n│   ├── brain_retain_20_v1")
    assert bad != MINI_TREE
    with pytest.raises(ManifestError, match=r"brain_retain_1_v1 lists file_brain_AXT2_200_2000019\.h5"):
        splits.import_paper_tree(_write_tree(tmp_path, bad), [data], tmp_path / "out", verbose=False)
    splits.import_paper_tree(_write_tree(tmp_path, bad), [data], tmp_path / "out", fraction_folders=False,
                             verbose=False)


def test_import_missing_role_folder(tmp_path: Path, fake: tuple[Path, Path, dict[str, Path]]) -> None:
    _, data, _ = fake
    text = MINI_TREE.replace("multicoil_val\n", "multicoil_valX\n")
    with pytest.raises(ManifestError, match="'brain_multicoil/multicoil_val' .*not in the listing"):
        splits.import_paper_tree(_write_tree(tmp_path, text), [data], tmp_path / "out", verbose=False)


def test_import_bad_inputs(fake: tuple[Path, Path, dict[str, Path]], tmp_path: Path) -> None:
    tree, data, files = fake
    with pytest.raises(ConfigError, match="does not exist"):
        splits.import_paper_tree(tree, [tmp_path / "nowhere"], tmp_path / "out", verbose=False)
    with pytest.raises(ConfigError, match="does not contain"):
        splits.import_paper_tree(tree, [data], tmp_path / "out", data_root=data / "brain", verbose=False)
    bad = files[MINI["forget"][1]]
    bad.write_bytes(b"\x00" * 64)  # a corrupt volume is named
    with pytest.raises(DataError, match=re.escape(str(bad))):
        splits.import_paper_tree(tree, [data], tmp_path / "out", verbose=False)


def test_load_subsets_refuses_foreign_files(fake: tuple[Path, Path, dict[str, Path]], tmp_path: Path) -> None:
    tree, data, _ = fake
    report = splits.import_paper_tree(tree, [data], tmp_path / "out", verbose=False)
    m = load_manifest(report.manifest, data)
    table = pd.read_csv(report.subsets)
    val_file = m.table.loc[m.table.role == "val", "file"].iloc[0]
    bad = table.copy()
    bad.loc[0, "file"] = val_file
    bad.to_csv(tmp_path / "s1.csv", index=False)
    with pytest.raises(ManifestError, match=re.escape(f"lists {val_file}, which is not a retain volume")):
        splits.load_subsets(tmp_path / "s1.csv", m)
    pd.concat([table, table.iloc[[0]]]).to_csv(tmp_path / "s2.csv", index=False)
    with pytest.raises(ManifestError, match="twice"):
        splits.load_subsets(tmp_path / "s2.csv", m)
    bad = table.copy()
    bad.loc[0, "fraction"] = 1.5
    bad.to_csv(tmp_path / "s3.csv", index=False)
    with pytest.raises(ManifestError, match="outside"):
        splits.load_subsets(tmp_path / "s3.csv", m)
    with pytest.raises(ManifestError, match="missing columns"):
        table.drop(columns="subset").to_csv(tmp_path / "s4.csv", index=False)
        splits.load_subsets(tmp_path / "s4.csv", m)
    with pytest.raises(ManifestError, match="not found"):
        splits.load_subsets(tmp_path / "absent.csv", m)


# ================================================================== draw_split

POOL = {"brain/multicoil_train": 12, "brain/multicoil_val": 8, "knee/multicoil_train": 5, "knee/multicoil_val": 4}
SIZES = dict(n_retain=10, n_forget=3, n_val=3, n_test_brain=4, n_test_knee=3)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fake fastMRI folders: brain AXT2 (+ FLAIR, ignored) train/val, knee train/val, a single-coil copy."""
    root = tmp_path_factory.mktemp("pool")
    seed = 0
    for folder, n in POOL.items():
        for i in range(n):
            val = folder.endswith("val")
            name = (f"file_brain_AXT2_20{i % 3}_{9 if val else 2}{i:06d}.h5" if folder.startswith("brain")
                    else f"file{1000000 + 100 * val + i}.h5")
            _vol(root / folder / name, seed)
            seed += 1
    for i in range(3):
        _vol(root / "brain/multicoil_train" / f"file_brain_AXFLAIR_200_60000{i}.h5", 100 + i)
    (root / "knee/singlecoil_val").mkdir()
    (root / "knee/singlecoil_val/file1000100.h5").write_bytes(b"not hdf5")
    (root / "brain/multicoil_test").mkdir()
    _vol(root / "brain/multicoil_test/file_brain_AXT2_200_7000000.h5", 200)
    return root


def _kind(p: Path) -> tuple[str, str]:
    return (splits.organ_of(p.name) or "?", p.parent.name.split("_")[-1])


def test_draw_split_shape(pool: Path, tmp_path: Path) -> None:
    fr = (0.1, 0.5, 1.0)
    out = splits.draw_split([pool / "brain", pool / "knee"], tmp_path, seed=3, fractions=fr, **SIZES)
    assert out.manifest == tmp_path / "drawn_seed3.csv" and out.subsets == tmp_path / "drawn_seed3_subsets.csv"
    assert out.data_root == pool.resolve()
    m = load_manifest(out.manifest, out.data_root, require_roles=ROLES)
    expected = {"retain": ("brain", "train"), "forget": ("knee", "train"), "val": ("brain", "val"),
                "test_brain": ("brain", "val"), "test_knee": ("knee", "val")}
    for role, n in zip(ROLES, SIZES.values()):
        files = m.files(role)
        assert len(files) == n
        assert {_kind(p) for p in files} == {expected[role]}
        assert all("AXT2" in p.name for p in files if expected[role][0] == "brain")
    names = [p.name for r in ROLES for p in m.files(r)]
    assert len(names) == len(set(names))  # roles are disjoint
    subsets = splits.load_subsets(out.subsets, m)
    assert {k: len(v) for k, v in subsets.items()} == {"10pct": 1, "50pct": 5, "100pct": 10}
    for f in fr:
        assert subsets[splits.subset_name(f)] == m.subset("retain", f, splits.subset_seed(3, f))


def test_draw_split_deterministic(pool: Path, tmp_path: Path) -> None:
    a = splits.draw_split([pool], tmp_path / "a", seed=1, **SIZES)
    b = splits.draw_split([pool / "knee", pool / "brain"], tmp_path / "b", seed=1, data_root=pool, **SIZES)
    assert a.manifest.read_bytes() == b.manifest.read_bytes()
    assert a.subsets.read_bytes() == b.subsets.read_bytes()
    c = splits.draw_split([pool], tmp_path / "c", seed=2, **SIZES)
    ta, tc = pd.read_csv(a.manifest), pd.read_csv(c.manifest)
    assert set(ta.file[ta.role == "val"]) != set(tc.file[tc.role == "val"])
    # growing one role does not reshuffle the others (independent streams per kind)
    d = splits.draw_split([pool], tmp_path / "d", seed=1, **{**SIZES, "n_forget": 4})
    td = pd.read_csv(d.manifest)
    for role in ("retain", "val", "test_brain", "test_knee"):
        assert list(ta.file[ta.role == role]) == list(td.file[td.role == role])


@pytest.mark.parametrize("key,need,found,what", [
    ("n_retain", 13, 12, "brain AXT2 train"), ("n_forget", 6, 5, "knee train"),
    ("n_val", 5, 8, "brain AXT2 val"), ("n_test_knee", 5, 4, "knee val"),
])
def test_draw_split_not_enough(pool: Path, tmp_path: Path, key: str, need: int, found: int, what: str) -> None:
    sizes = {**SIZES, key: need}
    total = need + (sizes["n_test_brain"] if key == "n_val" else 0)
    with pytest.raises(ManifestError, match=rf"not enough {what}.*found {found}, need {total}"):
        splits.draw_split([pool], tmp_path, **sizes)
    assert not list(tmp_path.glob("*.csv"))


@pytest.mark.parametrize("kwargs,match", [
    ({"fractions": (0.0,)}, "fraction"), ({"fractions": (float("nan"),)}, "fraction"),
    ({"fractions": (1.5,)}, "fraction"), ({"n_retain": 0}, "n_retain"), ({"n_val": -1}, "n_val"),
])
def test_draw_split_bad_arguments(pool: Path, tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        splits.draw_split([pool], tmp_path, **{**SIZES, **kwargs})


def test_draw_split_acquisition_mismatch(tmp_path: Path) -> None:
    root = tmp_path / "d"
    for i in range(2):
        _vol(root / "brain/multicoil_train" / f"file_brain_AXT2_200_{i}.h5", i,
             acquisition="AXFLAIR" if i else "AXT2")
        _vol(root / "brain/multicoil_val" / f"file_brain_AXT2_201_{i}.h5", 10 + i)
        _vol(root / "knee/multicoil_train" / f"file100000{i}.h5", 20 + i)
        _vol(root / "knee/multicoil_val" / f"file100010{i}.h5", 30 + i)
    with pytest.raises(DataError, match=r"file_brain_AXT2_200_1\.h5: acquisition attribute is 'AXFLAIR'"):
        splits.draw_split([root], tmp_path / "out", n_retain=2, n_forget=1, n_val=1, n_test_brain=1,
                          n_test_knee=1)


def test_draw_split_name_in_train_and_val(pool: Path, tmp_path: Path) -> None:
    root = tmp_path / "d"
    shutil.copytree(pool, root)
    shutil.copy(next((root / "knee/multicoil_train").glob("*.h5")), root / "knee/multicoil_val")
    with pytest.raises(ManifestError, match="lies in both a train and a val folder"):
        splits.draw_split([root], tmp_path / "out", **SIZES)


# ================================================================== command-line functions

def split_cli(args: list[str]) -> int:
    """``python -m mriunlearn split ARGS``: the exit status."""
    return cli.main(["split", *args])


def test_cli_functions(pool: Path, fake: tuple[Path, Path, dict[str, Path]], tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    args = ["draw", str(pool), "--out", str(tmp_path / "m"), "--seed", "5", "--n-retain", "4", "--n-forget", "2",
            "--n-val", "2", "--n-test-brain", "2", "--n-test-knee", "2", "--fractions", "0.5"]
    assert split_cli(args) == 0
    assert (tmp_path / "m" / "drawn_seed5.csv").is_file()
    assert "drawn_seed5_subsets.csv" in capsys.readouterr().out
    tree, data, files = fake
    assert split_cli(["import", str(data), "--tree", str(tree), "--out", str(tmp_path / "p")]) == 0
    files[MINI["val"][0]].unlink()
    assert split_cli(["import", str(data), "--tree", str(tree), "--out", str(tmp_path / "p"),
                      "--name", "partial", "--no-subsets"]) == 1
    assert (tmp_path / "p" / "partial.csv").is_file() and not (tmp_path / "p" / "partial_subsets.csv").exists()


# ================================================================== existing manifests are kept

def test_draw_and_import_refuse_to_overwrite_a_manifest_without_force(
        pool: Path, fake: tuple[Path, Path, dict[str, Path]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    tree, data, _ = fake
    out = tmp_path / "m"
    report = splits.import_paper_tree(tree, [data], out, verbose=False)  # the authors' split, as paper.csv
    imported = report.manifest.read_bytes()
    with pytest.raises(ManifestError, match=r"paper\.csv already exists.*--force"):
        splits.draw_split([pool], out, seed=0, name="paper", **SIZES)
    assert report.manifest.read_bytes() == imported  # the imported split is untouched
    with pytest.raises(ManifestError, match="already exists"):
        splits.import_paper_tree(tree, [data], out, verbose=False)
    drawn = ["draw", str(pool), "--out", str(out), "--name", "paper", "--seed", "0", "--n-retain", "4",
             "--n-forget", "2", "--n-val", "2", "--n-test-brain", "2", "--n-test-knee", "2"]
    assert split_cli(drawn) == 2  # the package's errors exit with status 2 and one line on stderr
    assert "already exists" in capsys.readouterr().err
    assert report.manifest.read_bytes() == imported
    assert split_cli([*drawn, "--force"]) == 0  # an explicit flag replaces it
    assert report.manifest.read_bytes() != imported
    assert split_cli(["import", str(data), "--tree", str(tree), "--out", str(out), "--force"]) == 0
    assert report.manifest.read_bytes() == imported


def test_overwrite_check_comes_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "m"
    out.mkdir()
    (out / "drawn_seed0_subsets.csv").write_text("subset,fraction,file\n")  # a subsets file alone counts too
    with pytest.raises(ManifestError, match="drawn_seed0_subsets.csv already exists"):
        splits.draw_split([tmp_path / "no-such-folder"], out, seed=0, **SIZES)
