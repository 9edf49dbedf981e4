"""One install, two front doors: ``make setup`` (.venv) and ``environment.yml`` (conda) use the same pins.

- ``environment.yml`` is exactly what ``tools/environment_yml.py`` renders from pyproject.toml,
  constraints.txt and the Makefile's torch and fastmri pins (regenerate: ``make environment.yml``);
- every requirement pyproject declares has a pin in constraints.txt, and that pin satisfies it;
- ``make <target> PY=python`` (an activated conda environment) never creates or uses ``.venv``, while
  the default targets still build ``.venv`` first.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("environment_yml", ROOT / "tools" / "environment_yml.py")
envyml = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(envyml)


def test_environment_yml_is_generated_from_the_pins():
    assert (ROOT / "environment.yml").read_text() == envyml.render(), "run: make environment.yml"


def test_every_declared_requirement_is_pinned_and_the_pin_satisfies_it():
    pins = envyml.constraints()
    for text in envyml.direct_requirements():
        req = Requirement(text)
        name = envyml.requirement_name(text)
        if name == "torch":
            version = envyml.makefile_spec("DEFAULT_TORCH_SPEC").split("==")[1]
        else:
            assert name in pins, f"{text} has no pin in constraints.txt"
            version = pins[name].split("==")[1]
        assert req.specifier.contains(version, prereleases=True), f"{name}=={version} does not satisfy {text}"


def test_environment_yml_pins_torch_and_names_the_fastmri_step():
    text = (ROOT / "environment.yml").read_text()
    assert f"- {envyml.makefile_spec('DEFAULT_TORCH_SPEC')}\n" in text
    assert "-c constraints.txt" in text and "make setup-env PY=python" in text
    assert envyml.makefile_spec("FASTMRI_SPEC") == "fastmri==0.3.0"


def _dry_run(*args: str) -> str:
    return subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT, check=True,
                          capture_output=True, text=True, timeout=60).stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("target", ["reproduce", "test", "test-fast", "data", "bench", "lab"])
def test_make_with_py_uses_the_active_environment_and_no_venv(target):
    out = _dry_run(target, "PY=python")
    assert ".venv" not in out
    assert "python -c \"import torch, fastmri, mriunlearn\"" in out  # check-env first, naming setup-env


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_setup_env_installs_fastmri_without_deps_then_the_pinned_package():
    out = _dry_run("setup-env", "PY=python").splitlines()
    assert ".venv" not in "\n".join(out)
    fastmri = next(i for i, line in enumerate(out) if "--no-deps fastmri==0.3.0" in line)
    package = next(i for i, line in enumerate(out) if "-c constraints.txt -e" in line)
    assert fastmri < package and "torch==2.13.0" in out[package]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_default_targets_still_build_the_venv(tmp_path):
    out = _dry_run("reproduce", f"VENV={tmp_path / 'venv'}")
    assert f"python3 -m venv {tmp_path / 'venv'}" in out
    assert f"{tmp_path / 'venv'}/bin/python -m mriunlearn.reproduce" in out
