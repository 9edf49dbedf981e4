"""``full_ft``: fine-tuning on all of D_r, loss ``J(x_r, y_r)`` (Xue et al., MIDL 2024, Table 1
"Full FT"; the classic FT baseline of Golatkar et al., CVPR 2020 / Warnecke et al., NDSS 2023).

Catastrophic forgetting of D_f is hoped for but, as the paper finds, does not happen in 10% of the
training epochs.
"""

from __future__ import annotations

from . import register
from .base import XUE_2024, Method


@register
class FullFT(Method):
    name = "full_ft"
    summary = "Fine-tune on all of D_r: J(x_r, y_r)."
    source = (f"{XUE_2024}, Table 1 'Full FT'; the classic fine-tuning baseline of Golatkar et al. "
              "(CVPR 2020) and Warnecke et al. (NDSS 2023).")
    retain_scope = "all"
    uses_forget = False
