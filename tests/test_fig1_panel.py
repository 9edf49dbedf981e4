"""The paper's Fig. 1 panel: which slices it shows (picked where G's error most exceeds Ĝ's, or
drawn at random with a recorded seed), the caption that counts the measured direction on them, and
the colour bars of its error maps."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

from mriunlearn import plots  # noqa: E402
from mriunlearn.errors import ConfigError  # noqa: E402
from mriunlearn.experiments.hallucinations import panel_caption, pick_slices  # noqa: E402


def _errors() -> pd.DataFrame:
    """Six slices; G − Ĝ is largest at rows 4, then 1, then 5."""
    return pd.DataFrame({"file": ["a.h5"] * 3 + ["b.h5"] * 3, "slice": [0, 1, 2] * 2,
                         "G": [0.10, 0.30, 0.10, 0.10, 0.50, 0.20], "oracle": [0.10, 0.10, 0.12, 0.10, 0.10, 0.05],
                         "GU": [0.2] * 6})


def test_excess_pick_takes_the_slices_where_g_most_exceeds_the_oracle_largest_first():
    chosen = pick_slices(_errors(), 3, "excess")
    assert list(zip(chosen.file, chosen.slice)) == [("b.h5", 1), ("a.h5", 1), ("b.h5", 2)]


def test_random_pick_is_seeded_distinct_in_table_order_and_capped_at_the_slices_there_are():
    e = _errors()
    a, b = pick_slices(e, 3, "random", seed=7), pick_slices(e, 3, "random", seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.index) == sorted(set(a.index)) and len(a) == 3
    expected = np.sort(np.random.default_rng(7).choice(6, size=3, replace=False))
    assert list(a.index) == list(expected)
    draws = {tuple(pick_slices(e, 3, "random", seed=s).index) for s in range(20)}
    assert len(draws) > 1  # the seed matters
    assert len(pick_slices(e, 10, "random", seed=0)) == 6


@pytest.mark.parametrize("pick, n", [("worst", 2), ("excess", 0), ("random", True)])
def test_pick_rejects_an_unknown_rule_or_a_bad_count(pick, n):
    with pytest.raises(ConfigError):
        pick_slices(_errors(), n, pick)


def _table(g, oracle, gu) -> pd.DataFrame:
    return pd.DataFrame({"rel_err_G": g, "rel_err_oracle": oracle, "rel_err_GU": gu})


def test_caption_counts_the_direction_on_the_slices_shown():
    t = _table([0.02, 0.015], [0.018, 0.013], [0.022, 0.014])
    text = panel_caption(t, "excess", "Gᵁ (NL-FT)")
    assert "picked where G's error most exceeds Ĝ's" in text
    assert "Gᵁ (NL-FT) larger than G on 1 of 2" in text and "Ĝ smaller than G on 2 of 2" in text
    flipped = panel_caption(_table([0.02, 0.015], [0.03, 0.02], [0.01, 0.01]), "random", seed=5)
    assert "drawn at random (seed 5)" in flipped
    assert "Gᵁ larger than G on 0 of 2" in flipped and "Ĝ smaller than G on 0 of 2" in flipped


def _row(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    gt = rng.random((48, 48))
    return {"target": gt, "original": gt + rng.normal(0, 0.05, gt.shape), "oracle": gt,
            "unlearned": gt + rng.normal(0, 0.08, gt.shape), "box": (4, 6, 16, 16), "title": f"v{seed} #0",
            "regions": [(10.0, 12.0, 3.0)], "null_G": gt, "null_GU": gt, "null_oracle": gt}


def test_panel_error_maps_have_colour_bars_on_their_row_scale_and_the_caption_is_the_title():
    rows = [_row(0), _row(1)]
    fig = plots.hallucination_panel(rows, caption="the caption")
    bars = [ax._colorbar for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]
    assert len(bars) == 4  # full and zoomed view of each slice
    for i, row in enumerate(rows):
        emax = max(np.abs(row["original"] - row["target"]).max(), np.abs(row["unlearned"] - row["target"]).max())
        assert all(np.isclose(b.norm.vmax, emax) and b.cmap.name == "inferno" for b in bars[2 * i:2 * i + 2])
    assert fig._suptitle is not None and fig._suptitle.get_text() == "the caption"
    plt.close(fig)


def test_null_space_maps_have_one_colour_bar_per_slice():
    fig = plots.null_space_figure([_row(0), _row(1)])
    bars = [ax._colorbar for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]
    assert len(bars) == 2 and all(b.cmap.name == "inferno" for b in bars)
    plt.close(fig)
