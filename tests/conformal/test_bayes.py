"""Conformal Bayes equals brute-force full conformal on a conjugate model.

Model: y_i ~ N(beta x_i, s^2), beta ~ N(0, tau^2), s known.  Brute force: for every candidate y,
refit the exact Normal posterior on the n + 1 points and rank the exact posterior predictive
densities.  Conformal Bayes with Gauss-Hermite nodes of the n-point posterior as weighted
"draws" integrates these Gaussians to ~1e-12, so its p-values must be IDENTICAL to brute force
(excluding numerical ties, |log sigma_i - log sigma_test| < 1e-6, counted and required rare).
With Monte Carlo draws the agreement is up to importance-sampling error.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conformal_stats import assert_in_band
from scipy import stats

from conformal import ConformalBayes, GridBoundaryWarning, LowESSWarning, SplitConformalRegressor

S, TAU = 1.0, 2.0


def _posterior(x, y):
    prec = 1 / TAU**2 + np.sum(x**2) / S**2
    return np.sum(x * y) / S**2 / prec, prec**-0.5


def _brute_force_pvalues(x, y, x_new, grid):
    n = x.size
    p = np.empty(grid.size)
    for g, yg in enumerate(grid):
        xa, ya = np.r_[x, x_new], np.r_[y, yg]
        m, s = _posterior(xa, ya)
        logdens = stats.norm.logpdf(ya, m * xa, np.sqrt(S**2 + xa**2 * s**2))
        p[g] = np.sum(logdens <= logdens[-1]) / (n + 1)
    return p, None


def _loglik(samples, X, y):
    beta = np.asarray(samples["beta"], dtype=float)  # numpy, JAX (probinf Population) or list
    return stats.norm.logpdf(y[None, :], beta[:, None] * X[None, :, 0], S)


def _problem(seed, n=15):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 0.7 * x + S * rng.standard_t(4, size=n)  # misspecified noise: conformal is still valid
    return x, y


@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_brute_force_full_conformal(seed, backend):
    x, y = _problem(seed)
    m, s = _posterior(x, y)
    nodes, w = np.polynomial.hermite_e.hermegauss(80)  # probabilists' Hermite: weight exp(-z^2/2)
    samples = {"beta": m + s * nodes}
    grid = np.linspace(-12, 12, 481)
    x_new = 0.8
    cb = ConformalBayes(_loglik, confidence_level=[0.8, 0.9], backend=backend)
    cb.fit(x[:, None], y, samples, log_weights=np.log(w))
    p_cb = cb.predict_pvalues(np.array([[x_new]]), y_grid=grid)[0]
    p_bf, _ = _brute_force_pvalues(x, y, x_new, grid)
    differ = p_cb != p_bf
    # a difference is only allowed at a numerical tie in the brute-force scores
    ties = np.zeros(grid.size, bool)
    for g in np.flatnonzero(differ):
        xa, ya = np.r_[x, x_new], np.r_[y, grid[g]]
        mm, ss = _posterior(xa, ya)
        ld = stats.norm.logpdf(ya, mm * xa, np.sqrt(S**2 + xa**2 * ss**2))
        ties[g] = np.min(np.abs(ld[:-1] - ld[-1])) < (1e-9 if backend == "reference" else 1e-4)
    assert np.all(ties[differ]), f"p-values differ at non-tied grid points {np.flatnonzero(differ & ~ties)}"
    assert differ.sum() <= 2
    res = cb.predict_interval(np.array([[x_new]]), y_grid=grid)
    for j, lv in enumerate([0.8, 0.9]):
        inside = grid[p_bf > 1 - lv]
        if backend == "reference":
            assert res.lower[0, j] == inside.min() and res.upper[0, j] == inside.max()


def test_monte_carlo_draws_close_to_brute_force():
    x, y = _problem(3)
    m, s = _posterior(x, y)
    rng = np.random.default_rng(0)
    samples = {"beta": rng.normal(m, s, size=4000)}
    grid = np.linspace(-6, 6, 121)
    cb = ConformalBayes(_loglik, 0.8).fit(x[:, None], y, samples)
    p_cb = cb.predict_pvalues(np.array([[0.3]]), y_grid=grid)[0]
    p_bf, _ = _brute_force_pvalues(x, y, 0.3, grid)
    # IS error moves a rank by at most one or two positions near crossings
    assert np.max(np.abs(p_cb - p_bf)) <= 2 / (x.size + 1) + 1e-12
    assert np.mean(p_cb == p_bf) > 0.9
    assert cb.ess_.min() > 1000


def test_numpyro_model_path_equals_callable_path():
    import numpyro
    import numpyro.distributions as dist

    def model(X, y=None):
        beta = numpyro.sample("beta", dist.Normal(0.0, TAU))
        with numpyro.plate("data", X.shape[0]):
            numpyro.sample("y", dist.Normal(beta * X[:, 0], S), obs=y)

    x, y = _problem(4)
    m, s = _posterior(x, y)
    samples = {"beta": np.random.default_rng(1).normal(m, s, size=500)}
    grid = np.linspace(-5, 5, 41)
    a = ConformalBayes(model=model, confidence_level=0.8).fit(x[:, None], y, samples)
    b = ConformalBayes(_loglik, confidence_level=0.8).fit(x[:, None], y, samples)
    np.testing.assert_allclose(a.loglik_train_, b.loglik_train_, atol=1e-4)
    Xt = np.array([[0.5], [-1.0]])
    np.testing.assert_array_equal(a.predict_pvalues(Xt, y_grid=grid), b.predict_pvalues(Xt, y_grid=grid))
    c = ConformalBayes(confidence_level=0.8).fit(x[:, None], y, loglik_train=b.loglik_train_)
    lg = np.stack([_loglik(samples, np.repeat(Xt[i:i + 1], grid.size, 0), grid) for i in range(2)])
    np.testing.assert_array_equal(c.predict_pvalues(y_grid=grid, loglik_grid=lg), b.pvalues_)


def test_coverage_under_misspecification():
    """Full-conformal validity: 1-alpha <= coverage <= 1-alpha + 1/(n+1) (exact; Beta-free, empirical SE)."""
    rng = np.random.default_rng(5)
    n, R, lv = 15, 300, 0.8
    grid = np.linspace(-12, 12, 481)
    cov = np.empty((R, 1))
    nodes, w = np.polynomial.hermite_e.hermegauss(40)
    for r in range(R):
        x = rng.normal(size=n + 1)
        y = 0.7 * x + rng.standard_t(3, size=n + 1)
        m, s = _posterior(x[:n], y[:n])
        cb = ConformalBayes(_loglik, lv).fit(x[:n, None], y[:n], {"beta": m + s * nodes}, log_weights=np.log(w))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GridBoundaryWarning)
            p = cb.predict_pvalues(x[n:, None], y_grid=grid)[0]
        # coverage of the grid set: the p-value at the grid point nearest to the true y
        cov[r, 0] = p[np.argmin(np.abs(grid - y[n]))] > 1 - lv
    assert_in_band(cov, lv - 0.02, lv + 1 / (n + 1) + 0.02, what="conformal Bayes")  # 0.02: grid rounding


def test_warnings_and_bad_input():
    x, y = _problem(6)
    rng = np.random.default_rng(2)
    samples = {"beta": rng.normal(0, 3, size=50)}
    cb = ConformalBayes(_loglik, 0.8, min_ess_fraction=0.5).fit(x[:, None], y, samples)
    # at x_new = 30 the new point's likelihood varies sharply over the draws: degenerate weights
    with pytest.warns(LowESSWarning, match="degenerate"):
        cb.predict_interval(np.array([[30.0]]), y_grid=np.linspace(-300, 300, 200))
    with pytest.warns(GridBoundaryWarning):
        ConformalBayes(_loglik, 0.9).fit(x[:, None], y, samples).predict_interval(
            np.array([[0.0]]), y_grid=np.linspace(-0.1, 0.1, 5))
    with pytest.raises(ValueError, match="log_likelihood"):
        ConformalBayes().fit(x[:, None], y, samples)
    with pytest.raises(ValueError, match="draws"):
        ConformalBayes(lambda s, X, yy: np.zeros((3, yy.size))).fit(x[:, None], y, samples)
    with pytest.raises(ValueError, match="increasing"):
        ConformalBayes(_loglik).fit(x[:, None], y, samples).predict_pvalues(np.array([[0.0]]), y_grid=[1.0, 0.0])
    with pytest.raises(ValueError, match="log_weights"):
        ConformalBayes(_loglik).fit(x[:, None], y, samples, log_weights=np.zeros(3))
    with pytest.raises(ValueError, match="between 0 and 1"):
        ConformalBayes(_loglik, 1.2).fit(x[:, None], y, samples)


def test_width_comparable_to_split_conformal_when_model_is_right():
    """Sanity: on well-specified data conformal Bayes (all n points) is not wider than split (n/2)."""
    rng = np.random.default_rng(7)
    n = 60
    x = rng.normal(size=n + 1)
    y = 0.7 * x + S * rng.normal(size=n + 1)
    m, s = _posterior(x[:n], y[:n])
    nodes, w = np.polynomial.hermite_e.hermegauss(40)
    cb = ConformalBayes(_loglik, 0.8).fit(x[:n, None], y[:n], {"beta": m + s * nodes}, log_weights=np.log(w))
    res = cb.predict_interval(x[n:, None], y_grid=np.linspace(-8, 8, 801))
    width_cb = res.width[0, 0]
    assert abs(width_cb - 2 * stats.norm.ppf(0.9) * S) < 0.5
    scr = SplitConformalRegressor(confidence_level=0.8).fit(x[:30, None], y[:30]).conformalize(x[30:n, None], y[30:n])
    assert np.isfinite(scr.predict_interval(x[n:, None]).width[0, 0])


def test_probinf_population_input_equals_arrays():
    """A probinf Population (particles + log_weights) is accepted as the posterior sample."""
    import jax.numpy as jnp

    import probinf

    x, y = _problem(8)
    m, s = _posterior(x, y)
    nodes, w = np.polynomial.hermite_e.hermegauss(30)
    pop = probinf.init_population({"beta": jnp.asarray(m + s * nodes)}, jnp.log(jnp.asarray(w)))
    grid = np.linspace(-8, 8, 81)
    a = ConformalBayes(_loglik, 0.8).fit(x[:, None], y, pop.particles, log_weights=pop.log_weights)
    b = ConformalBayes(_loglik, 0.8).fit(x[:, None], y, {"beta": np.asarray(pop.particles["beta"], float)},
                                         log_weights=np.asarray(pop.log_weights, float))
    assert a.num_draws_ == 30
    np.testing.assert_array_equal(a.predict_pvalues(np.array([[0.2]]), y_grid=grid),
                                  b.predict_pvalues(np.array([[0.2]]), y_grid=grid))
