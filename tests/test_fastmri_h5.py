"""Bad-input tests of the fastMRI HDF5 layer: every problem is a DataError that names the file."""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from mriunlearn.errors import DataError
from mriunlearn.fastmri_h5 import (
    HEADER_KEY, KSPACE_KEY, TARGET_KEY, inspect_volume, load_volume, make_ismrmrd_header, write_volume,
)

S, C, H, W = 2, 3, 16, 12  # slices, coils, k-space grid
RH, RW = 8, 8  # target (recon) size


def _arrays(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """kspace complex (S, C, H, W) and target float (S, RH, RW)."""
    rng = np.random.default_rng(seed)
    kspace = (rng.standard_normal((S, C, H, W)) + 1j * rng.standard_normal((S, C, H, W))).astype(np.complex64)
    target = rng.random((S, RH, RW)).astype(np.float32) + 0.1
    return kspace, target


def _valid(path: Path, seed: int = 0) -> Path:
    kspace, target = _arrays(seed)
    write_volume(path, kspace, target, patient_id="p0", acquisition="AXT2")
    return path


def _raw(path: Path, *, kspace=None, target=None, header: object = "default", attrs=None,
         drop: tuple[str, ...] = ()) -> Path:
    """Write an HDF5 file by hand (bypassing write_volume's checks) with the given pieces."""
    k0, t0 = _arrays()
    kspace = k0 if kspace is None else kspace
    target = t0 if target is None else target
    if isinstance(header, str) and header == "default":
        header = make_ismrmrd_header((H, W), (RH, RW), C, S)
    attrs = {"max": float(np.max(t0)), "norm": 1.0, "acquisition": "AXT2", "patient_id": "p0"} \
        if attrs is None else attrs
    with h5py.File(path, "w") as hf:
        if KSPACE_KEY not in drop:
            hf.create_dataset(KSPACE_KEY, data=kspace)
        if TARGET_KEY not in drop:
            hf.create_dataset(TARGET_KEY, data=target)
        if HEADER_KEY not in drop and header is not None:
            hf.create_dataset(HEADER_KEY, data=header)
        for k, v in attrs.items():
            hf.attrs[k] = v
    return path


def _assert_names(exc: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    msg = str(exc.value)
    assert str(path) in msg, msg
    for w in words:
        assert w.lower() in msg.lower(), msg


# ------------------------------------------------------------------ valid round trip

def test_roundtrip_and_info(tmp_path: Path) -> None:
    path = _valid(tmp_path / "v.h5")
    kspace, target = _arrays()
    k, t, info = load_volume(path)
    np.testing.assert_array_equal(k, kspace)
    np.testing.assert_array_equal(t, target)
    assert (info.num_slices, info.num_coils, info.kspace_shape, info.recon_size) == (S, C, (H, W), (RH, RW))
    assert info.padding == (0, W)
    assert info.attrs["acquisition"] == "AXT2" and info.attrs["patient_id"] == "p0"
    assert info.attrs["max"] == pytest.approx(float(target.max()))


# ------------------------------------------------------------------ unreadable files

@pytest.mark.parametrize("keep", [0.05, 0.5, 0.9, 0.999])
def test_truncated_file(tmp_path: Path, keep: float) -> None:
    path = _valid(tmp_path / "trunc.h5")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataError) as exc:
        load_volume(path)
    _assert_names(exc, path)
    with pytest.raises(DataError):
        inspect_volume(path)


def test_garbage_bytes(tmp_path: Path) -> None:
    path = tmp_path / "garbage.h5"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path, "HDF5")


def test_damaged_superblock(tmp_path: Path) -> None:
    path = _valid(tmp_path / "damaged.h5")
    data = bytearray(path.read_bytes())
    data[:8] = b"\x00" * 8  # the HDF5 signature
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as exc:
        load_volume(path)
    _assert_names(exc, path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.h5"
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path, "not found")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    path = tmp_path / "folder.h5"
    path.mkdir()
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path)


# ------------------------------------------------------------------ invalid content

@pytest.mark.parametrize("key", [KSPACE_KEY, TARGET_KEY])
def test_missing_key(tmp_path: Path, key: str) -> None:
    path = _raw(tmp_path / "nokey.h5", drop=(key,))
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path, key)


@pytest.mark.parametrize("shape", [(S, H, W), (S, C, H, W, 1), (H,)])
def test_kspace_wrong_ndim(tmp_path: Path, shape: tuple[int, ...]) -> None:
    path = _raw(tmp_path / "ndim.h5", kspace=np.ones(shape, np.complex64))
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path, "4-D")


def test_kspace_not_complex(tmp_path: Path) -> None:
    path = _raw(tmp_path / "real.h5", kspace=np.ones((S, C, H, W), np.float32))
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path, "complex")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_kspace(tmp_path: Path, bad: float) -> None:
    kspace, _ = _arrays()
    kspace[1, 2, 3, 4] = bad
    path = _raw(tmp_path / "nan.h5", kspace=kspace)
    inspect_volume(path)  # structure is fine: only a full read sees the values
    with pytest.raises(DataError) as exc:
        load_volume(path)
    _assert_names(exc, path, "NaN or Inf", "slices [1]")


def test_nonfinite_target(tmp_path: Path) -> None:
    _, target = _arrays()
    target[0, 0, 0] = np.nan
    path = _raw(tmp_path / "nant.h5", target=target)
    with pytest.raises(DataError) as exc:
        load_volume(path)
    _assert_names(exc, path, TARGET_KEY)


def test_zero_coils(tmp_path: Path) -> None:
    path = _raw(tmp_path / "nocoil.h5", kspace=np.zeros((S, 0, H, W), np.complex64))
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path, "zero coils")


def test_zero_slices(tmp_path: Path) -> None:
    path = _raw(tmp_path / "noslice.h5", kspace=np.zeros((0, C, H, W), np.complex64),
                target=np.zeros((0, RH, RW), np.float32))
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path, "zero slices")


@pytest.mark.parametrize("tshape", [(S, H + 1, RW), (S, RH, W + 2)])
def test_target_larger_than_grid(tmp_path: Path, tshape: tuple[int, int, int]) -> None:
    path = _raw(tmp_path / "big.h5", target=np.ones(tshape, np.float32))
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path, "larger than the k-space grid")


def test_target_slice_count_mismatch(tmp_path: Path) -> None:
    path = _raw(tmp_path / "slices.h5", target=np.ones((S + 1, RH, RW), np.float32))
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path, TARGET_KEY)


def test_missing_max_attr(tmp_path: Path) -> None:
    path = _raw(tmp_path / "nomax.h5", attrs={"norm": 1.0, "acquisition": "AXT2", "patient_id": "p"})
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path, "'max'")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0, -1.0, "big"])
def test_max_attr_not_a_finite_positive_number(tmp_path: Path, value: object) -> None:
    path = _raw(tmp_path / "badmax.h5", attrs={"max": value, "norm": 1.0, "acquisition": "AXT2", "patient_id": "p"})
    with pytest.raises(DataError, match="not a finite positive number") as exc:
        inspect_volume(path)
    _assert_names(exc, path, "'max'")


@pytest.mark.parametrize("header", ["<ismrmrdHeader><encoding>", "not xml at all", ""])
def test_invalid_xml_header(tmp_path: Path, header: str) -> None:
    path = _raw(tmp_path / "xml.h5", header=header)
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path, "ismrmrd_header")


def test_header_not_a_string(tmp_path: Path) -> None:
    path = _raw(tmp_path / "xmlnum.h5", header=np.arange(3))
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path, "ismrmrd_header")


def test_header_lacking_fields(tmp_path: Path) -> None:
    path = _raw(tmp_path / "xmlshort.h5", header="<ismrmrdHeader><encoding/></ismrmrdHeader>")
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path, "lacks")


def test_header_with_or_without_the_ismrmrd_namespace_gives_the_same_padding(tmp_path: Path) -> None:
    header = make_ismrmrd_header((H, W), (RH, RW), C, S, pe_limits=(W - 5, W // 2 - 1))
    plain = header.replace(' xmlns="http://www.ismrm.org/ISMRMRD"', "", 1)
    assert plain != header
    with_ns = inspect_volume(_raw(tmp_path / "ns.h5", header=header)).padding
    assert inspect_volume(_raw(tmp_path / "plain.h5", header=plain)).padding == with_ns != (0, W)


def test_header_non_numeric(tmp_path: Path) -> None:
    header = make_ismrmrd_header((H, W), (RH, RW), C, S).replace(f"<y>{W}</y>", "<y>twelve</y>", 1)
    path = _raw(tmp_path / "xmlnan.h5", header=header)
    with pytest.raises(DataError) as exc:
        inspect_volume(path)
    _assert_names(exc, path, "not a number")


# ------------------------------------------------------------------ write_volume

@pytest.mark.parametrize("case", ["kspace_3d", "target_2d", "slices", "zero_coils", "too_big", "nan", "inf_target"])
def test_write_refuses_bad_arrays(tmp_path: Path, case: str) -> None:
    kspace, target = _arrays()
    if case == "kspace_3d":
        kspace = kspace[0]
    elif case == "target_2d":
        target = target[0]
    elif case == "slices":
        target = target[:1]
    elif case == "zero_coils":
        kspace = kspace[:, :0]
    elif case == "too_big":
        target = np.ones((S, H + 1, W), np.float32)
    elif case == "nan":
        kspace[0, 0, 0, 0] = np.nan
    elif case == "inf_target":
        target[0, 0, 0] = np.inf
    path = tmp_path / "out.h5"
    with pytest.raises(DataError) as exc:
        write_volume(path, kspace, target, patient_id="p", acquisition="AXT2")
    _assert_names(exc, path)
    assert list(tmp_path.iterdir()) == []


def test_write_failure_leaves_nothing(tmp_path: Path) -> None:
    kspace, target = _arrays()
    path = tmp_path / "sub" / "vol.h5"
    # an attribute h5py cannot store: fails after the datasets were written
    with pytest.raises(TypeError):
        write_volume(path, kspace, target, patient_id="p", acquisition=object())  # type: ignore[arg-type]
    assert list(path.parent.iterdir()) == []


def test_interrupt_mid_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kspace, target = _arrays()
    path = _valid(tmp_path / "vol.h5", seed=1)  # an older version of the file
    before = path.read_bytes()

    def interrupt(self, name, *args, **kwargs):  # noqa: ANN001
        raise KeyboardInterrupt

    monkeypatch.setattr(h5py.AttributeManager, "__setitem__", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_volume(path, kspace, target, patient_id="p", acquisition="AXT2")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vol.h5"]  # no temp file left behind
    assert path.read_bytes() == before  # the old file is intact
    inspect_volume(path)


def test_same_inputs_byte_identical(tmp_path: Path) -> None:
    a = _valid(tmp_path / "a.h5")
    time.sleep(1.1)  # HDF5 timestamps have a one-second resolution: make a tracked time differ
    b = _valid(tmp_path / "b.h5")
    assert a.read_bytes() == b.read_bytes()
    c = _valid(tmp_path / "c.h5", seed=1)
    assert a.read_bytes() != c.read_bytes()


# ------------------------------------------------------------------ fastMRI compatibility

def test_fastmri_slicedataset_varnet_transform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fastmri_data = pytest.importorskip("fastmri.data")
    from fastmri.data.subsample import EquiSpacedMaskFunc
    from fastmri.data.transforms import VarNetDataTransform

    root = tmp_path / "multicoil_val"
    root.mkdir()
    _valid(root / "file_brain_AXT2_000_0000001.h5")
    _valid(root / "file1000001.h5", seed=3)
    monkeypatch.chdir(tmp_path)  # in case fastmri writes its cache into the cwd anyway
    cache = tmp_path / "cache" / "dataset_cache.pkl"
    cache.parent.mkdir()
    ds = fastmri_data.SliceDataset(
        root, challenge="multicoil", dataset_cache_file=cache,
        transform=VarNetDataTransform(EquiSpacedMaskFunc([0.25], [2]), use_seed=True),
    )
    assert len(ds) == 2 * S
    kspace, target = _arrays()
    for i in range(len(ds)):
        sample = ds[i]
        fname, slice_num = sample.fname, sample.slice_num
        info = inspect_volume(root / fname)
        assert tuple(sample.masked_kspace.shape) == (C, H, W, 2)
        assert tuple(sample.mask.shape) == (1, 1, W, 1)
        assert tuple(sample.target.shape) == (RH, RW)
        assert tuple(sample.crop_size) == info.recon_size
        assert sample.max_value == pytest.approx(info.attrs["max"])
        if fname.startswith("file_brain"):
            np.testing.assert_allclose(sample.target.numpy(), target[slice_num])
            masked = sample.masked_kspace.numpy()
            keep = sample.mask.numpy().reshape(W).astype(bool)
            full = np.stack([kspace[slice_num].real, kspace[slice_num].imag], -1)
            np.testing.assert_allclose(masked[:, :, keep], full[:, :, keep])
            assert np.all(masked[:, :, ~keep] == 0)
    assert not (tmp_path / "dataset_cache.pkl").exists()


# ------------------------------------------------------------------ fastMRI-shaped files

def test_fastmri_like_files_have_real_shapes_and_fastmri_metadata(fastmri_like, tmp_path: Path) -> None:
    """The test generator writes what fastMRI reads: its SliceDataset derives the same padding
    and recon size from our headers as inspect_volume, and the knee's zero edges match them."""
    from fastmri.data import SliceDataset
    from fastmri_like import SPECS

    root, files, _ = fastmri_like
    for spec in SPECS:
        info = inspect_volume(files[spec.name])
        assert (info.num_slices, info.num_coils, info.kspace_shape, info.recon_size) == \
            (spec.slices, spec.coils, spec.kspace_hw, spec.target_hw)
        assert info.padding == spec.padding
        assert info.attrs["acquisition"] == spec.acquisition
    folders = sorted({s.folder for s in SPECS})
    for folder in folders:
        ds = SliceDataset(root / folder, challenge="multicoil",
                          dataset_cache_file=tmp_path / f"{folder}.pkl")
        for fname, _, meta in ds.raw_samples:
            info = inspect_volume(fname)
            assert (meta["padding_left"], meta["padding_right"]) == info.padding
            assert tuple(meta["recon_size"][:2]) == info.recon_size
    knee = inspect_volume(files["file1000001.h5"])
    assert knee.padding == (18, 351)  # 333 acquired of 368 columns
    with h5py.File(files["file1000001.h5"]) as hf:
        col_energy = np.abs(hf[KSPACE_KEY][0]).sum(axis=(0, 1))  # (W,)
    assert (col_energy[:18] == 0).all() and (col_energy[351:] == 0).all()
    assert (col_energy[18:351] > 0).all()


def test_narrow_volume_uses_fastmris_square_crop(fastmri_like, tmp_path: Path) -> None:
    _, files, _ = fastmri_like
    narrow = inspect_volume(files["file_brain_AXT2_201_2010294.h5"])
    assert narrow.kspace_shape == (640, 300) and narrow.recon_size == (320, 320)
    assert narrow.crop_size == (300, 300)
    assert inspect_volume(files["file_brain_AXT2_209_2090339.h5"]).crop_size == (320, 320)
    # wider than the grid and too short for the (W, W) crop: still refused
    kspace, _ = _arrays()
    with pytest.raises(DataError, match="larger than the k-space grid"):
        write_volume(tmp_path / "bad.h5", kspace, np.ones((S, W - 1, W + 1), np.float32),
                     patient_id="p", acquisition="AXT2")
    write_volume(tmp_path / "ok.h5", kspace, np.ones((S, W, W + 1), np.float32), patient_id="p",
                 acquisition="AXT2")
    assert inspect_volume(tmp_path / "ok.h5").crop_size == (W, W)


def test_target_taller_than_the_readout_is_refused_even_if_wider(tmp_path: Path) -> None:
    kspace, _ = _arrays()  # grid (16, 12)
    with pytest.raises(DataError, match="larger than the k-space grid"):
        write_volume(tmp_path / "tall.h5", kspace, np.ones((S, H + 1, W + 1), np.float32),
                     patient_id="p", acquisition="AXT2")
