"""The t-interval every table, claim and figure uses, against the textbook formula."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from mriunlearn import intervals
from mriunlearn.intervals import mean_interval, t_interval, t_quantile


def test_module_examples_run():
    result = doctest.testmod(intervals)
    assert result.attempted >= 3 and result.failed == 0


def test_t_quantile_matches_the_table_values():
    # two-sided 95% quantiles of Student's t from printed tables: df 1, 2, 4, 9
    assert [round(t_quantile(n), 3) for n in (2, 3, 5, 10)] == [12.706, 4.303, 2.776, 2.262]
    assert round(t_quantile(3, 0.9), 3) == 2.920
    assert math.isnan(t_quantile(1))


def test_mean_interval_is_mean_plus_minus_t_times_the_standard_error():
    v = [25.1, 25.4, 24.9, np.nan]  # NaNs are dropped
    s = mean_interval(v)
    half = 4.303 * np.std([25.1, 25.4, 24.9], ddof=1) / math.sqrt(3)  # t(0.975) with 2 degrees of freedom
    assert s["n"] == 3 and s["mean"] == pytest.approx(25.1333333)
    assert s["half_width"] == pytest.approx(half, rel=1e-4)
    assert (s["low"], s["high"]) == (s["mean"] - s["half_width"], s["mean"] + s["half_width"])
    assert t_interval(v) == (s["low"], s["high"])


def test_one_value_has_no_interval():
    one = mean_interval([3.0])
    assert one["mean"] == 3.0 and one["n"] == 1 and math.isnan(one["half_width"])
    assert t_interval([3.0]) == (3.0, 3.0)
    assert math.isnan(mean_interval([])["mean"])
