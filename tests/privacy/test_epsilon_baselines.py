"""Baselines (Clopper-Pearson / Jeffreys rectangles) against the authors' package, and the paper's orderings."""

from __future__ import annotations

import numpy as np
import pytest

from privacy import AttackCounts, epsilon_posterior
from privacy.baselines import (
    clopper_pearson_interval,
    clopper_pearson_lower_bound,
    jeffreys_interval,
    rectangle_interval,
)

COUNTS = [(1000, 0, 1000, 0), (900, 100, 950, 50), (487, 0, 1, 512), (200, 12, 200, 58), (2, 511, 487, 0),
          (0, 489, 510, 1), (10, 10, 10, 10), (30, 3, 0, 7)]


def test_published_values():
    # peer_results.md (privacy-estimates 0.1.0.post1, method "beta")
    c = AttackCounts(tp=900, fn=100, tn=950, fp=50)
    iv = clopper_pearson_interval(c, 1e-5, 0.95)
    assert (round(iv.lower, 3), round(iv.upper, 3)) == (2.561, 3.248)
    perfect = AttackCounts(1000, 0, 1000, 0)
    assert clopper_pearson_lower_bound(perfect, 1e-5, 0.95) == pytest.approx(5.601, abs=1e-3)
    assert clopper_pearson_interval(perfect, 1e-5, 0.95).upper == np.inf  # zero count: reported as inf
    readme = clopper_pearson_interval(AttackCounts(487, 0, 1, 512), 1e-5, 0.9)
    assert readme.lower == 0.0 and readme.upper == np.inf


@pytest.mark.peers
@pytest.mark.parametrize("c", COUNTS)
@pytest.mark.parametrize("method, theirs", [("clopper-pearson", "beta"), ("jeffreys", "jeffreys")])
def test_matches_privacy_estimates(c, method, theirs):
    pe = pytest.importorskip("privacy_estimates")
    tp, fn, tn, fp = c
    ar = pe.AttackResults(FN=fn, FP=fp, TN=tn, TP=tp)
    for level in (0.8, 0.95):
        lo, hi = pe.compute_eps_lo_hi(count=ar, delta=1e-5, alpha=1 - level, method=theirs)
        iv = rectangle_interval(AttackCounts(*c), 1e-5, level, method)
        assert iv.lower == pytest.approx(lo, abs=1e-12) and iv.upper == pytest.approx(hi, abs=1e-12)


def test_bayesian_tighter_than_clopper_pearson_paper_orderings():
    # the authors' tests: the posterior's lower bound beats CP's; its upper bound is below CP's
    c = AttackCounts(tp=200, fn=12, tn=200, fp=58)
    assert epsilon_posterior(c, 1e-5).lower_bound(0.95) > clopper_pearson_lower_bound(c, 1e-5, 0.95)
    for c in (AttackCounts(tp=2, fn=511, tn=487, fp=0), AttackCounts(tp=0, fn=489, tn=510, fp=1)):
        assert epsilon_posterior(c, 1e-5).interval(0.95)[1] < clopper_pearson_interval(c, 1e-5, 0.95).upper


def test_cp_interval_covers_true_epsilon_frequentist():
    # CP with a union bound is a *confidence* interval: coverage >= level at any fixed rates
    from scipy import stats

    from privacy import empirical_epsilon

    rng = np.random.default_rng(3)
    a, b, n, delta = 0.1, 0.3, 200, 1e-5
    eps = empirical_epsilon(a, b, delta)
    hits = 0
    m = 400
    for _ in range(m):
        fp, fn = rng.binomial(n, a), rng.binomial(n, b)
        iv = clopper_pearson_interval(AttackCounts(n - fn, fn, n - fp, fp), delta, 0.9)
        hits += iv.lower <= eps <= iv.upper
    # one-sided binomial test that coverage >= 0.9 (p > 1e-3 for a valid procedure)
    assert stats.binomtest(hits, m, 0.9, alternative="less").pvalue > 1e-3


def test_baseline_bad_input():
    c = AttackCounts(5, 5, 5, 5)
    with pytest.raises(ValueError, match="method"):
        rectangle_interval(c, 1e-5, 0.9, "wald")
    with pytest.raises(ValueError, match="level"):
        jeffreys_interval(c, 1e-5, 1.2)
    with pytest.raises(ValueError, match="delta"):
        clopper_pearson_interval(c, 1.0)
    with pytest.raises(ValueError, match="one-sided"):
        clopper_pearson_lower_bound(c, 1e-5, 0.3)
    with pytest.raises(TypeError):
        clopper_pearson_interval((5, 5, 5, 5), 1e-5)
