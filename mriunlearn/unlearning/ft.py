"""``ft``: fine-tuning on the retain subset D'_r (10% by default), loss ``J(x_r, y_r)``
(Xue et al., MIDL 2024, Table 1 "FT")."""

from __future__ import annotations

from . import register
from .base import Method


@register
class FT(Method):
    name = "ft"
    source = "Fine-tuning on a retain subset D'_r (Xue et al., MIDL 2024, 'FT')."
    retain_scope = "subset"
    uses_forget = False
