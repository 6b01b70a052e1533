r"""Paired comparisons of test-time-scaling methods: bootstrap intervals and the budget ratio to match.

Every method runs on the same problems with the same seeds, so results are arrays of
shape ``(problems, seeds)`` (or ``(problems,)``) aligned across methods.  Differences are
taken cell by cell (paired) and resampled by a **two-stage bootstrap**: problems with
replacement, then seeds with replacement within each drawn problem.  With one seed it is
the ordinary bootstrap over problems, whose variance of the mean is exactly
:math:`\frac{1}{n}\cdot\frac{1}{n}\sum_i (d_i - \bar d)^2` (tested).

The paper's scaling-rate claim ("PF at budget B matches best-of-N only at 4-16x B") is
read through :func:`budget_ratio_to_match`: the smallest ``B'`` on the budget grid with
``mean BoN@B' >= mean PF@B``, divided by ``B``, and its bootstrap interval (the same
resampled problems and seeds for both curves).  :func:`claim_verdict` turns an interval
into ``"held"`` (lower bound >= threshold), ``"not held"`` (upper bound < threshold) or
``"undetermined"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llm_bridge.estimators import renamed_level
from llm_bridge.exceptions import LLMBridgeDeprecationWarning
from probinf.deprecation import renamed_argument, renamed_attribute

__all__ = ["Interval", "paired_bootstrap", "bootstrap_indices", "budget_to_match", "budget_ratio_to_match",
           "claim_verdict"]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile bootstrap interval and the bootstrap standard error."""

    estimate: float
    lower: float
    upper: float
    se: float
    confidence_level: float = 0.95
    level = renamed_attribute("level", "confidence_level", LLMBridgeDeprecationWarning)

    def excludes(self, value: float = 0.0) -> bool:
        """True iff ``value`` lies outside ``[lower, upper]``."""
        return bool(value < self.lower or value > self.upper)

    def __str__(self) -> str:
        return f"{self.estimate:+.3f} [{self.lower:+.3f}, {self.upper:+.3f}]"


def _as_cells(x, name: str) -> np.ndarray:
    a = np.asarray(x, float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1:
        raise ValueError(f"{name} must have shape (problems, [seeds]) with >= 2 problems, got shape {np.shape(x)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite; it holds {int((~np.isfinite(a)).sum())} NaN/inf values")
    return a


def _check_level(level, num_resamples):
    if not 0 < level < 1:
        raise ValueError(f"confidence_level must be in (0, 1), got {level!r}")
    if isinstance(num_resamples, bool) or not isinstance(num_resamples, (int, np.integer)) or num_resamples < 10:
        raise ValueError(f"num_resamples must be an int >= 10, got {num_resamples!r}")


def bootstrap_indices(n_problems: int | None = None, n_seeds: int | None = None, num_resamples: int = 2000,
                      random_state=0, *, num_problems=None, num_seeds=None):
    """Two-stage resampling indices: problems ``(R, P)`` and seeds within them ``(R, P, S)``.

    ``n_problems`` and ``n_seeds`` are data sizes (``P``, ``S``), ``num_resamples`` the bootstrap's size ``R``;
    ``num_problems`` and ``num_seeds`` are their former names (deprecated for one release; they warn).
    """
    num_problems = renamed_argument(num_problems, n_problems, old="num_problems", new="n_problems", default=None,
                                    category=LLMBridgeDeprecationWarning)
    num_seeds = renamed_argument(num_seeds, n_seeds, old="num_seeds", new="n_seeds", default=None,
                                 category=LLMBridgeDeprecationWarning)
    if num_problems is None or num_seeds is None:
        raise TypeError("bootstrap_indices needs n_problems and n_seeds (ints >= 1)")
    rng = np.random.default_rng(random_state)
    pi = rng.integers(0, num_problems, size=(num_resamples, num_problems))
    si = rng.integers(0, num_seeds, size=(num_resamples, num_problems, num_seeds)) if num_seeds > 1 else \
        np.zeros((num_resamples, num_problems, 1), np.int64)
    return pi, si


def _resampled_means(cells: np.ndarray, pi, si) -> np.ndarray:
    """Mean over the resampled (problem, seed) cells, for each resample: shape ``(R, *cells.shape[2:])``."""
    return cells[pi[:, :, None], si].mean(axis=(1, 2))


def paired_bootstrap(a, b=None, *, num_resamples: int = 2000, confidence_level: float = 0.95, random_state=0,
                     level=None) -> Interval:
    """Mean of ``a - b`` (or of ``a``) over problems and seeds, with a two-stage paired bootstrap interval.

    Parameters
    ----------
    a, b : array_like, shape (problems,) or (problems, seeds)
        Per-cell scores of two methods on the same problems and seeds (``b=None``: ``a`` alone).
    num_resamples : int
    confidence_level : float
    random_state : int or numpy Generator
    level : float, optional
        Former name of ``confidence_level`` (deprecated; it warns).

    Returns
    -------
    Interval
    """
    level = renamed_level(level, confidence_level)
    _check_level(level, num_resamples)
    d = _as_cells(a, "a")
    if b is not None:
        bb = _as_cells(b, "b")
        if bb.shape != d.shape:
            raise ValueError(f"a and b must have the same shape (paired cells), got {d.shape} and {bb.shape}")
        d = d - bb
    pi, si = bootstrap_indices(d.shape[0], d.shape[1], num_resamples, random_state)
    boots = _resampled_means(d, pi, si)
    al = (1 - level) / 2
    return Interval(float(d.mean()), float(np.quantile(boots, al)), float(np.quantile(boots, 1 - al)),
                    float(boots.std(ddof=1)), level)


def budget_to_match(bon_means, target: float, budgets) -> float:
    """Smallest budget whose mean BoN accuracy reaches ``target`` (``inf`` if none on the grid)."""
    bon_means = np.asarray(bon_means, float)
    ok = np.flatnonzero(bon_means >= target - 1e-12)
    return float(np.asarray(budgets, float)[ok[0]]) if ok.size else float("inf")


def budget_ratio_to_match(bon, pf, budgets, budget: int, *, num_resamples: int = 2000,
                          confidence_level: float = 0.95, random_state=0, level=None) -> dict:
    """``B'/B`` with ``B'`` the smallest grid budget where BoN reaches PF@``budget``, with a bootstrap interval.

    Parameters
    ----------
    bon : array_like, shape (problems, seeds, len(budgets))
        BoN scores per cell at every budget of the grid.
    pf : array_like, shape (problems, seeds)
        PF scores per cell at ``budget``.
    budgets : sequence of int
        The increasing budget grid of ``bon``.
    budget : int
        PF's budget ``B``.

    Returns
    -------
    dict
        ``ratio`` (point; ``inf`` when BoN never matches on the grid), ``lower``, ``upper``
        (percentile interval of the resampled ratios; may be ``inf``), ``p_ratio_ge_4``
        (fraction of resamples with ratio >= 4) and ``max_ratio`` (largest finite value the
        grid can show).
    """
    level = renamed_level(level, confidence_level)
    _check_level(level, num_resamples)
    budgets = np.asarray(budgets, float)
    bon = np.asarray(bon, float)
    if bon.ndim == 2:
        bon = bon[:, None, :]
    pfc = _as_cells(pf, "pf")
    if bon.shape[:2] != pfc.shape or bon.shape[2] != len(budgets):
        raise ValueError(f"bon must have shape (problems, seeds, {len(budgets)}) matching pf {pfc.shape}, "
                         f"got {bon.shape}")
    if np.any(np.diff(budgets) <= 0):
        raise ValueError(f"budgets must increase, got {budgets.tolist()}")
    pi, si = bootstrap_indices(pfc.shape[0], pfc.shape[1], num_resamples, random_state)
    bon_b = _resampled_means(bon, pi, si)  # (R, K)
    pf_b = _resampled_means(pfc, pi, si)  # (R,)
    ratios = np.array([budget_to_match(bon_b[r], pf_b[r], budgets) for r in range(num_resamples)]) / budget
    point = budget_to_match(bon.mean(axis=(0, 1)), pfc.mean(), budgets) / budget
    al = (1 - level) / 2
    return {"ratio": point, "lower": float(np.quantile(ratios, al, method="lower")),
            "upper": float(np.quantile(ratios, 1 - al, method="higher")),
            "p_ratio_ge_4": float(np.mean(ratios >= 4)), "max_ratio": float(budgets[-1] / budget)}


def claim_verdict(lower: float, upper: float, threshold: float = 4.0, max_ratio: float = float("inf")) -> str:
    """``"held"`` if ``lower >= threshold``, ``"not held"`` if ``upper < threshold``, else ``"undetermined"``.

    ``inf`` stands for "beyond the grid" (ratio > ``max_ratio``): an infinite lower bound
    only supports the claim when ``max_ratio >= threshold``.
    """
    if np.isnan(lower) or np.isnan(upper) or lower > upper:
        raise ValueError(f"need lower <= upper (not NaN), got [{lower}, {upper}]")
    if np.isinf(lower) and max_ratio < threshold:
        return "undetermined"
    if lower >= threshold:
        return "held"
    if upper < threshold:
        return "not held"
    return "undetermined"
