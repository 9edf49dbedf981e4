"""``salun``: Saliency Unlearning in reconstruction form.

Source: :attr:`SalUn.source` (Fan et al., ICLR 2024).

1. Saliency: ``g = |Σ_batches ∇_θ J(x_f, y_f)|`` over D_f at G (summed over batches, then the
   magnitude, as in the source); the mask keeps the top ``ratio`` of all weights (one global
   threshold; source default 0.5).
2. Masked random-label unlearning: per pair (forget batch, retain batch),
   ``J(x_f, ỹ_f) + β·J(x_r, y_r)`` where ``ỹ_f`` is the reconstruction analogue of a random label:
   ``forget_target="noise"``: ``y_f + λ·N(0, I)`` (λ as NL), or ``"permuted"``: the target's pixels
   in a random order (an image with the same intensities and no anatomy). Only salient weights
   change: gradients are masked and, because a resumed Adam carries momentum, the non-salient
   weights are restored to G's values after every step.
"""

from __future__ import annotations

from typing import Any

import torch

from . import register
from .base import Method, Param, epoch_batches, global_rows, noisy_target


@register
class SalUn(Method):
    name = "salun"
    summary = "Random-label unlearning of the weights most salient to D_f, with fine-tuning on D'_r."
    source = ('Fan, Liu, Zhang, Wei, Wong, Liu, "SalUn: Empowering Machine Unlearning via Gradient-based '
              'Weight Saliency in Both Image Classification and Generation" (ICLR 2024).')
    params = {
        "ratio": Param(0.5, float, "fraction of weights marked salient (source: 0.5)", 1e-6, 1.0),
        "forget_target": Param("noise", str, "random-label analogue for D_f",
                               choices=("noise", "permuted")),
        "noise_std": Param(1e-5, float, "λ of the noisy target (as NL)", 0.0, 1e3),
        "retain_weight": Param(1.0, float, "weight β of the retain term (source: 1)", 0.0, 1e3),
    }

    def schedule(self) -> str:
        return "pair"

    def setup(self, retain: Any, forget: Any) -> None:
        params = dict(self.model.named_parameters())
        grads = {n: torch.zeros_like(p) for n, p in params.items()}
        for batch in epoch_batches(forget, self.epoch_id(0)):
            self.model.zero_grad(set_to_none=True)
            self.batch_loss(batch).backward()
            self.average_grads()  # the global batch's gradient on every rank (data parallelism)
            for n, p in params.items():
                if p.grad is not None:
                    grads[n] += p.grad.detach()
        self.model.zero_grad(set_to_none=True)
        flat = torch.cat([g.abs().flatten() for g in grads.values()])
        k = max(1, int(round(self.hparams["ratio"] * flat.numel())))
        threshold = torch.topk(flat, k, sorted=True).values[-1]
        self.mask = {n: grads[n].abs() >= threshold for n in params}
        self.frozen = {n: p.detach().clone() for n, p in params.items()}
        self.salient = int(sum(int(m.sum()) for m in self.mask.values()))

    def info(self) -> dict[str, Any]:
        return {"salient": int(getattr(self, "salient", 0)),
                "parameters": int(sum(p.numel() for p in self.model.parameters()))}

    def before_step(self) -> None:
        for n, p in self.model.named_parameters():
            if p.grad is not None:
                p.grad.mul_(self.mask[n])

    def after_step(self) -> None:
        with torch.no_grad():
            for n, p in self.model.named_parameters():
                p.copy_(torch.where(self.mask[n], p, self.frozen[n]))

    def forget_term(self, batch: Any) -> torch.Tensor:
        y = batch.target
        if self.hparams["forget_target"] == "noise":
            target = noisy_target(y, self.hparams["noise_std"], self.generator, batch=batch)
        else:
            flat = y.flatten(1)
            n, rows = global_rows(batch, flat.shape[0])  # the global batch's draws, this rank's rows
            idx = torch.stack([torch.randperm(flat.shape[1], generator=self.generator)
                               for _ in range(n)])
            if rows is not None:
                idx = idx[rows]
            target = torch.gather(flat, 1, idx.to(flat.device)).view_as(y)
        return self.batch_loss(batch, target)

    def retain_term(self, batch: Any) -> torch.Tensor:
        return self.hparams["retain_weight"] * self.batch_loss(batch)
