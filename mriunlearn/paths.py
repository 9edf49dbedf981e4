"""The project's folders, defined once. Nothing else in the project hard-codes a path.

Folders inside the repository are constants. The five that the environment may move are functions
that read their variable each time they are called, so setting one after this module is imported
(a test's ``monkeypatch.setenv``, a notebook kernel's ``os.environ``) takes effect on the next call:

- :func:`data_dir`, ``MRIUNLEARN_DATA``: root of the generated/embedded data (default ``<repo>/data``);
  :func:`default_data_dir` is its ``default/`` folder.
- :func:`runs_dir`, ``MRIUNLEARN_RUNS``: root of the run cache of trained and unlearned models
  (default ``<repo>/runs``).
- :func:`figures_dir`, ``MRIUNLEARN_FIGURES``: where notebooks save figures (default ``<repo>/figures``).
- :func:`base_models_dir`, ``MRIUNLEARN_BASE_MODELS``: the published base models (default ``<repo>/models``;
  ``off``: none, every model is trained).
- :func:`colin27_file`, ``MRIUNLEARN_COLIN27``: the real brain of the held-out anatomy test brains
  (default: where Debian's ``mricron-data`` installs it; only ``tools/held_out_anatomy.py`` reads it).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT: Path = Path(__file__).resolve().parents[1]


def _env_path(var: str, default: Path) -> Path:
    """``$var`` as an absolute folder (``~`` expanded), or ``default`` when it is unset or empty."""
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    """Root of the generated/embedded data: ``$MRIUNLEARN_DATA``, else ``<repo>/data``."""
    return _env_path("MRIUNLEARN_DATA", ROOT / "data")


def default_data_dir() -> Path:
    """The embedded, simulated fastMRI-format dataset built by ``make data``: ``data_dir() / "default"``."""
    return data_dir() / "default"


def runs_dir() -> Path:
    """Root of the run cache: ``$MRIUNLEARN_RUNS``, else ``<repo>/runs``."""
    return _env_path("MRIUNLEARN_RUNS", ROOT / "runs")


def base_models_dir() -> Path | None:
    """The store of published base models (:mod:`mriunlearn.base_models`): ``$MRIUNLEARN_BASE_MODELS``,
    else ``<repo>/models``; ``None`` when that variable is ``off`` (every model is trained: the cold path)."""
    if os.environ.get("MRIUNLEARN_BASE_MODELS", "").strip().lower() == "off":
        return None
    return _env_path("MRIUNLEARN_BASE_MODELS", ROOT / "models")


def colin27_file() -> Path:
    """Colin27's skull-stripped 1 mm T1 on the MNI grid, the held-out brain anatomy
    (:mod:`mriunlearn.simulate.brain`): ``$MRIUNLEARN_COLIN27``, else where Debian's and Ubuntu's
    ``mricron-data`` install it."""
    return _env_path("MRIUNLEARN_COLIN27", Path("/usr/share/mricron/templates/ch2bet.nii.gz"))


def figures_dir() -> Path:
    """Where figures and the tables behind them are saved: ``$MRIUNLEARN_FIGURES``, else ``<repo>/figures``."""
    return _env_path("MRIUNLEARN_FIGURES", ROOT / "figures")


#: committed split manifests (CSV); always inside the repository
MANIFESTS_DIR: Path = ROOT / "data" / "manifests"
DEFAULT_MANIFEST: Path = MANIFESTS_DIR / "default.csv"
#: the committed results a re-run is compared with (``mriunlearn.reproduction``); never overridden
REFERENCE_DIR: Path = ROOT / "figures"
NOTEBOOKS_DIR: Path = ROOT / "notebooks"
BENCHMARKS_DIR: Path = ROOT / "benchmarks"
#: the authors' published split listing, provided beside the repository (never committed)
PAPER_SPLIT_TREE: Path = ROOT.parent / "shared" / "data" / "paper_split_tree.txt"


def from_root(path: str | os.PathLike[str]) -> Path:
    """A folder given to a notebook: absolute as given; relative, taken from the repository root.

    Notebooks run with their own folder as working directory (papermill, JupyterLab), so a relative
    parameter such as ``figures/train_seeds_3/figures`` means the same folder however it is run.
    """
    p = Path(path).expanduser()
    return (p if p.is_absolute() else ROOT / p).resolve()


def for_notebook(path: str | os.PathLike[str]) -> str:
    """``path`` as a notebook parameter that an executed, committed notebook may record: relative to
    the repository root when inside it (read back by :func:`from_root`), else absolute."""
    p = Path(path).expanduser().resolve()
    return p.relative_to(ROOT).as_posix() if ROOT in p.parents else str(p)


def portable(path: str | os.PathLike[str] | None) -> str | None:
    """``path`` as it may be recorded in a committed file: relative to the repository
    (``data/manifests/default.csv``), else to the data root (``$MRIUNLEARN_DATA/default``), else only
    its last part under ``<outside>/`` (a machine's absolute folders never enter a committed JSON)."""
    if path is None:
        return None
    p = Path(path).expanduser().resolve()
    for base, prefix in ((ROOT, ""), (data_dir(), "$MRIUNLEARN_DATA/")):
        if p == base or base in p.parents:
            return prefix + (p.relative_to(base).as_posix() if p != base else ".")
    return f"<outside>/{p.name}"
