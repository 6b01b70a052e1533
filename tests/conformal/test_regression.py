"""Validity of split conformal, normalized scores, CQR, CV+ and jackknife+ (seeded simulations).

Bounds tested (family error and standard errors: see conformal_stats.py):
split / normalized / CQR: 1-alpha <= E[coverage] <= 1-alpha+1/(n+1), with the exact Beta-binomial
standard error; CV+ / jackknife+: E[coverage] >= 1-2*alpha (Barber et al. 2021), empirical SE.
"""

from __future__ import annotations

import numpy as np
import pytest
from conformal_stats import P_MIN, assert_in_band, beta_sd
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, QuantileRegressor
from sklearn.tree import DecisionTreeRegressor

from conformal import (
    ConformalizedQuantileRegressor,
    CrossConformalRegressor,
    InsufficientCalibrationError,
    SplitConformalRegressor,
)

BETA = np.array([1.0, -2.0, 0.5])


def _data(rng, n, hetero=True):
    X = rng.normal(size=(n, 3))
    sd = 0.5 + np.abs(X[:, 0]) if hetero else 1.0
    y = X @ BETA + sd * rng.standard_t(5, size=n)
    return X, y


@pytest.fixture(scope="module")
def prefit_models():
    rng = np.random.default_rng(0)
    X, y = _data(rng, 2000)
    lin = LinearRegression().fit(X, y)
    scale = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, np.abs(y - lin.predict(X)))
    lo = QuantileRegressor(quantile=0.05, alpha=0.0, solver="highs").fit(X[:500], y[:500])
    hi = QuantileRegressor(quantile=0.95, alpha=0.0, solver="highs").fit(X[:500], y[:500])
    return lin, scale, lo, hi


def _simulate(make, n, R, m, seed, levels):
    rng = np.random.default_rng(seed)
    cov = np.empty((R, m, len(levels)), dtype=bool)
    for r in range(R):
        Xc, yc = _data(rng, n)
        Xt, yt = _data(rng, m)
        cov[r] = make().conformalize(Xc, yc).predict_interval(Xt).covers(yt)
    return cov


LEVELS = [0.8, 0.9]


@pytest.mark.parametrize("n", [19, 99])
@pytest.mark.parametrize("score", ["absolute", "normalized"])
def test_split_coverage_in_exact_band(prefit_models, n, score):
    lin, scale, _, _ = prefit_models
    R, m = 1500, 50
    cov = _simulate(lambda: SplitConformalRegressor(lin, LEVELS, score, scale_estimator=scale, prefit=True),
                    n, R, m, seed=n, levels=LEVELS)
    for j, lv in enumerate(LEVELS):
        assert_in_band(cov[:, :, j], lv, lv + 1 / (n + 1), sd=beta_sd(n, lv, R, m), what=f"{score} n={n} {lv}")


def test_negative_control_misranked_quantile_is_rejected(prefit_models, monkeypatch):
    """Using the (k-1)-th order statistic (a classic off-by-one) must fail the band test."""
    import conformal.regression as reg
    from conformal import _common

    lin = prefit_models[0]

    def misranked(scores, levels, on_insufficient="raise", what="points"):
        s = np.sort(scores)
        k = _common.conformal_rank(s.size, levels) - 1
        return s[k - 1]

    monkeypatch.setattr(reg, "conformal_quantile", misranked)
    n, R, m = 19, 1500, 50
    cov = _simulate(lambda: SplitConformalRegressor(lin, 0.9, prefit=True), n, R, m, seed=7, levels=[0.9])
    with pytest.raises(AssertionError, match="below"):
        assert_in_band(cov[:, :, 0], 0.9, 0.9 + 1 / (n + 1), sd=beta_sd(n, 0.9, R, m))


def test_cqr_coverage_in_exact_band(prefit_models):
    _, _, lo, hi = prefit_models
    n, R, m = 49, 800, 50
    cov = _simulate(lambda: ConformalizedQuantileRegressor((lo, hi), 0.9, prefit=True), n, R, m, 3, [0.9])
    assert_in_band(cov[:, :, 0], 0.9, 0.9 + 1 / (n + 1), sd=beta_sd(n, 0.9, R, m), what="CQR")


def test_cqr_unfitted_path_sets_quantiles_and_is_narrower_than_constant_width():
    rng = np.random.default_rng(5)
    X, y = _data(rng, 1600)
    base = QuantileRegressor(alpha=0.0, solver="highs")
    cqr = ConformalizedQuantileRegressor(base, [0.8, 0.9]).fit(X[:600], y[:600]).conformalize(X[600:1100], y[600:1100])
    assert [m[0].quantile for m in cqr.models_] == pytest.approx([0.1, 0.05])
    res = cqr.predict_interval(X[1100:])
    cover = res.covers(y[1100:]).mean(0)
    assert np.all(cover > np.array([0.8, 0.9]) - 0.06)  # 500 test points, 500 calib: SE <= 0.02, 3 SE


@pytest.mark.parametrize("cv", [5, "jackknife"])
def test_cv_plus_and_jackknife_plus_cover_1_minus_2alpha(cv):
    rng = np.random.default_rng(11)
    n, R, m = (30, 150, 40) if cv == 5 else (20, 100, 40)
    cov = np.empty((R, m), dtype=bool)
    for r in range(R):
        X, y = _data(rng, n + m)
        ccr = CrossConformalRegressor(LinearRegression(), 0.8, cv=cv, random_state=r).fit(X[:n], y[:n])
        cov[r] = ccr.predict_interval(X[n:]).covers(y[n:])[:, 0]
    mean = assert_in_band(cov, 1 - 2 * 0.2, what=f"cv={cv}")
    assert mean > 0.75  # in practice near 1-alpha (not a guarantee; sanity check only)


def test_cv_minmax_and_base_shapes():
    rng = np.random.default_rng(1)
    X, y = _data(rng, 120)
    for method in ("minmax", "base"):
        res = CrossConformalRegressor(cv=4, method=method, confidence_level=[0.5, 0.9], random_state=0).fit(
            X[:100], y[:100]).predict_interval(X[100:])
        assert res.lower.shape == (20, 2) and np.all(res.width[:, 1] >= res.width[:, 0])
    plus = CrossConformalRegressor(cv=4, random_state=0).fit(X[:100], y[:100]).predict_interval(X[100:])
    mm = CrossConformalRegressor(cv=4, method="minmax", random_state=0).fit(X[:100], y[:100]).predict_interval(X[100:])
    assert np.all(mm.lower <= plus.lower + 1e-12) and np.all(mm.upper >= plus.upper - 1e-12)


def test_pvalues_of_true_responses_are_uniform(prefit_models):
    """One test point per calibration set: exactly discrete-uniform on {1/(n+1), ..., 1}."""
    lin = prefit_models[0]
    rng = np.random.default_rng(21)
    n, R = 19, 2000
    p, pr = np.empty(R), np.empty(R)
    for r in range(R):
        Xc, yc = _data(rng, n)
        Xt, yt = _data(rng, 1)
        scr = SplitConformalRegressor(lin, 0.9, prefit=True).conformalize(Xc, yc)
        p[r] = scr.predict_pvalues(Xt, yt)[0]
        pr[r] = scr.predict_pvalues(Xt, yt, randomized=True, random_state=r)[0]
    counts = np.bincount(np.rint(p * (n + 1)).astype(int) - 1, minlength=n + 1)
    assert counts.size == n + 1
    assert stats.chisquare(counts).pvalue > P_MIN
    assert stats.kstest(pr, "uniform").pvalue > P_MIN


def test_negative_control_pvalues_not_uniform_under_misspecified_score(prefit_models):
    """Calibrating on a different noise scale than the test data breaks uniformity: detected."""
    lin = prefit_models[0]
    rng = np.random.default_rng(22)
    pr = np.empty(1000)
    for r in range(1000):
        Xc, yc = _data(rng, 19)
        Xt, yt = _data(rng, 1)
        yt = lin.predict(Xt) + 1.5 * (yt - lin.predict(Xt))  # test noise 1.5x calibration noise
        pr[r] = SplitConformalRegressor(lin, 0.9, prefit=True).conformalize(Xc, yc).predict_pvalues(
            Xt, yt, randomized=True, random_state=r)[0]
    assert stats.kstest(pr, "uniform").pvalue < P_MIN


@settings(max_examples=30)
@given(hnp.arrays(np.float64, st.integers(1, 40), elements=st.floats(-1e6, 1e6)),
       st.lists(st.floats(0.01, 0.99), min_size=1, max_size=4, unique=True))
def test_intervals_nested_in_level(resid, levels):
    """Higher level -> wider (nested) intervals; shapes (n, L); inf when too few points."""
    n = resid.size
    X = np.arange(n, dtype=float).reshape(-1, 1)
    lin = LinearRegression().fit(np.array([[0.0], [1.0]]), np.array([0.0, 0.0]))
    scr = SplitConformalRegressor(lin, levels, prefit=True, on_insufficient="inf").conformalize(X, resid)
    res = scr.predict_interval(X[:3])
    assert res.lower.shape == (min(3, n), len(levels))
    order = np.argsort(levels)
    w = res.width[:, order]
    assert np.all(np.diff(w, axis=1) >= 0)
    assert np.all(res.lower <= res.prediction[:, None]) and np.all(res.upper >= res.prediction[:, None])
    k = np.ceil((n + 1) * np.asarray(levels) - 1e-9 * (n + 1))
    assert np.array_equal(np.isinf(res.upper[0]), k > n)


def test_results_to_pandas_and_interval_access(prefit_models):
    lin = prefit_models[0]
    rng = np.random.default_rng(2)
    X, y = _data(rng, 60)
    res = SplitConformalRegressor(lin, [0.8, 0.9], prefit=True).conformalize(X[:50], y[:50]).predict_interval(X[50:])
    df = res.to_pandas()
    assert list(df.columns) == ["sample", "confidence_level", "prediction", "lower", "upper", "width"]
    assert len(df) == 20
    lo, hi = res.interval(0.9)
    np.testing.assert_array_equal(lo, res.lower[:, 1])
    with pytest.raises(ValueError, match="not calibrated"):
        res.interval(0.95)


def test_unfitted_path_and_normalized_default():
    rng = np.random.default_rng(3)
    X, y = _data(rng, 600)
    scr = SplitConformalRegressor(conformity_score="normalized").fit(X[:300], y[:300])
    scr = scr.conformalize(X[300:500], y[300:500])
    res = scr.predict_interval(X[500:])
    assert np.std(res.width) > 0  # adaptive widths
    np.testing.assert_allclose(scr.predict(X[500:]), res.prediction)


@pytest.mark.parametrize(
    "kwargs, call, exc, match",
    [
        (dict(confidence_level=1.0), "fit", ValueError, "between 0 and 1"),
        (dict(confidence_level=[0.5, -0.1]), "fit", ValueError, "between 0 and 1"),
        (dict(confidence_level="0.9"), "fit", TypeError, "float"),
        (dict(conformity_score="gamma"), "fit", ValueError, "conformity_score"),
        (dict(on_insufficient="nan"), "fit", ValueError, "on_insufficient"),
    ],
)
def test_bad_parameters(kwargs, call, exc, match):
    X, y = _data(np.random.default_rng(0), 30)
    with pytest.raises(exc, match=match):
        SplitConformalRegressor(**kwargs).fit(X, y)


def test_bad_input_errors(prefit_models):
    lin = prefit_models[0]
    X, y = _data(np.random.default_rng(0), 30)
    scr = SplitConformalRegressor(lin, 0.9, prefit=True)
    with pytest.raises(InsufficientCalibrationError, match="at least 9"):
        scr.conformalize(X[:5], y[:5])
    scr = SplitConformalRegressor(lin, 0.9, prefit=True, on_insufficient="inf")
    res = scr.conformalize(X[:5], y[:5]).predict_interval(X)
    assert np.all(np.isinf(res.width))
    with pytest.raises(ValueError, match="must match"):
        scr.conformalize(X, y[:-1])
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        scr.conformalize(Xn, y)
    yn = y.copy()
    yn[0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        scr.conformalize(X, yn)
    with pytest.raises(ValueError, match="2-D"):
        scr.conformalize(X[:, 0], y)
    with pytest.raises(NotFittedError, match="not fitted"):
        SplitConformalRegressor(LinearRegression(), prefit=True).conformalize(X, y)
    with pytest.raises(ValueError, match="prefit=True"):
        SplitConformalRegressor(lin, prefit=True).fit(X, y)
    with pytest.raises(ValueError, match="call fit"):
        SplitConformalRegressor().conformalize(X, y)
    with pytest.raises(NotFittedError):
        SplitConformalRegressor().predict_interval(X)
    with pytest.raises(TypeError, match="quantile"):
        ConformalizedQuantileRegressor(LinearRegression()).fit(X, y)
    with pytest.raises(ValueError, match="cv"):
        CrossConformalRegressor(cv=1).fit(X, y)
