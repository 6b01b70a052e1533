r"""Frequentist and rectangle baselines for an epsilon interval from attack counts.

The methods a user would compare the Bayesian posterior with (Jagielski, Ullman & Oprea 2020,
arXiv:2006.07709; Nasr et al. 2021, "Adversary Instantiation"; as implemented in the authors'
``privacy-estimates`` package):

1. Each error rate gets an equal-tailed interval at level ``1 - gamma/2`` (a *union bound*, so
   the rectangle holds both rates with confidence at least ``1 - gamma``):
   Clopper-Pearson (exact binomial, ``statsmodels`` ``method="beta"``) or Jeffreys
   (Bayesian Beta(1/2, 1/2) quantiles, with the endpoint set to 0 (1) when a count is 0 (n)).
2. The epsilon interval is the range of :func:`privacy.empirical_epsilon` over the two
   corners (low, low) and (high, high) of the rectangle; the lower end is 0 when the rectangle
   straddles the anti-diagonal :math:`\alpha + \beta = 1`.

A one-sided bound at level ``1 - a`` is the corresponding end of the two-sided interval at
``1 - 2a`` (the rate intervals are equal-tailed).  A zero count gives an upper end of ``inf``:
a valid answer, reported as such.

Calling convention: ``clopper_pearson_interval(counts, delta, confidence_level=0.95)`` returns an
:class:`EpsilonInterval` (``lower``, ``upper``, ``confidence_level``, ``method``).  ``level`` is the former name
of ``confidence_level`` (deprecated for one release; it warns).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from scipy import special

from privacy.counts import AttackCounts, _check_delta, empirical_epsilon
from privacy.epsilon import check_level, renamed_level
from privacy.exceptions import PrivacyDeprecationWarning, PrivacyParameterError
from probinf.deprecation import renamed_attribute

__all__ = ["EpsilonInterval", "rectangle_interval", "clopper_pearson_interval", "jeffreys_interval",
           "clopper_pearson_lower_bound"]


@dataclass(frozen=True)
class EpsilonInterval:
    """An interval for epsilon: ``lower``, ``upper`` (may be ``inf``), its ``confidence_level`` and ``method``."""

    lower: float
    upper: float
    confidence_level: float
    method: str
    level = renamed_attribute("level", "confidence_level", PrivacyDeprecationWarning)

    @property
    def width(self) -> float:
        return self.upper - self.lower

    def to_dict(self) -> dict:
        return asdict(self)


def _rate_interval(k: int, n: int, gamma: float, method: str):
    """Equal-tailed ``1 - gamma`` interval of a binomial rate: statsmodels' ``proportion_confint`` with
    ``method="beta"`` (Clopper-Pearson) or ``"jeffreys"``, by the Beta quantiles it uses (scipy.special only, so
    that importing this module stays fast); the ends are pinned at 0 and 1 for the boundary counts."""
    a, b = (k + 0.5, n - k + 0.5) if method == "jeffreys" else (k, n - k + 1)
    lo = 0.0 if k == 0 else special.betaincinv(a, b, gamma / 2)
    a, b = (k + 0.5, n - k + 0.5) if method == "jeffreys" else (k + 1, n - k)
    hi = 1.0 if k == n else special.betaincinv(a, b, 1 - gamma / 2)
    return float(lo), float(hi)


def rectangle_interval(counts: AttackCounts, delta: float, confidence_level: float = 0.95,
                       method: str = "clopper-pearson", *, level=None) -> EpsilonInterval:
    r"""Two-sided epsilon interval from a union-bound rectangle of per-rate intervals.

    Parameters
    ----------
    counts : AttackCounts
    delta : float in [0, 1)
    confidence_level : float in (0, 1)
        Joint confidence ``1 - gamma``; each rate's interval has level ``1 - gamma/2``.
    method : {"clopper-pearson", "jeffreys"}
    level : float, optional
        Former name of ``confidence_level`` (deprecated; it warns).

    Examples
    --------
    >>> from privacy import AttackCounts
    >>> iv = rectangle_interval(AttackCounts(tp=900, fn=100, tn=950, fp=50), 1e-5, 0.95)
    >>> round(iv.lower, 3), round(iv.upper, 3)
    (2.561, 3.248)
    """
    if not isinstance(counts, AttackCounts):
        raise TypeError(f"counts must be a privacy.AttackCounts, got {type(counts).__name__}")
    d = _check_delta(delta)
    lv = check_level(renamed_level(level, confidence_level))
    sm = {"clopper-pearson": "beta", "jeffreys": "jeffreys"}.get(method)
    if sm is None:
        raise ValueError(f"method must be 'clopper-pearson' or 'jeffreys', got {method!r}")
    gamma = (1.0 - lv) / 2.0  # union bound over the two rates
    fpr_l, fpr_r = _rate_interval(counts.fp, counts.N, gamma, sm)
    fnr_l, fnr_r = _rate_interval(counts.fn, counts.P, gamma, sm)
    straddles = (fnr_r > 1 - fpr_r) != (fnr_l > 1 - fpr_l)
    e_r = float(empirical_epsilon(fpr_r, fnr_r, d))
    e_l = float(empirical_epsilon(fpr_l, fnr_l, d))
    lower = 0.0 if straddles else min(e_l, e_r)
    return EpsilonInterval(lower=lower, upper=max(e_l, e_r), confidence_level=lv, method=method)


def clopper_pearson_interval(counts: AttackCounts, delta: float, confidence_level: float = 0.95, *,
                             level=None) -> EpsilonInterval:
    """Clopper-Pearson union-bound interval (:func:`rectangle_interval` with ``method="clopper-pearson"``).

    ``level`` is the former name of ``confidence_level`` (deprecated; it warns).
    """
    return rectangle_interval(counts, delta, renamed_level(level, confidence_level), "clopper-pearson")


def jeffreys_interval(counts: AttackCounts, delta: float, confidence_level: float = 0.95, *,
                      level=None) -> EpsilonInterval:
    """Jeffreys-rectangle interval (:func:`rectangle_interval` with ``method="jeffreys"``).

    ``level`` is the former name of ``confidence_level`` (deprecated; it warns).
    """
    return rectangle_interval(counts, delta, renamed_level(level, confidence_level), "jeffreys")


def clopper_pearson_lower_bound(counts: AttackCounts, delta: float, confidence_level: float = 0.95,
                                method: str = "clopper-pearson", *, level=None) -> float:
    """One-sided lower confidence bound at ``confidence_level`` (> 0.5).

    The lower end of the two-sided interval at ``2 confidence_level - 1``.  ``level`` is the former name of
    ``confidence_level`` (deprecated; it warns).
    """
    cl = renamed_level(level, confidence_level)
    lv = check_level(cl)
    if lv <= 0.5:
        raise PrivacyParameterError(f"a one-sided confidence_level must exceed 0.5, got {cl!r}")
    return rectangle_interval(counts, delta, 2.0 * lv - 1.0, method).lower
