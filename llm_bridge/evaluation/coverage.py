r"""Coverage (pass@k) curves and the Large Language Monkeys log-linear law, with intervals.

Brown et al. (2024) found coverage ``c(k)`` (the fraction of problems solved by at least one
of ``k`` samples, estimated without bias by pass@k) to follow

.. math:: \log c(k) \approx a\, k^{b}, \qquad\text{i.e.}\qquad \log(-\log c(k)) = \log(-a) + b \log k,

a straight line in ``log k`` that :func:`fit_loglinear_coverage` fits by least squares
over the ``k`` with ``0 < c(k) < 1``, with percentile bootstrap intervals over problems.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llm_bridge.estimators import pass_at_k, renamed_level

__all__ = ["CoverageFit", "coverage_matrix", "fit_loglinear_coverage"]


@dataclass(frozen=True)
class CoverageFit:
    """``log c(k) = a k^b`` with bootstrap intervals (``*_ci``, at ``confidence_level``) and the fitted ``ks``."""

    a: float
    b: float
    a_ci: tuple[float, float]
    b_ci: tuple[float, float]
    ks: tuple[int, ...]
    coverage: tuple[float, ...]

    def predict(self, k) -> np.ndarray:
        """Fitted coverage ``exp(a k^b)``."""
        return np.exp(self.a * np.asarray(k, float) ** self.b)


def coverage_matrix(n, c, ks) -> np.ndarray:
    """Per-problem unbiased pass@k, shape ``(problems, len(ks))``."""
    c = np.atleast_1d(np.asarray(c))
    n = np.broadcast_to(np.asarray(n), c.shape)
    return np.stack([pass_at_k(n, c, int(k)) for k in ks], axis=1)


def _fit(ks, cov):
    ok = (cov > 0) & (cov < 1)
    if ok.sum() < 2:
        return np.nan, np.nan
    x, y = np.log(np.asarray(ks, float)[ok]), np.log(-np.log(cov[ok]))
    b, loga = np.polyfit(x, y, 1)
    return -float(np.exp(loga)), float(b)


def fit_loglinear_coverage(n, c, ks, *, num_resamples: int = 1000, confidence_level: float = 0.95,
                           random_state=0, level=None) -> CoverageFit:
    """Fit the log-linear coverage law to per-problem ``(n, c)`` counts; see the module docstring.

    The bootstrap intervals of ``a`` and ``b`` are at ``confidence_level`` (``level``: its former name, deprecated).

    Raises ``ValueError`` when fewer than two ``k`` have coverage strictly between 0 and 1.
    """
    level = renamed_level(level, confidence_level)
    ks = [int(k) for k in ks]
    per = coverage_matrix(n, c, ks)
    cov = per.mean(axis=0)
    a, b = _fit(ks, cov)
    if np.isnan(a):
        raise ValueError(f"need >= 2 values of k with 0 < coverage < 1 to fit; coverage = {np.round(cov, 3).tolist()}")
    rng = np.random.default_rng(random_state)
    boots = np.array([_fit(ks, per[rng.integers(0, len(per), len(per))].mean(axis=0)) for _ in range(num_resamples)])
    boots = boots[~np.isnan(boots).any(axis=1)]
    al = (1 - level) / 2
    qa = np.quantile(boots[:, 0], [al, 1 - al])
    qb = np.quantile(boots[:, 1], [al, 1 - al])
    return CoverageFit(a, b, (float(qa[0]), float(qa[1])), (float(qb[0]), float(qb[1])), tuple(ks),
                       tuple(float(x) for x in cov))
