"""Does a re-run reproduce the committed results? Tolerances and the comparison the notebooks print.

Trained weights are not bitwise reproducible across CPUs (kernels, vector width and summation order
follow the hardware), so a re-run on another machine trains other weights and every trained number
moves a little. A notebook therefore compares each table it has just computed with the committed
table of the same name in the repository's ``figures/`` (:data:`mriunlearn.paths.REFERENCE_DIR`) and
prints one stable line per table: how many numbers it compared and that all lie within tolerance, or
which do not. nbval checks that line, so a real change still fails ``make test`` while another
machine's rounding does not.

Every number belongs to one tolerance class (:data:`TOLERANCES`): ``exact`` for what involves no
training (data, masks, zero-filled reconstructions, counts, parameters), and for trained or unlearned
models a width derived from the variation the project measures: seed-to-seed spread and the
difference between machines (``docs/reproducibility.md`` holds the measurements and the derivation).
Runs that leave the usual regime (gradient ascent, which diverges by design; SSD's threshold pruning;
the noise sweep and the NL ablation) get the wide ``unstable_*`` classes, and the printed line says so. The same tolerances decide when a verdict is too close to its threshold to be stated:
:func:`verdict` returns ``"borderline"`` then.

Example::

    >>> t = TOLERANCES["exact"]
    >>> t.allows(20.74, 20.74 + 1e-9), t.allows(20.74, 20.75)
    (True, False)
    >>> verdict(0.5, TOLERANCES["trained_db"]), verdict(4.0, TOLERANCES["trained_db"])
    ('borderline', 'yes')
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import paths
from .errors import ConfigError


@dataclass(frozen=True)
class Tolerance:
    """How far a re-run may move one number: ``|new − ref| <= abs + rel·|ref|``.

    ``unit`` is printed beside the numbers; ``why`` says where the width comes from.
    """

    name: str
    abs: float
    rel: float = 0.0
    unit: str = ""
    why: str = ""

    def width(self, ref: float) -> float:
        """The allowed ``|new − ref|`` at reference value ``ref``."""
        return self.abs + self.rel * abs(ref)

    def allows(self, ref: float, new: float) -> bool:
        """True when ``new`` reproduces ``ref``; NaN matches only NaN."""
        if math.isnan(ref) or math.isnan(new):
            return math.isnan(ref) and math.isnan(new)
        return abs(new - ref) <= self.width(ref)


#: Methods whose unlearning runs diverge by design (gradient ascent) or prune by a threshold (SSD):
#: a tiny change in G moves their results by dB, so they are compared with the ``unstable_*`` classes.
UNSTABLE_METHODS: frozenset[str] = frozenset({"ga", "ga_l1", "ga_l1_ft", "ssd"})

#: The one home of every reproduction tolerance. Rule for every measured class (checked by
#: :func:`derived_widths` on the committed measurements, ``figures/reproducibility/``): the absolute
#: width is at least SEED_SIGMAS·√2 times the pooled seed-to-seed standard deviation (two independent
#: runs differ by √2 σ; 4 of those keep a false alarm per number below 1e-4), and every difference
#: measured between two machines, times MACHINE_MARGIN, lies inside the width. docs/reproducibility.md
#: gives both measurements per class.
TOLERANCES: dict[str, Tolerance] = {t.name: t for t in (
    Tolerance("exact", 1e-6, 1e-6, why="no training involved: data, masks, zero-filled input, counts, parameters"),
    Tolerance("trained_db", 3.2, unit="dB", why="G and Ĝ PSNR and their differences"),
    Tolerance("trained_ssim", 0.02, why="G and Ĝ SSIM"),
    Tolerance("unlearned_db", 1.6, unit="dB", why="unlearned models: G's variation plus the unlearning run's"),
    Tolerance("unlearned_ssim", 0.1, why="unlearned models' SSIM"),
    Tolerance("unstable_db", 4.7, unit="dB", why="runs that leave the usual regime and amplify any change in G"),
    Tolerance("unstable_ssim", 0.2, why="SSIM of those runs"),
    Tolerance("diverging_db", 7.5, unit="dB", why="points during a gradient-ascent collapse (Table 2's epochs): its pace moves"),
    Tolerance("spread_db", 0.3, 0.5, unit="dB", why="std over volumes or 95% half-width of a PSNR: moves with the model"),
    Tolerance("spread_ssim", 0.04, 0.5, why="the same of an SSIM"),
    Tolerance("hallucination", 0.0, 0.75, why="hallucination score (relative)"),
    Tolerance("fraction", 0.1, why="null-space fraction of the error"),
    Tolerance("slope", 0.035, unit="dB/epoch", why="validation PSNR slope at the end of training"),
    Tolerance("mia_auc", 0.3, why="calibrated membership AUC and its interval's bounds (20 forget, 32 unseen knee slices)"),
    Tolerance("relearn", 2.0, 0.5, unit="steps", why="relearning steps until UA recovers half of G's gap over Ĝ (>N read as N + 1): "
                                                  "about a checkpoint either way on a doubling schedule"),
    Tolerance("param_distance", 0.0, 0.5, why="parameter distance to Ĝ relative to G's"),
    Tolerance("pass_fraction", 0.3, why="share of the 20 forget slices passing the ensemble likelihood-ratio audit, and its interval"),
)}

#: ratio classes: ``name -> (class of both parts, smallest denominator covered)``. A ratio a/b of two
#: numbers that each move by at most w moves by at most (w + (a/b)·w)/b, i.e. by (1 + r_max)·w / b_min
#: for ratios up to :data:`RATIO_MAX` and denominators from b_min up: the width of the parts propagated,
#: with no measurement of its own (``tests/test_reproduction.py`` checks the committed denominators).
RATIO_PARTS: dict[str, tuple[str, float]] = {"ssim_ratio": ("trained_ssim", 0.6), "gain_ratio": ("trained_db", 6.0)}
#: the largest ratio the ratio classes cover (both regime ratios are "how much of the reference is kept")
RATIO_MAX: float = 1.0


def _ratio_tolerance(name: str) -> Tolerance:
    part, floor = RATIO_PARTS[name]
    w = TOLERANCES[part].abs
    return Tolerance(name, (1 + RATIO_MAX) * w / floor,
                     why=f"a ratio of two {part} numbers (denominator >= {floor:g}): their width propagated")


TOLERANCES.update({name: _ratio_tolerance(name) for name in RATIO_PARTS})

#: what no comparison looks at: wall times and other properties of the machine, not of the result
IGNORED: frozenset[str] = frozenset({"wall_time_s", "seconds", "minutes"})


def tolerance(name: str) -> Tolerance:
    """The tolerance class ``name``; unknown names raise :class:`~mriunlearn.errors.ConfigError`."""
    try:
        return TOLERANCES[name]
    except KeyError:
        raise ConfigError(f"unknown tolerance class {name!r}; valid: {', '.join(TOLERANCES)}") from None


def model_class(model: str, metric: str = "psnr") -> str:
    """Tolerance class of one model's PSNR (``metric="psnr"``, also its gaps) or SSIM.

    ``zero_filled`` involves no training (``exact``); ``original`` and ``oracle`` are trainings; the
    rest are unlearned models, :data:`UNSTABLE_METHODS` with the wide classes. A ``method:variant``
    or ``method@budget`` label is classed by its method.
    """
    base = str(model).split(":")[0].split("@")[0].split(" ")[0]
    if base == "zero_filled":
        return "exact"
    kind = "ssim" if metric == "ssim" else "db"
    if base in ("original", "oracle"):
        return f"trained_{kind}"
    return f"unstable_{kind}" if base in UNSTABLE_METHODS else f"unlearned_{kind}"


def verdict(margin: float, tol: Tolerance, ref: float = 0.0, half: float = 0.0) -> str:
    """``"yes"`` / ``"no"`` for a criterion that holds when ``margin > 0``, or ``"borderline"``.

    ``margin`` is the measured value's signed distance from the criterion's threshold (positive: the
    criterion holds). When ``|margin|`` is within ``tol``'s width (taken at ``ref``) a re-run on
    another machine could flip the answer, so it is ``"borderline"``, never a win or a loss.
    ``half`` (>= 0), the half-width of the measured value's interval, widens that zone on both
    sides: "yes" needs the whole interval beyond the threshold, "no" the whole interval short of it.
    """
    if math.isnan(margin):
        return "borderline"
    if abs(margin) <= tol.width(ref) + half:
        return "borderline"
    return "yes" if margin > 0 else "no"


#: ``(row's key values, value column) -> tolerance class``; ``None``: the column is not compared
Classify = Callable[[Mapping[str, Any], str], "str | None"]


@dataclass(frozen=True)
class TableSpec:
    """One committed table and how to compare a re-run with it.

    ``name`` is the CSV stem in the figures folder; ``keys`` the columns that identify a row (compared
    exactly: a re-run with other rows is "not comparable"); every other numeric column is compared
    with the class ``classify`` names (non-numeric columns, :data:`IGNORED` columns and a ``None``
    class are skipped). ``summarise`` (optional) reduces both tables the same way first, e.g. to the
    mean per model.
    """

    name: str
    title: str
    keys: tuple[str, ...]
    classify: Classify
    summarise: Callable[[pd.DataFrame], pd.DataFrame] | None = None


@dataclass(frozen=True)
class Difference:
    """One compared number: where (``row``, ``column``), the committed and the new value, its class."""

    row: str
    column: str
    ref: float
    new: float
    tol: Tolerance
    key: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """``|new − ref|`` over the allowed width (> 1: outside); NaN pairs give 0."""
        if math.isnan(self.ref) and math.isnan(self.new):
            return 0.0
        width = self.tol.width(self.ref)
        delta = abs(self.new - self.ref)
        return delta / width if width > 0 else (0.0 if delta == 0 else math.inf)

    def describe(self) -> str:
        unit = f" {self.tol.unit}" if self.tol.unit else ""
        return (f"{self.row} {self.column}: {self.new:.4g} vs committed {self.ref:.4g} "
                f"(|Δ| {abs(self.new - self.ref):.3g}, tolerance {self.tol.width(self.ref):.3g}{unit}, {self.tol.name})")


@dataclass
class Comparison:
    """The outcome of :func:`compare`. ``str()`` is the stable line a notebook prints (and nbval
    checks): it names no machine-dependent number unless something fails. The second line, the
    largest difference relative to its tolerance, varies by machine; ``tests/nbval_sanitize.cfg``
    masks it."""

    spec: TableSpec
    differences: list[Difference] = field(default_factory=list)
    not_compared: str | None = None

    @property
    def failures(self) -> list[Difference]:
        return [d for d in self.differences if d.ratio > 1]

    @property
    def ok(self) -> bool:
        return self.not_compared is None and not self.failures

    def __str__(self) -> str:
        head = f"{self.spec.title} vs committed figures/{self.spec.name}.csv:"
        if self.not_compared is not None:
            return f"{head} not compared ({self.not_compared})"
        n = len(self.differences)
        by_class: dict[str, int] = {}
        for d in self.differences:
            by_class[d.tol.name] = by_class.get(d.tol.name, 0) + 1
        classes = ", ".join(f"{k} {v}" for k, v in sorted(by_class.items()))
        failures = self.failures
        if failures:
            lines = [f"{head} {len(failures)} of {n} numbers outside tolerance:"]
            lines += [f"  {d.describe()}" for d in failures]
        else:
            lines = [f"{head} all {n} numbers within tolerance ({classes})"]
            if any(k.startswith(("unstable", "diverging")) for k in by_class):
                lines.append("  (unstable_*, diverging_db: the wide tolerances of runs that leave the usual regime: "
                             f"methods {', '.join(sorted(UNSTABLE_METHODS))}, the noise sweep and the NL ablation)")
        if self.differences:
            worst = max(self.differences, key=lambda d: d.ratio)
            lines.append(f"  largest |Δ| relative to its tolerance: {worst.ratio:.2f} at {worst.describe()}")
        return "\n".join(lines)


def _row_label(key: Any, keys: tuple[str, ...]) -> str:
    values = key if isinstance(key, tuple) else (key,)
    return ", ".join(f"{k}={v}" for k, v in zip(keys, values))


def _indexed(table: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """``table`` summarised by the spec and indexed by its keys (a leading unnamed CSV index dropped)."""
    t = table.drop(columns=[c for c in table.columns if str(c).startswith("Unnamed: ")])
    if spec.summarise is not None:
        t = spec.summarise(t)
    t = t.reset_index(drop=not any(k in (t.index.names or []) for k in spec.keys))
    missing = [k for k in spec.keys if k not in t.columns]
    if missing:
        raise ConfigError(f"{spec.name}: the table has no key column(s) {missing}; it has {list(t.columns)}")
    for k in spec.keys:  # keys read back from CSV are text or numbers: compare their text
        t[k] = t[k].map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))
    return t.set_index(list(spec.keys)).sort_index()


def cell_number(value: Any) -> float:
    """A table cell as a number: numbers as they are, a capped count ``">15 (cap)"`` as 16, anything
    else (text, ``"-"`` for not run) as NaN."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if text.startswith(">"):
        text = text[1:].split()[0]
        try:
            return float(text) + 1
        except ValueError:
            return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def compare(new: pd.DataFrame, committed: pd.DataFrame, spec: TableSpec) -> Comparison:
    """Compare a re-run's table with the committed one, number by number (see :class:`TableSpec`).

    Both tables are the ones :func:`mriunlearn.plots.save_table` writes (``committed`` read back from
    its CSV). Rows present in only one of them make the tables "not comparable".
    """
    a, b = _indexed(committed, spec), _indexed(new, spec)
    only_ref, only_new = a.index.difference(b.index), b.index.difference(a.index)
    if len(only_ref) or len(only_new):
        show = [f"only committed: {_row_label(k, spec.keys)}" for k in list(only_ref)[:2]]
        show += [f"only here: {_row_label(k, spec.keys)}" for k in list(only_new)[:2]]
        return Comparison(spec, not_compared=f"rows differ: {len(only_ref)} only committed, "
                          f"{len(only_new)} only here; e.g. " + "; ".join(show))
    out = Comparison(spec)
    for col in a.columns:
        if col in IGNORED or col not in b.columns:
            continue
        ref_col = a[col].map(cell_number)
        if ref_col.isna().all() and not a[col].isna().all():
            continue  # a text column
        new_col = b[col].map(cell_number).reindex(a.index)
        for key in a.index:
            row = dict(zip(spec.keys, key if isinstance(key, tuple) else (key,)))
            tol_class = spec.classify(row, str(col))
            if tol_class is None:
                continue
            out.differences.append(Difference(_row_label(key, spec.keys), str(col), float(ref_col[key]),
                                              float(new_col[key]), tolerance(tol_class), row))
    return out


def _exact(_row: Mapping[str, Any], _col: str) -> str:
    return "exact"


def _by_model(model_key: str) -> Classify:
    """Classify PSNR-like columns by the row's model (``model_key``), ``*ssim*`` columns as SSIM,
    counts and swept parameters as exact."""
    def classify(row: Mapping[str, Any], col: str) -> str | None:
        if col in _EXACT_COLUMNS:
            return "exact"
        if col in _SPREAD_COLUMNS:
            if model_class(str(row.get(model_key, ""))) == "exact":
                return "exact"
            return "spread_ssim" if row.get("metric") == "ssim" else "spread_db"
        if col in _RETIRED_COLUMNS:
            return None
        if col.startswith(("mia_", "membership")):
            return "mia_auc"
        if col.startswith("relearn"):
            return "relearn"
        if col.startswith("distance"):
            return "param_distance"
        if col.startswith("ensemble"):
            return "pass_fraction"
        if col == "null_fraction":
            return "exact" if row.get(model_key) == "zero_filled" else "fraction"
        if col == "hallucination_score":
            return "exact" if row.get(model_key) == "zero_filled" else "hallucination"
        metric = row.get("metric", "ssim" if "ssim" in col.lower() else "psnr")
        return model_class(str(row.get(model_key, "")), str(metric))
    return classify


#: columns of earlier committed measurements that no table holds any more (``mia``: the uncalibrated
#: membership accuracy the calibrated ``mia_auc`` replaced; ``relearn``: steps until G's forget PSNR was
#: back, which the relearning attack's half-gap recovery replaced); their stored machine differences are dropped
_RETIRED_COLUMNS: frozenset[str] = frozenset({"mia", "relearn"})

#: columns that hold a spread (a std over volumes, or an interval's half-width over seeds)
_SPREAD_COLUMNS: frozenset[str] = frozenset({"std", "std_over_volumes", "ci95_over_seeds"})

#: columns that record what ran (counts, swept parameters, the paper's numbers), never a result
_EXACT_COLUMNS: frozenset[str] = frozenset({"n", "n_seeds", "acceleration", "slices", "slice_steps", "retain_volumes", "noise_rel",
                                            "noise_std", "fraction", "paper", "seed", "seeds"})


def _operating_point(row: Mapping[str, Any], col: str) -> str | None:
    if col != "ours":
        return "exact" if col == "paper" else None
    measure = str(row["measure"])
    if "÷" in measure:  # the regime's ratios: Ĝ's knee SSIM over G's, Ĝ's gain at another FOV over its own
        return "ssim_ratio" if "SSIM" in measure else "gain_ratio"
    return "trained_ssim" if "SSIM" in measure else "slope" if "slope" in measure else "trained_db"


def _mean_per_model(table: pd.DataFrame) -> pd.DataFrame:
    return table.groupby("model", sort=False)[["hallucination_score", "null_fraction"]].mean()


def _explored(row: Mapping[str, Any], col: str) -> str | None:
    """The noise sweep and the NL ablation drive unlearning out of its usual regime on purpose (noise
    up to twice the forget targets' peak, losses that leave the update to G's restored momentum), so
    every result there is compared with the ``unstable_*`` classes."""
    if col in _EXACT_COLUMNS:
        return "exact"
    return "unstable_ssim" if "ssim" in col.lower() else "unstable_db"


def _dynamics(row: Mapping[str, Any], col: str) -> str | None:
    """Epoch 0 is G (``trained_db``; the ``ssim`` column ``trained_ssim``); the epochs of an unstable
    method's run are points on a collapse, whose speed is the most machine-sensitive number of all:
    their PSNR is compared with ``diverging_db``, their SSIM not at all (no tolerance for it has been
    measured, and the collapse's end is in Table 1, where it is compared)."""
    if str(row["epoch"]) == "0":
        return "trained_ssim" if "ssim" in col.lower() else "trained_db"
    tol_class = _by_model("model")(row, col)
    if tol_class == "unstable_ssim":
        return None
    return "diverging_db" if tol_class == "unstable_db" else tol_class


#: every committed table a notebook compares, by CSV stem
TABLES: dict[str, TableSpec] = {s.name: s for s in (
    TableSpec("01_operating_point", "Operating point", ("measure",), _operating_point),
    TableSpec("01_shared_knowledge", "Shared knowledge (G, Ĝ, zero-filled)", ("model", "column", "metric"), _by_model("model")),
    TableSpec("02_hallucination_scores", "Hallucination scores (mean per model)", ("model",), _by_model("model"), _mean_per_model),
    TableSpec("03_table1", "Table 1", ("model", "column", "metric", "n_seeds"), _by_model("model")),
    TableSpec("03_table2_dynamics", "Table 2 (dynamics)", ("model", "seed", "epoch", "column"), _dynamics),
    TableSpec("03_noise_sweep", "Noise sweep", ("method", "variant", "noise_std", "seed"), _explored),
    TableSpec("03_nl_ablation", "NL ablation", ("cell", "seed"), _explored),
    TableSpec("03_forgetting", "Forgetting metrics", ("model",), _by_model("model")),
    TableSpec("03_sampling_shift", "Sampling shift", ("model", "condition"), _by_model("model")),
    TableSpec("03_relearning", "Relearning curves", ("model", "condition", "step", "column"), _by_model("model")),
    TableSpec("03_forgetting_audit", "Forgetting audit", ("model",), _by_model("model")),
    TableSpec("03_hallucination_scores", "Hallucination scores (mean per model)", ("model",), _by_model("model"), _mean_per_model),
    TableSpec("04_table3", "Table 3 (retain fraction)", ("method", "fraction", "seed"), _by_model("method")),
)}


#: profile fields that may differ between a run and the committed one without changing what it computes
_MACHINE_FIELDS: frozenset[str] = frozenset({"description", "num_threads", "num_workers", "data_root"})


def setup_mismatch(run: Mapping[str, Any], reference: Mapping[str, Any], what: str) -> str | None:
    """Why two study records (``profile``, ``manifest_hash``: :func:`mriunlearn.experiments.study.setup_record`)
    describe different setups (another split, or profile fields other than the machine's), naming
    the reference as ``what``; ``None`` when their numbers are comparable."""
    if run.get("manifest_hash") != reference.get("manifest_hash"):
        return f"another split (manifest) than {what}"
    mine, theirs = dict(run.get("profile", {})), dict(reference.get("profile", {}))
    fields = sorted(k for k in set(mine) | set(theirs) if k not in _MACHINE_FIELDS and mine.get(k) != theirs.get(k))
    return f"profile fields differ from {what}: {', '.join(fields)}" if fields else None


@dataclass
class Reference:
    """The committed tables, read once (before a notebook writes its own), the study record they came
    from (``01_data_examples.json``: profile, manifest hash) and, once bound with :meth:`for_run`, the
    setup of the run being compared (:func:`mriunlearn.experiments.study.setup_record`)."""

    folder: Path
    tables: dict[str, pd.DataFrame]
    record: dict[str, Any] | None
    run: Mapping[str, Any] | None = None
    records: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str | Path | None = None) -> Reference:
        """Snapshot every ``*.csv`` of ``folder`` (default :data:`mriunlearn.paths.REFERENCE_DIR`)."""
        root = Path(folder) if folder is not None else paths.REFERENCE_DIR
        tables = {p.stem: pd.read_csv(p) for p in sorted(root.glob("*.csv"))}
        records = {p.stem: json.loads(p.read_text()) for p in sorted(root.glob("*.json"))}
        return cls(root, tables, records.get("01_data_examples"), records=records)

    def for_run(self, run: Mapping[str, Any]) -> Reference:
        """This reference bound to the setup of the run being compared (profile, manifest hash)."""
        return Reference(self.folder, self.tables, self.record, dict(run), self.records)

    def mismatch(self) -> str | None:
        """Why the bound run cannot be compared with the committed tables (another profile or split),
        or ``None`` when it can."""
        if self.record is None:
            return f"no committed study record in {paths.portable(self.folder)}"
        return setup_mismatch(self.run or {}, self.record, "the committed run")

    def _why_not(self, name: str) -> str | None:
        return self.mismatch() or (None if name in self.tables else "no committed table of that name")

    def check(self, new: pd.DataFrame, name: str) -> Comparison:
        """Compare ``new`` (the table saved as ``name``) with its committed version (see :data:`TABLES`)."""
        why = self._why_not(name)
        if why is not None:
            return Comparison(TABLES[name], not_compared=why)
        return compare(new, self.tables[name], TABLES[name])

    def check_verdicts(self, claims: pd.DataFrame, name: str = "03_claims", key: str = "claim",
                       column: str = "reproduced") -> str:
        """One stable line: do this run's claim verdicts (``key``, ``column``: ``claim``/``reproduced``
        of ``03_claims``, ``id``/``verdict`` of ``claims``) agree with the committed ones?

        ``"borderline"`` agrees with anything (its margin is within tolerance of the threshold, so
        either side is a reproduction); ``"yes"`` against ``"no"`` (or any other change) is listed, and
        so is a claim present on one side only. ``"holds"`` / ``"does not hold"`` (the claims table's
        words) are the same verdicts as ``"yes"`` / ``"no"``.
        """
        head = f"Claims vs committed figures/{name}.csv:"
        why = self._why_not(name)
        if why is not None:
            return f"{head} not compared ({why})"
        ref = self.tables[name].set_index(key)[column]
        new = claims.set_index(key)[column]
        flips = [f"  {c}: {new.get(c, 'absent')} here, {ref.get(c, 'absent')} committed"
                 for c in ref.index.union(new.index)
                 if not _agree(str(ref.get(c, "absent")), str(new.get(c, "absent")))]
        if flips:
            return "\n".join([f"{head} {len(flips)} of {len(ref)} verdicts changed:", *flips])
        return f"{head} all {len(ref)} verdicts agree (a borderline verdict agrees with either side)"


    def check_record(self, record: Mapping[str, Any], name: str) -> str:
        """One stable line: are the machine-independent parts of a run record (the split's hash, G's
        and Ĝ's cache keys, every run's cache key and retain files; e.g.
        :func:`mriunlearn.experiments.study.run_records`) those of the committed ``<name>.json``?

        A cache key hashes the whole configuration, split and code version of a run, so an equal key
        means the run computed the same thing, on whatever machine.
        """
        head = f"Run records vs committed figures/{name}.json:"
        why = self.mismatch() or (None if name in self.records else "no committed record of that name")
        if why is not None:
            return f"{head} not compared ({why})"
        mine, theirs = _identity(record), _identity(self.records[name])
        changed = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        if changed:
            return "\n".join([f"{head} {len(changed)} of {len(theirs)} entries differ:", *(f"  {k}" for k in changed)])
        keys = sum(1 for k in theirs if k.endswith("key"))
        return f"{head} all {len(theirs)} entries identical ({keys} cache keys, the split's hash, retain draws)"


def _identity(record: Mapping[str, Any]) -> dict[str, Any]:
    """The machine-independent entries of a run record, flattened: ``{"runs/nl_ft@seed42/cache_key": ...}``."""
    out: dict[str, Any] = {k: record.get(k) for k in ("manifest_hash", "original_key", "oracle_key") if k in record}
    for group in ("runs", "training_seeds"):
        for run, entry in sorted(dict(record.get(group, {})).items()):
            for k in ("cache_key", "original_key", "oracle_key", "retain_files"):
                if k in entry:
                    out[f"{group}/{run}/{k}"] = entry[k]
    return out


#: the claims table's verdict words, as the yes / no of :func:`verdict`
_SAME_VERDICT: dict[str, str] = {"holds": "yes", "does not hold": "no"}


def _agree(ref: str, new: str) -> bool:
    ref, new = _SAME_VERDICT.get(ref, ref), _SAME_VERDICT.get(new, new)
    return ref == new or "borderline" in (ref, new)


def measured_differences(reference: str | Path, other: str | Path,
                         names: Iterable[str] | None = None) -> pd.DataFrame:
    """Every number of :data:`TABLES` that two runs' figures folders share, one row each: ``table``,
    ``class``, ``row`` (its label), ``key`` (the row's keys as JSON, for :func:`reclassified`),
    ``column``, the ``committed`` (``reference``) and ``other`` values, ``abs_diff`` and ``ratio``
    (``abs_diff`` over the tolerance in force). ``docs/reproducibility.md`` tabulates its maxima for
    two machines. Tables missing in either folder are skipped."""
    a, b = Reference.load(reference), Reference.load(other)
    rows = []
    for name in names or TABLES:
        if name not in a.tables or name not in b.tables:
            continue
        c = compare(b.tables[name], a.tables[name], TABLES[name])
        for d in c.differences:
            rows.append({"table": name, "class": d.tol.name, "row": d.row, "key": json.dumps(dict(d.key)),
                         "column": d.column, "committed": d.ref, "other": d.new, "abs_diff": abs(d.new - d.ref),
                         "ratio": d.ratio})
    return pd.DataFrame(rows)


def reclassified(machine: pd.DataFrame) -> pd.DataFrame:
    """:func:`measured_differences` rows with ``class`` recomputed by today's :data:`TABLES` rules
    (from each row's ``table``, ``key`` and ``column``), so stored measurements follow a change of
    class; rows whose column is no longer compared are dropped."""
    classes = [TABLES[t].classify(json.loads(k), c) for t, k, c in zip(machine.table, machine.key, machine.column)]
    return machine.assign(**{"class": classes}).dropna(subset=["class"])


#: the derivation rule of the trained classes' widths (see :data:`TOLERANCES`)
SEED_SIGMAS: float = 4.0
MACHINE_MARGIN: float = 1.5


def seed_spreads(per_volume: pd.DataFrame | None = None, curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """Pooled seed-to-seed standard deviation per tolerance class, from committed multi-seed runs.

    Args:
        per_volume: per-volume metrics of runs at several unlearning seeds (``model``, ``seed``,
            ``role``, ``psnr``, ``ssim``; e.g. ``03_table1_per_volume.csv`` of a multi-seed run): per
            model, role and metric the std over seeds of the per-seed means.
        curves: training curves at several training seeds (``model``, ``seed``, ``epoch``,
            ``val_psnr``; ``01_training_curves.csv``): the std over seeds of the final validation PSNR
            of G and Ĝ (class ``trained_db``).

    Returns:
        One row per class: ``sd`` (root mean square of the members' stds), ``members``, ``seeds``.
    """
    rows = []
    if per_volume is not None:
        means = per_volume.groupby(["model", "seed", "role"])[["psnr", "ssim"]].mean().reset_index()
        for (model, role), g in means.groupby(["model", "role"]):
            if g.seed.nunique() > 1:
                for metric in ("psnr", "ssim"):
                    rows.append({"class": model_class(str(model), metric), "sd": float(g[metric].std()), "seeds": g.seed.nunique()})
    if curves is not None:
        last = curves.sort_values("epoch").groupby(["model", "seed"]).val_psnr.last().reset_index()
        for model, g in last.groupby("model"):
            if g.seed.nunique() > 1:
                rows.append({"class": model_class(str(model)), "sd": float(g.val_psnr.std()), "seeds": g.seed.nunique()})
    if not rows:
        return pd.DataFrame(columns=["sd", "members", "seeds"])
    t = pd.DataFrame(rows)
    return t.groupby("class").agg(sd=("sd", lambda s: float(np.sqrt(np.mean(np.square(s))))),
                                  members=("sd", "size"), seeds=("seeds", "max"))


def derived_widths(spreads: pd.DataFrame, machine: pd.DataFrame) -> pd.DataFrame:
    """Per class, the two measurements behind :data:`TOLERANCES` and whether the width in force meets
    the rule.

    ``seed_rule`` = SEED_SIGMAS·√2·``seed_sd`` must not exceed the absolute width ``abs``;
    ``machine_ratio`` = the largest MACHINE_MARGIN·|Δ| / width(committed) over the numbers two
    machines computed (:func:`measured_differences` rows, any number of machine pairs) must not
    exceed 1. ``meets`` says whether both hold (a class without a measurement meets that part).
    """
    machine = reclassified(machine) if len(machine) and "key" in machine else machine
    out = []
    for name, tol in TOLERANCES.items():
        sd = float(spreads.sd[name]) if len(spreads) and name in spreads.index else math.nan
        m = machine[machine["class"] == name] if len(machine) else machine
        ratios = [MACHINE_MARGIN * d / tol.width(r) if tol.width(r) > 0 else (0.0 if d == 0 else math.inf)
                  for d, r in zip(m.abs_diff, m.committed) if not math.isnan(d)] if len(m) else []
        seed_rule = SEED_SIGMAS * math.sqrt(2) * sd
        machine_ratio = max(ratios) if ratios else math.nan
        meets = not (seed_rule > tol.abs) and not (machine_ratio > 1)
        out.append({"class": name, "seed_sd": sd, "seed_rule": seed_rule, "numbers": len(ratios),
                    "machine_max_abs": float(m.abs_diff.max()) if len(m) else math.nan,
                    "machine_ratio": machine_ratio, "abs": tol.abs, "rel": tol.rel, "meets": meets})
    return pd.DataFrame(out).set_index("class")
