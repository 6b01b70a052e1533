"""Fuzz suite of every public function and class of ``privacy`` (hypothesis): a bad input gets a clear
ValueError/TypeError raised by privacy's own checks (InvalidCountsError, PrivacyParameterError, ... all
subclass them), never a silent result, a NaN, or an exception from inside SciPy/NumPy/opacus.

Covered: AttackCounts (constructor, from_guesses, from_scores, from_dict), empirical_epsilon,
epsilon_posterior / EpsilonPosterior (quantile, interval, bounds, sf/cdf/pdf, sample),
clopper_pearson_interval, jeffreys_interval / EpsilonInterval, PrivateKaplanMeier (constructor options,
fit data and lifelines-style arguments, predict/percentile), ReusableHoldout, and
privacy.audit.accountant_epsilon (the exception/warning classes take no input).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _fuzz_confpriv import BAD_NUMBERS, assert_clear_error
from hypothesis import given, settings
from hypothesis import strategies as st

import privacy
from privacy import (
    AttackCounts,
    PrivateKaplanMeier,
    ReusableHoldout,
    clopper_pearson_interval,
    empirical_epsilon,
    epsilon_posterior,
    jeffreys_interval,
)
from privacy.audit import accountant_epsilon

pytestmark = pytest.mark.timeout(120)
COUNTS = AttackCounts(tp=60, fn=40, tn=70, fp=30)


def _ok(func, /, *a, **k):
    return assert_clear_error([privacy], func, *a, **k)


BAD_COUNT = st.sampled_from([-1, 1.5, math.nan, math.inf, "3", None, [], True, -2.0, 1 + 1j])


@settings(max_examples=60)
@given(field=st.sampled_from(["tp", "fn", "tn", "fp"]), bad=BAD_COUNT)
def test_attack_counts_bad_field(field, bad):
    kw = {"tp": 5, "fn": 5, "tn": 5, "fp": 5, field: bad}
    _ok(AttackCounts, **kw)


@settings(max_examples=20)
@given(case=st.sampled_from([(0, 0, 5, 5), (5, 5, 0, 0)]))
def test_attack_counts_empty_class(case):
    _ok(AttackCounts, *case)


@settings(max_examples=40)
@given(guesses=st.sampled_from([[1, 0, 2], [1, 0], [], None, [0.5, 1, 0], ["a", "b", "c"], [[1], [0], [1]]]),
       bits=st.sampled_from([[1, 0, 1], [1, 0, 3], None]))
def test_attack_counts_from_guesses_bad(guesses, bits):
    if guesses == [1, 0, 2] or bits != [1, 0, 1] or guesses in ([1, 0], [], None) or True:
        try:
            AttackCounts.from_guesses([1, 0, 1], [1, 0, 1])
        except ValueError:  # pragma: no cover - sanity
            pytest.fail("valid input refused")
    if guesses == [1, 0, 1] and bits == [1, 0, 1]:
        return
    _ok(AttackCounts.from_guesses, guesses, bits)


@settings(max_examples=30)
@given(case=st.sampled_from([
    ([0.1, np.nan, 0.3], 0.2, [1, 0, 1]), ([0.1, 0.2], 0.2, [1, 0, 1]), ([0.1, 0.2, 0.3], np.nan, [1, 0, 1]),
    ([0.1, 0.2, 0.3], "t", [1, 0, 1]), (None, 0.2, [1, 0, 1]), ([0.1, 0.2, 0.3], 0.2, [1, 1, 1]),
    ([[0.1], [0.2], [0.3]], 0.2, [1, 0, 1])]))
def test_attack_counts_from_scores_bad(case):
    _ok(AttackCounts.from_scores, *case)


@settings(max_examples=20)
@given(d=st.sampled_from([{}, {"tp": 1, "fn": 1, "tn": 1}, {"tp": 1, "fn": 1, "tn": 1, "fp": 1, "x": 2}, None, "x",
                          {"tp": -1, "fn": 1, "tn": 1, "fp": 1}]))
def test_attack_counts_from_dict_bad(d):
    _ok(AttackCounts.from_dict, d)


BAD_DELTA = st.sampled_from([-0.1, 1.0, 1.5, math.nan, math.inf, "0", None, [0.1]])


@settings(max_examples=40)
@given(fpr=st.sampled_from([0.1, -0.1, 1.2, math.nan, None, "a"]), fnr=st.sampled_from([0.2, -1.0, math.nan]),
       delta=st.sampled_from([0.0, -0.1, 1.0, math.nan]))
def test_empirical_epsilon_bad(fpr, fnr, delta):
    if fpr == 0.1 and fnr == 0.2 and delta == 0.0:
        assert np.isfinite(empirical_epsilon(fpr, fnr, delta))
        return
    _ok(empirical_epsilon, fpr, fnr, delta)


@settings(max_examples=50)
@given(arg=st.sampled_from(["delta", "prior", "model", "n_per_panel", "counts"]), bad=st.sampled_from(
    [math.nan, -1.0, 1.0, "bogus", None, (0.0, 1.0), (-1.0, 2.0), {"fpr": (1, 1)}, 0, 2.5, [1, 2, 3]]))
def test_epsilon_posterior_bad(arg, bad):
    kw = {"delta": 1e-5, "prior": "jeffreys", "model": "independent", "n_per_panel": 4}
    counts = COUNTS
    if arg == "counts":
        counts = bad
    else:
        kw[arg] = bad
    if (arg == "delta" and bad == 0) or (arg == "prior" and isinstance(bad, dict)):
        return  # delta = 0 (pure DP) is valid; a partial prior dict keeps Jeffreys for the other rate
    _ok(epsilon_posterior, counts, kw.pop("delta"), **kw)


def test_epsilon_posterior_prior_none_refused():
    _ok(epsilon_posterior, COUNTS, 1e-5, prior=None)


@settings(max_examples=60)
@given(method=st.sampled_from(["quantile", "interval", "lower_bound", "upper_bound", "summary"]),
       bad=st.sampled_from([0.0, 1.0, -0.5, 1.5, math.nan, "0.9", None, [0.5]]))
def test_posterior_methods_bad_level(method, bad):
    post = epsilon_posterior(COUNTS, 1e-5)
    if method == "quantile" and isinstance(bad, list):
        return  # quantile takes array-like levels
    _ok(getattr(post, method), bad)


@settings(max_examples=30)
@given(method=st.sampled_from(["sf", "cdf", "pdf"]), bad=st.sampled_from([math.nan, "x", None, [math.nan, 1.0]]))
def test_posterior_distribution_functions_bad(method, bad):
    _ok(getattr(epsilon_posterior(COUNTS, 1e-5), method), bad)


@settings(max_examples=20)
@given(n=st.sampled_from([-1, 0.5, "3", None, math.nan]), key=st.sampled_from([0, None, "k", -1.5]))
def test_posterior_sample_bad(n, key):
    post = epsilon_posterior(COUNTS, 1e-5)
    _ok(post.sample, 0, n)
    if key != 0:
        _ok(post.sample, key, 10)


@settings(max_examples=40)
@given(fn=st.sampled_from([clopper_pearson_interval, jeffreys_interval]),
       case=st.sampled_from([("counts", None), ("counts", (1, 2, 3, 4)), ("delta", -0.1), ("delta", 1.0),
                             ("delta", math.nan), ("level", 0.0), ("level", 1.0), ("level", math.nan),
                             ("level", "x")]))
def test_frequentist_intervals_bad(fn, case):
    kw = {"counts": COUNTS, "delta": 1e-5, "level": 0.95}
    kw[case[0]] = case[1]
    _ok(fn, kw["counts"], kw["delta"], kw["level"])


T = np.array([5.0, 8.0, 12.0, 20.0, 25.0, 30.0, 40.0, 41.0])
E = np.array([1, 0, 1, 1, 0, 1, 1, 0])
GRID = [10.0, 20.0, 30.0, 40.0]


@settings(max_examples=80)
@given(param=st.sampled_from(["epsilon", "mechanism", "adjacency", "alpha", "n_bootstrap", "horizon", "beyond",
                              "convention", "grid", "on_low_events"]),
       bad=st.sampled_from([math.nan, -1.0, 0, "bogus", None, [3.0, 1.0], [], 1.5, math.inf, -math.inf]))
def test_km_bad_constructor_option(param, bad):
    valid = {"horizon": (None, 1.5, math.inf), "grid": (None, 0, 1.5, math.inf), "n_bootstrap": (1.5,),
             "epsilon": (1.5, math.inf), "alpha": ()}
    if bad in valid.get(param, ()) or (param == "horizon" and bad == 0 and False):
        return
    if param == "horizon":
        kw = {"grid": 4, "horizon": bad}
    elif param == "grid":
        kw = {"grid": bad, "horizon": 50.0}
    else:
        kw = {"grid": GRID, param: bad}
    _ok(PrivateKaplanMeier(**{"epsilon": 1.0, "n_bootstrap": 10, "on_low_events": "ignore", **kw}).fit, T, E)


@settings(max_examples=60)
@given(case=st.sampled_from([
    (None, E), ("abc", E), (T[:-1], E), (np.r_[T[:-1], np.nan], E), (np.r_[T[:-1], -1.0], E), (T, E * 2),
    (T, np.full(T.size, 0.5)), (T.reshape(2, 4), E), (np.array([]), None), (T, ["a"] * T.size),
    (np.r_[T[:-1], np.inf], E), (T.astype(complex), E)]))
def test_km_bad_data(case):
    _ok(PrivateKaplanMeier(1.0, grid=GRID, n_bootstrap=10, on_low_events="ignore").fit, *case)


@settings(max_examples=40)
@given(kw=st.sampled_from([{"entry": np.ones(T.size)}, {"entry": np.zeros(3)}, {"weights": np.full(T.size, 0.5)},
                           {"weights": -np.ones(T.size)}, {"weights": np.zeros(T.size)}, {"weights": np.ones(3)},
                           {"timeline": [1.0, 2.0]}, {"label": 3}, {"alpha": 1.5}, {"alpha": "a"},
                           {"ci_labels": "ab"}, {"ci_labels": ["a"]}]))
def test_km_bad_fit_arguments(kw):
    _ok(PrivateKaplanMeier(1.0, grid=GRID, n_bootstrap=10, on_low_events="ignore").fit, T, E, **kw)


def test_km_bad_use():
    km = PrivateKaplanMeier(1.0, grid=GRID, n_bootstrap=10, on_low_events="ignore")
    _ok(km.predict, [1.0])  # not fitted
    km.fit(T, E)
    for bad in ([np.nan], [-1.0], "x", [np.inf]):
        _ok(km.predict, bad)
    for bad in (1.5, -0.1, math.nan, "x", None):
        _ok(km.percentile, bad)
    _ok(PrivateKaplanMeier(1.0, grid=GRID, beyond="error", n_bootstrap=10, on_low_events="ignore").fit,
        np.r_[T, 99.0], np.r_[E, 1])


@settings(max_examples=50)
@given(param=st.sampled_from(["threshold", "sigma", "budget"]), bad=st.sampled_from(BAD_NUMBERS + [0, 2.5]))
def test_reusable_holdout_bad_params(param, bad):
    if param != "budget" and bad == 2.5:
        return
    kw = {"threshold": 0.04, "sigma": 0.01, "budget": 5, param: bad}
    _ok(ReusableHoldout(**kw).query, 0.5, 0.5)


@settings(max_examples=30)
@given(bad=st.sampled_from([math.nan, math.inf, None, "x", [], [0.1, math.nan], np.zeros((2, 2, 0))]))
def test_reusable_holdout_bad_values(bad):
    h = ReusableHoldout(0.04, 0.01, 5, random_state=0)
    _ok(h.query, bad, 0.5)
    _ok(h.query, 0.5, bad)


def test_reusable_holdout_budget_exhausted_is_ours():
    from privacy import BudgetExhaustedError

    h = ReusableHoldout(0.01, 1e-6, 1, random_state=0)
    h.query(0.9, 0.1)
    with pytest.raises(BudgetExhaustedError, match="fresh holdout"):
        h.query(0.9, 0.1)


@settings(max_examples=80)
@given(arg=st.sampled_from(["noise_multiplier", "sample_rate", "steps", "delta"]),
       bad=st.sampled_from([math.nan, math.inf, -1.0, 0, 0.0, 1.5, 2, "1", None, True, 10.5]))
def test_accountant_epsilon_bad(arg, bad):
    kw = {"noise_multiplier": 1.0, "sample_rate": 0.1, "steps": 10, "delta": 1e-5, arg: bad}
    valid = {"noise_multiplier": (0, 0.0, 1.5, 2, 10.5), "sample_rate": (), "steps": (2,), "delta": ()}
    if bad in valid[arg] and not isinstance(bad, bool):
        return
    _ok(accountant_epsilon, **kw)
