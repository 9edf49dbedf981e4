"""``ga``: plain gradient ascent on D_f, loss ``-J(x_f, y_f)`` (NegGrad; Golatkar et al., CVPR 2020;
Thudi et al., EuroS&P 2022). Expected to destroy the model on every organ."""

from __future__ import annotations

from typing import Any

import torch

from . import register
from .base import Method


@register
class GA(Method):
    name = "ga"
    summary = "Gradient ascent on D_f: -J(x_f, y_f)."
    source = "Gradient ascent / NegGrad (Golatkar et al., CVPR 2020; Thudi et al., EuroS&P 2022)."
    retain_scope = "none"

    def forget_term(self, batch: Any) -> torch.Tensor:
        return -self.batch_loss(batch)
