"""Fuzz suite of every public function and class of ``conformal`` (hypothesis): a bad input gets a clear
ValueError/TypeError raised by conformal's own checks (or sklearn's NotFittedError for an unfitted model),
never a silent result, a NaN, or an exception from inside scikit-learn/NumPy/JAX.

Covered: SplitConformalRegressor, CrossConformalRegressor, ConformalizedQuantileRegressor,
WeightedConformalRegressor, SplitConformalClassifier, class_scores, AdaptiveConformal,
ConformalRiskControl, false_negative_rate, ConformalBayes, PredictionIntervals, PredictionSets
(the exception/warning classes take no input).  Input classes: docs/conformal.md (bad-input table).
"""

from __future__ import annotations

import numpy as np
import pytest
from _fuzz_confpriv import assert_clear_error, bad_matrix, bad_vector
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression, LogisticRegression, QuantileRegressor

import conformal
from conformal import (
    AdaptiveConformal,
    ConformalBayes,
    ConformalizedQuantileRegressor,
    ConformalRiskControl,
    CrossConformalRegressor,
    PredictionIntervals,
    PredictionSets,
    SplitConformalClassifier,
    SplitConformalRegressor,
    WeightedConformalRegressor,
    class_scores,
    false_negative_rate,
)

pytestmark = pytest.mark.timeout(120)
N, D = 30, 3
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, D))
Y = X @ np.array([1.0, -1.0, 0.5]) + RNG.normal(size=N)
YC = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
LIN = LinearRegression().fit(X, Y)
CLF = LogisticRegression(max_iter=500).fit(X, YC)
QLO = QuantileRegressor(quantile=0.1, alpha=0.0, solver="highs").fit(X, Y)
QHI = QuantileRegressor(quantile=0.9, alpha=0.0, solver="highs").fit(X, Y)
BAD_LEVELS = st.sampled_from([0, 1, -0.1, 1.5, np.nan, np.inf, "0.9", None, [], [0.5, 1.2], [[0.9]]])


def _ok(func, /, *a, **k):
    return assert_clear_error([conformal], func, *a, **k)


def _regressors():
    return {
        "split": lambda **kw: SplitConformalRegressor(LIN, prefit=True, **kw),
        "split_normalized": lambda **kw: SplitConformalRegressor(LIN, conformity_score="normalized",
                                                                 scale_estimator=LIN, prefit=True, **kw),
        "cqr": lambda **kw: ConformalizedQuantileRegressor((QLO, QHI), prefit=True, **kw),
        "weighted": lambda **kw: WeightedConformalRegressor(LIN, likelihood_ratio=lambda Z: np.ones(len(Z)),
                                                            prefit=True, **kw),
    }


@settings(max_examples=30)
@given(name=st.sampled_from(sorted(_regressors())), level=BAD_LEVELS)
def test_regressors_bad_confidence_level(name, level):
    _ok(_regressors()[name](confidence_level=level).conformalize, X, Y)


@settings(max_examples=60)
@given(name=st.sampled_from(sorted(_regressors())), Xb=bad_matrix(N, D), which=st.sampled_from(["calib", "test"]))
def test_regressors_bad_X(name, Xb, which):
    est = _regressors()[name]()
    if which == "calib":
        _ok(est.conformalize, Xb, Y)
    else:
        est.conformalize(X, Y)
        _ok(est.predict_interval, Xb)


@settings(max_examples=40)
@given(name=st.sampled_from(sorted(_regressors())), yb=bad_vector(N))
def test_regressors_bad_y(name, yb):
    _ok(_regressors()[name]().conformalize, X, yb)


@settings(max_examples=20)
@given(name=st.sampled_from(sorted(_regressors())), d=st.sampled_from([1, 2, 5]))
def test_regressors_wrong_feature_count_at_predict(name, d):
    est = _regressors()[name]().conformalize(X, Y)
    _ok(est.predict_interval, np.zeros((4, d)))


@pytest.mark.parametrize("name", sorted(_regressors()))
def test_regressors_unfitted_and_prefit_misuse(name):
    est = _regressors()[name]()
    _ok(est.predict_interval, X)
    _ok(est.fit, X, Y)  # prefit=True: fit is refused
    cls = type(est)
    if cls is not ConformalizedQuantileRegressor:
        _ok(cls(LinearRegression(), prefit=True, **({"likelihood_ratio": np.ones} if cls is
                                                    WeightedConformalRegressor else {})).conformalize, X, Y)
    _ok(cls().conformalize, X, Y)  # prefit=False without fit


@settings(max_examples=30)
@given(kw=st.sampled_from([{"conformity_score": "gamma"}, {"on_insufficient": "ignore"}, {"min_scale": -1.0},
                           {"on_insufficient": None}, {"conformity_score": None}]))
def test_split_regressor_bad_options(kw):
    _ok(SplitConformalRegressor(LIN, prefit=True, **kw).conformalize, X, Y)


@settings(max_examples=30)
@given(kw=st.sampled_from([{"cv": 1}, {"cv": 0}, {"cv": N + 1}, {"cv": "loo"}, {"cv": 2.5}, {"method": "naive"},
                           {"confidence_level": 1.0}, {"on_insufficient": "x"}, {"cv": True}]))
def test_cross_conformal_bad_options(kw):
    _ok(CrossConformalRegressor(LinearRegression(), **kw).fit, X, Y)


@settings(max_examples=30)
@given(Xb=bad_matrix(N, D), yb=bad_vector(N))
def test_cross_conformal_bad_data(Xb, yb):
    _ok(CrossConformalRegressor(LinearRegression()).fit, Xb, Y)
    _ok(CrossConformalRegressor(LinearRegression()).fit, X, yb)


@settings(max_examples=30)
@given(ratio=st.sampled_from([lambda Z: np.zeros(len(Z)), lambda Z: -np.ones(len(Z)), lambda Z: np.ones(3),
                              lambda Z: np.full(len(Z), np.nan), lambda Z: np.full(len(Z), np.inf), "ones", 3.0]))
def test_weighted_bad_likelihood_ratio(ratio):
    _ok(WeightedConformalRegressor(LIN, likelihood_ratio=ratio, prefit=True).conformalize, X, Y)


def test_weighted_zero_ratios_named_in_error():
    exc = _ok(WeightedConformalRegressor(LIN, likelihood_ratio=lambda Z: np.zeros(len(Z)), prefit=True).conformalize,
              X, Y)
    assert "zero" in str(exc)
    _ok(WeightedConformalRegressor(LIN, prefit=True, clip_weights=0).conformalize, X, Y, X_test=X)
    _ok(WeightedConformalRegressor(LIN, prefit=True).conformalize, X, Y)  # no ratio and no X_test
    _ok(WeightedConformalRegressor(LIN, prefit=True).conformalize, X, Y, X_test=X[:, :2])


def _classifier(**kw):
    return SplitConformalClassifier(CLF, prefit=True, **kw)


@settings(max_examples=60)
@given(level=BAD_LEVELS, score=st.sampled_from(["lac", "aps", "raps", "top_k"]))
def test_classifier_bad_level(level, score):
    _ok(_classifier(confidence_level=level, conformity_score=score).conformalize, X, YC)


@settings(max_examples=60)
@given(Xb=bad_matrix(N, D), which=st.sampled_from(["calib", "test"]))
def test_classifier_bad_X(Xb, which):
    est = _classifier()
    if which == "calib":
        _ok(est.conformalize, Xb, YC)
    else:
        est.conformalize(X, YC)
        _ok(est.predict_set, Xb)


@settings(max_examples=30)
@given(yb=st.sampled_from([YC + 10, np.zeros(N + 1), np.zeros((N, 2)), None, np.array(["a"] * N)]))
def test_classifier_bad_labels(yb):
    _ok(_classifier().conformalize, X, yb)


@settings(max_examples=30)
@given(kw=st.sampled_from([{"conformity_score": "margin"}, {"on_insufficient": "x"}, {"lambda_reg": -1.0},
                           {"k_reg": -1}, {"k_reg": 1.5}, {"class_conditional": "yes"}]))
def test_classifier_bad_options(kw):
    _ok(_classifier(**kw).conformalize, X, YC)


def test_classifier_groups_misuse():
    g = (X[:, 0] > 0).astype(int)
    _ok(_classifier().conformalize, X, YC, groups=g[:-1])
    _ok(_classifier(class_conditional=True).conformalize, X, YC, groups=g)
    est = _classifier().conformalize(X, YC, groups=g)
    _ok(est.predict_set, X)
    _ok(est.predict_set, X[:3], groups=np.array([0, 1, 7]))


@settings(max_examples=40)
@given(proba=st.sampled_from([np.full((3, 2), np.nan), np.array([[0.5, 0.6]]), np.array([[-0.1, 1.1]]), np.ones(3),
                              np.ones((2, 2, 2)), None, "p", np.zeros((0, 3))]),
       score=st.sampled_from(["lac", "aps", "raps", "top_k"]))
def test_class_scores_bad_proba(proba, score):
    _ok(class_scores, proba, score)


@settings(max_examples=20)
@given(kw=st.sampled_from([{"score": "margin"}, {"u": np.ones(5)}, {"u": np.full(2, 2.0)}, {"k_reg": -1},
                           {"lambda_reg": -0.5}]))
def test_class_scores_bad_options(kw):
    _ok(class_scores, np.array([[0.3, 0.7], [0.6, 0.4]]), **kw)


@settings(max_examples=40)
@given(kw=st.sampled_from([{"confidence_level": 1.0}, {"confidence_level": [0.8, 0.9]}, {"gamma": 0.0},
                           {"gamma": -1.0}, {"gamma": np.nan}, {"gamma": "a"}, {"window": 0}, {"window": 2.5},
                           {"window": "x"}, {"warmup_scores": [np.nan]}]),
       )
def test_adaptive_conformal_bad_params(kw):
    _ok(AdaptiveConformal(**kw).fit, np.arange(5.0), np.arange(5.0))


@settings(max_examples=30)
@given(yb=bad_vector(5))
def test_adaptive_conformal_bad_data(yb):
    _ok(AdaptiveConformal().fit, yb, np.arange(5.0))
    _ok(AdaptiveConformal().fit, np.arange(5.0), yb)


LAM = np.linspace(0, 1, 11)
LOSS = (np.random.default_rng(1).uniform(size=(50, 1)) > LAM).astype(float)


@settings(max_examples=40)
@given(case=st.sampled_from([
    ({"risk_level": 0.0}, LOSS, LAM), ({"risk_level": 1.5}, LOSS, LAM), ({"risk_level": np.nan}, LOSS, LAM),
    ({"risk_level": "a"}, LOSS, LAM), ({"loss_bound": -1.0}, LOSS, LAM), ({}, LOSS[:, ::-1], LAM),
    ({}, LOSS, LAM[::-1]), ({}, LOSS * 2, LAM), ({}, np.full_like(LOSS, np.nan), LAM), ({}, LOSS[:0], LAM),
    ({}, LOSS[:, :5], LAM), ({"risk_level": 0.001}, LOSS[:5], LAM), ({}, None, LAM), ({}, LOSS, None)]))
def test_risk_control_bad_input(case):
    kw, loss, lam = case
    _ok(ConformalRiskControl(**kw).fit, loss, lam)


@settings(max_examples=30)
@given(case=st.sampled_from([
    (np.full((2, 3), 0.5), np.zeros((2, 3)), np.linspace(0, 1, 4)),  # rows without positives
    (np.full((2, 3), 0.5), np.ones((2, 4)), np.linspace(0, 1, 4)),  # shape mismatch
    (np.full((2, 3), np.nan), np.ones((2, 3)), np.linspace(0, 1, 4)),
    (np.full((2, 3), 0.5), np.full((2, 3), 2), np.linspace(0, 1, 4)),
    (np.full((2, 3), 0.5), np.ones((2, 3)), np.array([np.nan])),
    (None, np.ones((2, 3)), np.linspace(0, 1, 4))]))
def test_false_negative_rate_bad_input(case):
    _ok(false_negative_rate, *case)


def _loglik(samples, Xa, ya):
    mu = np.asarray(samples["mu"])[:, None]
    return -0.5 * (np.asarray(ya)[None, :] - mu) ** 2


@settings(max_examples=30)
@given(case=st.sampled_from([
    ({}, {"posterior_samples": None}),
    ({"log_likelihood": None}, {"posterior_samples": {"mu": np.zeros(10)}}),
    ({"confidence_level": 1.2}, {"posterior_samples": {"mu": np.zeros(10)}}),
    ({"grid_size": 1}, {"posterior_samples": {"mu": np.zeros(10)}}),
    ({"grid_size": "a"}, {"posterior_samples": {"mu": np.zeros(10)}}),
    ({"grid_margin": -1.0}, {"posterior_samples": {"mu": np.zeros(10)}}),
    ({"min_ess_fraction": 2.0}, {"posterior_samples": {"mu": np.zeros(10)}}),
    ({"backend": "tpu"}, {"posterior_samples": {"mu": np.zeros(10)}}),
    ({}, {"posterior_samples": {}}),
    ({}, {"posterior_samples": {"mu": np.zeros(10)}, "log_weights": np.zeros(3)}),
    ({}, {"posterior_samples": {"mu": np.zeros(10)}, "log_weights": np.full(10, np.nan)}),
    ({}, {"loglik_train": np.zeros((10, 3))}),
    ({}, {"loglik_train": np.full((10, 8), np.nan)}),
    ({"log_likelihood": lambda s, Xa, ya: np.zeros((2, 2))}, {"posterior_samples": {"mu": np.zeros(10)}}),
]))
def test_conformal_bayes_bad_input(case):
    kw, fit_kw = case
    est = ConformalBayes(**{"log_likelihood": _loglik, **kw})

    def run():
        est.fit(None, np.arange(8.0), **fit_kw)
        return est.predict_interval(n_test=1)

    _ok(run)


@settings(max_examples=20)
@given(yb=st.sampled_from([None, np.array([0.0, np.nan]), np.array([np.inf, 1.0]), np.zeros((8, 2)),
                           np.array(["a", "b"])]))
def test_conformal_bayes_bad_y(yb):  # with X None any length is valid; these are not
    _ok(ConformalBayes(_loglik).fit, None, yb, {"mu": np.zeros(10)})


def test_results_bad_access():
    res = PredictionIntervals(np.zeros(2), np.zeros((2, 1)), np.ones((2, 1)), (0.9,))
    _ok(res.interval, 0.8)
    _ok(res.covers, np.zeros(3))
    _ok(res.covers, ["a", "b"])
    sets = PredictionSets(np.zeros(2), np.ones((2, 3, 2), dtype=bool), np.arange(3), (0.8, 0.9))
    _ok(sets.set_at, None)
    _ok(sets.set_at, 0.7)
    _ok(sets.covers, np.zeros(5))
