"""Measured 2-D loss landscapes: the loss of ``θ = θ_c + α·d1 + β·d2`` on a grid of ``(α, β)``.

This replaces the paper's hand-drawn Fig. 4 ("gradient ascent walks out of the basin; interleaved
fine-tuning keeps it near") by a measured slice of weight space:

1. directions: :func:`direction_between` (``θ_b − θ_a``, e.g. G → Gᵁ or G → Ĝ),
   :func:`random_direction` (Gaussian, filter-normalised as in Li et al., NeurIPS 2018,
   "Visualizing the Loss Landscape of Neural Nets") and :func:`orthonormalise` (Gram-Schmidt);
2. :func:`plane_through`: the plane through a named origin model spanned by the directions to two
   other named models, with every named model projected onto it (least squares; the residual says
   how far a model lies off the plane);
3. :func:`loss_plane`: the mean reconstruction loss (the profile's :func:`~mriunlearn.losses.
   recon_loss`) over a fixed evaluation set on the grid, under ``torch.inference_mode``;
4. drawing is :func:`mriunlearn.plots.plot_loss_planes`' job: retain (brain) and forget (knee)
   surfaces side by side, models and trajectories marked.

States are ``{name: tensor}`` state dicts (or a model / a ``TrainResult`` / ``UnlearnResult``,
whose ``state_dict()`` is taken). Directions are state dicts of the same keys and shapes. Only
floating-point entries are moved; other entries (none in ``VarNet``) are kept from the centre.

Evaluation inputs use the evaluation masks (seeded by file name, see :mod:`mriunlearn.dataset`), so
every grid point sees the same masked k-space. In memory (``profile.data_path == "memory"``) the
batches are collated once and reused; streaming (``"stream"``) only the chosen slices' index is
kept and each grid point reads its batches again from HDF5 (:func:`~mriunlearn.dataset.
stream_loader`), so memory holds the batches in flight, never a role. Both give the same losses.

Cost: one forward per slice and grid point, so ``num² × slices`` forwards per surface; the defaults
of :meth:`Plane.loss_plane` are an 11×11 grid (:data:`DEFAULT_GRID_NUM`) over 8 slices per surface
(:data:`DEFAULT_MAX_SLICES`). Measured times: ``docs/performance.md``, "Loss landscapes (Fig. 4)".
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import pandas as pd
import torch

from fastmri.data.transforms import VarNetSample

from .dataset import SliceIndex, StreamingSliceData, dataset_class, make_loader, stream_loader
from .errors import ConfigError
from .losses import recon_loss
from .model import build_model, reconstruct
from .profiles import Profile

State = dict[str, torch.Tensor]
StateLike = Union[Mapping[str, torch.Tensor], torch.nn.Module, Any]
GridSpec = Union[tuple[float, float, int], tuple[Any, Any]]

#: grid points per axis used by :meth:`Plane.grid` (11×11 = 121 forwards per slice)
DEFAULT_GRID_NUM = 11
#: slices per surface used by :meth:`Plane.loss_plane` unless given (evenly spread over volumes)
DEFAULT_MAX_SLICES = 8
#: how 1-D tensors (biases, ``dc_weight``) of a random direction are treated by default
BIAS_MODES: tuple[str, ...] = ("zero", "copy")


# ----------------------------------------------------------------------------------------------
# states and directions
# ----------------------------------------------------------------------------------------------

def as_state(obj: StateLike, name: str = "state") -> State:
    """A detached CPU float state dict from a mapping, a model (DDP unwrapped) or a result object
    with a ``.model`` (``TrainResult`` / ``UnlearnResult``). Tensors are cloned.

    Raises:
        ConfigError: ``obj`` is none of these (message names ``name``).
    """
    if hasattr(obj, "model") and isinstance(getattr(obj, "model"), torch.nn.Module):
        obj = obj.model
    if isinstance(obj, torch.nn.Module):
        obj = getattr(obj, "module", obj).state_dict()
    if not isinstance(obj, Mapping) or not obj:
        raise ConfigError(f"{name} must be a non-empty state dict, a model or a training/unlearning "
                          f"result, got {type(obj).__name__}")
    out: State = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            raise ConfigError(f"{name}[{k!r}] is a {type(v).__name__}, not a tensor")
        out[k] = v.detach().to("cpu").clone()
    return out


def _float_keys(state: Mapping[str, torch.Tensor]) -> list[str]:
    return [k for k, v in state.items() if torch.is_floating_point(v)]


def _check_compatible(ref: Mapping[str, torch.Tensor], other: Mapping[str, torch.Tensor],
                      ref_name: str, other_name: str) -> None:
    """``other`` has exactly ``ref``'s keys and shapes, else ConfigError naming ``other_name``."""
    keys_ref, keys_other = set(ref), set(other)
    missing, extra = sorted(keys_ref - keys_other), sorted(keys_other - keys_ref)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks {len(missing)} key(s) of {ref_name}, e.g. {missing[0]!r}")
        if extra:
            parts.append(f"has {len(extra)} key(s) {ref_name} lacks, e.g. {extra[0]!r}")
        raise ConfigError(f"{other_name} does not match {ref_name}: {'; '.join(parts)}")
    for k in sorted(keys_ref):
        if tuple(ref[k].shape) != tuple(other[k].shape):
            raise ConfigError(f"{other_name}[{k!r}] has shape {tuple(other[k].shape)}, "
                              f"{ref_name}[{k!r}] has {tuple(ref[k].shape)}")


def dot(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    """Inner product ``Σ_k ⟨a_k, b_k⟩`` over the floating-point entries, in float64."""
    return float(sum((a[k].double() * b[k].double()).sum() for k in _float_keys(a)))


def norm(d: Mapping[str, torch.Tensor]) -> float:
    """Euclidean norm of a state / direction over its floating-point entries."""
    return math.sqrt(max(dot(d, d), 0.0))


def _combine(terms: Sequence[tuple[float, Mapping[str, torch.Tensor]]], like: Mapping[str, torch.Tensor]) -> State:
    """``Σ c_i · s_i`` over floating-point entries (float64 accumulation, cast to ``like``'s dtype);
    other entries copied from ``like``."""
    out: State = {}
    for k, v in like.items():
        if not torch.is_floating_point(v):
            out[k] = v.clone()
            continue
        acc = torch.zeros(v.shape, dtype=torch.float64)
        for c, s in terms:
            if c != 0.0:
                acc.add_(s[k].double(), alpha=float(c))
        out[k] = acc.to(v.dtype)
    return out


def _check_nonzero(d: Mapping[str, torch.Tensor], name: str) -> float:
    n = norm(d)
    if not math.isfinite(n):
        raise ConfigError(f"{name} has non-finite entries")
    if n == 0.0:
        raise ConfigError(f"{name} is the zero direction (are the two states identical?)")
    return n


def direction_between(state_a: StateLike, state_b: StateLike) -> State:
    """The direction ``θ_b − θ_a`` (e.g. G → Gᵁ, G → Ĝ), per floating-point tensor.

    Raises:
        ConfigError: the states' keys or shapes differ, or they are equal (zero direction).
    """
    a, b = as_state(state_a, "state_a"), as_state(state_b, "state_b")
    _check_compatible(a, b, "state_a", "state_b")
    d = _combine([(1.0, b), (-1.0, a)], a)
    for k in d:
        if not torch.is_floating_point(d[k]):
            d[k] = torch.zeros_like(d[k])
    _check_nonzero(d, "direction_between(state_a, state_b)")
    return d


def filter_normalise(direction: StateLike, state: StateLike, *, bias: str = "zero") -> State:
    """Li et al.'s filter-wise normalisation of ``direction`` to the scale of ``state``.

    Every tensor with ``ndim >= 2`` is split into filters along dim 0 (output channels of a
    ``Conv2d``; for a ``ConvTranspose2d`` weight ``(in, out, kh, kw)`` dim 0 is the input channel,
    as in the authors' reference code) and each filter ``d_i`` is rescaled to ``‖θ_i‖``:
    ``d_i ← d_i · ‖θ_i‖ / ‖d_i‖`` (a zero filter stays zero).
    1-D tensors (biases, VarNet's ``dc_weight``): ``bias="zero"`` (default; the authors'
    ``ignore='biasbn'`` setting) sets them to zero, ``bias="copy"`` sets them to ``θ`` itself
    (their setting otherwise).

    Raises:
        ConfigError: unknown ``bias`` mode; keys/shapes of ``direction`` and ``state`` differ.
    """
    if bias not in BIAS_MODES:
        raise ConfigError(f"bias must be one of {', '.join(BIAS_MODES)}, got {bias!r}")
    theta = as_state(state, "state")
    d = as_state(direction, "direction")
    _check_compatible(theta, d, "state", "direction")
    out: State = {}
    for k, w in theta.items():
        v = d[k]
        if not torch.is_floating_point(w):
            out[k] = torch.zeros_like(w)
        elif w.ndim <= 1:
            out[k] = torch.zeros_like(w) if bias == "zero" else w.clone()
        else:
            v64, w64 = v.double().flatten(1), w.double().flatten(1)
            dn = v64.norm(dim=1, keepdim=True)
            scale = torch.where(dn > 0, w64.norm(dim=1, keepdim=True) / dn.clamp_min(1e-300),
                                torch.zeros_like(dn))
            out[k] = (v64 * scale).reshape(w.shape).to(w.dtype)
    return out


def random_direction(state: StateLike, seed: int, *, bias: str = "zero") -> State:
    """A Gaussian direction with filter-wise normalisation (:func:`filter_normalise`).

    Entries are drawn from ``torch.Generator().manual_seed(seed)`` in the state's key order (no
    global RNG involved): the same ``(state keys and shapes, seed)`` gives the same direction.

    Raises:
        ConfigError: ``seed`` is not a non-negative integer, unknown ``bias``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    theta = as_state(state, "state")
    gen = torch.Generator().manual_seed(int(seed))
    raw = {k: (torch.randn(v.shape, generator=gen, dtype=torch.float32).to(v.dtype)
               if torch.is_floating_point(v) else torch.zeros_like(v)) for k, v in theta.items()}
    return filter_normalise(raw, theta, bias=bias)


def orthonormalise(d1: StateLike, d2: StateLike) -> tuple[State, State]:
    """Gram-Schmidt in parameter space: ``e1 = d1/‖d1‖``, ``e2 = (d2 − ⟨d2,e1⟩e1)/‖…‖``.

    Returns:
        ``(e1, e2)`` with ``‖e1‖ = ‖e2‖ = 1`` and ``⟨e1, e2⟩ = 0`` (float64 arithmetic).

    Raises:
        ConfigError: mismatched keys/shapes, a zero ``d1`` / ``d2``, or ``d2`` parallel to ``d1``.
    """
    a, b = as_state(d1, "dir1"), as_state(d2, "dir2")
    _check_compatible(a, b, "dir1", "dir2")
    n1 = _check_nonzero(a, "dir1")
    n2 = _check_nonzero(b, "dir2")
    e1 = _combine([(1.0 / n1, a)], a)
    # re-orthogonalise twice ("twice is enough") for numerical orthogonality
    r = _combine([(1.0, b), (-dot(b, e1), e1)], b)
    r = _combine([(1.0, r), (-dot(r, e1), e1)], r)
    nr = norm(r)
    if nr <= 1e-6 * n2:
        raise ConfigError("dir2 is parallel to dir1: the plane is degenerate")
    return e1, _combine([(1.0 / nr, r)], r)


# ----------------------------------------------------------------------------------------------
# projections and planes
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanePoint:
    """A model's least-squares position on a plane: ``θ ≈ θ_c + alpha·d1 + beta·d2``.

    ``residual = ‖θ − θ_c − alpha·d1 − beta·d2‖`` (parameter-space distance off the plane) and
    ``distance = ‖θ − θ_c‖`` (so ``residual / distance`` is the fraction of the displacement the
    plane does not show).
    """

    alpha: float
    beta: float
    residual: float
    distance: float

    @property
    def relative_residual(self) -> float:
        return self.residual / self.distance if self.distance > 0 else 0.0


def project(state: StateLike, center: StateLike, d1: StateLike, d2: StateLike) -> PlanePoint:
    """Least-squares coordinates of ``state`` on the plane ``center + span(d1, d2)``.

    Solves the 2×2 normal equations ``[⟨d_i, d_j⟩] (α, β)ᵀ = (⟨d_i, θ − θ_c⟩)`` (directions need
    not be orthogonal).

    Raises:
        ConfigError: mismatched keys/shapes, zero or parallel directions.
    """
    c = as_state(center, "center_state")
    x = as_state(state, "state")
    a, b = as_state(d1, "dir1"), as_state(d2, "dir2")
    for other, nm in ((x, "state"), (a, "dir1"), (b, "dir2")):
        _check_compatible(c, other, "center_state", nm)
    _check_nonzero(a, "dir1")
    _check_nonzero(b, "dir2")
    delta = _combine([(1.0, x), (-1.0, c)], c)
    gram = np.array([[dot(a, a), dot(a, b)], [dot(b, a), dot(b, b)]])
    if abs(np.linalg.det(gram)) <= 1e-12 * gram[0, 0] * gram[1, 1]:
        raise ConfigError("dir2 is parallel to dir1: the plane is degenerate")
    rhs = np.array([dot(a, delta), dot(b, delta)])
    alpha, beta = np.linalg.solve(gram, rhs)
    res = _combine([(1.0, delta), (-float(alpha), a), (-float(beta), b)], c)
    return PlanePoint(float(alpha), float(beta), norm(res), norm(delta))


@dataclass(frozen=True)
class Plane:
    """A 2-D plane in weight space: ``θ(α, β) = center + α·d1 + β·d2``.

    Attributes:
        center, d1, d2: state dicts (``d1``, ``d2`` orthonormal when made by :func:`plane_through`,
            so ``(α, β)`` are parameter-space distances along the two axes).
        origin: name of the centre model; ``axis_labels``: ``(x label, y label)``.
        points: ``{name: PlanePoint}`` of the models the plane was built from.
    """

    center: State
    d1: State
    d2: State
    origin: str = "origin"
    axis_labels: tuple[str, str] = ("α", "β")
    points: dict[str, PlanePoint] = field(default_factory=dict)

    def project(self, state: StateLike) -> PlanePoint:
        """See :func:`project`."""
        return project(state, self.center, self.d1, self.d2)

    def trajectory(self, states: Sequence[StateLike]) -> np.ndarray:
        """``(N, 3)`` array of ``(alpha, beta, residual)`` of a sequence of states (e.g. the model
        after each unlearning epoch, G first)."""
        pts = [self.project(s) for s in states]
        return np.array([[p.alpha, p.beta, p.residual] for p in pts], dtype=np.float64).reshape(-1, 3)

    def grid(self, num: int = DEFAULT_GRID_NUM, margin: float = 0.25,
             extra: Sequence[tuple[float, float]] = ()) -> tuple[np.ndarray, np.ndarray]:
        """``(alphas (num,), betas (num,))`` covering the origin, every point of :attr:`points`
        and ``extra`` coordinates, padded by ``margin`` × the span on each side. The two axes
        get the same step when their spans are within a factor 3 (then contours are not distorted
        with an equal-aspect plot)."""
        if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 2:
            raise ConfigError(f"num must be an integer >= 2, got {num!r}")
        if not (isinstance(margin, (int, float)) and 0 <= margin <= 10):
            raise ConfigError(f"margin must be a number in [0, 10], got {margin!r}")
        xy = np.array([[0.0, 0.0]] + [[p.alpha, p.beta] for p in self.points.values()]
                      + [list(e) for e in extra], dtype=np.float64)
        lo, hi = xy.min(0), xy.max(0)
        span = hi - lo
        span = np.where(span > 0, span, max(float(span.max()), 1.0))
        if span.max() <= 3 * span.min():
            centre = (lo + hi) / 2
            span = np.full(2, span.max())
            lo, hi = centre - span / 2, centre + span / 2
        lo, hi = lo - margin * span, hi + margin * span
        return np.linspace(lo[0], hi[0], int(num)), np.linspace(lo[1], hi[1], int(num))

    def loss_plane(self, data: SliceIndex | Sequence[str | Path], profile: Profile, *,
                   grid: GridSpec | None = None, max_slices: int | None = DEFAULT_MAX_SLICES,
                   **kwargs: Any) -> LossPlane:
        """:func:`loss_plane` on this plane; ``grid`` defaults to :meth:`grid` ``()``."""
        return loss_plane(self.center, self.d1, self.d2, data, profile,
                          grid=self.grid() if grid is None else grid, max_slices=max_slices,
                          axis_labels=self.axis_labels, **kwargs)


def plane_through(states: Mapping[str, StateLike], origin: str, first: str,
                  second: str | int, *, labels: Mapping[str, str] | None = None,
                  bias: str = "zero") -> Plane:
    """The plane through ``states[origin]`` spanned by the directions to ``states[first]`` and
    ``states[second]`` (orthonormalised: ``d1`` points at ``first``, ``d2`` is the part of
    ``second − origin`` orthogonal to it), with every named state projected onto it.

    Typical use, with ``states = {"original": G, "oracle": Ĝ, "nl_ft": Gᵁ, "ga_l1": G_GA}``:
    ``plane_through(states, "original", "ga_l1", "nl_ft")`` (the Fig. 4 story: both unlearned
    models lie on the plane, G at ``(0, 0)``, GA-ℓ1 at ``(‖G_GA − G‖, 0)``; Ĝ, trained from
    scratch, lies mostly off it) or ``plane_through(states, "original", "nl_ft", "oracle")``.
    An integer ``second`` uses a filter-normalised :func:`random_direction` with that seed (Li et
    al.'s construction) instead of a second model.

    Args:
        states: ``{name: state}`` (state dicts, models or results).
        labels: display names for the axis labels (default: the names).

    Returns:
        :class:`Plane` whose ``points`` hold every state's ``(alpha, beta, residual, distance)``.

    Raises:
        ConfigError: ``origin`` / ``first`` / ``second`` not in ``states``; mismatched keys; a zero
            or degenerate direction (names which).
    """
    if not isinstance(states, Mapping) or not states:
        raise ConfigError("states must be a non-empty {name: state} mapping")
    for what, nm in (("origin", origin), ("first", first)) + ((("second", second),) if isinstance(second, str) else ()):
        if nm not in states:
            raise ConfigError(f"{what}={nm!r} is not among the states ({', '.join(map(str, states))})")
    loaded = {nm: as_state(s, f"states[{nm!r}]") for nm, s in states.items()}
    center = loaded[origin]
    for nm, s in loaded.items():
        _check_compatible(center, s, f"states[{origin!r}]", f"states[{nm!r}]")
    labels = dict(labels or {})
    lab = lambda n: labels.get(n, n)  # noqa: E731
    d1 = _combine([(1.0, loaded[first]), (-1.0, center)], center)
    _check_nonzero(d1, f"direction {origin} → {first}")
    if isinstance(second, str):
        d2 = _combine([(1.0, loaded[second]), (-1.0, center)], center)
        _check_nonzero(d2, f"direction {origin} → {second}")
        ylab = f"⊥ toward {lab(second)}"
    else:
        d2 = random_direction(center, second, bias=bias)
        ylab = f"random direction (filter-normalised, seed {second})"
    e1, e2 = orthonormalise(d1, d2)
    pts = {nm: project(s, center, e1, e2) for nm, s in loaded.items()}
    return Plane(center, e1, e2, origin=origin,
                 axis_labels=(f"‖Δθ‖ toward {lab(first)}", f"‖Δθ‖ {ylab}"), points=pts)


# ----------------------------------------------------------------------------------------------
# loss on a grid
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LossPlane:
    """Mean loss on a grid: ``loss[j, i]`` at ``θ_c + alphas[i]·d1 + betas[j]·d2``.

    Attributes:
        alphas ``(A,)``, betas ``(B,)``, loss ``(B, A)`` float64 (mean over ``n_slices`` slices).
        n_slices: evaluation slices; files: their volume names; seconds: wall time of the grid;
        axis_labels: ``(x, y)`` labels; title: what the loss was measured on.
    """

    alphas: np.ndarray
    betas: np.ndarray
    loss: np.ndarray
    n_slices: int = 0
    files: tuple[str, ...] = ()
    seconds: float = 0.0
    axis_labels: tuple[str, str] = ("α", "β")
    title: str = ""

    def at(self, alpha: float, beta: float) -> float:
        """The loss at the grid point nearest to ``(alpha, beta)``."""
        i = int(np.abs(self.alphas - alpha).argmin())
        j = int(np.abs(self.betas - beta).argmin())
        return float(self.loss[j, i])

    def to_frame(self) -> pd.DataFrame:
        """Tidy table ``alpha, beta, loss`` (one row per grid point), the numbers behind a figure."""
        aa, bb = np.meshgrid(self.alphas, self.betas)
        return pd.DataFrame({"alpha": aa.ravel(), "beta": bb.ravel(), "loss": self.loss.ravel()})

    @classmethod
    def from_frame(cls, table: pd.DataFrame, **meta: Any) -> LossPlane:
        """Inverse of :meth:`to_frame` (e.g. a figure's saved CSV); ``meta``: the other fields.

        Raises:
            ConfigError: the table lacks a column or is not a full grid.
        """
        missing = {"alpha", "beta", "loss"} - set(table.columns)
        if missing:
            raise ConfigError(f"loss-plane table lacks column(s) {sorted(missing)}")
        alphas, betas = np.unique(table.alpha.to_numpy()), np.unique(table.beta.to_numpy())
        if len(table) != len(alphas) * len(betas):
            raise ConfigError(f"loss-plane table has {len(table)} rows, not a full "
                              f"{len(betas)}x{len(alphas)} grid")
        loss = table.pivot(index="beta", columns="alpha", values="loss").loc[betas, alphas].to_numpy()
        return cls(alphas, betas, loss.astype(np.float64), **meta)


def _axis(spec: Any, name: str) -> np.ndarray:
    if isinstance(spec, tuple) and len(spec) == 3 and all(np.isscalar(x) for x in spec):
        start, stop, num = spec
        if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
            raise ConfigError(f"grid {name}: the number of points must be a positive integer, got {num!r}")
        arr = np.linspace(float(start), float(stop), int(num))
    else:
        try:
            arr = np.asarray(spec, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"grid {name} must be (start, stop, num) or an array of coordinates, "
                              f"got {spec!r}") from exc
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ConfigError(f"grid {name} must hold finite coordinates, got {spec!r}")
    return arr


def parse_grid(grid: GridSpec) -> tuple[np.ndarray, np.ndarray]:
    """``(alphas, betas)`` from ``(start, stop, num)`` (both axes), or ``(alphas, betas)`` where
    each is an array of coordinates or a ``(start, stop, num)`` triple."""
    if isinstance(grid, tuple) and len(grid) == 3 and all(np.isscalar(x) for x in grid):
        a = _axis(grid, "alphas")
        return a, a.copy()
    if isinstance(grid, (tuple, list)) and len(grid) == 2:
        return _axis(tuple(grid[0]) if isinstance(grid[0], list) else grid[0], "alphas"), \
            _axis(tuple(grid[1]) if isinstance(grid[1], list) else grid[1], "betas")
    raise ConfigError(f"grid must be (start, stop, num) or (alphas, betas), got {grid!r}")


def select_slices(n: int, max_slices: int | None) -> list[int]:
    """Indices of at most ``max_slices`` of ``n`` slices, evenly spread (all when ``None``)."""
    if max_slices is None or max_slices >= n:
        return list(range(n))
    if isinstance(max_slices, bool) or not isinstance(max_slices, (int, np.integer)) or max_slices < 1:
        raise ConfigError(f"max_slices must be a positive integer or None, got {max_slices!r}")
    return sorted(set(np.linspace(0, n - 1, int(max_slices)).round().astype(int).tolist()))


def eval_dataset(data: SliceIndex | Sequence[str | Path], profile: Profile) -> SliceIndex:
    """``data`` itself if it is an evaluation dataset, else its volume paths as the dataset of
    ``profile.data_path`` (:func:`~mriunlearn.dataset.dataset_class`: slices in memory, or an
    index read slice by slice when streaming), with evaluation masks.

    Raises:
        ConfigError: ``data`` is a training dataset (random masks) or names no volume.
    """
    if isinstance(data, SliceIndex):
        if data.train:
            raise ConfigError(f"data must be an evaluation {type(data).__name__} (train=False): "
                              "training masks are random, so grid points would see different inputs")
        return data
    files = list(data)
    if not files:
        raise ConfigError("data holds no volume")
    return dataset_class(profile)(files, profile, train=False)


def eval_batches(data: SliceIndex | Sequence[str | Path], profile: Profile, *,
                 max_slices: int | None = None, batch_size: int | None = None,
                 ) -> tuple[Iterable[VarNetSample], list[int]]:
    """Evaluation batches (file-name-seeded masks) of ``data``, re-iterable with the same batches.

    Args:
        data: an evaluation dataset (``train=False``, e.g. from
            :func:`mriunlearn.metrics.eval_data`) or volume paths (see :func:`eval_dataset`).
        max_slices: keep at most this many slices, evenly spread over the data set.

    Returns:
        ``(batches, indices)``: same-shape ``VarNetSample`` batches (``masked_kspace
        (B, C, H, W, 2)``, ``target (B, h, w)``, ...) of at most ``batch_size`` (default
        ``profile.eval_batch_size``) and the dataset indices they hold, in batch order. In memory
        a list, collated once; streaming a DataLoader (:func:`~mriunlearn.dataset.stream_loader`)
        that reads the same batches from HDF5 on each pass, holding only those in flight.

    Raises:
        ConfigError: ``data`` is a training dataset (random masks) or holds no slice.
    """
    data = eval_dataset(data, profile)
    if len(data) == 0:
        raise ConfigError("data holds no slice")
    chosen = set(select_slices(len(data), max_slices))
    bs = batch_size or profile.eval_batch_size
    # one batch per shape (make_loader groups same-shape slices), then cut into batch_size chunks
    loader = make_loader(data, profile, train=False, batch_size=len(data))
    index_batches: list[list[int]] = []
    for group in loader.batch_sampler:  # type: ignore[union-attr]
        keep = [i for i in group if i in chosen]
        index_batches += [keep[k:k + bs] for k in range(0, len(keep), bs)]
    order = [i for idx in index_batches for i in idx]
    if isinstance(data, StreamingSliceData):
        return stream_loader(data, index_batches, profile.num_workers), order
    return [loader.collate_fn([data[i] for i in idx]) for idx in index_batches], order


@torch.inference_mode()
def batches_loss(model: torch.nn.Module, batches: Iterable[VarNetSample], profile: Profile) -> float:
    """Mean per-slice :func:`~mriunlearn.losses.recon_loss` of ``model`` over collated batches
    (``target (B, h, w)``; a list or a loader, see :func:`eval_batches`), summed in float64 (no
    gradients; the model's train/eval mode is left to the caller)."""
    total, count = 0.0, 0
    for batch in batches:
        pred = reconstruct(model, batch, profile)
        per = recon_loss(pred, batch.target.to(pred.device), batch.max_value.to(pred.device), profile,
                         reduction="none")
        total += float(per.double().sum())
        count += int(per.numel())
    return total / count


def _checked_plane_states(center_state: StateLike, dir1: StateLike, dir2: StateLike) -> tuple[State, State, State]:
    """``(θ_c, dir1, dir2)`` as CPU state dicts (:func:`as_state`).

    Raises:
        ConfigError: keys/shapes of a direction differ from ``center_state``'s, or a direction is zero.
    """
    c = as_state(center_state, "center_state")
    d1, d2 = as_state(dir1, "dir1"), as_state(dir2, "dir2")
    _check_compatible(c, d1, "center_state", "dir1")
    _check_compatible(c, d2, "center_state", "dir2")
    _check_nonzero(d1, "dir1")
    _check_nonzero(d2, "dir2")
    return c, d1, d2


def _loaded_model(c: State, profile: Profile) -> torch.nn.Module:
    """A private copy of ``profile``'s VarNet holding ``c``; ConfigError when ``c`` does not fit it."""
    model = build_model(profile)
    try:
        model.load_state_dict(c)
    except RuntimeError as exc:
        raise ConfigError(f"center_state does not fit profile {profile.name!r}'s VarNet: {exc}") from exc
    return model


def _set_plane_point(target: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor],
                     dirs1: Mapping[str, torch.Tensor], dirs2: Mapping[str, torch.Tensor],
                     keys: Sequence[str], alpha: float, beta: float) -> None:
    """Overwrite ``target[k]`` in place with ``base[k] + alpha·dirs1[k] + beta·dirs2[k]`` for ``keys``."""
    for k in keys:
        t = target[k]
        t.copy_(base[k])
        if alpha != 0.0:
            t.add_(dirs1[k], alpha=float(alpha))
        if beta != 0.0:
            t.add_(dirs2[k], alpha=float(beta))


def _grid_losses(model: torch.nn.Module, c: State, d1: State, d2: State, batches: Iterable[VarNetSample],
                 profile: Profile, alphas: np.ndarray, betas: np.ndarray, device: torch.device, progress: bool
                 ) -> tuple[np.ndarray, float]:
    """``(loss (len(betas), len(alphas)) float64, seconds spent on the grid)``.

    ``model`` (on ``device``, in eval mode) gets each grid point's floating-point weights in place.
    """
    target = model.state_dict()  # tensors sharing the model's storage
    keys = _float_keys(c)
    base = {k: c[k].to(device) for k in keys}
    dirs1 = {k: d1[k].to(device, c[k].dtype) for k in keys}
    dirs2 = {k: d2[k].to(device, c[k].dtype) for k in keys}

    from tqdm import tqdm

    loss = np.zeros((len(betas), len(alphas)), dtype=np.float64)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for j, beta in enumerate(tqdm(betas, desc="loss plane", disable=not progress, leave=False)):
            for i, alpha in enumerate(alphas):
                _set_plane_point(target, base, dirs1, dirs2, keys, alpha, beta)
                loss[j, i] = batches_loss(model, batches, profile)
    return loss, time.perf_counter() - t0


def loss_plane(center_state: StateLike, dir1: StateLike, dir2: StateLike,
               data: SliceIndex | Sequence[str | Path], profile: Profile, *,
               grid: GridSpec = (-1.0, 2.0, 13), max_slices: int | None = None,
               batch_size: int | None = None, device: str | torch.device = "cpu",
               axis_labels: tuple[str, str] = ("α", "β"), title: str = "",
               progress: bool = False) -> LossPlane:
    """Mean reconstruction loss of ``θ = θ_c + α·dir1 + β·dir2`` on a grid of ``(α, β)``.

    A private copy of the model (:func:`~mriunlearn.model.build_model`) is loaded with each grid
    point's weights in place; nothing global changes (RNG, threads, the caller's models). The
    evaluation batches (:func:`eval_batches`: file-name-seeded masks; collated once in memory,
    re-read per point when ``profile.data_path`` streams) are the same at every point. Loss: the profile's :func:`~mriunlearn.losses.recon_loss` (per slice, then the mean
    over slices), forward under ``profile.precision`` (bf16 autocast for ``default``).

    Args:
        center_state, dir1, dir2: state dicts of the profile's VarNet (same keys and shapes).
        data: an evaluation dataset (``train=False``) or volume paths (read as
            ``profile.data_path`` says, see :func:`eval_dataset`).
        grid: ``(start, stop, num)`` for both axes or ``(alphas, betas)`` (arrays or triples).
        max_slices: at most this many slices, evenly spread (``None``: all).
        batch_size: slices per forward (default ``profile.eval_batch_size``).
        device: where the forwards run.
        progress: a tqdm bar over grid rows on stderr.

    Returns:
        :class:`LossPlane` with ``loss (len(betas), len(alphas))``.

    Raises:
        ConfigError: mismatched keys/shapes (names ``dir1`` / ``dir2``), a zero direction, a bad
            grid, a training dataset, a state that does not fit the profile's VarNet.
    """
    c, d1, d2 = _checked_plane_states(center_state, dir1, dir2)
    alphas, betas = parse_grid(grid)
    dataset = eval_dataset(data, profile)
    batches, order = eval_batches(dataset, profile, max_slices=max_slices, batch_size=batch_size)
    files = tuple(dict.fromkeys(dataset.meta[i].fname for i in order))
    model = _loaded_model(c, profile)
    device = torch.device(device)
    model.to(device).eval()
    loss, seconds = _grid_losses(model, c, d1, d2, batches, profile, alphas, betas, device, progress)
    return LossPlane(alphas, betas, loss, n_slices=len(order), files=files, seconds=seconds,
                     axis_labels=tuple(axis_labels), title=title)  # type: ignore[arg-type]
