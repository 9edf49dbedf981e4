"""Bad inputs through the engine's entry points (train, run_unlearning, CLI) and safety guarantees.

The HDF5 and manifest layers are tested on their own in ``test_fastmri_h5.py`` and
``test_manifest.py``; here every bad input goes through what a user calls, and each test checks
that the error names the culprit *and* that no work was done (no training step, no cache entry).
"""

from __future__ import annotations

import ast
import errno
import math
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from mriunlearn import train as train_mod
from mriunlearn.cache import RunCache
from mriunlearn.checkpoint import load_checkpoint, save_checkpoint
from mriunlearn.cli import main
from mriunlearn.errors import CheckpointError, ConfigError, DataError, ManifestError
from mriunlearn.manifest import Manifest, load_manifest
from mriunlearn.profiles import get_profile
from mriunlearn.train import train, train_oracle, train_original
from mriunlearn.unlearning import METHODS, run_unlearning
from mriunlearn.unlearning import runner as runner_mod

torch.set_num_threads(1)
PACKAGE = Path(__file__).resolve().parents[1] / "mriunlearn"


# ---- helpers ------------------------------------------------------------------------------------

def _copy_data(smoke_data, dest: Path, *, hashes: bool = True) -> tuple[Path, Path]:
    """A private copy of the smoke dataset; ``hashes=False`` blanks the sha256 column (real data
    without recorded hashes), so that damage is found by the HDF5 checks, not the hash check."""
    csv, root = smoke_data
    shutil.copytree(root, dest, ignore=shutil.ignore_patterns("manifest.csv"))
    table = pd.read_csv(csv, keep_default_na=False, dtype=str)
    if not hashes:
        table["sha256"] = ""
    table.to_csv(dest / "manifest.csv", index=False)
    return dest / "manifest.csv", dest


def _profile(csv: Path, root: Path, **kw):
    return get_profile("smoke", manifest=str(csv), data_root=str(root), **kw)


def _no_work(monkeypatch) -> None:
    """Any training or unlearning step fails the test."""
    monkeypatch.setattr(train_mod, "train_step", lambda *a, **k: pytest.fail("a training step ran"))
    monkeypatch.setattr(runner_mod, "run_method", lambda *a, **k: pytest.fail("unlearning ran"))


def _no_entries(cache: RunCache) -> bool:
    """No finished (or started) run in the cache."""
    return not any(cache.root.glob("*/*/DONE")) and not any(cache.root.glob("*/*/*.pt"))


def _rewrite(path: Path, fn: Callable[[h5py.File], None]) -> None:
    with h5py.File(path, "r+") as hf:
        fn(hf)


def _replace(hf: h5py.File, key: str, data: np.ndarray) -> None:
    del hf[key]
    hf.create_dataset(key, data=data)


def _set_kspace_value(value: float) -> Callable[[h5py.File], None]:
    def fn(hf: h5py.File) -> None:
        k = hf["kspace"][()]
        k[-1, 0, 1, 2] = value
        hf["kspace"][...] = k
    return fn


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


#: damage name -> (function of the file path, expected message fragment)
DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (_truncate, "truncated or corrupt"),
    "garbage": (lambda p: p.write_bytes(b"\x89HDF\r\n" + b"\0" * 64), "not a readable HDF5"),
    "no_kspace": (lambda p: _rewrite(p, lambda hf: hf.__delitem__("kspace")), "missing key 'kspace'"),
    "no_target": (lambda p: _rewrite(p, lambda hf: hf.__delitem__("reconstruction_rss")),
                  "missing key 'reconstruction_rss'"),
    "kspace_3d": (lambda p: _rewrite(p, lambda hf: _replace(hf, "kspace", hf["kspace"][:, 0])), "4-D"),
    "kspace_nan": (lambda p: _rewrite(p, _set_kspace_value(math.nan)), "NaN or Inf"),
    "kspace_inf": (lambda p: _rewrite(p, _set_kspace_value(math.inf)), "NaN or Inf"),
    "zero_coils": (lambda p: _rewrite(p, lambda hf: _replace(hf, "kspace", hf["kspace"][:, :0])), "zero coils"),
    "target_too_big": (lambda p: _rewrite(p, lambda hf: _replace(
        hf, "reconstruction_rss", np.ones((hf["kspace"].shape[0], 40, 40), np.float32))),
        "larger than the k-space grid"),
}


@pytest.fixture(scope="module")
def G(smoke_profile, smoke_manifest, tmp_path_factory):
    """The smoke G, cached in a module-wide cache."""
    cache = RunCache(tmp_path_factory.mktemp("robust_runs"))
    return train_original(smoke_profile, smoke_manifest, cache=cache, progress=False)


# ---- damaged volumes ----------------------------------------------------------------------------

@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_training_volume_stops_train_before_any_step(damage, smoke_data, tmp_path, monkeypatch):
    csv, root = _copy_data(smoke_data, tmp_path / "data", hashes=False)
    table = pd.read_csv(csv, keep_default_na=False)
    victim = table.loc[table.role == "forget", "file"].iloc[-1]
    fn, message = DAMAGE[damage]
    fn(root / victim)
    _no_work(monkeypatch)
    cache = RunCache(tmp_path / "runs")
    with pytest.raises(DataError, match=rf"{Path(victim).name}.*{message}"):
        train_original(_profile(csv, root), None, cache=cache, progress=False)
    assert _no_entries(cache)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_test_volume_stops_unlearning_before_any_step(damage, smoke_data, G, tmp_path, monkeypatch):
    csv, root = _copy_data(smoke_data, tmp_path / "data", hashes=False)
    table = pd.read_csv(csv, keep_default_na=False)
    victim = table.loc[table.role == "test_knee", "file"].iloc[0]
    fn, message = DAMAGE[damage]
    fn(root / victim)
    _no_work(monkeypatch)
    cache = RunCache(tmp_path / "runs")
    with pytest.raises(DataError, match=rf"{Path(victim).name}.*{message}"):
        run_unlearning(_profile(csv, root), None, "nl_ft", original=G, cache=cache, progress=False)
    assert _no_entries(cache)


def test_damaged_volume_through_the_cli(smoke_data, tmp_path, capsys, monkeypatch):
    csv, root = _copy_data(smoke_data, tmp_path / "data", hashes=False)
    victim = pd.read_csv(csv, keep_default_na=False).file.iloc[0]
    _truncate(root / victim)
    _no_work(monkeypatch)
    assert main(["train", "--profile", "smoke", "--manifest", str(csv), "--runs", str(tmp_path / "runs"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and Path(victim).name in err and "truncated" in err


def test_recorded_hash_catches_damage_before_hdf5_is_opened(smoke_data, tmp_path, monkeypatch):
    csv, root = _copy_data(smoke_data, tmp_path / "data", hashes=True)
    victim = pd.read_csv(csv, keep_default_na=False).file.iloc[2]
    DAMAGE["kspace_nan"][0](root / victim)
    _no_work(monkeypatch)
    with pytest.raises(ManifestError, match=rf"{victim}.*has changed"):
        train_oracle(_profile(csv, root), None, cache=False, progress=False)


# ---- target size vs reconstruction crop ---------------------------------------------------------

def _write_small_targets(smoke_data, dest: Path, which: Callable[[int, str], bool], size: int) -> tuple[Path, Path]:
    """Copy of the smoke data where the volumes selected by ``which(index, role)`` store a centre
    ``size x size`` target (the fastMRI case: 320x320 target of a larger k-space image)."""
    from mriunlearn import fastmri_h5
    from mriunlearn.manifest import file_row, write_manifest

    csv, root = smoke_data
    src = load_manifest(csv, root)
    dest.mkdir()
    rows = []
    for i, row in enumerate(src.table.itertuples()):
        kspace, target, _ = fastmri_h5.load_volume(row.path)
        if which(i, row.role):
            h, w = target.shape[1:]
            target = target[:, (h - size) // 2:(h - size) // 2 + size, (w - size) // 2:(w - size) // 2 + size]
        out = dest / Path(row.file).name
        fastmri_h5.write_volume(out, kspace, target, patient_id=f"p{i}", acquisition="AXT2")
        rows.append(file_row(out, dest, row.organ, row.role, row.num_slices))
    return write_manifest(rows, dest / "manifest.csv"), dest


def test_target_smaller_than_the_image_is_centre_cropped(smoke_data, tmp_path):
    """fastMRI's case (image larger than the stored target): the reconstruction is cropped to the
    target's centre, in training and in evaluation, never the target padded or stretched."""
    from fastmri.data.transforms import center_crop

    from mriunlearn.dataset import SliceData, collate
    from mriunlearn.metrics import evaluate
    from mriunlearn.model import reconstruct

    csv, root = _write_small_targets(smoke_data, tmp_path / "data", lambda i, r: True, 24)
    prof = _profile(csv, root, epochs=1)
    manifest = load_manifest(csv, root)
    res = train_oracle(prof, manifest, cache=False, progress=False)
    data = SliceData(manifest.files("test_brain"), prof, train=False)
    batch = collate([data[0], data[1]])
    out = reconstruct(res.model, batch, prof)
    assert out.shape == (2, 24, 24)
    full = res.model(batch.masked_kspace, batch.mask, batch.num_low_frequencies)
    assert full.shape[-2:] == (32, 32)
    assert torch.equal(out, center_crop(full, (24, 24)))
    table = evaluate(res.model, manifest, "test_brain", prof)
    assert table.psnr.notna().all() and np.isfinite(table.psnr).all()


def test_mixed_target_sizes_on_one_kspace_grid_train(smoke_data, tmp_path):
    csv, root = _write_small_targets(smoke_data, tmp_path / "data", lambda i, r: i == 1 and r == "retain", 24)
    res = train_oracle(_profile(csv, root, epochs=1), None, cache=False, progress=False)
    assert len(res.history) == 1


# ---- manifests through the entry points ---------------------------------------------------------

def _bad_manifest(kind: str, csv: Path, root: Path, out: Path) -> str:
    """Write a broken copy of ``csv`` to ``out``; returns the volume name the error must name."""
    table = pd.read_csv(csv, keep_default_na=False, dtype=str)
    first = table.iloc[0].copy()
    if kind == "missing_file":
        extra = first.copy()
        extra["file"] = "brain/file_brain_missing.h5"
        extra["sha256"] = "f" * 64
        table = pd.concat([table, extra.to_frame().T], ignore_index=True)
        name = "file_brain_missing.h5"
    elif kind == "changed_hash":
        table.loc[0, "sha256"] = "0" * 64
        name = Path(first.file).name
    elif kind == "two_roles":
        twin = first.copy()
        twin["role"] = "forget"
        table = pd.concat([table, twin.to_frame().T], ignore_index=True)
        name = Path(first.file).name
    elif kind == "leakage":
        test = table[table.role == "test_brain"].iloc[0].copy()
        test["role"] = "retain"
        table = pd.concat([table, test.to_frame().T], ignore_index=True)
        name = Path(test.file).name
    elif kind == "leakage_by_copy":
        test = table[table.role == "test_brain"].iloc[0].copy()
        shutil.copy(root / test.file, root / "brain" / "copy_of_test.h5")
        test["file"] = "brain/copy_of_test.h5"
        test["role"] = "retain"
        table = pd.concat([table, test.to_frame().T], ignore_index=True)
        name = "copy_of_test.h5"
    else:  # pragma: no cover
        raise AssertionError(kind)
    table.to_csv(out, index=False)
    return name


MANIFEST_PROBLEMS = {"missing_file": "not found", "changed_hash": "has changed",
                     "two_roles": "more than once", "leakage": "leakage",
                     "leakage_by_copy": "leakage: volumes"}
ENTRY_POINTS = ("train", "run_unlearning", "cli_train", "cli_unlearn")


@pytest.fixture(scope="module")
def shared_copy(smoke_data, tmp_path_factory):
    return _copy_data(smoke_data, tmp_path_factory.mktemp("robust_data") / "data")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("kind", list(MANIFEST_PROBLEMS))
def test_bad_manifest_is_refused_by_every_entry_point(kind, entry, shared_copy, tmp_path, capsys, monkeypatch):
    csv, root = shared_copy
    bad = tmp_path / f"{kind}.csv"
    name = _bad_manifest(kind, csv, root, bad)
    pattern = rf"{name}.*{MANIFEST_PROBLEMS[kind]}|{MANIFEST_PROBLEMS[kind]}.*{name}"
    _no_work(monkeypatch)
    cache = RunCache(tmp_path / "runs")
    prof = _profile(bad, root)
    if entry == "train":
        with pytest.raises(ManifestError, match=pattern):
            train_original(prof, None, cache=cache, progress=False)
    elif entry == "run_unlearning":
        with pytest.raises(ManifestError, match=pattern):
            run_unlearning(prof, bad, "nl_ft", cache=cache, progress=False)
    else:
        args = ["train"] if entry == "cli_train" else ["unlearn", "--method", "nl_ft"]
        assert main([*args, "--profile", "smoke", "--manifest", str(bad), "--data-root", str(root),
                     "--runs", str(cache.root), "--no-progress"]) == 2
        import re

        assert re.search(pattern, capsys.readouterr().err)
    assert not cache.root.exists()


# ---- empty roles --------------------------------------------------------------------------------

def _without(manifest: Manifest, role: str) -> Manifest:
    return Manifest(manifest.table[manifest.table.role != role].reset_index(drop=True),
                    manifest.data_root, manifest.source)


@pytest.mark.parametrize("role", ["forget", "retain"])
def test_empty_training_role_fails_before_work(role, smoke_manifest, smoke_profile, tmp_path, monkeypatch):
    _no_work(monkeypatch)
    cache = RunCache(tmp_path / "runs")
    with pytest.raises(ConfigError, match=f"role '{role}' holds no volume"):
        train_original(smoke_profile, _without(smoke_manifest, role), cache=cache, progress=False)
    assert not cache.root.exists()


@pytest.mark.parametrize("role,method", [("forget", "nl_ft"), ("forget", "ga"), ("forget", "ft"),
                                         ("retain", "ft"), ("retain", "full_ft"), ("retain", "retrain"),
                                         ("test_knee", "ft"), ("test_brain", "ga")])
def test_empty_role_fails_run_unlearning_before_work(role, method, smoke_manifest, smoke_profile, G,
                                                     tmp_path, monkeypatch):
    """With G given (no training needed) and without (G would be trained first): either way the
    error names the empty role before any step."""
    _no_work(monkeypatch)
    cache = RunCache(tmp_path / "runs")
    broken = _without(smoke_manifest, role)
    original = None if method == "retrain" else G
    with pytest.raises(ConfigError, match=f"role '{role}' holds no volume.*method '{method}'"):
        run_unlearning(smoke_profile, broken, method, original=original, cache=cache, progress=False)
    with pytest.raises(ConfigError, match=f"role '{role}' holds no volume"):
        run_unlearning(smoke_profile, broken, method, cache=cache, progress=False)
    assert not cache.root.exists()


def test_forget_only_method_needs_no_retain_volume(smoke_manifest, smoke_profile, G):
    res = run_unlearning(smoke_profile, _without(smoke_manifest, "retain"), "ga", original=G,
                         cache=False, progress=False)
    assert res.retain_files == [] and res.slice_steps > 0


def test_manifest_without_forget_role_through_the_cli(smoke_data, tmp_path, capsys, monkeypatch):
    csv, root = smoke_data
    table = pd.read_csv(csv, keep_default_na=False, dtype=str)
    table[table.role != "forget"].to_csv(tmp_path / "noforget.csv", index=False)
    _no_work(monkeypatch)
    for cmd in (["train"], ["unlearn", "--method", "nl_ft"]):
        assert main([*cmd, "--profile", "smoke", "--manifest", str(tmp_path / "noforget.csv"),
                     "--data-root", str(root), "--runs", str(tmp_path / "runs"), "--no-progress"]) == 2
        assert "role 'forget' holds no volume" in capsys.readouterr().err
    assert not any((tmp_path / "runs").glob("*/*/*.pt"))


# ---- parameters ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fraction", [0, 0.0, -0.5, 1.0001, 2, math.nan, math.inf, True, "0.5"])
def test_retain_fraction_outside_unit_interval(fraction, smoke_manifest, smoke_profile, tmp_path, monkeypatch):
    _no_work(monkeypatch)
    cache = RunCache(tmp_path / "runs")
    with pytest.raises((ManifestError, ConfigError), match=r"retain fraction must be in \(0, 1\]"):
        run_unlearning(smoke_profile, smoke_manifest, "nl_ft", retain_fraction=fraction, cache=cache,
                       progress=False)
    assert not cache.root.exists()  # G was not trained first


@pytest.mark.parametrize("value", ["0", "1.5", "-1", "nan"])
def test_retain_fraction_outside_unit_interval_cli(value, smoke_data, tmp_path, capsys, monkeypatch):
    csv, root = smoke_data
    _no_work(monkeypatch)
    assert main(["unlearn", "--profile", "smoke", "--manifest", str(csv), "--data-root", str(root),
                 "--method", "ft", "--retain-fraction", value, "--runs", str(tmp_path / "r"),
                 "--no-progress"]) == 2
    assert "retain fraction must be in (0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_unknown_method_profile_and_parameter_python_api(smoke_manifest, smoke_profile, tmp_path, monkeypatch):
    _no_work(monkeypatch)
    cache = RunCache(tmp_path / "runs")
    with pytest.raises(ConfigError, match="unknown unlearning method 'nl-ft'; valid methods: .*nl_ft"):
        run_unlearning(smoke_profile, smoke_manifest, "nl-ft", cache=cache)
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['lam'\]; valid parameters: noise_std"):
        run_unlearning(smoke_profile, smoke_manifest, "nl_ft", params={"lam": 1.0}, cache=cache)
    with pytest.raises(ConfigError, match="noise_std"):
        run_unlearning(smoke_profile, smoke_manifest, "nl_ft", params={"noise_std": -1.0}, cache=cache)
    with pytest.raises(ConfigError, match="unknown profile 'tiny'; valid profiles: smoke, default, paper"):
        train("tiny", smoke_manifest, cache=cache)
    with pytest.raises(ConfigError, match="unknown profile 'tiny'"):
        run_unlearning("tiny", smoke_manifest, "nl_ft", cache=cache)
    with pytest.raises(ConfigError, match="epochs must be a positive integer"):
        run_unlearning(smoke_profile, smoke_manifest, "nl_ft", epochs=0, cache=cache)
    assert not cache.root.exists()


def test_unknown_method_and_parameter_cli(smoke_data, tmp_path, capsys, monkeypatch):
    csv, root = smoke_data
    common = ["--profile", "smoke", "--manifest", str(csv), "--data-root", str(root),
              "--runs", str(tmp_path / "r"), "--no-progress"]
    _no_work(monkeypatch)
    assert main(["unlearn", *common, "--method", "nl-ft"]) == 2
    err = capsys.readouterr().err
    assert "unknown unlearning method 'nl-ft'" in err and all(m in err for m in METHODS)
    assert main(["unlearn", *common, "--method", "nl_ft", "--param", "lam=1e-5"]) == 2
    assert "valid parameters: noise_std" in capsys.readouterr().err
    assert main(["unlearn", *common, "--method", "nl_ft", "--param", "variant=authors"]) == 2
    assert "'paper', 'code'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ---- checkpoints in the cache -------------------------------------------------------------------

@pytest.fixture()
def interrupted_oracle(smoke_manifest, smoke_profile, tmp_path):
    """A cache entry of a 2-epoch oracle run stopped after epoch 1 (checkpoint, no DONE)."""
    cache = RunCache(tmp_path / "runs")

    class Stop(Exception):
        pass

    def stop(epoch, record):
        raise Stop

    with pytest.raises(Stop):
        train_oracle(smoke_profile, smoke_manifest, cache=cache, progress=False, on_epoch_end=stop)
    entry = next(e for e in [cache.entry("train", train_mod.train_config(smoke_profile, ("retain",), None),
                                         smoke_manifest.content_hash(), smoke_profile.seed)])
    assert entry.checkpoint_path.exists() and not entry.is_done()
    return cache, entry


def test_resume_refuses_a_checkpoint_of_another_config(interrupted_oracle, smoke_manifest, smoke_profile,
                                                       tmp_path, monkeypatch):
    cache, entry = interrupted_oracle
    from mriunlearn.model import build_model

    save_checkpoint(entry.checkpoint_path, build_model(smoke_profile), None, None, 0,
                    {**entry.identity(), "seed": 7})
    before = entry.checkpoint_path.read_bytes()
    _no_work(monkeypatch)
    with pytest.raises(CheckpointError, match=rf"cannot resume the run in .*{entry.key}.*written for "
                                              r"config \w+.*seed=7->42.*Delete .*checkpoint\.pt"):
        train_oracle(smoke_profile, smoke_manifest, cache=cache, progress=False)
    assert entry.checkpoint_path.read_bytes() == before and not entry.is_done()  # nothing discarded


def test_resume_refuses_a_corrupt_checkpoint(interrupted_oracle, smoke_manifest, smoke_profile, monkeypatch):
    cache, entry = interrupted_oracle
    _truncate(entry.checkpoint_path)
    before = entry.checkpoint_path.read_bytes()
    _no_work(monkeypatch)
    with pytest.raises(CheckpointError, match=r"cannot resume.*checkpoint\.pt is corrupt.*Delete"):
        train_oracle(smoke_profile, smoke_manifest, cache=cache, progress=False)
    assert entry.checkpoint_path.read_bytes() == before and not entry.is_done()
    entry.checkpoint_path.unlink()  # the documented remedy: the run restarts from epoch 1
    monkeypatch.undo()
    res = train_oracle(smoke_profile, smoke_manifest, cache=cache, progress=False)
    assert not res.cached and res.entry.is_done() and len(res.history) == smoke_profile.epochs


def test_finished_entry_with_corrupt_model_is_refused(smoke_manifest, smoke_profile, tmp_path, monkeypatch):
    cache = RunCache(tmp_path / "runs")
    res = train_oracle(smoke_profile.replace(epochs=1), smoke_manifest, cache=cache, progress=False)
    _truncate(res.entry.model_path)
    _no_work(monkeypatch)
    with pytest.raises(CheckpointError, match=r"model\.pt is corrupt"):
        train_oracle(smoke_profile.replace(epochs=1), smoke_manifest, cache=cache, progress=False)


def test_unlearning_refuses_g_with_a_corrupt_final_checkpoint(smoke_manifest, smoke_profile, tmp_path, monkeypatch):
    """Dropping G's optimiser state silently would give other numbers under the same cache key."""
    cache = RunCache(tmp_path / "runs")
    g = train_original(smoke_profile.replace(epochs=1), smoke_manifest, cache=cache, progress=False)
    _truncate(g.entry.checkpoint_path)
    _no_work(monkeypatch)
    with pytest.raises(CheckpointError, match=rf"G's final checkpoint.*corrupt.*delete the entry .*{g.entry.key}"):
        run_unlearning(smoke_profile.replace(epochs=1), smoke_manifest, "nl_ft", original=g, cache=cache,
                       progress=False)
    assert not (cache.root / "unlearn").exists()


# ---- safety -------------------------------------------------------------------------------------

class _Payload:
    """Unpickling this runs ``Path(marker).touch()``: arbitrary code in a checkpoint file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_checkpoints_with_pickled_code_are_refused(smoke_profile, smoke_manifest, tmp_path):
    from mriunlearn.model import build_model

    marker = tmp_path / "code_ran"
    evil = {"format": 1, "config": "{}", "epoch": 0, "history": [], "extra": {},
            "model": build_model(smoke_profile).state_dict(), "optimizer": {}, "scheduler": {},
            "payload": _Payload(marker)}
    path = tmp_path / "evil.pt"
    torch.save(evil, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt is corrupt or unreadable"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"evil\.pt"):
        train(smoke_profile, smoke_manifest, ["retain"], cache=False, init_from=path)
    cache = RunCache(tmp_path / "runs")
    entry = cache.entry("train", {"x": 1}, "m", 0).create()
    shutil.copy(path, entry.model_path)
    with pytest.raises(CheckpointError, match=r"model\.pt is corrupt or unreadable"):
        entry.load_state_dict()
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is live: unsafe loading would run it
    assert marker.exists()


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else (
                f"{f.value.id}.{f.attr}" if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                else f"?.{getattr(f, 'attr', '')}")
            out.append((name, node))
    return out


def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def test_package_source_never_executes_or_unpickles_data():
    """No eval/exec/compile, no pickle/marshal/shelve loads, no unsafe yaml, no shell commands, and
    every torch.load passes weights_only=True."""
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10
    problems = []
    for path in files:
        for name, call in _calls(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(PACKAGE)}:{call.lineno} {name}"
            if name in ("eval", "exec", "compile", "__import__", "os.system", "os.popen",
                        "pickle.load", "pickle.loads", "marshal.loads", "shelve.open", "yaml.unsafe_load",
                        "dill.load", "cloudpickle.load", "numpy.load", "np.load"):
                if name in ("numpy.load", "np.load"):
                    allow = _kw(call, "allow_pickle")
                    if allow is None or (isinstance(allow, ast.Constant) and allow.value is False):
                        continue
                problems.append(where)
            elif name == "yaml.load":
                loader = _kw(call, "Loader")
                if not (isinstance(loader, ast.Attribute) and loader.attr in ("SafeLoader", "CSafeLoader")):
                    problems.append(where)
            elif name == "torch.load":
                wo = _kw(call, "weights_only")
                if not (isinstance(wo, ast.Constant) and wo.value is True):
                    problems.append(where)
            elif _kw(call, "shell") is not None and not (
                    isinstance(_kw(call, "shell"), ast.Constant) and _kw(call, "shell").value is False):
                problems.append(where + " shell=")
    assert problems == []


def test_manifest_and_options_holding_code_are_data(smoke_data, tmp_path, capsys, monkeypatch):
    csv, root = smoke_data
    marker = tmp_path / "code_ran"
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    table = pd.read_csv(csv, keep_default_na=False, dtype=str)
    for column, message in (("file", "not found"), ("role", "unknown roles"), ("organ", "unknown organs"),
                            ("num_slices", "invalid num_slices"), ("sha256", "has changed")):
        bad = table.copy()
        bad.loc[0, column] = code
        bad.to_csv(tmp_path / "m.csv", index=False)
        with pytest.raises(ManifestError, match=message):
            load_manifest(tmp_path / "m.csv", root)
    _no_work(monkeypatch)
    common = ["--profile", "smoke", "--manifest", str(csv), "--data-root", str(root), "--no-cache", "--no-progress"]
    assert main(["train", *common, "--set", f"epochs={code}"]) == 2
    assert "epochs must be an integer" in capsys.readouterr().err
    assert main(["unlearn", *common, "--method", "nl_ft", "--param", f"noise_std={code}"]) == 2
    assert "noise_std" in capsys.readouterr().err
    assert main(["unlearn", *common, "--method", code]) == 2
    assert "unknown unlearning method" in capsys.readouterr().err
    assert not marker.exists()


def test_nothing_is_downloaded(smoke_manifest, smoke_profile, tmp_path, monkeypatch):
    """A smoke train + unlearn + evaluate with every outgoing connection refused."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError(errno.ENETUNREACH, "network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    cache = RunCache(tmp_path / "runs")
    prof = smoke_profile.replace(epochs=1)
    g = train_original(prof, smoke_manifest, cache=cache, progress=False)
    res = run_unlearning(prof, smoke_manifest, "nl_ft", original=g, cache=cache, progress=False)
    assert res.entry.is_done() and np.isfinite(res.final.psnr).all()
    assert attempts == []

