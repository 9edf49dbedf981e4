"""The two test commands: ``make test`` runs everything (unit tests, the slow ones, the notebooks
through nbval); ``make test-fast`` runs the unit tests of ``tests/`` that are not marked ``slow``.
Every test that starts torch.distributed ranks is marked ``slow``, so the quick lane stays quick."""

from __future__ import annotations

import ast
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
#: the rendezvous variable of torch.distributed: set by hand, the test joins processes as ranks
RENDEZVOUS = "MASTER_PORT"


def _pytest_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]


def _recipe(target: str) -> list[str]:
    out = subprocess.run(["make", "-n", "--no-print-directory", target, "PY=python"], cwd=ROOT, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return [line for line in out.splitlines() if "-m pytest" in line]


def _marked_slow(fn: ast.FunctionDef) -> bool:
    return any(ast.unparse(d) == "pytest.mark.slow" for d in fn.decorator_list)


def _starts_ranks(fn: ast.FunctionDef) -> bool:
    """Whether ``fn`` finds the ``torchrun`` launcher (``….with_name("torchrun")``) or sets the
    rendezvous variable of processes it joins as ranks itself (``{"MASTER_PORT": …}``)."""
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "with_name" \
                and any(isinstance(a, ast.Constant) and a.value == "torchrun" for a in node.args):
            return True
        if isinstance(node, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == RENDEZVOUS for k in node.keys):
            return True
    return False


def rank_starting_tests_not_marked_slow(source: str) -> list[str]:
    """The test functions of ``source`` that start torch.distributed ranks without ``@pytest.mark.slow``."""
    tree = ast.parse(source)
    return [fn.name for fn in tree.body if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_")
            and _starts_ranks(fn) and not _marked_slow(fn)]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_test_runs_everything_and_test_fast_leaves_out_slow_tests_and_notebooks():
    assert _recipe("test") == ["python -m pytest"]  # no selection: testpaths and addopts decide
    assert _recipe("test-fast") == ['python -m pytest -m "not slow" tests']
    cfg = _pytest_config()
    assert cfg["testpaths"] == ["tests", "notebooks"]
    addopts = cfg["addopts"].split()
    assert "--nbval-lax" in addopts and "-m" not in addopts and "-k" not in addopts
    assert "--strict-markers" in addopts  # a misspelt mark is an error, not a test silently in the quick lane
    assert [m.split(":")[0] for m in cfg["markers"]] == ["slow"]


def test_rank_finder_sees_torchrun_and_hand_joined_ranks():
    planted = '''
import pytest

def test_torchrun(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")

def test_gloo(tmp_path):
    env = {"MASTER_PORT": "1234", "RANK": "0"}

@pytest.mark.slow
def test_marked():
    torchrun = Path(sys.executable).with_name("torchrun")

def test_unit():
    assert "torchrun" in ["torchrun"]
'''
    assert rank_starting_tests_not_marked_slow(planted) == ["test_torchrun", "test_gloo"]


def test_every_test_that_starts_ranks_is_marked_slow():
    unmarked = {path.name: names for path in sorted(TESTS.glob("test_*.py"))
                if (names := rank_starting_tests_not_marked_slow(path.read_text(encoding="utf-8")))}
    assert not unmarked, f"mark these @pytest.mark.slow (make test-fast leaves them out): {unmarked}"
