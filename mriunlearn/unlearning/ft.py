"""``ft``: fine-tuning on the retain subset D'_r (10% by default), loss ``J(x_r, y_r)``
(Xue et al., MIDL 2024, Table 1 "FT")."""

from __future__ import annotations

from . import register
from .base import XUE_2024, Method


@register
class FT(Method):
    name = "ft"
    summary = "Fine-tune on the retain subset D'_r: J(x_r, y_r)."
    source = f"{XUE_2024}, Table 1 'FT'."
    retain_scope = "subset"
    uses_forget = False
