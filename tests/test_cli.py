"""``python -m mriunlearn``: help, option errors, and train / evaluate on the smoke data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mriunlearn.cli import main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("data", "train", "evaluate", "unlearn", "methods", "export", "compare", "ship", "split")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_each_subcommand(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert f"usage: python -m mriunlearn {command}" in capsys.readouterr().out


def test_module_entry_point_runs():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "mriunlearn", "--help"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0 and "{" + ",".join(COMMANDS) + "}" in proc.stdout


def test_unknown_option_lists_valid_ones(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--epochs", "3"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --epochs 3" in err and "--profile" in err and "--set" in err


def test_unknown_profile_lists_valid_ones(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--profile", "huge"])
    assert exc.value.code == 2
    assert "choose from 'smoke', 'default', 'paper'" in capsys.readouterr().err


def test_bad_profile_field_and_missing_paper_data(capsys):
    assert main(["train", "--profile", "smoke", "--set", "cascades=3"]) == 2
    assert "valid options: num_cascades" in capsys.readouterr().err
    assert main(["train", "--profile", "paper"]) == 2
    assert "needs real fastMRI data" in capsys.readouterr().err


def test_train_then_evaluate_from_the_cache(smoke_data, tmp_path, capsys):
    manifest, root = smoke_data
    common = ["--profile", "smoke", "--manifest", str(manifest), "--data-root", str(root),
              "--runs", str(tmp_path / "runs"), "--no-progress"]
    assert main(["train", *common, "--model", "oracle"]) == 0
    out = capsys.readouterr().out
    assert "oracle: trained" in out and "val_psnr" in out
    [entry] = (tmp_path / "runs" / "train").iterdir()  # stored under --runs
    assert (entry / "DONE").exists() and f"-> {entry}" in out
    trained = (entry / "model.pt").stat().st_mtime_ns
    csv = tmp_path / "oracle.csv"
    assert main(["evaluate", *common, "--model", "oracle", "--out", str(csv)]) == 0
    out = capsys.readouterr().out
    assert [entry] == list((tmp_path / "runs" / "train").iterdir())  # found there, not retrained
    assert (entry / "model.pt").stat().st_mtime_ns == trained and list(entry.glob("metrics_*.csv"))
    assert "BTA psnr" in out and "KTA psnr" in out and "UA psnr" in out
    table = pd.read_csv(csv)
    assert set(table.role) == {"test_brain", "test_knee", "forget"} and table.psnr.notna().all()
    assert main(["evaluate", *common, "--model", "zero_filled", "--roles", "test_brain"]) == 0
    assert "BTA psnr" in capsys.readouterr().out


# ---- the method listing (methods, unlearn --help) is generated from the registry -------------------

def _param_line(name, spec) -> str:
    """What the listing shows for one parameter: type, default and range/choices from its ``Param``."""
    return f"{name}  {spec.kind.__name__}, default {spec.describe()}: {spec.doc}"


def _help(command, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


@pytest.fixture()
def dummy_method():
    """A method registered only for this test (the registry is restored afterwards)."""
    from mriunlearn.unlearning import METHODS, Method, Param, register

    saved = dict(METHODS)

    class Dummy(Method):
        name = "dummy_test_method"
        summary = "A method that exists only in this test."
        source = "Nobody, 'Not a paper' (test suite, 2099)."
        params = {"knob": Param(3, int, "a test knob", 1, 7),
                  "mode": Param("a", str, "a test mode", choices=("a", "zz"))}

    register(Dummy)
    yield Dummy
    METHODS.clear()
    METHODS.update(saved)


def test_methods_and_unlearn_help_list_every_method_with_parameters_and_defaults(capsys):
    from mriunlearn.unlearning import METHODS

    assert main(["methods"]) == 0
    listing = capsys.readouterr().out
    help_text = _help("unlearn", capsys)
    assert len(METHODS) >= 14
    for name, cls in METHODS.items():
        for out in (listing, help_text):
            assert f"{name}: {cls.summary}" in out, name
            for key, spec in cls.params.items():
                assert _param_line(key, spec) in out, (name, key)
        assert f"source: {cls.source}" in listing, name
        assert cls.source not in help_text, name  # sources: `methods` only
    # the defaults shown are the ones a run uses
    assert "noise_std  float, default 1e-05 (in [0.0, 1000.0])" in listing
    assert "variant  str, default 'paper' (one of 'paper', 'code')" in listing
    assert "decay  bool, default True" in listing


def test_a_newly_registered_method_is_listed(dummy_method, capsys):
    assert main(["methods"]) == 0
    listing = capsys.readouterr().out
    help_text = _help("unlearn", capsys)
    for out in (listing, help_text):
        assert "dummy_test_method: A method that exists only in this test." in out
        assert "knob  int, default 3 (in [1, 7]): a test knob" in out
        assert "mode  str, default 'a' (one of 'a', 'zz'): a test mode" in out
    assert "source: Nobody, 'Not a paper' (test suite, 2099)." in listing


def test_methods_selects_by_name_and_rejects_unknown_ones(capsys):
    assert main(["methods", "ssd", "nl"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ssd: ") and "\n\nnl: " in out and "nl_ft:" not in out and "scrub:" not in out
    assert main(["methods", "nl_ftt"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown unlearning method 'nl_ftt'") and "valid methods: retrain" in err


def test_register_requires_summary_and_source():
    from mriunlearn.errors import ConfigError
    from mriunlearn.unlearning import METHODS, Method, register

    class Bare(Method):
        name = "bare_test_method"

    with pytest.raises(ConfigError, match="'bare_test_method'.*Bare.*declares no summary and no source"):
        register(Bare)
    assert "bare_test_method" not in METHODS


@pytest.mark.parametrize("command", ["train", "evaluate", "unlearn"])
def test_runs_and_lock_wait_options(command, tmp_path, monkeypatch):
    from mriunlearn import paths
    from mriunlearn.cli import _cache, build_parser

    parse = build_parser().parse_args
    cache = _cache(parse([command, "--runs", str(tmp_path / "r"), "--lock-wait", "7.5"]))
    assert cache.root == tmp_path.resolve() / "r" and cache.lock_wait == 7.5
    monkeypatch.chdir(tmp_path)
    assert _cache(parse([command, "--runs", "rel"])).root == tmp_path.resolve() / "rel"  # resolved once
    monkeypatch.delenv("MRIUNLEARN_LOCK_WAIT", raising=False)
    default = _cache(parse([command]))
    assert default.root == paths.runs_dir() and default.lock_wait == 0.0
    assert _cache(parse([command, "--runs", "x", "--no-cache"])) is False


def test_bad_runs_folder_and_lock_wait_are_refused(smoke_data, tmp_path, capsys):
    manifest, root = smoke_data
    common = ["--profile", "smoke", "--manifest", str(manifest), "--data-root", str(root), "--no-progress"]
    (tmp_path / "file").write_text("not a folder")
    for command in ("train", "evaluate", "unlearn"):
        assert main([command, *common, "--runs", str(tmp_path / "file")]) == 2
        assert f"run cache folder {tmp_path.resolve() / 'file'} exists and is not a folder" in capsys.readouterr().err
        assert main([command, *common, "--lock-wait", "-1"]) == 2
        assert "--lock-wait must be a number of seconds >= 0, got -1.0" in capsys.readouterr().err


def test_mriunlearn_runs_environment_variable_sets_the_default_cache(tmp_path):
    code = ("from mriunlearn.cli import _cache, build_parser; "
            "print(_cache(build_parser().parse_args(['train'])).root)")
    env = {**os.environ, "MRIUNLEARN_RUNS": str(tmp_path / "env-runs"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str((tmp_path / "env-runs").resolve())


def test_unlearn_steps_and_transform_reach_the_runner(monkeypatch, smoke_profile):
    from mriunlearn import unlearning
    from mriunlearn.cli import _unlearned, build_parser

    seen: dict = {}
    monkeypatch.setattr(unlearning, "run_unlearning", lambda *a, **kw: seen.update(kw))
    args = build_parser().parse_args(["unlearn", "--no-cache", "--method", "nl", "--steps", "7",
                                      "--param", "transform=replace"])
    _unlearned(args, smoke_profile)
    assert seen["steps"] == 7 and seen["params"] == {"transform": "replace"} and seen["epochs"] is None


def test_the_process_entry_point_leaves_the_process_group_on_success_and_on_error(monkeypatch):
    """``python -m mriunlearn`` (and the ``mriunlearn`` script) leaves a joined process group before the
    process exits, whatever the command's outcome: left to the interpreter's exit, a gloo group can
    abort a rank after its exit status was decided."""
    import mriunlearn.__main__ as entry
    from mriunlearn import distributed

    calls = []
    monkeypatch.setattr(distributed, "cleanup", lambda: calls.append("cleanup"))
    monkeypatch.setattr(entry, "main", lambda: 2)
    assert entry.run() == 2 and calls == ["cleanup"]

    def fails() -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(entry, "main", fails)
    with pytest.raises(RuntimeError, match="boom"):
        entry.run()
    assert calls == ["cleanup", "cleanup"]
