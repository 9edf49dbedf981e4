"""``full_ft``: fine-tuning on all of D_r, loss ``J(x_r, y_r)`` (Xue et al., MIDL 2024, Table 1
"Full FT"; the classic FT baseline of Golatkar et al., CVPR 2020 / Warnecke et al., NDSS 2023).

Catastrophic forgetting of D_f is hoped for but, as the paper finds, does not happen in 10% of the
training epochs.
"""

from __future__ import annotations

from . import register
from .base import Method


@register
class FullFT(Method):
    name = "full_ft"
    source = "Fine-tuning on all of D_r (Xue et al., MIDL 2024, 'Full FT')."
    retain_scope = "all"
    uses_forget = False
