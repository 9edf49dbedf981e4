"""``mriunlearn.export`` and ``python -m mriunlearn export``: trained models leave as TorchScript or a
plain fastMRI state dict that compute what the engine's VarNet computes."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fastmri.models import VarNet as FastmriVarNet

from mriunlearn import export
from mriunlearn.checkpoint import read_model_weights, save_checkpoint
from mriunlearn.cli import main
from mriunlearn.dataset import make_loader
from mriunlearn.errors import CheckpointError, ConfigError, MriUnlearnError
from mriunlearn.model import build_model, varnet_kwargs
from mriunlearn.profiles import get_profile
from mriunlearn.varnet import VarNet


@pytest.fixture(scope="module")
def model(smoke_profile) -> VarNet:
    """A smoke-size engine VarNet whose weights are moved off any fresh initialisation (so an export
    that ignored them could not match)."""
    net = build_model(smoke_profile, seed=7)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return net.eval()


@pytest.fixture(scope="module")
def batch(smoke_profile, smoke_manifest):
    """One evaluation batch of the smoke data: ``masked_kspace (B, C, H, W, 2)``, ``mask (B, 1, 1, W, 1)``."""
    loader = make_loader(smoke_manifest.files("test_brain"), smoke_profile, train=False)
    return next(b for b in loader if b is not None)


def _num_low(batch) -> int:
    return int(torch.as_tensor(batch.num_low_frequencies).flatten()[0])


def _source_file(kind: str, model: VarNet, tmp_path: Path, run_cache) -> Path:
    """The model saved as a run cache's ``model.pt`` or as a training ``checkpoint.pt``."""
    if kind == "model.pt":
        entry = run_cache.entry("train", {"test": "export"}, "0" * 64, 0)
        entry.create()
        return entry.save_model(model)
    return save_checkpoint(tmp_path / "checkpoint.pt", model, torch.optim.Adam(model.parameters()), None,
                           0, {"test": "export"})


def _max_rel(got: torch.Tensor, want: torch.Tensor) -> float:
    assert got.shape == want.shape and float(want.abs().max()) > 0
    return float((got - want).abs().max() / want.abs().max())


@pytest.mark.parametrize("kind", ["model.pt", "checkpoint.pt"])
def test_torchscript_export_computes_what_the_engine_computes(kind, model, batch, smoke_profile, tmp_path,
                                                              run_cache):
    src = _source_file(kind, model, tmp_path, run_cache)
    out = export.export_varnet(read_model_weights(src), smoke_profile, tmp_path / "exported" / "model.ts",
                               source=str(src))
    assert out == tmp_path / "exported" / "model.ts"
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.ts"]  # no temporary file left
    loaded = torch.jit.load(str(out))
    assert isinstance(loaded, torch.jit.ScriptModule)
    kspace, mask = batch.masked_kspace, batch.mask
    b, _, h, w, _ = kspace.shape
    with torch.no_grad():
        for num_low in (None, _num_low(batch)):
            got, want = loaded(kspace, mask, num_low), model(kspace, mask, num_low)
            assert got.shape == (b, h, w)
            assert _max_rel(got, want) < 1e-5, num_low
        # float64: the same function to rounding of float64
        got64 = torch.jit.load(str(out)).double()(kspace.double(), mask, None)
        want64 = copy.deepcopy(model).double()(kspace.double(), mask, None)
    assert got64.dtype == torch.float64
    assert _max_rel(got64, want64) < 1e-10


def test_state_dict_export_is_a_plain_fastmri_varnet(model, batch, smoke_profile, tmp_path, run_cache, same_weights):
    src = _source_file("model.pt", model, tmp_path, run_cache)
    out = export.export_varnet(read_model_weights(src), smoke_profile, tmp_path / "varnet.pt", fmt="state_dict")
    state = torch.load(out, weights_only=True)
    plain = FastmriVarNet(**varnet_kwargs(smoke_profile))
    plain.load_state_dict(state)  # strict: same names and shapes, nothing missing or left over
    ours = model.state_dict()
    assert list(state) == list(ours)
    assert same_weights(state, ours)
    with torch.no_grad():
        assert _max_rel(plain.eval()(batch.masked_kspace, batch.mask, None),
                        model(batch.masked_kspace, batch.mask, None)) < 1e-5


def test_exported_torchscript_runs_without_mriunlearn_or_fastmri(model, batch, smoke_profile, tmp_path):
    out = export.export_varnet(model, smoke_profile, tmp_path / "model.ts")
    with torch.no_grad():
        want = model(batch.masked_kspace, batch.mask, None)
    torch.save({"kspace": batch.masked_kspace, "mask": batch.mask, "want": want}, tmp_path / "io.pt")
    code = ("import sys\n"
            "sys.modules['fastmri'] = None; sys.modules['mriunlearn'] = None  # importing them fails\n"
            "import torch\n"
            "torch.set_num_threads(2)  # the first call of a multi-threaded process is the profiling run\n"
            "m = torch.jit.load(sys.argv[1]); d = torch.load(sys.argv[2], weights_only=True)\n"
            "with torch.no_grad():\n"
            "    first, later = (m(d['kspace'], d['mask'], None) for _ in range(2))\n"
            "err = [float((got - d['want']).abs().max() / d['want'].abs().max()) for got in (first, later)]\n"
            f"assert err[0] < {export.FIRST_CALL_RTOL} and err[1] < 1e-5, err\n"
            "print('standalone ok')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", code, str(out), str(tmp_path / "io.pt")], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0 and "standalone ok" in proc.stdout, proc.stderr[-2000:]


def test_unreadable_or_foreign_files_are_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt not found"):
        read_model_weights(tmp_path / "nope.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match=r"garbage\.pt is corrupt or unreadable"):
        read_model_weights(garbage)
    listing = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], listing)
    with pytest.raises(CheckpointError, match=r"list\.pt holds neither a mriunlearn checkpoint nor a model state"):
        read_model_weights(listing)


def test_wrong_architecture_is_refused_naming_the_file(model, tmp_path, run_cache):
    src = _source_file("model.pt", model, tmp_path, run_cache)
    out = tmp_path / "out" / "model.ts"
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(src))} does not hold a VarNet of profile 'default'"
                                              r"'s architecture \(num_cascades=4.*size mismatch"):
        export.export_varnet(read_model_weights(src), get_profile("default"), out, source=str(src))
    assert not out.exists()


def test_a_failed_check_leaves_the_old_file_and_no_temporary(model, smoke_profile, tmp_path, monkeypatch):
    out = tmp_path / "model.ts"
    out.write_bytes(b"old")
    monkeypatch.setattr(export, "relative_error", lambda got, want: 1.0)
    with pytest.raises(MriUnlearnError, match=r"does not reproduce the engine's VarNet.*model\.ts was not written"):
        export.export_varnet(model, smoke_profile, out)
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.ts"]
    with pytest.raises(ConfigError, match="unknown export format 'onnx'; valid formats: torchscript, state_dict"):
        export.export_varnet(model, smoke_profile, out, fmt="onnx")


def test_cli_exports_original_unlearned_and_checkpoint(smoke_data, batch, tmp_path, capsys, same_weights):
    manifest, root = smoke_data
    runs = tmp_path / "runs"
    common = ["--profile", "smoke", "--manifest", str(manifest), "--data-root", str(root), "--runs", str(runs),
              "--no-progress"]
    assert main(["export", *common, "--out", str(tmp_path / "g.ts")]) == 0  # trains G first
    (g_entry,) = [p.parent for p in (runs / "train").glob("*/model.pt")]
    assert f"original model ({g_entry / 'model.pt'}) -> {tmp_path / 'g.ts'} (torchscript" in capsys.readouterr().out
    g = VarNet(**varnet_kwargs(get_profile("smoke")))
    g.load_state_dict(torch.load(g_entry / "model.pt", weights_only=True))
    with torch.no_grad():
        assert _max_rel(torch.jit.load(str(tmp_path / "g.ts"))(batch.masked_kspace, batch.mask, None),
                        g.eval()(batch.masked_kspace, batch.mask, None)) < 1e-5

    assert main(["export", *common, "--method", "nl_ft", "--epochs", "1", "--format", "state_dict",
                 "--out", str(tmp_path / "nl_ft.pt")]) == 0
    (u_model,) = (runs / "unlearn").glob("*/model.pt")
    assert f"unlearned model nl_ft ({u_model})" in capsys.readouterr().out
    got, want = torch.load(tmp_path / "nl_ft.pt", weights_only=True), torch.load(u_model, weights_only=True)
    assert list(got) == list(want) and same_weights(got, want)

    assert main(["export", "--profile", "smoke", "--checkpoint", str(g_entry / "checkpoint.pt"),
                 "--out", str(tmp_path / "ckpt.ts")]) == 0
    assert isinstance(torch.jit.load(str(tmp_path / "ckpt.ts")), torch.jit.ScriptModule)
    capsys.readouterr()


@pytest.mark.parametrize("argv,message", [
    (["--checkpoint", "{tmp}/missing.pt"], r"error: checkpoint .*missing\.pt not found"),
    (["--profile", "default", "--checkpoint", "{ckpt}"],
     r"error: .*model\.pt does not hold a VarNet of profile 'default'"),
    (["--param", "noise_std=0", "--seed", "3"],
     r"error: --param, --seed: only for an unlearned model \(give --method\)"),
    (["--format", "onnx"], "error: unknown export format 'onnx'; valid formats: torchscript, state_dict"),
])
def test_cli_export_errors(argv, message, model, tmp_path, run_cache, capsys):
    ckpt = _source_file("model.pt", model, tmp_path, run_cache)
    argv = [a.format(tmp=tmp_path, ckpt=ckpt) for a in argv]
    out = tmp_path / "never.ts"
    assert main(["export", "--profile", "smoke", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.match(message, err), err
    assert not out.exists()


def test_export_help_names_the_formats(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    out = capsys.readouterr().out
    assert all(fmt in out for fmt in export.FORMATS) and "--checkpoint" in out and "nl_ft:" in out
