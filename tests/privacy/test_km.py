"""PrivateKaplanMeier: exactness at epsilon = inf, sensitivity and noise scale against the definition,
invariants (hypothesis), the paper mechanism's warning and leak, and bad input."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_lung
from scipy import stats
from sklearn.exceptions import NotFittedError

from privacy import NoPrivacyGuaranteeWarning, PrivacyWarning, PrivateKaplanMeier
from privacy.survival import (
    cell_counts,
    cell_sensitivity,
    product_limit,
    release_histogram,
    release_tree,
    tree_matrix,
    tree_sensitivity,
)
from privacy.survival.mechanisms import tree_levels


@pytest.fixture(scope="module")
def lung():
    df = load_lung()
    return df["time"].to_numpy(float), df["status"].to_numpy(int)


# ---------------------------------------------------------------- exactness (epsilon -> infinity)
def test_infinite_epsilon_on_event_times_is_lifelines_exactly(lung):
    t, e = lung
    ref = KaplanMeierFitter().fit(t, e)
    grid = np.unique(t[e == 1])
    km = PrivateKaplanMeier(np.inf, grid=grid, convention="product-limit", n_bootstrap=10).fit(t, e)
    ours = km.survival_function_.iloc[1:, 0].to_numpy()
    np.testing.assert_allclose(ours, ref.survival_function_.loc[grid].to_numpy().ravel(), rtol=0, atol=1e-12)
    # the life table's "at risk" entering bin (t_{b-1}, t_b] is #{T >= t_b} minus censorings in the bin
    np.testing.assert_allclose(km.event_table["observed"], ref.event_table.loc[grid, "observed"], atol=0)
    assert km.median_survival_time_ == ref.median_survival_time_ == 310.0
    # published reference values (privacy.md, lifelines 0.30.3)
    np.testing.assert_allclose(km.predict([180.0, 365.0, 730.0]).to_numpy(), [0.7217, 0.4092, 0.1157], atol=5e-5)


@given(
    st.lists(st.tuples(st.integers(0, 12), st.integers(0, 1)), min_size=1, max_size=25),
)
def test_infinite_epsilon_matches_lifelines_on_any_tied_data(records):
    t = np.array([r[0] for r in records], float)
    e = np.array([r[1] for r in records])
    if e.sum() == 0:
        return
    grid = np.unique(t[e == 1])
    ref = KaplanMeierFitter().fit(t, e).survival_function_.loc[grid].to_numpy().ravel()
    for mechanism, adjacency in (("histogram", "add-remove"), ("histogram", "replace-one"), ("tree", "add-remove")):
        km = PrivateKaplanMeier(np.inf, grid=grid, mechanism=mechanism, adjacency=adjacency,
                                convention="product-limit", n_bootstrap=2).fit(t, e)
        np.testing.assert_allclose(km.survival_function_.iloc[1:, 0].to_numpy(), ref, atol=1e-9)


def test_binned_no_noise_is_close_to_exact_km_on_coarse_grid(lung):
    # binning bias only (no noise): actuarial rule on 30-day bins is within 0.002 RMSE of the exact KM
    t, e = lung
    grid = np.arange(30.0, 1051.0, 30.0)
    ref = KaplanMeierFitter().fit(t, e).predict(grid).to_numpy()
    rmse = {}
    for conv in ("actuarial", "product-limit"):
        km = PrivateKaplanMeier(np.inf, grid=grid, convention=conv, n_bootstrap=2).fit(t, e)
        rmse[conv] = np.sqrt(np.mean((km.survival_function_.iloc[1:, 0].to_numpy() - ref) ** 2))
    assert rmse["actuarial"] < 0.002 < rmse["product-limit"] < 0.01


# ---------------------------------------------------------------- sensitivity by brute force
def _neighbours(t, e, cand, adjacency):
    """All datasets adjacent to (t, e): remove one / add one candidate (add-remove), or replace one."""
    n = t.size
    if adjacency == "add-remove":
        for i in range(n):
            yield np.delete(t, i), np.delete(e, i)
        for ct, ce in cand:
            yield np.append(t, ct), np.append(e, ce)
    else:
        for i, (ct, ce) in itertools.product(range(n), cand):
            t2, e2 = t.copy(), e.copy()
            t2[i], e2[i] = ct, ce
            yield t2, e2


@pytest.mark.parametrize("adjacency", ["add-remove", "replace-one"])
def test_sensitivity_by_brute_force(adjacency):
    grid = np.array([2.0, 4.0, 6.0])
    t = np.array([1.0, 2.0, 3.0, 5.0, 7.0, 4.0])
    e = np.array([1, 0, 1, 1, 0, 1])
    # candidate records hitting every cell: boundaries and interiors, both event types, beyond the grid
    cand = [(x, ev) for x in (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 9.0) for ev in (0, 1)]
    base = cell_counts(t, e, grid)
    a = tree_matrix(base.size)
    l1_cells, l1_tree = [], []
    for t2, e2 in _neighbours(t, e, cand, adjacency):
        c2 = cell_counts(t2, e2, grid)
        l1_cells.append(np.abs(c2 - base).sum())
        l1_tree.append(np.abs(a @ (c2 - base)).sum())
    # the claimed sensitivities are attained (tight), never exceeded
    assert max(l1_cells) == cell_sensitivity(adjacency)
    assert max(l1_tree) == tree_sensitivity(base.size, adjacency)


def test_every_record_lands_in_exactly_one_cell():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 20, 300).astype(float)
    e = rng.integers(0, 2, 300)
    c = cell_counts(t, e, np.array([3.0, 7.0, 7.5, 15.0]))
    assert c.sum() == 300 and c.size == 9


# ---------------------------------------------------------------- noise scale against the definition
@pytest.mark.parametrize(
    "mechanism, adjacency",
    [("histogram", "add-remove"), ("histogram", "replace-one"), ("tree", "add-remove"), ("tree", "replace-one")],
)
def test_laplace_noise_scale_matches_definition(mechanism, adjacency):
    eps, n_draws = 0.7, 4000
    cells = np.array([5, 0, 3, 9, 2, 0, 7])
    rng = np.random.default_rng(1)
    if mechanism == "histogram":
        noise = release_histogram(cells, eps, adjacency, rng, size=n_draws) - cells
        b = cell_sensitivity(adjacency) / eps
    else:
        _, nodes = release_tree(cells, eps, adjacency, rng, size=n_draws)
        noise = nodes - tree_matrix(cells.size) @ cells
        levels = tree_levels(cells.size)
        b = (levels if adjacency == "add-remove" else 2 * (levels - 1)) / eps
    x = noise.ravel()
    # MLE of the Laplace scale is mean|X|; sd(|X|) = b, so SE = b / sqrt(N). 4.5 SE: two-sided p ~ 7e-6.
    se = b / np.sqrt(x.size)
    assert abs(np.mean(np.abs(x)) - b) < 4.5 * se
    assert abs(np.mean(x)) < 4.5 * np.sqrt(2) * se
    # negative control: the same test rejects a mechanism using half the claimed scale
    assert abs(np.mean(np.abs(x)) - 2 * b) > 4.5 * se
    assert stats.kstest(x[:2000], stats.laplace(scale=b).cdf).pvalue > 1e-3


def test_tree_least_squares_is_exact_without_noise_and_unbiased():
    cells = np.array([4.0, 1, 0, 6, 2, 9, 3, 3, 1, 0, 5])
    leaves, _ = release_tree(cells, np.inf, "add-remove", np.random.default_rng(0))
    np.testing.assert_allclose(leaves, cells, atol=1e-9)
    draws, _ = release_tree(cells, 1.0, "add-remove", np.random.default_rng(0), size=4000)
    sd = draws.std(axis=0)
    assert np.all(np.abs(draws.mean(axis=0) - cells) < 4.5 * sd / np.sqrt(4000))


# ---------------------------------------------------------------- invariants
@given(
    st.integers(1, 8).flatmap(
        lambda k: hnp.arrays(np.float64, 2 * k + 1, elements=st.floats(-50, 300, allow_nan=False))
    ),
    st.floats(0, 500),
)
def test_product_limit_is_a_survival_curve_for_any_noise(noisy, n_public):
    for npub in (None, n_public):
        s, at_risk, deaths = product_limit(noisy, n_public=npub)
        assert np.all((s >= 0) & (s <= 1))
        assert np.all(np.diff(s) <= 1e-15)
        assert np.all(at_risk >= deaths) and np.all(deaths >= 0)


@given(
    st.lists(st.tuples(st.floats(0, 100), st.integers(0, 1)), min_size=1, max_size=30),
    st.sampled_from(["histogram", "tree"]),
    st.sampled_from(["add-remove", "replace-one"]),
    st.floats(0.05, 20),
    st.integers(0, 2**16),
)
def test_fitted_curve_and_band_are_monotone_in_unit_interval(records, mechanism, adjacency, eps, seed):
    t = np.array([r[0] for r in records])
    e = np.array([r[1] for r in records])
    km = PrivateKaplanMeier(eps, grid=[10.0, 25.0, 50.0, 80.0], mechanism=mechanism, adjacency=adjacency,
                            n_bootstrap=20, random_state=seed, on_low_events="ignore").fit(t, e)
    s = km.survival_function_.iloc[:, 0].to_numpy()
    ci = km.confidence_interval_.to_numpy()
    assert s[0] == 1 and np.all((s >= 0) & (s <= 1)) and np.all(np.diff(s) <= 1e-15)
    assert np.all((ci >= 0) & (ci <= 1)) and np.all(ci[:, 0] <= ci[:, 1])
    assert np.all(np.diff(ci, axis=0) <= 1e-15)
    assert np.all(km.event_table.to_numpy() >= 0)


def test_same_seed_same_release_and_different_seed_differs(lung):
    t, e = lung
    kw = dict(grid=np.arange(30.0, 1051.0, 30.0), n_bootstrap=50)
    a = PrivateKaplanMeier(1.0, random_state=3, **kw).fit(t, e).survival_function_
    b = PrivateKaplanMeier(1.0, random_state=3, **kw).fit(t, e).survival_function_
    c = PrivateKaplanMeier(1.0, random_state=4, **kw).fit(t, e).survival_function_
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_api_predict_median_plot(lung):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, e = lung
    km = PrivateKaplanMeier(2.0, grid=np.arange(30.0, 1051.0, 30.0), random_state=0, n_bootstrap=200).fit(t, e)
    assert isinstance(km.predict(100.0), float)
    assert km.predict(0.0) == 1.0 and km.predict(29.9) == 1.0
    assert km.predict(30.0) == km.survival_function_.iloc[1, 0]
    assert km.predict(5000.0) == km.survival_function_.iloc[-1, 0]
    lo, hi = km.median_confidence_interval_.iloc[0]
    assert lo <= km.median_survival_time_ <= hi
    assert 200 <= km.median_survival_time_ <= 450  # exact 310; eps = 2 noise moves it by a few bins
    fig, ax = plt.subplots()
    assert km.plot_survival_function(ax=ax, at_risk_counts=True) is ax
    texts = [t.get_text() for t in ax.texts]
    assert "at risk (noisy)" in texts and len(texts) >= 3
    plt.close(fig)


def test_beyond_grid_is_administrative_censoring_or_an_error():
    t = np.array([1.0, 3.0, 12.0, 15.0])
    e = np.array([1, 1, 1, 0])
    grid = np.array([2.0, 5.0, 10.0])
    c = cell_counts(t, e, grid)
    c_admin = cell_counts(np.minimum(t, 10.0), np.where(t > 10.0, 0, e), grid)
    np.testing.assert_array_equal(c, c_admin)
    with pytest.raises(ValueError, match="exceed the last grid point"):
        PrivateKaplanMeier(1.0, grid=grid, beyond="error").fit(t, e)


def test_grid_from_data_warns_and_public_horizon_does_not(lung):
    t, e = lung
    with pytest.warns(PrivacyWarning, match="horizon"):
        PrivateKaplanMeier(1.0, grid=20, n_bootstrap=10, random_state=0).fit(t, e)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        km = PrivateKaplanMeier(1.0, grid=20, horizon=1100.0, n_bootstrap=10, random_state=0).fit(t, e)
    np.testing.assert_allclose(km.timeline_, np.arange(1, 21) * 55.0)


# ---------------------------------------------------------------- the paper's mechanism
def test_paper_mechanism_warns_and_releases_event_times(lung):
    t, e = lung
    with pytest.warns(NoPrivacyGuaranteeWarning, match="NO formal differential-privacy"):
        km = PrivateKaplanMeier(10.0, mechanism="paper", random_state=0).fit(t, e)
    # the leak: the release is indexed by the exact observed event times
    np.testing.assert_array_equal(km.timeline_, np.unique(t[e == 1]))
    s = km.survival_function_.iloc[:, 0].to_numpy()
    assert np.all(np.diff(s) <= 0) and s.min() >= 0
    with pytest.warns(NoPrivacyGuaranteeWarning):
        exact = PrivateKaplanMeier(np.inf, mechanism="paper").fit(t, e)
    ref = KaplanMeierFitter().fit(t, e).survival_function_.loc[km.timeline_].to_numpy().ravel()
    np.testing.assert_allclose(exact.survival_function_.iloc[1:, 0], ref, atol=1e-12)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, durations, events, exc, match",
    [
        ({}, [1.0, -2.0], [1, 0], ValueError, "non-negative"),
        ({}, [1.0, np.nan], [1, 0], ValueError, "NaN"),
        ({}, [1.0, 2.0], [1, 2], ValueError, "only 0/1"),
        ({}, [1.0, 2.0], [1, 0, 1], ValueError, "must match"),
        ({}, [], [], ValueError, "empty"),
        ({}, [[1.0, 2.0]], [[1, 0]], ValueError, "one-dimensional"),
        ({}, ["a", "b"], [1, 0], TypeError, "numeric"),
        ({"epsilon": 0.0}, [1.0], [1], ValueError, "epsilon must be > 0"),
        ({"epsilon": -1.0}, [1.0], [1], ValueError, "epsilon must be > 0"),
        ({"epsilon": np.nan}, [1.0], [1], ValueError, "epsilon must be > 0"),
        ({"grid": [3.0, 2.0]}, [1.0], [1], ValueError, "strictly increasing"),
        ({"grid": [1.0, 1.0]}, [1.0], [1], ValueError, "strictly increasing"),
        ({"grid": [1.0, np.inf]}, [1.0], [1], ValueError, "finite"),
        ({"grid": 0, "horizon": 5.0}, [1.0], [1], ValueError, ">= 1"),
        ({"mechanism": "gauss"}, [1.0], [1], ValueError, "mechanism must be one of"),
        ({"adjacency": "swap"}, [1.0], [1], ValueError, "adjacency must be one of"),
        ({"convention": "x"}, [1.0], [1], ValueError, "convention must be one of"),
        ({"alpha": 1.5}, [1.0], [1], ValueError, "alpha"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, durations, events, exc, match):
    kw = {"epsilon": 1.0, "grid": [1.0, 2.0], **kwargs}
    eps = kw.pop("epsilon")
    with pytest.raises(exc, match=match):
        PrivateKaplanMeier(eps, **kw).fit(durations, events)


def test_unfitted_use_is_an_error():
    with pytest.raises(NotFittedError, match="not fitted"):
        PrivateKaplanMeier(1.0).predict(3.0)


def test_sklearn_clone_and_lifelines_helpers(lung):
    from sklearn.base import clone

    t, e = lung
    km = PrivateKaplanMeier(2.0, grid=np.arange(30.0, 1051.0, 30.0), n_bootstrap=20, random_state=0)
    cloned = clone(km).get_params()
    assert cloned.keys() == km.get_params().keys()
    np.testing.assert_array_equal(cloned["grid"], km.grid)
    km.fit(t, e)
    np.testing.assert_allclose(km.cumulative_density_.iloc[:, 0], 1 - km.survival_function_.iloc[:, 0])
    assert km.percentile(0.5) == km.median_survival_time_
    p0 = km.percentile(0.0)
    assert p0 == np.inf or p0 in set(km.timeline_)
    assert list(km.survival_function_at_times([100.0, 200.0]).index) == [100.0, 200.0]
    with pytest.raises(ValueError, match="p must be in"):
        km.percentile(1.5)


@pytest.mark.parametrize(
    "mechanism, adjacency, scale",
    [("histogram", "add-remove", 1 / 0.5), ("histogram", "replace-one", 2 / 0.5),
     ("tree", "add-remove", 4 / 0.5), ("tree", "replace-one", 6 / 0.5)],
)
def test_guarantee_record(mechanism, adjacency, scale):
    # grid of 3 points -> 7 cells -> tree over 8 leaves, 4 levels
    km = PrivateKaplanMeier(0.5, grid=[1.0, 2.0, 3.0], mechanism=mechanism, adjacency=adjacency,
                            n_bootstrap=5, random_state=0, on_low_events="ignore").fit([0.5, 1.5, 2.5], [1, 0, 1])
    g = km.guarantee_
    assert g["epsilon"] == 0.5 and g["delta"] == 0.0 and g["n_cells"] == 7
    assert g["laplace_scale"] == pytest.approx(scale)
