"""The engine's complex-arithmetic VarNet computes exactly what ``fastmri.models.VarNet`` computes."""

from __future__ import annotations

import fastmri
import pytest
import torch
from fastmri.models import VarNet as FastmriVarNet

from mriunlearn.model import build_model
from mriunlearn.profiles import get_profile
from mriunlearn.physics import fft2c_modulated, ifft2c_modulated
from mriunlearn.varnet import VarNet, centred_forward

SIZE = dict(num_cascades=2, sens_chans=4, sens_pools=2, chans=4, pools=2)


def _pair(dtype: torch.dtype) -> tuple[FastmriVarNet, VarNet]:
    torch.manual_seed(3)
    ref = FastmriVarNet(**SIZE).to(dtype)
    ours = VarNet(**SIZE).to(dtype)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _inputs(h: int, w: int, dtype: torch.dtype, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Random multi-coil k-space ``(B, 3, h, w, 2)`` under an equispaced mask with an 8-line centre."""
    g = torch.Generator().manual_seed(h * 1000 + w)
    mask = torch.zeros(1, 1, 1, w, 1, dtype=torch.bool)
    mask[..., ::4, :] = True
    mask[..., w // 2 - 4:w // 2 + 4, :] = True
    kspace = torch.randn(batch, 3, h, w, 2, generator=g, dtype=dtype) * 1e-4
    return kspace * mask, mask.expand(batch, -1, -1, -1, -1)


@pytest.mark.parametrize("h,w", [(32, 32), (34, 30), (33, 31)])  # N/2 even, N/2 odd, odd sizes
def test_centred_ffts_match_fastmri(h, w):
    x = torch.randn(2, 3, h, w, 2, dtype=torch.float64)
    xc = torch.view_as_complex(x)
    torch.testing.assert_close(torch.view_as_real(fft2c_modulated(xc)), fastmri.fft2c(x), rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.view_as_real(ifft2c_modulated(xc)), fastmri.ifft2c(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("num_low", [8, None])  # given, or read from the mask
@pytest.mark.parametrize("h,w", [(32, 32), (34, 30), (33, 31)])
def test_forward_and_gradients_equal_fastmri_in_float64(h, w, num_low):
    ref, ours = _pair(torch.float64)
    kspace, mask = _inputs(h, w, torch.float64)
    outs = []
    for model in (ref, ours):
        out = model(kspace, mask, num_low)
        (out ** 2).mean().backward()
        outs.append(out)
    assert outs[1].shape == outs[0].shape == (2, h, w)
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-10, atol=0)
    grads = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        g_ref = grads[name].grad
        assert p.grad is not None, name
        err = (p.grad - g_ref).norm() / g_ref.norm().clamp_min(1e-300)
        assert err < 1e-9, (name, float(err))


def test_float32_forward_agrees_to_rounding():
    ref, ours = _pair(torch.float32)
    kspace, mask = _inputs(32, 32, torch.float32)
    with torch.no_grad():
        a, b = ref(kspace, mask, 8), ours(kspace, mask, 8)
    assert float((a - b).abs().max() / a.abs().max()) < 1e-5


@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("h,w", [(32, 32), (34, 32)])  # H/2 + W/2 even, odd: A = +B, A = -B
def test_folded_modulations_are_bit_for_bit_the_centred_forward(h, w, bf16):
    """Holding k-space as B·k and the maps as A·S only moves exact sign flips: outputs and every
    parameter gradient equal the per-transform centred forward's to the bit, in fp32 and under bf16
    autocast (the training path), with channels-last weights as the engine builds them."""
    _, ours = _pair(torch.float32)
    ours = ours.to(memory_format=torch.channels_last)
    kspace, mask = _inputs(h, w, torch.float32)
    results = []
    for forward in (centred_forward, VarNet.forward):
        ours.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = forward(ours, kspace, mask, None)
        (out.float() ** 2).mean().backward()
        results.append((out.detach(), {n: p.grad.clone() for n, p in ours.named_parameters()}))
    (out_ref, grads_ref), (out, grads) = results
    assert out.abs().max() > 0
    assert torch.equal(out, out_ref)
    for name, g in grads.items():
        assert grads_ref[name].abs().max() > 0 or name.endswith("dc_weight"), name
        assert torch.equal(g, grads_ref[name]), name


def test_state_dict_is_fastmris():
    """Checkpoints move both ways between the engine's model and fastMRI's."""
    ours = build_model(get_profile("smoke"))
    assert isinstance(ours, FastmriVarNet)
    plain = FastmriVarNet(num_cascades=len(ours.cascades), sens_chans=ours.sens_net.norm_unet.unet.chans,
                          sens_pools=ours.sens_net.norm_unet.unet.num_pool_layers,
                          chans=ours.cascades[0].model.unet.chans,
                          pools=ours.cascades[0].model.unet.num_pool_layers)
    assert list(plain.state_dict()) == list(ours.state_dict())
    plain.load_state_dict(ours.state_dict())  # strict: no missing or unexpected keys
    ours.load_state_dict(plain.state_dict())


def test_rejects_kspace_without_complex_axis():
    _, ours = _pair(torch.float32)
    kspace, mask = _inputs(32, 32, torch.float32)
    with pytest.raises(ValueError, match="real/imaginary axis"):
        ours(kspace[..., 0], mask, 8)
