"""The HTML report (``make reproduce`` → ``figures/html/``) and the figures' data, as a reader meets them
offline: no script, stylesheet or module fetched from the network, MathJax served from the copy next to
the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mriunlearn import paths

pytest.importorskip("nbconvert")
pytest.importorskip("jupyter_server_mathjax")

from mriunlearn.reproduce import NOTEBOOKS, render_html  # noqa: E402

#: every place an HTML page names something the browser fetches by itself
_FETCHED = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*["']?([^"'\s>]+)"""
                      r"""|\bimport\s*(?:\(\s*|[\w*{}\s,]+?\s+from\s+)?['"]([^'"]+)['"]"""
                      r"""|@import\s+(?:url\()?['"]?([^'")\s]+)"""
                      r"""|url\(\s*['"]?((?:https?:)?//[^'")\s]+)""", re.IGNORECASE)


def fetched_urls(html: str) -> list[str]:
    """Every URL the page makes the browser load (scripts, stylesheets, modules, images, CSS urls)."""
    return [next(g for g in m.groups() if g) for m in _FETCHED.finditer(html)]


def test_the_url_finder_finds_what_nbconvert_s_stock_template_loads():
    stock = ('<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js"></script>'
             '<script type="module">import mermaid from "https://cdn.example/mermaid.esm.min.mjs";</script>'
             "<link rel=stylesheet href='http://x/y.css'><style>@font-face{src:url(//fonts.example/a.woff)}</style>")
    assert fetched_urls(stock) == ["https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js",
                                   "https://cdn.example/mermaid.esm.min.mjs", "http://x/y.css",
                                   "//fonts.example/a.woff"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    # notebook 03 has the maths ($D_f$, $\hat G$) in its markdown and every kind of output
    out_dir = tmp_path_factory.mktemp("html")
    return render_html(paths.NOTEBOOKS_DIR / NOTEBOOKS[2], out_dir)


def test_the_report_loads_nothing_from_the_network(rendered):
    remote = [u for u in fetched_urls(rendered.read_text(encoding="utf-8"))
              if re.match(r"(?:[a-z][a-z0-9+.-]*:)?//", u, re.IGNORECASE) and not u.startswith("data:")]
    assert not remote, remote


def test_mathjax_is_served_from_the_copy_next_to_the_report(rendered):
    html = rendered.read_text(encoding="utf-8")
    scripts = [u for u in fetched_urls(html) if "MathJax.js" in u]
    assert len(scripts) == 1 and not scripts[0].startswith(("/", "http")), scripts
    local = rendered.parent / scripts[0].split("?")[0]
    assert local.is_file(), local
    # the config named in the URL and the web font the page asks for are in the copy
    config = scripts[0].split("config=")[1].split(",")[0]
    assert (local.parent / "config" / f"{config}.js").is_file()
    assert 'webFont: "STIX-Web"' in html and (local.parent / "fonts" / "HTML-CSS" / "STIX-Web").is_dir()
    assert "$D_f$" in html or r"D_f" in html  # the maths is left for MathJax, not pre-rendered away


# ----------------------------------------------------------------------------------------------
# every figure has its numbers beside it; no machine's folders in what is committed

def _saved_names(kind: str) -> dict[str, str]:
    """``{name: notebook}`` of every literal name passed to ``plots.<kind>(obj, "name", …)`` in the
    notebooks' code cells."""
    import ast

    import nbformat

    out = {}
    for nb_path in sorted(paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(cell.source)):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == kind
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "plots"):
                    assert len(node.args) >= 2 and isinstance(node.args[1], ast.Constant), (
                        f"{nb_path.name}: give plots.{kind} its name as a literal second argument")
                    out[node.args[1].value] = nb_path.name
    return out


def test_every_figure_a_notebook_saves_has_its_numbers_beside_it():
    figures = _saved_names("save_figure")
    data = set(_saved_names("save_table")) | set(_saved_names("save_json"))
    assert len(figures) >= 12, figures  # the finder sees the notebooks' figures
    missing = {name: nb for name, nb in figures.items() if name not in data}
    assert not missing, f"PNG without a CSV/JSON of the same name: {missing}"


def test_portable_paths_are_relative_to_the_repository_or_the_data_root(tmp_path):
    assert paths.portable(paths.ROOT / "data" / "manifests" / "default.csv") == "data/manifests/default.csv"
    assert paths.portable(paths.ROOT) == "."
    assert paths.portable(None) is None
    outside = paths.portable(tmp_path / "fastmri" / "brain")
    assert outside == "<outside>/brain" and str(tmp_path) not in outside


def test_run_records_hold_no_absolute_path(tmp_path):
    from types import SimpleNamespace

    from mriunlearn.experiments import study as st
    from mriunlearn.profiles import get_profile

    profile = get_profile("smoke")
    study = SimpleNamespace(profile=profile, manifest=SimpleNamespace(source=paths.ROOT / "data" / "manifests" / "x.csv",
                                                                      content_hash=lambda: "h"),
                            original=SimpleNamespace(entry=None), oracle=SimpleNamespace(entry=None))
    text = json.dumps(st.study_record(study), default=str)
    assert str(paths.ROOT) not in text and str(paths.data_dir()) not in text and str(tmp_path.anchor) + "work" not in text
    rec = st.study_record(study)
    assert rec["manifest"] == "data/manifests/x.csv"
    assert all(not str(rec["profile"][k] or "").startswith("/") for k in ("manifest", "data_root"))
