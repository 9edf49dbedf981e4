"""``profile.max_steps``: a cap on a run's optimiser steps, honoured by training and unlearning,
recorded with the run, and part of the cache key only when set."""

from __future__ import annotations

import pytest

from mriunlearn.cache import RunCache
from mriunlearn.errors import ConfigError
from mriunlearn.profiles import get_profile
from mriunlearn.train import train, train_config
from mriunlearn.unlearning import run_unlearning


def test_unset_cap_leaves_identity_and_records_unchanged():
    for name in ("smoke", "default", "paper"):
        p = get_profile(name)
        assert "max_steps" not in p.identity() and "max_steps" not in p.to_dict()
        assert get_profile(name, max_steps=None) == p
        capped = get_profile(name, max_steps=3)
        assert capped.identity()["max_steps"] == 3 and capped.train_identity()["max_steps"] == 3
        assert capped.to_dict()["max_steps"] == 3
        assert type(p).from_dict(capped.to_dict()) == capped
        assert train_config(capped, ["retain"], None) != train_config(p, ["retain"], None)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_cap_is_validated(bad):
    with pytest.raises(ConfigError, match="max_steps"):
        get_profile("smoke", max_steps=bad)


def test_training_and_unlearning_stop_at_the_cap(smoke_manifest, smoke_profile, tmp_path):
    cache = RunCache(tmp_path)
    full = train(smoke_profile.replace(batch_size=1), smoke_manifest, ["retain"], cache=False, progress=False)
    n = smoke_manifest.num_slices("retain")
    assert list(full.history.slices) == [n] * smoke_profile.epochs  # uncapped: every slice, every epoch

    prof = smoke_profile.replace(batch_size=1, max_steps=3)
    g = train(prof, smoke_manifest, ["retain", "forget"], cache=cache, progress=False)
    assert g.slice_steps == 3 and len(g.history) == 1  # 3 batches of one slice, then stop
    summary = g.entry.read_json("summary.json")
    assert summary["optimizer_steps"] == 3 and summary["profile"]["max_steps"] == 3
    assert g.entry.config["profile"]["max_steps"] == 3
    assert train(prof, smoke_manifest, ["retain", "forget"], cache=cache, progress=False).cached

    res = run_unlearning(prof, smoke_manifest, "nl_ft", original=g, cache=cache, progress=False,
                         epochs=3, eval_every_epoch=False)
    assert res.info["optimizer_steps"] == 3 and res.info["epochs_run"] == 1
    assert res.slice_steps == 6  # 3 paired steps of one forget and one retain slice
    assert res.config["profile"]["max_steps"] == 3 and len(res.final)
