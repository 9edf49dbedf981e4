"""Calibrated membership inference: does a model still recognise the slices it was asked to forget?

The attack compares *members* (the forget slices D_f, which G trained on) with *non-members* drawn
from the same distribution (the unseen knee test slices: same simulator or scanner, same protocol,
other subjects). Each slice gets a score, higher meaning "reconstructed better than expected":

- **calibrated** (the default): ``score = mean_R log10 NMSE_R(x) − log10 NMSE_M(x)``, the model's
  error on slice ``x`` against the mean error of *reference* models ``R`` that never saw either set
  (oracles Ĝ trained at other seeds). The references absorb how hard each slice is (difficulty
  calibration, Watson et al., ICLR 2022, the calibration LiRA builds on), so a harder forget subject
  does not pass for "forgotten" and an easier one not for "remembered";
- **uncalibrated** (no references): ``score = −log10 NMSE_M(x)``, the plain loss attack.

The **AUC** is the probability that a member outscores a non-member (Mann-Whitney; ties count half):
0.5 means no membership signal, 1 that every forget slice is recognised, below 0.5 that the forget
slices are reconstructed *worse* than unseen knees (a trace of over-unlearning, itself detectable).
Slices of one subject are not independent, so the interval is a subject-clustered percentile
bootstrap: subjects are resampled with replacement within each class, each with all its slices.
:func:`membership_verdict` is the one rule that reads the interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .errors import ConfigError
from .forgetting import LOSS_FEATURES, slice_loss_features
from .manifest import Manifest
from .metrics import eval_data
from .profiles import Profile

#: the roles that hold members (trained on by G) and non-members (same distribution, never trained on)
MEMBER_ROLE, NONMEMBER_ROLE = "forget", "test_knee"
#: the per-slice statistic the attack scores (a column of :func:`mriunlearn.forgetting.slice_loss_features`)
STATISTIC = "log_nmse"
#: bootstrap resamples of the interval, and its confidence
BOOTSTRAP_SAMPLES, CONFIDENCE = 2000, 0.95


def auc(members: np.ndarray, nonmembers: np.ndarray) -> float:
    """P(member score > non-member score) + ½ P(tie) over all pairs (the ROC AUC).

    >>> auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])), auc(np.array([1.0]), np.array([1.0, 2.0]))
    (1.0, 0.25)
    """
    a = np.asarray(members, dtype=np.float64).ravel()[:, None]
    b = np.asarray(nonmembers, dtype=np.float64).ravel()[None, :]
    if a.size == 0 or b.size == 0:
        raise ConfigError(f"an AUC needs members and non-members, got {a.size} and {b.size} scores")
    return float(((a > b).sum() + 0.5 * (a == b).sum()) / (a.size * b.size))


def clustered_auc_interval(members: np.ndarray, member_groups: Sequence[str], nonmembers: np.ndarray,
                           nonmember_groups: Sequence[str], *, confidence: float = CONFIDENCE,
                           samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`auc`, resampling whole groups (subjects) per class.

    Args:
        members, nonmembers: ``(n,)`` and ``(m,)`` scores.
        member_groups, nonmember_groups: the group (subject, volume) of each score, same lengths.

    Raises:
        ConfigError: lengths that differ, or fewer than two groups in a class (nothing to resample).
    """
    classes = [_subjects(name, scores, groups) for name, scores, groups in
               (("members", members, member_groups), ("non-members", nonmembers, nonmember_groups))]
    return _percentile_interval(lambda rng: auc(*(_resample(parts, rng) for parts in classes)), confidence, samples, seed)


def clustered_mean_interval(values: np.ndarray, groups: Sequence[str], *, confidence: float = CONFIDENCE,
                            samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` ``(n,)``, resampling whole ``groups``
    (the subject of each value) as :func:`clustered_auc_interval` does.

    Raises:
        ConfigError: lengths that differ, or fewer than two groups.
    """
    parts = _subjects("values", values, groups)
    return _percentile_interval(lambda rng: float(_resample(parts, rng).mean()), confidence, samples, seed)


def _subjects(name: str, scores: np.ndarray, groups: Sequence[str]) -> list[np.ndarray]:
    """``scores`` split by group (first-seen order), checked: equal lengths, >= 2 groups."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(groups)
    if len(scores) != len(labels):
        raise ConfigError(f"{name}: {len(scores)} scores but {len(labels)} group labels")
    parts = [scores[labels == g] for g in dict.fromkeys(labels.tolist())]
    if len(parts) < 2:
        raise ConfigError(f"{name}: a clustered interval needs >= 2 subjects, got {len(parts)}")
    return parts


def _resample(parts: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """As many groups as ``parts`` holds, drawn with replacement, each with all its values."""
    return np.concatenate([parts[j] for j in rng.integers(len(parts), size=len(parts))])


def _percentile_interval(draw: Callable[[np.random.Generator], float], confidence: float, samples: int,
                         seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    draws = np.array([draw(rng) for _ in range(samples)])
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def attack_scores(model_stat: np.ndarray, reference_stats: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Per-slice scores ``(n,)`` from the model's statistic ``(n,)`` (lower = reconstructed better) and
    the references' ``[(n,), ...]`` on the same slices: ``mean(references) − model``, or ``−model``
    without references (the uncalibrated attack)."""
    model_stat = np.asarray(model_stat, dtype=np.float64)
    if not len(reference_stats):
        return -model_stat
    refs = np.stack([np.asarray(r, dtype=np.float64) for r in reference_stats])
    if refs.shape[1:] != model_stat.shape:
        raise ConfigError(f"reference statistics of shape {refs.shape[1:]} for a model statistic of shape {model_stat.shape}")
    return refs.mean(axis=0) - model_stat


@dataclass(frozen=True)
class MembershipResult:
    """One attack on one model: AUC, its interval, the sample sizes and whether it was calibrated."""

    auc: float
    low: float
    high: float
    members: int
    nonmembers: int
    member_subjects: int
    nonmember_subjects: int
    references: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def membership_verdict(low: float, high: float, auc_value: float | None = None,
                       floor: tuple[float, float] | None = None) -> str:
    """The one rule that reads a membership test: ``"recognised"`` when the AUC interval (``low``,
    ``high``) lies above 0.5 and the AUC above the noise ``floor`` (the lowest and highest AUC of
    oracles scored against each other, none of which saw D_f); ``"worse than unseen"`` when the
    interval lies below 0.5 and the AUC below the floor (the forget slices are reconstructed worse
    than unseen knees: over-unlearning, itself a detectable trace); ``"not detected"`` otherwise.

    Why both: with a handful of forget subjects, the interval resamples few subjects and the oracles
    themselves, scored against one another, spread by tenths; an AUC no farther from 0.5 than an
    oracle's is no evidence either way. Without a ``floor`` (or ``auc_value``) the interval decides alone.

    >>> membership_verdict(0.55, 0.8), membership_verdict(0.55, 0.8, 0.68, (0.3, 0.7))
    ('recognised', 'not detected')
    """
    above = auc_value is None or floor is None or auc_value > floor[1]
    below = auc_value is None or floor is None or auc_value < floor[0]
    if low > 0.5 and above:
        return "recognised"
    if high < 0.5 and below:
        return "worse than unseen"
    return "not detected"


#: the fewest subjects per class a clustered interval can resample
MIN_SUBJECTS = 2

Statistics = dict[str, np.ndarray]
Groups = dict[str, list[str]]


@torch.no_grad()
def role_statistics(model: torch.nn.Module, manifest: Manifest, profile: Profile) -> tuple[Statistics, Groups]:
    """The attack's statistic on every slice of :data:`MEMBER_ROLE` and :data:`NONMEMBER_ROLE`, with
    evaluation masks, and the subject (file name) of each slice: ``({role: (n_role,) float64},
    {role: [fname] * n_role})``. Streaming (``profile.data_path``), one batch is in memory at a time."""
    stats, groups = {}, {}
    for role in (MEMBER_ROLE, NONMEMBER_ROLE):
        data = eval_data(manifest, role, profile)
        stats[role] = slice_loss_features(model, data, profile)[:, LOSS_FEATURES.index(STATISTIC)]
        groups[role] = [m.fname for m in data.meta]
    return stats, groups


def attack_impossible(manifest: Manifest) -> str | None:
    """Why ``manifest`` cannot support the attack (fewer than :data:`MIN_SUBJECTS` volumes in a
    class), or ``None`` when it can."""
    counts = {role: len(manifest.files(role)) for role in (MEMBER_ROLE, NONMEMBER_ROLE)}
    if min(counts.values()) >= MIN_SUBJECTS:
        return None
    return (f"a subject-clustered membership test needs >= {MIN_SUBJECTS} volumes per class, the split has "
            + " and ".join(f"{n} {role}" for role, n in counts.items()))


def membership_attack(model_stats: Statistics, reference_stats: Sequence[Statistics], groups: Groups, *,
                      seed: int = 0) -> MembershipResult:
    """The attack from per-slice statistics (:func:`role_statistics`).

    Args:
        model_stats: the model's statistic per role, ``{role: (n_role,)}``.
        reference_stats: one such dict per reference model (may be empty: uncalibrated).
        groups: the subject of each slice per role.
        seed: seeds the bootstrap.
    """
    scores = {role: attack_scores(model_stats[role], [r[role] for r in reference_stats])
              for role in (MEMBER_ROLE, NONMEMBER_ROLE)}
    m, n = scores[MEMBER_ROLE], scores[NONMEMBER_ROLE]
    gm, gn = groups[MEMBER_ROLE], groups[NONMEMBER_ROLE]
    low, high = clustered_auc_interval(m, gm, n, gn, seed=seed)
    return MembershipResult(auc(m, n), low, high, len(m), len(n), len(set(gm)), len(set(gn)), len(reference_stats))


def likelihood_ratios(stat: np.ndarray, inside: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """Per-slice log-likelihood ratio of "trained on this slice" over "never trained on it" for a
    model's statistic ``stat`` ``(n,)``, from an ensemble of models trained with the slices
    (``inside``, ``(K_in, n)``) and one trained without them (``outside``, ``(K_out, n)``): a Gaussian
    per slice and side, its mean the side's mean on that slice, one variance pooled over every slice
    and both sides (the fixed-variance LiRA of Carlini et al., S&P 2022, for few ensemble models;
    U-LiRA, Hayes et al. 2024, scores unlearned models with it). Positive = more like a model
    that trained on the slice; ``<= 0`` = at least as likely under the models that never saw it.

    Raises:
        ConfigError: shapes that do not match, or fewer than two models on a side (no variance).

    >>> likelihood_ratios(np.array([0.0, 1.0]), np.array([[0.0, 0.1], [0.2, -0.1]]), np.array([[1.0, 1.1], [1.2, 0.9]]))
    array([ 30., -25.])
    """
    stat = np.asarray(stat, dtype=np.float64)
    inside, outside = (np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in (inside, outside))
    if inside.shape[1:] != stat.shape or outside.shape[1:] != stat.shape:
        raise ConfigError(f"ensemble statistics {inside.shape} and {outside.shape} for a statistic of shape {stat.shape}")
    if min(len(inside), len(outside)) < 2:
        raise ConfigError(f"a likelihood ratio needs >= 2 models per side, got {len(inside)} and {len(outside)}")
    mu_in, mu_out = inside.mean(axis=0), outside.mean(axis=0)
    ss = ((inside - mu_in) ** 2).sum() + ((outside - mu_out) ** 2).sum()
    var = ss / (inside.size + outside.size - 2 * stat.size)
    return ((stat - mu_out) ** 2 - (stat - mu_in) ** 2) / (2 * var)
