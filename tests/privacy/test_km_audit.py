"""The empirical privacy audit of KM releases: validated on a Laplace count with known epsilon
(with a broken-mechanism negative control), then applied to the histogram and paper mechanisms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_lung

from privacy.counts import empirical_epsilon
from privacy.km_audit import (
    audit_km,
    audit_laplace_count,
    influential_points,
    loo_influence,
    membership_scores,
)

GRID = np.arange(30.0, 1051.0, 30.0)


@pytest.fixture(scope="module")
def lung():
    df = load_lung()
    return df["time"].to_numpy(float), df["status"].to_numpy(int)


def _laplace_rates(thr, eps):
    """Exact (FPR, FNR) of the test 'score >= thr' for 0 + Lap(1/eps) vs 1 + Lap(1/eps)."""
    from scipy import stats

    lap = stats.laplace(scale=1 / eps)
    return lap.sf(thr), lap.cdf(thr - 1)


@pytest.mark.parametrize("eps", [0.5, 1.0, 2.0])
def test_audit_recovers_a_laplace_count_epsilon(eps):
    """20 audits per epsilon: the 95% lower bound exceeds eps at most 3 times (Bin(20, .05) tail 0.016),
    the 95% interval misses the exact epsilon of the chosen test at most 3 times, and the attack is
    nearly optimal (median lower bound >= 0.7 eps at 5000 evaluation trials)."""
    results = [audit_laplace_count(eps, n_trials=10000, random_state=s) for s in range(20)]
    lbs = np.array([r.lower_bound for r in results])
    assert np.sum(lbs > eps) <= 3, lbs
    misses = 0
    for r in results:  # exact epsilon at the chosen threshold (closed form)
        exact = float(empirical_epsilon(*_laplace_rates(r.threshold, eps), 0.0))
        misses += not (r.interval[0] <= exact <= r.interval[1])
    assert misses <= 3
    assert np.median(lbs) >= 0.7 * eps


def test_audit_flags_a_broken_mechanism():
    # negative control: claims epsilon = 1 but adds noise for epsilon = 3
    res = audit_laplace_count(1.0, noise_epsilon=3.0, n_trials=20000, random_state=3)
    assert res.lower_bound > 1.0


def _exceedances(audit, eps, n_audits=20):
    lbs = np.array([audit(seed).lower_bound for seed in range(n_audits)])
    return int(np.sum(lbs > eps)), lbs


def test_histogram_mechanism_stays_at_or_below_its_epsilon(lung):
    """20 independent audits of the (nearly tight) count attack: a 95% lower bound exceeds the true
    epsilon with probability <= 0.05 each, so #exceedances <= 3 unless P(X >= 4 | Bin(20, .05)) = 0.016;
    the broken control (noise for 3 epsilon) exceeds in (nearly) every audit."""
    t, e = lung
    n_exc, lbs = _exceedances(
        lambda s: audit_km(t, e, "histogram", 1.0, grid=GRID, attack="counts", n_trials=8000, random_state=s, target=2),
        1.0)
    assert n_exc <= 3, lbs
    assert np.median(lbs) >= 0.7  # the count attack is nearly tight
    n_bad, _ = _exceedances(lambda s: audit_laplace_count(1.0, noise_epsilon=3.0, n_trials=8000, random_state=s), 1.0)
    assert n_bad >= 18
    res = audit_km(t, e, "histogram", 1.0, grid=GRID, attack="curve", n_trials=6000, random_state=2)
    assert res.lower_bound <= 1.0


def test_paper_mechanism_leaks_far_beyond_its_claim(lung):
    t, e = lung
    res = audit_km(t, e, "paper", 1.0, attack="index", n_trials=4000, random_state=0)
    # a unique event time is in the release iff the record is: a perfect membership test
    assert res.counts.fp == 0 and res.counts.fn == 0
    assert res.lower_bound > 5.0  # bounded only by the number of trials
    # even ignoring the index, the curve alone beats the claim for the first death (noise 1/eps there,
    # but the curve of the neighbour has no step at that time)
    res = audit_km(t, e, "paper", 1.0, attack="curve", target=int(np.argmin(np.where(e == 1, t, np.inf))),
                   n_trials=6000, random_state=0)
    assert res.lower_bound > 1.0


def test_membership_scores_reject_mismatched_attack(lung):
    t, e = lung
    with pytest.raises(ValueError, match="does not apply"):
        membership_scores(t, e, 0, "paper", 1.0, attack="counts", n_trials=10)
    with pytest.raises(ValueError, match="mechanism must be"):
        membership_scores(t, e, 0, "gauss", 1.0, grid=GRID, n_trials=10)


def test_influential_points(lung):
    t, e = lung
    exact = loo_influence(t, e)
    assert 0 < exact.max() < 0.02  # n = 228: no single record moves the exact curve by 0.02
    hi = influential_points(t, e, "histogram", 1.0, grid=GRID, num_replicates=2)
    lo = influential_points(t, e, "histogram", 10.0, grid=GRID, num_replicates=2)
    # with independent noise the count measures the noise: it falls as epsilon grows (the paper's finding)
    assert np.all(hi.to_numpy() >= lo.to_numpy()) and hi.iloc[2] > lo.iloc[2]
    crn = influential_points(t, e, "histogram", 1.0, grid=GRID, num_replicates=2, common_noise=True)
    assert crn.loc[0.05] == 0  # with common noise only the data's (small) effect remains


def test_former_size_names_warn_and_give_the_same_result(lung):
    """``n_rep`` and ``n_shadow`` were Monte Carlo sizes spelled as data sizes; they are ``num_replicates`` and
    ``num_shadow`` now (docs/conventions.md) and the old names work for one release with a warning."""
    from privacy import PrivacyDeprecationWarning

    t, e = lung
    new = influential_points(t, e, "histogram", 1.0, grid=GRID, num_replicates=2, random_state=3)
    with pytest.warns(PrivacyDeprecationWarning, match="n_rep was renamed to num_replicates"):
        old = influential_points(t, e, "histogram", 1.0, grid=GRID, n_rep=2, random_state=3)
    pd.testing.assert_series_equal(old, new)
    kw = dict(grid=GRID, n_trials=40, random_state=2)
    new_s = membership_scores(t, e, 0, "histogram", 1.0, num_shadow=20, **kw)
    assert not np.array_equal(new_s[0], membership_scores(t, e, 0, "histogram", 1.0, num_shadow=30, **kw)[0])
    with pytest.warns(PrivacyDeprecationWarning, match="n_shadow was renamed to num_shadow"):
        old_s = membership_scores(t, e, 0, "histogram", 1.0, n_shadow=20, **kw)
    np.testing.assert_array_equal(old_s[0], new_s[0])
    np.testing.assert_array_equal(old_s[1], new_s[1])
