"""``ga_l1``: gradient ascent with an ℓ1 penalty, ``-J(x_f, y_f) + γ‖θ‖₁`` on D_f only
(Xue et al., MIDL 2024, "GA-ℓ1").

Variants (recorded in every result):

- ``variant="paper"`` (default): ``-J + γ‖θ‖₁``. The paper does not give γ; the default 5e-4 is the
  ℓ1 weight of Jia et al. (NeurIPS 2023, ℓ1-sparse unlearning), the closest published value.
- ``variant="code"``: the authors' code, read as γ = 1 with the total loss counted twice,
  ``2·(-J + ‖θ‖₁)`` (``gamma`` is then ignored). Under Adam a constant factor on the loss barely
  matters; γ = 1 makes the ℓ1 term dominate, which is why GA-ℓ1 collapses to ≈0 dB in Table 2.
"""

from __future__ import annotations

from typing import Any

import torch

from . import register
from .base import VARIANTS, XUE_2024, Method, Param, l1_norm

GA_L1_PARAMS = {
    "gamma": Param(5e-4, float, "ℓ1 weight γ (paper: unstated; Jia et al. 2023's 5e-4)", 0.0, 10.0),
    "variant": Param("paper", str, "'paper': -J + γ‖θ‖₁; 'code': 2·(-J + ‖θ‖₁)", choices=VARIANTS),
}


@register
class GAL1(Method):
    name = "ga_l1"
    summary = "Gradient ascent with an ℓ1 penalty on D_f: -J(x_f, y_f) + γ‖θ‖₁."
    source = f"{XUE_2024}, Sec. 3 'GA-ℓ1'; authors' code github.com/YuyangXueEd/ReconUnlearning."
    retain_scope = "none"
    params = GA_L1_PARAMS

    def forget_term(self, batch: Any) -> torch.Tensor:
        if self.hparams["variant"] == "code":
            return 2.0 * (-self.batch_loss(batch) + l1_norm(self.model))
        return -self.batch_loss(batch) + self.hparams["gamma"] * l1_norm(self.model)
