"""Tests of probinf/filtering.py: unbiased evidence, filtering means vs Kalman, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

from probinf import (
    DegenerateWeightsError,
    LinearGaussian,
    ModelSpecificationError,
    StateSpaceModel,
    particle_filter,
    particle_filter_core,
)
from probinf.filtering import _pf_jit
from probinf.validate import check_evidence_unbiased, check_filtering_means, exact_hmm_posterior, pf_replicates

T = 20
LG = LinearGaussian.ar1(rho=0.9, sigma_x=1.0, sigma_y=0.5)
_, Y = LG.simulate(jax.random.PRNGKey(42), T)
KF = LG.kalman_filter(Y)
SSM = LG.to_ssm()


@pytest.fixture(scope="module", params=[None, "model"], ids=["bootstrap", "guided"])
def replicates(request):
    prop = SSM.proposal if request.param == "model" else None
    lz, means, valid = pf_replicates(jax.random.PRNGKey(7), SSM, Y, 128, 400, proposal=prop)
    assert valid.all()
    return request.param, lz, means


def test_evidence_unbiased_vs_kalman(replicates):
    """Z_hat / Z has mean 1: z-test from 400 runs, alpha = 1e-4 (|z| < 3.9)."""
    _, lz, _ = replicates
    check = check_evidence_unbiased(lz, float(KF.log_likelihood))
    assert check.passed, check


def test_filtering_means_vs_kalman(replicates):
    """Average of 400 runs' filtering means vs Kalman, Bonferroni over T = 20 steps at 1e-3."""
    _, _, means = replicates
    check = check_filtering_means(means, np.asarray(KF.filtered_means)[:, 0])
    assert check.passed, check


def test_log_scale_check_would_reject_bootstrap():
    """Negative control: log Z_hat is biased low (Jensen); testing E[log Z_hat] = log Z
    with the same machinery rejects at small N, so the Z-scale test is the right one."""
    lz, _, _ = pf_replicates(jax.random.PRNGKey(8), SSM, Y, 8, 400)
    z = (lz.mean() - float(KF.log_likelihood)) / (lz.std(ddof=1) / np.sqrt(lz.size))
    assert z < -3.9
    # ...whereas a deliberately biased estimator (Z_hat * 1.5) fails the Z-scale test.
    lz_ok, _, _ = pf_replicates(jax.random.PRNGKey(9), SSM, Y, 128, 400)
    assert not check_evidence_unbiased(lz_ok + np.log(1.5), float(KF.log_likelihood)).passed


def _hmm_ssm(p0, P, emis):
    lp0, lP, lemis = jnp.log(p0), jnp.log(P), jnp.log(emis)
    return StateSpaceModel(
        initial_sampler=lambda k, n, th: jax.random.categorical(k, lp0, shape=(n,)),
        transition_sampler=lambda k, x, t, th: jax.random.categorical(k, lP[x]),
        observation_log_density=lambda y, x, t, th: lemis[x, y],
    )


@pytest.mark.slow
@pytest.mark.parametrize("method", ["systematic", "multinomial"])
def test_discrete_hmm_evidence_unbiased_at_tiny_n(method):
    """The real key-driven filter on the HMM of the enumeration tests, N = 3:
    E[Z_hat] = Z (forward algorithm), 4000 runs, alpha = 1e-4."""
    p0 = jnp.array([0.3, 0.7])
    P = jnp.array([[0.9, 0.1], [0.2, 0.8]])
    emis = jnp.array([[0.8, 0.2], [0.3, 0.7]])
    y = jnp.array([0, 1, 1, 0, 1])
    log_z, filt = exact_hmm_posterior(p0, P, np.log(np.asarray(emis))[:, np.asarray(y)].T)
    lz, means, _ = pf_replicates(jax.random.PRNGKey(3), _hmm_ssm(p0, P, emis), y, 3, 4000, resampling=method)
    assert check_evidence_unbiased(lz, log_z[-1]).passed


def test_history_theta_vmap_and_no_retrace():
    res = particle_filter(jax.random.PRNGKey(0), SSM, Y, 64, return_history=True, ess_threshold=1.0)
    assert res.ancestors.shape == (T, 64) and res.history.shape == (T, 64)
    assert res.log_weights_history.shape == (T, 64) and res.ess.shape == (T,)
    assert bool(res.resampled[1:].all()) and not bool(res.resampled[0])
    assert np.all((np.asarray(res.ess) >= 1 - 1e-4) & (np.asarray(res.ess) <= 64 * (1 + 1e-5)))
    np.testing.assert_allclose(float(res.log_evidence), float(res.log_evidence_increments.sum()), rtol=1e-5)
    size = _pf_jit()._cache_size()
    particle_filter(jax.random.PRNGKey(1), SSM, Y, 64, return_history=True, ess_threshold=1.0)
    assert _pf_jit()._cache_size() == size
    # A parameterized model vmapped over theta.
    par = StateSpaceModel(
        initial_sampler=lambda k, n, th: jax.random.normal(k, (n,)),
        transition_sampler=lambda k, x, t, th: th * x + jax.random.normal(k, x.shape),
        observation_log_density=lambda y, x, t, th: norm.logpdf(y, x, 0.5),
    )
    run = jax.jit(jax.vmap(lambda th: particle_filter_core(jax.random.PRNGKey(0), par, Y, 32, th).log_evidence))
    assert run(jnp.array([0.5, 0.9, 0.0])).shape == (3,)


def test_degenerate_step_is_named():
    bad = SSM._replace(
        observation_log_density=lambda y, x, t, th: jnp.where(t == 3, -jnp.inf, norm.logpdf(y, x, 0.5))
    )
    with pytest.raises(DegenerateWeightsError, match="time step 3"):
        particle_filter(jax.random.PRNGKey(0), bad, Y, 16)
    nan = SSM._replace(observation_log_density=lambda y, x, t, th: jnp.where(t == 0, jnp.nan, 0.0) * x)
    with pytest.raises(DegenerateWeightsError, match="time step 0"):
        particle_filter(jax.random.PRNGKey(0), nan, Y, 16)


def test_bad_arguments():
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="num_particles"):
        particle_filter(key, SSM, Y, 0)
    with pytest.raises(TypeError, match="num_particles"):
        particle_filter(key, SSM, Y, 10.5)
    with pytest.raises(ValueError, match="NaN"):
        particle_filter(key, SSM, Y.at[3].set(jnp.nan), 10)
    with pytest.raises(ValueError, match="T = 0|at least one"):
        particle_filter(key, SSM, jnp.zeros((0,)), 10)
    with pytest.raises(ValueError, match="resampling"):
        particle_filter(key, SSM, Y, 10, resampling="killing")
    with pytest.raises(ValueError, match="ess_threshold"):
        particle_filter(key, SSM, Y, 10, ess_threshold=1.5)
    with pytest.raises(TypeError, match="StateSpaceModel"):
        particle_filter(key, object(), Y, 10)
    no_dens = StateSpaceModel(SSM.initial_sampler, SSM.transition_sampler, SSM.observation_log_density)
    with pytest.raises(ValueError, match="no proposal"):
        particle_filter(key, no_dens, Y, 10, proposal="model")
    with pytest.raises(ModelSpecificationError, match="transition_log_density"):
        particle_filter(key, no_dens, Y, 10, proposal=SSM.proposal)
    with pytest.raises(ValueError, match="same length"):
        particle_filter(key, SSM, {"a": jnp.zeros(3), "b": jnp.zeros(4)}, 10)
