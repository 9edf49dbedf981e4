"""Cache keys never move: the configs a representative set of runs is keyed by, compared with the
recorded ones in ``tests/cache_keys.json``.

A changed key silently orphans every cached run (and with them the committed notebooks' numbers), so
this compares the exact canonical JSON each key is hashed from: training runs with and without a step
cap, every unlearning method's resolved parameters with the defaults and with each parameter moved off
its default, ``nl``'s transform against its variant, and the unlearning runner's whole config (epoch and
step budgets, a capped profile, ``retrain``). The runner is stopped at the cache entry, before any work.

Regenerate the record only for a deliberate change of what a key means (then raise
``NUMERICS_VERSION`` or accept that every cached run is recomputed)::

    MRIUNLEARN_RECORD_KEYS=1 pytest tests/test_cache_keys.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mriunlearn.cache import RunCache
from mriunlearn.checkpoint import canonical_config
from mriunlearn.profiles import get_profile
from mriunlearn.train import train_config
from mriunlearn.unlearning import METHODS, runner, validate_params

RECORD = Path(__file__).with_name("cache_keys.json")
#: stands in for a manifest's content hash: the configs, not the data, are under test
MANIFEST_HASH = "0" * 64


def _key(kind: str, config: dict[str, Any], seed: int) -> dict[str, str]:
    return {"config": canonical_config(config), "key": RunCache.key(kind, config, MANIFEST_HASH, seed)}


def _moved(spec: Any) -> Any:
    """A valid value of parameter ``spec`` other than its default."""
    if spec.kind is bool:
        return not spec.default
    if spec.kind is str:
        return next(c for c in spec.choices if c != spec.default)
    value = spec.kind(1 if spec.default in (None, 0) else spec.default * 2)
    return min(value, spec.high) if spec.high is not None and value > spec.high else value


def _train_keys() -> dict[str, dict[str, str]]:
    out = {}
    for name in ("smoke", "default", "paper"):
        for cap in (None, 2):
            prof = get_profile(name, max_steps=cap)
            for roles in (("retain",), ("retain", "forget")):
                for init in (None, "train/0123456789abcdef01234567"):
                    config = train_config(prof, roles, init)
                    out[f"train/{name}/max_steps={cap}/{'+'.join(roles)}/init={init}"] = _key("train", config, prof.seed)
    return out


def _param_sets() -> dict[str, dict[str, Any]]:
    sets: dict[str, dict[str, Any]] = {}
    for name, cls in METHODS.items():
        sets[f"{name}/defaults"] = {}
        for pname, spec in cls.params.items():
            sets[f"{name}/{pname}"] = {pname: _moved(spec)}
    for variant in ("paper", "code"):
        for transform in (None, "gauss", "abs", "replace"):
            for method in ("nl", "nl_ft"):
                sets[f"{method}/variant={variant}/transform={transform}"] = {"variant": variant, "transform": transform}
    return sets


def _params_records() -> dict[str, str]:
    return {f"params/{label}": canonical_config(validate_params(label.split("/")[0], params))
            for label, params in _param_sets().items()}


class _Stop(Exception):
    """Raised by :class:`_Recorder` once the runner has built its cache entry."""


class _Recorder(RunCache):
    """A run cache that records the entry asked for and stops the run there."""

    def entry(self, kind: str, config: dict[str, Any], manifest_hash: str, seed: int) -> Any:
        self.asked = (kind, json.loads(canonical_config(config)), seed)
        raise _Stop


#: (label, method, keyword arguments of run_unlearning, profile overrides)
RUNS: tuple[tuple[str, str, dict[str, Any], dict[str, Any]], ...] = (
    ("ft", "ft", {}, {}),
    ("nl_ft/steps=3", "nl_ft", {"steps": 3}, {}),
    ("nl_ft/epochs=2/params", "nl_ft", {"epochs": 2, "params": {"noise_std": 1e-3, "variant": "code"}}, {}),
    ("nl/transform=replace", "nl", {"params": {"transform": "replace"}}, {}),
    ("nl/transform=gauss", "nl", {"params": {"transform": "gauss"}}, {}),
    ("ga/max_steps=2", "ga", {}, {"max_steps": 2}),
    ("scrub/steps=2/max_steps=5", "scrub", {"steps": 2}, {"max_steps": 5}),
    ("ssd", "ssd", {}, {}),
    ("full_ft/seed=7", "full_ft", {"seed": 7}, {}),
    ("retrain", "retrain", {}, {}),
    ("ft/fraction=0.5/fresh", "ft", {"retain_fraction": 0.5, "resume_optimizer": False,
                                     "eval_every_epoch": False}, {}),
)


def _runner_records(profile: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, dict[str, str]]:
    monkeypatch.setattr(runner, "_resolve_original",
                        lambda *a, **k: runner.Original(None, "train/0123456789abcdef01234567", None))
    out = {}
    for label, method, kwargs, overrides in RUNS:
        cache = _Recorder(tmp_path / "runs")
        with pytest.raises(_Stop):
            runner.run_unlearning(profile.replace(num_threads=1, **overrides), None, method, cache=cache,
                                  progress=False, **kwargs)
        kind, config, seed = cache.asked
        out[f"unlearn/{label}"] = _key(kind, config, seed)
    return out


def test_cache_keys_are_the_recorded_ones(smoke_profile: Any, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    profile = smoke_profile.replace(manifest=str(Path(smoke_profile.manifest)))
    now = {**_train_keys(), **_params_records(), **_runner_records(profile, monkeypatch, tmp_path)}
    now = json.loads(json.dumps(now).replace(json.dumps(str(Path(profile.manifest).parent))[1:-1], "<data>"))
    if os.environ.get("MRIUNLEARN_RECORD_KEYS"):
        RECORD.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    recorded = json.loads(RECORD.read_text(encoding="utf-8"))
    assert sorted(now) == sorted(recorded)
    changed = [label for label in recorded if now[label] != recorded[label]]
    assert not changed, f"cache keys changed: {changed}"


def test_key_config_examples_hold() -> None:
    import doctest

    from mriunlearn import keys

    result = doctest.testmod(keys)
    assert result.attempted >= 2 and result.failed == 0
