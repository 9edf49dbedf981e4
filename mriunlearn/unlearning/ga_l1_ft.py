"""``ga_l1_ft``: GA-ℓ1 on D_f interleaved with fine-tuning on the retain subset D'_r
(Xue et al., MIDL 2024, "GA-ℓ1-FT").

``variant="paper"`` (default): one step per pair (forget batch, retain batch) on the sum
``-J(x_f, y_f) + γ‖θ‖₁ + J(x_r, y_r)``. ``variant="code"``: the authors' code, one shuffled
stream over D_f ∪ D'_r, each step on one batch, forget steps using ``2·(-J + ‖θ‖₁)`` (see
:mod:`~mriunlearn.unlearning.ga_l1`).
"""

from __future__ import annotations

from . import register
from .base import XUE_2024
from .ga_l1 import GAL1


@register
class GAL1FT(GAL1):
    name = "ga_l1_ft"
    summary = "GA-ℓ1 on D_f interleaved with fine-tuning on D'_r."
    source = f"{XUE_2024}, Sec. 3 'GA-ℓ1-FT'."
    retain_scope = "subset"
