"""Calibration under the prior, hypothesis property tests and bad input for privacy.epsilon/counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from privacy import AttackCounts, InvalidCountsError, PrivacyParameterError, empirical_epsilon, epsilon_posterior


def _pit_values(n_sims, n_trials, delta, seed, inflate=1):
    """Randomised PIT u = F(eps_true) of posteriors fitted to counts simulated from the prior.

    Rates are drawn from the Jeffreys prior; counts from Binomial(n_trials, rate).  With the
    correct posterior, u ~ Uniform(0, 1) exactly (the atom at 0 is randomised).  ``inflate > 1``
    multiplies the counts, a deliberately overconfident (broken) posterior.
    """
    rng = np.random.default_rng(seed)
    u = np.empty(n_sims)
    for i in range(n_sims):
        a, b = rng.beta(0.5, 0.5, size=2)
        fp, fn = rng.binomial(n_trials, a), rng.binomial(n_trials, b)
        c = AttackCounts(tp=inflate * (n_trials - fn), fn=inflate * fn, tn=inflate * (n_trials - fp), fp=inflate * fp)
        post = epsilon_posterior(c, delta)
        eps = empirical_epsilon(a, b, delta)
        u[i] = rng.uniform() * post.cdf(0.0) if eps == 0 else post.cdf(eps)
    return u


def _coverage_ok(u, level):
    lo, hi = (1 - level) / 2, (1 + level) / 2
    inside = int(np.sum((u > lo) & (u <= hi)))
    # two-sided binomial test at 1e-3: a correct posterior fails with probability 1e-3
    return stats.binomtest(inside, len(u), level).pvalue > 1e-3, inside


def test_calibration_under_the_prior_sbc():
    u = _pit_values(600, 20, 0.01, seed=2024)
    for level in (0.5, 0.8, 0.95):
        ok, inside = _coverage_ok(u, level)
        assert ok, (level, inside)
    # uniformity of the ranks over 10 bins (chi-square, p > 1e-3)
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    assert stats.chisquare(counts).pvalue > 1e-3, counts


def test_calibration_negative_control_overconfident_posterior():
    # the same test must reject a posterior that pretends to have 4x the data
    u = _pit_values(600, 20, 0.01, seed=2024, inflate=4)
    assert not _coverage_ok(u, 0.8)[0]


counts_st = st.tuples(st.integers(0, 400), st.integers(0, 400), st.integers(0, 400), st.integers(0, 400)).filter(
    lambda c: c[0] + c[1] > 0 and c[2] + c[3] > 0)


@given(counts_st, st.sampled_from([0.0, 1e-5, 1e-2]))
def test_cdf_monotone_bounded_and_quantile_roundtrip(c, delta):
    post = epsilon_posterior(AttackCounts(*c), delta)
    es = np.concatenate([[0.0], np.geomspace(1e-3, 40, 25)])
    F = post.cdf(es)
    assert np.all((F >= 0) & (F <= 1))
    assert np.all(np.diff(F) >= -1e-9)
    assert np.all(post.pdf(es[1:]) >= 0)
    q = np.array([0.05, 0.5, 0.95])
    x = post.quantile(q)
    assert np.all(np.diff(x) >= 0)
    for qi, xi in zip(q, x, strict=True):
        if xi == 0:
            assert post.cdf(0.0) >= qi - 1e-9
        elif np.isfinite(xi):
            assert post.cdf(xi) == pytest.approx(qi, abs=1e-7)


@given(counts_st)
def test_swap_symmetry_property(c):
    a = AttackCounts(*c)
    es = np.array([0.0, 0.5, 1.5, 4.0])
    base = epsilon_posterior(a, 1e-5).cdf(es)
    np.testing.assert_allclose(epsilon_posterior(a.swapped(), 1e-5).cdf(es), base, atol=1e-9)
    np.testing.assert_allclose(epsilon_posterior(a.reflected(), 1e-5).cdf(es), base, atol=1e-9)


@given(st.floats(0, 1), st.floats(0, 1), st.sampled_from([0.0, 1e-5, 0.1]))
def test_empirical_epsilon_properties(a, b, delta):
    e = empirical_epsilon(a, b, delta)
    assert e >= 0
    assert empirical_epsilon(b, a, delta) == e  # swap
    if 1 - (1 - a) == a and 1 - (1 - b) == b:  # reflection is exact only where 1 - x loses no bits
        assert empirical_epsilon(1 - b, 1 - a, delta) == pytest.approx(e, rel=1e-9, abs=1e-9)
    if np.isfinite(e) and e < 700 and a + b <= 1:
        # the point is on or inside the region R(e, delta)
        k = np.exp(e)
        assert a + k * b >= 1 - delta - 1e-9 and k * a + b >= 1 - delta - 1e-9


@given(st.lists(st.booleans(), min_size=2, max_size=60), st.data())
def test_from_guesses_counts_add_up(guesses, data):
    bits = data.draw(st.lists(st.booleans(), min_size=len(guesses), max_size=len(guesses)))
    if all(bits) or not any(bits):
        with pytest.raises(InvalidCountsError):
            AttackCounts.from_guesses(guesses, bits)
        return
    c = AttackCounts.from_guesses(guesses, bits)
    assert c.P == sum(bits) and c.N == len(bits) - sum(bits)
    assert c.tp + c.fp == sum(guesses)
    s = np.where(guesses, 1.0, -1.0)
    assert AttackCounts.from_scores(s, 0.0, bits) == c


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kw, match", [
    (dict(tp=-1, fn=0, tn=5, fp=5), "non-negative"),
    (dict(tp=2.5, fn=0, tn=5, fp=5), "non-integer"),
    (dict(tp="3", fn=0, tn=5, fp=5), "integer"),
    (dict(tp=True, fn=0, tn=5, fp=5), "integer"),
    (dict(tp=float("nan"), fn=0, tn=5, fp=5), "non-integer"),
    (dict(tp=0, fn=0, tn=5, fp=5), "empty member class"),
    (dict(tp=3, fn=1, tn=0, fp=0), "empty non-member class"),
])
def test_bad_counts(kw, match):
    with pytest.raises(InvalidCountsError, match=match):
        AttackCounts(**kw)
    assert issubclass(InvalidCountsError, ValueError)


def test_integral_floats_accepted():
    assert AttackCounts(3.0, 1, np.int64(4), 2) == AttackCounts(3, 1, 4, 2)


@pytest.mark.parametrize("delta", [-0.1, 1.0, 1.5, float("nan"), "x", None])
def test_bad_delta(delta):
    with pytest.raises(PrivacyParameterError, match="delta"):
        epsilon_posterior(AttackCounts(5, 5, 5, 5), delta)


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.2, float("nan"), "0.9", None])
def test_bad_level(level):
    post = epsilon_posterior(AttackCounts(5, 5, 5, 5), 1e-5)
    with pytest.raises(PrivacyParameterError, match="level"):
        post.interval(level)
    with pytest.raises(PrivacyParameterError, match="level"):
        post.lower_bound(level)


def test_bad_quantile_eps_and_options():
    post = epsilon_posterior(AttackCounts(5, 5, 5, 5), 1e-5)
    with pytest.raises(PrivacyParameterError, match="open interval"):
        post.quantile([0.5, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        post.cdf(np.nan)
    with pytest.raises(TypeError, match="AttackCounts"):
        epsilon_posterior((5, 5, 5, 5), 1e-5)
    with pytest.raises(PrivacyParameterError, match="model"):
        epsilon_posterior(AttackCounts(5, 5, 5, 5), 1e-5, model="joint")
    with pytest.raises(PrivacyParameterError, match="prior"):
        epsilon_posterior(AttackCounts(5, 5, 5, 5), 1e-5, prior="haldane")
    with pytest.raises(PrivacyParameterError, match="positive"):
        epsilon_posterior(AttackCounts(5, 5, 5, 5), 1e-5, prior=(0.0, 1.0))
    with pytest.raises(PrivacyParameterError, match="keys"):
        epsilon_posterior(AttackCounts(5, 5, 5, 5), 1e-5, prior={"alpha": (1, 1)})
    with pytest.raises(ValueError, match="n must"):
        post.sample(0, -3)
    with pytest.raises(TypeError, match="key"):
        post.sample("seed", 3)


def test_bad_guesses_and_scores():
    with pytest.raises(ValueError, match="same length"):
        AttackCounts.from_guesses([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="0/1"):
        AttackCounts.from_guesses([1, 2, 0], [1, 0, 1])
    with pytest.raises(ValueError, match="finite"):
        AttackCounts.from_scores([0.1, np.nan], 0.0, [1, 0])
    with pytest.raises(ValueError, match="1-D"):
        AttackCounts.from_scores([[0.1, 0.2]], 0.0, [1, 0])
    with pytest.raises(ValueError, match="fpr and fnr"):
        empirical_epsilon(1.2, 0.1, 1e-5)


@pytest.mark.parametrize("call, match", [
    (lambda c: epsilon_posterior(c, "1e-5"), "delta must be a number.*text '1e-5'"),
    (lambda c: empirical_epsilon("0.05", 0.1, 1e-5), "fpr must be a real number"),
    (lambda c: empirical_epsilon(0.05, np.array(["0.1"]), 1e-5), "fnr must be a real number"),
    (lambda c: empirical_epsilon(True, 0.1, 1e-5), "fpr must be a real number"),
    (lambda c: epsilon_posterior(c, 1e-5, prior=("0.5", 1.0)), "prior parameter .* text '0.5'"),
])
def test_numbers_given_as_text_are_refused(call, match):
    """float("0.5") would succeed; a number given as text (or a bool rate) is an error naming the argument."""
    c = AttackCounts(tp=40, fn=10, tn=45, fp=5)
    with pytest.raises((PrivacyParameterError, TypeError), match=match):
        call(c)
