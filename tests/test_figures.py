"""The seaborn figures behind Tables 1 and 3 and the one theme every figure shares."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

from mriunlearn import paths, plots  # noqa: E402

COLUMNS = {"test_brain": "BTA", "test_knee": "KTA", "forget": "UA"}


def _per_volume(models, seeds=(42,), n_vol=4, **extra) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [{"model": m, "seed": s, "role": role, "file": f"v{v}", "psnr": 20 + rng.normal(), **extra}
            for m in models for s in seeds for role in COLUMNS for v in range(n_vol)]
    return pd.DataFrame(rows)


def test_importing_plots_changes_no_matplotlib_setting():
    code = ("import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; "
            "before = dict(plt.rcParams); import mriunlearn.plots; "
            "changed = sorted(k for k, v in plt.rcParams.items() if before[k] != v); "
            "assert not changed, changed")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(paths.ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_project_theme_is_applied_on_request_and_restored_after_a_block():
    with plt.rc_context():
        plt.rcdefaults()
        assert plt.rcParams["axes.spines.top"] is True and plt.rcParams["savefig.dpi"] == "figure"
        with plots.themed():
            assert plt.rcParams["axes.spines.top"] is False and plt.rcParams["axes.spines.right"] is False
            assert plt.rcParams["savefig.dpi"] == 150
        assert plt.rcParams["axes.spines.top"] is True and plt.rcParams["savefig.dpi"] == "figure"
        plots.use_theme()
        themed = dict(plt.rcParams)
        plots.use_theme()  # idempotent
        assert dict(plt.rcParams) == themed and plt.rcParams["savefig.dpi"] == 150


def test_figures_draw_the_tables_95_percent_interval():
    from mriunlearn.intervals import mean_interval

    v = np.array([25.1, 25.4, 24.9])
    s = mean_interval(v)
    assert plots.t_interval(v) == (s["low"], s["high"])
    assert plots.t_interval([3.0]) == (3.0, 3.0)


def test_table1_distributions_have_a_panel_per_column_and_the_reference_bands():
    pv = _per_volume(["original", "oracle", "ft", "nl_ft"])
    fig = plots.per_volume_figure(pv, ["ft", "nl_ft"], COLUMNS)
    axes = fig.get_axes()
    assert [a.get_title() for a in axes] == ["BTA", "KTA", "UA"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("G (original)" in t for t in legend) and any("oracle" in t for t in legend)
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["FT", "NL-FT"]
    plt.close(fig)


def test_table1_distributions_draw_the_papers_values_as_gaps_placed_on_this_oracle():
    from mriunlearn import paper_numbers

    pv = _per_volume(["original", "oracle", "ft", "nl_ft"])
    gaps = paper_numbers.table1_gaps()
    fig = plots.per_volume_figure(pv, ["ft", "nl_ft"], COLUMNS, paper=gaps)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith("paper") for t in legend)
    for ax, (role, col) in zip(fig.get_axes(), COLUMNS.items()):
        oracle = pv[(pv.model == "oracle") & (pv.role == role)].psnr.mean()
        diamonds = np.concatenate([c.get_offsets() for c in ax.collections
                                   if len(c.get_offsets()) and tuple(c.get_facecolor()[0][:3]) == (1.0, 1.0, 1.0)])
        paper = gaps[gaps.column == col].set_index("model").gap
        expected = [[oracle + paper[m], k] for k, m in enumerate(["ft", "nl_ft"])]
        assert np.allclose(np.sort(diamonds, axis=0), np.sort(np.array(expected), axis=0))
    plt.close(fig)
    without = plots.per_volume_figure(pv, ["ft", "nl_ft"], COLUMNS)
    assert not any(t.get_text().startswith("paper") for t in without.legends[0].get_texts())
    plt.close(without)


def test_shared_knowledge_bars_carry_the_papers_g_gap_placed_on_this_oracle():
    from mriunlearn import paper_numbers

    cols = ["BTA", "KTA", "UA"]
    tidy = pd.DataFrame([{"model": m, "column": c, "metric": "psnr", "mean": base + k, "std": 0.5, "n": 8}
                         for m, base in (("oracle", 20.0), ("original", 23.0), ("zero_filled", 15.0))
                         for k, c in enumerate(cols)])
    gaps = paper_numbers.table1_gaps()
    fig = plots.shared_knowledge_figure(tidy, paper=gaps)
    ax = fig.get_axes()[0]
    diamonds = np.concatenate([c.get_offsets() for c in ax.collections if type(c).__name__ == "PathCollection"])
    paper_g = gaps[gaps.model == "original"].set_index("column").gap.reindex(cols).to_numpy()
    assert np.allclose(diamonds[:, 1], 20.0 + np.arange(3) + paper_g)  # this Ĝ's mean + the paper's G − Ĝ
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1].startswith("paper")
    assert ax.get_ylim()[1] > diamonds[:, 1].max()
    plt.close(fig)
    without = plots.shared_knowledge_figure(tidy)
    assert not [c for c in without.get_axes()[0].collections if type(c).__name__ == "PathCollection"]
    assert not any(t.get_text().startswith("paper") for t in without.get_axes()[0].get_legend().get_texts())
    plt.close(without)


def test_paper_table1_gaps_are_to_the_papers_own_oracle():
    from mriunlearn import paper_numbers
    from mriunlearn.errors import ConfigError

    g = paper_numbers.table1_gaps().set_index(["model", "column"]).gap
    t1 = paper_numbers.TABLE1
    assert g["nl_ft", "BTA"] == pytest.approx(t1["nl_ft"]["BTA_psnr"] - t1["oracle"]["BTA_psnr"])
    assert g["original", "KTA"] == pytest.approx(paper_numbers.SHARED_KNOWLEDGE_GAP_DB["KTA"])
    assert (g.xs("oracle") == 0).all() and len(g) == 3 * len(t1)
    s = paper_numbers.table1_gaps("ssim").set_index(["model", "column"]).gap
    assert s["ga_l1", "UA"] == pytest.approx(t1["ga_l1"]["UA_ssim"] - t1["oracle"]["UA_ssim"])
    with pytest.raises(ConfigError, match="psnr, ssim"):
        paper_numbers.table1_gaps("nmse")


def test_table3_distributions_show_the_seed_interval_ssim_and_the_papers_gaps():
    from mriunlearn.experiments.retain_fraction import paper_gaps

    parts = [_per_volume(["x"], seeds=(42, 43), ssim=0.9).drop(columns="model").assign(method=m, fraction=f)
             for m in ("ft", "nl_ft") for f in (0.1, 1.0)]
    ref = _per_volume(["original", "oracle"], ssim=0.9)
    fig = plots.fraction_volumes_figure(pd.concat(parts, ignore_index=True), ref, COLUMNS, paper=paper_gaps())
    axes = fig.get_axes()
    assert len(axes) == 12 and all(a.get_legend() is None for a in axes)  # 2 methods x (PSNR, SSIM) x 3 columns
    assert [a.get_title() for a in axes[:6:3]] == ["FT: BTA PSNR", "FT: BTA SSIM"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("95% t-interval" in t for t in legend) and any(t.startswith("paper") for t in legend)
    # the paper's FT at 10% on BTA: its gap to its Ĝ, placed on this Ĝ's mean, at the 10% position
    gap = paper_gaps().query("method == 'ft' and fraction == 0.1 and column == 'BTA'").gap.item()
    oracle = ref[(ref.model == "oracle") & (ref.role == "test_brain")].psnr.mean()
    diamonds = [c for c in axes[0].collections if c.get_offsets().shape[0] and c.get_paths()
                and tuple(c.get_facecolor()[0][:3]) == (1.0, 1.0, 1.0)]
    assert any(np.allclose(c.get_offsets()[0], [0, oracle + gap]) for c in diamonds)
    assert not [c for c in axes[3].collections if tuple(c.get_facecolor()[0][:3]) == (1.0, 1.0, 1.0)]  # none on SSIM
    plt.close(fig)


def test_noise_figure_draws_seed_bands_from_the_per_seed_sweep():
    rows = [{"method": m, "noise_std": lam, "noise_rel": lam * 1e3, "seed": s, "BTA": 25 + s * 0.01,
             "KTA": 16.0, "UA": 17.0, "gap": 2.0} for m in ("nl_ft",) for lam in (0, 1e-5, 1e-4) for s in (42, 43)]
    sweep = pd.DataFrame(rows)
    table = sweep.groupby(["method", "noise_std"], sort=False)[["noise_rel", "BTA", "KTA", "UA", "gap"]].mean()
    refs = pd.DataFrame({"BTA": [25.0, 25.3], "KTA": [16.8, 14.6], "UA": [17.5, 13.5], "gap": [2.0, 0.0]},
                        index=["original", "oracle"])
    fig = plots.noise_figure(table, refs, per_seed=sweep)
    assert any(len(a.collections) for a in fig.get_axes())  # the interval bands
    plt.close(fig)


def test_strip_plot_jitter_gives_the_same_bytes_every_time_and_leaves_numpy_alone():
    import io

    pv = _per_volume(["original", "oracle", "ft", "nl_ft"])

    def png() -> bytes:
        fig = plots.per_volume_figure(pv, ["ft", "nl_ft"], COLUMNS)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=60)
        plt.close(fig)
        return buf.getvalue()

    np.random.seed(123)
    first = png()
    after = np.random.random()
    np.random.seed(999)  # another global state must not change the drawing
    assert png() == first
    np.random.seed(123)  # png() restored the caller's state: its next draw is the stream's first
    assert np.random.random() == after
