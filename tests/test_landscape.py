"""Loss landscapes: directions, projections, the loss on a grid and the figure (smoke profile)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mriunlearn import landscape as L  # noqa: E402
from mriunlearn import plots  # noqa: E402
from mriunlearn.dataset import SliceData, make_loader  # noqa: E402
from mriunlearn.errors import ConfigError  # noqa: E402
from mriunlearn.experiments.unlearning import Landscape, landscape_caption  # noqa: E402
from mriunlearn.losses import recon_loss  # noqa: E402
from mriunlearn.model import build_model, reconstruct  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def states(smoke_profile):
    """Two differently initialised smoke VarNets as state dicts."""
    return build_model(smoke_profile, seed=1).state_dict(), build_model(smoke_profile, seed=2).state_dict()


def _direct_loss(state, files, profile) -> float:
    """Mean per-slice loss of a model computed the plain way (eval loader, no landscape code)."""
    model = build_model(profile)
    model.load_state_dict(state)
    model.eval()
    losses = []
    with torch.no_grad():
        for batch in make_loader(files, profile, train=False):
            pred = reconstruct(model, batch, profile)
            losses.append(recon_loss(pred, batch.target, batch.max_value, profile, reduction="none"))
    return float(torch.cat(losses).double().mean())


def _combo(c, terms):
    return {k: c[k] + sum(w * d[k] for w, d in terms) for k in c}


def test_grid_corners_equal_the_models_own_losses(states, smoke_manifest, smoke_profile, same_weights):
    a, b = states
    a_before = {k: v.clone() for k, v in a.items()}
    files = smoke_manifest.files("test_brain")
    d1 = L.direction_between(a, b)
    d2 = L.random_direction(a, seed=3)
    lp = L.loss_plane(a, d1, d2, files, smoke_profile, grid=([0.0, 1.0], [0.0, 0.5]))
    assert lp.loss.shape == (2, 2)
    assert lp.n_slices == sum(smoke_manifest.table[smoke_manifest.table.role == "test_brain"].num_slices)
    assert lp.loss[0, 0] == pytest.approx(_direct_loss(a, files, smoke_profile), rel=1e-5)
    assert lp.loss[0, 1] == pytest.approx(_direct_loss(b, files, smoke_profile), rel=1e-4)
    # the grid point (0, 0.5) is the model a + 0.5·d2
    assert lp.loss[1, 0] == pytest.approx(_direct_loss(_combo(a, [(0.5, d2)]), files, smoke_profile), rel=1e-5)
    assert lp.loss[1, 0] != pytest.approx(lp.loss[0, 0], rel=1e-6)
    assert lp.at(1.0, 0.0) == lp.loss[0, 1]
    assert same_weights(a, a_before)  # the centre state is not modified
    assert set(lp.to_frame().columns) == {"alpha", "beta", "loss"} and len(lp.to_frame()) == 4
    back = L.LossPlane.from_frame(lp.to_frame())
    assert np.array_equal(back.loss, lp.loss) and np.array_equal(back.betas, lp.betas)


def test_loss_plane_is_deterministic_and_max_slices_subsets(states, smoke_manifest, smoke_profile):
    a, b = states
    data = SliceData(smoke_manifest.files("forget"), smoke_profile, train=False)
    d1, d2 = L.direction_between(a, b), L.random_direction(a, seed=0)
    kw = dict(grid=(-0.5, 0.5, 2))
    one = L.loss_plane(a, d1, d2, data, smoke_profile, **kw)
    two = L.loss_plane(a, d1, d2, data, smoke_profile, batch_size=1, **kw)
    np.testing.assert_allclose(one.loss, two.loss, rtol=1e-6)
    assert np.array_equal(one.loss, L.loss_plane(a, d1, d2, data, smoke_profile, **kw).loss)
    sub = L.loss_plane(a, d1, d2, data, smoke_profile, max_slices=1, grid=([0.0], [0.0]))
    assert sub.n_slices == 1 and sub.loss.shape == (1, 1)
    assert L.select_slices(10, 3) == [0, 4, 9] and L.select_slices(3, None) == [0, 1, 2]


def test_orthonormalise(states):
    a, b = states
    d1, d2 = L.direction_between(a, b), L.random_direction(a, seed=5)
    e1, e2 = L.orthonormalise(d1, d2)
    assert L.norm(e1) == pytest.approx(1.0, abs=1e-6) and L.norm(e2) == pytest.approx(1.0, abs=1e-6)
    assert abs(L.dot(e1, e2)) < 1e-6
    assert L.dot(e1, d1) == pytest.approx(L.norm(d1), rel=1e-6)  # e1 points along d1
    # d2 lies in span(e1, e2)
    p = L.project(_combo(a, [(1.0, d2)]), a, e1, e2)
    assert p.residual < 1e-5 * L.norm(d2)
    with pytest.raises(ConfigError, match="dir2 is parallel to dir1"):
        L.orthonormalise(d1, {k: 3.0 * v for k, v in d1.items()})


def test_filter_normalisation_matches_filter_norms(states):
    a, _ = states
    d = L.random_direction(a, seed=11)
    n_filters = 0
    for k, w in a.items():
        if w.ndim >= 2:
            got = d[k].flatten(1).norm(dim=1)
            want = w.flatten(1).norm(dim=1)
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
            n_filters += w.shape[0]
        else:
            assert torch.count_nonzero(d[k]) == 0, k  # biases / dc_weight zeroed (bias="zero")
    assert n_filters > 10
    copy = L.random_direction(a, seed=11, bias="copy")
    one_d = [k for k, w in a.items() if w.ndim <= 1]
    assert one_d and all(torch.equal(copy[k], a[k]) for k in one_d)
    # a zero filter of θ gives a zero filter of the direction
    k2 = next(k for k, w in a.items() if w.ndim == 4)
    theta = {k: v.clone() for k, v in a.items()}
    theta[k2][0].zero_()
    assert float(L.filter_normalise(L.random_direction(a, 1), theta)[k2][0].abs().sum()) == 0.0
    with pytest.raises(ConfigError, match="bias"):
        L.random_direction(a, seed=1, bias="keep-ish")


def test_random_direction_is_deterministic(states, same_weights):
    a, _ = states
    x, y, z = L.random_direction(a, 7), L.random_direction(a, 7), L.random_direction(a, 8)
    assert same_weights(x, y)
    assert not same_weights(x, z)
    with pytest.raises(ConfigError, match="seed"):
        L.random_direction(a, -1)


def test_projection_recovers_coordinates_and_residual(states):
    a, b = states
    d1 = L.direction_between(a, b)
    d2 = L.random_direction(a, seed=2)  # not orthogonal to d1
    e3 = L.random_direction(a, seed=9)
    theta = _combo(a, [(0.7, d1), (-0.25, d2)])
    p = L.project(theta, a, d1, d2)
    assert p.alpha == pytest.approx(0.7, abs=1e-5) and p.beta == pytest.approx(-0.25, abs=1e-5)
    assert p.residual < 1e-5 * p.distance
    # an off-plane component shows up as the residual (its part orthogonal to the plane)
    _, e2 = L.orthonormalise(d1, d2)
    q3 = L.project(_combo(a, [(1.0, e3)]), a, d1, d2)
    off = L.project(_combo(theta, [(1.0, e3)]), a, d1, d2)
    assert off.residual == pytest.approx(q3.residual, rel=1e-4) and off.residual > 0.1 * L.norm(e3)
    assert 0 < off.relative_residual < 1


def test_plane_through_places_models(states, smoke_profile):
    a, b = states
    c = _combo(a, [(0.3, L.direction_between(a, b)), (1.0, L.random_direction(a, seed=4))])
    extra = _combo(a, [(0.5, L.direction_between(a, b))])
    model_c = build_model(smoke_profile)
    model_c.load_state_dict(c)
    plane = L.plane_through({"original": a, "ga_l1": b, "nl_ft": model_c, "mid": extra},
                            "original", "ga_l1", "nl_ft")
    pts = plane.points
    dist_ab = L.norm(L.direction_between(a, b))
    assert pts["original"].alpha == 0 and pts["original"].beta == 0
    assert pts["ga_l1"].alpha == pytest.approx(dist_ab, rel=1e-5) and abs(pts["ga_l1"].beta) < 1e-4
    assert pts["nl_ft"].beta > 0 and pts["nl_ft"].residual < 1e-4 * pts["nl_ft"].distance
    assert pts["mid"].alpha == pytest.approx(dist_ab / 2, rel=1e-5)
    traj = plane.trajectory([a, extra, b])
    assert traj.shape == (3, 3) and traj[1, 0] == pytest.approx(dist_ab / 2, rel=1e-5)
    alphas, betas = plane.grid(5, margin=0.1)
    assert len(alphas) == len(betas) == 5
    for p in pts.values():
        assert alphas.min() <= p.alpha <= alphas.max() and betas.min() <= p.beta <= betas.max()
    rnd = L.plane_through({"original": a, "ga_l1": b}, "original", "ga_l1", 3)
    assert "random" in rnd.axis_labels[1] and abs(L.dot(rnd.d1, rnd.d2)) < 1e-6


def test_bad_inputs_name_the_parameter(states, smoke_manifest, smoke_profile):
    a, b = states
    files = smoke_manifest.files("val")
    d = L.direction_between(a, b)
    missing = {k: v for i, (k, v) in enumerate(d.items()) if i > 0}
    with pytest.raises(ConfigError, match="dir1 does not match center_state"):
        L.loss_plane(a, missing, d, files, smoke_profile)
    with pytest.raises(ConfigError, match="dir2.*shape"):
        L.loss_plane(a, d, {k: (v[:1] if v.ndim else v) for k, v in d.items()}, files, smoke_profile)
    zero = {k: torch.zeros_like(v) for k, v in d.items()}
    with pytest.raises(ConfigError, match="dir2 is the zero direction"):
        L.loss_plane(a, d, zero, files, smoke_profile)
    with pytest.raises(ConfigError, match="dir1 is the zero direction"):
        L.orthonormalise(zero, d)
    with pytest.raises(ConfigError, match="zero direction"):
        L.direction_between(a, a)
    with pytest.raises(ConfigError, match="train=False"):
        L.loss_plane(a, d, L.random_direction(a, 0), SliceData(files, smoke_profile, train=True), smoke_profile)
    with pytest.raises(ConfigError, match="grid"):
        L.loss_plane(a, d, L.random_direction(a, 0), files, smoke_profile, grid=(0, 1, 0))
    with pytest.raises(ConfigError, match="origin='G'"):
        L.plane_through({"original": a, "b": b}, "G", "b", 1)
    with pytest.raises(ConfigError, match="max_slices"):
        L.select_slices(5, 0)


def test_plot_loss_planes(tmp_path):
    alphas, betas = np.linspace(-1, 2, 7), np.linspace(-1, 1.5, 6)
    aa, bb = np.meshgrid(alphas, betas)
    retain = L.LossPlane(alphas, betas, 0.2 + (aa - 0.2) ** 2 + bb ** 2, n_slices=4, title="retain")
    forget = L.LossPlane(alphas, betas, np.exp(-aa) + 0.1 * bb ** 2 + 0.3, n_slices=4, title="forget")
    points = {"original": L.PlanePoint(0, 0, 0, 0), "ga_l1": L.PlanePoint(1.5, 0, 0, 1.5),
              "oracle": L.PlanePoint(0.5, 1.0, 3.0, 3.2), "nl_ft": (0.1, 0.9)}
    fig = plots.plot_loss_planes(retain, forget, points, {"ga_l1": np.array([[0, 0], [0.8, 0.1], [1.5, 0]])})
    axes = fig.get_axes()
    assert len(axes) == 4  # two panels and their colour bars
    texts = {t.get_text() for t in axes[0].texts}
    assert {"G (original)", "GA-ℓ1", "Ĝ (oracle)", "NL-FT"} <= texts
    assert "retain · 4 slices" == axes[0].get_title()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("off-plane" in t for t in legend) and any("trajectory" in t for t in legend)
    fig.savefig(tmp_path / "plane.png")
    assert (tmp_path / "plane.png").stat().st_size > 10_000
    assert plots._nice_ticks(0.179, 0.63).min() >= 0.179 and plots._nice_ticks(0.179, 0.63).max() <= 0.63
    assert math.isclose(plots._smooth(retain, 3)[2][0, 0], retain.loss[0, 0], rel_tol=1e-9)


def test_loss_plane_labels_do_not_overlap():
    """Fig. 4 with a crowd of models near G (as the real run has): every label box is clear of
    every other label."""
    alphas, betas = np.linspace(-1.5, 6.5, 9), np.linspace(-4, 4, 9)
    aa, bb = np.meshgrid(alphas, betas)
    plane = L.LossPlane(alphas, betas, 0.2 + 0.02 * aa ** 2 + 0.03 * bb ** 2, n_slices=2, title="p")
    near = ["full_ft", "ft", "nl", "ga", "neggrad_plus", "bad_teacher", "scrub", "ssd", "salun"]
    points = {"original": L.PlanePoint(0, 0, 0, 0), "oracle": L.PlanePoint(3.1, -0.9, 1, 1),
              "ga_l1": L.PlanePoint(4.6, 0, 0, 1), "ga_l1_ft": L.PlanePoint(4.8, 0.1, 0, 1),
              **{m: L.PlanePoint(0.05 * (i % 3), 0.15 * i - 0.3, 0.5, 1) for i, m in enumerate(near)}}
    fig = plots.plot_loss_planes(plane, plane, points)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = [ax for ax in fig.get_axes() if ax.texts]  # the two loss panels (not the colour bars)
    assert len(panels) == 2
    for ax in panels:
        boxes = [t.get_bbox_patch().get_window_extent(renderer) for t in ax.texts]
        assert len(boxes) == len(points)
        clashes = [(ax.texts[i].get_text(), ax.texts[j].get_text()) for i in range(len(boxes))
                   for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])]
        assert not clashes, clashes
    matplotlib.pyplot.close(fig)


def _landscape(axes: tuple[str, str, str], oracle: L.PlanePoint | None) -> Landscape:
    plane = L.LossPlane(np.linspace(0, 1, 3), np.linspace(0, 1, 3), np.ones((3, 3)), n_slices=1)
    points = {"original": L.PlanePoint(0, 0, 0, 0), **({"oracle": oracle} if oracle is not None else {})}
    return Landscape(pd.DataFrame(), plane, plane, points, axes)


def test_landscape_caption_names_the_models_that_span_the_plane_and_the_oracle_off_plane_share():
    text = landscape_caption(_landscape(("original", "ga_l1", "nl_ft"), L.PlanePoint(9.8, -0.7, 3.0, 3.2)))
    assert "Plane through G (origin), GA-ℓ1 and NL-FT: x axis toward GA-ℓ1" in text
    assert "toward NL-FT orthogonal" in text and "Ĝ lies 94% off the plane" in text
    swapped = landscape_caption(_landscape(("original", "nl_ft", "oracle"), L.PlanePoint(1, 2, 0.0, 2.2)))
    assert "Plane through G (origin), NL-FT and Ĝ: x axis toward NL-FT" in swapped and "Ĝ lies 0% off" in swapped
    assert "off the plane" not in landscape_caption(_landscape(("original", "ga_l1", "nl_ft"), None))


def test_loss_planes_caption_is_the_figure_title():
    plane = L.LossPlane(np.linspace(0, 1, 4), np.linspace(0, 1, 4), np.arange(1.0, 17.0).reshape(4, 4), n_slices=1)
    fig = plots.plot_loss_planes(plane, plane, {"original": L.PlanePoint(0, 0, 0, 0)}, caption="through G")
    assert fig._suptitle.get_text() == "through G"
    matplotlib.pyplot.close(fig)
