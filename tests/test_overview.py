"""The README's overview figure, built from the committed tables of notebooks 03 and 04 (drawn into a
temporary folder: the repository's figures/ is never written)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

from mriunlearn import paper_numbers, paths, plots  # noqa: E402
from mriunlearn.experiments import overview  # noqa: E402

FIGURES = paths.ROOT / "figures"


@pytest.fixture(scope="module")
def ov() -> overview.Overview:
    if not overview.inputs_present(FIGURES):
        pytest.skip("notebooks 03 and 04 have not saved their tables in figures/")
    return overview.load_overview(FIGURES)


def test_gaps_are_the_saved_table1_minus_the_oracle(ov):
    t1 = pd.read_csv(FIGURES / "03_table1.csv", index_col=0)
    psnr = t1[t1.metric == "psnr"].set_index(["model", "column"])["mean"]
    g = ov.gaps.set_index(["model", "column"])
    for (model, column), row in g.iterrows():
        assert row.ours == pytest.approx(psnr[model, column] - psnr["oracle", column])
        paper = paper_numbers.TABLE1
        assert row.paper == pytest.approx(paper[model][f"{column}_psnr"] - paper["oracle"][f"{column}_psnr"])
    assert g.loc[("original", "KTA"), "paper"] == pytest.approx(4.83)  # the paper's shared knowledge


def test_fraction_gaps_average_the_saved_table3_over_seeds(ov):
    t3 = pd.read_csv(FIGURES / "04_table3.csv", index_col=0)
    oracle_bta = ov.oracle.set_index("column").loc["BTA", "ours"]
    expected = t3.groupby(["method", "fraction"])["BTA"].mean() - oracle_bta
    got = ov.fractions.set_index(["method", "fraction"])["ours"]
    assert np.allclose(got.sort_index().values, expected.sort_index().values)
    assert ov.fractions.set_index(["method", "fraction"]).loc[("nl_ft", 0.1), "paper"] == pytest.approx(38.24 - 39.36)


def test_overview_figure_draws_every_series_readably(ov, tmp_path):
    fig = plots.overview_figure(ov)
    written = plots.save_figure(fig, "00_overview", tmp_path)
    assert [p.name for p in written] == ["00_overview.png", "00_overview.pdf"]
    assert all(p.stat().st_size > 20_000 for p in written)
    a, b, c = fig.get_axes()
    legend_a = [t.get_text() for t in a.get_legend().get_texts()]
    assert {"BTA (brain test)", "KTA (knee test)", "UA (forget set)", "paper (Xue et al. 2024)"} <= set(legend_a)
    legend_b = [t.get_text() for t in b.get_legend().get_texts()]
    for method in dict.fromkeys(ov.fractions.method):
        assert plots.label(method) in legend_b and f"{plots.label(method)}, paper" in legend_b
    texts = [t for ax in fig.get_axes() for t in ax.texts] + fig.texts
    texts += [t for ax in fig.get_axes() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    assert min(t.get_fontsize() for t in texts) >= 7
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in c.texts]
    assert not any(p.overlaps(q) for i, p in enumerate(boxes) for q in boxes[i + 1:])  # claims stay apart
    assert f"of {len(ov.claims)} hold" in c.get_title(loc="left")
    plt.close(fig)


def test_overview_table_holds_every_panel(ov):
    table = overview.overview_table(ov)
    assert set(table.panel) == {"table1_gap_to_oracle", "table3_bta_gap_to_oracle", "oracle_psnr", "claims"}
    assert (table.panel == "claims").sum() == len(ov.claims)


def test_missing_tables_are_named(tmp_path):
    assert not overview.inputs_present(tmp_path)
    with pytest.raises(FileNotFoundError, match="03_table1.csv is missing"):
        overview.load_overview(tmp_path)


def test_a_partial_run_draws_what_it_has(tmp_path):
    """A run of a few methods and one fraction (e.g. the real-data workflow's check) still draws."""
    t1 = pd.read_csv(FIGURES / "03_table1.csv", index_col=0)
    t1[t1.model.isin(["original", "oracle", "nl_ft"])].to_csv(tmp_path / "03_table1.csv")
    t3 = pd.read_csv(FIGURES / "04_table3.csv", index_col=0)
    t3[(t3.method == "nl_ft") & (t3.fraction == 0.5)].to_csv(tmp_path / "04_table3.csv")
    claims = pd.read_csv(FIGURES / "03_claims.csv", index_col=0).head(2)
    claims.assign(reproduced=["yes", "borderline"]).to_csv(tmp_path / "03_claims.csv")
    ov = overview.load_overview(tmp_path)
    assert list(dict.fromkeys(ov.gaps.model)) == ["original", "nl_ft"] and len(ov.fractions) == 1
    fig = plots.overview_figure(ov)
    assert "borderline" in [t.get_text() for t in fig.get_axes()[2].texts]
    plt.close(fig)
