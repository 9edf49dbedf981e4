"""The benchmark code runs on the smoke profile and produces the expected tables (no timing checks)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import (
    breakdown,
    common,
    datapath,
    e2e,
    gpu_smoke,
    precision,
    scale,
    throughput,
    unlearning_cost,
)
from benchmarks.__main__ import main as bench_main

torch.set_num_threads(1)


def test_interleave_rotates_order_and_counts_items():
    calls = []
    units = {name: (lambda name=name: calls.append(name) or 4) for name in "abc"}
    ticks = iter(range(1000))
    rates = common.interleave(units, reps=3, warmup=1, clock=lambda: float(next(ticks)))
    assert calls[:3] == ["a", "b", "c"]  # warm-up
    assert calls[3:6] == ["a", "b", "c"] and calls[6:9] == ["b", "c", "a"] and calls[9:] == ["c", "a", "b"]
    assert {k: len(v) for k, v in rates.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(r == 4.0 for v in rates.values() for r in v)  # 4 items per 1-tick unit
    s = common.summarize([1.0, 2.0, 3.0, 10.0])
    assert s["median"] == 2.5 and s["min"] == 1.0 and s["max"] == 10.0 and s["n"] == 4
    assert common.paired_ratios([2.0, 6.0], [1.0, 3.0]) == [2.0, 2.0]


def test_throughput_ablation_rows_and_columns(smoke_profile, smoke_manifest, tmp_path):
    stray = Path.cwd() / "dataset_cache.pkl"
    had_stray = stray.exists()
    sec = throughput.run(smoke_profile, smoke_manifest, reps=1, warmup=0, threads=1, workdir=tmp_path)
    names = [r["row"] for r in sec["rows"]]
    assert names == ["reference", "+ in-memory data", f"+ batch {smoke_profile.batch_size}",
                     "+ bf16 autocast", "+ channels-last", "+ complex forward",
                     "engine (as shipped)"]
    for row in sec["rows"]:
        assert set(throughput.COLUMNS) <= set(row)
        assert row["slices_per_s"] > 0
    assert sec["rows"][0]["x_reference"] == 1.0
    assert isinstance(sec["pass"], bool) and "target >= 4x" in sec["check"]
    assert "| reference |" in sec["markdown"]
    assert stray.exists() == had_stray  # fastMRI's dataset cache file never lands in the cwd


def test_breakdown_parts_and_derived_physics(smoke_profile, smoke_manifest):
    sec = breakdown.run(smoke_profile, smoke_manifest, reps=1, warmup=0)
    rows = {r["part"]: r for r in sec["rows"]}
    n = smoke_profile.num_cascades
    assert list(rows) == ["train step", "forward + backward", "sensitivity network", f"cascade U-Nets (x{n})",
                          "k-space physics (derived)", "loss", "clip + Adam", "forward + backward, centred FFTs"]
    assert all(r["ms_per_step"] > 0 for p, r in rows.items() if not p.startswith("k-space"))
    physics = (rows["forward + backward"]["ms_per_step"] - rows["sensitivity network"]["ms_per_step"]
               - rows[f"cascade U-Nets (x{n})"]["ms_per_step"])
    assert rows["k-space physics (derived)"]["ms_per_step"] == pytest.approx(physics)
    step = rows["train step"]["ms_per_step"]
    assert rows["train step"]["share_of_step"] == 1.0
    assert rows["loss"]["share_of_step"] == pytest.approx(rows["loss"]["ms_per_step"] / step)
    assert sec["fold_speedup"] > 0 and "same bits" in sec["check"] and "| sensitivity network |" in sec["markdown"]


def test_datapath_and_precision_sections(smoke_profile, smoke_manifest):
    dp = datapath.run(smoke_profile, smoke_manifest, reps=1, warmup=0, train_batches=1)
    assert [r["unit"] for r in dp["rows"]] == ["loader epoch (alone)", "training step"]
    assert dp["rows"][0]["slices_per_unit"] == smoke_manifest.num_slices("retain")
    assert dp["ratio"]["median"] > 0 and "target >= 10x" in dp["check"]
    pr = precision.run(smoke_profile, smoke_manifest, epochs=1)
    assert [r["precision"] for r in pr["rows"]] == ["fp32", "bf16", precision.NUDGED, "bf16 (eval)"]
    seed = smoke_profile.seed
    assert [r["seed"] for r in pr["rows"]] == [seed] * 4
    psnr = [r["val_psnr_db"] for r in pr["rows"]]
    assert pr["diff_db"] == pytest.approx(psnr[1] - psnr[0])
    assert pr["floor_diff_db"] == pytest.approx(psnr[2] - psnr[0])
    assert pr["floor_diff_db"] != 0.0  # the nudge reaches the result (1 epoch: chaos has not grown yet)
    assert abs(pr["floor_diff_db"]) < 0.05
    assert pr["seed_diff_db"] is None and pr["epochs"] == 1 and "noise floor" in pr["check"]
    assert pr["pass"] is None and pr["check"].startswith("bf16 vs fp32: not judged (needs ≥ 5 seeds); seeds run: 1")
    two = precision.run(smoke_profile, smoke_manifest, epochs=1, seeds=2)
    assert [(r["precision"], r["seed"]) for r in two["rows"]] == [
        ("fp32", seed), ("bf16", seed), (precision.NUDGED, seed),
        ("fp32", seed + 1), ("bf16", seed + 1), (precision.NUDGED, seed + 1), ("bf16 (eval)", seed)]
    assert two["paired_diffs_db"][0] == pytest.approx(pr["diff_db"])  # same seed, same numbers
    assert two["floor_diffs_db"][0] == pytest.approx(pr["floor_diff_db"])
    assert two["seed_diff_db"] == pytest.approx(two["rows"][3]["val_psnr_db"] - two["rows"][0]["val_psnr_db"])
    assert two["paired_mean_db"] == pytest.approx(sum(two["paired_diffs_db"]) / 2)
    assert two["paired_low_db"] <= two["paired_mean_db"] <= two["paired_high_db"]
    assert two["verdict"] == "not judged" and "not judged (needs ≥ 5 seeds); seeds run: 2" in two["check"]
    bare = precision.run(smoke_profile, smoke_manifest, epochs=1, control=False)
    assert [r["precision"] for r in bare["rows"]] == ["fp32", "bf16", "bf16 (eval)"]
    assert bare["floor_diff_db"] is None and bare["diff_db"] == pytest.approx(pr["diff_db"])
    assert all(set(precision.COLUMNS) <= set(r) for r in pr["rows"])


#: the last 5-seed measurement (seeds 42-46, default profile, 15 epochs): bf16 - fp32, nudged - fp32
MEASURED_BF16 = [0.129, 0.098, -0.157, 0.046, -0.146]
MEASURED_FLOOR = [0.122, 0.346, -0.302, 0.028, -0.042]


def test_bf16_rule_passes_the_last_measurement():
    j = precision.judge_bf16(MEASURED_BF16, MEASURED_FLOOR)
    assert j["verdict"] == "PASS" and j["pass"] is True and j["n"] == 5
    assert j["mean"] == pytest.approx(-0.006) and j["low"] == pytest.approx(-0.1751, abs=1e-4)
    assert j["high"] == pytest.approx(0.1631, abs=1e-4)
    assert j["mean_abs_bf16"] == pytest.approx(0.1152) and j["mean_abs_floor"] == pytest.approx(0.168)
    assert j["text"] == ("bf16 vs fp32 over 5 seeds (paired): mean -0.006 dB, 95% interval [-0.175, +0.163] "
                         "inside ±0.2 dB; mean |bf16 - fp32| 0.115 dB <= one-ulp floor mean |nudged - fp32| "
                         "0.168 dB: PASS")


def test_bf16_rule_fails_when_the_interval_leaves_the_bound():
    # |bf16 - fp32| is small against a large floor, but the differences lean one way: interval [+0.12, +0.28]
    j = precision.judge_bf16([0.15, 0.25, 0.2, 0.18, 0.22], [0.5, -0.5, 0.5, -0.5, 0.5])
    assert j["floor_ok"] is True and j["interval_inside"] is False
    assert j["low"] > 0 and j["high"] > 0.2
    assert j["verdict"] == "FAIL" and j["pass"] is False and "NOT inside ±0.2 dB" in j["text"]
    assert j["text"].endswith("FAIL")
    # the bound is inclusive: a (mean 0, symmetric) interval ending exactly at ±bound is inside
    centred = [0.1, -0.1, 0.1, -0.1, 0.0]
    half = precision.judge_bf16(centred, [0.3] * 5)["high"]
    assert precision.judge_bf16(centred, [0.3] * 5, bound_db=half)["interval_inside"] is True
    assert precision.judge_bf16(centred, [0.3] * 5, bound_db=half * 0.999)["interval_inside"] is False


def test_bf16_rule_fails_when_bf16_moves_more_than_the_one_ulp_floor():
    j = precision.judge_bf16(MEASURED_BF16, [x / 10 for x in MEASURED_FLOOR])
    assert j["interval_inside"] is True and j["floor_ok"] is False
    assert j["verdict"] == "FAIL" and j["pass"] is False
    assert "0.115 dB > one-ulp floor mean |nudged - fp32| 0.017 dB: FAIL" in j["text"]
    same = precision.judge_bf16(MEASURED_BF16, [-x for x in MEASURED_BF16])  # equal means pass the floor
    assert same["floor_ok"] is True and same["verdict"] == "PASS"


def test_bf16_rule_needs_five_seeds_and_the_floor():
    for n in range(5):
        j = precision.judge_bf16(MEASURED_BF16[:n], MEASURED_FLOOR[:n])
        assert j["verdict"] == "not judged" and j["pass"] is None
        assert j["text"] == f"bf16 vs fp32: not judged (needs ≥ 5 seeds); seeds run: {n}"
    j = precision.judge_bf16(MEASURED_BF16, [])
    assert j["pass"] is None and "needs the one-ulp floor runs" in j["text"]
    with pytest.raises(ValueError, match="floor has 4 values for 5 paired differences"):
        precision.judge_bf16(MEASURED_BF16, MEASURED_FLOOR[:4])


def _stored_precision(bf16: list[float], floor: list[float]) -> dict:
    rows = []
    for i, seed in enumerate(range(42, 47)):
        for kind, psnr in (("fp32", 25.0), ("bf16", 25.0 + bf16[i]), (precision.NUDGED, 25.0 + floor[i])):
            rows.append({"run": f"train {kind}, seed {seed}", "precision": kind, "seed": seed, "epochs": 15,
                         "val_psnr_db": psnr, "val_loss": 0.17, "train_s": 160.0})
    rows.append({"run": "fp32 weights, bf16 inference, seed 42", "precision": "bf16 (eval)", "seed": 42,
                 "epochs": 15, "val_psnr_db": 24.99, "val_loss": 0.18, "train_s": None})
    return {"machine": {"cpu": "stored", "date": "2026-11-26T22:05:43+00:00"}, "profile": "default", "epochs": 15,
            "seeds": list(range(42, 47)), "rows": rows, "check": "an older rule: FAIL", "pass": False,
            "markdown": "an older rule: FAIL"}


def test_precision_rejudge_applies_todays_rule_to_the_stored_runs(tmp_path):
    out = tmp_path / "results"
    with pytest.raises(SystemExit, match="no precision section"):
        bench_main(["precision", "--rejudge", "--out", str(out)])
    common.write_results({"precision": _stored_precision(MEASURED_BF16, MEASURED_FLOOR)}, out, merge=False)
    assert bench_main(["precision", "--rejudge", "--out", str(out)]) == 0
    sec = common.load_results(out)["precision"]
    assert sec["verdict"] == "PASS" and sec["pass"] is True
    assert sec["paired_diffs_db"] == pytest.approx(MEASURED_BF16) and sec["floor_diffs_db"] == pytest.approx(MEASURED_FLOOR)
    assert sec["machine"]["cpu"] == "stored"  # the measurement's machine and date, not today's
    assert "from the runs measured 2026-11-26T22:05:43+00:00 (no training repeated)" in sec["markdown"]
    assert "95% interval [-0.175, +0.163]" in sec["check"] and "older rule" not in (out / "latest.md").read_text()
    # the same stored runs with a bf16 that moves more than the floor: FAIL by the same code path
    common.write_results({"precision": _stored_precision(MEASURED_BF16, [x / 10 for x in MEASURED_FLOOR])}, out,
                         merge=False)
    assert bench_main(["precision", "--rejudge", "--out", str(out)]) == 0
    assert common.load_results(out)["precision"]["verdict"] == "FAIL"


def test_nudge_one_ulp_moves_every_float_by_one_ulp():
    state = {"w": torch.tensor([0.0, 1.0, -2.5, 3e-30]), "n": torch.tensor([3, 4])}
    out = precision.nudge_one_ulp(state)
    assert torch.equal(out["n"], state["n"])
    assert bool((out["w"] > state["w"]).all())
    assert torch.equal(torch.nextafter(out["w"], torch.full_like(out["w"], -math.inf)), state["w"])


def test_unlearning_cost_table(smoke_profile, smoke_manifest, tmp_path):
    sec = unlearning_cost.run(smoke_profile, smoke_manifest, tmp_path / "runs", methods=["nl_ft", "ft"])
    rows = {r["method"]: r for r in sec["rows"]}
    assert list(rows) == ["retrain", "nl_ft", "ft"]
    assert rows["retrain"]["steps_fraction"] == 1.0
    assert all(set(unlearning_cost.COLUMNS) <= set(r) for r in rows.values())
    assert rows["nl_ft"]["slice_steps"] > 0 and rows["nl_ft"]["check"] in ("PASS", "FAIL")
    assert rows["nl_ft"]["steps_fraction"] == rows["nl_ft"]["slice_steps"] / sec["oracle"]["slice_steps"]
    # a second call finds G and the oracle in the benchmark's cache
    again = unlearning_cost.run(smoke_profile, smoke_manifest, tmp_path / "runs", methods=["nl"])
    assert again["oracle"]["cached"] and again["original_cached"]


def test_e2e_with_a_dummy_command(tmp_path):
    cmd = (f"{sys.executable} -c \"import os, pathlib; b = bytearray(40 * 2**20); "
           f"pathlib.Path(os.environ['MRIUNLEARN_RUNS'], 'x').touch()\"")
    runs = tmp_path / "runs"
    runs.mkdir()
    sec = e2e.run(cmd, runs_dir=runs)
    assert [r["run"] for r in sec["rows"]] == ["first (empty run cache)", "re-run (cached)"]
    assert sec["ok"] and (runs / "x").exists()  # the command saw the benchmark's run cache
    assert all(r["peak_rss_mib"] >= 40 for r in sec["rows"])  # the child's 40 MiB buffer is counted
    with pytest.raises(ValueError, match="not empty"):
        e2e.run(cmd, runs_dir=runs)


def test_main_writes_results_and_keeps_other_sections(tmp_path, capsys):
    out = tmp_path / "results"
    (out).mkdir()
    (out / "latest.json").write_text(json.dumps({"throughput": {"markdown": "old table", "machine": {}}}))
    cmd = f"{sys.executable} -c pass"
    assert bench_main(["e2e", "--e2e-command", cmd, "--out", str(out)]) == 0
    data = json.loads((out / "latest.json").read_text())
    assert set(data) == {"throughput", "e2e"} and data["throughput"]["markdown"] == "old table"
    assert data["e2e"]["machine"]["cpu"] and data["e2e"]["machine"]["torch"] == torch.__version__
    md = (out / "latest.md").read_text()
    assert "## e2e" in md and "old table" in md and "first (empty run cache)" in md
    with pytest.raises(SystemExit):
        bench_main(["no-such-mode"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the skip path of a machine without CUDA")
def test_gpu_smoke_skips_cleanly_without_cuda(capsys):
    assert gpu_smoke.main(["--steps", "1", "--coils", "2"]) == 0
    assert "skipped" in capsys.readouterr().out


def test_gpu_smoke_synthetic_batch_trains_on_cpu(smoke_profile):
    from mriunlearn.model import build_model
    from mriunlearn.train import make_optimizer, train_step

    batch = gpu_smoke.synthetic_batch(2, 3, 32, smoke_profile)
    assert batch.masked_kspace.shape == (2, 3, 32, 32, 2) and batch.target.shape == (2, 32, 32)
    model = build_model(smoke_profile).train()
    loss = train_step(model, make_optimizer(model, smoke_profile), batch, smoke_profile)
    assert loss == loss and loss > 0  # finite, positive


def test_gpu_smoke_step_loop_runs_on_cpu():
    """The timed loop of the GPU smoke (everything but the CUDA calls) on a tiny paper-shaped model."""
    res = gpu_smoke.run_steps(torch.device("cpu"), steps=1, coils=2, size=32, batch=1, cascades=1,
                              precision="fp32", warmup=0, chans=2, pools=1, sens_chans=2, sens_pools=1)
    assert res["device"] == "cpu" and res["cascades"] == 1 and res["size"] == 32
    assert res["slices_per_s"] > 0 and res["ms_per_step"] > 0 and res["peak_memory_gib"] is None
    fb = res["forward_backward_ms"]
    assert fb["folded"] > 0 and fb["centred"] > 0
    assert fb["centred_over_folded"] == pytest.approx(fb["centred"] / fb["folded"])


#: a shrunk model and fastMRI-like files small enough for seconds-long scale checks
TINY_SCALE = {"coils": 2, "hw": (64, 32),
              "model": {"num_cascades": 1, "chans": 2, "pools": 1, "sens_chans": 2, "sens_pools": 1}}


def test_scale_growth_verdict_rule():
    assert scale.growth_verdict(1000.0, 1000.0) == (1.0, True)
    assert scale.growth_verdict(1000.0, 1200.0) == (pytest.approx(1.2), True)  # at the limit: PASS
    ratio, ok = scale.growth_verdict(1000.0, 1250.0)
    assert ratio == pytest.approx(1.25) and not ok  # grew past 1.2x: FAIL
    assert scale.growth_verdict(500.0, 1900.0)[1] is False  # the in-memory path's shape
    assert scale.growth_verdict(100.0, 150.0, limit=2.0) == (1.5, True)
    with pytest.raises(ValueError):
        scale.growth_verdict(0.0, 10.0)


def test_scale_volumes_are_fastmri_shaped(tmp_path):
    from mriunlearn.fastmri_h5 import inspect_volume

    files = scale.write_volumes(tmp_path, 2, slices=2, coils=3, hw=(64, 32))
    assert [f.parent.name for f in files] == ["brain_multicoil_train"] * 2
    assert files[0].name.startswith("file_brain_AXT2_") and files[0].name != files[1].name
    info = inspect_volume(files[0])
    assert info.num_slices == 2 and info.num_coils == 3 and tuple(info.kspace_shape) == (64, 32)
    assert tuple(info.crop_size) == (32, 32)


@pytest.mark.slow
def test_scale_section_at_tiny_size(tmp_path):
    """Every run measured in its own process; ratios and verdicts come from the measured peaks."""
    sec = scale.run(volumes=2, slices=2, factor=2, num_workers=1, threads=1, loader_workers=(0, 1),
                    loader_reps=1, workdir=tmp_path / "w", **TINY_SCALE)
    rows = sec["rows"]
    assert [(r["data_path"], r["task"], r["volumes"]) for r in rows] == [
        (p, t, v) for p in ("stream", "memory") for t in ("train", "eval") for v in (2, 4)]
    for r in rows:
        assert set(scale.MEMORY_COLUMNS) <= set(r)
        assert r["peak_mib"] == max(r["main_peak_mib"], r["children_peak_mib"]) > 50  # torch alone is more
        assert r["slices"] == 2 * r["volumes"]
        assert r["steps"] == (r["slices"] if r["task"] == "train" else 0)
    for key, c in sec["criteria"].items():
        path, task = key.split()
        small, large = (r for r in rows if r["data_path"] == path and r["task"] == task)
        assert c["ratio"] == pytest.approx(large["peak_mib"] / small["peak_mib"])
        assert c["ok"] == (c["ratio"] <= scale.RATIO_LIMIT)
    assert sec["pass"] == (sec["criteria"]["stream train"]["ok"] and sec["criteria"]["stream eval"]["ok"])
    assert [r["unit"] for r in sec["loader_rows"]] == ["loader, 0 workers", "loader, 1 workers", "training step"]
    assert all(r["slices_per_s"] > 0 for r in sec["loader_rows"])
    assert sec["loader_rows"][-1]["x_training"] == 1.0
    assert sec["separates"] == {t: not sec["criteria"][f"memory {t}"]["ok"] for t in ("train", "eval")}
    md = sec["markdown"]
    assert "stream train: peak x" in md and "memory eval: peak x" in md and "for contrast" in md
    for task, sep in sec["separates"].items():  # whether the in-memory contrast fails the criterion is said
        line = next(x for x in md.splitlines() if x.startswith(f"- memory {task}:"))
        assert ("tells the paths apart" in line) == sep and ("too small" in line) == (not sep)
    assert sec["header_check_ms_per_volume"] > 0 and "ms per volume over 4 files" in md
    assert "| loader, 1 workers |" in md and ("PASS" in sec["check"] or "FAIL" in sec["check"])


def test_scale_child_caps_training_steps(tmp_path):
    files = scale.write_volumes(tmp_path, 2, slices=2, coils=2, hw=(64, 32))
    csv = scale.write_manifest(tmp_path, files, "retain", "m.csv", 2)
    rec = scale.measure({"task": "train", "data_path": "stream", "manifest": str(csv),
                         "data_root": str(tmp_path), "num_workers": 0, "threads": 1,
                         "model": TINY_SCALE["model"], "max_steps": 3})
    assert rec["steps"] == 3 and rec["slices"] == 4 and rec["peak_mib"] > 0


def test_main_scale_writes_only_to_out(tmp_path, monkeypatch):
    seen = {}

    def fake_run(**kwargs):
        seen.update(kwargs)
        return {"machine": common.machine_info(), "markdown": "scale table", "pass": True}

    monkeypatch.setattr(scale, "run", fake_run)
    before = (common.RESULTS_DIR / "latest.json").read_bytes() if (common.RESULTS_DIR / "latest.json").exists() else None
    out = tmp_path / "results"
    assert bench_main(["scale", "--scale-volumes", "3", "--scale-max-steps", "0", "--out", str(out)]) == 0
    assert seen["volumes"] == 3 and seen["max_steps"] is None and seen["factor"] == 4
    assert "## scale" in (out / "latest.md").read_text()
    after = (common.RESULTS_DIR / "latest.json").read_bytes() if (common.RESULTS_DIR / "latest.json").exists() else None
    assert after == before  # the committed results are untouched


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the skip path of a machine without CUDA")
def test_gpu_smoke_paper_scale_skips_cleanly_without_cuda(capsys):
    assert gpu_smoke.main(["--paper-scale"]) == 0
    assert "skipped" in capsys.readouterr().out


def test_gpu_smoke_paper_scale_loop_runs_on_cpu(capsys):
    """The paper-scale loop (files, streaming loader with a worker, fed training) with a tiny model."""
    assert gpu_smoke.main(["--paper-scale", "--device", "cpu", "--tiny", "--volumes", "2", "--slices", "2",
                           "--workers", "1", "--epochs", "1", "--precision", "fp32"]) == 0
    out = capsys.readouterr().out
    for field in ("loader slices/s", "training slices/s", "peak GPU memory", "50 epochs", "16700 slices"):
        assert field in out
    res = json.loads(out[out.index("\n{") + 1:])
    assert res["device"] == "cpu" and res["model"]["num_cascades"] == 1 and res["workers"] == 1
    assert res["train_slices"] == res["dataset_slices"] == 4
    assert res["loader_slices_per_s"] > 0 and res["train_slices_per_s"] > 0 and res["peak_memory_gib"] is None
    assert res["paper_slices_per_epoch"] == 1000 * 16 + 20 * 35
    assert res["paper_hours_extrapolated"] == pytest.approx(
        50 * (16700 / res["train_steady_slices_per_s"] + res["loader_startup_s"]) / 3600)
    # the engine check: G trained and unlearned (NL-FT, with its evaluation) on this process's device
    engine = res["engine"]
    assert "engine path" in out and ": PASS" in out
    assert engine["ok"] and engine["expected_device"] == "cpu"
    assert engine["train_devices"] == engine["unlearn_devices"] == ["cpu"]
    assert engine["method"] == "nl_ft" and engine["max_steps"] == 2 and engine["model"]["num_cascades"] == 1
    assert all(math.isfinite(engine[c]) for c in ("bta", "kta", "ua"))


def test_gpu_smoke_engine_verdict_fails_when_a_phase_left_the_device():
    assert gpu_smoke.devices_ok(["cuda:0"], ["cuda:0"], "cuda:0")
    assert not gpu_smoke.devices_ok(["cuda:0"], ["cpu"], "cuda:0")  # unlearning stayed on the CPU
    assert not gpu_smoke.devices_ok(["cuda:0"], ["cpu", "cuda:0"], "cuda:0")  # part of it
    assert not gpu_smoke.devices_ok(["cuda:0"], [], "cuda:0")  # nothing ran: not a pass
