"""``retrain``: the oracle Ĝ, retrained from scratch on D_r only (Xue et al., MIDL 2024, Sec. 3).

The ideal unlearning result and the cost reference (RTE). :func:`run_unlearning` delegates it to
:func:`mriunlearn.train.train_oracle` (the engine's exact recipe and cache, shared with every other
use of Ĝ). Called directly through :func:`mriunlearn.unlearning.unlearn`, it re-initialises the
model's weights (``build_model(profile, seed)``) and trains on the given retain data for
``profile.epochs`` epochs with a fresh Adam(``profile.lr``), gradient clipping and no scheduler.
"""

from __future__ import annotations

from typing import Any

import torch

from . import register
from .base import XUE_2024, Method


@register
class Retrain(Method):
    name = "retrain"
    summary = "The oracle: retrain from scratch on all of D_r (the ideal result and the cost reference)."
    source = f"{XUE_2024}, Sec. 3: the oracle, retrained on D_r only."
    retain_scope = "all"
    uses_forget = False
    budget = "train"

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.profile.lr)

    def setup(self, retain: Any, forget: Any) -> None:
        from ..model import build_model

        fresh = build_model(self.profile, seed=self.seed)
        with torch.no_grad():
            self.model.load_state_dict(fresh.state_dict())
        self.optimizer = self._make_optimizer()
