"""The numbers the paper reports (Xue et al., MIDL 2024), for side-by-side comparison only.

These are *reference* values transcribed from the paper (see ../shared/paper.md); nothing in the
project computes results from them. Columns: BTA (brain test), KTA (knee test), UA (forget slices).
"""

from __future__ import annotations

import pandas as pd

from .errors import ConfigError

#: Table 1: PSNR (dB) and SSIM, mean over volumes, at epoch 55 (5 unlearning epochs after 50).
TABLE1: dict[str, dict[str, float]] = {
    "original": {"BTA_psnr": 39.07, "BTA_ssim": 0.964, "KTA_psnr": 36.65, "KTA_ssim": 0.894, "UA_psnr": 37.13, "UA_ssim": 0.905},
    "oracle": {"BTA_psnr": 39.36, "BTA_ssim": 0.965, "KTA_psnr": 31.82, "KTA_ssim": 0.834, "UA_psnr": 31.74, "UA_ssim": 0.892},
    "ft": {"BTA_psnr": 39.18, "BTA_ssim": 0.965, "KTA_psnr": 36.67, "KTA_ssim": 0.893, "UA_psnr": 37.18, "UA_ssim": 0.905},
    "full_ft": {"BTA_psnr": 39.12, "BTA_ssim": 0.965, "KTA_psnr": 36.26, "KTA_ssim": 0.889, "UA_psnr": 36.60, "UA_ssim": 0.901},
    "ga_l1": {"BTA_psnr": 16.19, "BTA_ssim": 0.172, "KTA_psnr": 14.15, "KTA_ssim": 0.156, "UA_psnr": 13.40, "UA_ssim": 0.162},
    "nl": {"BTA_psnr": 16.44, "BTA_ssim": 0.502, "KTA_psnr": 17.39, "KTA_ssim": 0.421, "UA_psnr": 17.04, "UA_ssim": 0.428},
    "ga_l1_ft": {"BTA_psnr": 31.81, "BTA_ssim": 0.910, "KTA_psnr": 27.09, "KTA_ssim": 0.735, "UA_psnr": 26.90, "UA_ssim": 0.739},
    "nl_ft": {"BTA_psnr": 38.24, "BTA_ssim": 0.956, "KTA_psnr": 31.18, "KTA_ssim": 0.863, "UA_psnr": 31.72, "UA_ssim": 0.875},
}

#: Table 3: BTA / KTA PSNR (dB) by retain-subset fraction (per-volume draws of D_r).
TABLE3: dict[str, dict[float, tuple[float, float]]] = {
    "ft": {0.01: (39.18, 36.74), 0.05: (39.05, 36.73), 0.10: (39.09, 35.45), 0.20: (39.07, 35.15), 0.50: (39.05, 35.12), 1.00: (39.12, 36.26)},
    "nl_ft": {0.01: (25.61, 31.17), 0.05: (28.88, 31.30), 0.10: (38.24, 31.19), 0.20: (38.83, 31.47), 0.50: (38.48, 31.15), 1.00: (37.46, 31.12)},
    "ga_l1_ft": {0.01: (25.39, 26.82), 0.05: (29.50, 25.92), 0.10: (32.13, 30.17), 0.20: (33.75, 30.15), 0.50: (32.38, 29.84), 1.00: (31.93, 29.46)},
}

#: Shared knowledge (Section 3): G minus oracle on knee and on brain, dB.
SHARED_KNOWLEDGE_GAP_DB: dict[str, float] = {"KTA": 36.65 - 31.82, "BTA": 39.07 - 39.36}


def table1_frame() -> pd.DataFrame:
    """Table 1 as a DataFrame indexed by method name."""
    return pd.DataFrame.from_dict(TABLE1, orient="index")


def table3_frame() -> pd.DataFrame:
    """Table 3 as a tidy DataFrame: method, fraction, BTA_psnr, KTA_psnr."""
    rows = [{"method": m, "fraction": f, "BTA_psnr": b, "KTA_psnr": k}
            for m, by_f in TABLE3.items() for f, (b, k) in by_f.items()]
    return pd.DataFrame(rows)

#: Table 2: GA-ℓ1's lowest BTA PSNR during unlearning, dB ("≈0 dB" for 4 of the 5 epochs; the raw
#: logs hold negative PSNRs), before it ends at 16.19 dB.
TABLE2_GA_L1_LOWEST_BTA_DB: float = 0.0


def table1_gaps(metric: str = "psnr") -> pd.DataFrame:
    """Table 1 as gaps to the paper's own Ĝ: per model and column (BTA, KTA, UA) the paper's
    ``metric`` (``"psnr"``, dB, or ``"ssim"``) minus its Ĝ's. Gaps are what compares across data
    sets (absolute values of 320x320 fastMRI and the embedded data do not).

    Returns:
        Columns ``model``, ``column``, ``gap`` (one row per model and column, Ĝ's own gaps 0).

    Raises:
        ConfigError: ``metric`` is not one the paper reports.
    """
    if metric not in ("psnr", "ssim"):
        raise ConfigError(f"metric={metric!r} is not valid; valid: psnr, ssim (the metrics of the paper's Table 1)")
    oracle = TABLE1["oracle"]
    return pd.DataFrame([{"model": m, "column": col, "gap": values[f"{col}_{metric}"] - oracle[f"{col}_{metric}"]}
                         for m, values in TABLE1.items() for col in ("BTA", "KTA", "UA")])
