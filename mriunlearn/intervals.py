"""The t-interval of a mean, the one confidence interval every table, claim and figure uses; and
the least-squares quadratic with its pointwise t-band (the fits of the retain-fraction figure).

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


def quadratic_fit(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """``[a, b, c]`` of the least-squares quadratic ``y ≈ a x² + b x + c`` (needs 3 distinct x).

    >>> [round(float(v), 6) for v in quadratic_fit([0, 1, 2, 3], [1, 2, 5, 10])]
    [1.0, 0.0, 1.0]
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return np.linalg.lstsq(np.vander(x, 3), y, rcond=None)[0]


def quadratic_fit_band(x: ArrayLike, y: ArrayLike, grid: ArrayLike,
                       level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares quadratic ``y ≈ a x² + b x + c`` and its pointwise confidence band on ``grid``.

    Returns ``(fit, lower, upper)`` on ``grid``. With fewer than 4 points the band is the fit
    itself (no residual degrees of freedom).
    """
    x, y, grid = (np.asarray(v, dtype=float) for v in (x, y, grid))
    design = np.vander(x, 3)
    coef = quadratic_fit(x, y)
    g = np.vander(grid, 3)
    fit = g @ coef
    dof = len(x) - 3
    if dof <= 0:
        return fit, fit, fit
    resid = y - design @ coef
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(design.T @ design)
    se = np.sqrt(np.einsum("ij,jk,ik->i", g, cov, g))
    t = stats.t.ppf(0.5 + level / 2, dof)
    return fit, fit - t * se, fit + t * se
