"""``random_state`` means the same on every path (docs/conventions.md): ``None`` is fresh entropy, an int or a
Generator in the same state give the same result, anything else is a ``TypeError`` naming it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold

from conformal import CrossConformalRegressor, SplitConformalClassifier, SplitConformalRegressor

RNG = np.random.default_rng(0)
X = RNG.normal(size=(80, 2))
Y = X @ np.array([1.0, -2.0]) + RNG.normal(size=80)
YC = (X[:, 0] + RNG.normal(size=80) > 0).astype(int)


def _cv_plus(random_state):
    return CrossConformalRegressor(LinearRegression(), 0.8, cv=4, random_state=random_state).fit(
        X[:60], Y[:60]).predict_interval(X[60:]).lower


def test_cross_conformal_random_state_none_int_generator():
    assert not np.array_equal(_cv_plus(None), _cv_plus(None))  # fresh folds (was NumPy's global state)
    np.testing.assert_array_equal(_cv_plus(3), _cv_plus(3))
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    np.testing.assert_array_equal(_cv_plus(a), _cv_plus(b))  # a Generator is accepted (KFold alone refuses it)
    # an int gives scikit-learn's (and MAPIE's) folds for that seed
    ccr = CrossConformalRegressor(LinearRegression(), 0.8, cv=4, random_state=3).fit(X[:60], Y[:60])
    for k, (_, test) in enumerate(KFold(4, shuffle=True, random_state=3).split(X[:60])):
        assert (ccr.fold_of_[test] == k).all()
    with pytest.raises(TypeError, match="random_state must be None, a non-negative int seed"):
        _cv_plus("seed")


def _aps_sets(random_state):
    clf = LogisticRegression().fit(X[:40], YC[:40])
    scc = SplitConformalClassifier(clf, 0.8, "aps", randomized=True, prefit=True, random_state=random_state)
    return scc.conformalize(X[40:70], YC[40:70]).conformity_scores_


def test_randomized_classifier_and_pvalues_random_state():
    assert not np.array_equal(_aps_sets(None), _aps_sets(None))
    np.testing.assert_array_equal(_aps_sets(4), _aps_sets(np.random.default_rng(4)))
    scr = SplitConformalRegressor(LinearRegression().fit(X[:40], Y[:40]), 0.8, prefit=True).conformalize(
        X[40:70], Y[40:70])

    def p(rs):
        return scr.predict_pvalues(X[70:], Y[70:], randomized=True, random_state=rs)

    assert not np.array_equal(p(None), p(None))
    np.testing.assert_array_equal(p(2), p(np.random.default_rng(2)))
    with pytest.raises(TypeError, match="random_state"):
        p(1.5)
