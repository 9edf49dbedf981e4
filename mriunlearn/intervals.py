"""The t-interval of a mean, the one confidence interval every table, claim and figure uses.

``half_width = t_{(1+confidence)/2, n-1} · sd / sqrt(n)``, with ``sd`` the sample standard
deviation (``ddof=1``) and the quantile from :data:`scipy.stats.t`.

Example::

    >>> s = mean_interval([1.0, 2.0, 3.0])
    >>> s["mean"], round(s["half_width"], 4), s["n"]
    (2.0, 2.4841, 3)
    >>> t_interval([5.0])
    (5.0, 5.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


def t_quantile(n: int, confidence: float = 0.95) -> float:
    """The two-sided ``confidence`` quantile of Student's t with ``n − 1`` degrees of freedom (NaN for n < 2)."""
    return float(stats.t.ppf((1 + confidence) / 2, n - 1)) if n > 1 else math.nan


def mean_interval(values: ArrayLike, confidence: float = 0.95) -> dict[str, Any]:
    """Mean and t-interval of ``values`` (NaNs dropped), e.g. one number per seed or per volume.

    Returns:
        ``{"mean", "half_width", "low", "high", "n"}`` with ``half_width = t_{(1+confidence)/2, n-1} ·
        sd / sqrt(n)`` (NaN bounds for fewer than two values; NaN mean for none).
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    half = float(t_quantile(n, confidence) * x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return {"mean": mean, "half_width": half, "low": mean - half, "high": mean + half, "n": n}


def t_interval(values: ArrayLike, confidence: float = 0.95) -> tuple[float, float]:
    """``(low, high)`` of :func:`mean_interval`; fewer than two values give ``(mean, mean)``. The
    figures pass it as seaborn's ``errorbar``, so a drawn band is the tables' interval."""
    s = mean_interval(values, confidence)
    return (s["mean"], s["mean"]) if s["n"] < 2 else (s["low"], s["high"])
