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

__all__ = ["bootstrap_curves", "percentile_band", "median_from_curve"]


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
