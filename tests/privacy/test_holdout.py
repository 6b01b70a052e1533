"""Thresholdout (ReusableHoldout): mechanics, noise scale, budget, bad input, and the adaptive-overfitting demo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from privacy import BudgetExhaustedError, ReusableHoldout
from privacy.holdout import adaptive_overfitting_demo


def test_close_values_return_train_far_values_return_noisy_holdout():
    h = ReusableHoldout(0.04, 0.01, 5, random_state=0)
    assert h.query(0.70, 0.70) == 0.70
    ans = h.query(0.95, 0.30)
    assert ans != 0.95 and abs(ans - 0.30) < 0.2
    assert h.budget_left_ == 4 and h.n_overfit_ == 1 and h.n_queries_ == 2
    # per-record arrays are averaged
    assert h.query(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == 0.5


def test_holdout_answer_noise_is_laplace_sigma():
    sigma, n = 0.02, 4000
    h = ReusableHoldout(0.04, sigma, n, random_state=1)
    noise = np.array([h.query(1.0, 0.0) for _ in range(n)])  # gap 1 >> threshold: always over
    assert h.n_overfit_ == n
    # mean |Lap(sigma)| = sigma, sd = sigma: 4.5 SE bound (two-sided p ~ 7e-6)
    assert abs(np.mean(np.abs(noise)) - sigma) < 4.5 * sigma / np.sqrt(n)


def test_budget_exhaustion_is_an_error():
    h = ReusableHoldout(0.01, 0.001, 2, random_state=0)
    h.query(1.0, 0.0)
    h.query(1.0, 0.0)
    with pytest.raises(BudgetExhaustedError, match="spent"):
        h.query(0.5, 0.5)


def test_same_seed_same_answers():
    a = [ReusableHoldout(0.04, 0.01, 50, random_state=7).query(x, 0.2) for x in np.linspace(0, 1, 20)]
    b = [ReusableHoldout(0.04, 0.01, 50, random_state=7).query(x, 0.2) for x in np.linspace(0, 1, 20)]
    assert a == b


@pytest.mark.parametrize(
    "kwargs, match",
    [({"threshold": 0.0}, "threshold"), ({"sigma": -1.0}, "sigma"), ({"sigma": np.nan}, "sigma"),
     ({"budget": 0}, "budget"), ({"budget": 2.5}, "budget")],
)
def test_bad_parameters(kwargs, match):
    kw = {"threshold": 0.04, "sigma": 0.01, "budget": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        ReusableHoldout(**kw).query(0.5, 0.5)


def test_bad_query_values():
    with pytest.raises(ValueError, match="train_value"):
        ReusableHoldout(0.04, 0.01, 10).query(np.nan, 0.5)
    with pytest.raises(ValueError, match="holdout_value"):
        ReusableHoldout(0.04, 0.01, 10).query(0.5, [])


def test_standard_holdout_overfits_and_thresholdout_does_not():
    """Boosting attack on labels independent of the features (true accuracy 0.5), 10 fixed seeds.

    Bound: per seed the reported-minus-fresh error has sd about 0.015 (standard) and 0.03
    (Thresholdout), so over 10 seeds the mean has SE <= 0.01. The standard holdout's error must
    exceed the Thresholdout tolerance T = 0.04 by 3 SE; Thresholdout's must stay below T + 2 sigma
    + 3 SE = 0.09 and below the standard holdout's.
    """
    frames = pd.concat([adaptive_overfitting_demo(n=1000, random_state=s) for s in range(10)])
    last = frames[frames["queries"] == frames["queries"].max()]
    err_std = (last["reported_standard"] - last["fresh_standard"]).mean()
    err_tho = (last["reported_thresholdout"] - last["fresh_thresholdout"]).mean()
    assert err_std > 0.04 + 3 * 0.01
    assert err_tho < 0.04 + 2 * 0.01 + 3 * 0.01
    assert err_tho < err_std
    # fresh accuracy is chance level either way (sd 0.016 per seed; 10 seeds: 4 SE = 0.02)
    assert abs(last["fresh_standard"].mean() - 0.5) < 0.02
    # the standard error grows with the number of adaptive queries
    by_m = (frames["reported_standard"] - frames["fresh_standard"]).groupby(frames["queries"]).mean()
    assert by_m.iloc[-1] > by_m.iloc[0]
