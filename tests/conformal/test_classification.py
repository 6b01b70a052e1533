"""Validity of split conformal classification (LAC, APS, RAPS, top-k; Mondrian).

Data: 4-class Gaussian blobs with overlap, a prefit logistic regression (continuous
probabilities, so LAC/APS/RAPS scores have no ties).  Bounds and SEs: conformal_stats.py.
Non-randomized top-k has integer scores (ties), so only its lower bound is guaranteed.
"""

from __future__ import annotations

import numpy as np
import pytest
from conformal_stats import P_MIN, assert_in_band, beta_sd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.linear_model import LinearRegression, LogisticRegression

from conformal import InsufficientCalibrationError, SplitConformalClassifier, class_scores

CENTERS = np.array([[0, 0], [1.5, 0], [0, 1.5], [1.5, 1.5]])


def _data(rng, n):
    y = rng.integers(0, 4, size=n)
    X = CENTERS[y] + rng.normal(size=(n, 2))
    return X, y


@pytest.fixture(scope="module")
def clf():
    X, y = _data(np.random.default_rng(0), 3000)
    return LogisticRegression(max_iter=500).fit(X, y)


def _simulate(make, n, R, m, seed, groups=False):
    rng = np.random.default_rng(seed)
    out = []
    for r in range(R):
        Xc, yc = _data(rng, n)
        Xt, yt = _data(rng, m)
        est = make(r).conformalize(Xc, yc)
        out.append((est.predict_set(Xt), yt))
    return out


CASES = [("lac", False), ("aps", False), ("aps", True), ("raps", False), ("raps", True), ("top_k", True)]


@pytest.mark.parametrize("score, randomized", CASES)
def test_marginal_coverage_in_exact_band(clf, score, randomized):
    n, R, m = 39, 1200, 40
    sims = _simulate(lambda r: SplitConformalClassifier(clf, [0.8, 0.9], score, randomized=randomized, prefit=True,
                                                        lambda_reg=0.1, random_state=r),
                      n, R, m, seed=CASES.index((score, randomized)))
    cov = np.stack([res.covers(yt) for res, yt in sims])  # (R, m, L)
    for j, lv in enumerate([0.8, 0.9]):
        assert_in_band(cov[:, :, j], lv, lv + 1 / (n + 1), sd=beta_sd(n, lv, R, m), what=f"{score} {randomized} {lv}")


def test_top_k_nonrandomized_lower_bound_only(clf):
    n, R, m = 39, 400, 40
    sims = _simulate(lambda r: SplitConformalClassifier(clf, 0.8, "top_k", prefit=True), n, R, m, seed=5)
    cov = np.stack([res.covers(yt)[:, 0] for res, yt in sims])
    assert_in_band(cov, 0.8, what="top_k")
    sizes = np.stack([res.size[:, 0] for res, _ in sims])
    assert np.all(sizes == sizes[:, :1])  # top-k sets have one size per calibration


def test_randomized_aps_smaller_sets_than_deterministic(clf):
    X, y = _data(np.random.default_rng(8), 4000)
    sizes = []
    for rnd in (False, True):
        s = SplitConformalClassifier(clf, 0.9, "aps", randomized=rnd, prefit=True, random_state=0).conformalize(
            X[:2000], y[:2000]).predict_set(X[2000:])
        sizes.append(s.size.mean())
    assert sizes[1] < sizes[0]


def test_class_conditional_coverage_per_class(clf):
    """Mondrian by class: P(Y in C | Y = k) >= 1 - alpha for every class (exact band per class)."""
    rng = np.random.default_rng(9)
    R, m, lv = 400, 200, 0.9
    # Unbalanced calibration: class 3 rare, so marginal calibration would undercover it.
    covs = {k: [] for k in range(4)}
    for _ in range(R):
        Xc, yc = _data(rng, 400)
        Xt, yt = _data(rng, m)
        est = SplitConformalClassifier(clf, lv, "lac", class_conditional=True, prefit=True).conformalize(Xc, yc)
        c = est.predict_set(Xt).covers(yt)[:, 0]
        for k in range(4):
            covs[k].append(c[yt == k].mean() if np.any(yt == k) else np.nan)
    for k in range(4):
        v = np.array(covs[k])
        v = v[np.isfinite(v)][:, None]
        assert_in_band(v, lv, what=f"class {k}")


def test_group_mondrian_requires_groups_at_predict(clf):
    rng = np.random.default_rng(10)
    Xc, yc = _data(rng, 400)
    g = (Xc[:, 0] > 0.75).astype(int)
    est = SplitConformalClassifier(clf, 0.9, prefit=True).conformalize(Xc, yc, groups=g)
    with pytest.raises(ValueError, match="pass groups"):
        est.predict_set(Xc)
    with pytest.raises(ValueError, match="absent"):
        est.predict_set(Xc[:3], groups=[5, 5, 5])
    assert est.predict_set(Xc, groups=g).sets.shape == (400, 4, 1)


def test_pvalues_uniform_randomized_aps(clf):
    rng = np.random.default_rng(12)
    n, R = 19, 2000
    p = np.empty(R)
    for r in range(R):
        Xc, yc = _data(rng, n)
        Xt, yt = _data(rng, 1)
        est = SplitConformalClassifier(clf, 0.9, "aps", randomized=True, prefit=True, random_state=r)
        p[r] = est.conformalize(Xc, yc).predict_pvalues(Xt, yt)[0]
    counts = np.bincount(np.rint(p * (n + 1)).astype(int) - 1, minlength=n + 1)
    assert stats.chisquare(counts).pvalue > P_MIN


@settings(max_examples=30)
@given(st.integers(2, 6), st.integers(1, 20), st.sampled_from(["lac", "aps", "raps", "top_k"]), st.integers(0, 999))
def test_score_properties(K, n, score, seed):
    """Scores: shapes, most probable class has the smallest score, APS score of the top class = its prob."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(K), size=n)
    s = class_scores(p, score)
    assert s.shape == (n, K)
    top = np.argmax(p, 1)
    assert np.all(s[np.arange(n), top] <= s.min(1) + 1e-12)
    if score == "aps":
        np.testing.assert_allclose(s.max(1), 1.0, atol=1e-12)  # the last class's score is the total mass


@settings(max_examples=15)
@given(st.lists(st.floats(0.05, 0.95), min_size=2, max_size=4, unique=True), st.integers(0, 99))
def test_sets_nested_in_level(clf, levels, seed):
    rng = np.random.default_rng(seed)
    Xc, yc = _data(rng, 60)
    est = SplitConformalClassifier(clf, levels, "raps", prefit=True, on_insufficient="inf").conformalize(Xc, yc)
    sets = est.predict_set(Xc[:20]).sets[:, :, np.argsort(levels)]
    assert np.all(sets[:, :, :-1] <= sets[:, :, 1:])


def test_to_pandas(clf):
    X, y = _data(np.random.default_rng(3), 100)
    res = SplitConformalClassifier(clf, [0.8, 0.95], prefit=True).conformalize(X[:80], y[:80]).predict_set(X[80:])
    df = res.to_pandas()
    assert len(df) == 40 and set(df.columns) == {"sample", "confidence_level", "prediction", "set", "size"}
    assert all(len(s) == z for s, z in zip(df["set"], df["size"], strict=True))


def test_bad_input(clf):
    X, y = _data(np.random.default_rng(4), 30)
    with pytest.raises(InsufficientCalibrationError):
        SplitConformalClassifier(clf, 0.99, prefit=True).conformalize(X, y)
    full = SplitConformalClassifier(clf, 0.99, prefit=True, on_insufficient="inf").conformalize(X, y).predict_set(X)
    assert full.sets.all()
    with pytest.raises(ValueError, match="unknown"):
        SplitConformalClassifier(clf, 0.9, prefit=True).conformalize(X, y + 10)
    with pytest.raises(ValueError, match="conformity_score"):
        SplitConformalClassifier(clf, 0.9, "margin", prefit=True).conformalize(X, y)
    with pytest.raises(ValueError, match="must match"):
        SplitConformalClassifier(clf, 0.9, prefit=True).conformalize(X, y[:3])
    with pytest.raises(ValueError, match="between 0 and 1"):
        SplitConformalClassifier(clf, 0.0, prefit=True).conformalize(X, y)
    with pytest.raises(AttributeError):
        SplitConformalClassifier(LinearRegression().fit(X, y), 0.9, prefit=True).conformalize(X, y)


def test_randomized_aps_can_return_empty_sets_as_documented(clf):
    """Documented behaviour: APS sets, randomized or not, may be empty (the top class's score u * p_top can exceed
    the calibrated quantile); their coverage is still in the exact band (test_marginal_coverage_in_exact_band)."""
    X, y = _data(np.random.default_rng(12), 2000)
    sizes = {}
    for rnd in (True, False):
        est = SplitConformalClassifier(clf, 0.5, "aps", randomized=rnd, prefit=True, random_state=0)
        sizes[rnd] = est.conformalize(X[:1000], y[:1000]).predict_set(X[1000:]).size[:, 0]
    assert np.mean(sizes[True] == 0) > 0.05 and np.mean(sizes[False] == 0) > 0.05
