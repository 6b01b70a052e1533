"""The recommended tempered-SMC configuration for differentiable targets (``MALA()``, 8 steps, adaptive
tempering at ESS 0.5) on an ill-conditioned, strongly correlated conjugate target: exact evidence and
posterior mean, and a negative control (MALA without its proposal correction) that the same check rejects."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from _conjugate_regression import conjugate_regression
from scipy import stats

import probinf.mcmc
import probinf.tempered
from probinf import MALA, tempered_smc

NUM_RUNS, NUM_PARTICLES, NUM_MCMC = 16, 512, 8
# Two-sided z-test on the mean of Zhat / Z over independent runs (Zhat is unbiased), false failure 1e-3.
Z_EVIDENCE = float(stats.norm.isf(1e-3 / 2))


def _correlated_regression(d=8, n=30, sigma=0.5, tau=2.0, rho=0.95):
    """Linear regression whose design columns have correlation 0.95: posterior condition number ~300."""
    rng = np.random.default_rng(7)
    corr = rho * np.ones((d, d)) + (1 - rho) * np.eye(d)
    X = rng.normal(size=(n, d)) @ np.linalg.cholesky(corr).T
    y = X @ rng.normal(size=d) + sigma * rng.normal(size=n)
    assert np.linalg.cond(X.T @ X / sigma**2 + np.eye(d) / tau**2) > 100  # the test is about an ill-conditioned target
    return conjugate_regression(X, y, sigma, tau)


def _run():
    lp, ll, sampler, log_z, mean, sd = _correlated_regression()
    keys = jax.random.split(jax.random.key(0), NUM_RUNS)
    res = tempered_smc(keys, lp, ll, sampler, NUM_PARTICLES, kernel=MALA(), num_mcmc_steps=NUM_MCMC)
    ratio = np.exp(np.asarray(res.log_evidence, np.float64) - log_z)
    # +0.002: float32 rounding of log Z
    tol = Z_EVIDENCE * ratio.std(ddof=1) / np.sqrt(NUM_RUNS) + 0.002
    return res, ratio, tol, mean, sd


def test_recommended_mala_exact_evidence_on_ill_conditioned_target():
    # 16 runs of N = 512: sd(Zhat / Z) ~ 0.18, so the tolerance is ~0.15 and a 25% bias in Z is rejected.
    res, ratio, tol, mean, sd = _run()
    assert abs(ratio.mean() - 1.0) < tol, (ratio.mean(), tol)
    assert tol < 0.25, ("too few runs to detect a 25% bias", tol)
    # Posterior mean per run (independent across runs): within 5 SE (+ 2% of a posterior SD for the O(1/N) bias).
    per_run = np.asarray(res.particles, np.float64).mean(axis=1)
    se = per_run.std(0, ddof=1) / np.sqrt(NUM_RUNS)
    assert np.all(np.abs(per_run.mean(0) - mean) < 5 * se + 0.02 * sd), (per_run.mean(0), mean, se)


def test_recommended_mala_negative_control_without_proposal_correction(monkeypatch):
    # Drop the Hastings correction of the shipped MALA step: the moves no longer leave the tempered targets
    # invariant, the particles drift and the evidence check above must reject the estimate.
    monkeypatch.setattr(probinf.mcmc, "_mala_log_q_ratio", lambda z, rev: jnp.zeros((), z.dtype))
    monkeypatch.setattr(probinf.tempered, "_COMPILED_CACHE", {})  # do not reuse the correct compiled sampler
    _, ratio, tol, _, _ = _run()
    assert abs(ratio.mean() - 1.0) > tol, (ratio.mean(), tol)
