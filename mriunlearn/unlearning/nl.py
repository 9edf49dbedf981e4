"""``nl``: noisy labels on D_f, ``J(x_f, ỹ_f)`` with ``ỹ_f`` a noisy version of ``y_f`` (Xue et al.,
MIDL 2024, "NL"; the random/noisy-label family of Graves et al., AAAI 2021).

Transforms (``transform``, see :data:`~mriunlearn.unlearning.base.TRANSFORMS`), with λ =
``noise_std`` in the target's units and ``ε ~ N(0, I)`` drawn anew at every step from the run's
seed (a run replays exactly):

- ``gauss``: ``y + λ·ε`` (zero mean), the paper's text;
- ``abs``: ``y + λ·|ε|`` (always positive, mean ``λ·√(2/π)``), the authors' final code
  (github.com/YuyangXueEd/ReconUnlearning 55dbc65, ``fastmri_transform.py``: ``target += |randn·λ|``, λ = 1e-5);
- ``replace``: ``λ·ε`` in place of ``y`` (no trace of the target), the authors' January 2024 code
  (fc9600b: ``target = torch.randn_like(target)``). That code's noise is N(0, 1) in absolute
  target units, i.e. ``replace`` with λ = 1 here (on fastMRI RSS targets, maxima ~1e-4..1e-3, that
  is 1e3-1e4 times the peak); the λ = 1e-5 default with ``replace`` gives a label of pure noise.

In all three only the label changes: the SSIM data range of the loss stays the clean volume's
``max_value``, as in the authors' code (which also left ``attrs["max"]`` alone).

Unset, ``transform`` follows ``variant``: ``"paper"`` (default) → ``gauss``, ``"code"`` → ``abs``
(the pairs the two variants always meant). Set to the transform its variant implies, it counts as
unset (:meth:`NL.implied_params`): it is recorded and keyed only when set to another; the
transform used is in every result's ``info``.

Scale: λ = 1e-5 is absolute, in the units of the target. fastMRI multicoil RSS targets have maxima
of about 1e-4..1e-3, so λ = 1e-5 is noise of ~1-10% of the peak; on data of another scale put λ on
the targets' scale with :func:`mriunlearn.experiments.study.target_scale`. What λ does on the
embedded data is measured by notebook 03's noise sweep (:mod:`mriunlearn.experiments.noise_sweep`)
and its "Why does NL forget?" ablation (:mod:`mriunlearn.experiments.nl_ablation`,
``docs/nl_study.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from . import register
from .base import TRANSFORMS, VARIANTS, XUE_2024, Method, Param, noisy_target

#: the transform a variant implies when ``transform`` is unset
VARIANT_TRANSFORMS: dict[str, str] = {"paper": "gauss", "code": "abs"}

NL_PARAMS = {
    "noise_std": Param(1e-5, float, "λ, the noise scale in target units (paper and code: 1e-5)",
                       0.0, 1e3),
    "variant": Param("paper", str, "'paper': λ·N(0,I), pair steps; 'code': λ·|N(0,I)|, alternating "
                     "steps (*-FT)", choices=VARIANTS),
    "transform": Param(None, str, "the label: 'gauss' y+λ·N(0,I) (paper), 'abs' y+λ·|N(0,I)| "
                       "(authors' final code), 'replace' λ·N(0,I) (authors' early code: λ=1); "
                       "unset: gauss for variant 'paper', abs for 'code'",
                       choices=TRANSFORMS),
}


@register
class NL(Method):
    name = "nl"
    summary = "Noisy labels on D_f: J(x_f, y_f + λ·ε)."
    source = f"{XUE_2024}, Sec. 3 'NL'; the random/noisy-label family of Graves et al. (AAAI 2021)."
    retain_scope = "none"
    params = NL_PARAMS

    @classmethod
    def implied_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """``transform``: the one ``variant`` implies."""
        return {"transform": VARIANT_TRANSFORMS[params["variant"]]}

    @property
    def transform(self) -> str:
        """The transform of this run: ``transform`` if set, else the variant's."""
        return self.hparams.get("transform") or self.implied_params(self.hparams)["transform"]

    def info(self) -> dict[str, Any]:
        return {"transform": self.transform}

    def forget_term(self, batch: Any) -> torch.Tensor:
        target = noisy_target(batch.target, self.hparams["noise_std"], self.generator,
                              transform=self.transform, batch=batch)
        return self.batch_loss(batch, target)
