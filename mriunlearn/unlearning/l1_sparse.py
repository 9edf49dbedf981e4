"""``l1_sparse``: fine-tuning on D'_r with an ℓ1 penalty, ``J(x_r, y_r) + γ_e‖θ‖₁``.

Source: :attr:`L1Sparse.source` (Jia et al., NeurIPS 2023, "ℓ1-sparse MU"). As in their code,
the weight decays linearly over the unlearning epochs, ``γ_e = γ·(1 - e/E)`` for epoch
``e = 0..E-1``; γ = 5e-4 is their default. Under a ``steps`` budget ``e/E`` is the share of the
steps taken before epoch ``e`` (:meth:`~mriunlearn.unlearning.base.Method.budget_done`).
"""

from __future__ import annotations

from typing import Any

import torch

from . import register
from .base import Method, Param, l1_norm


@register
class L1Sparse(Method):
    name = "l1_sparse"
    summary = "Fine-tune on D'_r with a decaying ℓ1 penalty: J(x_r, y_r) + γ_e‖θ‖₁."
    source = ('Jia, Liu, Ram, Yao, Liu, Liu, Sharma, Liu, "Model Sparsity Can Simplify Machine '
              'Unlearning" (NeurIPS 2023), "ℓ1-sparse MU".')
    uses_forget = False
    params = {
        "gamma": Param(5e-4, float, "initial ℓ1 weight γ (source: 5e-4)", 0.0, 10.0),
        "decay": Param(True, bool, "linear decay γ·(1 - e/E) over the epochs (source: yes)"),
    }

    def retain_term(self, batch: Any) -> torch.Tensor:
        gamma = self.hparams["gamma"]
        if self.hparams["decay"]:
            gamma *= 1.0 - self.budget_done()
        return self.batch_loss(batch) + gamma * l1_norm(self.model)
