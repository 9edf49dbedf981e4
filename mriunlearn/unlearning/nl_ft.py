"""``nl_ft``: noisy labels on D_f interleaved with fine-tuning on the retain subset D'_r
(Xue et al., MIDL 2024, "NL-FT", the paper's best method).

``variant="paper"`` (default): one step per pair (forget batch, retain batch) on
``J(x_f, y_f + λ·N(0, I)) + J(x_r, y_r)``. ``variant="code"``: the authors' code, one shuffled stream
over D_f ∪ D'_r, each step on one batch, noise ``λ·|N(0, I)|``. ``transform`` chooses the noisy
label independently of the schedule (``gauss``, ``abs``, ``replace``; unset: the variant's). See
:mod:`~mriunlearn.unlearning.nl` for the transforms and the scale of λ relative to the targets.
"""

from __future__ import annotations

from . import register
from .base import XUE_2024
from .nl import NL


@register
class NLFT(NL):
    name = "nl_ft"
    summary = "Noisy labels on D_f interleaved with fine-tuning on D'_r (the paper's best method)."
    source = f"{XUE_2024}, Sec. 3 'NL-FT'."
    retain_scope = "subset"
