"""ACI's deterministic long-run bound, CRC's risk guarantee, weighted conformal under shift."""

from __future__ import annotations

import numpy as np
import pytest
from conformal_stats import assert_in_band
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.linear_model import LinearRegression

from conformal import (
    AdaptiveConformal,
    ConformalRiskControl,
    SplitConformalRegressor,
    WeightedConformalRegressor,
    false_negative_rate,
)


# ---------------------------------------------------------------- ACI (Gibbs & Candes 2021, Prop. 4.1)
@settings(max_examples=40)
@given(hnp.arrays(np.float64, st.integers(1, 300), elements=st.floats(-1e3, 1e3)),
       st.floats(0.05, 0.95), st.floats(0.001, 0.5), st.sampled_from([None, 5, 50]))
def test_aci_bound_holds_for_any_sequence(y, level, gamma, window):
    """|mean err - alpha| <= (max(a1, 1-a1) + gamma) / (gamma T): deterministic, no tolerance."""
    aci = AdaptiveConformal(level, gamma=gamma, window=window).fit(y, np.zeros_like(y))
    assert abs(aci.errors_.mean() - (1 - level)) <= aci.long_run_bound() + 1e-12
    assert np.all(aci.alpha_trace_ >= -gamma - 1e-12) and np.all(aci.alpha_trace_ <= 1 + gamma + 1e-12)


def test_aci_adapts_to_a_variance_shift_where_fixed_split_fails():
    rng = np.random.default_rng(0)
    T = 4000
    sd = np.where(np.arange(T) < T // 2, 1.0, 4.0)  # abrupt volatility change
    y = sd * rng.normal(size=T)
    aci = AdaptiveConformal(0.9, gamma=0.02, window=300).fit(y, np.zeros(T))
    second = aci.errors_[T // 2 + 500:].mean()
    assert abs(second - 0.1) < 0.03  # recovers after the shift (Bernoulli SE ~ 0.006 for 1500 steps)
    # negative control: gamma ~ 0 is plain online split conformal, badly undercovers after the shift
    fixed = AdaptiveConformal(0.9, gamma=1e-9, window=None).fit(y, np.zeros(T))
    assert fixed.errors_[T // 2 + 500:].mean() > 0.2


def test_aci_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        AdaptiveConformal(gamma=0).fit([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="must match"):
        AdaptiveConformal().fit([1.0, 2.0], [0.0])
    with pytest.raises(ValueError, match="one confidence_level"):
        AdaptiveConformal([0.8, 0.9]).fit([1.0], [0.0])
    with pytest.raises(ValueError, match="NaN"):
        AdaptiveConformal().fit([1.0, np.nan], [0.0, 0.0])


# ---------------------------------------------------------------- CRC (Angelopoulos et al. 2024)
def _multilabel(rng, n, K=10):
    proba = rng.beta(0.6, 1.5, size=(n, K))
    labels = rng.uniform(size=(n, K)) < proba
    labels[np.arange(n), np.argmax(proba, 1)] |= ~labels.any(1)  # >= 1 positive per row
    return proba, labels


def test_crc_expected_fnr_at_most_alpha():
    rng = np.random.default_rng(1)
    lam = np.linspace(0, 1, 501)
    R, n, m, a = 800, 100, 50, 0.1
    loss = np.empty((R, m))
    for r in range(R):
        p, labels = _multilabel(rng, n + m)
        L = false_negative_rate(p, labels, lam)
        crc = ConformalRiskControl(a).fit(L[:n], lam)
        loss[r] = L[n:, crc.index_]
    assert_in_band(loss, -np.inf, a, what="CRC FNR")  # upper side: E[L] <= alpha


def test_crc_two_sided_for_continuous_loss_and_negative_control():
    """L_i(lam) = clip(Z_i - lam, 0, 1) is continuous: alpha - 2B/(n+1) - grid step <= E[L] <= alpha."""
    rng = np.random.default_rng(2)
    lam = np.linspace(-1, 9, 5001)
    step = lam[1] - lam[0]
    R, n, m, a = 800, 50, 50, 0.1
    loss, naive = np.empty((R, m)), np.empty((R, m))
    for r in range(R):
        Zs = rng.exponential(size=n + m)
        L = np.clip(Zs[:, None] - lam[None, :], 0, 1)
        crc = ConformalRiskControl(a).fit(L[:n], lam)
        loss[r] = L[n:, crc.index_]
    assert_in_band(loss, a - 2 / (n + 1) - step, a, what="CRC continuous")
    # negative control: empirical risk <= alpha without the B/(n+1) correction, small n, overshoots alpha
    n = 10
    for r in range(R):
        Zs = rng.exponential(size=n + m)
        L = np.clip(Zs[:, None] - lam[None, :], 0, 1)
        naive[r] = L[n:, np.argmax(L[:n].mean(0) <= a)]
    with pytest.raises(AssertionError, match="above"):
        assert_in_band(naive, -np.inf, a, what="naive risk control")


def test_crc_bad_input():
    lam = np.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="non-increasing"):
        ConformalRiskControl(0.1).fit(np.tile(lam, (4, 1)), lam)
    with pytest.raises(ValueError, match="risk_level"):
        ConformalRiskControl(1.5).fit(np.zeros((4, 5)), lam)
    with pytest.raises(ValueError, match="no lambda"):
        ConformalRiskControl(0.1).fit(np.zeros((4, 5)), lam)  # B/(n+1) = 0.2 > alpha
    with pytest.raises(ValueError, match=r"\(n, 5\)"):
        ConformalRiskControl(0.1).fit(np.zeros((40, 4)), lam)
    with pytest.raises(ValueError, match="finite"):
        ConformalRiskControl(0.1).fit(np.full((40, 5), np.nan), lam)


# ---------------------------------------------------------------- weighted conformal (Tibshirani et al. 2019)
def _shift_data(rng, n, shifted):
    x = rng.normal(1.0 if shifted else 0.0, 1.0, size=(n, 1))
    y = x[:, 0] + (0.3 + np.abs(x[:, 0])) * rng.normal(size=n)
    return x, y


def _ratio(X):  # N(1,1) / N(0,1) density ratio
    return np.exp(X[:, 0] - 0.5)


@pytest.fixture(scope="module")
def lin():
    X = np.array([[0.0], [1.0]])
    return LinearRegression().fit(X, X[:, 0])  # the true regression function y = x


def test_weighted_covers_under_shift_where_split_does_not(lin):
    rng = np.random.default_rng(3)
    R, n, m, lv = 400, 200, 50, 0.9
    cw, cs = np.empty((R, m)), np.empty((R, m))
    for r in range(R):
        Xc, yc = _shift_data(rng, n, False)
        Xt, yt = _shift_data(rng, m, True)
        cw[r] = WeightedConformalRegressor(lin, lv, likelihood_ratio=_ratio, prefit=True).conformalize(
            Xc, yc).predict_interval(Xt).covers(yt)[:, 0]
        cs[r] = SplitConformalRegressor(lin, lv, prefit=True).conformalize(Xc, yc).predict_interval(Xt).covers(yt)[:, 0]
    assert_in_band(cw, lv, what="weighted, known ratio")
    with pytest.raises(AssertionError, match="below"):
        assert_in_band(cs, lv, what="split under shift")


def test_weighted_with_estimated_ratio_close_to_nominal(lin):
    rng = np.random.default_rng(4)
    R, n, m = 60, 1000, 200
    cov = np.empty((R, m))
    for r in range(R):
        Xc, yc = _shift_data(rng, n, False)
        Xt, yt = _shift_data(rng, m, True)
        w = WeightedConformalRegressor(lin, 0.9, prefit=True).conformalize(Xc, yc, X_test=Xt)
        cov[r] = w.predict_interval(Xt).covers(yt)[:, 0]
    # Estimated w: no exact guarantee; logistic odds are the correct model family here, so the
    # coverage is within 0.02 of nominal (checked to Z standard errors).
    assert_in_band(cov, 0.88, 0.92, what="weighted, estimated ratio")


def test_weighted_equals_split_with_constant_ratio(lin):
    rng = np.random.default_rng(5)
    Xc, yc = _shift_data(rng, 99, False)
    Xt, _ = _shift_data(rng, 10, True)
    a = WeightedConformalRegressor(lin, [0.8, 0.9], likelihood_ratio=lambda X: np.ones(len(X)), prefit=True)
    b = SplitConformalRegressor(lin, [0.8, 0.9], prefit=True)
    np.testing.assert_allclose(a.conformalize(Xc, yc).predict_interval(Xt).upper,
                               b.conformalize(Xc, yc).predict_interval(Xt).upper)


def test_weighted_bad_input(lin):
    Xc, yc = _shift_data(np.random.default_rng(6), 20, False)
    with pytest.raises(ValueError, match="X_test"):
        WeightedConformalRegressor(lin, prefit=True).conformalize(Xc, yc)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedConformalRegressor(lin, likelihood_ratio=lambda X: -np.ones(len(X)), prefit=True).conformalize(Xc, yc)


def test_weighted_accepts_dataframes_without_warnings():
    import pandas as pd

    rng = np.random.default_rng(7)
    Xc, yc = _shift_data(rng, 100, False)
    Xt, _ = _shift_data(rng, 30, True)
    Xc, Xt = pd.DataFrame(Xc, columns=["x"]), pd.DataFrame(Xt, columns=["x"])
    w = WeightedConformalRegressor(confidence_level=0.8).fit(Xc, yc).conformalize(Xc, yc, X_test=Xt)
    assert w.predict_interval(Xt).lower.shape == (30, 1)  # filterwarnings=error: no feature-name warning
