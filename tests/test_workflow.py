"""The paper's workflow end to end on fastMRI-shaped files, and one step of the full-size model.

``test_paper_workflow_end_to_end`` runs what a user with real data runs, as subprocesses: the
command lines of the documented recipe (step 4 of docs/real_data.md, read from it by
:func:`documented_workflow`), with the recipe's folders replaced by temporary ones, 8 GPUs by 2 CPU
ranks, and only these additions: the tiny split's sizes on ``split draw``, the shrinking ``--set``
overrides below on every later step, and the notebooks' ``-p`` parameters and ``--only`` on
``reproduce``. Step by step:

1. fastMRI-shaped folders (``tests/fastmri_like.py``: brain AXT2 16 coils 640x320, 20 coils
   768x396, a narrow 640x300 one, knee 15 coils 640x368 with ``encodingLimits``; fastMRI names in
   ``*_multicoil_train`` / ``*_multicoil_val`` folders);
2. ``python -m mriunlearn split draw`` over them (2 retain, 1 forget, 1 val, 1 test_brain, 1 test_knee
   volumes, a 50% retain subset);
3. ``torchrun --standalone --nproc_per_node 2`` (gloo, CPU) trains G and the oracle with the
   ``paper`` profile, into the run cache named by the recipe's ``export MRIUNLEARN_RUNS=...``;
4. ``torchrun --standalone --nproc_per_node 2 ... unlearn --method nl_ft``;
5. ``python -m mriunlearn.reproduce --profile paper --manifest --data-root --runs --out`` executes
   notebooks 01, 02, 03 and 04 (``--only``), reusing the torchrun-trained G and oracle from the run
   cache (no training run is added inside a notebook) and the torchrun nl_ft run as notebook 02's Gᵁ.

The hallucination maps of notebooks 02 and 03 use the ``paper`` profile's matrix-free ``"cg"``
projector (``hallucination_projector``; the exact ``"eig"`` one, O(H·W³) per slice, had not finished
notebook 02's first hallucination cell after 15 minutes on this 2-core CPU); the test checks that the
score tables of G and Ĝ are the ``cg`` ones.

Sizes that ran: the ``paper`` profile's real-data format and recipe (SSIM+L1 loss, Adam 1e-3, batch 1,
clipping 0.5, equispaced 8x/0.04 masks, fp32, streamed data), shrunk only by these overrides, given
to every step as ``--set``: ``max_steps=2`` (two optimiser steps per training and unlearning run),
``num_cascades=1, chans=4, pools=2, sens_chans=2, sens_pools=2`` (the network) and ``num_workers=0``
(no DataLoader worker processes on a 2-core machine; not part of the cache key). The drawn split
puts the 768x396, 20-coil volume in ``test_brain``: every hallucination map is of that size. The
notebook parameters (``-p``, each given to the notebooks that declare it):

- 01: its defaults (``TRAIN_SEEDS=[42]``);
- 02: its defaults (``UNLEARN_METHOD="nl_ft"``, ``SEED=42``, ``N_SLICES=2``, ``PANEL_SEED=0``: the
  one test_brain slice is the whole panel, picked or drawn; ``TRAIN_SEEDS=[42]``): 1 slice x 3 maps
  for each of Fig. 1's two panels, 4 score tables (zero-filled, G, Ĝ, Gᵁ);
- 03: ``METHODS=["nl_ft"]`` and ``EXTRA_METHODS=["ga_l1"]`` (the two directions of the loss
  landscape; one new 2-step unlearning run), ``NOISE_METHODS=[]``, ``NL_GRID="none"``,
  ``RELEARN_MODELS=["all"]``, ``LANDSCAPE_GRID=3`` (3x3 points per plane instead of 11x11). The split
  has one ``test_knee`` slice, so its MIA column is NaN (with a warning), and one forget volume, so the
  relearning attack says it cannot run (and trains nothing);
- 04: ``METHODS=["nl_ft"]`` and ``FRACTIONS=[0.5]`` (the drawn split's shipped 50% subset, so it
  says it used it).

Wall time on the 2-core CPU, alone: 393 s (split 0.5 s, the two torchrun trainings 34 s and 24 s,
torchrun nl_ft 45 s, reproduce of notebooks 01-04 278 s). Earlier, shared with a long torch job:
648 s.

``test_full_size_paper_model_takes_a_training_step`` runs the unshrunk ``paper`` network (12
cascades, chans 18, 4 pools, sens_chans 8, sens_pools 4; 29.9M parameters) for one optimiser step
on one real-size brain slice (640x320, 16 coils, batch 1) through :func:`mriunlearn.train.train`
with ``max_steps=1`` (~20 s of the step and ~10 GB on a 2-core CPU, plus one validation pass).
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

SHRINK = {"max_steps": 2, "num_cascades": 1, "chans": 4, "pools": 2, "sens_chans": 2, "sens_pools": 2,
          "num_workers": 0}
#: METHODS: notebooks 03 and 04; FRACTIONS: 04; the rest: 03 (01 and 02 run with their defaults)
NOTEBOOK_PARAMS = {"METHODS": ["nl_ft"], "FRACTIONS": [0.5], "EXTRA_METHODS": ["ga_l1"], "NOISE_METHODS": [],
                   "NL_GRID": "none", "RELEARN_MODELS": ["all"], "LANDSCAPE_GRID": 3}
NOTEBOOKS = ["01_data_overlap", "02_joint_training_hallucinations", "03_unlearning", "04_subset_retain"]


def _env(tmp: Path) -> dict[str, str]:
    # figures/runs of anything not given a folder go to tmp, never to the repository
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1", "MRIUNLEARN_FIGURES": str(tmp / "stray_figures"),
            "MRIUNLEARN_RUNS": str(tmp / "stray_runs")}


def _run(cmd: list[str], tmp: Path, timeout: int, runs: str | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``tmp``; ``runs``: the exported ``MRIUNLEARN_RUNS`` (default: a stray folder)."""
    start = time.perf_counter()
    env = {**_env(tmp), **({"MRIUNLEARN_RUNS": runs} if runs else {})}
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
    print(f"{time.perf_counter() - start:6.1f} s  {' '.join(cmd[1:6])} ...")
    assert proc.returncode == 0, f"{cmd}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return proc


def _tracked_state() -> str:
    """``git status`` of the tracked files (empty when nothing tracked changed) plus their hashes."""
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    hashes = subprocess.run(["git", "ls-files", "-s", "-m", "notebooks", "figures"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    return status + hashes


def _train_entries(runs: Path) -> set[str]:
    return {p.name for p in (runs / "train").iterdir()} if (runs / "train").exists() else set()


RECIPE = ROOT / "docs" / "real_data.md"


def documented_workflow() -> list[str]:
    """The command lines of the real-data recipe (docs/real_data.md, step 4, "The whole workflow"), in
    order, continuation lines joined, comments dropped."""
    text = RECIPE.read_text()
    section = text[text.index("The whole workflow, as `tests/test_workflow.py` runs it"):]
    block = section[section.index("```bash") + len("```bash"):]
    block = block[:block.index("```")]
    lines = [line.split("#")[0].strip() for line in block.replace("\\\n", " ").splitlines()]
    return [" ".join(line.split()) for line in lines if line]


def _localise(line: str, paths: dict[str, Path], py: str, torchrun: str) -> list[str]:
    """A recipe command line as this test runs it: the recipe's folders replaced by temporary ones,
    ``python``/``torchrun`` by this environment's, 8 GPUs by 2 CPU ranks, globs expanded."""
    for readme_path, path in paths.items():
        line = line.replace(readme_path, str(path))
    line = line.replace("--nproc_per_node 8", "--nproc_per_node 2")
    argv = []
    for arg in shlex.split(line):
        argv.extend(sorted(glob.glob(arg)) if "*" in arg else [arg])
    return [{"python": py, "torchrun": torchrun}.get(argv[0], argv[0]), *argv[1:]]


def test_documented_workflow_is_the_recipe_this_file_runs():
    cmds = documented_workflow()
    assert [c.split()[0] for c in cmds] == ["export", "python", "torchrun", "torchrun", "torchrun", "python"]
    assert cmds[0].startswith("export MRIUNLEARN_RUNS=")
    assert "split draw" in cmds[1] and "--name paper" in cmds[1]
    assert "--model original" in cmds[2] and "--model oracle" in cmds[3] and "--method nl_ft" in cmds[4]
    assert "mriunlearn.reproduce" in cmds[5] and "--out" in cmds[5]
    manifest = cmds[1].split("--out ")[1].split()[0] + "/paper.csv"  # what the draw writes...
    assert all(f"--manifest {manifest}" in c for c in cmds[2:])  # ...is what every later step reads


@pytest.mark.slow
def test_paper_workflow_end_to_end(tmp_path):
    from fastmri_like import write_fastmri_like

    py = sys.executable
    torchrun = str(Path(py).with_name("torchrun"))
    sets = [a for k, v in SHRINK.items() for a in ("--set", f"{k}={v}")]
    before = _tracked_state()

    data, runs, out = tmp_path / "fastmri", tmp_path / "runs", tmp_path / "out"
    write_fastmri_like(data)
    paths = {"/data/fastmri": data, "data/manifests": tmp_path / "manifests", "/shared/runs": runs,
             "/scratch/paper-run": out}
    #: what this test adds to each recipe command: the tiny split's sizes, the shrinking overrides
    #: (max_steps=2, a small network), the notebooks' parameters; nothing else differs
    draw_sizes = ["--n-retain", "2", "--n-forget", "1", "--n-val", "1", "--n-test-brain", "1",
                  "--n-test-knee", "1", "--fractions", "0.5"]
    params = [a for k, v in NOTEBOOK_PARAMS.items() for a in ("-p", k, json.dumps(v))]
    only = [a for n in NOTEBOOKS for a in ("--only", n[:2])]
    env_runs = None
    cmds = documented_workflow()
    for line in cmds:
        if line.startswith("export "):
            name, value = line.split()[1].split("=", 1)
            assert name == "MRIUNLEARN_RUNS"
            env_runs = _localise(value, paths, py, torchrun)[0]
            continue
        cmd = _localise(line, paths, py, torchrun)
        if "split" in cmd:
            _run([*cmd, *draw_sizes], tmp_path, 120, env_runs)
            manifest = tmp_path / "manifests" / "paper.csv"
            assert manifest.exists() and (tmp_path / "manifests" / "paper_subsets.csv").exists()
        elif "train" in cmd:
            model = cmd[cmd.index("--model") + 1]
            proc = _run([*cmd, "--no-progress", *sets], tmp_path, 300, env_runs)
            assert proc.stdout.count(f"{model}: trained") == 1  # rank 0 alone reports
        elif "unlearn" in cmd:
            trained = _train_entries(runs)
            assert len(trained) == 2  # G and the oracle, in the exported run cache
            for key in trained:
                summary = json.loads((runs / "train" / key / "summary.json").read_text())
                assert summary["world_size"] == 2 and summary["optimizer_steps"] == 2
                assert summary["profile"]["num_cascades"] == 1 and summary["profile"]["max_steps"] == 2
            proc = _run([*cmd, "--no-progress", *sets], tmp_path, 300, env_runs)
            assert proc.stdout.count("nl_ft:") == 1
            [unlearned] = list((runs / "unlearn").iterdir())
            info = json.loads((unlearned / "summary.json").read_text())["info"]
            assert info["optimizer_steps"] == 2
            done_at = (unlearned / "DONE").stat().st_mtime_ns
        else:
            _run([*cmd, *sets, *params, *only], tmp_path, 2400, env_runs)
    assert out.exists(), "the documented recipe ran no reproduce step"

    # the notebooks reused G, the oracle and the torchrun NL-FT run: no training run was added to the
    # cache, and the NL-FT entry is the one torchrun wrote (notebooks 03/04 add ga_l1 and a 50% run)
    assert _train_entries(runs) == trained
    assert (unlearned / "DONE").stat().st_mtime_ns == done_at
    configs = [json.loads((e / "config.json").read_text())["config"] for e in (runs / "unlearn").iterdir()]
    from mriunlearn.profiles import get_profile

    nl_ft = sorted(c["retain_fraction"] for c in configs if c["method"] == "nl_ft")
    # the torchrun run (the paper profile's retain fraction) and notebook 04's shipped 50% subset
    assert nl_ft == sorted([get_profile("paper").retain_fraction, 0.5])
    for name in NOTEBOOKS:
        nb = nbformat.read(out / f"{name}.ipynb", as_version=4)
        assert "papermill" not in nb.metadata  # volatile metadata stripped as in place
        injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
        assert '"max_steps": 2' in injected.source and str(out / "figures") in injected.source
        assert (out / "html" / f"{name}.html").exists()
    assert any((out / "figures").iterdir())
    text = "".join(o.get("text", "") for c in nbformat.read(out / "04_subset_retain.ipynb", 4).cells
                   if c.cell_type == "code" for o in c.outputs)
    assert "retain subsets from" in text and "50pct" in text  # notebook 04 used the shipped subset
    # notebooks 02/03 scored hallucinations with the paper profile's matrix-free projector, cached in
    # G's and Ĝ's entries (02 computed them, 03 read them), and drew the 3x3 landscape
    for key in trained:
        assert (runs / "train" / key / "hallucination_test_brain_cg.csv").exists()
        assert not (runs / "train" / key / "hallucination_test_brain_eig.csv").exists()
    record = json.loads((out / "figures" / "02_hallucination_scores.json").read_text())
    assert record["profile"]["hallucination_projector"] == "cg"
    assert (out / "figures" / "03_fig4_loss_landscape_points.csv").exists()
    assert not (tmp_path / "stray_figures").exists() and not (tmp_path / "stray_runs").exists()
    assert _tracked_state() == before  # committed notebooks and figures untouched


def test_reproduce_refuses_bad_paths_and_parameters(tmp_path):
    from mriunlearn import reproduce

    with pytest.raises(SystemExit, match=r"--manifest .*nope\.csv does not exist"):
        reproduce.main(["--manifest", str(tmp_path / "nope.csv")])
    with pytest.raises(SystemExit, match=r"--data-root .* is not a folder"):
        (tmp_path / "f").write_text("x")
        reproduce.main(["--data-root", str(tmp_path / "f")])
    with pytest.raises(SystemExit, match=r"--out .* exists and is not a folder"):
        reproduce.main(["--out", str(tmp_path / "f")])
    with pytest.raises(SystemExit, match="max_steps"):
        reproduce.main(["--set", "max_steps=0"])
    with pytest.raises(SystemExit, match=r"-p SEDS: no notebook run declares it; valid parameters: .*SEEDS"):
        reproduce.main(["--only", "04", "-p", "SEDS", "[1]"])


@pytest.mark.slow
def test_full_size_paper_model_takes_a_training_step(fastmri_like):
    from mriunlearn.profiles import get_profile
    from mriunlearn.train import train

    root, _, manifest_csv = fastmri_like
    prof = get_profile("paper", manifest=manifest_csv, data_root=root, max_steps=1, num_workers=0)
    assert (prof.num_cascades, prof.chans, prof.pools, prof.sens_chans, prof.batch_size) == (12, 18, 4, 8, 1)
    res = train(prof, None, ("retain",), cache=False, progress=False)
    assert sum(p.numel() for p in res.model.parameters()) > 29_000_000
    assert res.slice_steps == 1 and len(res.history) == 1
    assert res.history.train_loss.notna().all() and res.history.val_psnr.notna().all()
