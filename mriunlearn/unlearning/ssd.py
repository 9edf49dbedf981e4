"""``ssd``: Selective Synaptic Dampening, label-free by default; no training loop.

Sources: :attr:`SSD.source` (Foster et al., AAAI 2024, and its label-free variant, Foster et al.,
ICLR 2024 Tiny Papers).

1. Importance of each parameter on a data set, averaged over batches (as in the source):
   ``I = E_batch[(∂q/∂θ)²]`` with ``q = mean over the batch and pixels of (f(x) / max_value)²``,
   i.e. the squared ℓ2 norm of the reconstruction (label-free; normalising by the volume's maximum
   makes every slice count alike and keeps the squares away from underflow), or
   ``q = J(x, y)`` with ``importance="loss"`` (the original SSD).
2. ``I_f`` on D_f; ``I_D`` on all training data. Only a retain subset is read, so
   ``I_D = w·I_f + (1-w)·I_r`` with ``w = n_f / (n_f + N_r)`` (slices; ``N_r`` = all of D_r,
   :attr:`UnlearnConfig.retain_total_slices`), the importance of D_f ∪ D_r estimated from the subset.
3. Parameters with ``I_f > α·I_D`` are multiplied by ``β = min(λ·I_D / I_f, 1)``.

Defaults from the source: α = 10 (selection weighting), λ = 1 (dampening constant). Note that with
``w`` the fraction of forget slices, ``I_f / I_D <= 1/w``: α >= 1/w selects nothing (with the
paper's 536 forget and 5,898 retain slices, 1/w ≈ 12).
"""

from __future__ import annotations

from typing import Any

import torch

from . import register
from .base import Method, Param, epoch_batches, global_rows, local_slices


@register
class SSD(Method):
    name = "ssd"
    summary = "Selective Synaptic Dampening: shrink weights far more important to D_f than to all data."
    source = ('Foster, Schoepf, Brintrup, "Fast Machine Unlearning Without Retraining Through Selective '
              'Synaptic Dampening" (AAAI 2024); label-free variant: Foster, Schoepf, Brintrup, "Loss-Free '
              'Machine Unlearning" (ICLR 2024 Tiny Papers).')
    trains = False
    params = {
        "alpha": Param(10.0, float, "selection weighting α (source: 10)", 0.0, 1e6),
        "lam": Param(1.0, float, "dampening constant λ (source: 1)", 0.0, 1e6),
        "importance": Param("label_free", str, "'label_free': ‖f(x)‖²; 'loss': J(x, y)",
                            choices=("label_free", "loss")),
    }

    def importance(self, loader: Any) -> tuple[dict[str, torch.Tensor], int]:
        """Mean squared gradient per parameter over the batches of ``loader``, and its slices."""
        imp = {n: torch.zeros_like(p) for n, p in self.model.named_parameters()}
        batches, slices = 0, 0
        for batch in epoch_batches(loader, self.epoch_id(0)):
            self.model.zero_grad(set_to_none=True)
            if self.hparams["importance"] == "loss":
                q = self.batch_loss(batch)
            else:
                out = self.predict(batch)
                self.slice_steps += local_slices(batch, int(out.shape[0]))
                scale = batch.max_value.to(out.device).view(-1, 1, 1)
                q = self.weighted((out / scale).pow(2).mean(), batch)
            q.backward()
            self.average_grads()  # the global batch's ∂q/∂θ on every rank, squared below
            for n, p in self.model.named_parameters():
                if p.grad is not None:
                    imp[n] += p.grad.detach().pow(2)
            batches += 1
            slices += global_rows(batch, int(batch.target.shape[0]))[0]  # the global batch's
        self.model.zero_grad(set_to_none=True)
        return {n: v / max(1, batches) for n, v in imp.items()}, slices

    def setup(self, retain: Any, forget: Any) -> None:
        self.imp_f, n_f = self.importance(forget)
        imp_r, n_r_seen = self.importance(retain)
        n_r = self.cfg.retain_total_slices or n_r_seen
        w = n_f / max(1, n_f + n_r)
        self.imp_d = {n: w * self.imp_f[n] + (1.0 - w) * imp_r[n] for n in imp_r}
        self.dampened = 0

    def info(self) -> dict[str, Any]:
        return {"dampened": int(getattr(self, "dampened", 0)),
                "parameters": int(sum(p.numel() for p in self.model.parameters()))}

    def run_epoch(self, epoch: int, retain: Any, forget: Any) -> None:
        if epoch > 0:
            return
        alpha, lam = self.hparams["alpha"], self.hparams["lam"]
        with torch.no_grad():
            for n, p in self.model.named_parameters():
                i_f, i_d = self.imp_f[n], self.imp_d[n]
                select = i_f > alpha * i_d
                beta = torch.where(i_f > 0, lam * i_d / i_f.clamp_min(torch.finfo(i_f.dtype).tiny),
                                   torch.ones_like(i_f)).clamp(max=1.0)
                p.mul_(torch.where(select, beta, torch.ones_like(beta)))
                self.dampened += int(select.sum())
