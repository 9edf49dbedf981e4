"""``nl``: noisy labels on D_f, ``J(x_f, y_f + λ·ε)`` (Xue et al., MIDL 2024, "NL"; the
random/noisy-label family of Graves et al., AAAI 2021).

Variants (recorded in every result): ``variant="paper"`` (default) draws ``ε ~ N(0, I)``
(zero mean); ``variant="code"`` draws ``ε ~ |N(0, I)|`` (always positive), as the authors' code does.
The noise is drawn from the run's seed, so a run replays exactly.

Scale: λ = 1e-5 is absolute, in the units of the target. fastMRI multicoil RSS targets have maxima
of about 1e-4..1e-3, so λ = 1e-5 is noise of ~1-10% of the peak. The embedded simulated data
(:mod:`mriunlearn.simulate`) is on a similar scale: its forget targets peak at ~5.5e-4, so λ = 1e-5
is ~2% of the peak. Measured there (notebook 03's noise sweep, 2 unlearning epochs from G's Adam
state), that changes nothing: NL-FT at λ = 1e-5 scores as the noise-free schedule does, and it
starts to forget only from λ ≈ 0.2x the peak (closest to the oracle at ~0.5x). More steps do not
change that (batch 1 for 10 epochs, 200 steps: λ = 1e-5 still equals λ = 0), so on data of another
scale put λ on the targets' scale with :func:`mriunlearn.experiments.noise_sweep.target_scale`.
"""

from __future__ import annotations

from typing import Any

import torch

from . import register
from .base import VARIANTS, XUE_2024, Method, Param, noisy_target

NL_PARAMS = {
    "noise_std": Param(1e-5, float, "λ, the noise scale in target units (paper and code: 1e-5)",
                       0.0, 1e3),
    "variant": Param("paper", str, "'paper': λ·N(0,I); 'code': λ·|N(0,I)|", choices=VARIANTS),
}


@register
class NL(Method):
    name = "nl"
    summary = "Noisy labels on D_f: J(x_f, y_f + λ·ε)."
    source = f"{XUE_2024}, Sec. 3 'NL'; the random/noisy-label family of Graves et al. (AAAI 2021)."
    retain_scope = "none"
    params = NL_PARAMS

    def forget_term(self, batch: Any) -> torch.Tensor:
        target = noisy_target(batch.target, self.p["noise_std"], self.generator,
                              positive=self.p["variant"] == "code")
        return self.J(batch, target)
