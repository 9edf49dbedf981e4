"""Styled tables (mriunlearn.tables): formatted numbers, the best cells marked, the same HTML on
every run, and never inside a cell that nbval compares."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from pandas.io.formats.style import Styler

from mriunlearn import paths, tables

pytest.importorskip("jinja2")  # pandas' Styler renders with it


def _table() -> pd.DataFrame:
    return pd.DataFrame({"BTA": [25.24, 25.30, 25.60, 17.78], "KTA": [16.85, 14.63, 16.47, np.nan]},
                        index=pd.Index(["original", "oracle", "full_ft", "ga_l1"], name="model"))


def _cell_css(styler, row: int, col: int) -> str:
    styler._compute()
    return ";".join(f"{k}:{v}" for k, v in styler.ctx[(row, col)])


def test_numbers_are_formatted_and_missing_ones_shown_as_a_dash():
    html = tables.styled(_table(), caption="t", digits=1).to_html()
    assert ">25.2<" in html and ">25.24<" not in html and ">—<" in html


def test_the_row_closest_to_the_reference_is_marked_and_excluded_rows_are_not():
    df = _table()
    st = tables.styled(df, closest_to=tables.reference_row(df, "oracle"), exclude=["oracle", "original"])
    bold = [r for r in range(len(df)) if "font-weight:bold" in _cell_css(st, r, 0)]
    assert bold == [2]  # full_ft (25.60) is nearest Ĝ's 25.30 once G and Ĝ are left out
    assert "font-style:italic" in _cell_css(st, 1, 0)  # the oracle row is drawn as a reference


def test_cells_marked_with_a_star_are_highlighted():
    df = pd.DataFrame({"BTA psnr": ["25.24 ± 1.61", "25.60 ± 1.60 *"]}, index=["ft", "nl_ft"])
    st = tables.styled(df, marked="*")
    assert "font-weight:bold" in _cell_css(st, 1, 0) and "font-weight:bold" not in _cell_css(st, 0, 0)


def test_float_index_labels_are_written_short():
    df = pd.DataFrame({"BTA": [25.1, 25.3]}, index=pd.Index([0.01, 1.0], name="fraction"))
    html = tables.styled(df).to_html()
    assert ">0.01<" in html and ">1<" in html and "0.010000" not in html


def test_the_html_is_the_same_on_every_run():
    assert tables.styled(_table(), caption="Table 1").to_html() == tables.styled(_table(), caption="Table 1").to_html()


def test_nbval_never_compares_a_styled_table():
    """Checked cells print plain text (nbval 0.11 compares every output MIME type except images,
    text/html included); the Styler is shown in the next, unchecked cell."""
    import nbformat

    for nb_path in sorted(paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")):
        cells = [c for c in nbformat.read(nb_path, as_version=4).cells if c.cell_type == "code"]
        checked = [c.source for c in cells if "NBVAL_CHECK_OUTPUT" in c.source]
        assert checked and not [s for s in checked if "tables." in s], nb_path.name
        assert any("tables.styled" in c.source for c in cells), f"{nb_path.name} shows no styled table"


def test_a_styled_table_prints_as_its_table_not_an_object_address():
    df = _table()
    st = tables.styled(df, caption="t")
    assert repr(st) == df.to_string() and "object at 0x" not in repr(st)
    assert repr(st.format(precision=1)) == df.to_string()  # Styler methods keep the stable form


# --- styling that survives JupyterLab's sanitizer -------------------------------------------------

def _regex_sanitize(html: str) -> str:
    """What JupyterLab does to an untrusted notebook's HTML output, in small: ``<style>`` blocks
    dropped, ``id=`` renamed to ``data-jupyter-id=`` (so CSS aimed at ids matches nothing)."""
    html = re.sub(r"<style\b.*?</style>", "", html, flags=re.S | re.I)
    return re.sub(r'(<[^>]*?\s)id="', r'\1data-jupyter-id="', html)


def _bleach_sanitize(html: str) -> str:
    """The same with an HTML sanitizer library (bleach): tags and attributes allow-listed, inline CSS
    filtered by property, ``<style>`` removed with its content."""
    bleach = pytest.importorskip("bleach")
    css = pytest.importorskip("bleach.css_sanitizer")
    html = _regex_sanitize(html)
    allowed = ["background-color", "color", "font-weight", "font-style", "text-align", "white-space", "min-width"]
    return bleach.clean(html, tags={"table", "thead", "tbody", "tr", "th", "td", "caption"},
                        attributes={"*": ["class", "style", "data-jupyter-id"]},
                        css_sanitizer=css.CSSSanitizer(allowed_css_properties=allowed), strip=True)


class _Cells(HTMLParser):
    """``(text, style attribute)`` of every ``<td>`` of an HTML table."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[list[str]] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "td":
            self.cells.append(["", dict(attrs).get("style") or ""])
            self._in = True

    def handle_endtag(self, tag: str) -> None:
        self._in = self._in and tag != "td"

    def handle_data(self, data: str) -> None:
        if self._in:
            self.cells[-1][0] += data.strip()


def _style_of(html: str, text: str) -> str:
    parser = _Cells()
    parser.feed(html)
    found = [style for t, style in parser.cells if t == text]
    assert found, f"no cell {text!r}"
    return found[0].replace(" ", "").lower()


def _showcase() -> list[tuple[str, object, str, str]]:
    """``(name, styled table, cell text, CSS that must reach it)`` for every kind of styling the
    notebooks use: closest-to-Ĝ, star-marked cells, coloured verdicts, grey reference rows."""
    df = _table()
    closest = tables.styled(df, closest_to=tables.reference_row(df, "oracle"), exclude=["oracle", "original"])
    marked = tables.styled(pd.DataFrame({"BTA psnr": ["25.24 ± 1.61", "25.60 ± 1.60 *"]}, index=["ft", "nl_ft"]), marked="*")
    verdicts = tables.styled(pd.DataFrame({"claim": ["a", "b", "c", "d", "e"],
                                           "reproduced": ["yes", "no", "holds", "does not hold", "borderline"]}),
                             verdicts=["reproduced"])
    return [("closest", closest, "25.60", "background-color:#d8f3dc"),
            ("marked", marked, "25.60 ± 1.60 *", "background-color:#d8f3dc"),
            ("verdict yes", verdicts, "yes", "background-color:#e3f2e1"),
            ("verdict no", verdicts, "no", "background-color:#fbe3e0"),
            ("verdict holds", verdicts, "holds", "background-color:#e3f2e1"),
            ("verdict does not hold", verdicts, "does not hold", "background-color:#fbe3e0"),
            ("verdict borderline", verdicts, "borderline", "background-color:#fdf0d5"),
            ("reference row", closest, "25.30", "font-style:italic")]


@pytest.mark.parametrize("sanitize", [_regex_sanitize, _bleach_sanitize], ids=["regex", "bleach"])
@pytest.mark.parametrize("case", range(len(_showcase())), ids=[c[0] for c in _showcase()])
def test_the_highlight_survives_jupyterlabs_sanitizer(case, sanitize):
    _, st, text, css = _showcase()[case]
    html = sanitize(st._repr_html_())
    assert "<style" not in html and ' id="' not in html
    assert css in _style_of(html, text)


def test_the_sanitizer_removes_what_pandas_alone_draws():
    """The check can fail: pandas' own HTML (colours only in the <style> block) loses the highlight."""
    _, st, text, css = _showcase()[0]
    assert css not in _style_of(_regex_sanitize(Styler.to_html(st)), text)
