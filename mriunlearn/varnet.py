"""E2E-VarNet with fastMRI's modules and weights, and a forward pass in native complex arithmetic.

:class:`VarNet` *is* ``fastmri.models.VarNet`` (a subclass): the same sub-modules, parameter names,
shapes and initialisation, so a ``state_dict`` moves freely between the two classes and a checkpoint
of one loads into the other. Only ``forward`` differs, and only in how it computes:

- fastMRI stores complex images as real tensors ``(..., 2)`` and multiplies them with
  ``x[..., 0] * y[..., 0] - x[..., 1] * y[..., 1]`` etc. Every ``x[..., 0]`` is a ``select`` whose
  backward allocates and zero-fills a full-size gradient, and every ``torch.stack`` copies (what
  this costs a training step: ``benchmarks/throughput.py``, ``docs/performance.md``).
- Here k-space and coil images stay complex (``torch.complex64``) from the first FFT to the final
  root-sum-of-squares: coil expansion/reduction are complex multiplies, data consistency is one
  ``torch.where``, the FFTs run directly on complex tensors. The U-Nets still see fastMRI's layout
  (``torch.view_as_real`` is a free view), and run unchanged (``NormUnet`` and ``Unet`` are called
  as they are).
- The centring of the FFTs costs no roll and no per-transform multiply. For even sizes
  ``fft2c(x) = A · F(B · x)`` and ``ifft2c(y) = A · F⁻¹(B · y)`` with real checkerboards ``A = ±B``
  (:func:`mriunlearn.physics.centring_modulations`). The cascades therefore hold k-space as
  ``B · k`` and the coil maps as ``A · S``: then ``sens_reduce`` is ``Σ conj(A·S) F⁻¹(B·k)``,
  ``sens_expand`` gives ``B · k = F((A·S) x)`` and data consistency is unchanged (the mask is the
  same on ``B · k``), so the only modulations left are two for the sensitivity estimate's images
  and one each on the measured k-space and the maps. Multiplying by ±1 is exact and the FFT commutes
  exactly with a sign flip, so outputs and gradients are bit for bit those of the per-transform
  modulations (``tests/test_varnet.py``). Odd sizes keep the rolls.

The maths is identical; results agree with ``fastmri.models.VarNet`` to float32 rounding (outputs and
gradients, checked in ``tests/test_varnet.py``). Autocast never lowers complex ops or FFTs, so under
bf16 autocast only the U-Net convolutions run in bf16, exactly as in fastMRI's forward.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from fastmri.data.transforms import batched_mask_center
from fastmri.models import varnet as fastmri_varnet

from .physics import (centring_modulations, fft2, fft2c_modulated, ifft2, ifft2c_modulated, rss, sense_expand,
                      sense_reduce)

Transform = Callable[[torch.Tensor], torch.Tensor]

def norm_unet(model: fastmri_varnet.NormUnet, x: torch.Tensor) -> torch.Tensor:
    """Apply fastMRI's ``NormUnet`` to complex ``(B, 1, H, W)``; returns complex ``(B, 1, H, W)``."""
    return torch.view_as_complex(model(torch.view_as_real(x)))


def sensitivity_maps(sens_net: fastmri_varnet.SensitivityModel, masked_kspace: torch.Tensor,
                     mask: torch.Tensor, num_low_frequencies: int | torch.Tensor | None) -> torch.Tensor:
    """``SensitivityModel.forward`` in complex form.

    Args:
        sens_net: the VarNet's sensitivity model.
        masked_kspace: real ``(B, C, H, W, 2)`` (fastMRI layout).
        mask: ``(B, 1, 1, W, 1)``; num_low_frequencies: as for fastMRI.

    Returns:
        complex ``(B, C, H, W)`` coil maps with unit root-sum-of-squares over ``C``.
    """
    if sens_net.mask_center:
        pad, num_low = sens_net.get_pad_and_num_low_freqs(mask, num_low_frequencies)
        masked_kspace = batched_mask_center(masked_kspace, pad, pad + num_low)
    images = ifft2c_modulated(torch.view_as_complex(masked_kspace))    # (B, C, H, W)
    b, c, h, w = images.shape
    maps = norm_unet(sens_net.norm_unet, images.reshape(b * c, 1, h, w)).reshape(b, c, h, w)
    return maps / rss(maps).unsqueeze(1)


def cascade(block: fastmri_varnet.VarNetBlock, kspace: torch.Tensor, ref_kspace: torch.Tensor,
            mask: torch.Tensor, sens_maps: torch.Tensor, fft: Transform = fft2c_modulated,
            ifft: Transform = ifft2c_modulated) -> torch.Tensor:
    """``VarNetBlock.forward`` in complex form: soft data consistency minus the U-Net's k-space term.

    Args:
        block: one cascade of the VarNet.
        kspace, ref_kspace, sens_maps: complex ``(B, C, H, W)``.
        mask: bool ``(B, 1, 1, W)``.
        fft, ifft: image -> k-space and back, in the frame ``kspace`` and ``sens_maps`` are held in:
            the centred transforms for plain k-space and maps; the uncentred ``fft2``/``ifft2`` for
            k-space ``B · k`` and maps ``A · S`` (module docstring).

    Returns:
        complex ``(B, C, H, W)``, the cascade's new k-space estimate, in the frame of ``kspace``.
    """
    soft_dc = torch.where(mask, kspace - ref_kspace, 0) * block.dc_weight
    image = sense_reduce(kspace, sens_maps, ifft=ifft)
    model_term = sense_expand(norm_unet(block.model, image), sens_maps, fft=fft)
    return kspace - soft_dc - model_term


def _forward(model: fastmri_varnet.VarNet, masked_kspace: torch.Tensor, mask: torch.Tensor,
             num_low_frequencies: int | torch.Tensor | None, fold: bool) -> torch.Tensor:
    """The complex forward; ``fold``: hold k-space as ``B·k`` and the maps as ``A·S`` (even sizes)."""
    masked_kspace = masked_kspace.contiguous()
    sens_maps = sensitivity_maps(model.sens_net, masked_kspace, mask, num_low_frequencies)
    ref = torch.view_as_complex(masked_kspace)
    fft, ifft = fft2c_modulated, ifft2c_modulated
    mods = centring_modulations(ref) if fold else None
    if mods is not None:
        before, after = mods
        ref, sens_maps = ref * before, sens_maps * after
        fft, ifft = fft2, ifft2
    mask_c = mask[..., 0].bool()
    kspace = ref
    for block in model.cascades:
        kspace = cascade(block, kspace, ref, mask_c, sens_maps, fft, ifft)
    return rss(ifft(kspace))


def centred_forward(model: fastmri_varnet.VarNet, masked_kspace: torch.Tensor, mask: torch.Tensor,
                    num_low_frequencies: int | torch.Tensor | None = None) -> torch.Tensor:
    """:meth:`VarNet.forward` with plain k-space and maps and a centred transform around every FFT.

    The same function, bit for bit, computed the straightforward way: the reference the folded
    forward is checked (``tests/test_varnet.py``) and timed (``benchmarks/breakdown.py``) against.
    Shapes as for :meth:`VarNet.forward`.
    """
    return _forward(model, masked_kspace, mask, num_low_frequencies, fold=False)


class VarNet(fastmri_varnet.VarNet):
    """``fastmri.models.VarNet`` with the complex-arithmetic forward described in the module docstring.

    Constructor arguments, sub-modules and ``state_dict`` are those of ``fastmri.models.VarNet``.
    """

    def forward(self, masked_kspace: torch.Tensor, mask: torch.Tensor,
                num_low_frequencies: int | torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruct.

        Args:
            masked_kspace: real ``(B, C, H, W, 2)`` undersampled multi-coil k-space.
            mask: ``(B, 1, 1, W, 1)`` sampling mask (bool or 0/1).
            num_low_frequencies: fully sampled centre lines (``None``/0: read from ``mask``).

        Returns:
            real ``(B, H, W)`` root-sum-of-squares magnitude image.
        """
        if masked_kspace.shape[-1] != 2:
            raise ValueError(f"masked_kspace must end in a real/imaginary axis of 2, got shape "
                             f"{tuple(masked_kspace.shape)}")
        return _forward(self, masked_kspace, mask, num_low_frequencies, fold=True)
