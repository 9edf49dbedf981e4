"""``neggrad_plus``: NegGrad+, ``α·J(x_r, y_r) - (1-α)·J(x_f, y_f)`` per pair of a retain and a
forget batch.

Source: :attr:`NegGradPlus.source` (Kurmanji et al., NeurIPS 2023, baseline "NegGrad+"). The
source tunes α per task; the default 0.99 keeps the retain term dominant, as in their best settings.
"""

from __future__ import annotations

from typing import Any

import torch

from . import register
from .base import KURMANJI_2023, Method, Param


@register
class NegGradPlus(Method):
    name = "neggrad_plus"
    summary = "α·J(x_r, y_r) - (1-α)·J(x_f, y_f) per pair of a retain and a forget batch."
    source = (f"{KURMANJI_2023}, baseline 'NegGrad+'; the 'baseline to beat' of the DeepUnlearn "
              "benchmark (Cadet et al., 2024).")
    params = {"alpha": Param(0.99, float, "weight α of the retain term (1-α: forget ascent)", 0.0, 1.0)}

    def schedule(self) -> str:
        return "pair"

    def forget_term(self, batch: Any) -> torch.Tensor:
        return -(1.0 - self.hparams["alpha"]) * self.batch_loss(batch)

    def retain_term(self, batch: Any) -> torch.Tensor:
        return self.hparams["alpha"] * self.batch_loss(batch)
