"""Building blocks shared by every unlearning method.

- :class:`Param`: one declared hyper-parameter (default from the method's source, type, range).
- :class:`UnlearnConfig`: what a call of :func:`mriunlearn.unlearning.unlearn` needs besides the
  model and the data (method name, parameters, profile, budget, seed, optimiser state, callbacks).
- :class:`Method`: the base class a method file subclasses; it owns the optimiser, the
  reconstruction loss ``J`` (:meth:`Method.batch_loss`), the step (gradient clipping as in
  training) and the slice-step counter.
- Helpers: :func:`as_loader`, :func:`epoch_batches`, :func:`paired_steps`, :func:`l1_norm`,
  :func:`noisy_target`, :func:`check_steps`, :func:`check_resume`.

Data: ``retain`` / ``forget`` are either training loaders from :func:`mriunlearn.dataset.make_loader`
(re-iterable, yielding collated ``VarNetSample`` batches: ``masked_kspace (B, C, H, W, 2)``,
``mask (B, 1, 1, W, 1)``, ``target (B, h, w)``, ``max_value (B,)``) or plain lists of volume paths,
which are turned into such loaders (training masks, ``profile.batch_size``, the run's seed).

Unlearning epoch ``e`` (0-based) draws its training masks as epoch ``profile.epochs + e`` of the
dataset, i.e. it continues G's training schedule (the authors resumed G at epoch 50 and report
epoch 55); a loader re-read within one epoch (the shorter loader of a pair schedule) draws the
masks of a distinct epoch id so no (slice, mask) pair repeats.

Budget: ``UnlearnConfig.epochs`` epochs (default from the profile) or, with
``UnlearnConfig.steps``, exactly that many optimiser steps with batch size 1 (the paper's step
counts instead of its epoch fraction). Epochs then run one after another, as many as needed,
each with its own mask/shuffle epoch; the run ends right after the step that reaches the budget.
A step is one call of :meth:`Method.step`, as the method's loop defines it: one forget slice
(``ga``, ``ga_l1``, ``nl``), one retain slice (``ft``, ``full_ft``, ``l1_sparse``), one *pair*
of a forget and a retain slice (``schedule="pair"``, the ``variant="paper"`` *-FT methods,
NegGrad+, Bad-Teacher, SalUn) or one slice of either kind (``schedule="alternate"``, the
``variant="code"`` *-FT methods: the authors' single shuffled loader, so NL-FT's 1,118 steps per
epoch are 582 retain + 536 forget slices); SCRUB counts its max and min steps alike.
``profile.max_steps`` still caps the run when it is lower.

Slice-steps: the number of slices that went through a forward *and* backward pass of the model being
unlearned (a pair step of one forget and one retain batch of 8 counts 16). Teacher forwards
(SCRUB, Bad-Teacher) are not counted; SSD's and SalUn's importance/saliency passes are.

Data parallelism (``torchrun --nproc_per_node N``, as training: :mod:`mriunlearn.distributed`):
file lists become loaders whose global batches (the ones a single process sees) are split
``batch[rank::world]`` across ranks (:class:`~mriunlearn.dataset.ShapeBatchSampler`,
:func:`~mriunlearn.dataset.rank_batches`); each rank's share comes as a :class:`RankBatch`, and a
rank with no slice in a global batch gets the global batch's first slice with weight 0 (as
training's dummy step), so every rank runs the same steps and the same graph. A batch's mean loss is
weighted by ``world * local / global`` slices (:func:`share`; :meth:`Method.batch_loss`,
:meth:`Method.distance`), and :meth:`Method.average_grads` averages gradients over ranks, so the
average is the gradient of the global batch's mean; data-free terms (‖θ‖₁) are added on every rank
and stay as they are. Gradients are averaged in :meth:`Method.step` (before the hook and clipping)
and wherever else a gradient drives a decision (SalUn's saliency, SSD's importances), so every rank
keeps identical weights. Noise is drawn for the whole global batch on every rank (the same draws as
one process) and each rank takes its rows. Slice-steps are counted per rank and summed.
With one process none of this runs: batches, draws and arithmetic are the single-process ones.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from fastmri.data.transforms import VarNetSample

from .. import distributed
from ..errors import ConfigError
from ..profiles import Profile

#: the two variants of a method whose paper text and authors' code differ
VARIANTS: tuple[str, ...] = ("paper", "code")
#: how a noisy-label method turns a forget target ``y`` into its label (:func:`noisy_target`):
#: ``gauss`` y + λ·N(0, I) (the paper's text), ``abs`` y + λ·|N(0, I)| (the authors' final code),
#: ``replace`` λ·N(0, I) in place of y (the authors' January 2024 code, where λ = 1)
TRANSFORMS: tuple[str, ...] = ("gauss", "abs", "replace")

#: publications cited by more than one method's :attr:`Method.source`
XUE_2024 = ('Xue, Liu, McDonagh, Tsaftaris, "Erase to Enhance: Data-Efficient Machine Unlearning in '
            'MRI Reconstruction" (MIDL 2024, arXiv 2405.15517)')
KURMANJI_2023 = ('Kurmanji, Triantafillou, Hayes, Triantafillou, "Towards Unbounded Machine Unlearning" '
                 '(NeurIPS 2023)')


@dataclass(frozen=True)
class Param:
    """A declared hyper-parameter.

    ``kind`` is ``float``, ``int``, ``bool`` or ``str``; ``low``/``high`` bound numbers (inclusive);
    ``choices`` lists the valid strings; ``doc`` says what it is and where the default comes from.
    A default of ``None`` makes the parameter optional: unset, the method derives its value
    (:meth:`Method.implied_params`, as ``doc`` says) and it is left out of the resolved parameters
    and the cache key (:func:`~mriunlearn.unlearning.validate_params`).
    """

    default: Any
    kind: type
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None

    @property
    def optional(self) -> bool:
        """Whether the parameter may stay unset (its default is ``None``)."""
        return self.default is None

    def describe(self) -> str:
        """``default`` plus the valid range/choices, for error messages and tables."""
        default = "unset" if self.optional else repr(self.default)
        if self.choices is not None:
            return f"{default} (one of {', '.join(map(repr, self.choices))})"
        if self.low is not None or self.high is not None:
            return f"{default} (in [{self.low}, {self.high}])"
        return default

    def check(self, method: str, name: str, value: Any) -> Any:
        """``value`` converted to ``kind`` (``None`` for an unset optional parameter); raises
        :class:`ConfigError` naming method and parameter."""
        if self.optional and value is None:
            return None
        where = f"method {method!r}: parameter {name}={value!r}"
        if self.kind is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"{where} must be a bool")
            return bool(value)
        if self.kind is str:
            if not isinstance(value, str) or (self.choices is not None and value not in self.choices):
                raise ConfigError(f"{where} is not valid; valid: {', '.join(map(repr, self.choices or ()))}")
            return value
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ConfigError(f"{where} must be a number")
        if self.kind is int:
            if float(value) != int(value):
                raise ConfigError(f"{where} must be an integer")
            value = int(value)
        else:
            value = float(value)
        if not np.isfinite(value):
            raise ConfigError(f"{where} must be finite")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ConfigError(f"{where} is out of range [{self.low}, {self.high}]")
        return value


EpochCallback = Callable[[int, torch.nn.Module, int], None]


class StepBudgetReached(Exception):
    """Raised by :meth:`Method.step` after the step that reaches ``UnlearnConfig.steps`` or
    ``profile.max_steps``; the run loop (:func:`mriunlearn.unlearning.run_method`) ends the run
    there, after that epoch's callback."""

    def __init__(self, steps: int) -> None:
        super().__init__(f"optimiser step budget of {steps} reached")
        self.steps = steps


@dataclass
class UnlearnConfig:
    """Everything an unlearning call needs besides the model and the data.

    Args:
        method: registry name (see :data:`mriunlearn.unlearning.METHODS`).
        profile: loss, lr, gradient clipping, batch size, precision and the default budget.
        params: the method's hyper-parameters; missing ones take their declared defaults.
        epochs: unlearning epochs (default ``profile.unlearn_epochs``; ``retrain``: ``profile.epochs``).
        steps: instead of ``epochs``, exactly this many optimiser steps with batch size 1 (file
            lists are loaded with batch size 1; see the module docstring for what a step is).
        seed: seeds noise, teacher initialisation and file-list loaders (default ``profile.seed``).
        resume_optimizer: start Adam from ``optimizer_state`` (G's final optimiser state: moments,
            step counts and the param group's learning rate, loaded bit for bit, as the authors'
            resume did); with ``False`` or no state a fresh Adam(``profile.lr``) is used.
        optimizer_state: ``torch.optim.Adam.state_dict()`` of G's last training step.
        original: a frozen copy of G for the teacher-based methods (default: a copy of the model
            taken before the first update).
        on_epoch: called as ``on_epoch(epoch, model, slice_steps)`` after every epoch (1-based).
        retain_total_slices: slices in all of D_r when ``retain`` is a subset (SSD weighs its
            importance estimate on "all data" with it); default: the slices of ``retain``.
    """

    method: str
    profile: Profile
    params: Mapping[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    steps: int | None = None
    seed: int | None = None
    resume_optimizer: bool = True
    optimizer_state: dict[str, Any] | None = None
    original: torch.nn.Module | None = None
    on_epoch: EpochCallback | None = None
    retain_total_slices: int | None = None

    @property
    def run_seed(self) -> int:
        return int(self.profile.seed if self.seed is None else self.seed)


def check_steps(steps: Any) -> int | None:
    """``steps`` as an int, or ``None`` (the epoch budget).

    Raises:
        ConfigError: not ``None`` and not a positive integer (names the parameter and the valid values).
    """
    if steps is None:
        return None
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ConfigError(f"steps={steps!r} is not valid; valid: a positive integer (optimiser steps "
                          "with batch size 1) or None (the epoch budget)")
    return int(steps)


def check_resume(resume_optimizer: Any) -> bool:
    """``resume_optimizer`` as a bool.

    Raises:
        ConfigError: not a bool (names the parameter and the valid values).
    """
    if not isinstance(resume_optimizer, (bool, np.bool_)):
        raise ConfigError(f"resume_optimizer={resume_optimizer!r} is not valid; valid: True (G's "
                          "final Adam state and learning rate) or False (a fresh Adam(profile.lr))")
    return bool(resume_optimizer)


def as_loader(data: Any, profile: Profile, seed: int, batch_size: int | None = None,
              dist: distributed.DistInfo | None = None) -> Iterable[Any]:
    """``data`` itself if it is a loader (any re-iterable of batches), or a training loader over a
    list of volume paths (:func:`mriunlearn.dataset.make_loader`, ``batch_size`` or else
    ``profile.batch_size``; slices in memory or streamed, as ``profile.data_path`` says), whose
    global batches are split across the ranks of ``dist`` (as training's).

    Raises:
        ConfigError: an empty file list, a loader whose batch size is known and not ``batch_size``,
            or, under data parallelism, a loader not split across ``dist``'s ranks (each rank would
            compute every batch and slice-steps would be counted once per rank).
    """
    if isinstance(data, (list, tuple)) and all(isinstance(f, (str, Path)) for f in data):
        from ..dataset import dataset_class, make_loader

        if not data:
            raise ConfigError("an empty file list was given as unlearning data")
        rank, world = (dist.rank, dist.world_size) if dist is not None else (0, 1)
        return make_loader(dataset_class(profile)(list(data), profile, train=True, seed=seed),
                           profile, train=True, seed=seed, batch_size=batch_size, rank=rank,
                           world_size=world)
    if data is None:
        return []
    given = getattr(getattr(data, "batch_sampler", None), "batch_size", None)
    if batch_size is not None and given is not None and given != batch_size:
        raise ConfigError(f"a loader with batch size {given} was given where batch size {batch_size} "
                          "is needed (a steps budget counts steps of one slice)")
    sampler = getattr(data, "batch_sampler", None)
    split = (getattr(sampler, "world_size", 1), getattr(sampler, "rank", 0))
    if dist is not None and dist.distributed and split != (dist.world_size, dist.rank):
        raise ConfigError(f"under data parallelism (rank {dist.rank} of {dist.world_size}) a loader must be "
                          f"split across the ranks: give make_loader(..., rank={dist.rank}, "
                          f"world_size={dist.world_size}) or a list of volume paths")
    return data


def _set_epoch(loader: Any, epoch_id: int) -> None:
    sampler = getattr(loader, "batch_sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch_id)
    dataset = getattr(loader, "dataset", None)
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch_id)


class RankBatch(VarNetSample):
    """This rank's share of one global batch under data parallelism: the collated slices
    ``global_batch[rank::world]`` (or, for a rank with none, the global batch's first slice as a
    stand-in of weight 0), with ``global_count`` (slices in the global batch), ``rows`` (positions
    of this rank's slices in it; ``[]`` for the stand-in) and ``world_size``."""

    global_count: int
    rows: list[int]
    world_size: int


def share(batch: Any) -> float | None:
    """The weight of ``batch``'s mean loss that makes the average over ranks the global batch's
    mean: ``world * local / global`` slices (0 for a stand-in); ``None`` for an ordinary batch."""
    if not isinstance(batch, RankBatch):
        return None
    return batch.world_size * len(batch.rows) / batch.global_count


def local_slices(batch: Any, n: int) -> int:
    """Slices of ``batch`` (``n`` of them went through the model) that count as slice-steps: its own
    slices on this rank, none for a stand-in."""
    return len(batch.rows) if isinstance(batch, RankBatch) else n


def global_rows(batch: Any, n: int) -> tuple[int, list[int] | None]:
    """``(slices to draw for, rows to keep)`` of a per-slice random draw for ``batch`` (``n``
    slices here): the global batch and this rank's positions in it (row 0 for a stand-in), so every
    rank draws what one process draws; ``(n, None)`` (keep all) for an ordinary batch."""
    if not isinstance(batch, RankBatch):
        return n, None
    return batch.global_count, (batch.rows or [0])


def _rank_shares(loader: Any) -> Iterator[RankBatch]:
    from ..dataset import rank_batches

    sampler = loader.batch_sampler
    for global_batch, mine, batch in rank_batches(loader):
        if batch is None:  # no slice here: the first one with weight 0 keeps the ranks in step
            batch = loader.collate_fn([loader.dataset[global_batch[0]]])
        shared = RankBatch(*batch)
        shared.global_count = len(global_batch)
        shared.rows = list(range(sampler.rank, len(global_batch), sampler.world_size)) if mine else []
        shared.world_size = sampler.world_size
        yield shared


def epoch_batches(loader: Iterable[Any], epoch_id: int) -> Iterator[Any]:
    """The batches of ``loader`` for shuffling/mask epoch ``epoch_id`` (empty batches skipped).
    A loader split across ranks yields this rank's :class:`RankBatch` of every global batch."""
    _set_epoch(loader, epoch_id)
    if getattr(getattr(loader, "batch_sampler", None), "world_size", 1) > 1:
        yield from _rank_shares(loader)
        return
    for batch in loader:
        if batch is not None:
            yield batch


def _cycle(loader: Iterable[Any], epoch_id: int) -> Iterator[Any]:
    """Endless batches: pass 0 uses ``epoch_id``, pass ``c`` >= 1 uses ``1000 * epoch_id + c``."""
    c = 0
    while True:
        got = False
        for batch in epoch_batches(loader, epoch_id if c == 0 else 1000 * epoch_id + c):
            got = True
            yield batch
        if not got:
            return
        c += 1


def paired_steps(forget: Iterable[Any], retain: Iterable[Any], epoch_id: int, schedule: str,
                 rng: np.random.Generator) -> Iterator[tuple[Any | None, Any | None]]:
    """Steps of one epoch over a forget and a retain loader.

    ``schedule="pair"`` (the paper: "per pair of forget and retain sample"): ``max(len_f, len_r)``
    steps each holding one forget and one retain batch; the shorter loader is cycled so that every
    batch of both is seen at least once. ``schedule="alternate"`` (the authors' code: one shuffled
    loader over D_f ∪ D'_r): ``len_f + len_r`` steps holding one batch each, forget or retain, in
    an order drawn from ``rng``. Yields ``(forget_batch | None, retain_batch | None)``.
    """
    n_f, n_r = len(forget), len(retain)  # type: ignore[arg-type]
    if schedule == "pair":
        f_it, r_it = _cycle(forget, epoch_id), _cycle(retain, epoch_id)
        for _ in range(max(n_f, n_r)):
            yield next(f_it, None), next(r_it, None)
    elif schedule == "alternate":
        order = rng.permutation(np.array([0] * n_f + [1] * n_r, dtype=np.int8))
        f_it, r_it = _cycle(forget, epoch_id), _cycle(retain, epoch_id)
        for which in order.tolist():
            yield (next(f_it, None), None) if which == 0 else (None, next(r_it, None))
    else:
        raise ConfigError(f"unknown schedule {schedule!r}; valid: 'pair', 'alternate'")


def l1_norm(model: torch.nn.Module) -> torch.Tensor:
    """‖θ‖₁ over all trainable parameters (scalar, differentiable)."""
    return torch.stack([p.abs().sum() for p in model.parameters() if p.requires_grad]).sum()


def noisy_target(target: torch.Tensor, std: float, generator: torch.Generator, *,
                 transform: str = "gauss", batch: Any = None) -> torch.Tensor:
    """The noisy label ``(B, h, w)`` of ``target (B, h, w)`` (see :data:`TRANSFORMS`):
    ``target + std·ε`` (``gauss``), ``target + std·|ε|`` (``abs``) or ``std·ε`` (``replace``),
    ``ε ~ N(0, I)`` drawn from ``generator`` on the CPU (replayable; a new draw at every call).
    ``std`` is in the target's units. Only the label changes: the loss's SSIM data range stays the
    clean volume's ``max_value``, as in the authors' code. With ``batch`` a :class:`RankBatch`, ε is
    drawn for its whole global batch and this rank's rows are kept (:func:`global_rows`).

    Raises:
        ConfigError: unknown ``transform`` (lists the valid ones).
    """
    if transform not in TRANSFORMS:
        raise ConfigError(f"unknown noise transform {transform!r}; valid: {', '.join(map(repr, TRANSFORMS))}")
    n, rows = global_rows(batch, target.shape[0])
    eps = torch.randn((n, *target.shape[1:]), generator=generator, dtype=torch.float32)
    if rows is not None:
        eps = eps[rows]
    if transform == "abs":
        eps = eps.abs()
    if transform == "replace":
        return (std * eps).to(device=target.device, dtype=target.dtype)
    return target + std * eps.to(target.device)


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy in eval mode with gradients off (teacher)."""
    teacher = copy.deepcopy(model)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


class Method:
    """Base class of an unlearning method; subclasses live one per file and are registered with
    :func:`mriunlearn.unlearning.register`.

    Class attributes a subclass sets:
        name: registry name. summary: what it does, one line (listed by ``python -m mriunlearn
        methods`` and ``unlearn --help``). params: declared hyper-parameters. source: the
        publication(s) it comes from, the one place its citation is written.
        retain_scope: ``"subset"`` (D'_r, the default), ``"all"`` (all of D_r) or ``"none"``.
        uses_forget: whether the forget data is read.
        trains: ``False`` for one-shot methods (SSD): no optimiser, one "epoch".
        budget: ``"unlearn"`` (``profile.unlearn_epochs``) or ``"train"`` (``profile.epochs``).

    A subclass implements :meth:`run_epoch` (and optionally :meth:`setup`); inside, ``self.hparams``
    holds the run's resolved hyper-parameters (:func:`~mriunlearn.unlearning.validate_params`),
    ``self.batch_loss`` gives the reconstruction loss ``J`` of a batch and ``self.step`` one
    optimiser step; and, when an optional parameter's value derives from another,
    :meth:`implied_params`.

    ``dist``: this process's place among data-parallel ranks (:func:`~mriunlearn.unlearning.run_method`
    passes the one it joined); ``None``: a single process
    (:meth:`~mriunlearn.distributed.DistInfo.single`), as a method built by hand in a test is.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[Mapping[str, Param]] = {}
    source: ClassVar[str] = ""
    retain_scope: ClassVar[str] = "subset"
    uses_forget: ClassVar[bool] = True
    trains: ClassVar[bool] = True
    budget: ClassVar[str] = "unlearn"

    def __init__(self, model: torch.nn.Module, cfg: UnlearnConfig, params: Mapping[str, Any],
                 dist: distributed.DistInfo | None = None) -> None:
        self.model = model
        self.cfg = cfg
        self.profile = cfg.profile
        self.hparams = dict(params)
        self.seed = cfg.run_seed
        self.generator = torch.Generator().manual_seed(self.seed)
        self.rng = np.random.default_rng([self.seed, 104729])
        self.slice_steps = 0
        self.optimizer_steps = 0
        self.dist = distributed.DistInfo.single() if dist is None else dist
        self.epoch_start_steps = 0  # optimiser steps before the current epoch (set by run_method)
        self.epoch = 0
        self._original = cfg.original
        self.optimizer: torch.optim.Optimizer | None = self._make_optimizer() if self.trains else None

    @classmethod
    def implied_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """The values that optional parameters take when unset, derived from the other ``params``
        (default: none). An optional parameter set to its implied value counts as unset: the same
        run has one set of resolved parameters and one key."""
        return {}

    # ---- set-up -------------------------------------------------------------------------------
    def _make_optimizer(self) -> torch.optim.Optimizer:
        opt = torch.optim.Adam(self.model.parameters(), lr=self.profile.lr)
        if self.cfg.resume_optimizer and self.cfg.optimizer_state is not None:
            opt.load_state_dict(self.cfg.optimizer_state)
        return opt

    @property
    def original(self) -> torch.nn.Module:
        """Frozen G (the teacher); a copy of the model taken at the first access if none was given."""
        if self._original is None:
            self._original = frozen_copy(self.model)
        return self._original

    @classmethod
    def epoch_budget(cls, profile: Profile, epochs: int | None = None) -> int:
        """Epochs of a run of this method under the epoch budget: 1 for a method that takes no
        optimiser step (``trains`` false); else ``epochs`` when given, else ``profile.epochs``
        (``budget == "train"``) or ``profile.unlearn_epochs`` (``budget == "unlearn"``)."""
        if not cls.trains:
            return 1
        if epochs is not None:
            return int(epochs)
        return profile.epochs if cls.budget == "train" else profile.unlearn_epochs

    @classmethod
    def budget_text(cls) -> str:
        """:meth:`epoch_budget` in words, for the method listing (``python -m mriunlearn methods``)."""
        if not cls.trains:
            return "one pass, no training"
        if cls.budget == "train":
            return "trains profile.epochs epochs"
        return "trains profile.unlearn_epochs epochs, or `steps` optimiser steps of batch 1"

    def num_epochs(self) -> int:
        """The epoch budget of this run (:meth:`epoch_budget`; ignored by
        :func:`~mriunlearn.unlearning.run_method` under a steps budget)."""
        return self.epoch_budget(self.profile, self.cfg.epochs)

    def budget_done(self) -> float:
        """Share of the budget spent before the current epoch: ``epoch / num_epochs`` (epoch
        budget) or optimiser steps before it / ``steps`` (steps budget)."""
        if self.cfg.steps is not None:
            return self.epoch_start_steps / self.cfg.steps
        return self.epoch / max(1, self.num_epochs())

    def step_cap(self) -> int | None:
        """The optimiser step after which the run ends: the lower of ``cfg.steps`` and
        ``profile.max_steps`` (``None``: the epochs end it)."""
        caps = [c for c in (self.cfg.steps, self.profile.max_steps) if c is not None]
        return min(caps) if caps else None

    def epoch_id(self, epoch: int) -> int:
        """Mask/shuffle epoch of unlearning epoch ``epoch`` (continues G's schedule)."""
        return self.profile.epochs + epoch

    # ---- maths --------------------------------------------------------------------------------
    def predict(self, batch: Any, model: torch.nn.Module | None = None) -> torch.Tensor:
        """``(B, h, w)`` reconstruction by ``model`` (default: the model being unlearned)."""
        from ..model import reconstruct

        return reconstruct(self.model if model is None else model, batch, self.profile)

    def batch_loss(self, batch: Any, target: torch.Tensor | None = None,
                   pred: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction loss ``J`` (the papers' notation) of the model being unlearned on ``batch``
        (scalar), against ``target (B, h, w)`` (default ``batch.target``); counts the batch's
        slices as slice-steps."""
        from ..losses import recon_loss

        if pred is None:
            pred = self.predict(batch)
        self.slice_steps += local_slices(batch, int(pred.shape[0]))
        tgt = batch.target if target is None else target
        return self.weighted(recon_loss(pred, tgt.to(pred.device), batch.max_value, self.profile), batch)

    def distance(self, pred: torch.Tensor, reference: torch.Tensor, batch: Any) -> torch.Tensor:
        """The profile's loss between two reconstructions ``(B, h, w)`` (teacher matching)."""
        from ..losses import recon_loss

        return self.weighted(recon_loss(pred, reference.detach().to(pred.device), batch.max_value,
                                        self.profile), batch)

    @staticmethod
    def weighted(loss: torch.Tensor, batch: Any) -> torch.Tensor:
        """``loss``, a mean over ``batch``, times its :func:`share` across ranks (as is for one process)."""
        w = share(batch)
        return loss if w is None else loss * w

    def average_grads(self) -> None:
        """Average the model's gradients over ranks (one all-reduce; nothing for one process).
        Every rank runs the same graph (stand-in slices included), so the same parameters hold one."""
        if not self.dist.distributed:
            return
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if not grads:
            return
        flat = distributed.all_reduce_sum(torch.cat([g.flatten() for g in grads]), self.dist)
        flat /= self.dist.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def global_slice_steps(self) -> list[int]:
        """Every rank's slice-steps so far, in rank order (``[slice_steps]`` for one process);
        every rank must call it."""
        return [int(n) for n in distributed.all_gather_object(self.slice_steps, self.dist)]

    def step(self, loss: torch.Tensor) -> None:
        """One optimiser step on ``loss``: backward, gradients averaged over ranks
        (:meth:`average_grads`), :meth:`before_step`, clip (``profile.grad_clip``)."""
        assert self.optimizer is not None
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.average_grads()
        self.before_step()
        if self.profile.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.profile.grad_clip)
        self.optimizer.step()
        self.after_step()
        self.optimizer_steps += 1
        cap = self.step_cap()
        if cap is not None and self.optimizer_steps >= cap:
            raise StepBudgetReached(self.optimizer_steps)

    def before_step(self) -> None:
        """Hook between backward and the optimiser step."""

    def after_step(self) -> None:
        """Hook after the optimiser step (SalUn restores the non-salient weights here)."""

    def info(self) -> dict[str, Any]:
        """Method-specific facts recorded with the result (e.g. weights dampened by SSD)."""
        return {}

    # ---- the loop -----------------------------------------------------------------------------
    def setup(self, retain: Iterable[Any], forget: Iterable[Any]) -> None:
        """Work done once before the first epoch (saliency mask, importances)."""

    def forget_term(self, batch: Any) -> torch.Tensor:
        """The loss term of a forget batch (methods that read D_f)."""
        raise NotImplementedError

    def retain_term(self, batch: Any) -> torch.Tensor:
        """The loss term of a retain batch (default: fine-tuning, ``J(x_r, y_r)``)."""
        return self.batch_loss(batch)

    def schedule(self) -> str:
        """``"pair"`` (paper) or ``"alternate"`` (authors' code, ``variant="code"``)."""
        return "alternate" if self.hparams.get("variant") == "code" else "pair"

    def run_epoch(self, epoch: int, retain: Iterable[Any], forget: Iterable[Any]) -> None:
        """One unlearning epoch (``epoch`` is 0-based; also stored as ``self.epoch``).

        Default loop: retain-only methods step on :meth:`retain_term` per retain batch, forget-only
        methods on :meth:`forget_term` per forget batch, methods reading both step on the sum of a
        forget and a retain term per :func:`paired_steps` step.
        """
        self.epoch = epoch
        eid = self.epoch_id(epoch)
        if self.uses_forget and self.retain_scope != "none":
            for f, r in paired_steps(forget, retain, eid, self.schedule(), self.rng):
                terms = ([self.forget_term(f)] if f is not None else []) + \
                        ([self.retain_term(r)] if r is not None else [])
                if terms:
                    self.step(torch.stack(terms).sum())
        elif self.uses_forget:
            for f in epoch_batches(forget, eid):
                self.step(self.forget_term(f))
        else:
            for r in epoch_batches(retain, eid):
                self.step(self.retain_term(r))


@dataclass
class MethodRun:
    """What :func:`mriunlearn.unlearning.run_method` returns: the model, the slice-steps taken, the
    resolved parameters and the epochs run."""

    model: torch.nn.Module
    slice_steps: int
    params: dict[str, Any]
    epochs: int
    lr: float | None
    info: dict[str, Any] = field(default_factory=dict)


def describe_params(params: Mapping[str, Param]) -> str:
    """``name=default (range)`` for each parameter, or ``(none)``."""
    return "; ".join(f"{k}={v.describe()}" for k, v in params.items()) or "(none)"


def file_names(files: Sequence[str | Path]) -> list[str]:
    """Base names of volume paths (what results record)."""
    return [Path(f).name for f in files]
