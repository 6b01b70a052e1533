"""Bayesian linear regression with known noise: the closed-form evidence and posterior the tempered-SMC
tests check against, and the JAX log-densities and prior sampler they run on."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats


def conjugate_regression(X, y, sigma, tau):
    """``(log_prior, log_likelihood, prior_sampler, log_z, posterior_mean, posterior_sd)`` for
    ``y ~ N(X beta, sigma^2 I)``, ``beta ~ N(0, tau^2 I)``: exactly ``y ~ N(0, tau^2 X X^T + sigma^2 I)`` and the
    posterior ``N(m, S)`` with ``S = (X^T X / sigma^2 + I / tau^2)^-1``, ``m = S X^T y / sigma^2``."""
    n, d = X.shape
    log_z = stats.multivariate_normal(np.zeros(n), tau**2 * X @ X.T + sigma**2 * np.eye(n)).logpdf(y)
    cov = np.linalg.inv(X.T @ X / sigma**2 + np.eye(d) / tau**2)
    mean = cov @ X.T @ y / sigma**2
    Xj, yj = jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32)

    def log_prior(b):
        return jnp.sum(jax.scipy.stats.norm.logpdf(b, 0.0, tau))

    def log_likelihood(b):
        return jnp.sum(jax.scipy.stats.norm.logpdf(yj, Xj @ b, sigma))

    def prior_sampler(k, num):
        return tau * jax.random.normal(k, (num, d))

    return log_prior, log_likelihood, prior_sampler, log_z, mean, np.sqrt(np.diag(cov))
