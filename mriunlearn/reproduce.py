"""Run the four notebooks in order with papermill (``make reproduce``).

Each notebook is executed in place (its outputs are the committed record; its checked cells compare
the tables with the committed figures within tolerance, :mod:`mriunlearn.reproduction`), the volatile
papermill metadata (timestamps, durations) is stripped so re-runs do not produce noisy diffs, and an
HTML rendering is written to ``figures/html/``. The first failing notebook stops the run with a
message naming the notebook and the cell.

With ``--out DIR`` nothing committed is touched: the executed notebooks go to ``DIR/``, their figures
and tables to ``DIR/figures/`` (the notebooks' ``FIGURES_DIR``) and the HTML to ``DIR/html/``.

Usage::

    python -m mriunlearn.reproduce [--profile default] [--only 03]
    python -m mriunlearn.reproduce --profile paper --manifest data/manifests/paper.csv
        --data-root /data/fastmri --runs /scratch/runs --out /scratch/paper
        [--set max_steps=2] [-p METHODS '["nl_ft"]'] [-p EXTRA_METHODS '[]']

``--set KEY=VALUE`` overrides a profile field in every notebook (their ``OVERRIDES`` parameter);
``-p NAME VALUE`` sets a notebook parameter (VALUE read as JSON, else as text) in every notebook
that declares it.
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


def run_notebook(path: Path, parameters: dict[str, object], output: Path | None = None) -> None:
    """Execute one notebook with papermill, in place or into ``output``; raises SystemExit naming
    the failing cell."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    output = output or path
    try:
        pm.execute_notebook(str(path), str(output), parameters=parameters, cwd=str(path.parent),
                            kernel_name="python3", progress_bar=False, log_output=False)
    except PapermillExecutionError as exc:
        raise SystemExit(f"reproduce: {path.name} failed in cell {exc.cell_index} "
                         f"(execution count {exc.exec_count}): {exc.ename}: {exc.evalue}"
                         + (f" (partial notebook: {output})" if output != path else "")) from None


def declared_parameters(path: Path) -> set[str]:
    """The parameters a notebook's ``parameters`` cell declares (papermill's own reading)."""
    import papermill as pm

    return set(pm.inspect_notebook(str(path)))


def _overrides(items: list[str] | None, profile: str | None) -> dict[str, object]:
    """``--set KEY=VALUE`` as a dict, validated against the profile (an error names the key)."""
    from .cli import key_values
    from .errors import MriUnlearnError

    try:
        out: dict[str, object] = key_values(items, "--set")
    except MriUnlearnError as exc:
        raise SystemExit(f"reproduce: {exc}") from None
    if out:
        from .profiles import get_profile

        if {"manifest", "data_root"} & set(out):
            raise SystemExit("reproduce: give the data as --manifest / --data-root, not with --set")
        try:
            get_profile(profile or "default", **out)
        except MriUnlearnError as exc:
            raise SystemExit(f"reproduce: --set: {exc}") from None
    return out


def _existing(path: Path | None, what: str, *, folder: bool) -> str | None:
    if path is None:
        return None
    path = path.expanduser().resolve()
    if not path.exists():
        raise SystemExit(f"reproduce: {what} {path} does not exist")
    if folder != path.is_dir():
        raise SystemExit(f"reproduce: {what} {path} is not a {'folder' if folder else 'file'}")
    return str(path)


def _folder(path: Path, what: str) -> Path:
    """``path`` as an absolute folder, created; a file there is refused."""
    path = path.expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise SystemExit(f"reproduce: {what} {path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SystemExit(f"reproduce: cannot create {what} {path}: {exc}") from None
    return path


def _parser() -> argparse.ArgumentParser:
    """The command line of ``python -m mriunlearn.reproduce`` (help text from the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m mriunlearn.reproduce", description=__doc__.splitlines()[0],
                                     epilog=__doc__[__doc__.index("Usage::"):],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None, help="PROFILE parameter for every notebook (default: the notebooks' own)")
    parser.add_argument("--data-root", "--data-dir", dest="data_dir", type=Path, default=None,
                        help="DATA_DIR parameter: the folder the manifest's files are relative to (real fastMRI data)")
    parser.add_argument("--manifest", type=Path, default=None, help="MANIFEST parameter: the split CSV (paper profile)")
    parser.add_argument("--runs", type=Path, default=None, help="RUNS_DIR parameter: the run cache (default: $MRIUNLEARN_RUNS or runs/)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write executed notebooks, figures (DIR/figures) and HTML (DIR/html) here; "
                        "the committed notebooks and figures stay untouched")
    parser.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                        help="override a profile field in every notebook (repeatable), e.g. --set max_steps=2")
    parser.add_argument("-p", "--parameter", dest="params", action="append", nargs=2, metavar=("NAME", "VALUE"),
                        help="notebook parameter for the notebooks that declare NAME (VALUE: JSON or text; repeatable)")
    parser.add_argument("--only", action="append", default=None, help="run only notebooks whose name starts with this (repeatable)")
    parser.add_argument("--no-html", action="store_true", help="skip the HTML renderings")
    return parser


def _common_parameters(args: argparse.Namespace) -> dict[str, object]:
    """The parameters every notebook gets: PROFILE, DATA_DIR, MANIFEST, RUNS_DIR (created) and
    OVERRIDES, each only when given; a bad path or override exits with a message."""
    params: dict[str, object] = {}
    if args.profile:
        params["PROFILE"] = args.profile
    if args.data_dir is not None:
        params["DATA_DIR"] = _existing(args.data_dir, "--data-root", folder=True)
    if args.manifest is not None:
        params["MANIFEST"] = _existing(args.manifest, "--manifest", folder=False)
    if args.runs is not None:
        params["RUNS_DIR"] = str(_folder(args.runs, "--runs"))
    overrides = _overrides(args.overrides, args.profile)
    if overrides:
        params["OVERRIDES"] = overrides
    return params


def _selected_notebooks(only: list[str] | None) -> list[str]:
    """The :data:`NOTEBOOKS` whose name starts with one of ``only`` (all when ``None``); exits when
    none matches or a selected notebook is missing."""
    names = [n for n in NOTEBOOKS if not only or any(n.startswith(p) for p in only)]
    if not names:
        raise SystemExit(f"reproduce: --only {only} matches no notebook of {', '.join(NOTEBOOKS)}")
    for name in names:
        if not (paths.NOTEBOOKS_DIR / name).exists():
            raise SystemExit(f"reproduce: notebook {paths.NOTEBOOKS_DIR / name} not found")
    return names


def _declared_by(names: list[str], extra: dict[str, object]) -> dict[str, set[str]]:
    """``{notebook: its declared parameters}`` (empty without ``extra``); exits when a parameter of
    ``extra`` is declared by none of ``names``."""
    declared = {name: declared_parameters(paths.NOTEBOOKS_DIR / name) for name in names} if extra else {}
    unused = sorted(k for k in extra if not any(k in d for d in declared.values()))
    if unused:
        valid = sorted(set().union(*declared.values()))
        raise SystemExit(f"reproduce: -p {', '.join(unused)}: no notebook run declares it; "
                         f"valid parameters: {', '.join(valid)}")
    return declared


def _output_folders(out_arg: Path | None) -> tuple[Path | None, Path, Path]:
    """``(out, figures, html folder)``: under ``--out`` (created) when given, else the committed
    figures folder and its ``html``."""
    if out_arg is not None:
        out = _folder(out_arg, "--out")
        figures = _folder(out / "figures", "--out figures folder")
        return out, figures, out / "html"
    figures = paths.figures_dir()
    return None, figures, figures / "html"


def _run_all(names: list[str], params: dict[str, object], extra: dict[str, object],
             declared: dict[str, set[str]], out: Path | None, figures: Path, html_dir: Path | None) -> None:
    """Execute ``names`` in order (into ``out`` or in place), strip volatile metadata, render HTML
    into ``html_dir`` unless it is ``None``, and report progress on stdout."""
    total = time.perf_counter()
    for name in names:
        path = paths.NOTEBOOKS_DIR / name
        target = out / name if out is not None else path
        start = time.perf_counter()
        print(f"[reproduce] {name} ...", flush=True)
        run_notebook(path, {**params, **{k: v for k, v in extra.items() if k in declared.get(name, ())}}, target)
        strip_volatile_metadata(target)
        if html_dir is not None:
            render_html(target, html_dir)
        print(f"[reproduce] {name} done in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"[reproduce] all notebooks done in {time.perf_counter() - total:.0f} s; figures in {figures}"
          + (f"; notebooks and html in {out}" if out is not None else ""))


def main(argv: list[str] | None = None) -> int:
    """Run the selected notebooks as the command line ``argv`` says; returns 0, or exits with a
    message naming the bad argument or the failing notebook."""
    args = _parser().parse_args(argv)
    params = _common_parameters(args)
    from .cli import parse_value

    extra = {name: parse_value(value) for name, value in args.params or []}
    names = _selected_notebooks(args.only)
    declared = _declared_by(names, extra)
    out, figures, html_dir = _output_folders(args.out)
    if out is not None:
        params["FIGURES_DIR"] = paths.for_notebook(figures)  # the executed notebooks record no machine's folders
    _run_all(names, params, extra, declared, out, figures, None if args.no_html else html_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
