r"""Outcome counts of a membership-inference game.

A membership-inference (MI) game repeats a trial: a challenger flips a secret bit
(1 = the challenge point was a *member* of the training set, 0 = it was not), and
the attacker guesses the bit.  The outcome is summarised by a confusion matrix

===========  ===================  ===================
             guess 1 (member)     guess 0 (non-member)
===========  ===================  ===================
bit 1        TP (true positive)   FN (false negative)
bit 0        FP (false positive)  TN (true negative)
===========  ===================  ===================

with ``P = TP + FN`` member trials and ``N = FP + TN`` non-member trials.  The
false-positive rate :math:`\alpha = FP / N` and false-negative rate
:math:`\beta = FN / P` are what the hypothesis-testing view of differential privacy
constrains (Kairouz, Oh & Viswanath 2015).

Calling convention: :class:`AttackCounts` is an immutable dataclass; build it directly
or from raw attack output with :meth:`AttackCounts.from_guesses` /
:meth:`AttackCounts.from_scores`.  Counts add with ``+`` (pooling independent games).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from privacy._numbers import real_number
from privacy.exceptions import InvalidCountsError, PrivacyParameterError

__all__ = ["AttackCounts", "empirical_epsilon"]


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer, float, np.floating)):
        raise InvalidCountsError(
            f"{name} must be a non-negative integer count, got {value!r} of type {type(value).__name__}"
        )
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value) or float(value) != int(value):
            raise InvalidCountsError(f"{name} must be a non-negative integer count, got non-integer {value!r}")
    value = int(value)
    if value < 0:
        raise InvalidCountsError(f"{name} must be a non-negative integer count, got {value}")
    return value


def _as_bits(bits, name: str = "bits") -> np.ndarray:
    b = np.asarray(bits)
    if b.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of 0/1 challenge bits, got shape {b.shape}")
    if b.dtype == bool:
        return b
    if not np.issubdtype(b.dtype, np.number) or not np.all(np.isin(b, (0, 1))):
        bad = b[~np.isin(b, (0, 1))][:5] if np.issubdtype(b.dtype, np.number) else b[:5]
        raise ValueError(f"{name} must contain only 0/1 (or booleans), got values such as {bad.tolist()}")
    return b.astype(bool)


@dataclass(frozen=True)
class AttackCounts:
    r"""Confusion-matrix counts of a membership-inference game.

    Parameters
    ----------
    tp, fn, tn, fp : int
        True positives, false negatives (member trials, ``P = tp + fn``), true negatives
        and false positives (non-member trials, ``N = tn + fp``).  Non-negative integers;
        both classes must be non-empty (``P > 0`` and ``N > 0``).

    Attributes
    ----------
    P, N : int
        Numbers of member and non-member trials.
    fpr, fnr : float
        Empirical false-positive rate :math:`\hat\alpha = FP/N` and false-negative rate
        :math:`\hat\beta = FN/P`.

    Raises
    ------
    InvalidCountsError
        (a ``ValueError``) for negative or non-integer counts or an empty class.

    Examples
    --------
    >>> from privacy import AttackCounts
    >>> c = AttackCounts(tp=900, fn=100, tn=950, fp=50)
    >>> c.P, c.N, c.fpr, c.fnr
    (1000, 1000, 0.05, 0.1)
    >>> AttackCounts.from_guesses([1, 0, 1, 1], [1, 0, 0, 1])
    AttackCounts(tp=2, fn=0, tn=1, fp=1)
    """

    tp: int
    fn: int
    tn: int
    fp: int

    def __post_init__(self):
        for name in ("tp", "fn", "tn", "fp"):
            object.__setattr__(self, name, _check_count(name, getattr(self, name)))
        if self.tp + self.fn == 0:
            raise InvalidCountsError(
                "empty member class: tp + fn = 0. The false-negative rate needs at least one member "
                "(bit 1) trial; run the game with challenge points drawn from both classes."
            )
        if self.tn + self.fp == 0:
            raise InvalidCountsError(
                "empty non-member class: tn + fp = 0. The false-positive rate needs at least one "
                "non-member (bit 0) trial; run the game with challenge points drawn from both classes."
            )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_guesses(cls, guesses, bits) -> AttackCounts:
        """Counts from the attacker's 0/1 guesses and the true challenge bits (1 = member).

        Parameters
        ----------
        guesses, bits : array-like of shape (n,)
            0/1 or boolean arrays of equal length.
        """
        g = _as_bits(guesses, "guesses")
        b = _as_bits(bits, "bits")
        if g.shape != b.shape:
            raise ValueError(f"guesses and bits must have the same length, got {g.shape[0]} and {b.shape[0]}")
        return cls(
            tp=int(np.sum(g & b)), fn=int(np.sum(~g & b)), tn=int(np.sum(~g & ~b)), fp=int(np.sum(g & ~b))
        )

    @classmethod
    def from_scores(cls, scores, threshold: float, bits) -> AttackCounts:
        """Counts from attack scores thresholded at ``threshold`` (guess member iff ``score >= threshold``).

        Parameters
        ----------
        scores : array-like of shape (n,)
            Real-valued membership scores; larger means "more likely a member" (for a loss
            attack pass the *negative* loss).  Must be finite.
        threshold : float
            Decision threshold, fixed *before* looking at these trials (choosing it on the same
            trials biases the estimate upwards: use a separate calibration split).
        bits : array-like of shape (n,)
            True challenge bits, 1 = member.
        """
        s = np.asarray(scores, dtype=float)
        if s.ndim != 1:
            raise ValueError(f"scores must be a 1-D array, got shape {s.shape}")
        if not np.all(np.isfinite(s)):
            raise ValueError("scores must be finite; got NaN or inf (check the attack's loss computation)")
        if not np.isfinite(float(threshold)):
            raise ValueError(f"threshold must be a finite number, got {threshold!r}")
        return cls.from_guesses(s >= float(threshold), bits)

    @classmethod
    def from_dict(cls, d: dict) -> AttackCounts:
        """Counts from a mapping with keys tp, fn, tn, fp (case-insensitive, as written by :meth:`to_dict`)."""
        if not isinstance(d, Mapping):
            raise TypeError(f"from_dict needs a mapping with keys tp, fn, tn, fp, got {type(d).__name__}")
        low = {str(k).lower(): v for k, v in d.items()}
        extra = set(low) - {"tp", "fn", "tn", "fp"}
        if extra:
            raise ValueError(f"unknown key(s) {sorted(extra)} in {d!r}; expected exactly tp, fn, tn, fp")
        missing = {"tp", "fn", "tn", "fp"} - set(low)
        if missing:
            raise ValueError(f"missing count(s) {sorted(missing)} in {d!r}")
        return cls(tp=low["tp"], fn=low["fn"], tn=low["tn"], fp=low["fp"])

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    # ------------------------------------------------------------------ properties
    @property
    def P(self) -> int:  # noqa: N802 (paper notation)
        return self.tp + self.fn

    @property
    def N(self) -> int:  # noqa: N802
        return self.tn + self.fp

    @property
    def fpr(self) -> float:
        return self.fp / self.N

    @property
    def fnr(self) -> float:
        return self.fn / self.P

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / (self.P + self.N)

    def __add__(self, other: AttackCounts) -> AttackCounts:
        if not isinstance(other, AttackCounts):
            return NotImplemented
        return AttackCounts(self.tp + other.tp, self.fn + other.fn, self.tn + other.tn, self.fp + other.fp)

    def swapped(self) -> AttackCounts:
        """The game with the roles of errors swapped (FN <-> FP, TN <-> TP); epsilon is invariant."""
        return AttackCounts(tp=self.tn, fn=self.fp, tn=self.tp, fp=self.fn)

    def reflected(self) -> AttackCounts:
        """The game with every guess flipped (FN <-> TP, FP <-> TN); epsilon is invariant."""
        return AttackCounts(tp=self.fn, fn=self.tp, tn=self.fp, fp=self.tn)

    def empirical_epsilon(self, delta: float) -> float:
        """Plug-in epsilon at the empirical rates (``inf`` when a rate is zero); no uncertainty."""
        return float(empirical_epsilon(self.fpr, self.fnr, delta))


def _check_delta(delta) -> float:
    d = real_number(delta, "delta", "a number in [0, 1)", PrivacyParameterError)
    if not (0.0 <= d < 1.0) or not np.isfinite(d):
        raise PrivacyParameterError(f"delta must lie in [0, 1), got {delta!r}")
    return d


def empirical_epsilon(fpr, fnr, delta: float):
    r"""Epsilon of the tightest (eps, delta)-DP region containing the point (fpr, fnr).

    .. math::

        \varepsilon(\alpha, \beta) = \max\Bigl\{0,\ \log\frac{1-\delta-\alpha}{\beta},\
        \log\frac{1-\delta-\beta}{\alpha}\Bigr\}

    after reflecting :math:`(\alpha, \beta) \to (1-\beta, 1-\alpha)` when
    :math:`\alpha + \beta > 1` (Kairouz et al. 2015; Zanella-Beguelin et al. 2023, Eq. 3).
    Vectorised over ``fpr`` and ``fnr``; returns ``inf`` where the relevant rate is zero.

    Examples
    --------
    >>> round(float(empirical_epsilon(0.05, 0.1, 1e-5)), 4)
    2.8904
    """
    d = _check_delta(delta)
    for name, v in (("fpr", fpr), ("fnr", fnr)):
        kind = np.asarray(v).dtype.kind
        if kind not in "iuf":
            raise TypeError(f"{name} must be a real number or an array of them, got {type(v).__name__} "
                            f"of dtype {np.asarray(v).dtype}")
    a = np.asarray(fpr, dtype=float)
    b = np.asarray(fnr, dtype=float)
    if np.any((a < 0) | (a > 1) | np.isnan(a)) or np.any((b < 0) | (b > 1) | np.isnan(b)):
        raise ValueError("fpr and fnr must lie in [0, 1]")
    refl = a + b > 1.0
    a, b = np.where(refl, 1.0 - b, a), np.where(refl, 1.0 - a, b)
    c = 1.0 - d
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = np.where(c - a > 0, np.log(np.maximum(c - a, 1e-300)) - np.log(b), -np.inf)
        e2 = np.where(c - b > 0, np.log(np.maximum(c - b, 1e-300)) - np.log(a), -np.inf)
    out = np.maximum(0.0, np.maximum(e1, e2))
    return out if out.ndim else float(out)
