"""Run the four notebooks in order with papermill (``make reproduce``).

Each notebook is executed in place (its outputs are the committed regression reference), the volatile
papermill metadata (timestamps, durations) is stripped so re-runs do not produce noisy diffs, and an
HTML rendering is written to ``figures/html/``. The first failing notebook stops the run with a
message naming the notebook and the cell.

Usage::

    python -m mriunlearn.reproduce [--profile default] [--data-dir DIR] [--only 03]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat

from . import paths
from .atomic import atomic_write_text

NOTEBOOKS: tuple[str, ...] = (
    "01_data_overlap.ipynb",
    "02_joint_training_hallucinations.ipynb",
    "03_unlearning.ipynb",
    "04_subset_retain.ipynb",
)


def strip_volatile_metadata(path: Path) -> None:
    """Remove papermill/Jupyter timing metadata from an executed notebook, in place (atomically)."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    for key in ("widgets",):
        nb.metadata.pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                out.get("metadata", {}).pop("execution", None)
    # as nbformat.write and Jupyter's contents manager write it (final newline): opening and saving
    # the notebook in JupyterLab then changes no byte
    atomic_write_text(path, nbformat.writes(nb) + "\n")


#: MathJax 2 as the ``jupyter-server-mathjax`` package ships it (HTML-CSS output, STIX-Web fonts):
#: copied next to the renderings, so the report needs no network to show ``$D_f$`` as maths
MATHJAX_DIR = "mathjax"

#: nbconvert's lab template, less what it fetches from a CDN: require.js (no output of these
#: notebooks uses it: no widgets), mermaid (no diagrams) and the CDN MathJax, which is replaced
#: by the local copy with a configuration for the fonts that copy has
_OFFLINE_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
    tex2jax: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
              processEscapes: true, processEnvironments: true},
    TeX: {equationNumbers: {autoNumber: "AMS", useLabelIds: true}},
    "HTML-CSS": {availableFonts: [], imageFont: null, preferredFont: null, webFont: "STIX-Web"},
    displayAlign: "center",
    messageStyle: "none"
});
</script>
<script src="{{ resources.mathjax_url }}"></script>
{%- endblock html_head_js_mathjax -%}
"""


def copy_mathjax(out_dir: Path) -> Path:
    """Copy MathJax from the installed ``jupyter-server-mathjax`` package to ``out_dir/mathjax`` (once)."""
    import shutil

    import jupyter_server_mathjax

    src = Path(jupyter_server_mathjax.__file__).parent / "static"
    dest = out_dir / MATHJAX_DIR
    if not (dest / "MathJax.js").exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dest, dirs_exist_ok=True)
    return dest


def render_html(path: Path, out_dir: Path) -> Path:
    """Write an HTML rendering of an executed notebook into ``out_dir`` that loads nothing from the
    network: MathJax is copied beside it and referenced by a relative URL, require.js and mermaid
    are left out."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    copy_mathjax(out_dir)
    exporter = HTMLExporter(extra_loaders=[DictLoader({"mriunlearn_offline.html.j2": _OFFLINE_TEMPLATE})],
                            template_file="mriunlearn_offline.html.j2",
                            mathjax_url=f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe")
    body, _ = exporter.from_filename(str(path))
    out = out_dir / (path.stem + ".html")
    atomic_write_text(out, body)
    return out


def run_notebook(path: Path, parameters: dict[str, object]) -> None:
    """Execute one notebook in place with papermill; raises SystemExit naming the failing cell."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    try:
        pm.execute_notebook(str(path), str(path), parameters=parameters, cwd=str(path.parent),
                            kernel_name="python3", progress_bar=False, log_output=False)
    except PapermillExecutionError as exc:
        raise SystemExit(f"reproduce: {path.name} failed in cell {exc.cell_index} "
                         f"(execution count {exc.exec_count}): {exc.ename}: {exc.evalue}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mriunlearn.reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None, help="PROFILE parameter for every notebook (default: the notebooks' own)")
    parser.add_argument("--data-dir", default=None, help="DATA_DIR parameter (real fastMRI data for the paper profile)")
    parser.add_argument("--only", action="append", default=None, help="run only notebooks whose name starts with this (repeatable)")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML renderings")
    args = parser.parse_args(argv)
    params: dict[str, object] = {}
    if args.profile:
        params["PROFILE"] = args.profile
    if args.data_dir:
        params["DATA_DIR"] = args.data_dir
    html_dir = paths.FIGURES_DIR / "html"
    total = time.perf_counter()
    for name in NOTEBOOKS:
        if args.only and not any(name.startswith(p) for p in args.only):
            continue
        path = paths.NOTEBOOKS_DIR / name
        if not path.exists():
            raise SystemExit(f"reproduce: notebook {path} not found")
        start = time.perf_counter()
        print(f"[reproduce] {name} ...", flush=True)
        run_notebook(path, params)
        strip_volatile_metadata(path)
        if not args.no_html:
            render_html(path, html_dir)
        print(f"[reproduce] {name} done in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"[reproduce] all notebooks done in {time.perf_counter() - total:.0f} s; figures in {paths.FIGURES_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
