"""Known-answer tests of the measurement/null-space split (mriunlearn.hallucination)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

import fastmri
from mriunlearn import hallucination as hl
from mriunlearn import physics
from mriunlearn.fastmri_h5 import SENS_KEY
from mriunlearn.errors import ConfigError, DataError
from mriunlearn.fastmri_h5 import write_volume

H = W = 32
C = 4


def smooth_maps(c: int = C, h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    """Smooth complex coil maps around the field of view, normalised so Σ_c |S_c|² = 1. (C, H, W)."""
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    maps = []
    for i in range(c):
        ang = 2 * np.pi * i / c + rng.uniform(-0.2, 0.2)
        cx, cy = 1.6 * np.cos(ang), 1.6 * np.sin(ang)
        mag = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 2.0)
        maps.append(mag * np.exp(1j * (ang + 0.7 * x - 0.4 * y)))
    s = np.stack(maps)
    return s / np.sqrt((np.abs(s) ** 2).sum(0))


def readout_maps(c: int = C, h: int = H, w: int = W) -> np.ndarray:
    """Maps that vary along the readout (H) only: the multi-coil null space is then exactly the
    single-coil one (unsampled columns). (C, H, W)."""
    y = np.linspace(-1, 1, h)
    s = np.stack([np.exp(-(y - 1.5 * np.cos(2 * np.pi * i / c)) ** 2) * np.exp(1j * i * y) for i in range(c)])
    s = s / np.sqrt((np.abs(s) ** 2).sum(0))
    return np.repeat(s[:, :, None], w, axis=2)


def column_mask(w: int = W, accel: int = 4, centre: int = 4) -> np.ndarray:
    m = np.zeros(w, dtype=bool)
    m[::accel] = True
    m[w // 2 - centre // 2: w // 2 - centre // 2 + centre] = True
    return m


def phantom(h: int = H, w: int = W, seed: int = 1) -> np.ndarray:
    """Complex object: textured ellipse with a smooth phase. (H, W)."""
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    inside = (x / 0.75) ** 2 + (y / 0.6) ** 2 < 1
    mag = inside * (1.0 + 0.3 * np.sin(6 * x) + 0.1 * rng.standard_normal((h, w)))
    mag = mag + 0.8 * (((x - 0.2) / 0.15) ** 2 + (y / 0.1) ** 2 < 1)
    return mag * np.exp(1j * (0.8 * x + 0.3 * y ** 2))


def on_columns(img: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Keep only the k-space columns ``cols`` (bool, W) of an image (single-coil sense)."""
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(img), norm="ortho"))
    k = k * cols[None, :]
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k), norm="ortho"))


def rand_complex(shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def dense_operator(sens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The full A as a dense (C·H·W, H·W) matrix, built column by column from fastmri.fft2c."""
    c, h, w = sens.shape
    basis = torch.eye(h * w, dtype=torch.complex128).reshape(h * w, 1, h, w) * torch.from_numpy(sens)[None]
    k = fastmri.fft2c(torch.view_as_real(basis))
    k = torch.view_as_complex(k.contiguous()) * torch.from_numpy(mask)[None, None, None, :]
    return k.reshape(h * w, -1).T.numpy()


# ----------------------------------------------------------------------------- operators
def test_forward_operator_matches_fastmri_and_adjoint_is_adjoint():
    s, m, x = smooth_maps(), column_mask(), phantom()
    k = physics.forward_operator(x, s, m)
    ref = fastmri.fft2c(torch.view_as_real(torch.from_numpy(s * x[None])))
    ref = torch.view_as_complex(ref.contiguous()).numpy() * m[None, None, :]
    np.testing.assert_allclose(k, ref, atol=1e-12)
    y = rand_complex((C, H, W), 3)
    lhs = np.vdot(y, k)
    rhs = np.vdot(physics.adjoint_operator(y, s, m), x)
    assert abs(lhs - rhs) < 1e-9 * abs(lhs)


# ----------------------------------------------------------------------------- known answers
@pytest.mark.parametrize("method", ["eig", "cg"])
def test_readout_maps_reduce_to_single_coil_null_space(method):
    s, m = readout_maps(), column_mask()
    d = rand_complex((H, W), 5)
    sampled_only = on_columns(d, m)  # differs from the truth only on sampled lines
    unsampled_only = on_columns(d, ~m)  # structure only on unsampled lines
    meas, null = hl.measurement_null_split(sampled_only, s, m, method=method, tol=1e-10)
    assert np.linalg.norm(null) < 1e-8 * np.linalg.norm(sampled_only)
    meas, null = hl.measurement_null_split(unsampled_only, s, m, method=method, tol=1e-10)
    np.testing.assert_allclose(null, unsampled_only, atol=1e-8 * np.abs(unsampled_only).max())
    assert np.linalg.norm(meas) < 1e-8 * np.linalg.norm(unsampled_only)


@pytest.mark.parametrize("method", ["eig", "cg"])
def test_error_in_range_of_adjoint_has_no_null_part(method):
    s, m = smooth_maps(), column_mask()
    y = rand_complex((C, H, W), 7) * m[None, None, :]
    e = physics.adjoint_operator(y, s, m)  # A^H y: what the measurements can explain
    kwargs = {"tol": 1e-9} if method == "eig" else {"tol": 1e-9, "n_iter": 300}
    _, null = hl.measurement_null_split(e, s, m, method=method, **kwargs)
    assert np.linalg.norm(null) < 1e-5 * np.linalg.norm(e)


def test_eig_projector_matches_dense_svd_of_full_operator():
    """Independent reference: the SVD of the whole 2-D operator (no row decoupling)."""
    h = w = 16
    s, m = smooth_maps(3, h, w), column_mask(w, accel=4, centre=2)
    a = dense_operator(s, m)
    _, sv, vh = np.linalg.svd(a, full_matrices=False)
    e = rand_complex((h, w), 11)
    for tol in (1e-9, 1e-3, 0.1):
        keep = vh[sv ** 2 > tol].conj().T  # columns: the measured directions
        ref_null = e.reshape(-1) - keep @ (keep.conj().T @ e.reshape(-1))
        _, null = hl.measurement_null_split(e, s, m, tol=tol)
        np.testing.assert_allclose(null.reshape(-1), ref_null, atol=1e-8)


def test_null_space_share_counts_the_unmeasured_directions():
    """Readout-only maps: the multi-coil null space is the single-coil one, so the share is the
    unsampled columns' share; a fully sampled mask leaves none; against the dense operator's SVD at
    the projector's threshold; at share 0 every error's null part vanishes."""
    m = column_mask()
    assert hl.null_space_share(readout_maps(), m, tol=1e-9) == pytest.approx((~m).sum() / W)
    assert hl.null_space_share(smooth_maps(), np.ones(W, bool)) == 0.0
    h = w = 16
    s, m16 = smooth_maps(3, h, w), column_mask(w, accel=4, centre=2)
    sv = np.linalg.svd(dense_operator(s, m16), compute_uv=False)
    for tol in (1e-3, 0.1):
        assert hl.null_space_share(s, m16, tol=tol) == pytest.approx(1 - (sv ** 2 > tol).sum() / (h * w))
    many, few = smooth_maps(8, h, w), column_mask(w, accel=2, centre=2)
    assert hl.null_space_share(many, few) == 0.0
    e = rand_complex((h, w), 17)
    _, null = hl.measurement_null_split(e, many, few)
    assert np.linalg.norm(null) < 1e-10 * np.linalg.norm(e)
    with pytest.raises(ConfigError, match="tol"):
        hl.null_space_share(s, m16, tol=0.0)


def test_split_sums_idempotent_and_orthogonal():
    s, m = smooth_maps(), column_mask()
    e = rand_complex((H, W), 13)
    meas, null = hl.measurement_null_split(e, s, m)
    assert np.array_equal(meas + null, e) or np.abs(meas + null - e).max() < 1e-14
    meas2, null2 = hl.measurement_null_split(meas, s, m)
    np.testing.assert_allclose(meas2, meas, atol=1e-10)  # P(P e) = P e
    assert np.linalg.norm(null2) < 1e-10 * np.linalg.norm(e)
    assert abs(np.vdot(meas, null)) < 1e-10 * np.linalg.norm(e) ** 2  # P_meas e ⟂ P_null e
    _, null3 = hl.measurement_null_split(null, s, m)
    np.testing.assert_allclose(null3, null, atol=1e-10)  # P_null idempotent too
    # a real multi-coil split: neither part is trivial
    assert 0.1 < np.linalg.norm(null) ** 2 / np.linalg.norm(e) ** 2 < 0.9


def test_cg_against_exact_projector():
    """Quantifies the matrix-free (damped) CG method against the exact eigen-projector."""
    s2, m = smooth_maps(2), column_mask()  # 2 coils, 4x: a non-trivial exact null space
    e = physics.adjoint_operator(rand_complex((2, H, W), 17), s2, m) + rand_complex((H, W), 19)
    _, exact = hl.measurement_null_split(e, s2, m, tol=1e-10)
    assert np.linalg.norm(exact) > 0.1 * np.linalg.norm(e)
    _, cg_long = hl.measurement_null_split(e, s2, m, method="cg", tol=1e-10, n_iter=100)
    assert np.linalg.norm(cg_long - exact) / np.linalg.norm(e) < 1e-4  # converges to A⁺A
    s = smooth_maps()
    e = physics.adjoint_operator(rand_complex((C, H, W), 17), s, m) + rand_complex((H, W), 19)
    _, default = hl.measurement_null_split(e, s, m)
    _, cg_short = hl.measurement_null_split(e, s, m, method="cg")
    # soft vs hard threshold: measured 0.075 here, 0.024-0.035 on 128² / 8x / 4-16 coils
    assert np.linalg.norm(cg_short - default) / np.linalg.norm(e) < 0.1
    meas_cg = e - cg_short
    assert abs(np.vdot(meas_cg, cg_short)) < 0.05 * np.linalg.norm(e) ** 2  # nearly orthogonal
    # the score from either method agrees within 10 % (measured: 4.6 %)
    x = phantom()
    a = hl.hallucination_score(x + e * 0.05, x, s, m)
    b = hl.hallucination_score(x + e * 0.05, x, s, m, method="cg")
    assert b == pytest.approx(a, rel=0.1)


# ----------------------------------------------------------------------------- maps and scores
def test_hallucination_map_energies_and_scale_invariance():
    s, m, x = smooth_maps(), column_mask(), phantom()
    blob = on_columns(rand_complex((H, W), 23), ~m) * 0.1
    recon = x + blob
    res = hl.hallucination_map(recon, x, s, m)
    assert res.null_map.shape == (H, W) and res.meas_map.shape == (H, W)
    np.testing.assert_allclose(res.null_map + res.meas_map, recon - x, atol=1e-12)
    assert abs(res.meas_energy + res.null_energy - res.error_energy) < 1e-10 * res.error_energy
    assert res.score == pytest.approx(res.null_energy / np.linalg.norm(x) ** 2)
    assert res.null_fraction == pytest.approx(res.null_energy / res.error_energy)
    assert 0 < res.score and 0 < res.null_fraction <= 1
    scaled = hl.hallucination_score(3.7 * recon, 3.7 * x, s, m)
    assert scaled == pytest.approx(res.score, rel=1e-9)
    assert hl.hallucination_score(x, x, s, m) == 0.0


def test_magnitude_with_phase_equals_complex_images():
    s, m, x = smooth_maps(), column_mask(), phantom()
    recon_mag = np.abs(x) * (1 + 0.05 * np.cos(np.arange(W) * np.pi / 2))[None, :]
    phase = np.angle(x)
    a = hl.hallucination_map(recon_mag, np.abs(x), s, m, phase=phase)
    b = hl.hallucination_map(recon_mag * np.exp(1j * phase), x, s, m)
    c = hl.hallucination_map(recon_mag, np.abs(x), s, m, phase=np.exp(1j * phase))
    assert a.score == pytest.approx(b.score, rel=1e-10) and a.score == pytest.approx(c.score, rel=1e-10)
    np.testing.assert_allclose(a.null_map, b.null_map, atol=1e-12)


def test_cropped_images_are_zero_padded_to_the_grid():
    s, m, x = smooth_maps(), column_mask(), phantom()
    h, w = 24, 20
    top, left = (H - h) // 2, (W - w) // 2
    xc = x[top:top + h, left:left + w]
    recon = xc + 0.05 * rand_complex((h, w), 29)
    res = hl.hallucination_map(recon, xc, s, m)
    assert res.null_map.shape == (h, w)
    np.testing.assert_allclose(res.null_map + res.meas_map, recon - xc, atol=1e-12)
    full = np.zeros((H, W), complex)
    full[top:top + h, left:left + w] = recon - xc
    _, null = hl.measurement_null_split(full, s, m)
    np.testing.assert_allclose(res.null_map, null[top:top + h, left:left + w], atol=1e-12)
    assert res.null_energy == pytest.approx(np.linalg.norm(null) ** 2)


def test_batch_matches_single_slices_and_is_deterministic():
    s, m = smooth_maps(), column_mask()
    x = np.stack([phantom(seed=i) for i in range(3)])
    recon = x + 0.05 * rand_complex(x.shape, 31)
    sens = np.stack([smooth_maps(seed=i) for i in range(3)])
    masks = np.stack([column_mask(), column_mask(accel=3), column_mask(accel=5)])
    batch = hl.hallucination_map(recon, x, sens, masks)
    assert batch.null_map.shape == (3, H, W) and batch.score.shape == (3,)
    for i in range(3):
        one = hl.hallucination_map(recon[i], x[i], sens[i], masks[i])
        assert batch.score[i] == pytest.approx(one.score, rel=1e-12)
        np.testing.assert_allclose(batch.null_map[i], one.null_map, atol=1e-12)
    again = hl.hallucination_map(recon, x, sens, masks)
    assert np.array_equal(again.null_map, batch.null_map)
    # torch inputs, fastMRI mask layout, shared maps
    t = hl.hallucination_map(torch.from_numpy(recon), torch.from_numpy(x), torch.from_numpy(s),
                             torch.from_numpy(m).reshape(1, 1, W, 1))
    ref = hl.hallucination_map(recon, x, s, m)
    np.testing.assert_allclose(t.score, ref.score, rtol=1e-12)


# ----------------------------------------------------------------------------- regions
def test_hallucinated_regions_find_a_planted_blob():
    x = np.abs(phantom())
    rng = np.random.default_rng(37)
    yy, xx = np.mgrid[:H, :W]
    blob = 0.5 * np.exp(-((yy - 10) ** 2 + (xx - 22) ** 2) / 4.0)
    null_map = blob + 0.005 * rng.standard_normal((H, W))
    regions = hl.hallucinated_regions(null_map, x)
    assert regions.dtype == bool and regions.shape == (H, W)
    assert regions[10, 22] and regions.sum() < 60
    assert not regions[:, :12].any()
    found = hl.label_regions(regions, null_map)
    assert len(found) == 1
    assert found[0].centroid == pytest.approx((10, 22), abs=1.0)
    assert found[0].peak > 0.4
    # a small error everywhere (below frac·max target) flags nothing
    assert not hl.hallucinated_regions(0.005 * rng.standard_normal((H, W)), x).any()


def test_regions_end_to_end_on_a_null_space_structure():
    s, m, x = readout_maps(), column_mask(), np.abs(phantom())
    yy, xx = np.mgrid[:H, :W]
    env = np.exp(-((yy - 16) ** 2 + (xx - 8) ** 2) / 6.0)
    freq = np.flatnonzero(~m)[3] - W // 2  # an unsampled column
    structure = on_columns(0.6 * env * np.exp(2j * np.pi * freq * xx / W), ~m)
    res = hl.hallucination_map(x + structure, x, s, m)
    assert res.null_fraction > 0.999
    regions = hl.hallucinated_regions(res.null_map, x)
    assert regions[16, 8]


# ----------------------------------------------------------------------------- volumes
def test_volume_hallucination_table():
    s, m = smooth_maps(), column_mask()
    x = np.stack([np.abs(phantom(seed=i)) for i in range(3)])
    recon = x.copy()
    recon[1] += 0.1 * np.abs(on_columns(rand_complex((H, W), 41), ~m))
    recon[2] += 0.2 * np.abs(on_columns(rand_complex((H, W), 43), ~m))
    vol = hl.volume_hallucination(recon, x, np.stack([s] * 3), m)
    t = vol.per_slice
    assert list(t.slice) == [0, 1, 2] and len(t) == 3
    assert t.score[0] == 0.0 and 0 < t.score[1] < t.score[2]
    assert vol.summary["score_mean"] == pytest.approx(t.score.mean())
    assert vol.summary["score_volume"] == pytest.approx(t.null_energy.sum() / (x ** 2).sum())
    assert 0 < vol.summary["null_fraction"] <= 1 and vol.summary["num_slices"] == 3
    # magnitude images with a phase: each slice as hallucination_map scores it
    phases = np.stack([np.angle(phantom(seed=i)) for i in range(3)])
    vol = hl.volume_hallucination(recon.astype(np.float32), x, s, m, phases=phases)
    for i in range(3):
        one = hl.hallucination_map(recon[i], x[i], s, m, phase=phases[i])
        assert vol.per_slice.score[i] == pytest.approx(one.score, rel=1e-6, abs=1e-12)


# ----------------------------------------------------------------------------- sensitivities
def test_estimated_sensitivities_match_true_maps():
    s, x = smooth_maps(), phantom()
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(s * x[None], axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    est = physics.estimate_sensitivities(k, 8)
    assert est.shape == (C, H, W) and est.dtype == np.complex64
    np.testing.assert_allclose((np.abs(est) ** 2).sum(0), 1.0, atol=1e-5)
    yy, xx = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
    support = (xx / 0.6) ** 2 + (yy / 0.45) ** 2 < 1  # eroded object
    coherence = np.abs((s.conj() * est).sum(0))  # |<S_true(r), S_est(r)>|, 1 = same up to phase
    assert coherence[support].mean() > 0.97
    # fastMRI real view and batches give the same maps
    real_view = np.stack([k.real, k.imag], axis=-1)
    np.testing.assert_allclose(physics.estimate_sensitivities(real_view, 8), est, atol=1e-6)
    assert physics.estimate_sensitivities(k[None], 8).shape == (1, C, H, W)
    # with the estimated maps the coil-combined image is almost real (maps absorb the phase)
    img = physics.complex_image(k, est)
    assert np.abs(img.imag)[support].mean() < 0.15 * np.abs(img)[support].mean()
    # with the true maps it is the object itself
    np.testing.assert_allclose(physics.complex_image(k, s), x, atol=1e-10)


def test_load_sensitivities_stored_or_estimated(tmp_path):
    s, x = smooth_maps(), phantom()
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(s * x[None], axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    kv, sv = np.stack([k, k]), np.stack([s, s]).astype(np.complex64)
    path = tmp_path / "vol.h5"
    write_volume(path, kv, np.abs(np.stack([x, x])), patient_id="p", acquisition="AXT2")
    est, source = physics.load_sensitivities(path)
    assert source == "estimated" and est.shape == (2, C, H, W)
    with h5py.File(path, "a") as hf:
        hf.create_dataset(SENS_KEY, data=sv)
    stored, source = physics.load_sensitivities(path)
    assert source == "stored"
    np.testing.assert_array_equal(stored, sv)
    bad = tmp_path / "bad.h5"
    write_volume(bad, kv, np.abs(np.stack([x, x])), patient_id="p", acquisition="AXT2")
    with h5py.File(bad, "a") as hf:
        hf.create_dataset(SENS_KEY, data=sv[:1])
    with pytest.raises(DataError, match="bad.h5"):
        physics.load_sensitivities(bad)


# ----------------------------------------------------------------------------- bad inputs
def test_bad_inputs_raise_errors_naming_the_argument():
    s, m, x = smooth_maps(), column_mask(), phantom()
    with pytest.raises(ConfigError, match="empty mask"):
        hl.measurement_null_split(x, s, np.zeros(W, bool))
    with pytest.raises(ConfigError, match="mask"):
        hl.measurement_null_split(x, s, m[:-1])
    with pytest.raises(ConfigError, match="mask"):
        hl.measurement_null_split(x, s, np.full(W, 2))
    with pytest.raises(ConfigError, match="sens"):
        hl.measurement_null_split(x, s[:, :-1], m)
    with pytest.raises(ConfigError, match="sens"):
        hl.measurement_null_split(x, s[0], m)
    with pytest.raises(ConfigError, match="error"):
        hl.measurement_null_split(x[None, None], s, m)
    with pytest.raises(ConfigError, match="error"):
        hl.measurement_null_split(np.full((H, W), np.nan), s, m)
    with pytest.raises(ConfigError, match="method"):
        hl.measurement_null_split(x, s, m, method="svd")
    with pytest.raises(ConfigError, match="tol"):
        hl.measurement_null_split(x, s, m, tol=0.0)
    with pytest.raises(ConfigError, match="n_iter"):
        hl.measurement_null_split(x, s, m, method="cg", n_iter=0)
    with pytest.raises(ConfigError, match="recon"):
        hl.hallucination_map(x[:-1], x, s, m)
    with pytest.raises(ConfigError, match="target"):
        hl.hallucination_map(np.zeros((40, 40)), np.zeros((40, 40)), s, m)
    with pytest.raises(ConfigError, match="target is zero"):
        hl.hallucination_map(x, np.zeros((H, W)), s, m)
    with pytest.raises(ConfigError, match="phase"):
        hl.hallucination_map(np.abs(x), np.abs(x), s, m, phase=np.zeros((H, W - 1)))
    with pytest.raises(ConfigError, match="sens"):
        hl.hallucination_map(x[None].repeat(2, 0), x[None].repeat(2, 0), s[None].repeat(3, 0), m)
    with pytest.raises(ConfigError, match="coils"):
        physics.adjoint_operator(np.zeros((C + 1, H, W), complex), s, m)
    with pytest.raises(ConfigError, match="num_low_freqs"):
        physics.estimate_sensitivities(np.ones((C, H, W), complex), 0)
    with pytest.raises(ConfigError, match="kspace"):
        physics.estimate_sensitivities(np.ones((C, H, W)), 8)
    with pytest.raises(ConfigError, match="null_map"):
        hl.hallucinated_regions(np.zeros((H, W)), np.zeros((H, W - 1)))
    with pytest.raises(ValueError):  # ConfigError is a ValueError
        hl.hallucination_score(x, x, s, np.zeros(W))


# ----------------------------------------------------------------------------- engine integration
def test_hallucination_table_on_tiny_volumes(tmp_path):
    from mriunlearn.manifest import file_row, load_manifest, write_manifest
    from mriunlearn.model import build_model
    from mriunlearn.profiles import get_profile

    torch.set_num_threads(1)
    profile = get_profile("smoke")
    rows = []
    for i in range(2):
        sens = np.stack([smooth_maps(seed=i)] * 2)
        x = np.stack([phantom(seed=10 * i + j) for j in range(2)])
        k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(sens * x[:, None], axes=(-2, -1)), norm="ortho"),
                            axes=(-2, -1))
        target = np.sqrt((np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"),
                                                 axes=(-2, -1))) ** 2).sum(1))
        path = tmp_path / f"file_brain_{i}.h5"
        write_volume(path, k, target, patient_id=f"p{i}", acquisition="AXT2")
        if i == 0:  # simulated data store the true maps
            with h5py.File(path, "a") as hf:
                hf.create_dataset(SENS_KEY, data=sens.astype(np.complex64))
        rows.append(file_row(path, tmp_path, "brain", "test_brain", 2))
    write_manifest(rows, tmp_path / "m.csv")
    manifest = load_manifest(tmp_path / "m.csv", tmp_path)
    zf = hl.hallucination_table(None, manifest, "test_brain", profile)
    assert list(zf.file) == ["file_brain_0.h5", "file_brain_1.h5"]
    assert list(zf.sens_source) == ["stored", "estimated"]
    assert (zf.hallucination_score > 0).all() and ((zf.null_fraction > 0) & (zf.null_fraction <= 1)).all()
    # zero-filling's error is mostly coil aliasing the acquisition does see (measured ~25 % null)
    assert (zf.null_fraction < 0.6).all()
    zf_cg = hl.hallucination_table(None, manifest, "test_brain", profile, method="cg")
    np.testing.assert_allclose(zf_cg.hallucination_score, zf.hallucination_score, rtol=0.2)
    model = build_model(profile)
    t1 = hl.hallucination_table(model, manifest, "test_brain", profile, method="cg")
    t2 = hl.hallucination_table(model, manifest, "test_brain", profile, method="cg")
    assert t1.equals(t2) and len(t1) == 2 and np.isfinite(t1.hallucination_score).all()
