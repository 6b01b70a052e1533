"""Simulation-based calibration: accepts an exact sampler and tempered SMC, rejects a wrong one."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from probinf.mcmc import RandomWalk
from probinf.tempered import build_sampler
from probinf.validate.sbc import rank_uniformity_test, sbc

N_OBS, SIGMA = 4, 1.0
L = 19  # posterior draws per simulation -> ranks in {0..19}, 20 values


def prior(k):
    return jax.random.normal(k, (2,))


def simulate(k, theta):
    return theta + SIGMA * jax.random.normal(k, (N_OBS, 2))


def exact_posterior(k, y, sd_factor=1.0):
    prec = 1.0 + N_OBS / SIGMA**2
    mean = jnp.sum(y, axis=0) / SIGMA**2 / prec
    return mean + sd_factor * jax.random.normal(k, (L, 2)) / jnp.sqrt(prec)


# Bound: under an exact sampler the Bonferroni p-value is super-uniform, so the fixed-seed
# test at alpha = 0.01 would fail with probability <= 1%.
def test_sbc_accepts_exact_sampler():
    res = sbc(jax.random.key(0), prior, simulate, exact_posterior, num_simulations=400)
    assert res.ranks.shape == (400, 2) and res.ranks.min() >= 0 and res.ranks.max() <= L
    assert not res.rejected, res.pvalues


def test_sbc_rejects_overconfident_sampler():
    # Negative control: posterior sd 30% too small -> U-shaped rank histogram.
    res = sbc(jax.random.key(0), prior, simulate, lambda k, y: exact_posterior(k, y, 0.7), num_simulations=400)
    assert res.rejected, res.pvalues


def _smc_posterior(k, y):
    def lp(t):
        return -0.5 * jnp.sum(t**2)

    def ll(t):
        return -0.5 * jnp.sum((y - t) ** 2) / SIGMA**2

    run = build_sampler(lp, ll, kernel=RandomWalk(), num_mcmc_steps=5, max_steps=50)
    k1, k2, k3 = jax.random.split(k, 3)
    state, *_ = run(k2, jax.random.normal(k1, (256, 2)))
    idx = jax.random.choice(k3, 256, (L,), replace=False)  # distinct particles (resample-move output)
    return state.population.particles.position[idx]


def test_sbc_accepts_tempered_smc():
    res = sbc(jax.random.key(1), prior, simulate, _smc_posterior, num_simulations=200)
    assert not res.rejected, res.pvalues


@pytest.mark.slow
def test_sbc_rejects_tempered_smc_with_a_broken_move(monkeypatch):
    """Negative control on the shipped code: the Metropolis-Hastings test of the moves with its
    log-ratio negated (one line of probinf.mcmc._mh_accept) must be rejected by the same SBC."""
    import probinf.mcmc

    orig = probinf.mcmc._mh_accept
    monkeypatch.setattr(probinf.mcmc, "_mh_accept", lambda key, log_ratio, new, old: orig(key, -log_ratio, new, old))
    res = sbc(jax.random.key(1), prior, simulate, _smc_posterior, num_simulations=200)
    assert res.rejected, res.pvalues


@given(st.integers(0, 2**31 - 1))
def test_uniformity_test_on_uniform_ranks_is_calibrated_shape(seed):
    rng = np.random.default_rng(seed)
    ranks = rng.integers(0, L + 1, size=(200, 3))
    pv, nb = rank_uniformity_test(ranks, L)
    assert pv.shape == (3,) and np.all((pv >= 0) & (pv <= 1)) and (L + 1) % nb == 0


def test_bad_num_bins():
    with pytest.raises(ValueError, match="num_bins"):
        rank_uniformity_test(np.zeros((10, 1), int), L, num_bins=7)
