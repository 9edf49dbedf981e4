"""``make setup``: an existing ``.venv`` asked for another torch build stops with the way out."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CUDA = "https://download.pytorch.org/whl/cu126"


def _check(venv: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "--no-print-directory", "check-torch", f"VENV={venv}", *args], check=False,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_existing_venv_refuses_another_torch_build_naming_the_fix(tmp_path):
    venv = tmp_path / "venv"
    assert _check(venv, f"TORCH_INDEX={CUDA}").returncode == 0  # no .venv yet: make setup builds it
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\n")
    (venv / "bin" / "python").chmod(0o755)
    assert _check(venv).returncode == 0  # built before the record existed: the default torch
    (venv / ".torch-source").write_text("torch==2.13.0\n")
    assert _check(venv).returncode == 0
    proc = _check(venv, f"TORCH_INDEX={CUDA}")
    assert proc.returncode == 2
    assert f"holds torch==2.13.0, not torch==2.13.0 from {CUDA}" in proc.stderr
    assert f"rm -rf {venv} && make setup" in proc.stderr
    (venv / ".torch-source").write_text(f"torch==2.13.0 from {CUDA}\n")
    assert _check(venv, f"TORCH_INDEX={CUDA}").returncode == 0
    assert _check(venv).returncode == 2  # a CUDA .venv asked for the default one
    assert _check(venv, "TORCH_SPEC=torch==2.12.0", f"TORCH_INDEX={CUDA}").returncode == 2
