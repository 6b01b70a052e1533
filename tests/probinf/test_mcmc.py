"""MCMC kernels: Geweke joint-distribution tests (with a wrong-kernel negative control), covariance tuning."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from probinf._compat import enable_x64
from probinf.mcmc import HMC, MALA, RandomWalk, build_kernel, hmc_step, init_state, rwmh_step, weighted_covariance_chol
from probinf.validate.geweke import geweke_test

SIGMA = 0.7  # observation noise
N_OBS = 3


def prior(k):
    return jax.random.normal(k, (2,))


def simulate(k, theta):
    return theta + SIGMA * jax.random.normal(k, (N_OBS, 2))


def posterior_logdensity(y, lik_power=1.0):
    def f(t):
        return -0.5 * jnp.sum(t**2) + lik_power * (-0.5 * jnp.sum((y - t) ** 2) / SIGMA**2)

    return f


def make_transition(kernel, lik_power=1.0, steps=3):
    """Several transitions of an SMC kernel with fixed, reasonable parameters."""
    params = kernel.init_params(2, jnp.float32)
    params = (0.5 * params[0], params[1])

    def transition(k, theta, y):
        f = posterior_logdensity(y, lik_power)
        state = init_state(theta, f, needs_grad=kernel.needs_grad)
        for kk in jax.random.split(k, steps):
            state, _ = kernel.step(kk, state, f, params)
        return state.position

    return transition


# Bound: under a correct kernel the Bonferroni p-value is uniform-or-larger, so a
# fixed-seed test at alpha = 0.01 fails with probability <= 1%; the seed is fixed.
@pytest.mark.parametrize("kernel", [RandomWalk(), MALA(), HMC(num_leapfrog=5)], ids=repr)
def test_geweke_accepts_correct_kernels(kernel):
    res = geweke_test(jax.random.key(1), prior, simulate, make_transition(kernel), num_chains=100, num_steps=40)
    assert not res.rejected, res.summary()


def test_geweke_rejects_wrong_kernel():
    # Negative control: the kernel targets the posterior with the likelihood raised to 0.5
    # (a tempering-exponent bug); the joint distribution is not preserved.
    res = geweke_test(jax.random.key(1), prior, simulate, make_transition(RandomWalk(), lik_power=0.5),
                      num_chains=100, num_steps=40)
    assert res.rejected, res.summary()


def _mala_transition(step_size=0.4, steps=3):
    """MALA at a step (about one posterior sd) where its proposal-density ratio matters."""
    kernel = MALA(step_size=step_size)
    params = kernel.init_params(2, jnp.float32)

    def transition(k, theta, y):
        f = posterior_logdensity(y)
        state = init_state(theta, f, needs_grad=True)
        for kk in jax.random.split(k, steps):
            state, _ = kernel.step(kk, state, f, params)
        return state.position

    return transition


# 100 chains x 100 steps: long enough that MALA without its proposal-density ratio is rejected
# (|z| = 6.9 against 1.6 for the correct kernel, fixed seed); the false-failure rate is alpha = 0.01.
def test_geweke_accepts_mala_where_the_proposal_ratio_matters():
    res = geweke_test(jax.random.key(1), prior, simulate, _mala_transition(), num_chains=100, num_steps=100)
    assert not res.rejected, res.summary()


def test_geweke_rejects_shipped_mala_without_proposal_ratio(monkeypatch):
    """Negative control: the shipped MALA with its log q-ratio dropped (one line) is rejected."""
    import probinf.mcmc

    monkeypatch.setattr(probinf.mcmc, "_mala_log_q_ratio", lambda z, rev: jnp.zeros((), z.dtype))
    res = geweke_test(jax.random.key(1), prior, simulate, _mala_transition(), num_chains=100, num_steps=100)
    assert res.rejected, res.summary()


# 20 000 independent chains; the variance estimate of N(0, 1) draws has standard error sqrt(2 / n).
# Two-sided z-test at false-failure rate 1e-6 (|z| < 4.89); a wrong-signed kinetic energy in the
# acceptance gives variance 1.31 (about 31 standard errors) at this step size.
def test_hmc_leaves_gaussian_invariant_at_a_large_step_size():
    """One shipped HMC transition (one leapfrog step, eps = 1.9, acceptance ~0.55) started from the
    target N(0, 1) must return N(0, 1): the energy error is large here, so only a correct Metropolis
    correction keeps the target (Geweke above runs at small steps where the correction barely acts)."""
    n, eps = 20_000, 1.9
    f = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    kernel = build_kernel(hmc_step, f, (jnp.eye(1), eps), num_leapfrog=1)
    k0, k1 = jax.random.split(jax.random.key(3))
    x0 = jax.random.normal(k0, (n, 1))

    def one(k, x):
        state, _ = kernel(k, init_state(x, f, needs_grad=True))
        return state.position[0]

    x1 = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(k1, n), x0), float)
    accept = np.mean(x1 != np.asarray(x0[:, 0]))
    assert 0.45 < accept < 0.65, accept  # the Metropolis step really acts
    z = (np.mean(x1**2) - 1.0) / np.sqrt(2.0 / n)
    assert abs(z) < 4.89, z


def test_kernel_never_accepts_nan_region():
    # log-density NaN for x > 0.5: proposals there must be rejected, never propagate NaN.
    def f(x):
        return jnp.where(x[0] > 0.5, jnp.nan, -0.5 * jnp.sum(x**2))

    kernel = jax.jit(build_kernel(rwmh_step, f, (jnp.eye(1), 2.0)))
    state = init_state(jnp.zeros(1), f)
    for k in jax.random.split(jax.random.key(0), 200):
        state, info = kernel(k, state)
        assert np.isfinite(state.logdensity) and state.position[0] <= 0.5


@given(st.integers(0, 10_000), st.booleans())
def test_weighted_covariance_matches_numpy(seed, diagonal):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(50, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 2.0, 0.3], [0.0, 0.0, 0.1]])
    lw = rng.normal(size=50)
    w = np.exp(lw - lw.max())
    w /= w.sum()
    with enable_x64(True):
        chol = np.asarray(weighted_covariance_chol(jnp.asarray(x), jnp.asarray(lw), diagonal=diagonal, jitter=0.0))
    cov = np.cov(x.T, aweights=w, bias=True)
    if diagonal:
        cov = np.diag(np.diag(cov))
    np.testing.assert_allclose(chol @ chol.T, cov, rtol=1e-6, atol=1e-9)
    assert np.allclose(chol, np.tril(chol))


def test_gradient_kernels_name_a_state_without_gradient():
    def logp(x):
        return -0.5 * jnp.sum(x**2)

    state = init_state(jnp.zeros(2), logp)  # needs_grad=False: no gradient carried
    for kernel in (MALA(), HMC()):
        with pytest.raises(ValueError, match="needs_grad=True"):
            kernel.step(jax.random.key(0), state, logp, (jnp.eye(2), jnp.asarray(0.1)))
