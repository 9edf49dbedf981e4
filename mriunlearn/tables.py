"""Tables as a reader meets them in JupyterLab and the HTML report: pandas Stylers with formatted
numbers, no wrapping inside a number, and the best cells marked.

Presentation only: every function takes the table a notebook already printed and returns a
:class:`pandas.io.formats.style.Styler`; nothing here computes a result. nbval never compares a
styled table: the notebooks' ``# NBVAL_CHECK_OUTPUT`` cells print plain text (the reproduction check
of :mod:`mriunlearn.reproduction`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

#: background of a marked ("best") cell, and of yes / no verdicts
BEST = "background-color: #d8f3dc; font-weight: bold"
#: the reference rows (G, Ĝ): not competitors, so drawn apart
REFERENCE = "font-style: italic; color: #555555"
YES, NO = "background-color: #e3f2e1", "background-color: #fbe3e0"
#: background of a "borderline" verdict (within the reproduction tolerance: neither yes nor no)
BORDERLINE = "background-color: #fdf0d5"
#: verdict words coloured as yes / no (the claims table says "holds" / "does not hold")
_YES_WORDS, _NO_WORDS = frozenset({"yes", "holds"}), frozenset({"no", "does not hold"})


def _verdict_style(value: object) -> str:
    """CSS of one verdict cell: :data:`YES`, :data:`NO`, :data:`BORDERLINE` or none."""
    word = str(value).strip().lower()
    return YES if word in _YES_WORDS else NO if word in _NO_WORDS else BORDERLINE if word == "borderline" else ""

_TABLE_STYLES = [
    {"selector": "", "props": "border-collapse: collapse; font-size: 0.92em; margin: 0.4em 0 1em 0"},
    {"selector": "caption", "props": "caption-side: top; text-align: left; font-weight: bold; padding: 0.3em 0"},
    {"selector": "th", "props": "text-align: right; padding: 0.2em 0.7em; border-bottom: 1px solid #999; white-space: nowrap"},
    {"selector": "td", "props": "padding: 0.2em 0.7em; font-variant-numeric: tabular-nums"},
    {"selector": "tbody tr:nth-child(even)", "props": "background-color: #f6f6f6"},
]


def _uuid(caption: str | None) -> str:
    """A stable id for the table's CSS (pandas draws a random one): re-running gives the same HTML."""
    return re.sub(r"[^a-z0-9]+", "_", (caption or "table").lower()).strip("_")[:40] or "table"


class StyledTable(Styler):
    """A pandas ``Styler`` whose plain-text form is the table itself (not an object address), so a
    notebook showing it stays the same bytes on every run and reads well where HTML is not shown,
    and whose notebook HTML carries every cell's style inline (:func:`inline_html`)."""

    def __repr__(self) -> str:
        return self.data.to_string()

    def _repr_html_(self) -> str:
        return inline_html(self)


def _style_attr(props: Sequence[tuple[str, object]]) -> str:
    """``' style="a: b; c: d"'`` of a cell's CSS pairs (later pairs win, as in the ``<style>`` block)."""
    merged = dict((str(k).strip(), str(v).strip()) for k, v in props)
    return f' style="{"; ".join(f"{k}: {v}" for k, v in merged.items())}"' if merged else ""


def inline_html(st: Styler) -> str:
    """``st``'s HTML with each cell's computed CSS also written into the cell's own ``style``.

    Pandas draws a Styler's colours as a ``<style>`` block whose selectors name the cells' ``id`` attributes.
    JupyterLab's sanitizer (every cloned or papermill-run notebook is untrusted) renames ``id=`` to
    ``data-jupyter-id=``, so those selectors match nothing and the highlight, the grey G/Ĝ rows and
    the coloured verdicts vanish. An inline ``style`` survives the sanitizer; the ``<style>`` block
    is kept for viewers that run it (the HTML report). Data cells and index cells are inlined.
    """
    html = st.to_html()
    st._compute()  # to_html renders a copy; the cells' CSS is computed here again (same result)
    uid = st.uuid
    pattern = rf'(<t[dh] id="T_{re.escape(uid)}_(?:(row)(\d+)_col(\d+)|(level)(\d+)_row(\d+))"[^>]*?)(\s*>)'

    def dispatch(m: re.Match[str]) -> str:
        if m.group(2):  # data cell: row r, column c
            return m.group(1) + _style_attr(st.ctx.get((int(m.group(3)), int(m.group(4))), [])) + m.group(8)
        return m.group(1) + _style_attr(st.ctx_index.get((int(m.group(7)), int(m.group(6))), [])) + m.group(8)
    return re.sub(pattern, dispatch, html)


def styled(df: pd.DataFrame, *, caption: str | None = None, digits: int | Mapping[str, int] = 2,
           hide_index: bool = False, marked: str | None = None,
           closest_to: Mapping[object, float] | None = None, exclude: Sequence[object] = (),
           verdicts: Sequence[object] = (), wrap: Sequence[object] = (),
           references: Sequence[object] = ("original", "oracle", "zero_filled")) -> StyledTable:
    """``df`` as a styled table.

    Args:
        digits: decimals of every float column, or per column (others: 2).
        marked: cells whose text ends with this mark (e.g. ``*`` of ``wide_table``) are highlighted.
        closest_to: ``{column: reference value}``; in each such column the row closest to the
            reference (e.g. the oracle Ĝ's value) is highlighted, rows in ``exclude`` left out.
        verdicts: columns of yes/no (or holds / does not hold) words, coloured green/red, and
            "borderline" amber.
        wrap: text columns allowed to wrap (long sentences), left-aligned.
        references: rows of the reference models (G, Ĝ, zero-filled), set in grey italics.
    """
    def fmt(col: object) -> str:
        d = digits.get(str(col), 2) if isinstance(digits, Mapping) else digits
        return f"{{:.{d}f}}"

    floats = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
    st = StyledTable(df).set_uuid(_uuid(caption)).set_table_styles(_TABLE_STYLES)
    st = st.format({c: fmt(c) for c in floats}, na_rep="—")
    # float index labels (retain fractions, λ) as written, not padded to six decimals
    st = st.format_index(lambda v: f"{v:g}" if isinstance(v, float) else v, axis=0)
    if caption:
        st = st.set_caption(caption)
    if hide_index:
        st = st.hide(axis="index")
    text_cols = [c for c in df.columns if df[c].dtype == object]
    if text_cols:
        st = st.set_properties(subset=text_cols, **{"text-align": "right"})
    # numbers never break across lines; only the ``wrap`` columns (sentences) do
    st = st.set_properties(subset=[c for c in df.columns if c not in wrap], **{"white-space": "nowrap"})
    if references:
        st = st.apply(lambda row: [REFERENCE if _in(row.name, references) else ""] * len(row), axis=1)
    if wrap:
        st = st.set_properties(subset=list(wrap), **{"white-space": "normal", "text-align": "left", "min-width": "22em"})
    if marked:
        st = st.map(lambda v: BEST if isinstance(v, str) and v.rstrip().endswith(marked) else "")
    if closest_to:
        st = st.apply(_closest, axis=0, subset=[c for c in closest_to if c in df.columns],
                      reference=closest_to, exclude=set(exclude))
    for col in verdicts:
        st = st.map(_verdict_style, subset=[col])
    return st


def _closest(col: pd.Series, reference: Mapping[object, float], exclude: set[object]) -> list[str]:
    """CSS per cell of ``col``: :data:`BEST` on the value nearest to ``reference[col.name]`` (ties:
    all of them), rows whose label (any level) is in ``exclude`` left out."""
    values = pd.to_numeric(col, errors="coerce")
    keep = [not _in(i, exclude) for i in col.index]
    dist = (values - float(reference[col.name])).abs().where(keep)
    if not np.isfinite(dist).any():
        return [""] * len(col)
    best = dist.min()
    return [BEST if np.isfinite(d) and d == best else "" for d in dist]


def _in(label: object, names: Sequence[object] | set[object]) -> bool:
    """Whether an index label (or any level of a MultiIndex label) is one of ``names``."""
    parts = label if isinstance(label, tuple) else (label,)
    return any(p in names for p in parts if isinstance(p, (str, int, float)))


def reference_row(df: pd.DataFrame, row: object, columns: Sequence[object] | None = None) -> dict[object, float]:
    """``{column: value}`` of one row (e.g. ``"oracle"``), for :func:`styled`'s ``closest_to``."""
    cols = columns if columns is not None else [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
    return {c: float(df.loc[row, c]) for c in cols}
