"""Numbers the README and docs quote from ``figures/`` and ``benchmarks/results/``, kept from files.

A quoted number carries its source right after it, as an HTML comment (invisible when rendered)::

    Ĝ reconstructs brain at 28.53<!--= t1("oracle", "BTA") --> dB

The expression is evaluated with the readers below (each reads one committed file); the number in
front is the value formatted as written there: the same decimals, ``+`` kept when written, a
thousands comma when written, and the minus sign of the text (``−`` unless ``-`` was written).
``python tools/quoted_numbers.py`` rewrites every marked number of README.md and docs/*.md from the
files (after a re-run of the notebooks); ``--check`` lists the numbers that no longer match and exits
1 (the tests run the same check).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"
MARKER = re.compile(r"(?P<num>[+−-]?\d[\d,]*(?:\.\d+)?)<!--= (?P<expr>.+?) -->")


@lru_cache(maxsize=None)
def _csv(relpath: str) -> pd.DataFrame:
    path = FIGURES / relpath
    first = path.read_text().split(",", 1)[0]
    return pd.read_csv(path, index_col=0 if first == "" else None)


def _where(relpath: str, where: dict[str, Any]) -> pd.DataFrame:
    """The rows of ``figures/<relpath>`` whose every ``column`` equals ``value`` (compared as text)."""
    table = _csv(relpath)
    mask = pd.Series(True, index=table.index)
    for column, value in where.items():
        mask &= table[column].astype(str) == str(value)
    return table[mask]


def cell(relpath: str, field: str, agg: str | None = None, **where: Any) -> float:
    """``field`` of the row of ``figures/<relpath>`` (a CSV) where every ``column == value`` of ``where``.

    Raises:
        LookupError: not exactly one row matches (give ``agg="mean"`` to average several).
    """
    rows = _where(relpath, where)[field]
    if agg is None and len(rows) != 1:
        raise LookupError(f"figures/{relpath}: {len(rows)} rows match {where}")
    return float(rows.mean() if agg == "mean" else rows.iloc[0])


def count(relpath: str, **where: Any) -> float:
    """How many rows of ``figures/<relpath>`` have every ``column == value`` of ``where``."""
    return float(len(_where(relpath, where)))


def distinct(relpath: str, field: str, **where: Any) -> float:
    """How many different values ``field`` takes in the rows of ``figures/<relpath>`` matching ``where``."""
    return float(_where(relpath, where)[field].nunique())


def t1(model: str, column: str, metric: str = "psnr", field: str = "mean", folder: str = "") -> float:
    """Table 1 (``03_table1.csv``, or that of a committed run folder such as ``unlearn_seeds_3``)."""
    path = f"{folder}/figures/03_table1.csv" if folder else "03_table1.csv"
    return cell(path, field, model=model, column=column, metric=metric)


def gap(model: str, column: str, folder: str = "") -> float:
    """PSNR of ``model`` minus the oracle's on ``column`` in Table 1."""
    return t1(model, column, folder=folder) - t1("oracle", column, folder=folder)


def t3(method: str, fraction: float, column: str = "BTA") -> float:
    """Table 3 (``04_table3.csv``): mean over the unlearning seeds."""
    return cell("04_table3.csv", column, agg="mean", method=method, fraction=fraction)


def diff_ci(relpath: str, field: str, col: str, a: str, b: str, by: str, stat: str = "mean",
            **where: Any) -> float:
    """Paired difference ``a − b`` of ``field`` between the rows whose ``col`` is ``a`` and ``b``,
    paired by ``by`` (e.g. seed or file; several rows per pair are averaged first): its ``mean``, or
    the ``low``/``high`` end of the 95% t-interval over the pairs (the notebooks' interval).

    Raises:
        ValueError: ``stat`` is not one of mean, low, high.
    """
    from mriunlearn.intervals import mean_interval

    rows = _where(relpath, where)
    wide = rows.pivot_table(index=by, columns=col, values=field, aggfunc="mean")
    s = mean_interval((wide[a] - wide[b]).dropna().to_numpy(dtype=float))
    half = s["half_width"] if s["n"] > 1 else 0.0
    if stat not in ("mean", "low", "high"):
        raise ValueError(f"stat must be mean, low or high, got {stat!r}")
    return s["mean"] + {"mean": 0.0, "low": -half, "high": half}[stat]


def textnum(relpath: str, field: str, k: int, row: int) -> float:
    """The ``k``-th number (0-based) written in the text cell ``field`` of row ``row`` of a CSV (e.g. an
    interval inside ``03_claims.csv``'s evidence)."""
    text = str(_csv(relpath).iloc[row][field]).replace("−", "-")
    return float(re.findall(r"[+-]?\d+(?:\.\d+)?", text)[k])


def jfile(relpath: str, *keys: str | int, root: Path = FIGURES) -> float:
    """A value of a JSON file under ``figures/`` (``root`` for another folder), by keys and indices."""
    value: Any = json.loads((root / relpath).read_text())
    for key in keys:
        value = value[key]
    return float(value)


def bench(*keys: str | int) -> float:
    """A value of ``benchmarks/results/latest.json`` by keys and list indices."""
    return jfile("latest.json", *keys, root=ROOT / "benchmarks" / "results")


def brow(section: str, field: str, rows: str = "rows", **match: Any) -> float:
    """``field`` of the one entry of ``latest.json``'s ``section[rows]`` list whose keys equal ``match``
    (e.g. ``brow("throughput", "ms_per_slice", row="reference")``).

    Raises:
        LookupError: not exactly one entry matches.
    """
    entries = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())[section][rows]
    found = [e for e in entries if all(e.get(k) == v for k, v in match.items())]
    if len(found) != 1:
        raise LookupError(f"benchmarks/results/latest.json {section}.{rows}: {len(found)} entries match {match}")
    return float(found[0][field])


READERS: dict[str, Callable[..., float]] = {
    "cell": cell, "count": count, "distinct": distinct, "t1": t1, "gap": gap, "t3": t3, "diff_ci": diff_ci, "textnum": textnum,
    "jfile": jfile, "bench": bench, "brow": brow,
    "abs": abs, "min": min, "max": max, "round": round,
}


def evaluate(expr: str) -> float:
    """The value of a marker's expression (the readers above and arithmetic only)."""
    try:
        return float(eval(expr, {"__builtins__": {}, **READERS}))  # noqa: S307 - our own docs
    except Exception as exc:
        raise ValueError(f"cannot evaluate the quoted number's source {expr!r}: {exc}") from exc


def render(value: float, written: str) -> str:
    """``value`` formatted as ``written`` is: its decimals, its sign style and its thousands comma."""
    decimals = len(written.split(".")[1]) if "." in written else 0
    text = f"{abs(value):,.{decimals}f}" if "," in written else f"{abs(value):.{decimals}f}"
    if math.isnan(value):
        return "nan"
    negative = value < 0 and float(text.replace(",", "")) != 0
    minus = "-" if written.startswith("-") else "−"
    return (minus if negative else "+" if written.startswith("+") else "") + text


def documents() -> list[Path]:
    """The files whose quoted numbers are kept: README.md and every page of docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def mismatches(path: Path) -> list[tuple[str, str, str]]:
    """``(written, from the files, expression)`` for every marked number of ``path`` that differs."""
    out = []
    for m in MARKER.finditer(path.read_text()):
        expected = render(evaluate(m["expr"]), m["num"])
        if expected != m["num"]:
            out.append((m["num"], expected, m["expr"]))
    return out


def refresh(path: Path) -> int:
    """Rewrite the marked numbers of ``path`` from the files; returns how many changed."""
    text = path.read_text()
    changed = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal changed
        new = render(evaluate(m["expr"]), m["num"])
        changed += new != m["num"]
        return f"{new}<!--= {m['expr']} -->"

    path.write_text(MARKER.sub(sub, text))
    return changed


def main(argv: list[str]) -> int:
    """``--check``: print mismatches, exit 1 if any; otherwise rewrite every document's numbers."""
    bad = 0
    for doc in documents():
        if "--check" in argv:
            for written, expected, expr in mismatches(doc):
                print(f"{doc.relative_to(ROOT)}: {written} should be {expected} ({expr})")
                bad += 1
        else:
            n = refresh(doc)
            if n:
                print(f"{doc.relative_to(ROOT)}: {n} numbers updated")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
