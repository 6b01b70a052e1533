r"""Confidence intervals that account for the privacy noise *and* the sampling of the data.

A parametric bootstrap of the whole data-generating-plus-release process, computed from the
noisy release alone (so it is post-processing and costs no privacy):

1. The released cells, clipped at 0 and normalised, are the cell probabilities
   :math:`\hat p` of a multinomial model for the grouped data (the nonparametric bootstrap of
   individual records *is* a multinomial draw over cells); the size is the public :math:`N`
   (replace-one) or the noisy total (add-remove).
2. For each of ``B`` replicates: draw cells :math:`c^* \sim \mathrm{Mult}(\hat N, \hat p)`
   (sampling variability, the part Greenwood's formula describes), release them again with the
   *same* mechanism and :math:`\varepsilon` (privacy noise), post-process into :math:`S^*`.
3. The pointwise interval is the percentile interval of :math:`S^*` at level :math:`1 - \alpha`.

Coverage of the true survival function is checked by simulation in
``tests/privacy/test_km_intervals.py``.
"""

from __future__ import annotations

import numpy as np

from .mechanisms import product_limit

__all__ = ["bootstrap_curves", "percentile_band", "median_from_curve", "phantom_death_ratio", "LOW_EVENT_RATIO"]

#: Grid times where the phantom-death ratio exceeds this are flagged (see :func:`phantom_death_ratio`).
LOW_EVENT_RATIO = 0.25


def bootstrap_curves(noisy_cells, release, rng, *, n_bootstrap=1000, n_public=None, convention="actuarial"):
    """Replicate curves ``S*`` of shape ``(n_bootstrap, K)``.

    ``release(cells_batch) -> noisy cells batch`` re-applies the mechanism (fresh noise).
    """
    x = np.asarray(noisy_cells, dtype=float)
    p = np.clip(x, 0.0, None)
    if p.sum() <= 0:
        p = np.ones_like(p)
    p = p / p.sum()
    n_hat = int(n_public) if n_public is not None else int(max(round(float(x.sum())), 1))
    cells = rng.multinomial(n_hat, p, size=n_bootstrap).astype(float)
    s_star, _, _ = product_limit(release(cells), n_public=n_public, convention=convention)
    return s_star


def percentile_band(s_star, alpha):
    """Pointwise ``(lower, upper)`` percentile interval of replicate curves (monotone in time)."""
    lo = np.quantile(s_star, alpha / 2, axis=0)
    hi = np.quantile(s_star, 1 - alpha / 2, axis=0)
    # quantiles of non-increasing curves are non-increasing; enforce against float ties
    return np.minimum.accumulate(lo), np.minimum.accumulate(hi)


def median_from_curve(times, surv):
    """First time at which ``surv <= 0.5`` (``inf`` if the curve never reaches 0.5)."""
    surv = np.asarray(surv)
    hit = np.nonzero(surv <= 0.5)[0]
    return float(times[hit[0]]) if hit.size else float("inf")


def phantom_death_ratio(noisy_cells, death_noise_scale):
    r"""Cumulative ratio of clipping-created ("phantom") deaths to noisy deaths at each grid point, shape (K,).

    Clipping a noisy death count :math:`\tilde d = d + L`, :math:`L \sim \mathrm{Laplace}(b)`, at 0 adds
    :math:`E[\max(d + L, 0)] - d = \tfrac b2 e^{-d/b}` deaths on average: half a noise scale in every bin
    without deaths.  With few events these phantom deaths dominate, the curve is biased down and the
    bootstrap band, which re-clips around the biased estimate, misses the truth.  The ratio

    .. math:: \rho_b = \frac{b \cdot j_b / 2}{\sum_{j \le b} \tilde d_j}

    (:math:`j_b` bins up to :math:`t_b`; the numerator bounds the expected phantom deaths, reached when
    the bins hold no deaths; unclipped noisy deaths in the denominator; ``inf`` where that sum is not
    positive) reads only the release, so it costs no privacy.  A plug-in of the bias,
    :math:`\tfrac b2 e^{-\max(\tilde d_j, 0)/b}`, was tried and rejected: noise that happens to be
    positive hides the bias it estimates, and with 21 deaths the band covered only 69% of the times it
    declared reliable.
    """
    x = np.asarray(noisy_cells, dtype=float)
    d = x[1:-1:2]
    b = float(death_noise_scale)
    if b <= 0 or not np.isfinite(b):
        return np.zeros(d.shape)
    phantom = 0.5 * b * np.arange(1, d.size + 1)
    total = np.cumsum(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, phantom / np.where(total > 0, total, 1.0), np.inf)
