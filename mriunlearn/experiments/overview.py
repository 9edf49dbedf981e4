"""The overview figure's numbers: Table 1, Table 3 and the claims, read back from a figures folder.

The README shows one composite figure (``figures/00_overview.png``, drawn by
:func:`mriunlearn.plots.overview_figure`). It is built from the tables notebooks 03 and 04 have
already saved, not from new runs: ``03_table1.csv`` (Table 1), ``04_table3.csv`` (Table 3) and
``03_claims.csv`` (the paper's claims judged on this project's numbers). Absolute PSNRs of the
default profile (96×96 simulated images) and of the paper (fastMRI at 320×320) are not comparable,
so every number here is a *gap to the oracle* Ĝ of the same study, in dB: 0 is the ideal unlearning
result, and the paper's gaps (:mod:`mriunlearn.paper_numbers`) sit on the same axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import paper_numbers

#: the saved tables the overview reads, by role
FILES: dict[str, str] = {"table1": "03_table1.csv", "table3": "04_table3.csv", "claims": "03_claims.csv"}
#: Table 1's rows in the paper's order (G first: its gap to Ĝ is the shared knowledge)
TABLE1_MODELS: tuple[str, ...] = ("original", "full_ft", "ft", "ga_l1", "nl", "ga_l1_ft", "nl_ft")
COLUMNS: tuple[str, ...] = ("BTA", "KTA", "UA")


@dataclass(frozen=True)
class Overview:
    """What the overview figure draws (all PSNR in dB).

    Attributes:
        gaps: ``model, column, ours, paper``: PSNR minus Ĝ's on that column, for the Table 1 models
            present in ``03_table1.csv`` (``ours`` averaged over seeds as the table is).
        fractions: ``method, fraction, ours, paper``: BTA PSNR minus Ĝ's BTA by retain fraction
            (``ours``: mean over the unlearning seeds of ``04_table3.csv``; ``paper``: NaN where the
            paper has no value, e.g. a code variant ``"nl_ft:code"`` takes its method's).
        claims: ``claim, reproduced`` (``yes``/``no``/``inconclusive``), in the saved order.
        oracle: ``column, ours, paper``: Ĝ's own PSNR, the zero of every gap.
    """

    gaps: pd.DataFrame
    fractions: pd.DataFrame
    claims: pd.DataFrame
    oracle: pd.DataFrame


def inputs_present(figures_dir: str | Path) -> bool:
    """Whether ``figures_dir`` holds every table of :data:`FILES` (notebooks 03 and 04 have run there)."""
    return all((Path(figures_dir) / name).is_file() for name in FILES.values())


def _psnr(table1: pd.DataFrame) -> pd.DataFrame:
    """Table 1's PSNR means as a (model x column) frame."""
    psnr = table1[table1.metric == "psnr"]
    return psnr.pivot_table(index="model", columns="column", values="mean", aggfunc="mean")


def _gaps(psnr: pd.DataFrame) -> pd.DataFrame:
    paper = paper_numbers.TABLE1
    rows = [{"model": m, "column": c, "ours": psnr.loc[m, c] - psnr.loc["oracle", c],
             "paper": paper[m][f"{c}_psnr"] - paper["oracle"][f"{c}_psnr"]}
            for m in TABLE1_MODELS if m in psnr.index for c in COLUMNS]
    return pd.DataFrame(rows, columns=["model", "column", "ours", "paper"])


def _fractions(table3: pd.DataFrame, oracle_bta: float) -> pd.DataFrame:
    ours = table3.groupby(["method", "fraction"], sort=False)["BTA"].mean().reset_index()
    paper_oracle = paper_numbers.TABLE1["oracle"]["BTA_psnr"]

    def paper_gap(method: str, fraction: float) -> float:
        by_fraction = paper_numbers.TABLE3.get(method.partition(":")[0], {})
        match = [bta for f, (bta, _) in by_fraction.items() if abs(f - fraction) < 1e-9]
        return match[0] - paper_oracle if match else float("nan")

    return pd.DataFrame({"method": ours.method, "fraction": ours.fraction.astype(float),
                         "ours": ours.BTA - oracle_bta,
                         "paper": [paper_gap(m, f) for m, f in zip(ours.method, ours.fraction)]})


def load_overview(figures_dir: str | Path) -> Overview:
    """Read the saved tables of notebooks 03 and 04 from ``figures_dir`` into an :class:`Overview`.

    Raises:
        FileNotFoundError: a table of :data:`FILES` is missing (names it).
        KeyError: ``03_table1.csv`` has no oracle row.
    """
    folder = Path(figures_dir)
    for name in FILES.values():
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} is missing: run notebooks 03 and 04 into {folder} first")
    table1 = pd.read_csv(folder / FILES["table1"], index_col=0)
    table3 = pd.read_csv(folder / FILES["table3"], index_col=0)
    claims = pd.read_csv(folder / FILES["claims"], index_col=0)[["claim", "reproduced"]]
    psnr = _psnr(table1)
    if "oracle" not in psnr.index:
        raise KeyError(f"{folder / FILES['table1']} has no oracle row")
    paper_oracle = paper_numbers.TABLE1["oracle"]
    oracle = pd.DataFrame({"column": list(COLUMNS), "ours": [psnr.loc["oracle", c] for c in COLUMNS],
                           "paper": [paper_oracle[f"{c}_psnr"] for c in COLUMNS]})
    return Overview(gaps=_gaps(psnr), fractions=_fractions(table3, psnr.loc["oracle", "BTA"]),
                    claims=claims.reset_index(drop=True), oracle=oracle)


def overview_table(overview: Overview) -> pd.DataFrame:
    """The numbers behind the overview figure in one tidy table (``panel, series, x, ours, paper``),
    saved beside it as ``00_overview.csv``."""
    gaps = overview.gaps.rename(columns={"model": "series", "column": "x"}).assign(panel="table1_gap_to_oracle")
    fractions = overview.fractions.rename(columns={"method": "series", "fraction": "x"}).assign(
        panel="table3_bta_gap_to_oracle")
    oracle = overview.oracle.rename(columns={"column": "x"}).assign(panel="oracle_psnr", series="oracle")
    claims = overview.claims.rename(columns={"claim": "series", "reproduced": "ours"}).assign(
        panel="claims", x="", paper="")
    cols = ["panel", "series", "x", "ours", "paper"]
    return pd.concat([gaps[cols], fractions[cols], oracle[cols], claims[cols]], ignore_index=True)
