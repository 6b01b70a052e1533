"""Estimators: pass@k against brute-force subset enumeration, properties, ceilings, bootstrap bands."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_bridge.estimators import (
    accuracy_vs_budget,
    bootstrap_mean,
    coverage_curve,
    pass_at_k,
    subsample_curve,
    verifier_ceiling,
)


def _brute(n, c, k):
    """P(a uniformly random k-subset of n samples, c correct, contains a correct one): enumerate."""
    items = [1] * c + [0] * (n - c)
    subs = list(itertools.combinations(range(n), k))
    return sum(any(items[i] for i in s) for s in subs) / len(subs)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_subset_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(_brute(n, c, k), abs=1e-12)


def test_pass_at_k_broadcasts_and_is_stable_for_large_n():
    out = pass_at_k(np.array([[10], [20]]), np.array([[0, 5]]), np.array([[1], [2]]))
    assert out.shape == (2, 2)
    assert out[0, 1] == pytest.approx(0.5) and out[1, 0] == 0.0
    # n = 10000: the product form stays accurate (reference: exact rational arithmetic via math.comb)
    import math
    from fractions import Fraction

    exact = 1 - Fraction(math.comb(9990, 100), math.comb(10000, 100))
    assert pass_at_k(10000, 10, 100) == pytest.approx(float(exact), rel=1e-10)
    assert isinstance(pass_at_k(5, 1, 1), float)


@given(n=st.integers(1, 60), data=st.data())
def test_pass_at_k_properties(n, data):
    c = data.draw(st.integers(0, n))
    k = data.draw(st.integers(1, n))
    v = pass_at_k(n, c, k)
    assert 0.0 <= v <= 1.0
    if k < n:
        assert pass_at_k(n, c, k + 1) >= v - 1e-12  # monotone in k
    if c < n:
        assert pass_at_k(n, c + 1, k) >= v - 1e-12  # monotone in c
    assert pass_at_k(n, c, 1) == pytest.approx(c / n)
    assert (pass_at_k(n, 0, k), pass_at_k(n, n, k)) == (0.0, 1.0)


@pytest.mark.parametrize("n, c, k, exc", [(5, 6, 1, ValueError), (5, -1, 1, ValueError), (5, 2, 0, ValueError),
                                          (5, 2, 6, ValueError), (5.5, 2, 1, TypeError), (5, True, 1, TypeError)])
def test_pass_at_k_bad_input(n, c, k, exc):
    with pytest.raises(exc):
        pass_at_k(n, c, k)


def test_verifier_ceiling_matches_simulation_and_limit():
    p, q = 0.2, 0.1
    assert verifier_ceiling(p, q) == pytest.approx(2 / 3)
    assert verifier_ceiling(p, q, 1) == pytest.approx(p)
    # Monte Carlo: resample until accepted (correct w.p. p, false positive w.p. q), at most K tries.
    rng = np.random.default_rng(0)
    K, R = 5, 200_000
    u = rng.random((R, K))
    accepted = u < p + q
    first = np.where(accepted.any(1), accepted.argmax(1), -1)
    correct = (first >= 0) & (u[np.arange(R), np.maximum(first, 0)] < p)
    # tolerance: 5 binomial standard errors
    exp = verifier_ceiling(p, q, K)
    assert abs(correct.mean() - exp) < 5 * np.sqrt(exp * (1 - exp) / R)
    ks = np.arange(1, 200)
    curve = verifier_ceiling(p, q, ks)
    assert np.all(np.diff(curve) >= 0) and curve[-1] < 2 / 3 + 1e-12 and curve[-1] > 2 / 3 - 1e-9
    with pytest.raises(ValueError):
        verifier_ceiling(0.8, 0.5)
    with pytest.raises(ValueError):
        verifier_ceiling(0.0, 0.0)


def test_coverage_curve_and_bootstrap_band():
    rng = np.random.default_rng(1)
    c = rng.integers(0, 33, size=200)
    cov = coverage_curve(32, c, [1, 2, 4, 8, 32], num_resamples=300)
    assert list(cov.columns) == ["k", "coverage", "lower", "upper"]
    assert np.all(np.diff(cov.coverage) >= 0)
    assert np.all((cov.lower <= cov.coverage) & (cov.coverage <= cov.upper))
    assert cov.coverage.iloc[0] == pytest.approx(np.mean(c / 32))


def test_bootstrap_band_covers_known_mean():
    # 95% band over 200 Bernoulli(0.3) problems; repeated over 200 seeds the band must cover 0.3
    # in [0.90, 0.99] of cases (binomial 95% range for 200 trials at 0.95 is ~[0.92, 0.98]).
    hits = 0
    for s in range(200):
        v = np.random.default_rng(100 + s).random(200) < 0.3
        _, lo, hi = bootstrap_mean(v, num_resamples=400, seed=s)
        hits += lo <= 0.3 <= hi
    assert 0.90 <= hits / 200 <= 0.99


def test_accuracy_vs_budget_table():
    df = pd.DataFrame({"problem": [0, 1, 0, 1, 0, 1], "method": ["pf"] * 4 + ["bon"] * 2,
                       "budget": [1, 1, 2, 2, 1, 1], "correct": [1, 0, 1, 1, 0, 0]})
    out = accuracy_vs_budget(df, num_resamples=50)
    pf2 = out[(out.method == "pf") & (out.budget == 2)].iloc[0]
    assert pf2.accuracy == 1.0 and pf2.problems == 2
    with pytest.raises(ValueError, match="lacks columns"):
        accuracy_vs_budget(df.drop(columns="budget"))


def test_subsample_curve():
    samples = [1, 0, 0, 0]
    curve = subsample_curve(samples, [1, 4], lambda s: float(any(s)), num_subsets=2000, seed=0)
    assert curve[4] == 1.0
    assert abs(curve[1] - 0.25) < 5 * np.sqrt(0.25 * 0.75 / 2000)
    with pytest.raises(ValueError):
        subsample_curve(samples, [5], max)
