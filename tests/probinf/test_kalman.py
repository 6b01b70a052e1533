"""Tests of probinf/kalman.py against the exact joint Gaussian (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from probinf import LinearGaussian, kalman_filter, kalman_smoother
from probinf._compat import enable_x64


def _joint_moments(lg: LinearGaussian, t_len: int):
    """Mean and covariance of the stacked (X_0..X_{T-1}, Y_0..Y_{T-1}) by brute force."""
    F, Q, H, R, m0, P0 = (np.asarray(a, np.float64) for a in lg)
    d, p = m0.shape[0], H.shape[0]
    # X = A @ (x0 - m0, u_1, ..., u_{T-1}) + mean; build A block by block.
    means = [m0]
    blocks = [[np.eye(d)] + [np.zeros((d, d))] * (t_len - 1)]
    for t in range(1, t_len):
        means.append(F @ means[-1])
        row = [F @ b for b in blocks[-1]]
        row[t] = np.eye(d)
        blocks.append(row)
    A = np.block(blocks)
    S_noise = np.kron(np.eye(t_len), Q)
    S_noise[:d, :d] = P0
    Sx = A @ S_noise @ A.T
    Hb = np.kron(np.eye(t_len), H)
    mx = np.concatenate(means)
    my = Hb @ mx
    Sy = Hb @ Sx @ Hb.T + np.kron(np.eye(t_len), R)
    Sxy = Sx @ Hb.T
    return mx, my, Sx, Sy, Sxy, d, p


@pytest.fixture
def lg2():
    return LinearGaussian.create(
        F=[[0.9, 0.2], [-0.1, 0.7]], Q=[[0.5, 0.1], [0.1, 0.3]], H=[[1.0, 0.5]], R=[[0.2]],
        m0=[0.3, -0.2], P0=[[1.0, 0.2], [0.2, 0.8]],
    )


def test_filter_and_smoother_match_joint_gaussian(lg2):
    t_len = 6
    with enable_x64(True):
        lg = LinearGaussian(*(jnp.asarray(a, jnp.float64) for a in lg2))
        _, y = lg.simulate(jax.random.PRNGKey(0), t_len)
        y = np.asarray(y, np.float64)
        mx, my, Sx, Sy, Sxy, d, p = _joint_moments(lg, t_len)
        kf = lg.kalman_filter(y)
        sm = lg.kalman_smoother(y)
        # Exact log-likelihood: the joint Gaussian density of all observations.
        assert float(kf.log_likelihood) == pytest.approx(multivariate_normal.logpdf(y, my, Sy), abs=1e-9)
        # Filtering moments at t: condition X_t on y_{0:t}.
        for t in range(t_len):
            k = (t + 1) * p
            gain = np.linalg.solve(Sy[:k, :k], Sxy[d * t : d * (t + 1), :k].T).T
            mean_t = mx[d * t : d * (t + 1)] + gain @ (y[: t + 1].reshape(-1) - my[:k])
            cov_t = Sx[d * t : d * (t + 1), d * t : d * (t + 1)] - gain @ Sxy[d * t : d * (t + 1), :k].T
            np.testing.assert_allclose(np.asarray(kf.filtered_means[t]), mean_t, atol=1e-9)
            np.testing.assert_allclose(np.asarray(kf.filtered_covs[t]), cov_t, atol=1e-9)
        # Smoothing moments: condition every X_t on all of y.
        gain = np.linalg.solve(Sy, Sxy.T).T
        ms = mx + gain @ (y.reshape(-1) - my)
        Ss = Sx - gain @ Sxy.T
        np.testing.assert_allclose(np.asarray(sm.smoothed_means).reshape(-1), ms, atol=1e-9)
        for t in range(t_len):
            np.testing.assert_allclose(np.asarray(sm.smoothed_covs[t]), Ss[d * t : d * (t + 1), d * t : d * (t + 1)],
                                       atol=1e-9)


def test_scalar_ar1_and_functional_api():
    with enable_x64(True):
        lg = LinearGaussian.ar1(0.9, 1.0, 0.2)
        y = np.array([0.3, -0.1, 0.5, 1.2])
        r1 = lg.kalman_filter(y)
        r2 = kalman_filter(y, 0.9, 1.0, 1.0, 0.04, 0.0, 1.0 / (1 - 0.81))
        assert float(r1.log_likelihood) == pytest.approx(float(r2.log_likelihood), abs=1e-12)
        mx, my, Sx, Sy, Sxy, d, p = _joint_moments(lg, 4)
        assert float(r1.log_likelihood) == pytest.approx(multivariate_normal.logpdf(y, my, Sy), abs=1e-10)
        assert r1.log_likelihood_increments.shape == (4,)
        s = kalman_smoother(y, 0.9, 1.0, 1.0, 0.04, 0.0, 1.0 / (1 - 0.81))
        # At the last step the smoother equals the filter.
        np.testing.assert_allclose(np.asarray(s.smoothed_means[-1]), np.asarray(r1.filtered_means[-1]))


def test_jit_vmap_grad():
    y = jnp.array([0.3, -0.1, 0.5])
    f = jax.jit(jax.vmap(lambda rho: kalman_filter(y, rho, 1.0, 1.0, 0.04, 0.0, 1.0).log_likelihood))
    assert f(jnp.array([0.5, 0.9])).shape == (2,)
    g = jax.grad(lambda rho: kalman_filter(y, rho, 1.0, 1.0, 0.04, 0.0, 1.0).log_likelihood)(0.5)
    assert np.isfinite(float(g))


def test_bad_observation_shape():
    with pytest.raises(ValueError, match="observations"):
        kalman_filter(jnp.zeros((2, 2, 2)), 0.9, 1.0, 1.0, 0.04, 0.0, 1.0)
