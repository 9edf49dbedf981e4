"""Reconstruction losses on the RSS magnitude image."""

from __future__ import annotations

import fastmri
import torch

from .errors import ConfigError
from .profiles import Profile

_SSIM = fastmri.SSIMLoss(win_size=7)


def recon_loss(pred: torch.Tensor, target: torch.Tensor, max_value: torch.Tensor, profile: Profile,
               reduction: str = "mean") -> torch.Tensor:
    """The profile's training loss.

    ``"ssim_l1"`` (the authors' code): ``(1 - SSIM(pred, target; data_range=max_value))
    + l1_weight * L1``; ``"l1"`` (the paper's text): mean absolute error.

    Args:
        pred, target: ``(B, h, w)``.
        max_value: ``(B,)`` SSIM data range (the target volume's maximum).
        reduction: ``"mean"`` -> scalar (mean over the batch), ``"none"`` -> ``(B,)`` per slice.
    """
    if pred.shape != target.shape or pred.ndim != 3:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must both be (B, h, w)")
    pred = pred.float()
    target = target.float()
    l1 = (pred - target).abs().flatten(1).mean(1)
    if profile.loss == "l1":
        per = l1
    elif profile.loss == "ssim_l1":
        ssim_map = _SSIM.to(pred.device)(pred.unsqueeze(1), target.unsqueeze(1),
                                          max_value.to(pred.device).float(), reduced=False)
        per = ssim_map.flatten(1).mean(1) + profile.l1_weight * l1
    else:
        raise ConfigError(f"unknown loss {profile.loss!r}")
    if reduction == "mean":
        return per.mean()
    if reduction == "none":
        return per
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
