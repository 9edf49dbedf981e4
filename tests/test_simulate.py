"""Tests of the embedded simulated dataset (mriunlearn.simulate)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
import torch

import fastmri
from fastmri.data import SliceDataset
from fastmri.data.subsample import EquiSpacedMaskFunc
from fastmri.data.transforms import VarNetDataTransform
from mriunlearn import paths
from mriunlearn.atomic import sha256_file
from mriunlearn.errors import ConfigError, ManifestError
from mriunlearn.fastmri_h5 import inspect_volume, load_volume
from mriunlearn.manifest import load_manifest, stand_ins
from mriunlearn.simulate import SENS_KEY, DatasetSpec, build_dataset, ensure_dataset, simulate_multicoil
from mriunlearn.simulate import build as build_mod
from mriunlearn.simulate.build import build_record_path
from mriunlearn.simulate.brain import BRAIN_LABELS, brain_volume, sample_brain_params
from mriunlearn.physics import fft2c, ifft2c, rss, sense_g_factor
from mriunlearn.simulate.coils import sample_coil_geometry, sensitivity_maps
from mriunlearn.simulate.knee import KNEE_LABELS, knee_volume

SMOKE = DatasetSpec.smoke()


def _tiny(**changes) -> DatasetSpec:
    """One brain retain and one knee forget volume of the smoke size."""
    base = dict(brain_retain=1, brain_val=0, brain_test=0, knee_forget=1, knee_test=0)
    base.update(changes)
    return dataclasses.replace(SMOKE, **base)


@pytest.fixture(scope="module")
def smoke_build(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("smoke")
    manifest = build_dataset(out, SMOKE)
    return out, manifest


def _no_temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- specs


def test_default_spec_counts_and_ratio():
    spec = DatasetSpec.default()
    assert spec.image_size == (96, 96) and spec.num_coils == 16 and spec.slices_per_volume == 4
    counts = {r: spec.count(r) for r in ("retain", "forget", "val", "test_brain", "test_knee")}
    assert counts == {"retain": 50, "forget": 5, "val": 4, "test_brain": 8, "test_knee": 8}
    retain_slices = counts["retain"] * spec.slices_per_volume
    forget_slices = counts["forget"] * spec.slices_per_volume
    assert retain_slices == 10 * forget_slices
    plan = spec.plan()
    assert len(plan) == 75 and len({p.file for p in plan}) == 75
    assert {p.organ for p in plan if p.role in ("retain", "val", "test_brain")} == {"brain"}
    assert {p.organ for p in plan if p.role in ("forget", "test_knee")} == {"knee"}
    assert plan[0].file == "brain/file_brain_AXT2_sim_0000.h5"
    assert plan[-1].file == "knee/file_knee_PD_sim_0012.h5"


def test_smoke_spec_and_validation():
    assert SMOKE.image_size == (32, 32) and SMOKE.num_coils == 2 and SMOKE.slices_per_volume == 2
    assert [SMOKE.count(r) for r in ("retain", "forget", "val", "test_brain", "test_knee")] == [4, 2, 1, 2, 2]
    with pytest.raises(ConfigError, match="num_coils"):
        DatasetSpec(num_coils=0)
    with pytest.raises(ConfigError, match="image_size"):
        DatasetSpec(image_size=(4, 4))
    with pytest.raises(ConfigError, match="nope"):
        ensure_dataset("nope")
    with pytest.raises(ConfigError, match="bogus"):
        SMOKE.count("bogus")


# ---------------------------------------------------------------- coils


def test_fft_matches_fastmri_convention():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 10, 12)) + 1j * rng.standard_normal((3, 10, 12))).astype(np.complex64)
    ours = fft2c(x)
    ref = torch.view_as_complex(fastmri.fft2c(torch.view_as_real(torch.from_numpy(x)))).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ifft2c(ours), x, rtol=1e-4, atol=1e-5)


def test_sensitivities_normalised_and_smooth():
    geom = sample_coil_geometry(6, np.random.default_rng(1))
    maps = sensitivity_maps(geom, (40, 48), z=0.1)
    assert maps.shape == (6, 40, 48) and maps.dtype == np.complex64
    np.testing.assert_allclose(np.sum(np.abs(maps) ** 2, axis=0), 1.0, rtol=1e-5)
    # coils see different regions: each coil's maximum is elsewhere
    peaks = {np.unravel_index(np.argmax(np.abs(m)), m.shape) for m in maps}
    assert len(peaks) > 1
    # smooth: neighbouring pixels differ little
    assert np.abs(np.diff(maps, axis=-1)).max() < 0.2


def test_simulate_multicoil_shapes_and_noise_free_target():
    rng = np.random.default_rng(2)
    image = np.zeros((32, 32), np.float32)
    image[8:24, 10:22] = 1.0
    kspace, target, sens = simulate_multicoil(image, 3, rng, snr_db=300.0)
    assert kspace.shape == (3, 32, 32) and kspace.dtype == np.complex64
    assert target.shape == (32, 32) and target.dtype == np.float32
    assert sens.shape == (3, 32, 32) and sens.dtype == np.complex64
    np.testing.assert_allclose(target, image, atol=1e-5)  # sum |S|^2 = 1: RSS = |object|
    np.testing.assert_allclose(rss(ifft2c(kspace)), target, rtol=1e-5, atol=1e-7)
    noisy_k, noisy_t, _ = simulate_multicoil(image, 3, np.random.default_rng(2), snr_db=20.0)
    assert np.abs(noisy_t - image)[image == 0].mean() > 0.01  # noise shows in the background
    with pytest.raises(ConfigError, match="2-D"):
        simulate_multicoil(np.zeros((2, 8, 8)), 2, rng, 30.0)


# ---------------------------------------------------------------- anatomy


def test_brain_contrast_is_t2_like():
    images, labels = brain_volume(np.random.default_rng(3), 3, (64, 64))
    assert images.shape == labels.shape == (3, 64, 64) and images.dtype == np.float32
    mean = {name: images[labels == code].mean() for code, name in BRAIN_LABELS.items() if (labels == code).any()}
    assert mean["csf"] > mean["grey_matter"] > mean["white_matter"]
    assert mean["fat"] > mean["white_matter"] > mean["bone"]
    assert mean["background"] < 0.05 * mean["csf"]
    for name in ("csf", "grey_matter", "white_matter", "bone", "fat"):
        assert name in mean, f"label {name} missing from the brain slice"


def test_brain_subjects_and_levels_differ():
    a = sample_brain_params(np.random.default_rng(4), 4)
    b = sample_brain_params(np.random.default_rng(5), 4)
    assert not np.allclose(a.z_levels, b.z_levels)
    assert np.all(np.diff(a.z_levels) > 0)
    ia, _ = brain_volume(np.random.default_rng(4), 4, (32, 32))
    ib, _ = brain_volume(np.random.default_rng(5), 4, (32, 32))
    assert np.abs(ia - ib).mean() > 0.02
    assert np.abs(ia[0] - ia[-1]).mean() > 0.01  # slices of one subject differ


def test_knee_has_required_tissues_and_pd_contrast():
    seen: set[str] = set()
    means: dict[str, list[float]] = {}
    for seed in range(3):
        images, labels = knee_volume(np.random.default_rng(seed), 4, (128, 128))
        assert images.shape == labels.shape == (4, 128, 128)
        for code, name in KNEE_LABELS.items():
            if (labels == code).any():
                seen.add(name)
                means.setdefault(name, []).append(float(images[labels == code].mean()))
    required = {"skin", "fat", "muscle", "cortical_bone", "marrow", "cartilage", "fluid", "meniscus",
                "tendon_ligament"}
    assert required <= seen, f"missing tissues: {required - seen}"
    m = {k: np.mean(v) for k, v in means.items()}
    assert m["fat"] > m["cartilage"] > m["muscle"] > m["cortical_bone"]
    assert m["marrow"] > m["muscle"] and m["fluid"] > m["cartilage"]
    a, _ = knee_volume(np.random.default_rng(10), 2, (32, 32))
    b, _ = knee_volume(np.random.default_rng(11), 2, (32, 32))
    assert np.abs(a - b).mean() > 0.02


# ---------------------------------------------------------------- build


def test_smoke_build_round_trip(smoke_build):
    out, manifest_path = smoke_build
    manifest = load_manifest(manifest_path, out, verify_hashes=True,
                             require_roles=("retain", "forget", "val", "test_brain", "test_knee"))
    for role in ("retain", "forget", "val", "test_brain", "test_knee"):
        assert len(manifest.files(role)) == SMOKE.count(role)
        assert manifest.num_slices(role) == SMOKE.count(role) * SMOKE.slices_per_volume
    assert not _no_temp_files(out)
    patient_ids = set()
    for path in manifest.table.path:
        kspace, target, info = load_volume(path)
        s, c, (h, w) = SMOKE.slices_per_volume, SMOKE.num_coils, SMOKE.image_size
        assert kspace.shape == (s, c, h, w) and kspace.dtype == np.complex64
        assert target.shape == (s, h, w) and target.dtype == np.float32
        assert info.kspace_shape == (h, w) and info.recon_size == (h, w) and info.padding == (0, w)
        coil_imgs = fastmri.ifft2c(torch.view_as_real(torch.from_numpy(kspace)))
        recon = fastmri.rss(fastmri.complex_abs(coil_imgs), dim=1).numpy()
        np.testing.assert_allclose(recon, target, rtol=1e-4, atol=1e-4 * target.max())
        assert 1e-4 < info.attrs["max"] < 2e-3  # fastMRI-like intensity scale
        organ = "brain" if "brain" in Path(path).name else "knee"
        assert info.attrs["acquisition"] == {"brain": "AXT2", "knee": "CORPD_FBK"}[organ]
        patient_ids.add(info.attrs["patient_id"])
        with h5py.File(path, "r") as hf:
            sens = hf[SENS_KEY][()]
        assert sens.shape == (s, c, h, w) and sens.dtype == np.complex64
        np.testing.assert_allclose(np.sum(np.abs(sens) ** 2, axis=1), 1.0, rtol=1e-4)
    assert len(patient_ids) == len(manifest.table)


def test_fastmri_slice_dataset_reads_built_files(smoke_build):
    out, _ = smoke_build
    transform = VarNetDataTransform(EquiSpacedMaskFunc([0.08], [4]), use_seed=True)
    ds = SliceDataset(out / "brain", challenge="multicoil", transform=transform)
    assert len(ds) == 7 * SMOKE.slices_per_volume
    sample = ds[0]
    h, w = SMOKE.image_size
    assert tuple(sample.masked_kspace.shape) == (SMOKE.num_coils, h, w, 2)
    assert tuple(sample.target.shape) == (h, w)
    assert sample.crop_size == (h, w)
    with h5py.File(out / "brain" / sample.fname, "r") as hf:
        assert sample.max_value == pytest.approx(float(hf.attrs["max"]))


def test_same_seed_identical_bytes_different_seed_differs(tmp_path, smoke_build):
    out, manifest = smoke_build
    again = build_dataset(tmp_path / "again", SMOKE)
    assert again.read_bytes() == manifest.read_bytes()
    # a volume does not depend on how many volumes the spec asks for
    tiny = pd.read_csv(build_dataset(tmp_path / "tiny", _tiny()))
    full = pd.read_csv(manifest).set_index("file")
    for row in tiny.itertuples():
        assert row.sha256 == full.loc[row.file, "sha256"]
    other = pd.read_csv(build_dataset(tmp_path / "other", _tiny(seed=1)))
    assert set(other.sha256).isdisjoint(set(full.sha256))


def test_interrupted_build_leaves_no_partial_file_nor_manifest(tmp_path, monkeypatch):
    calls = {"n": 0}
    original = build_mod.generate_volume

    def failing(spec, organ, index):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash")
        return original(spec, organ, index)

    monkeypatch.setattr(build_mod, "generate_volume", failing)
    out = tmp_path / "data"
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_dataset(out, SMOKE)
    assert not (out / "manifest.csv").exists()
    assert not _no_temp_files(out)
    written = sorted(out.rglob("*.h5"))
    assert len(written) == 2
    for path in written:
        load_volume(path)

    # a crash while the file is being written (after the fastMRI part, before sens_maps)
    real_file = h5py.File

    def crash_on_append(name, mode="r", *args, **kwargs):
        if mode == "a":
            assert Path(name).exists()  # the fastMRI part is on disk under a temporary name
            raise KeyboardInterrupt
        return real_file(name, mode, *args, **kwargs)

    monkeypatch.setattr(build_mod, "generate_volume", original)
    monkeypatch.setattr(h5py, "File", crash_on_append)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(tmp_path / "data2", SMOKE)
    assert not _no_temp_files(tmp_path / "data2")
    assert not list((tmp_path / "data2").rglob("*.h5"))
    assert not (tmp_path / "data2" / "manifest.csv").exists()


def test_ensure_dataset_rebuilds_changed_file_only(tmp_path):
    data, manifest = tmp_path / "smoke", tmp_path / "manifests" / "smoke.csv"
    assert ensure_dataset("smoke", data_dir=data, manifest_path=manifest) == manifest
    table = pd.read_csv(manifest)
    victim, bystander = data / table.file[0], data / table.file[1]
    good = victim.read_bytes()
    before = bystander.stat().st_mtime_ns
    victim.write_bytes(good[:-100] + b"\0" * 100)  # damaged copy
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ensure_dataset("smoke", data_dir=data, manifest_path=manifest)
    assert victim.read_bytes() == good
    assert bystander.stat().st_mtime_ns == before  # not rebuilt
    load_manifest(manifest, data, verify_hashes=True)
    # a recorded hash the builder cannot reproduce (another CPU's floating point): rebuilt and warned
    # about; the rebuild stands in for the recorded file, whose hash the manifest keeps
    table.loc[2, "sha256"] = "0" * 64
    table.to_csv(manifest, index=False)
    with pytest.warns(UserWarning, match="stand in for them"):
        ensure_dataset("smoke", data_dir=data, manifest_path=manifest)
    assert pd.read_csv(manifest).sha256[2] == "0" * 64
    assert stand_ins(data) == {table.file[2]: {"recorded": "0" * 64, "local": sha256_file(data / table.file[2])}}
    load_manifest(manifest, data, verify_hashes=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ensure_dataset("smoke", data_dir=data, manifest_path=manifest) == manifest  # current: nothing rebuilt
    # a stand-in answers for the hash it was recorded against only
    table.loc[2, "sha256"] = "1" * 64
    table.to_csv(manifest, index=False)
    with pytest.raises(ManifestError, match="has changed"):
        load_manifest(manifest, data, verify_hashes=True)


def test_a_fresh_build_stands_in_only_for_hashes_of_its_own_settings(tmp_path):
    data, manifest = tmp_path / "smoke", tmp_path / "manifests" / "smoke.csv"
    ensure_dataset("smoke", data_dir=data, manifest_path=manifest)
    assert json.loads(build_record_path(manifest).read_text()) == {"volume_key": SMOKE.volume_key()}
    table = pd.read_csv(manifest)
    table.loc[0, "sha256"] = "0" * 64  # as if recorded on a machine whose floating point differs
    table.to_csv(manifest, index=False)
    shutil.rmtree(data)  # a fresh clone: the manifest and its build record, no volumes
    with pytest.warns(UserWarning, match="stand in for them"):
        ensure_dataset("smoke", data_dir=data, manifest_path=manifest)
    assert pd.read_csv(manifest).sha256[0] == "0" * 64 and list(stand_ins(data)) == [table.file[0]]
    # the record names other settings (the spec changed): the new hashes replace the old, silently
    build_record_path(manifest).write_text(json.dumps({"volume_key": "other settings"}))
    shutil.rmtree(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ensure_dataset("smoke", data_dir=data, manifest_path=manifest)
    assert pd.read_csv(manifest).sha256[0] == sha256_file(data / table.file[0]) and stand_ins(data) == {}
    assert json.loads(build_record_path(manifest).read_text()) == {"volume_key": SMOKE.volume_key()}


def test_committed_manifests_match_the_builder(smoke_build):
    _, built = smoke_build
    committed_smoke = paths.MANIFESTS_DIR / "smoke.csv"
    if not committed_smoke.exists() or not paths.DEFAULT_MANIFEST.exists():
        pytest.skip("committed manifests not generated yet (run ensure_dataset)")
    assert committed_smoke.read_text() == built.read_text()
    default = pd.read_csv(paths.DEFAULT_MANIFEST)
    plan = DatasetSpec.default().plan()
    assert list(zip(default.file, default.role)) == [(p.file, p.role) for p in plan]
    assert (default.num_slices == 4).all() and default.sha256.str.len().eq(64).all()
    # each build record names the settings of today's spec, so a fresh clone's rebuild stands in for
    # the committed hashes instead of replacing them
    for name, spec in (("smoke", DatasetSpec.smoke()), ("default", DatasetSpec.default())):
        record = build_record_path(paths.MANIFESTS_DIR / f"{name}.csv")
        assert json.loads(record.read_text()) == {"volume_key": spec.volume_key()}, record


def test_simulator_never_calls_blas():
    """The simulated bytes must not depend on the BLAS build: numpy hands ``@``, ``dot`` and a
    whole-array ``linalg.norm`` to OpenBLAS, whose kernels (picked per processor or by
    ``OPENBLAS_CORETYPE``) round differently; with them the same seed built different files on two
    machines (measured: 8 of the 11 smoke volumes differed between the Haswell and the default kernels)."""
    import ast

    import mriunlearn.fastmri_h5
    import mriunlearn.simulate

    blas = {"dot", "vdot", "matmul", "tensordot", "inner", "outer", "einsum", "multi_dot", "solve", "lstsq", "inv"}
    files = [*Path(mriunlearn.simulate.__file__).parent.glob("*.py"), Path(mriunlearn.fastmri_h5.__file__)]
    found = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
                found.append(f"{path.name}:{node.lineno} uses @")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name = node.func.attr
                if name in blas or (name == "norm" and not any(k.arg == "axis" for k in node.keywords)):
                    found.append(f"{path.name}:{node.lineno} calls {name}")
    assert not found, found


def test_ensure_dataset_rebuilds_when_the_spec_changes(tmp_path, monkeypatch):
    """Files and manifest that agree with each other but were built with other settings (the
    spec's coils changed in code) are rebuilt, not served as the new dataset."""
    data, manifest = tmp_path / "smoke", tmp_path / "manifests" / "smoke.csv"
    ensure_dataset("smoke", data_dir=data, manifest_path=manifest)
    with h5py.File(data / pd.read_csv(manifest).file[0], "r") as hf:
        assert hf["kspace"].shape[1] == DatasetSpec.smoke().num_coils
    changed = dataclasses.replace(DatasetSpec.smoke(), num_coils=3)
    monkeypatch.setitem(build_mod.SPECS, "smoke", lambda: changed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # new settings, new bytes: expected, not a warning
        ensure_dataset("smoke", data_dir=data, manifest_path=manifest)
    for f in pd.read_csv(manifest).file:
        with h5py.File(data / f, "r") as hf:
            assert hf["kspace"].shape[1] == 3
    load_manifest(manifest, data, verify_hashes=True)


# --- brain geometry options (field of view, in-plane rotation, phase-encoding direction) -------------

def test_geometry_options_off_leave_the_volume_key_and_the_volumes_unchanged():
    spec = DatasetSpec()
    assert "brain_fov_range_mm" not in spec.volume_key() and "brain_pe_swap" not in spec.volume_key()
    assert build_mod.brain_geometry(spec, 3) == (220.0, 0.0, False)
    geo = dataclasses.replace(SMOKE, brain_fov_range_mm=(150.0, 240.0), brain_rotation_deg=20.0, brain_pe_swap=0.5)
    assert geo.volume_key() != SMOKE.volume_key()
    assert json.loads(geo.volume_key())["brain_fov_range_mm"] == [150.0, 240.0]


def test_geometry_options_reimage_the_same_subject():
    geo = dataclasses.replace(SMOKE, brain_fov_range_mm=(150.0, 240.0), brain_rotation_deg=20.0, brain_pe_swap=0.5)
    draws = [build_mod.brain_geometry(geo, i) for i in range(40)]
    fovs = [d[0] for d in draws]
    assert 150.0 <= min(fovs) < max(fovs) <= 240.0
    assert max(abs(d[1]) for d in draws) <= np.deg2rad(20.0) and len({d[1] for d in draws}) == 40
    assert 5 < sum(d[2] for d in draws) < 35
    assert build_mod.brain_geometry(geo, 7) == build_mod.brain_geometry(geo, 7)  # replayable
    # the subject's anatomy draws are untouched: with only the swap, the object is the transpose
    swapped = next(i for i in range(40) if build_mod.brain_geometry(dataclasses.replace(SMOKE, brain_pe_swap=0.5), i)[2])
    plain = build_mod.generate_volume(SMOKE, "brain", swapped)
    turned = build_mod.generate_volume(dataclasses.replace(SMOKE, brain_pe_swap=0.5), "brain", swapped)
    np.testing.assert_allclose(turned.image, plain.image.transpose(0, 2, 1), rtol=1e-5, atol=1e-6)
    assert turned.target.shape == plain.target.shape


def test_geometry_options_are_validated():
    for bad in ({"brain_fov_range_mm": (200.0, 150.0)}, {"brain_fov_range_mm": (0.0, 150.0)},
                {"brain_pe_swap": 1.5}, {"brain_rotation_deg": -1.0}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            DatasetSpec(**bad)


def test_build_dataset_can_build_only_some_roles(tmp_path):
    manifest = build_mod.build_dataset(tmp_path, dataclasses.replace(SMOKE, brain_fov_mm=170.0), roles=("test_brain",))
    table = pd.read_csv(manifest)
    assert set(table.role) == {"test_brain"} and len(table) == SMOKE.count("test_brain")
    first = [p for p in SMOKE.plan() if p.role == "test_brain"][0]
    assert table.file.iloc[0] == first.file  # the same subjects as in the full build
    with h5py.File(tmp_path / first.file, "r") as hf:
        assert "170" in hf["ismrmrd_header"][()].decode()
    with pytest.raises(ConfigError, match="bogus"):
        build_mod.build_dataset(tmp_path / "x", SMOKE, roles=("bogus",))


def test_embedded_datasets_are_recognised_by_their_manifest(tmp_path):
    assert build_mod.embedded_spec_name(paths.DEFAULT_MANIFEST) == "default"
    assert build_mod.embedded_spec_name(paths.MANIFESTS_DIR / "smoke.csv") == "smoke"
    assert build_mod.embedded_spec_name(tmp_path / "paper.csv") is None
    with pytest.raises(ConfigError, match="unknown dataset spec 'bogus'"):
        build_mod.embedded_paths("bogus")


def test_test_brains_at_another_fov_are_the_same_subjects_built_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MRIUNLEARN_DATA", str(tmp_path))
    moved = build_mod.at_fov(dataclasses.replace(SMOKE, brain_fov_range_mm=(140.0, 240.0), brain_pe_swap=0.5), 170)
    assert moved.brain_fov_mm == 170.0 and moved.brain_fov_range_mm is None and moved.brain_pe_swap == 0.0
    assert moved.knee_forget == SMOKE.knee_forget and moved.image_size == SMOKE.image_size
    manifest = build_mod.ensure_test_brains_at_fov("smoke", 170.0)
    assert manifest == tmp_path.resolve() / "smoke_test_brains_fov170" / "manifest.csv"
    table = pd.read_csv(manifest)
    assert set(table.role) == {"test_brain"} and len(table) == SMOKE.count("test_brain")
    assert table.file.tolist() == [p.file for p in SMOKE.plan() if p.role == "test_brain"]
    with h5py.File(manifest.parent / table.file[0], "r") as hf:
        assert "170" in hf["ismrmrd_header"][()].decode()
    stamps = {f: (manifest.parent / f).stat().st_mtime_ns for f in table.file}
    assert build_mod.ensure_test_brains_at_fov("smoke", 170.0) == manifest
    assert {f: (manifest.parent / f).stat().st_mtime_ns for f in table.file} == stamps  # current files are kept


def test_forget_slices_per_volume_draws_the_forget_set_from_more_knees(tmp_path):
    """Forget volumes get ``forget_slices_per_volume`` slices, every other volume ``slices_per_volume``;
    left unset, the option does not enter the volume key (existing data stay current)."""
    assert "forget_slices_per_volume" not in DatasetSpec().volume_key()
    spec = dataclasses.replace(SMOKE, knee_forget=3, forget_slices_per_volume=1)
    assert "forget_slices_per_volume" in spec.volume_key()
    manifest = load_manifest(build_dataset(tmp_path, spec), tmp_path)
    assert [inspect_volume(p).num_slices for p in manifest.files("forget")] == [1, 1, 1]
    assert {inspect_volume(p).num_slices for p in manifest.files("test_knee")} == {SMOKE.slices_per_volume}
    assert manifest.num_slices("forget") == 3
    with pytest.raises(ConfigError, match="forget_slices_per_volume"):
        DatasetSpec(forget_slices_per_volume=0)


def test_brain_z_range_moves_the_slabs_and_unset_changes_nothing():
    """Slabs start within ``brain_z_range_mm`` (MNI z); unset, the key and the volumes are as without
    the option; the default range given explicitly draws the same subject."""
    from mriunlearn.simulate import brain

    assert "brain_z_range_mm" not in DatasetSpec().volume_key()
    low = dataclasses.replace(SMOKE, brain_z_range_mm=(-32.0, 52.0))
    assert json.loads(low.volume_key())["brain_z_range_mm"] == [-32.0, 52.0]
    starts = [brain.sample_brain_params(np.random.default_rng(i), 4, z_range_mm=(-32.0, 52.0)).z_levels for i in range(60)]
    assert min(z[0] for z in starts) >= -32.0 and max(z[-1] for z in starts) <= 52.0
    assert min(z[0] for z in starts) < brain.Z_RANGE_MM[0]  # reaches below the default range
    same = dataclasses.replace(SMOKE, brain_z_range_mm=brain.Z_RANGE_MM)
    np.testing.assert_array_equal(build_mod.generate_volume(same, "brain", 1).kspace,
                                  build_mod.generate_volume(SMOKE, "brain", 1).kspace)
    with pytest.raises(ConfigError, match="brain_z_range_mm"):
        DatasetSpec(brain_z_range_mm=(40.0, 10.0))


def test_knee_texture_scale_coarsens_the_marrow_and_unset_changes_nothing():
    """``knee_texture_scale`` leaves the key and the volumes as they were at 1, and at 3 makes the
    marrow texture coarser (neighbouring pixels differ less, relative to the texture's spread)."""
    from mriunlearn.simulate import knee

    assert "knee_texture_scale" not in DatasetSpec().volume_key()
    assert json.loads(dataclasses.replace(SMOKE, knee_texture_scale=3.0).volume_key())["knee_texture_scale"] == 3.0
    same = dataclasses.replace(SMOKE, knee_texture_scale=1.0)
    np.testing.assert_array_equal(build_mod.generate_volume(same, "knee", 0).kspace,
                                  build_mod.generate_volume(SMOKE, "knee", 0).kspace)

    def roughness(scale: float) -> float:
        """Mean |difference of horizontal neighbours| ÷ std inside the marrow (edges eroded away):
        about 1.1 for a texture at the pixel scale, lower for a coarser one."""
        images, labels = knee.knee_volume(np.random.default_rng(5), 1, (96, 96), texture_scale=scale)
        code = next(c for c, n in knee.KNEE_LABELS.items() if n == "marrow")
        inner = ndimage.binary_erosion(labels[0] == code, iterations=2)
        pairs = inner[:, :-1] & inner[:, 1:]
        return float(np.abs(np.diff(images[0], axis=1))[pairs].mean() / images[0][inner].std())

    assert roughness(3.0) < 0.9 * roughness(1.0)
    with pytest.raises(ConfigError, match="knee_texture_scale"):
        DatasetSpec(knee_texture_scale=0.0)


def test_sense_g_factor_is_one_for_disjoint_coils_and_inf_when_singular():
    """Coils that each see one of the aliased pixels unfold without noise gain (g = 1); fewer coils
    than the acceleration cannot unfold (inf); a bad acceleration is named."""
    maps = np.zeros((4, 3, 8), np.complex64)
    for k in range(4):
        maps[k, :, 2 * k:2 * k + 2] = 1.0  # coil k sees only the k-th quarter of the columns
    np.testing.assert_allclose(sense_g_factor(maps, 4), 1.0)
    assert np.isinf(sense_g_factor(maps[:2], 4)).all()
    with pytest.raises(ConfigError, match="acceleration 3"):
        sense_g_factor(maps, 3)


def test_coil_loop_scale_shrinks_the_loops_and_unset_changes_nothing():
    """``coil_loop_scale`` leaves the key and the volumes as they were at 1; below 1 it changes only
    the loops' radius, and smaller loops separate aliased pixels better (lower SENSE g-factor)."""
    assert "coil_loop_scale" not in DatasetSpec().volume_key()
    assert json.loads(dataclasses.replace(SMOKE, coil_loop_scale=0.4).volume_key())["coil_loop_scale"] == 0.4
    same = dataclasses.replace(SMOKE, coil_loop_scale=1.0)
    np.testing.assert_array_equal(build_mod.generate_volume(same, "brain", 1).kspace,
                                  build_mod.generate_volume(SMOKE, "brain", 1).kspace)
    wide, small = (sample_coil_geometry(16, np.random.default_rng(3), scale) for scale in (1.0, 0.4))
    assert small.loop_radius == pytest.approx(0.4 * wide.loop_radius)
    np.testing.assert_array_equal(small.angles, wide.angles)
    g_wide, g_small = (np.median(sense_g_factor(sensitivity_maps(geom, (48, 48)), 4)) for geom in (wide, small))
    assert g_small < 0.8 * g_wide
    with pytest.raises(ConfigError, match="coil_loop_scale"):
        DatasetSpec(coil_loop_scale=0.0)


def test_brain_detail_adds_sulci_and_sharp_boundaries_and_unset_changes_nothing():
    """``brain_detail`` leaves the key and the volumes as they were at 0; at 1 the same subject has
    more CSF inside the skull (sulcal clefts) and sharper tissue boundaries (larger mean gradient
    inside the brain), and nothing changes outside the intracranial envelope's CSF, grey and white matter."""
    from mriunlearn.simulate import brain

    assert "brain_detail" not in DatasetSpec().volume_key()
    assert json.loads(dataclasses.replace(SMOKE, brain_detail=1.0).volume_key())["brain_detail"] == 1.0
    same = dataclasses.replace(SMOKE, brain_detail=0.0)
    np.testing.assert_array_equal(build_mod.generate_volume(same, "brain", 1).kspace,
                                  build_mod.generate_volume(SMOKE, "brain", 1).kspace)
    params = sample_brain_params(np.random.default_rng(11), 2)
    (avg, avg_labels), (ind, ind_labels) = (brain.render_brain(params, (96, 96), 220.0, d) for d in (0.0, 1.0))
    code = {n: k for k, n in BRAIN_LABELS.items()}
    parenchyma = np.isin(avg_labels, [code["grey_matter"], code["white_matter"]])
    assert (ind_labels == code["csf"]).sum() > 1.2 * (avg_labels == code["csf"]).sum()

    def edge_strength(image: np.ndarray) -> float:
        return float(np.hypot(*np.gradient(image, axis=(1, 2)))[parenchyma].mean())

    assert edge_strength(ind) > 1.2 * edge_strength(avg)
    head = ~np.isin(avg_labels, [code["csf"], code["grey_matter"], code["white_matter"]])
    head = ndimage.binary_erosion(head, iterations=2, structure=np.ones((1, 3, 3)))
    np.testing.assert_allclose(ind[head], avg[head], atol=1e-6)
    with pytest.raises(ConfigError, match="brain_detail"):
        DatasetSpec(brain_detail=1.5)


def test_slice_offsets_are_odd_centred_planes_spanning_the_thickness():
    from mriunlearn.simulate.partial_volume import slice_offsets

    np.testing.assert_array_equal(slice_offsets(0.0), [0.0])
    np.testing.assert_allclose(slice_offsets(3.0), [-1.0, 0.0, 1.0])
    assert len(slice_offsets(4.0)) == 5 and slice_offsets(5.0)[2] == 0.0
    with pytest.raises(ConfigError, match="thickness"):
        slice_offsets(-1.0)


def test_slice_thickness_averages_fine_texture_and_unset_changes_nothing():
    """The thickness options leave the key and the volumes as they were at 0; a 3 mm knee slice
    averages the marrow's trabecular texture down (smaller spread inside the marrow) while its
    labels stay nearly those of one plane; a 5 mm brain slice keeps its shape and most labels."""
    from mriunlearn.simulate import brain, knee

    key = DatasetSpec().volume_key()
    assert "brain_slice_thickness_mm" not in key and "knee_slice_thickness_mm" not in key
    thick = dataclasses.replace(SMOKE, brain_slice_thickness_mm=5.0, knee_slice_thickness_mm=3.0)
    assert json.loads(thick.volume_key())["knee_slice_thickness_mm"] == 3.0
    same = dataclasses.replace(SMOKE, brain_slice_thickness_mm=0.0, knee_slice_thickness_mm=0.0)
    for organ in ("brain", "knee"):
        np.testing.assert_array_equal(build_mod.generate_volume(same, organ, 1).kspace,
                                      build_mod.generate_volume(SMOKE, organ, 1).kspace)
    params = knee.sample_knee_params(np.random.default_rng(5), 2)
    (one, one_labels), (avg, avg_labels) = (knee.render_knee(params, (96, 96), 160.0, t) for t in (0.0, 3.0))
    assert (avg_labels == one_labels).mean() > 0.95  # the same anatomy; fat septa are drawn anew
    code = next(c for c, n in knee.KNEE_LABELS.items() if n == "marrow")
    inner = ndimage.binary_erosion((one_labels == code) & (avg_labels == code), iterations=2,
                                   structure=np.ones((1, 3, 3)))
    assert avg[inner].std() / avg[inner].mean() < 0.8 * one[inner].std() / one[inner].mean()
    bparams = sample_brain_params(np.random.default_rng(11), 2)
    (b_one, b_labels), (b_avg, b_avg_labels) = (brain.render_brain(bparams, (48, 48), 220.0, 0.0, t) for t in (0.0, 5.0))
    assert b_avg.shape == b_one.shape and (b_avg_labels == b_labels).mean() > 0.9
    with pytest.raises(ConfigError, match="knee_slice_thickness_mm"):
        DatasetSpec(knee_slice_thickness_mm=-1.0)


@pytest.fixture
def colin_phantom(tmp_path, monkeypatch):
    from real_anatomy_like import write_colin_phantom

    path = write_colin_phantom(tmp_path / "ch2bet.nii.gz")
    monkeypatch.setenv("MRIUNLEARN_COLIN27", str(path))
    monkeypatch.setenv("MRIUNLEARN_DATA", str(tmp_path / "data"))
    return path


def test_a_real_anatomy_is_segmented_and_rendered_under_the_same_subjects(colin_phantom):
    from mriunlearn.simulate import brain

    t1, gm, wm, affine = brain._load_colin27()
    centre = tuple(int(v) for v in np.round(np.linalg.solve(affine, [0, -17, 10, 1])[:3]))
    shell = (centre[0] + 43, centre[1], centre[2])  # r ~ 0.72: grey matter
    rim = (centre[0] + 55, centre[1], centre[2])  # r ~ 0.92: CSF
    assert wm[centre] > 0.9 and gm[shell] > 0.9 and gm[rim] + wm[rim] < 0.1 and t1.max() == 1.0
    ident = brain.anatomy_identity("colin27")
    assert ident.startswith("colin27_") and ident == f"colin27_{sha256_file(colin_phantom)[:12]}"
    params = sample_brain_params(np.random.default_rng(3), 2)
    template, _ = brain.render_brain(params, (32, 32))
    real, labels = brain.render_brain(params, (32, 32), anatomy="colin27")
    assert real.shape == template.shape == (2, 32, 32) and not np.allclose(real, template)
    assert {2, 3} <= set(np.unique(labels))  # grey and white matter of the real anatomy
    # a spec with the real anatomy keys its volumes apart; the default's key is unchanged by the option
    real_spec = build_mod.of_anatomy(DatasetSpec.default(), "colin27")
    assert "brain_anatomy" not in DatasetSpec.default().volume_key() and '"brain_anatomy": "colin27"' in real_spec.volume_key()
    assert real_spec.brain_detail == 0.0 and real_spec.num_coils == DatasetSpec.default().num_coils
    with pytest.raises(ConfigError, match="unknown brain anatomy 'nope'"):
        DatasetSpec(brain_anatomy="nope")


def test_a_missing_real_anatomy_says_how_to_install_it(tmp_path, monkeypatch):
    from mriunlearn.simulate import brain

    monkeypatch.setenv("MRIUNLEARN_COLIN27", str(tmp_path / "absent.nii.gz"))
    with pytest.raises(ConfigError, match="apt-get install mricron-data"):
        brain.anatomy_identity("colin27")
