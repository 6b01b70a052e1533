"""The DP Kaplan-Meier's low-event regime: the estimator says when its band cannot hold its level.

Design: lifelines' NCCTG lung data (228 records, 165 deaths) with only ``keep`` deaths kept (the others
turned into censorings at the same time), epsilon = 1, the public 35-bin grid, R = 40 releases per event
count.  The truth is lifelines' exact Kaplan-Meier of the modified data, read on the grid.

Claims tested:
* on the grid times the fitter declares reliable (``t <= reliable_until_``) the 95% band covers: pooled
  coverage >= 0.95 - 0.05 (0.05 covers the binomial error of R x K correlated hits, sd <= 0.035 for 40
  releases, plus the grouped-data bias; simulated mean 0.95 to 0.97);
* with few deaths (21, 0) the warning fires in every release, and on all grid times pooled coverage is
  far below the level (the regime exists: 26% at 720 days in the report that found it);
* negative control: with the diagnosis disabled (threshold patched to inf in the shipped fitter) the
  "reliable" region is everything and the first claim fails at 21 deaths.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("lifelines")
from lifelines import KaplanMeierFitter  # noqa: E402
from lifelines.datasets import load_lung  # noqa: E402

import privacy.survival.fitter as fitter  # noqa: E402
from privacy import LowEventError, LowEventWarning, PrivateKaplanMeier  # noqa: E402

GRID = np.arange(30.0, 1051.0, 30.0)
R = 40


@pytest.fixture(scope="module")
def lung():
    df = load_lung()
    return df["time"].to_numpy(float), (df["status"].to_numpy() == (2 if df["status"].max() == 2 else 1)).astype(int)


def _keep(t, e, keep, seed=0):
    idx = np.flatnonzero(e == 1)
    e2 = e.copy()
    e2[np.random.default_rng(seed).choice(idx, idx.size - keep, replace=False)] = 0
    return e2


def _releases(t, e):
    truth = KaplanMeierFitter().fit(t, e).predict(GRID).to_numpy()
    hits, reliable, warned = [], [], 0
    for r in range(R):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            km = PrivateKaplanMeier(1.0, grid=GRID, n_bootstrap=200, random_state=r).fit(t, e)
        warned += any(issubclass(x.category, LowEventWarning) for x in w)
        ci = km.confidence_interval_.to_numpy()[1:]
        hits.append((ci[:, 0] <= truth) & (truth <= ci[:, 1]))
        reliable.append(GRID <= km.reliable_until_)
    return np.array(hits), np.array(reliable), warned


@pytest.mark.parametrize("keep", [165, 80, 40, 21])
def test_band_covers_where_declared_reliable(lung, keep):
    t, e = lung
    hits, reliable, _ = _releases(t, _keep(t, e, keep))
    if reliable.sum() >= 10:
        assert hits[reliable].mean() >= 0.90, (keep, hits[reliable].mean(), reliable.mean())
    if keep == 165:
        assert reliable.mean() > 0.9  # the full data are mostly in the reliable regime


@pytest.mark.parametrize("keep", [21, 0])
def test_few_events_always_warn_and_band_fails_there(lung, keep):
    t, e = lung
    hits, reliable, warned = _releases(t, _keep(t, e, keep))
    assert warned == R
    assert hits.mean() < 0.8 and reliable.mean() < 0.6


def test_negative_control_without_the_diagnosis_coverage_fails(lung, monkeypatch):
    monkeypatch.setattr(fitter, "LOW_EVENT_RATIO", np.inf)
    t, e = lung
    hits, reliable, warned = _releases(t, _keep(t, e, 21))
    assert warned == 0 and reliable.all()
    assert hits[reliable].mean() < 0.90


def test_all_censored_median_is_nan_with_reason(lung):
    t, _ = lung
    e = np.zeros(t.size, dtype=int)
    with pytest.warns(LowEventWarning, match="median_survival_time_ is NaN"):
        km = PrivateKaplanMeier(1.0, grid=GRID, n_bootstrap=50, random_state=0).fit(t, e)
    assert np.isnan(km.median_survival_time_) and np.isnan(km.median_confidence_interval_.to_numpy()).all()
    assert km.reliable_until_ < GRID[5]
    with pytest.raises(LowEventError, match="low-event"):
        PrivateKaplanMeier(1.0, grid=GRID, n_bootstrap=50, random_state=0, on_low_events="raise").fit(t, e)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        km = PrivateKaplanMeier(1.0, grid=GRID, n_bootstrap=50, random_state=0, on_low_events="ignore").fit(t, e)
    assert np.isnan(km.median_survival_time_)
    # without noise there is nothing to flag, and the median is inf as in lifelines
    km = PrivateKaplanMeier(np.inf, grid=GRID, n_bootstrap=5).fit(t, e)
    assert km.median_survival_time_ == np.inf == KaplanMeierFitter().fit(t, e).median_survival_time_


def test_full_lung_release_is_not_flagged_on_the_coarse_grid(lung):
    t, e = lung
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        km = PrivateKaplanMeier(2.0, grid=GRID, n_bootstrap=50, random_state=1).fit(t, e)
    assert km.reliable_until_ == np.inf and np.all(km.low_event_ratio_ <= 0.25)
