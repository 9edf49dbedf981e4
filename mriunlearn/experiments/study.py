"""The study a notebook works on, and the checks of its parameters.

A :class:`Study` binds a profile, its manifest and the run cache. Everything expensive is cached:
models by the engine's :class:`~mriunlearn.cache.RunCache`; the derived per-model tables
(hallucination scores, membership statistics, relearning curves) as CSV files inside the model's cache
entry (:func:`cached_table`), so a second run of the notebooks recomputes nothing.

Seeds: ``SEEDS`` in the notebooks are *unlearning* seeds (retain-subset draw, label noise, batch
order, teachers). G and Ĝ are trained with the profile's seed; ``TRAIN_SEEDS`` (notebooks 01 and 02)
trains them again at other seeds (:meth:`Study.at_seed`), for the claims that compare two trainings.
Every sampled choice (retain files, seeds, method variant) is recorded next to the results
(:func:`run_records`, :func:`sweep_records`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import paths
from ..cache import CacheEntry, RunCache
from ..errors import ConfigError
from ..fastmri_h5 import inspect_volume
from ..manifest import EVAL_ROLES, Manifest
from ..metrics import evaluate_run, zero_filled
from ..profiles import PROFILES, Profile, get_profile
from ..splits import subset_name
from ..train import TrainResult, in_notebook, set_threads, train_oracle, train_original
from ..unlearning import get_method, run_unlearning


#: the paper's six unlearning methods (Table 1 order)
PAPER_METHODS: tuple[str, ...] = ("full_ft", "ft", "ga_l1", "nl", "ga_l1_ft", "nl_ft")


#: baselines beyond the paper
EXTRA_METHODS: tuple[str, ...] = ("ga", "neggrad_plus", "bad_teacher", "scrub", "ssd", "salun", "l1_sparse")


#: the paper's retain fractions (Table 3) and the methods swept over them
FRACTIONS: tuple[float, ...] = (0.01, 0.05, 0.10, 0.20, 0.50, 1.00)



def json_list(value: Any, name: str) -> Any:
    """A list given as JSON text (``papermill -p SEEDS "[42, 43]"`` passes a string) as a list."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{name}: cannot read {value!r} as a JSON list: {exc}") from exc
    return value


def _nonempty_list(name: str, value: Any, what: str) -> list[Any]:
    """``value`` (a list, or a JSON list string) as a non-empty list, else a ConfigError naming ``name``."""
    value = json_list(value, name)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ConfigError(f"{name} must be a non-empty list of {what}, got {value!r}")
    return list(value)


def check_choices(name: str, values: Sequence[Any], valid: Sequence[Any]) -> list[Any]:
    """Validate a notebook parameter holding a list of choices (a JSON list string is accepted).

    Raises:
        ConfigError: naming the parameter, the bad values and the valid ones.
    """
    values = _nonempty_list(name, values, f"values from {list(valid)}")
    bad = [v for v in values if v not in valid]
    if bad:
        raise ConfigError(f"{name}: unknown value(s) {bad}; valid values: {list(valid)}")
    return values


def check_seeds(seeds: Sequence[Any], name: str = "SEEDS") -> list[int]:
    """Validate a seeds parameter (``SEEDS``, ``TRAIN_SEEDS``, named by ``name`` in the error): a
    non-empty list of distinct non-negative integers."""
    seeds = _nonempty_list(name, seeds, "integers")
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"{name} must hold distinct non-negative integers, got {seeds!r}")
    return seeds


def check_fractions(fractions: Sequence[Any]) -> list[float]:
    """Validate retain fractions: each in (0, 1]."""
    fractions = _nonempty_list("FRACTIONS", fractions, "numbers in (0, 1]")
    for f in fractions:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not math.isfinite(f) or not 0 < f <= 1:
            raise ConfigError(f"FRACTIONS: {f!r} is not in (0, 1]; valid: numbers in (0, 1], e.g. {list(FRACTIONS)}")
    return [float(f) for f in fractions]


def check_noise_scales(scales: Sequence[Any]) -> list[float]:
    """Validate noisy-label scales λ: finite numbers >= 0 (0 = the same schedule without noise)."""
    scales = _nonempty_list("NOISE_SCALES", scales, "numbers >= 0")
    for x in scales:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0:
            raise ConfigError(f"NOISE_SCALES: {x!r} is not a finite number >= 0 (λ in target units, e.g. 1e-5)")
    return [float(x) for x in scales]


#: values papermill can inject (``-p``/``-y``): a name bound to anything else is the notebook's own
_INJECTABLE = (str, int, float, bool, list, dict, tuple, type(None))


def check_parameters(namespace: Mapping[str, Any]) -> None:
    """Refuse a papermill parameter the notebook does not declare (``-p SEDS 43`` for ``SEEDS``).

    A notebook's parameters are the names its ``parameters`` cell declares *with an annotation*
    (``SEEDS: list[int] = [42]  # help``), which also gives ``papermill --help-notebook`` their type and
    help. papermill injects plain assignments after that cell, so an injected name without an
    annotation is unknown. Only UPPER_CASE names bound to values papermill can inject are looked at,
    so the notebook's own variables (lowercase, or objects such as models) never trip the check.

    Args:
        namespace: the notebook's ``globals()``.

    Raises:
        ConfigError: naming the unknown parameter(s) and listing the valid ones.
    """
    declared = list(namespace.get("__annotations__", {}))
    unknown = sorted(k for k, v in namespace.items() if re.fullmatch(r"[A-Z][A-Z0-9_]*", k)
                     and k not in declared and isinstance(v, _INJECTABLE))
    if unknown:
        raise ConfigError(f"unknown notebook parameter(s) {unknown}; valid parameters: {', '.join(declared)}")


def output_dir(figures_dir: str | os.PathLike[str] | None) -> Path:
    """The folder a notebook saves figures and tables into (created): ``figures_dir`` (relative: from
    the repository root, :func:`mriunlearn.paths.from_root`), else ``paths.figures_dir()``
    (``$MRIUNLEARN_FIGURES`` or the repository's ``figures/``)."""
    out = paths.from_root(figures_dir) if figures_dir is not None else paths.figures_dir()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"FIGURES_DIR: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def cached_table(entry: CacheEntry | None, name: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """A derived table stored as ``<name>.csv`` in a finished cache entry: computed once, read after.

    Without an entry (no cache) the table is computed every time.
    """
    if entry is not None and entry.is_done() and entry.file(f"{name}.csv").exists():
        return entry.read_csv(f"{name}.csv")
    table = compute()
    if entry is not None and entry.is_done():
        entry.write_csv(f"{name}.csv", table)
    return table


@dataclass
class Study:
    """One profile's experiment: data, cache, G and Ĝ, and the unlearning runs asked for."""

    profile: Profile
    manifest: Manifest
    cache: RunCache
    progress: bool = field(default_factory=lambda: not in_notebook())
    #: named retain subsets shipped with the manifest (``<stem>_subsets.csv`` beside it, e.g. the
    #: authors' ``paper_subsets.csv``): ``{name: (nominal fraction, retain volume paths)}``
    subsets: dict[str, tuple[float, list[Path]]] = field(default_factory=dict)
    subsets_source: Path | None = None

    def retain_subset(self, fraction: float) -> tuple[str, list[Path]] | None:
        """The shipped retain subset for ``fraction`` (``"10pct"`` before ``"10pct_v1"``), or
        ``None`` when the manifest comes with none of that fraction (then runs draw with a seed)."""
        matches = sorted((name != subset_name(fraction), name) for name, (f, _) in self.subsets.items()
                         if math.isclose(f, fraction, rel_tol=1e-9, abs_tol=1e-12))
        if not matches:
            return None
        name = matches[0][1]
        return name, list(self.subsets[name][1])

    @cached_property
    def original(self) -> TrainResult:
        """G, trained on retain + forget (cached)."""
        return train_original(self.profile, self.manifest, cache=self.cache, progress=self.progress)

    @cached_property
    def oracle(self) -> TrainResult:
        """Ĝ, the oracle, trained on retain only (cached)."""
        return train_oracle(self.profile, self.manifest, cache=self.cache, progress=self.progress)

    def at_seed(self, seed: int) -> Study:
        """The same study with G and Ĝ trained at training seed ``seed`` (initial weights, training
        masks and batch order; the data, cache and retain subsets are shared).

        The profile's own seed returns this study itself, so its models, already bound or cached,
        are reused; another seed gives a new study (its own cache entries) whose profile differs only
        in ``seed``.
        """
        if seed == self.profile.seed:
            return self
        return dataclasses.replace(self, profile=self.profile.replace(seed=int(seed)))

    def per_volume(self, which: str) -> pd.DataFrame:
        """Per-volume BTA/KTA/UA metrics of ``"original"``, ``"oracle"`` or ``"zero_filled"``."""
        if which == "zero_filled":
            return zero_filled(self.manifest, list(EVAL_ROLES), self.profile).assign(model="zero_filled")
        if which not in ("original", "oracle"):
            raise ConfigError(f"unknown model {which!r}; valid: original, oracle, zero_filled")
        return evaluate_run(getattr(self, which), self.manifest, EVAL_ROLES).assign(model=which)

    def unlearn(self, method: str, seed: int, fraction: float | None = None, *,
                profile: Profile | None = None, **kwargs: Any):
        """One cached unlearning run from G (see :func:`mriunlearn.unlearning.run_unlearning`).

        ``fraction`` applies to methods that take a retain subset (``None``: the profile's 10%).
        ``profile``: a variant of the study's profile for this run only (e.g. another ``loss``); G is
        still the study's own, and the variant's fields enter the run's cache key.
        """
        method_cls = get_method(method)
        takes_subset = method_cls.retain_scope == "subset"
        return run_unlearning(profile or self.profile, self.manifest, method, seed=seed, cache=self.cache,
                              original=self.original, progress=self.progress,
                              retain_fraction=fraction if takes_subset else None, **kwargs)


def load_study(profile: str = "default", *, data_dir: str | os.PathLike[str] | None = None,
               manifest: str | os.PathLike[str] | None = None, runs_dir: str | os.PathLike[str] | None = None,
               overrides: Mapping[str, Any] | None = None) -> Study:
    """Validate the notebook parameters and bind the study (builds the embedded data if missing).

    A ``<stem>_subsets.csv`` beside the manifest (the authors' ``paper_subsets.csv`` or a drawn
    split's) is loaded into :attr:`Study.subsets` (notebook 04 then uses those retain subsets).

    Args:
        profile: ``smoke``, ``default`` or ``paper``.
        data_dir: root of the data the manifest's paths are relative to (required for ``paper``).
        manifest: the split CSV (required for ``paper``; the embedded one otherwise).
        runs_dir: run-cache root (default ``paths.runs_dir()``).
        overrides: profile fields to override (validated), e.g. ``{"max_steps": 2}``; a dict or
            its JSON text (the notebooks' ``OVERRIDES`` parameter).

    Raises:
        ConfigError: unknown profile (lists the valid ones), missing data for ``paper``, bad overrides.
    """
    if profile not in PROFILES:
        raise ConfigError(f"PROFILE: unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    if isinstance(overrides, str):  # papermill -p OVERRIDES '{"max_steps": 2}' passes text
        try:
            overrides = json.loads(overrides) if overrides.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"OVERRIDES: cannot read {overrides!r} as a JSON object: {exc}") from exc
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError(f"OVERRIDES must be a dict of profile fields, e.g. {{\"max_steps\": 2}}, got {overrides!r}")
    opts = dict(overrides or {})
    bad = sorted(set(opts) & {"manifest", "data_root"})
    if bad:
        raise ConfigError(f"OVERRIDES: give {', '.join(bad)} as MANIFEST / DATA_DIR, not as an override")
    if profile in ("default", "smoke") and manifest is None:
        from ..simulate import ensure_dataset  # nilearn is heavy: only when the embedded data are needed

        ensure_dataset(profile)
    if manifest is not None:
        opts["manifest"] = str(Path(manifest).expanduser().resolve())
    if data_dir is not None:
        opts["data_root"] = str(Path(data_dir).expanduser().resolve())
    prof = get_profile(profile, **opts)
    set_threads(prof)  # results depend on the thread count: never inherit it from the environment
    man = prof.load_manifest()
    subsets, source = load_shipped_subsets(man)
    return Study(prof, man, RunCache(runs_dir), subsets=subsets, subsets_source=source)


def subsets_path(manifest: Manifest) -> Path | None:
    """``<stem>_subsets.csv`` beside the manifest CSV (written by ``split import`` / ``split draw``)."""
    if manifest.source is None:
        return None
    src = Path(manifest.source)
    return src.with_name(f"{src.stem}_subsets.csv")


def load_shipped_subsets(manifest: Manifest) -> tuple[dict[str, tuple[float, list[Path]]], Path | None]:
    """The retain subsets shipped beside ``manifest`` (:func:`mriunlearn.splits.load_subsets`, each
    with its nominal fraction), or ``({}, None)`` when there is no subsets file.

    Raises:
        ManifestError: a subsets file that is unreadable or lists a volume outside the retain role.
    """
    path = subsets_path(manifest)
    if path is None or not path.exists():
        return {}, None
    from ..splits import load_subsets

    files = load_subsets(path, manifest)
    table = pd.read_csv(path, dtype={"subset": str, "file": str}, keep_default_na=False)
    fractions = table.groupby("subset", sort=False).fraction.first().astype(float).to_dict()
    return {name: (fractions[name], paths_) for name, paths_ in files.items()}, path


def target_scale(source: Study | Manifest, role: str = "forget") -> float:
    """The median over ``role``'s volumes (of a study's or a manifest's) of the target maximum (the
    fastMRI ``max`` attribute), in target units: the yardstick that makes an absolute λ comparable
    across datasets."""

    manifest = source.manifest if isinstance(source, Study) else source
    maxima = [float(inspect_volume(f).attrs["max"]) for f in manifest.files(role)]
    if not maxima:
        raise ConfigError(f"role {role!r} has no volumes; cannot measure the target scale")
    return float(np.median(maxima))


def run_entry(result: Any) -> CacheEntry | None:
    return getattr(result, "entry", None)


def setup_record(study: Study) -> dict[str, Any]:
    """What a study computes from, before any model exists: its profile (machine folders made
    portable) and its split (manifest path and content hash). Touches no model."""
    return {"profile": study.profile.portable_dict(), "manifest": paths.portable(study.manifest.source),
            "manifest_hash": study.manifest.content_hash()}


def run_records(study: Study, results: Mapping[tuple[str, int], Any]) -> dict[str, Any]:
    """Every sampled choice behind the results: profile, manifest hash, G/Ĝ cache keys, and per run
    the seed, retain files drawn, resolved parameters (variant included) and cache key."""
    runs = {}
    for (m, s), r in results.items():
        cfg = dict(r.config)
        runs[f"{m}@seed{s}"] = {"method": m, "seed": s, "retain_files": list(r.retain_files),
                                "params": cfg.get("params"), "cache_key": getattr(run_entry(r), "key", None),
                                "wall_time_s": r.wall_time_s, "slice_steps": r.slice_steps}
    return {**setup_record(study),
            "original_key": getattr(study.original.entry, "key", None),
            "oracle_key": getattr(study.oracle.entry, "key", None),
            "eval_masks": "fastMRI EquiSpacedMaskFunc seeded by tuple(map(ord, file name))",
            "runs": runs}


def study_record(study: Study) -> dict[str, Any]:
    """Profile, manifest and G/Ĝ cache keys: what the numbers of a notebook came from."""
    return run_records(study, {})


def training_record(studies: Sequence[Study]) -> dict[str, Any]:
    """:func:`study_record` of the first study, and with several training seeds (``studies``: one per
    seed, from :meth:`Study.at_seed`) each seed's G and Ĝ cache keys under ``training_seeds``."""
    rec = study_record(studies[0])
    if len(studies) > 1:
        rec["training_seeds"] = {str(s.profile.seed): {"original_key": getattr(s.original.entry, "key", None),
                                                       "oracle_key": getattr(s.oracle.entry, "key", None)}
                                 for s in studies}
    return rec


#: the committed run of notebook 03's relearning attack and ensemble audit (too long for ``make reproduce``)
FORGETTING_AUDIT_RUN: str = "forgetting_audit"
#: the committed run of notebook 03's noise-scale sweep (beyond the paper; too long for ``make reproduce``)
NOISE_SWEEP_RUN: str = "noise_sweep"


def read_committed(run: str, name: str, record: Mapping[str, Any], same: Sequence[str],
                   root: Path | None = None) -> tuple[pd.DataFrame | None, str, dict[str, Any]]:
    """A table of a committed run, for a notebook that shows it instead of recomputing it: the CSV
    ``root/<run>/figures/<name>.csv`` (``root`` defaulting to :data:`~mriunlearn.paths.REFERENCE_DIR`)
    when its record ``<name>.json`` agrees with ``record`` on every key of ``same`` (the run started
    from the same place), where it comes from, and that record; ``(None, why not, {})`` otherwise."""
    folder = (root or paths.REFERENCE_DIR) / run / "figures"
    saved, table = folder / f"{name}.json", folder / f"{name}.csv"
    where = paths.for_notebook(folder.parent)
    if not saved.exists() or not table.exists():
        return None, f"no committed run in {where}", {}
    theirs = json.loads(saved.read_text())
    differ = [k for k in same if record.get(k) != theirs.get(k)]
    if differ:
        return None, f"the committed run {where} started elsewhere ({', '.join(differ)} differ)", {}
    return pd.read_csv(table, index_col=0), f"the committed run {where}", theirs


def sweep_records(study: Study, runs: Mapping[tuple[str, float, int], Any], swept: str = "fraction") -> dict[str, Any]:
    """Like :func:`run_records` for a sweep keyed ``(method, value, seed)``: per run the swept value
    (named ``swept``: ``"fraction"``, ``"noise_std"``), the retain files drawn and the cache key."""
    rec = study_record(study)
    rec["runs"] = {f"{m}@{v:g}@seed{s}": {"method": m, swept: v, "seed": s, "retain_files": list(r.retain_files),
                                           "cache_key": getattr(run_entry(r), "key", None)}
                   for (m, v, s), r in runs.items()}
    return rec

