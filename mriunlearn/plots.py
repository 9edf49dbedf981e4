"""Figure helpers shared by the notebooks. Every figure is saved as PNG and PDF in ``figures/``
(atomically) and the numbers behind it as CSV/JSON beside it.

Images passed in are 2-D float arrays ``(h, w)``; tables are tidy pandas DataFrames.
"""

from __future__ import annotations

import contextlib
import json
import math
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from . import paths
from .atomic import atomic_path, atomic_write_text
from .intervals import quadratic_fit_band, t_interval
from .labels import label

if TYPE_CHECKING:  # these types only annotate: plots imports no computation
    from .experiments.overview import Overview
    from .landscape import LossPlane, PlanePoint

#: colours used for every method across figures
METHOD_COLOURS: dict[str, str] = {
    "zero_filled": "#bbbbbb", "original": "#444444", "oracle": "#2a9d8f", "full_ft": "#8ab17d", "ft": "#5e8c31",
    "ga": "#e76f51", "ga_l1": "#d62828", "nl": "#f4a261", "ga_l1_ft": "#9d4edd", "nl_ft": "#1d4ed8",
    "neggrad_plus": "#b5838d", "bad_teacher": "#6d6875", "scrub": "#0096c7", "ssd": "#ffb703",
    "salun": "#fb8500", "l1_sparse": "#023047",
}

#: one look for every figure of the project: seaborn's "ticks" style (white background, no grid
#: unless a plot asks for one, so images and contour maps stay clean), a slightly smaller "notebook"
#: context, a colour-blind-safe palette for anything that is not a method (methods keep
#: :data:`METHOD_COLOURS`). Importing this module changes no style: :func:`use_theme` applies it
THEME: dict[str, Any] = {"context": "notebook", "style": "ticks", "palette": "colorblind", "font_scale": 0.85,
                         "rc": {"axes.spines.top": False, "axes.spines.right": False, "savefig.dpi": 150}}


def use_theme() -> None:
    """Apply :data:`THEME` to matplotlib's global settings for the rest of the process.

    Every committed figure is drawn under it: a notebook or a figure-writing script calls this once,
    before its first figure. Calling it again changes nothing. For one block only, use :func:`themed`.
    """
    sns.set_theme(**THEME)


@contextlib.contextmanager
def themed() -> Iterator[None]:
    """:data:`THEME` inside the block, the caller's matplotlib settings restored after it. Draw *and*
    save inside the block: some settings (tick marks, fonts) are read only when a figure is rendered."""
    with plt.rc_context():
        use_theme()
        yield


def method_colour(name: str, default: str | None = None) -> str | None:
    """The colour of a method or model; a variant label (``"nl_ft:code"``) takes its method's."""
    return METHOD_COLOURS.get(name) or METHOD_COLOURS.get(name.partition(":")[0], default)


@contextlib.contextmanager
def _fixed_jitter(seed: int = 0) -> Iterator[None]:
    """seaborn's strip-plot jitter draws from numpy's global RNG: seed it for the plot (and restore the
    caller's state), so the same numbers draw the same bytes on every run."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def save_figure(fig: plt.Figure, name: str, out_dir: Path | None = None) -> list[Path]:
    """Save ``fig`` as ``<name>.png`` (150 dpi) and ``<name>.pdf``; returns both paths."""
    out_dir = out_dir or paths.figures_dir()
    written = []
    for ext in ("png", "pdf"):
        target = out_dir / f"{name}.{ext}"
        with atomic_path(target) as tmp:
            # no creation date in the PDF: the same figure gives the same bytes on every run
            meta = {"CreationDate": None} if ext == "pdf" else None
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight", metadata=meta)
        written.append(target)
    return written


def save_table(df: pd.DataFrame, name: str, out_dir: Path | None = None, meta: Mapping[str, object] | None = None) -> Path:
    """Save the numbers behind a figure as ``<name>.csv``; ``meta`` (seeds, subsets, profile) as
    ``<name>.json`` beside it. Returns the CSV path."""
    out_dir = out_dir or paths.figures_dir()
    csv = out_dir / f"{name}.csv"
    atomic_write_text(csv, df.to_csv(index=True, lineterminator="\n"))
    if meta is not None:
        atomic_write_text(out_dir / f"{name}.json", json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    return csv


def save_json(record: Mapping[str, object], name: str, out_dir: Path | None = None) -> Path:
    """Save what stands behind a figure that has no table (a schematic, the provenance of example
    images) as ``<name>.json``; returns its path."""
    out = (out_dir or paths.figures_dir()) / f"{name}.json"
    atomic_write_text(out, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return out





def show_images(images: Sequence[np.ndarray], titles: Sequence[str], ncols: int | None = None,
                cmap: str = "gray", vmax: float | None = None, size: float = 2.4) -> plt.Figure:
    """A grid of 2-D images ``(h, w)`` with titles, no axes."""
    n = len(images)
    ncols = ncols or n
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, title in zip(axes.flat, images, titles):
        ax.imshow(img, cmap=cmap, vmin=0 if cmap == "gray" else None, vmax=vmax)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def hallucination_panel(rows: Sequence[Mapping[str, object]], col_titles: Sequence[str] = (
        "ground truth", "G (brain+knee)", "|G − GT|", "unlearned Gᵁ", "|Gᵁ − GT|"), zoom: float = 1.0,
        caption: str | None = None) -> plt.Figure:
    """The paper's Fig. 1 layout.

    Each row is a mapping with ``target``, ``original``, ``unlearned`` (arrays ``(h, w)``), ``box``
    ``(row0, col0, height, width)`` of the zoomed region, optional ``title`` and optional
    ``regions`` (list of ``(row, col, radius)`` circles to draw on the error maps, e.g. connected
    components of the hallucination map). Every row is drawn twice: full view, then the zoomed box.
    Images share one grey scale per row and error maps one colour scale per row, read off the
    colour bar at the right of each view; ``caption`` (e.g.
    :func:`mriunlearn.experiments.hallucinations.panel_caption`) is the figure's title, wrapped.
    """
    nrows = 2 * len(rows)
    fig, axes = plt.subplots(nrows, 6, figsize=(2.3 * 5 * zoom + 0.9, 2.3 * nrows * zoom + (0.6 if caption else 0)),
                             squeeze=False, gridspec_kw={"width_ratios": [1] * 5 + [0.06]})
    for i, row in enumerate(rows):
        gt, g, gu = (np.asarray(row[k]) for k in ("target", "original", "unlearned"))
        vmax = float(gt.max())
        err_g, err_u = np.abs(g - gt), np.abs(gu - gt)
        emax = float(max(err_g.max(), err_u.max())) or 1.0
        r0, c0, bh, bw = row["box"]  # type: ignore[misc]
        panels = [(gt, "gray", vmax), (g, "gray", vmax), (err_g, "inferno", emax), (gu, "gray", vmax), (err_u, "inferno", emax)]
        for view in range(2):
            for j, (img, cmap, vm) in enumerate(panels):
                ax = axes[2 * i + view, j]
                shown = img if view == 0 else img[r0:r0 + bh, c0:c0 + bw]
                im = ax.imshow(shown, cmap=cmap, vmin=0, vmax=vm)
                ax.set_xticks([]), ax.set_yticks([])
                if view == 0:
                    ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), bw, bh, fill=False, ec="#00e5ff", lw=1))
                    if i == 0:
                        ax.set_title(col_titles[j], fontsize=9)
                for (rr, cc, rad) in row.get("regions", []) if j in (1, 2) else []:  # type: ignore[union-attr]
                    if view == 1:
                        rr, cc = rr - r0, cc - c0
                    ax.add_patch(Circle((cc, rr), rad, fill=False, ec="#39ff14", lw=1.2))
                if j == 4:
                    _error_bar(fig, im, axes[2 * i + view, 5])
            axes[2 * i + view, 0].set_ylabel(f"{row.get('title', '')}\n{'full' if view == 0 else 'zoom'}", fontsize=8)
    if caption:
        fig.suptitle(textwrap.fill(caption, 130), fontsize=8.5)
    fig.tight_layout()
    return fig


def _error_bar(fig: plt.Figure, image: Any, where: plt.Axes | list[plt.Axes], name: str = "|x̂ − x|") -> None:
    """A colour bar for an error map ``image``: drawn in ``where`` (an axes) or beside ``where``
    (a list of axes, in a constrained layout); 3 ticks in scientific notation, 7 pt, labelled ``name``."""
    cb = (fig.colorbar(image, cax=where) if isinstance(where, plt.Axes)
          else fig.colorbar(image, ax=where, fraction=0.02, pad=0.01))
    cb.locator = plt.MaxNLocator(3)
    cb.formatter = FuncFormatter(lambda v, _: f"{v:.1e}" if v else "0")
    cb.update_ticks()
    cb.ax.tick_params(labelsize=7)
    cb.set_label(name, fontsize=7)


def pipeline_schematic() -> plt.Figure:
    """The paper's Fig. 2: retain + forget → G → unlearning → Gᵁ; retain → retraining → Ĝ."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.set_xlim(0, 10), ax.set_ylim(0, 4), ax.axis("off")

    def box(x: float, y: float, text: str, colour: str, w: float = 1.8, h: float = 0.8) -> tuple[float, float, float, float]:
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour, ec="#333333", lw=1))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9)
        return x, y, w, h

    def arrow(a: tuple[float, float], b: tuple[float, float], text: str = "", style: str = "-|>") -> None:
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=12, lw=1.2, color="#333333"))
        if text:
            ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.18, text, ha="center", fontsize=8, style="italic")

    box(0.1, 2.6, "forget $D_f$\n(knee)", "#ffd9cc")
    box(0.1, 1.3, "retain $D_r$\n(brain)", "#cfe8ff")
    box(3.0, 2.0, "original $G$\n(trained on $D_r∪D_f$)", "#e6e6e6", w=2.2)
    box(7.2, 2.0, "unlearned $G^U$", "#d8f3dc")
    box(7.2, 0.3, "oracle $\\hat G$\n(retrained on $D_r$)", "#b7e4c7")
    arrow((1.9, 3.0), (3.0, 2.55)), arrow((1.9, 1.7), (3.0, 2.25))
    arrow((5.2, 2.4), (7.2, 2.4), "unlearning: $D_f$ + subset $D_r'$")
    arrow((1.9, 1.45), (7.2, 0.7), "retraining from scratch on $D_r$ (costly)")
    arrow((8.1, 1.1), (8.1, 2.0), "", style="<|-|>")
    ax.text(8.25, 1.5, "as close as\npossible", fontsize=8, va="center")
    fig.tight_layout()
    return fig


def radar_chart(ax: plt.Axes, values: Mapping[str, float], reference: Mapping[str, float], title: str,
                colour: str = "#1d4ed8") -> None:
    """One radar chart (polar ``ax``) of ``values`` over the ``reference`` (oracle) polygon.

    Both mappings share keys (the axes, e.g. UA, KTA, BTA, RTE), already normalised to [0, 1].
    """
    keys = list(reference)
    angles = np.linspace(0, 2 * np.pi, len(keys), endpoint=False).tolist()
    closed = angles + angles[:1]
    ref = [reference[k] for k in keys] + [reference[keys[0]]]
    val = [values[k] for k in keys] + [values[keys[0]]]
    ax.plot(closed, ref, color="#2a9d8f", lw=1.2, ls="--", label="oracle Ĝ")
    ax.fill(closed, ref, color="#2a9d8f", alpha=0.15)
    ax.plot(closed, val, color=colour, lw=1.6, label=title)
    ax.fill(closed, val, color=colour, alpha=0.25)
    ax.set_xticks(angles, keys, fontsize=8)
    ax.set_yticks([0.25, 0.5, 0.75, 1.0], ["", "", "", ""])
    ax.set_ylim(0, 1.05)
    ax.set_title(title, fontsize=10, pad=10)



def data_examples_figure(examples: Mapping[str, Mapping[str, object]], size: float = 3.0) -> plt.Figure:
    """Per organ (rows): ground truth, zero-filled input, mask, and the coil-map magnitudes (a small
    grid in the fourth panel), each panel ``size`` inches wide, captioned with the source slice.

    ``examples`` as returned by :func:`mriunlearn.experiments.data_overlap.data_examples`.
    """
    organs = list(examples)
    n_coils = max(np.asarray(e["sens"]).shape[0] for e in examples.values())
    sub = int(np.ceil(np.sqrt(n_coils)))
    fig = plt.figure(figsize=(4 * size + 0.6, (size + 0.9) * len(organs)), layout="constrained")
    rows = fig.subfigures(len(organs), 1, squeeze=False)[:, 0]
    for sf, organ in zip(rows, organs):
        e = examples[organ]
        target, zf = np.asarray(e["target"]), np.asarray(e["zero_filled"])
        mask = np.asarray(e["mask"], dtype=bool)
        vmax = float(target.max())
        sf.suptitle(f"{organ}: {e['name']}", fontsize=11, fontweight="bold", ha="left", x=0.01)
        cols = sf.subfigures(1, 4, wspace=0.02)
        panels = [(target, "ground truth", vmax), (zf, "zero-filled input (8×)", vmax),
                  (np.tile(mask[None, :].astype(float), (target.shape[0], 1)),
                   f"mask: {int(mask.sum())} of {mask.size} lines (white)", 1.0)]
        for col, (img, title, vm) in zip(cols[:3], panels):
            ax = col.subplots()
            ax.imshow(img, cmap="gray", vmin=0, vmax=vm)
            ax.set_title(title, fontsize=10)
            ax.axis("off")
        coil_axes = cols[3].subplots(sub, sub, squeeze=False)
        cols[3].suptitle("coil sensitivities |Sᶜ|", fontsize=10)
        for c, ax in enumerate(coil_axes.flat):
            ax.axis("off")
            if c < n_coils and c < np.asarray(e["sens"]).shape[0]:
                ax.imshow(np.asarray(e["sens"])[c], cmap="viridis", vmin=0)
                ax.text(0.04, 0.96, f"c={c}", transform=ax.transAxes, fontsize=8, color="white", va="top")
    return fig


def training_curves(histories: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """Training loss and validation PSNR per epoch for several runs (engine histories)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    for name, h in histories.items():
        a.plot(h.epoch, h.train_loss, marker="o", ms=3, label=name)
        b.plot(h.epoch, h.val_psnr, marker="o", ms=3, label=name)
    a.set(xlabel="epoch", ylabel="training loss (1 − SSIM + λ·L1)", title="training loss")
    b.set(xlabel="epoch", ylabel="PSNR (dB)", title="validation PSNR (brain)")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def shared_knowledge_figure(tidy: pd.DataFrame, paper: pd.DataFrame | None = None) -> plt.Figure:
    """Grouped bars of PSNR (mean ± std over volumes) per paper column for each model, each mean
    written above its error bar (and above the paper's marker).

    ``paper``: the paper's Table 1 as gaps to its Ĝ (``model``, ``column``, ``gap``;
    :func:`mriunlearn.paper_numbers.table1_gaps`); each model's gap other than Ĝ's is drawn on its
    bar as a hollow diamond at this Ĝ's mean + the paper's gap (``None``: no markers).
    """
    t = tidy[tidy.metric == "psnr"]
    models = list(dict.fromkeys(t.model))
    cols = list(dict.fromkeys(t.column))
    oracle = t[t.model == "oracle"].set_index("column")["mean"].reindex(cols)
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    width = 0.8 / len(models)
    marked, highest = False, -np.inf
    for k, m in enumerate(models):
        sub = t[t.model == m].set_index("column").reindex(cols)
        x = np.arange(len(cols)) + (k - (len(models) - 1) / 2) * width
        top = sub["mean"] + sub["std"].fillna(0)
        ax.bar(x, sub["mean"], width, yerr=sub["std"].fillna(0), capsize=3, label=label(m),
               color=METHOD_COLOURS.get(m, "#bbbbbb"))
        gaps = paper[paper.model == m].set_index("column")["gap"].reindex(cols) if paper is not None and m != "oracle" else None
        if gaps is not None and gaps.notna().any():
            ax.scatter(x, oracle + gaps, **PAPER_MARKER)
            top = np.fmax(top, oracle + gaps)
            marked = True
        highest = max(highest, float(np.nanmax(top)))
        for xi, v, y in zip(x, sub["mean"], top):  # above the error bar's cap and the paper's marker
            ax.text(xi, y + 0.2, f"{v:.1f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(np.arange(len(cols)), cols)
    ax.set_ylabel("PSNR (dB)")
    lo = float((t["mean"] - t["std"].fillna(0)).min())
    ax.set_ylim(max(0.0, lo - 3), highest + 2.5)
    handles = ax.get_legend_handles_labels()[0] + ([_paper_handle()] if marked else [])
    ax.legend(handles=handles, fontsize=8, ncol=len(models) if not marked else 2)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("shared knowledge: original G vs oracle Ĝ")
    fig.tight_layout()
    return fig


def null_space_figure(rows: Sequence[Mapping[str, object]]) -> plt.Figure:
    """Per chosen slice (column blocks): full error |x̂ − x| (top) and its null-space part (bottom)
    for G, Ĝ and Gᵁ, on one colour scale per slice read off the colour bar right of its block; rows
    as returned by :func:`mriunlearn.experiments.hallucinations.hallucination_examples`."""
    models = (("original", "null_G", "G"), ("oracle", "null_oracle", "Ĝ"), ("unlearned", "null_GU", "Gᵁ"))
    fig, axes = plt.subplots(2, 3 * len(rows), figsize=(2.1 * 3 * len(rows) + 0.8 * len(rows), 4.6), squeeze=False,
                             layout="constrained")
    for i, row in enumerate(rows):
        gt = np.asarray(row["target"])
        errs = [(np.abs(np.asarray(row[key]) - gt), np.asarray(row[null_key]), name) for key, null_key, name in models]
        vmax = max(float(e.max()) for e, _, _ in errs) or 1.0
        for j, (err, null, name) in enumerate(errs):
            top, bottom = axes[0, 3 * i + j], axes[1, 3 * i + j]
            for ax in (top, bottom):
                ax.set_xticks([]), ax.set_yticks([])
            im = top.imshow(err, cmap="inferno", vmin=0, vmax=vmax)
            top.set_title(f"{name}: |x̂ − x|", fontsize=8)
            bottom.imshow(null, cmap="inferno", vmin=0, vmax=vmax)
            bottom.set_title(f"{name}: |P_null e|", fontsize=8)
        axes[0, 3 * i].set_ylabel(str(row.get("title", "")), fontsize=7)
        _error_bar(fig, im, axes[:, 3 * i:3 * i + 3].ravel().tolist(), "|x̂ − x| and |P_null e|")
    return fig


#: axis label of each metric a figure draws
METRIC_LABELS: dict[str, str] = {"psnr": "PSNR (dB)", "ssim": "SSIM"}


def membership_figure(table: pd.DataFrame, null: pd.DataFrame | None = None) -> plt.Figure:
    """Membership AUC of every model with its 95% interval, one row per model (top: first row of
    ``table``), against the 0.5 of "no membership signal"; ``table`` has ``model``, ``mia_auc``,
    ``mia_low``, ``mia_high`` and ``mia_verdict`` (:func:`mriunlearn.experiments.unlearning.forgetting_summary`).
    ``null`` (:func:`mriunlearn.experiments.unlearning.membership_null`): the oracles' AUCs against
    each other, drawn as a grey band from the lowest to the highest (the test's noise floor)."""
    t = table.dropna(subset=["mia_auc"]).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.2, 0.32 * len(t) + 1.2), layout="constrained")
    if null is not None and len(null):
        ax.axvspan(float(null.mia_auc.min()), float(null.mia_auc.max()), color="0.88", zorder=0,
                   label=f"oracles against each other ({len(null)})")
        ax.legend(fontsize=7, loc="lower left", frameon=False)
    y = np.arange(len(t))[::-1]
    for yi, row in zip(y, t.itertuples()):
        colour = method_colour(str(row.model), "0.3")
        ax.plot([row.mia_low, row.mia_high], [yi, yi], color=colour, lw=2.2, solid_capstyle="butt")
        ax.plot(row.mia_auc, yi, "o", color=colour, ms=6, mec="white", mew=0.8)
        ax.text(1.02, yi, str(row.mia_verdict), va="center", fontsize=7, color="0.3", transform=ax.get_yaxis_transform())
    ax.axvline(0.5, color="0.5", ls="--", lw=1)
    ax.set_yticks(y, [label(str(m)) for m in t.model])
    ax.set_xlim(0, 1)
    ax.set_xlabel("membership AUC: forget vs unseen knee slices (0.5 = no signal)")
    ax.set_title("Does the model still recognise D_f? (95% interval over subjects)", fontsize=9)
    return fig


def shift_figure(table: pd.DataFrame) -> plt.Figure:
    """Mean absolute PSNR gap to Ĝ of G and every method under each sampling condition (x, in the
    table's order, the trained one marked), one line per model, log scale; ``table`` as returned by
    :func:`mriunlearn.experiments.sampling_shift.shift_table`."""
    conds = list(dict.fromkeys(table.condition))
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    for model, g in table[table.model != "oracle"].groupby("model", sort=False):
        g = g.set_index("condition").reindex(conds)
        ref = model == "original"
        ax.plot(range(len(conds)), g.gap.clip(lower=1e-2), marker="o", ms=4, lw=2.4 if ref else 1.4,
                ls="--" if ref else "-", color=method_colour(str(model), "0.3"), label=label(str(model)))
    trained = set(table.loc[table.trained, "condition"])
    ax.set_xticks(range(len(conds)), [f"{c}\n(trained)" if c in trained else c for c in conds])
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(FixedLocator([0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("mean |PSNR gap| to Ĝ (dB)")
    ax.set_title("Forgetting under sampling shift: each model's gap to Ĝ under the same\n"
                 "condition, no retraining (lower = nearer the oracle)", fontsize=9)
    ax.legend(fontsize=7, ncols=2, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def relearning_figure(curves: pd.DataFrame, recovery: pd.DataFrame) -> plt.Figure:
    """The relearning attack: UA and KTA PSNR (columns) over fine-tuning steps (symlog x) under each
    condition (rows), one line per model: G and Ĝ thick and dashed, the oracles of other seeds thin
    and grey (``"oracle@<seed>"``, the spread of a model that never saw D_f), the unlearned models in
    their colours; the dotted line is the half-gap threshold of ``recovery``.

    ``curves``: :func:`mriunlearn.experiments.relearning.relearn_curves`; ``recovery``: its
    :func:`~mriunlearn.experiments.relearning.recovery_steps`."""
    conditions, columns = list(dict.fromkeys(curves.condition)), ["UA", "KTA"]
    titles = {"forget": "fine-tuned on one forget volume", "retain": "fine-tuned on retain data only"}
    fig, axes = plt.subplots(len(conditions), 2, figsize=(10, 2.9 * len(conditions) + 0.6), sharex=True, squeeze=False)
    for i, condition in enumerate(conditions):
        for j, column in enumerate(columns):
            ax = axes[i, j]
            sel = curves[(curves.condition == condition) & (curves.column == column)]
            for model, g in sel.groupby("model", sort=False):
                name = str(model)
                ref = name in ("original", "oracle")
                other_seed = name.startswith("oracle@")
                ax.plot(g.step, g.psnr, lw=2.4 if ref else 0.8 if other_seed else 1.3, ls="--" if ref else "-",
                        color="0.6" if other_seed else method_colour(name, "0.3"), zorder=3 if ref else 2,
                        label="Ĝ, other seeds" if other_seed else label(name))
            t = recovery[(recovery.condition == condition) & (recovery.column == column)].threshold
            if len(t):
                ax.axhline(float(t.iloc[0]), color="0.3", ls=":", lw=1, label="half of G's gap over Ĝ")
            ax.set_xscale("symlog", linthresh=1)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.set_title(f"{column}, {titles.get(condition, condition)}", fontsize=9)
            ax.set_ylabel("PSNR (dB)")
            if i == len(conditions) - 1:
                ax.set_xlabel("fine-tuning steps")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    fig.legend(unique.values(), unique.keys(), fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle("Relearning attack: does D_f come back faster than to a model that never saw it?", fontsize=10)
    fig.tight_layout()
    return fig


def audit_figure(audit: pd.DataFrame, closeness: pd.DataFrame) -> plt.Figure:
    """The forgetting audit as a table of coloured cells: rows the models of ``audit``
    (:func:`mriunlearn.experiments.forgetting_audit.audit_table`), columns its audit columns, each
    cell coloured by ``closeness`` (:func:`~mriunlearn.experiments.forgetting_audit.closeness`: 0 =
    at Ĝ, 1 = at G, clipped at 2; grey where missing) and labelled with the value itself."""
    values = audit.set_index("model")[list(closeness.columns)]
    fig, ax = plt.subplots(figsize=(1.45 * values.shape[1] + 2.2, 0.34 * len(values) + 1.6), layout="constrained")
    cmap = plt.get_cmap("RdYlGn_r").with_extremes(bad="0.9")
    shade = closeness.to_numpy(float).clip(0, 2)
    image = ax.imshow(np.ma.masked_invalid(shade), cmap=cmap, vmin=0, vmax=2, aspect="auto")
    for (r, c), v in np.ndenumerate(values.to_numpy(object)):
        text = f"{v:.2f}" if isinstance(v, float) and not math.isnan(v) else "–" if isinstance(v, float) else str(v)
        dark = shade[r, c] < 0.25 or shade[r, c] > 1.6  # the deep ends of the colour map
        ax.text(c, r, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_xticks(range(values.shape[1]), [textwrap.fill(str(c), 14) for c in values.columns], fontsize=7)
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(values)), [label(str(m)) for m in values.index], fontsize=8)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    bar = fig.colorbar(image, ax=ax, shrink=0.6, ticks=[0, 1, 2])
    bar.ax.set_yticklabels(["at Ĝ", "at G", "2× G's\ndistance"], fontsize=7)
    ax.set_title("Forgetting audit: colour = distance from Ĝ in units of G's distance from Ĝ", fontsize=9)
    return fig


def dynamics_figure(dyn: pd.DataFrame, oracle: pd.DataFrame | None = None) -> plt.Figure:
    """The paper's Table 2 as line plots: per unlearning epoch the PSNR (top row) and, where ``dyn``
    has an ``ssim`` column, the SSIM (bottom row), one panel per paper column, the epochs shared.

    ``dyn`` from :func:`mriunlearn.experiments.unlearning.dynamics` (or its CSV; one saved before
    Table 2 had SSIM draws the PSNR row alone); ``oracle`` (a summary table with an ``oracle`` model)
    draws Ĝ's level of each metric as a dashed line. One legend, right of the top row.
    """
    cols = ["BTA", "KTA", "UA"]
    metrics = [k for k in METRIC_LABELS if k in dyn.columns]
    fig, axes = plt.subplots(len(metrics), 3, figsize=(12, 0.4 + 3.0 * len(metrics)), sharex=True, squeeze=False)
    mean = dyn.groupby(["model", "epoch", "column"], sort=False)[metrics].mean().reset_index()
    for i, k in enumerate(metrics):
        for ax, c in zip(axes[i], cols):
            for m in dict.fromkeys(mean.model):
                t = mean[(mean.model == m) & (mean.column == c)]
                ax.plot(t.epoch, t[k], marker="o", ms=3, color=METHOD_COLOURS.get(m), label=label(m))
            if oracle is not None:
                o = oracle[(oracle.model == "oracle") & (oracle.column == c) & (oracle.metric == k)]
                if len(o):
                    ax.axhline(float(o["mean"].iloc[0]), ls="--", color=METHOD_COLOURS["oracle"], lw=1, label="Ĝ oracle")
            ax.set(title=c if i == 0 else "", ylabel=METRIC_LABELS[k])
            ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("unlearning epoch (0 = G)")
    axes[0, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def radar_grid(radar: pd.DataFrame, methods: Sequence[str], ncols: int = 3) -> plt.Figure:
    """One radar chart per method over the oracle's polygon, every axis min–max normalised (``radar``
    from :func:`mriunlearn.experiments.unlearning.radar_values`, indexed by model, columns UA, KTA,
    BTA, RTE); the paper's form, in dB, is :func:`radar_psnr_grid`."""
    axes_keys = ["UA", "KTA", "BTA", "RTE"]
    ref = {k: float(radar.loc["oracle", k]) for k in axes_keys}
    nrows = int(np.ceil(len(methods) / ncols))
    fig = plt.figure(figsize=(3.6 * ncols, 3.4 * nrows))
    for i, m in enumerate(methods):
        ax = fig.add_subplot(nrows, ncols, i + 1, polar=True)
        radar_chart(ax, {k: float(radar.loc[m, k]) for k in axes_keys}, ref, label(m), METHOD_COLOURS.get(m, "#1d4ed8"))
    # one legend for every panel: the dashed shape is Ĝ, the solid one the method its title names
    handles = [Line2D([], [], color="#2a9d8f", lw=1.2, ls="--", label="oracle Ĝ (dashed, every panel)"),
               Line2D([], [], color="#555555", lw=1.6, label="the method named above each panel (solid)")]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def _radar_band(ax: plt.Axes, angles: list[float], low: np.ndarray, high: np.ndarray, colour: str) -> None:
    """Shade the ring between the closed polygons ``low`` and ``high`` (one radius per angle): the
    outer polygon one way round, the inner the other, so the non-zero fill rule leaves the inside empty."""
    closed = angles + angles[:1]
    outer, inner = list(high) + [high[0]], list(low) + [low[0]]
    ax.fill(closed + closed[::-1], outer + inner[::-1], color=colour, alpha=0.35, lw=0)


def _radar_scale(radar: pd.DataFrame) -> tuple[float, float]:
    """``(r_max, rte_top)``: the PSNR radius of the charts (the largest ``high``, up to a multiple of
    10 dB) and the RTE value drawn at that radius (1, or the largest RTE ``high`` above it)."""
    psnr = radar[radar.axis != "RTE"]
    r_max = 10.0 * math.ceil(float(psnr.high.max()) / 10.0)
    rte_top = max(1.0, float(radar[radar.axis == "RTE"].high.max()))
    return r_max, rte_top


def radar_psnr_grid(radar: pd.DataFrame, methods: Sequence[str], ncols: int = 3) -> plt.Figure:
    """The paper's Fig. 3: one radar chart per method over Ĝ's polygon (dashed), UA, KTA and BTA in
    PSNR (dB, one radial scale with ticks) and RTE on the same radius (1 = the fastest model's mean
    wall time; its own ticks along its axis). Where a method ran at several seeds its polygon has a
    shaded band, the 95% interval over seeds of every axis; the legend names Ĝ, each method and the band.

    ``radar``: :func:`mriunlearn.experiments.unlearning.radar_psnr`'s table (or its saved CSV):
    ``model``, ``axis``, ``value``, ``low``, ``high``, ``n_seeds``; it must hold ``oracle``.
    """
    keys = ["UA", "KTA", "BTA", "RTE"]
    r_max, rte_top = _radar_scale(radar[radar.model.isin(["oracle", *methods])])
    angles = np.linspace(0, 2 * np.pi, len(keys), endpoint=False).tolist()

    def polygon(model: str, col: str) -> np.ndarray:
        t = radar[radar.model == model].set_index("axis").reindex(keys)[col].to_numpy(float, copy=True)
        t[-1] *= r_max / rte_top
        return np.clip(np.nan_to_num(t), 0.0, None)  # an interval reaching below 0 stops at the centre

    nrows = int(np.ceil(len(methods) / ncols))
    fig = plt.figure(figsize=(3.6 * ncols, 4.0 * nrows + 0.6))
    ref = polygon("oracle", "value")
    handles = [Line2D([], [], color=METHOD_COLOURS["oracle"], lw=1.3, ls="--", label="Ĝ, the oracle (dashed, every chart)")]
    for i, m in enumerate(methods):
        ax = fig.add_subplot(nrows, ncols, i + 1, polar=True)
        colour = METHOD_COLOURS.get(m, "#1d4ed8")
        ax.plot(angles + angles[:1], [*ref, ref[0]], color=METHOD_COLOURS["oracle"], lw=1.3, ls="--")
        val = polygon(m, "value")
        ax.plot(angles + angles[:1], [*val, val[0]], color=colour, lw=1.6)
        if int(radar[radar.model == m].n_seeds.max()) > 1:
            _radar_band(ax, angles, polygon(m, "low"), polygon(m, "high"), colour)
        ax.set_xticks(angles, keys, fontsize=8)
        ticks = np.arange(10.0, r_max + 1e-9, 10.0)
        ax.set_rgrids(ticks, [f"{t:g} dB" for t in ticks], angle=45, fontsize=7, color="#555555")
        for frac in (0.5, 1.0):  # RTE's own scale, beside its axis
            ax.text(angles[-1] + 0.2, frac * r_max, f"{frac * rte_top:.2g}", fontsize=7, color="#555555",
                    ha="left", va="center")
        ax.set_ylim(0, r_max)
        ax.set_title(label(m), fontsize=10, pad=12)
        handles.append(Line2D([], [], color=colour, lw=1.6, label=label(m)))
    n = int(radar[radar.model.isin(methods)].n_seeds.max())
    if n > 1:
        handles.append(Rectangle((0, 0), 1, 1, fc="#888888", alpha=0.35, label=f"band: 95% interval over {n} seeds"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 4), fontsize=8, frameon=False)
    fig.suptitle("UA, KTA, BTA: PSNR (dB); RTE: the fastest mean wall time over this run's (1 = fastest)",
                 fontsize=9, y=0.995)
    fig.tight_layout(rect=(0, 0.06 + 0.03 * (len(handles) > 4), 1, 0.97), h_pad=2.5)
    return fig


def fraction_figure(sweep: pd.DataFrame, oracle_bta: float | None = None) -> plt.Figure:
    """The paper's Fig. 5: BTA against unlearning cost per method, with a quadratic fit and its 95%
    band; left x = wall time (s), right x = slice-steps. One row per method; each point's retain
    fraction labels it, placed clear of the other labels and points (:func:`_place_labels`)."""
    methods = list(dict.fromkeys(sweep.method))
    fig, axes = plt.subplots(len(methods), 2, figsize=(10, 3.0 * len(methods)), squeeze=False)
    placements = []
    for i, m in enumerate(methods):
        t = sweep[sweep.method == m]
        for j, xcol in enumerate(("wall_time_s", "slice_steps")):
            ax = axes[i, j]
            x, y = t[xcol].to_numpy(float), t.BTA.to_numpy(float)
            ax.scatter(x, y, color=method_colour(m), zorder=3)
            anns = [ax.annotate(f"{f:.0%}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7,
                                arrowprops=dict(arrowstyle="-", color="#888888", lw=0.6, shrinkA=0, shrinkB=3))
                    for xi, yi, f in zip(x, y, t.fraction)]
            placements.append((ax, anns, list(zip(x, y))))
            if len(np.unique(x)) >= 3:
                grid = np.linspace(x.min(), x.max(), 100)
                fit, lo, hi = quadratic_fit_band(x, y, grid)
                ax.plot(grid, fit, color=method_colour(m), lw=1.2)
                ax.fill_between(grid, lo, hi, color=method_colour(m), alpha=0.15)
            if oracle_bta is not None:
                ax.axhline(oracle_bta, ls="--", color=METHOD_COLOURS["oracle"], lw=1)
            ax.set(xlabel="unlearning wall time (s, this machine)" if j == 0 else "slice-steps",
                   ylabel="BTA PSNR (dB)", title=label(m))
            ax.grid(alpha=0.3)
    handles = [Line2D([], [], color="#555555", lw=1.2, label="quadratic fit (line), its 95% confidence band (shade)")]
    if oracle_bta is not None:
        handles.append(Line2D([], [], ls="--", color=METHOD_COLOURS["oracle"], lw=1, label="Ĝ oracle"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    for ax, anns, anchors in placements:  # fraction labels last, clear of each other and of every point
        _place_labels(fig, ax, anns, anchors, marker_pt=6.0)
    return fig


def _reference_band(ax: plt.Axes, values: pd.Series | np.ndarray, name: str, vertical: bool) -> None:
    """Mean ± std of a reference model's per-volume values as a shaded band with a line at the mean."""
    v = np.asarray(values, dtype=float)
    m, sd = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
    colour = METHOD_COLOURS.get(name, "#888888")
    span, line = (ax.axvspan, ax.axvline) if vertical else (ax.axhspan, ax.axhline)
    span(m - sd, m + sd, color=colour, alpha=0.12, lw=0, zorder=0)
    line(m, color=colour, lw=1.3, ls="--" if name == "oracle" else ":", zorder=1, label=f"{label(name)} (mean ± std)")


def per_volume_figure(per_volume: pd.DataFrame, methods: Sequence[str], columns: Mapping[str, str],
                      metric: str = "psnr", references: Sequence[str] = ("original", "oracle"),
                      paper: pd.DataFrame | None = None) -> plt.Figure:
    """The distributions behind Table 1: per paper column (panels) the per-volume ``metric`` of every
    method (a box and its volumes as dots, all seeds pooled), with G and Ĝ as reference bands
    (mean ± std over volumes).

    ``per_volume``: rows with ``model``, ``role``, ``metric`` (e.g. ``results.final_per_volume``);
    ``columns``: ``{role: paper column}``, e.g. ``{"test_brain": "BTA", …}``; ``paper``: the
    paper's Table 1 as gaps to its Ĝ in ``metric`` (:func:`mriunlearn.paper_numbers.table1_gaps`),
    drawn per method as a hollow diamond at this Ĝ's mean + the paper's gap (panels without Ĝ get none).
    """
    df = per_volume[per_volume.role.isin(list(columns))].assign(column=lambda d: d.role.map(columns))
    shown = [m for m in methods if m in set(df.model)]
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 0.42 * len(shown) + 1.6), sharey=True)
    axes = np.atleast_1d(axes)
    palette = {label(m): METHOD_COLOURS.get(m, "#888888") for m in shown}
    for ax, col in zip(axes, columns.values()):
        d = df[(df.column == col) & df.model.isin(shown)].assign(method=lambda x: x.model.map(label))
        order = [label(m) for m in shown]
        for ref in references:
            r = df[(df.column == col) & (df.model == ref)]
            if len(r):
                _reference_band(ax, r[metric], ref, vertical=True)
        sns.boxplot(data=d, x=metric, y="method", hue="method", order=order, palette=palette, ax=ax,
                    width=0.55, fliersize=0, linewidth=0.8, boxprops={"alpha": 0.35}, legend=False)
        with _fixed_jitter():
            sns.stripplot(data=d, x=metric, y="method", hue="method", order=order, palette=palette, ax=ax,
                          size=3.2, jitter=0.18, alpha=0.85, legend=False)
        if paper is not None:
            _paper_row_markers(ax, paper[paper.column == col], shown,
                               float(df[(df.column == col) & (df.model == "oracle")][metric].mean()))
        ax.set(title=col, xlabel=f"{metric.upper()} per volume" + (" (dB)" if metric == "psnr" else ""), ylabel="")
        ax.grid(axis="x", alpha=0.3)
    handles = [h for h in axes[0].get_legend_handles_labels()[0]]
    if paper is not None:
        handles.append(_paper_handle())
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False, fontsize=8)
    fig.set_layout_engine("constrained")
    return fig


#: how the paper's own numbers are drawn over ours: hollow magenta diamonds
PAPER_MARKER: dict[str, Any] = {"marker": "D", "s": 26, "facecolor": "white", "edgecolor": "#b5179e", "lw": 1.3, "zorder": 6}


def _paper_handle() -> Line2D:
    """The legend entry of :data:`PAPER_MARKER`."""
    return Line2D([], [], ls="", marker="D", mfc="white", mec=PAPER_MARKER["edgecolor"], mew=PAPER_MARKER["lw"],
                  label="paper: its gap to its Ĝ, placed on this Ĝ")


def _paper_markers(ax: plt.Axes, paper: pd.DataFrame, names: Sequence[str], oracle_mean: float) -> None:
    """The paper's values of one panel as hollow diamonds, each its gap to the paper's Ĝ placed on
    this panel's Ĝ mean (``paper``: ``fraction``, ``gap`` rows of one method and column)."""
    xs = {n: k for k, n in enumerate(names)}
    pts = [(xs[f"{f:g}"], oracle_mean + g) for f, g in zip(paper.fraction, paper.gap) if f"{f:g}" in xs]
    if pts:
        x, y = zip(*pts)
        ax.scatter(x, y, **PAPER_MARKER)


def _paper_row_markers(ax: plt.Axes, gaps: pd.DataFrame, shown: Sequence[str], oracle_mean: float) -> None:
    """The paper's values on one panel of :func:`per_volume_figure`: per method (row ``k`` of
    ``shown``) a hollow diamond at ``oracle_mean`` + the paper's gap (``gaps``: ``model``, ``gap``
    rows of one column); nothing when ``oracle_mean`` is NaN (no Ĝ in the panel)."""
    pts = [(oracle_mean + g, list(shown).index(m)) for m, g in zip(gaps.model, gaps.gap) if m in shown]
    if pts and math.isfinite(oracle_mean):
        x, y = zip(*pts)
        ax.scatter(x, y, **PAPER_MARKER)


def fraction_volumes_figure(per_volume: pd.DataFrame, reference: pd.DataFrame, columns: Mapping[str, str],
                            metrics: Sequence[str] = ("psnr", "ssim"), references: Sequence[str] = ("original", "oracle"),
                            paper: pd.DataFrame | None = None) -> plt.Figure:
    """The distributions behind Table 3: rows = methods × ``metrics`` (PSNR and SSIM), panels = paper
    columns; per retain fraction the per-volume metric (box, all seeds pooled), the mean over seeds
    with its 95% t-interval (black, :func:`t_interval`; a single seed shows no interval), and G and Ĝ
    as reference bands (mean ± std over volumes).

    ``per_volume``: rows with ``method``, ``fraction``, ``seed``, ``role`` and every metric;
    ``reference``: G's and Ĝ's per-volume rows (``model``, ``role``, metrics); ``paper``: the
    paper's Table 3 as gaps to its Ĝ (:func:`mriunlearn.experiments.retain_fraction.paper_gaps`),
    drawn on the PSNR panels as hollow diamonds at this Ĝ's mean + the paper's gap.
    """
    df = per_volume[per_volume.role.isin(list(columns))].assign(column=lambda d: d.role.map(columns))
    ref = reference[reference.role.isin(list(columns))].assign(column=lambda d: d.role.map(columns))
    rows = [(m, k) for m in dict.fromkeys(df.method) for k in metrics]
    names = [f"{f:g}" for f in sorted(set(df.fraction))]
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(4.0 * len(columns), 2.6 * len(rows)),
                             squeeze=False, sharex=True)
    for i, (m, metric) in enumerate(rows):
        for j, col in enumerate(columns.values()):
            ax = axes[i, j]
            d = df[(df.method == m) & (df.column == col)].assign(f=lambda x: x.fraction.map(lambda v: f"{v:g}"))
            for r in references:
                rv = ref[(ref.model == r) & (ref.column == col)]
                if len(rv):
                    _reference_band(ax, rv[metric], r, vertical=False)
            _fraction_boxes(ax, d, metric, names, method_colour(m, "#888888"))
            if paper is not None and metric == "psnr":
                _paper_markers(ax, paper[(paper.method == m) & (paper.column == col)], names,
                               float(ref[(ref.model == "oracle") & (ref.column == col)][metric].mean()))
            ax.set(title=f"{label(m)}: {col} {metric.upper()}", xlabel="retain fraction" if i == len(rows) - 1 else "",
                   ylabel=METRIC_LABELS.get(metric, metric.upper()) if j == 0 else "")
            ax.grid(axis="y", alpha=0.3)
            if ax.get_legend() is not None:  # seaborn adds one per panel; the figure has one below
                ax.get_legend().remove()
    handles = axes[0, 0].get_legend_handles_labels()[0]
    handles.append(Line2D([], [], color="black", marker="o", ms=4, lw=1.0, label="mean over seeds ± 95% t-interval"))
    if paper is not None:
        handles.append(_paper_handle())
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), frameon=False, fontsize=8)
    fig.set_layout_engine("constrained")
    return fig


def _fraction_boxes(ax: plt.Axes, d: pd.DataFrame, metric: str, names: Sequence[str], colour: str) -> None:
    """One panel of :func:`fraction_volumes_figure`: per fraction (``d.f``) a box and the volumes as
    dots (all seeds pooled), and the mean over seeds with its 95% t-interval in black."""
    sns.boxplot(data=d, x="f", y=metric, order=names, color=colour, ax=ax, width=0.55, fliersize=0,
                linewidth=0.8, boxprops={"alpha": 0.3})
    with _fixed_jitter():
        sns.stripplot(data=d, x="f", y=metric, order=names, color=colour, ax=ax, size=2.8, jitter=0.15, alpha=0.7)
    seeds = d.groupby(["f", "seed"], as_index=False)[metric].mean()
    sns.pointplot(data=seeds, x="f", y=metric, order=names, color="black", errorbar=t_interval, ax=ax,
                  markersize=4, linewidth=1.0, err_kws={"linewidth": 1.2}, capsize=0.15)


def noise_figure(table: pd.DataFrame, refs: pd.DataFrame, paper_lambda: float = 1e-5,
                 per_seed: pd.DataFrame | None = None) -> plt.Figure:
    """BTA, KTA, UA and the mean |gap| to Ĝ against the noisy-label scale λ, one line per method
    (dashed: the authors' code variant).

    Args:
        table: :func:`mriunlearn.experiments.noise_sweep.noise_table` of the sweep (indexed by
            ``method, noise_std``; columns ``noise_rel``, ``BTA``, ``KTA``, ``UA``, ``gap``, means over seeds).
        refs: :func:`mriunlearn.experiments.noise_sweep.reference_gaps` (rows ``original`` and
            ``oracle``), drawn as horizontal lines.
        per_seed: the sweep itself (one row per method, λ and seed); when given, each line is the
            mean over seeds with its 95% t-interval as a band (:func:`t_interval`; one seed: no band).

    The x axis is λ relative to the forget targets' peak (log scale); λ = 0 (the same schedule
    without noise) sits at the left edge, and the paper's λ is marked.
    """
    t = table.reset_index()
    nonzero = t.noise_rel[t.noise_rel > 0]
    zero_x = float(nonzero.min()) / 4 if len(nonzero) else 1.0
    per_unit = float((t.noise_rel / t.noise_std).dropna().iloc[0]) if (t.noise_std > 0).any() else None
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    panels = [("BTA", "BTA PSNR (dB)"), ("KTA", "KTA PSNR (dB)"), ("UA", "UA PSNR (dB): forget set"),
              ("gap", "mean |gap| to Ĝ (dB)")]
    for ax, (col, ylabel) in zip(axes, panels):
        for m in dict.fromkeys(t.method):
            colour, ls = METHOD_COLOURS.get(m.partition(":")[0]), "--" if ":" in m else "-"
            if per_seed is not None:
                g = per_seed[per_seed.method == m]
                g = g.assign(x=np.where(g.noise_rel > 0, g.noise_rel, zero_x))
                sns.lineplot(data=g, x="x", y=col, errorbar=t_interval, marker="o", color=colour, linestyle=ls,
                             label=label(m), ax=ax, err_kws={"alpha": 0.15}, legend=False)
                continue
            g = t[t.method == m].sort_values("noise_std")
            x = np.where(g.noise_rel > 0, g.noise_rel, zero_x)
            ax.plot(x, g[col], marker="o", color=colour, ls=ls, label=label(m))
        for name, ls in (("original", ":"), ("oracle", "-.")):
            ax.axhline(refs.loc[name, col], ls=ls, lw=1.2, color=METHOD_COLOURS[name], label=label(name))
        if per_unit is not None:
            ax.axvline(paper_lambda * per_unit, color="#999999", lw=0.8)
            ax.annotate("paper λ", (paper_lambda * per_unit, 1), xycoords=("data", "axes fraction"),  # above the frame,
                        xytext=(0, 2), textcoords="offset points", fontsize=7, color="#666666",  # clear of the lines
                        ha="center", va="bottom", annotation_clip=False)
        ax.set_xscale("log")
        ticks = [zero_x, *sorted(set(nonzero.round(12)))]
        ax.set_xticks(ticks, ["0", *[f"{v:.2g}" for v in ticks[1:]]], fontsize=7)
        ax.minorticks_off()
        ax.set(xlabel="λ / forget-target peak", ylabel=ylabel)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Noisy labels: how large must λ be before the forget set is forgotten?", fontsize=11)
    fig.tight_layout()
    return fig


def nl_ablation_figure(table: pd.DataFrame, refs: pd.DataFrame, collapse_db: float = 20.0,
                       tolerance_db: float = 1.0) -> plt.Figure:
    """Why does NL forget? BTA and KTA of every ablation cell (one dot per seed, a bar at the mean),
    one row of panels per method (NL, then NL-FT), one shared legend below; circles: today's
    budget, squares: the paper's step count.

    Args:
        table: :func:`mriunlearn.experiments.nl_ablation.nl_ablation`'s table (columns ``method``,
            ``budget``, ``factor``, ``seed``, ``BTA``, ``KTA``).
        refs: rows ``original``, ``oracle`` (and optionally ``zero_filled``) with ``BTA``/``KTA``
            PSNR means, drawn as vertical lines.
        collapse_db: criterion (a)'s BTA threshold, shaded on NL's BTA panel.
        tolerance_db: criterion (b)'s band around Ĝ, shaded on NL-FT's panels.
    """
    methods = [m for m in ("nl", "nl_ft") if m in set(table.method)]
    rows = table.groupby(["budget", "factor"]).ngroups
    fig, axes = plt.subplots(len(methods), 2, figsize=(10.5, len(methods) * (1.1 + 0.3 * rows) + 0.9),
                             squeeze=False, layout="constrained")
    for i, m in enumerate(methods):
        t = table[table.method == m]
        cells = list(dict.fromkeys(zip(t.budget, t.factor)))
        ypos = {c: len(cells) - 1 - k for k, c in enumerate(cells)}
        for j, col in enumerate(("BTA", "KTA")):
            ax = axes[i, j]
            for (budget, factor), g in t.groupby(["budget", "factor"], sort=False):
                y = ypos[(budget, factor)]
                marker = "s" if budget == "paper" else "o"
                ax.scatter(g[col], np.full(len(g), y), marker=marker, s=28, alpha=0.75,
                           color=METHOD_COLOURS.get(m), zorder=3)
                ax.plot([g[col].mean()] * 2, [y - 0.3, y + 0.3], color="black", lw=1.5, zorder=4)
            for name, ls in (("original", ":"), ("oracle", "-.")):
                ax.axvline(refs.loc[name, col], ls=ls, lw=1.2, color=METHOD_COLOURS[name], label=label(name))
            if "zero_filled" in refs.index and col == "BTA":
                ax.axvline(refs.loc["zero_filled", col], ls="--", lw=1, color="#999999", label="zero-filled")
            if m == "nl" and col == "BTA":
                ax.axvspan(ax.get_xlim()[0] if ax.get_xlim()[0] < collapse_db else collapse_db - 1, collapse_db,
                           color="#d62728", alpha=0.08, label=f"(a) NL collapse: BTA ≤ {collapse_db:g} dB")
            if m == "nl_ft":
                o = refs.loc["oracle", col]
                lo = o - tolerance_db if col == "BTA" else ax.get_xlim()[0]
                ax.axvspan(lo, o + tolerance_db, color="#2ca02c", alpha=0.08, label="(b) NL-FT at Ĝ: band")
            ax.set_yticks(list(ypos.values()), [f"{f} @ {b}" for b, f in ypos], fontsize=8)
            ax.set(xlabel=f"{col} PSNR (dB)", title=f"{label(m)}: {col}")
            ax.grid(alpha=0.3, axis="x")
    shown = {lab: h for ax in axes.flat for h, lab in zip(*ax.get_legend_handles_labels())}
    fig.legend(shown.values(), shown.keys(), loc="outside lower center", ncol=min(len(shown), 5), fontsize=8, frameon=False)
    fig.suptitle("Why does NL forget? One factor changed from the authors' final code per row "
                 "(○ today's budget, □ the paper's step count)", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------
# Fig. 4: measured loss landscape

def _smooth(lp: LossPlane, upsample: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(alphas, betas, loss)`` on a grid ``upsample`` times finer: a cubic spline through the
    measured ``log(loss)`` (it passes through every measured value); the grid itself when
    ``upsample <= 1`` or an axis has fewer than 4 points."""
    z = np.log(np.clip(lp.loss, 1e-12, None))
    if upsample <= 1 or len(lp.alphas) < 4 or len(lp.betas) < 4:
        return lp.alphas, lp.betas, lp.loss
    from scipy.interpolate import RectBivariateSpline

    spline = RectBivariateSpline(lp.betas, lp.alphas, z, kx=3, ky=3, s=0)
    fa = np.linspace(lp.alphas.min(), lp.alphas.max(), (len(lp.alphas) - 1) * upsample + 1)
    fb = np.linspace(lp.betas.min(), lp.betas.max(), (len(lp.betas) - 1) * upsample + 1)
    return fa, fb, np.exp(spline(fb, fa))


def _nice_ticks(lo: float, hi: float, n: int = 6) -> np.ndarray:
    """About ``n`` log-spaced ticks in ``[lo, hi]`` rounded to 2 significant digits (the end
    ticks rounded inwards, so they stay inside the range)."""
    def rnd(x: float, how: Any) -> float:
        scale = 10.0 ** (1 - math.floor(math.log10(x)))
        return float(how(x * scale) / scale)

    inner = [rnd(float(t), round) for t in np.geomspace(lo, hi, n)[1:-1]]
    ticks = np.array([rnd(lo, math.ceil), *inner, rnd(hi, math.floor)])
    return np.unique(ticks[(ticks >= lo * (1 - 1e-9)) & (ticks <= hi * (1 + 1e-9))])


def _place_labels(fig: plt.Figure, ax: plt.Axes, labels: Sequence[Any], anchors: Sequence[tuple[float, float]],
                  marker_pt: float = 9.0) -> None:
    """Move the annotations ``labels`` (offset points from their data ``anchors``) so that no two
    label boxes overlap and none covers a marker: each label takes the first free spot on rings
    of growing radius around its point (up-right first, then the other diagonals and sides); the
    annotation's leader line shows which point a moved label belongs to. Measured on the laid-out figure, in display units."""
    if not labels:
        return
    fig.canvas.draw()  # the final layout (constrained layout, colour bars) before measuring
    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72.0
    pts = ax.transData.transform(np.asarray(anchors, dtype=float))
    r = marker_pt * px / 2 + 1
    taken = [(x - r, y - r, x + r, y + r) for x, y in pts]  # every marker is an obstacle
    frame = ax.get_window_extent(renderer)

    def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
        return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))

    dirs = [(1, 1), (-1, 1), (1, -1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]
    rings = [7, 14, 22, 32, 44, 58, 74]
    # crowded points first: they have the fewest free spots
    crowd = [int((np.linalg.norm(pts - p, axis=1) < 40 * px).sum()) for p in pts]
    for i in sorted(range(len(labels)), key=lambda k: (-crowd[k], k)):
        ann, (x, y) = labels[i], pts[i]
        w, h, _ = renderer.get_text_width_height_descent(ann.get_text(), ann.get_fontproperties(), ismath=False)
        pad = 0.25 * ann.get_fontsize() * px + 1
        best, best_cost = None, np.inf
        for ring in rings:
            for dx, dy in dirs:
                ox, oy = dx * ring, dy * ring
                cx, cy = x + ox * px, y + oy * px
                x0 = cx if dx > 0 else cx - w if dx < 0 else cx - w / 2
                y0 = cy if dy > 0 else cy - h if dy < 0 else cy - h / 2
                box = (x0 - pad, y0 - pad, x0 + w + pad, y0 + h + pad)
                cost = sum(overlap(box, t) for t in taken)
                inside = frame.x0 <= box[0] and box[2] <= frame.x1 and frame.y0 <= box[1] and box[3] <= frame.y1
                cost += 0 if inside else 0.5 * w * h
                if cost < best_cost:
                    best, best_cost = (ox, oy, dx, dy, box, None), cost
                if cost == 0:
                    break
            if best_cost == 0:
                break
        ox, oy, dx, dy, box, _ = best  # type: ignore[misc]
        ann.xyann = (ox, oy)
        ann.set_ha("left" if dx > 0 else "right" if dx < 0 else "center")
        ann.set_va("bottom" if dy > 0 else "top" if dy < 0 else "center")
        taken.append(box)


#: marker of each registry model in :func:`plot_loss_planes` (any other model: ``"o"``)
_PLANE_MARKERS: dict[str, str] = {"original": "o", "oracle": "*", "nl_ft": "D", "ga_l1": "X", "ga": "X"}


def _plane_trajectories(trajectories: Mapping[str, np.ndarray | Sequence[PlanePoint]] | None
                        ) -> dict[str, np.ndarray]:
    """``{name: (N, 2) array of (alpha, beta)}`` from arrays ``(N, 2+)`` or lists of ``PlanePoint``."""
    return {k: (np.array([[p.alpha, p.beta] for p in v]) if len(v) and hasattr(v[0], "alpha")
                else np.asarray(v, dtype=np.float64)[:, :2]) for k, v in (trajectories or {}).items()}


def _plane_points(points: Mapping[str, PlanePoint | tuple[float, float]]
                  ) -> dict[str, tuple[tuple[float, float], PlanePoint | None]]:
    """``{name: ((alpha, beta), the PlanePoint or None for a bare pair)}``."""
    return {k: ((p.alpha, p.beta), p) if hasattr(p, "alpha") else ((float(p[0]), float(p[1])), None)
            for k, p in points.items()}


def _loss_contours(fig: plt.Figure, ax: plt.Axes, lp: LossPlane, levels: int, upsample: int, cmap: str) -> None:
    """Filled contours of ``lp``'s loss (log colour scale unless flat), white contour lines and a
    colour bar with :func:`_nice_ticks` labels."""
    fa, fb, z = _smooth(lp, upsample)
    zmin, zmax = float(np.nanmin(z)), float(np.nanmax(z))
    aa, bb = np.meshgrid(fa, fb)
    flat = not zmax > zmin * 1.0001
    lv = None if flat else np.geomspace(zmin, zmax, levels)
    norm_ = None if flat else LogNorm(vmin=zmin, vmax=zmax)
    cs = ax.contourf(aa, bb, z, levels=lv, norm=norm_, cmap=cmap)
    if not flat:
        ax.contour(aa, bb, z, levels=lv[1:-1], colors="white", linewidths=0.4, alpha=0.5)
    cb = fig.colorbar(cs, ax=ax, shrink=0.9, pad=0.02)
    if not flat:
        ticks = _nice_ticks(zmin, zmax)
        cb.ax.yaxis.set_major_locator(plt.FixedLocator(ticks))
        cb.ax.yaxis.set_major_formatter(plt.FixedFormatter([f"{t:g}" for t in ticks]))
        cb.ax.yaxis.set_minor_locator(plt.NullLocator())
    cb.set_label("loss: 1 − SSIM + 10⁻⁵·L1 (log scale)", fontsize=8)
    cb.ax.tick_params(labelsize=7)


def _draw_trajectories(ax: plt.Axes, traj: Mapping[str, np.ndarray]) -> None:
    """Each ``(N, 2)`` trajectory as a haloed polyline in its method colour, a dot per inner epoch."""
    for name, arr in traj.items():
        colour = METHOD_COLOURS.get(name, "white")
        ax.plot(arr[:, 0], arr[:, 1], "-", color="white", lw=3.4, alpha=0.6, zorder=3,
                solid_capstyle="round")
        ax.plot(arr[:, 0], arr[:, 1], "-", color=colour, lw=1.7, zorder=4, solid_capstyle="round")
        ax.plot(arr[1:-1, 0], arr[1:-1, 1], "o", ms=4, mfc=colour, mec="white", mew=0.7, zorder=5)


def _point_handle(name: str, p: PlanePoint | None, mk: str, colour: str, far: bool) -> Line2D:
    """Legend entry of a model; its label gives the off-plane fraction when it is at least 0.5%."""
    extra = (f" — {p.relative_residual:.0%} off-plane" if p is not None and p.distance > 0
             and p.relative_residual >= 0.005 else "")
    return Line2D([], [], ls="none", marker=mk, ms=10 if mk == "*" else 7,
                  mfc="none" if far else colour, mec=colour if far else "#333333",
                  mew=1.5 if far else 0.8, label=label(name) + extra)


def _mark_points(ax: plt.Axes, pts: Mapping[str, tuple[tuple[float, float], PlanePoint | None]],
                 handles: dict[str, Line2D]) -> tuple[list[Any], list[tuple[float, float]]]:
    """Marker and label of every model (hollow when mostly off the plane); adds each model's legend
    entry to ``handles`` once. Returns ``(annotations, their anchor points)`` for :func:`_place_labels`."""
    anns, anchors = [], []
    for name, ((a, b), p) in pts.items():
        colour = METHOD_COLOURS.get(name, "#ffffff")
        far = p is not None and p.relative_residual > 0.5
        mk = _PLANE_MARKERS.get(name, "o")
        ax.plot(a, b, mk, ms=13 if mk == "*" else 8.5, mfc="none" if far else colour,
                mec=colour if far else "white", mew=2.0 if far else 1.2, zorder=6)
        anns.append(ax.annotate(label(name), (a, b), xytext=(7, 7), textcoords="offset points",
                                fontsize=8, color="white", fontweight="bold", zorder=7, ha="left", va="bottom",
                                bbox=dict(boxstyle="round,pad=0.18", fc=colour, ec="none", alpha=0.88),
                                # a leader line, seen only when the label had to move away
                                arrowprops=dict(arrowstyle="-", color=colour, lw=0.9, shrinkA=0, shrinkB=5)))
        anchors.append((a, b))
        if name not in handles:
            handles[name] = _point_handle(name, p, mk, colour, far)
    return anns, anchors


def _frame_plane_axes(ax: plt.Axes, lp: LossPlane, title: str) -> None:
    """Limits on the measured grid, an equal aspect when the spans are within a factor 3, labels."""
    x0, x1, y0, y1 = lp.alphas.min(), lp.alphas.max(), lp.betas.min(), lp.betas.max()
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    if max(x1 - x0, y1 - y0) <= 3 * min(x1 - x0, y1 - y0):
        ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(lp.axis_labels[0], fontsize=9)
    ax.set_ylabel(lp.axis_labels[1], fontsize=9)
    ax.tick_params(labelsize=8)
    ax.set_title(title + (f" · {lp.n_slices} slices" if lp.n_slices else ""), fontsize=10)


def _plane_legend(fig: plt.Figure, handles: dict[str, Line2D], with_trajectories: bool,
                  caption: str | None) -> None:
    """Shared legend below the panels (plus a trajectory entry) and the wrapped caption as title."""
    if with_trajectories:
        handles["_traj"] = Line2D([], [], color="#666666", lw=1.7, marker="o", ms=4,
                                  label="trajectory (dot = epoch)")
    fig.legend(handles=list(handles.values()), loc="outside lower center", ncol=min(len(handles), 5),
               fontsize=8, frameon=False)
    if caption:
        fig.suptitle(textwrap.fill(caption, 150), fontsize=8.5)


def plot_loss_planes(plane_retain: LossPlane, plane_forget: LossPlane,
                     points: Mapping[str, PlanePoint | tuple[float, float]],
                     trajectories: Mapping[str, np.ndarray | Sequence[PlanePoint]] | None = None, *,
                     titles: tuple[str, str] | None = None, levels: int = 16, upsample: int = 4,
                     cmap: str = "viridis", size: float = 4.4, caption: str | None = None) -> plt.Figure:
    """Two contour panels side by side: retain loss (left) and forget loss (right).

    Each panel: filled contours of the loss on a log colour scale (its own colour bar), thin
    contour lines, every model of ``points`` marked and labelled (colours and display names of
    this module when the names are registry names such as ``original``, ``oracle``,
    ``ga_l1``, ``nl_ft``), and ``trajectories`` drawn as polylines with a dot per epoch. Markers
    of models lying mostly off the plane (relative residual > 0.5) are hollow, and the legend gives
    every model's off-plane fraction. Contours are drawn through a cubic spline of ``log(loss)``
    on a grid ``upsample`` times finer than the measured one (the spline passes through every
    measured value; ``upsample=1`` draws the raw grid); the colour scale spans the drawn values. Axes get an equal aspect when their spans
    are within a factor 3 (distances in the plot are then true parameter-space distances).
    ``caption`` (e.g. :func:`mriunlearn.experiments.unlearning.landscape_caption`) is the figure's
    title, wrapped.

    Args:
        points: ``{name: PlanePoint or (alpha, beta)}``.
        trajectories: ``{name: (N, 2+) array of (alpha, beta, …) or list of PlanePoint}``.

    Returns:
        A matplotlib ``Figure``.
    """
    titles = titles or (plane_retain.title or "retain loss", plane_forget.title or "forget loss")
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 2.2, size + 0.5), constrained_layout=True)
    handles: dict[str, Line2D] = {}
    placements: list[tuple[plt.Axes, list[Any], list[tuple[float, float]]]] = []
    traj = _plane_trajectories(trajectories)
    pts = _plane_points(points)
    for ax, lp, title in ((axes[0], plane_retain, titles[0]), (axes[1], plane_forget, titles[1])):
        _loss_contours(fig, ax, lp, levels, upsample, cmap)
        _draw_trajectories(ax, traj)
        anns, anchors = _mark_points(ax, pts, handles)
        _frame_plane_axes(ax, lp, title)
        placements.append((ax, anns, anchors))
    _plane_legend(fig, handles, bool(traj), caption)
    for ax, anns, anchors in placements:  # labels last: they are placed on the finished layout
        _place_labels(fig, ax, anns, anchors)
    return fig


def loss_landscape_figure(landscape: Any, **kwargs: Any) -> plt.Figure:
    """Fig. 4 from :func:`mriunlearn.experiments.unlearning.loss_landscape`'s result: :func:`plot_loss_planes`
    of its retain and forget grids with every model's position (``kwargs`` go to it)."""
    return plot_loss_planes(landscape.retain, landscape.forget, landscape.plane_points, **kwargs)


# ----------------------------------------------------------------------------------------------
# the README's overview figure
# ----------------------------------------------------------------------------------------------

#: one colour per test column in the overview (colour-blind palette: blue, orange, green)
COLUMN_COLOURS: dict[str, str] = {"BTA": "#0173b2", "KTA": "#de8f05", "UA": "#029e73"}
COLUMN_NAMES: dict[str, str] = {"BTA": "BTA (brain test)", "KTA": "KTA (knee test)", "UA": "UA (forget set)"}
#: claim verdicts: face colour and the word shown
VERDICT_STYLE: dict[str, tuple[str, str]] = {"yes": ("#2a9d8f", "holds"), "no": ("#d62828", "does not hold"),
                                             "inconclusive": ("#8d99ae", "inconclusive"),
                                             "borderline": ("#e9a23b", "borderline")}


def _overview_gaps(ax: plt.Axes, gaps: pd.DataFrame) -> None:
    """Table 1 as gaps to Ĝ: per model a row, per column a colour; ours filled, the paper's hollow."""
    models = list(dict.fromkeys(gaps.model))
    offsets = dict(zip(COLUMN_COLOURS, (-0.24, 0.0, 0.24)))
    for i, model in enumerate(models):
        if i % 2 == 0:
            ax.axhspan(i - 0.5, i + 0.5, color="#f2f2f2", zorder=0, lw=0)
        for row in gaps[gaps.model == model].itertuples():
            y, colour = i + offsets[row.column], COLUMN_COLOURS[row.column]
            ax.plot([row.paper, row.ours], [y, y], color=colour, lw=0.8, alpha=0.5, zorder=1)
            ax.scatter(row.paper, y, marker="D", s=34, facecolor="white", edgecolor=colour, lw=1.3, zorder=2)
            ax.scatter(row.ours, y, marker="o", s=42, color=colour, zorder=3)
    ax.axvline(0, color=METHOD_COLOURS["oracle"], lw=1.5, zorder=1)
    ax.text(0.3, -0.75, "Ĝ (oracle) = 0", color=METHOD_COLOURS["oracle"], fontsize=8, va="bottom")
    ax.set_yticks(range(len(models)), [label(m) for m in models])
    ax.set_ylim(len(models) - 0.5, -0.85)
    ax.set_xlabel("PSNR − Ĝ's PSNR (dB); 0 is the ideal unlearning result")
    ax.set_title("Table 1: distance to the oracle after unlearning", loc="left", fontsize=10)
    handles = [Line2D([], [], ls="", marker="o", color=c, label=COLUMN_NAMES[k]) for k, c in COLUMN_COLOURS.items()]
    handles += [Line2D([], [], ls="", marker="o", color="#555555", label="this compendium (default profile)"),
                Line2D([], [], ls="", marker="D", markerfacecolor="white", color="#555555",
                       label="paper (Xue et al. 2024)")]
    ax.legend(handles=handles, loc="lower left", fontsize=7.5, frameon=True, framealpha=0.95)


def _overview_fractions(ax: plt.Axes, fractions: pd.DataFrame) -> None:
    """Table 3 as BTA gaps to Ĝ over the retain fraction: ours solid, the paper's dashed and hollow."""
    for method, part in fractions.groupby("method", sort=False):
        part = part.sort_values("fraction")
        colour = method_colour(method, "#555555")
        ax.plot(part.fraction * 100, part.ours, "-o", color=colour, ms=4.5, lw=1.6, label=f"{label(method)}")
        paper = part.dropna(subset=["paper"])
        if len(paper):
            ax.plot(paper.fraction * 100, paper.paper, "--D", color=colour, ms=4.5, lw=1.0,
                    markerfacecolor="white", alpha=0.9, label=f"{label(method)}, paper")
    ax.axhline(0, color=METHOD_COLOURS["oracle"], lw=1.5)
    ax.set_xscale("log")
    ticks = [1, 5, 10, 20, 50, 100]
    ax.set_xticks(ticks, [f"{t}%" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("retain data seen by unlearning (fraction of D_r)")
    ax.set_ylabel("BTA PSNR − Ĝ's (dB)")
    ax.set_title("Table 3: brain quality vs retain fraction", loc="left", fontsize=10)
    ax.legend(fontsize=7, ncol=2, loc="lower right", frameon=True, framealpha=0.95)


def _overview_claims(ax: plt.Axes, claims: pd.DataFrame, width: int = 70) -> None:
    """The paper's claims as judged on this project's numbers: a coloured verdict and the claim."""
    ax.set_axis_off()
    held, close = int((claims.reproduced == "yes").sum()), int((claims.reproduced == "borderline").sum())
    title = f"The paper's claims on the default profile: {held} of {len(claims)} hold"
    ax.set_title(title + (f", {close} borderline" if close else ""), loc="left", fontsize=10)
    n = len(claims)
    for i, row in enumerate(claims.itertuples()):
        y = 1 - (i + 0.5) / n
        face, word = VERDICT_STYLE.get(row.reproduced, ("#8d99ae", str(row.reproduced)))
        ax.text(0.0, y, word, transform=ax.transAxes, fontsize=7.5, color="white", fontweight="bold",
                va="center", ha="left", bbox={"boxstyle": "round,pad=0.3", "fc": face, "ec": "none"})
        ax.text(0.19, y, textwrap.fill(str(row.claim), width), transform=ax.transAxes, fontsize=7.5,
                va="center", ha="left", linespacing=1.1)


def overview_figure(overview: Overview) -> plt.Figure:
    """The README's overview: (a) Table 1 as gaps to the oracle, with the paper's values as hollow
    markers; (b) Table 3's BTA gap over the retain fraction, ours and the paper's; (c) the paper's
    claims as judged on this project's numbers.

    Args:
        overview: from :func:`mriunlearn.experiments.overview.load_overview` (``gaps``, ``fractions``,
            ``claims``, ``oracle``; PSNR in dB).
    """
    fig = plt.figure(figsize=(12.5, 7.0), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=[1.0, 1.1], height_ratios=[1.0, 1.0])
    _overview_gaps(fig.add_subplot(grid[:, 0]), overview.gaps)
    _overview_fractions(fig.add_subplot(grid[0, 1]), overview.fractions)
    _overview_claims(fig.add_subplot(grid[1, 1]), overview.claims)
    oracle = overview.oracle.set_index("column")
    levels = ", ".join(f"{c} {oracle.loc[c, 'ours']:.1f} / {oracle.loc[c, 'paper']:.1f}" for c in oracle.index)
    fig.suptitle("Erase to Enhance (MIDL 2024), reproduced on simulated brain + knee data", x=0.01, ha="left",
                 fontsize=12, fontweight="bold")
    fig.text(0.01, -0.01, f"Ĝ's own PSNR, this compendium / paper (dB): {levels}. Gaps are comparable, "
             "absolute PSNRs are not (96×96 simulated images vs 320×320 fastMRI).", fontsize=8, ha="left",
             va="top", color="#444444")
    return fig
