"""Legibility of the figures, checked on their matplotlib objects (not pixels), at the saved size.

Four rules (:func:`problems`): no two text labels' boxes overlap; no text below :data:`MIN_POINTS`;
every colour-mapped image has a colour bar; every panel with several series is explained by a
legend (or by as many direct labels as series). Each rule is shown to fail on a figure built to
break it; the figures of :mod:`mriunlearn.plots` are rebuilt from the committed tables and checked.
"""

from __future__ import annotations

import itertools
import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection, QuadMesh  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from mriunlearn import paths, plots  # noqa: E402
from mriunlearn.paper_numbers import table1_gaps  # noqa: E402
from mriunlearn.experiments.retain_fraction import paper_gaps  # noqa: E402
from mriunlearn.manifest import PAPER_COLUMNS  # noqa: E402

#: the smallest font size (points) readable at the saved size
MIN_POINTS = 7.0
#: grey colour maps draw anatomy (intensity, not a quantity read off a scale): no colour bar needed
GREY_MAPS = frozenset({"gray", "grey", "Greys", "Greys_r", "gray_r", "binary", "binary_r", "bone"})
#: overlap allowed between two boxes (pixels at 150 dpi), for glyph padding
SLACK_PX = 1.0


def _texts(fig: plt.Figure) -> list[Text]:
    """Every visible, non-empty text the figure draws (titles, labels, annotations, legends, and
    the tick labels of the ticks inside each axis' view: matplotlib keeps others it never draws)."""
    ticks, drawn = set(), set()
    for ax in fig.axes:
        for axis in ax._axis_map.values():
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks.update({id(tick.label1), id(tick.label2)})
            for tick in axis._update_ticks():
                drawn.update({id(t) for t in (tick.label1, tick.label2) if t.get_visible()})
    found = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and t.figure is fig]
    return [t for t in found if id(t) not in ticks or id(t) in drawn]


def overlaps(fig: plt.Figure) -> list[str]:
    """Pairs of texts whose boxes (at the saved 150 dpi) overlap by more than :data:`SLACK_PX`."""
    fig.set_dpi(150)
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    # the text's own box: an annotation's leader line is not text (Annotation's extent includes it)
    boxes = [(t, Text.get_window_extent(t, renderer)) for t in _texts(fig)]
    bad = []
    for (a, ba), (b, bb) in itertools.combinations(boxes, 2):
        w = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
        h = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
        if w > SLACK_PX and h > SLACK_PX:
            bad.append(f"{a.get_text()!r} overlaps {b.get_text()!r}")
    return bad


def small_text(fig: plt.Figure) -> list[str]:
    """Texts below :data:`MIN_POINTS` (points at the figure's own size: the saved size)."""
    return [f"{t.get_text()!r} at {t.get_fontsize():.1f} pt" for t in _texts(fig) if t.get_fontsize() < MIN_POINTS - 1e-9]


def _mapped(fig: plt.Figure) -> list:
    return [m for ax in fig.axes for m in ax.get_children()
            if isinstance(m, (AxesImage, QuadMesh)) and m.get_visible() and m.get_cmap().name not in GREY_MAPS]


def missing_colour_bars(fig: plt.Figure) -> list[str]:
    """Colour-mapped images (grey anatomy excepted) without a colour bar for their map and range."""
    bars = [(ax._colorbar.cmap.name, ax._colorbar.norm.vmin, ax._colorbar.norm.vmax)
            for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]
    bad = []
    for m in _mapped(fig):
        key = (m.get_cmap().name, m.norm.vmin, m.norm.vmax)
        if m.colorbar is None and not any(k[0] == key[0] and np.isclose(k[1], key[1]) and np.isclose(k[2], key[2]) for k in bars):
            bad.append(f"{key[0]} image in {m.axes.get_title()!r} has no colour bar")
    return bad


def _series_colours(ax: plt.Axes) -> set[str]:
    """Distinct colours of the panel's data series (lines of ≥ 2 points, scatters, filled bands)."""
    colours = set()
    for a in ax.get_children():
        if isinstance(a, Line2D) and len(a.get_xdata()) >= 2 and a.get_visible():
            colours.add(matplotlib.colors.to_hex(a.get_color()))
        elif isinstance(a, (PathCollection, PolyCollection)) and a.get_visible() and len(a.get_facecolor()):
            colours.add(matplotlib.colors.to_hex(a.get_facecolor()[0], keep_alpha=False))
    return colours


def missing_legends(fig: plt.Figure) -> list[str]:
    """Panels with several series (distinct colours) and neither a legend in the figure nor as many
    direct labels (texts in the panel) as series."""
    has_legend = bool(fig.legends) or any(ax.get_legend() is not None for ax in fig.axes)
    bad = []
    for ax in fig.axes:
        if getattr(ax, "_colorbar", None) is not None:
            continue
        n = len(_series_colours(ax))
        if n >= 2 and not has_legend and len(ax.texts) < n:
            bad.append(f"panel {ax.get_title()!r}: {n} series, no legend")
    return bad


RULES = {"overlap": overlaps, "small text": small_text, "colour bar": missing_colour_bars, "legend": missing_legends}


def problems(fig: plt.Figure) -> dict[str, list[str]]:
    """Every rule's findings on ``fig`` (empty lists: legible)."""
    return {name: rule(fig) for name, rule in RULES.items()}


# --- each rule fails on a figure built to break it ---------------------------------------------

def _close(fig: plt.Figure) -> None:
    plt.close(fig)


def test_overlapping_labels_fail():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.text(0.5, 0.5, "first label", fontsize=9)
    ax.text(0.52, 0.5, "second label", fontsize=9)
    assert overlaps(fig) and not small_text(fig)
    _close(fig)


def test_small_text_fails():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_title("tiny", fontsize=5)
    assert small_text(fig) == ["'tiny' at 5.0 pt"]
    _close(fig)


def test_an_error_map_without_colour_bar_fails_and_with_one_passes():
    fig, (a, b) = plt.subplots(1, 2, figsize=(4, 2))
    a.imshow(np.random.default_rng(0).random((8, 8)), cmap="inferno")
    b.imshow(np.zeros((8, 8)), cmap="gray")  # anatomy: exempt
    assert len(missing_colour_bars(fig)) == 1
    fig.colorbar(a.images[0], ax=a)
    assert not missing_colour_bars(fig)
    _close(fig)


def test_several_series_without_legend_fail():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1], color="C0", label="a")
    ax.plot([0, 1], [1, 0], color="C1", label="b")
    assert missing_legends(fig)
    ax.legend()
    assert not missing_legends(fig)
    _close(fig)


# --- the project's figures, rebuilt from the committed tables ----------------------------------

def _csv(name: str, folder: str = "") -> pd.DataFrame:
    """A committed table (``folder``: a run folder under ``figures/``, e.g. ``unlearn_seeds_3/figures``)."""
    t = pd.read_csv(paths.REFERENCE_DIR / folder / f"{name}.csv")
    return t.drop(columns=[c for c in t.columns if str(c).startswith("Unnamed: ")])


#: the committed run of notebook 03 over three unlearning seeds
SEEDS_RUN = "unlearn_seeds_3/figures"


def _training_curves() -> plt.Figure:
    c = _csv("01_training_curves")
    return plots.training_curves({plots.label(m): g for m, g in c.groupby("model", sort=False)})


def _shared_knowledge() -> plt.Figure:
    return plots.shared_knowledge_figure(_csv("01_shared_knowledge"), paper=table1_gaps())


def _dynamics() -> plt.Figure:
    return plots.dynamics_figure(_csv("03_table2_dynamics"), _csv("03_table1"))


def _radar(name: str = "03_fig3_radar", folder: str = "") -> plt.Figure:
    r = _csv(name, folder)
    return plots.radar_psnr_grid(r, [m for m in dict.fromkeys(r.model) if m not in ("original", "oracle")])


def _radar_normalised(folder: str = "") -> plt.Figure:
    r = _csv("03_fig3_radar_normalised", folder).set_index("model")
    return plots.radar_grid(r, [m for m in r.index if m not in ("original", "oracle")], ncols=4)


def _fraction() -> plt.Figure:
    t1 = _csv("03_table1")
    oracle = float(t1[(t1.model == "oracle") & (t1.column == "BTA") & (t1.metric == "psnr")]["mean"].iloc[0])
    return plots.fraction_figure(_csv("04_fig5_fraction_time"), oracle)


def _per_volume() -> plt.Figure:
    pv = _csv("03_table1_per_volume")
    methods = [m for m in dict.fromkeys(pv.model) if m not in ("original", "oracle")]
    return plots.per_volume_figure(pv, methods, PAPER_COLUMNS, paper=table1_gaps())


def _noise_sweep() -> plt.Figure:
    from mriunlearn.experiments import noise_sweep as ns

    sweep = _csv("03_noise_sweep")
    return plots.noise_figure(ns.noise_table(sweep), ns.reference_gaps_of(_csv("03_table1")), per_seed=sweep)


def _fraction_volumes() -> plt.Figure:
    pv = _csv("03_table1_per_volume")
    return plots.fraction_volumes_figure(_csv("04_table3_per_volume"), pv[pv.model.isin(["original", "oracle"])], PAPER_COLUMNS,
                                         paper=paper_gaps())


def _nl_ablation(folder: str = "") -> plt.Figure:
    from mriunlearn.experiments import nl_ablation as na
    from mriunlearn.experiments import noise_sweep as ns

    refs = ns.reference_gaps_of(_csv("03_table1"))
    return plots.nl_ablation_figure(_csv("03_nl_ablation", folder), refs, na.COLLAPSE_DB, na.TOLERANCE_DB)


def _loss_landscape() -> plt.Figure:
    """Fig. 4 from its committed grids and points (each point's off-plane share as its residual)."""
    from mriunlearn.experiments.unlearning import Landscape, landscape_caption
    from mriunlearn.landscape import LossPlane, PlanePoint

    grid, pts = _csv("03_fig4_loss_landscape"), _csv("03_fig4_loss_landscape_points")
    record = paths.REFERENCE_DIR / "03_fig4_loss_landscape_points.json"
    plane = json.loads(record.read_text())["plane"] if record.exists() else {}
    axes = (plane.get("origin", "original"), plane.get("x_axis_toward", "ga_l1"), plane.get("y_axis_toward", "nl_ft"))
    labels = (f"‖Δθ‖ toward {plots.label(axes[1])}", f"‖Δθ‖ ⊥ toward {plots.label(axes[2])}")
    planes = {k: LossPlane.from_frame(g[["alpha", "beta", "loss"]], axis_labels=labels, n_slices=8, title=f"{k} loss")
              for k, g in grid.groupby("plane")}
    points = {r.model: PlanePoint(r.alpha, r.beta, r.off_plane, 1.0) for r in pts.itertuples()}
    land = Landscape(pts, planes["retain"], planes["forget"], points, axes)
    return plots.loss_landscape_figure(land, caption=landscape_caption(land))


def _panel_rows(name: str) -> list[dict]:
    """Notebook 02's panel rows: the committed slices, zoom boxes and circles, with stand-in images
    (the maps themselves are not committed; the layout does not depend on their values)."""
    rng = np.random.default_rng(0)
    rows = []
    for title, t in _csv(name).groupby("slice", sort=False):
        r = t.iloc[0]
        gt = rng.random((128, 128))
        rows.append({"target": gt, "original": gt + rng.normal(0, 0.05, gt.shape), "oracle": gt,
                     "unlearned": gt + rng.normal(0, 0.06, gt.shape), "title": title,
                     "box": (int(r.box_row0), int(r.box_col0), int(r.box_height), int(r.box_width)),
                     "regions": [tuple(reg) for reg in json.loads(r.regions)],
                     "null_G": 0.5 * gt, "null_GU": 0.5 * gt, "null_oracle": 0.5 * gt})
    return rows


def _fig1_panel() -> plt.Figure:
    from mriunlearn.experiments.hallucinations import panel_caption

    record = json.loads((paths.REFERENCE_DIR / "02_fig1_hallucination_panel.json").read_text())
    unlearned = f"Gᵁ ({plots.label(record['unlearned'])})"
    return plots.hallucination_panel(_panel_rows("02_fig1_hallucination_panel"),
                                     col_titles=("ground truth", "G (brain+knee)", "|G − GT|", unlearned, "|Gᵁ − GT|"),
                                     caption=panel_caption(pd.DataFrame(record["slices"]), "excess", unlearned))


FIGURES = {"01_training_curves": _training_curves, "01_shared_knowledge": _shared_knowledge,
           "03_table2_dynamics": _dynamics, "03_fig3_radar": _radar,
           "03_fig3_radar_extra": lambda: _radar("03_fig3_radar_extra"), "03_fig3_radar_normalised": _radar_normalised,
           "unlearn_seeds_3 03_fig3_radar": lambda: _radar(folder=SEEDS_RUN),
           "unlearn_seeds_3 03_fig3_radar_extra": lambda: _radar("03_fig3_radar_extra", SEEDS_RUN),
           "04_fig5_fraction_time": _fraction, "03_noise_sweep": _noise_sweep,
           "03_table1_per_volume": _per_volume, "04_table3_per_volume": _fraction_volumes,
           "03_nl_ablation": _nl_ablation, "nl_ablation 03_nl_ablation": lambda: _nl_ablation("nl_ablation/figures"),
           "03_fig4_loss_landscape": _loss_landscape, "02_fig1_hallucination_panel": _fig1_panel,
           "02_null_space_maps": lambda: plots.null_space_figure(_panel_rows("02_null_space_maps"))}
def test_dynamics_figure_with_its_ssim_row_is_legible():
    """Table 2's figure with the SSIM row it draws once ``dyn`` has an ``ssim`` column (synthetic
    SSIM on the committed epochs, in case the committed CSV predates it)."""
    dyn = _csv("03_table2_dynamics")
    dyn = dyn.assign(ssim=np.clip(dyn.psnr / 32.0, 0.0, 1.0)) if "ssim" not in dyn else dyn
    fig = plots.dynamics_figure(dyn, _csv("03_table1"))
    assert len(fig.axes) == 6 and fig.axes[3].get_ylabel() == "SSIM"
    found = {k: v for k, v in problems(fig).items() if v}
    _close(fig)
    assert not found, found


@pytest.mark.parametrize("name", FIGURES)
def test_committed_figure_is_legible(name):
    fig = FIGURES[name]()
    found = {k: v for k, v in problems(fig).items() if v}
    _close(fig)
    assert not found, found
