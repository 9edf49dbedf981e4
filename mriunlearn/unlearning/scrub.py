"""``scrub``: SCRUB in reconstruction form.

Source: :attr:`SCRUB.source` (Kurmanji et al., NeurIPS 2023). The student starts from G (the
teacher, frozen). Each epoch: during the first ``max_epochs`` epochs, *max steps* over D_f maximise
the distance to the teacher, ``-d(f(x_f), G(x_f))``; then *min steps* over D'_r minimise
``γ·J(x_r, y_r) + α·d(f(x_r), G(x_r))``. The source's KL divergence between softened outputs becomes
``d`` = the profile's loss between two reconstructions. Defaults from the source's small-scale
settings: α = 0.001 (distillation weight), γ = 0.99 (task-loss weight), ``msteps`` = 2.
"""

from __future__ import annotations

from typing import Any

import torch

from . import register
from .base import KURMANJI_2023, Method, Param, epoch_batches, local_slices


@register
class SCRUB(Method):
    name = "scrub"
    summary = "Max steps away from G on D_f, then min steps (task loss + distillation to G) on D'_r."
    source = f"{KURMANJI_2023}, 'SCRUB'."
    params = {
        "alpha": Param(0.001, float, "weight α of the retain distillation term (source: 0.001)", 0.0, 1e3),
        "gamma": Param(0.99, float, "weight γ of the retain task loss (source: 0.99)", 0.0, 1e3),
        "max_epochs": Param(2, int, "epochs that start with max steps on D_f (source: msteps=2)", 0, 10_000),
    }

    def setup(self, retain: Any, forget: Any) -> None:
        _ = self.original  # freeze a copy of G before the first update

    def _distance_to_teacher(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            ref = self.predict(batch, self.original)
        pred = self.predict(batch)
        return pred, self.distance(pred, ref, batch)

    def run_epoch(self, epoch: int, retain: Any, forget: Any) -> None:
        self.epoch = epoch
        eid = self.epoch_id(epoch)
        if epoch < self.hparams["max_epochs"]:
            for f in epoch_batches(forget, eid):
                pred, d = self._distance_to_teacher(f)
                self.slice_steps += local_slices(f, int(pred.shape[0]))
                self.step(-d)
        for r in epoch_batches(retain, eid):
            pred, d = self._distance_to_teacher(r)
            self.step(self.hparams["gamma"] * self.batch_loss(r, pred=pred) + self.hparams["alpha"] * d)
