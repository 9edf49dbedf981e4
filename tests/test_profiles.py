"""Profiles: names, overrides, validation, recorded dicts."""

from __future__ import annotations

import dataclasses
import json
import warnings

import pytest
import torch

from mriunlearn import paths
from mriunlearn.errors import ConfigError, ManifestError
from mriunlearn.profiles import PROFILES, Profile, get_profile, unlearn_budget


def test_profiles_exist_with_paper_recipe():
    assert set(PROFILES) == {"smoke", "default", "paper"}
    p = get_profile("paper")
    assert (p.num_cascades, p.chans, p.pools, p.sens_chans, p.sens_pools) == (12, 18, 4, 8, 4)
    assert (p.lr, p.epochs, p.batch_size, p.loss, p.l1_weight, p.grad_clip) == (1e-3, 50, 1, "ssim_l1", 1e-5, 0.5)
    assert (p.plateau_factor, p.plateau_patience, p.seed) == (0.1, 10, 42)
    assert (p.acceleration, p.center_fraction) == (8, 0.04)
    assert p.unlearn_epochs == 5 and p.retain_fraction == 0.1


def test_default_profile_is_a_scaled_recipe():
    p = get_profile("default")
    assert p.num_cascades >= 4 and p.batch_size > 1
    assert p.unlearn_epochs == unlearn_budget(p.epochs) >= 2
    assert p.manifest == str(paths.DEFAULT_MANIFEST) and p.data_root == str(paths.default_data_dir())
    assert f"{p.epochs} epochs" in p.description and "zero-filled" in p.description  # documented


def test_unknown_profile_lists_valid_names():
    with pytest.raises(ConfigError, match="valid profiles: smoke, default, paper"):
        get_profile("huge")


def test_unknown_override_lists_valid_options():
    with pytest.raises(ConfigError, match=r"unknown profile option\(s\) \['cascades'\].*num_cascades"):
        get_profile("smoke", cascades=3)


@pytest.mark.parametrize("field,value", [("epochs", 0), ("lr", -1.0), ("center_fraction", 1.5),
                                         ("batch_size", 2.5), ("loss", "l2"), ("precision", "fp16"),
                                         ("num_cascades", True)])
def test_out_of_range_values_are_rejected(field, value):
    with pytest.raises(ConfigError, match=field if field not in ("loss", "precision") else value):
        get_profile("smoke", **{field: value})


def test_overrides_and_budget_rule():
    p = get_profile("default", epochs=30)
    assert p.epochs == 30 and p.unlearn_epochs == 3
    assert get_profile("default", epochs=30, unlearn_epochs=7).unlearn_epochs == 7
    assert unlearn_budget(50) == 5 and unlearn_budget(3) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.epochs = 3  # type: ignore[misc]


def test_to_dict_round_trips_and_identity_drops_paths():
    p = get_profile("smoke", manifest="/x/m.csv", data_root="/x")
    d = json.loads(json.dumps(p.to_dict()))
    assert Profile.from_dict(d) == p
    ident = p.identity()
    assert "manifest" not in ident and "data_root" not in ident and ident["epochs"] == p.epochs
    assert get_profile("smoke", manifest="/y/m.csv").identity() == ident


def test_paper_profile_needs_a_manifest(tmp_path):
    with pytest.raises(ConfigError, match="split"):
        get_profile("paper").manifest_path()
    p = get_profile("paper", manifest=tmp_path / "none.csv", data_root=tmp_path)
    with pytest.raises(ManifestError, match="none.csv.*not found"):
        p.load_manifest()


def test_train_identity_ignores_unlearning_budget_and_eval_batch():
    p = get_profile("default")
    q = get_profile("default", unlearn_epochs=4, retain_fraction=0.2, eval_batch_size=2)
    assert p.train_identity() == q.train_identity() and p.identity() != q.identity()
    assert p.train_identity() != get_profile("default", precision="bf16" if p.precision == "fp32" else "fp32").train_identity()


def test_hallucination_projector_is_cg_for_paper_eig_otherwise_and_validated():
    from mriunlearn import hallucination
    from mriunlearn.profiles import HALLUCINATION_PROJECTORS

    assert HALLUCINATION_PROJECTORS == hallucination.METHODS == ("eig", "cg")
    assert get_profile("paper").hallucination_projector == "cg"  # matrix-free at 640x368
    assert get_profile("default").hallucination_projector == "eig"  # committed outputs: exact projector
    assert get_profile("smoke").hallucination_projector == "eig"
    assert get_profile("paper", hallucination_projector="eig").hallucination_projector == "eig"
    for bad in ("exact", "CG", "", None, 1):
        with pytest.raises(ConfigError, match=r"hallucination_projector .*; valid: eig, cg"):
            get_profile("paper", hallucination_projector=bad)


def test_hallucination_projector_is_recorded_but_not_part_of_the_cache_key():
    for name in PROFILES:
        p = get_profile(name)
        other = p.replace(hallucination_projector="cg" if p.hallucination_projector == "eig" else "eig")
        assert p.identity() == other.identity() and p.train_identity() == other.train_identity()
        assert "hallucination_projector" not in p.identity()
        assert p.to_dict()["hallucination_projector"] == p.hallucination_projector  # in every record
        assert Profile.from_dict(other.to_dict()) == other
    # records written before the field existed read as the exact projector
    old = get_profile("smoke").to_dict()
    del old["hallucination_projector"]
    assert Profile.from_dict(old).hallucination_projector == "eig"


def test_bf16_runs_where_the_hardware_computes_it_and_fp32_elsewhere(monkeypatch):
    from mriunlearn import model as model_mod

    bf16, fp32 = get_profile("default", precision="bf16"), get_profile("default", precision="fp32")
    monkeypatch.setattr(model_mod, "native_bf16", lambda device="cpu": True)
    assert model_mod.effective_precision(bf16) == "bf16" and model_mod.effective_precision(fp32) == "fp32"
    with model_mod.autocast(bf16):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")
    monkeypatch.setattr(model_mod, "native_bf16", lambda device="cpu": False)
    model_mod._warn_fp32_fallback.cache_clear()
    with pytest.warns(UserWarning, match="no native bf16"):
        assert model_mod.effective_precision(bf16) == "fp32"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process
        assert model_mod.effective_precision(bf16) == "fp32"
        with model_mod.autocast(bf16):
            assert not torch.is_autocast_enabled("cpu")
    # the cache key keeps the profile's precision: the recipe, whatever the hardware computes it in
    assert bf16.train_identity() != fp32.train_identity()
    assert model_mod.native_bf16("meta") is False
