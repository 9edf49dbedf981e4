"""``bad_teacher``: student-teacher unlearning with an incompetent teacher, in reconstruction form.

Source: :attr:`BadTeacher.source` (Chundawat et al., AAAI 2023). The student (initialised from G) is
pulled towards a *randomly initialised* VarNet on D_f and towards the original G on D'_r. The source
matches softened class distributions with a KL divergence; here the distance between two
reconstructions is the profile's loss ``J(f(x), teacher(x))`` (SSIM + L1 with the volume's maximum
as data range). One step per pair (forget batch, retain batch), the sum of both terms (the source
mixes both sets in one loader; the sum over a pair is its balanced form). The random teacher is
built with ``build_model(profile, seed=seed + 1)``.
"""

from __future__ import annotations

from typing import Any

import torch

from . import register
from .base import Method, Param, frozen_copy, local_slices


@register
class BadTeacher(Method):
    name = "bad_teacher"
    summary = "Pull the student towards a random teacher on D_f and towards G on D'_r."
    source = ('Chundawat, Tarun, Mandal, Kankanhalli, "Can Bad Teaching Induce Forgetting? Unlearning '
              'in Deep Networks Using an Incompetent Teacher" (AAAI 2023).')
    params = {"retain_weight": Param(1.0, float, "weight of the competent-teacher (retain) term; "
                                     "source: equal weighting of all samples", 0.0, 1e3)}

    def setup(self, retain: Any, forget: Any) -> None:
        from ..model import build_model

        _ = self.original  # freeze a copy of G before the first update
        device = next(self.model.parameters()).device
        self.bad = frozen_copy(build_model(self.profile, seed=self.seed + 1).to(device))

    def schedule(self) -> str:
        return "pair"

    def forget_term(self, batch: Any) -> torch.Tensor:
        with torch.no_grad():
            ref = self.predict(batch, self.bad)
        pred = self.predict(batch)
        self.slice_steps += local_slices(batch, int(pred.shape[0]))
        return self.distance(pred, ref, batch)

    def retain_term(self, batch: Any) -> torch.Tensor:
        with torch.no_grad():
            ref = self.predict(batch, self.original)
        pred = self.predict(batch)
        self.slice_steps += local_slices(batch, int(pred.shape[0]))
        return self.hparams["retain_weight"] * self.distance(pred, ref, batch)
