"""probinf.smc on NumPyro models: Beta-Binomial (constrained site, log-det-Jacobian in the prior),
bad models with clear errors, constrained/deterministic outputs and ArviZ conversion."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from scipy.special import betaln, gammaln

import probinf
from probinf import smc
from probinf.exceptions import ModelSpecificationError, SMCFailedError
from probinf.numpyro_bridge import split_log_density

A, B, N_TRIALS, Y = 2.0, 3.0, 20, 14


def beta_binomial(n, y=None):
    p = numpyro.sample("p", dist.Beta(A, B))
    numpyro.deterministic("odds", p / (1 - p))
    numpyro.sample("y", dist.Binomial(n, p), obs=y)


def test_beta_binomial_evidence_and_posterior():
    log_z = (gammaln(N_TRIALS + 1) - gammaln(Y + 1) - gammaln(N_TRIALS - Y + 1) + betaln(A + Y, B + N_TRIALS - Y)
             - betaln(A, B))
    keys = jax.random.split(jax.random.key(0), 12)
    res = probinf.smc(beta_binomial, N_TRIALS, y=Y, key=keys, num_particles=400, num_mcmc_steps=5)
    p = np.asarray(res.particles["p"])
    assert p.shape == (12, 400) and np.all((p > 0) & (p < 1))  # constrained space
    np.testing.assert_allclose(res.particles["odds"], p / (1 - p), rtol=1e-4)  # deterministic site
    np.testing.assert_allclose(res.unconstrained["p"], np.log(p / (1 - p)), rtol=1e-3, atol=1e-4)
    # Zhat unbiased: mean of Zhat/Z within 5 standard errors (+0.01 float32 slack).
    r = np.exp(np.asarray(res.log_evidence, np.float64) - log_z)
    assert abs(r.mean() - 1) < 5 * r.std(ddof=1) / np.sqrt(r.size) + 0.01, (res.log_evidence, log_z)
    # Posterior mean Beta(A + Y, B + n - Y): per-run means independent, 5 se bound.
    a1, b1 = A + Y, B + N_TRIALS - Y
    per_run = p.mean(axis=1)
    se = per_run.std(ddof=1) / np.sqrt(per_run.size)
    sd = np.sqrt(a1 * b1 / ((a1 + b1) ** 2 * (a1 + b1 + 1)))
    assert abs(per_run.mean() - a1 / (a1 + b1)) < 5 * se + 0.02 * sd
    idata = res.to_arviz()
    assert set(idata.posterior.data_vars) == {"p", "odds"}
    assert idata.posterior["p"].shape == (12, 400)


def test_split_puts_jacobian_in_prior():
    # log_prior(z) = log Beta(sigmoid(z)) + log sigmoid'(z); log_lik(z) = log Binomial(y | sigmoid(z)).
    lp, ll, _ = split_log_density(beta_binomial, (N_TRIALS,), {"y": Y}, ["p"])
    z = 0.3
    p = 1 / (1 + np.exp(-z))
    ref_lp = dist.Beta(A, B).log_prob(p) + np.log(p * (1 - p))
    ref_ll = dist.Binomial(N_TRIALS, p).log_prob(Y)
    np.testing.assert_allclose(lp({"p": jnp.asarray(z)}), ref_lp, rtol=1e-5)
    np.testing.assert_allclose(ll({"p": jnp.asarray(z)}), ref_ll, rtol=1e-5)


def _model(kind):
    y_default = jnp.array([1.0, 2.0])

    def model(y=y_default):
        if kind == "discrete":
            numpyro.sample("k", dist.Poisson(3.0))
        if kind == "improper":
            numpyro.sample("w", dist.ImproperUniform(dist.constraints.positive, (), ()))
        mu = numpyro.sample("mu", dist.Normal(0, 1))
        if kind == "nan":
            y = jnp.array([1.0, jnp.nan])
        if kind == "bad_init":  # a likelihood factor that is NaN at every prior draw
            numpyro.factor("lik", jnp.log(mu - 100.0))
            return
        if kind == "subsample":
            with numpyro.plate("data", 2, subsample_size=1):
                numpyro.sample("obs", dist.Normal(mu, 1), obs=y[:1])
        elif kind != "no_obs":
            numpyro.sample("obs", dist.Normal(mu, 1), obs=y)

    return model


@pytest.mark.parametrize("kind,exc,match", [
    ("no_obs", ModelSpecificationError, "no observed site"),
    ("discrete", ModelSpecificationError, "discrete latent site.*'k"),
    ("improper", ModelSpecificationError, "improper prior at site.*'w'"),
    ("nan", ModelSpecificationError, "observed site.*obs.*NaN"),
    ("bad_init", ModelSpecificationError, "non-finite log-density at site.*'lik'"),
    ("subsample", ModelSpecificationError, "subsampled plate"),
])
def test_bad_models_get_clear_errors(kind, exc, match):
    with pytest.raises(exc, match=match):
        probinf.smc(_model(kind), key=jax.random.key(0), num_particles=32)


@pytest.mark.parametrize("n", [0, -1])
def test_nonpositive_num_particles(n):
    with pytest.raises(ValueError, match="num_particles"):
        probinf.smc(beta_binomial, N_TRIALS, y=Y, key=jax.random.key(0), num_particles=n)


def _factor_model(power):
    def model():
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        numpyro.factor("f", mu**2 if power else -0.5 * mu**2 * 400.0)

    return model


@pytest.mark.parametrize("keys", [0, jax.random.split(jax.random.key(0), 2)], ids=["one run", "two runs"])
def test_smc_failure_on_an_improper_target_says_improper(keys):
    """A factor mu**2 under a N(0, 1) prior is unbounded: the failure names that, as tempered_smc's does."""
    with pytest.raises(SMCFailedError, match="did not reach exponent 1.*looks improper"):
        smc(_factor_model(True), key=keys, num_particles=16, num_mcmc_steps=2, max_steps=5, progress_bar=False)


def test_smc_failure_on_a_proper_target_does_not_say_improper():
    with pytest.raises(SMCFailedError, match="did not reach exponent 1") as info:
        smc(_factor_model(False), key=0, num_particles=16, num_mcmc_steps=2, max_steps=1, progress_bar=False)
    assert "improper" not in str(info.value)
