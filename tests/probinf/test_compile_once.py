"""Compile once: the second call of each sampler on the same structure and shapes compiles nothing.

Counted with ``jax.log_compiles``: every XLA compilation (jitted functions and eager op-by-op
dispatch alike) logs one "Compiling ..." record.  The second call uses new data values and a new
key, so a cache keyed on values, or on closures rebuilt per call, would be caught.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

import probinf
from probinf import pmmh, stochastic_volatility


class _Counter(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.compiled = []

    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith("Compiling "):
            self.compiled.append(msg[:160])


@contextmanager
def count_compilations():
    counter = _Counter()
    logger = logging.getLogger("jax")
    old_level = logger.level
    logger.setLevel(logging.DEBUG)  # a caplog or logging config elsewhere must not hide the records
    logger.addHandler(counter)
    try:
        with jax.log_compiles(True):
            yield counter.compiled
    finally:
        logger.removeHandler(counter)
        logger.setLevel(old_level)


def normal_mean(y, scale=1.0):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    numpyro.sample("y", dist.Normal(mu, scale), obs=y)


def _data(seed):
    return jnp.asarray(np.random.default_rng(seed).normal(0.5, 1.0, size=15), jnp.float32)


def test_counter_sees_a_compilation():
    """Positive control of the counter: a fresh jitted function compiles once."""
    with count_compilations() as compiled:
        jax.jit(lambda x: x * 3.0 + 1.0)(jnp.ones(7)).block_until_ready()
    assert len(compiled) >= 1


def test_smc_second_call_does_not_compile():
    probinf.smc(normal_mean, _data(0), key=0, num_particles=64, num_mcmc_steps=2)
    with count_compilations() as compiled:
        t0 = time.perf_counter()
        res = probinf.smc(normal_mean, _data(1), key=jax.random.key(5), num_particles=64, num_mcmc_steps=2)
        elapsed = time.perf_counter() - t0
    assert compiled == []
    assert elapsed < 1.0, elapsed
    # the data are arguments, not baked-in constants: the posterior follows the new data
    y = np.asarray(_data(1), np.float64)
    post_mean = y.sum() / (y.size + 1.0)
    assert abs(float(np.mean(res.particles["mu"])) - post_mean) < 0.2


def test_smc_recompiles_when_structure_or_options_change():
    """Negative control: a different non-array argument or option is a different program."""
    probinf.smc(normal_mean, _data(0), key=0, num_particles=64, num_mcmc_steps=2)
    with count_compilations() as compiled:
        probinf.smc(normal_mean, _data(0), 2.0, key=0, num_particles=64, num_mcmc_steps=2)
    assert compiled
    with count_compilations() as compiled:
        probinf.smc(normal_mean, _data(0), key=0, num_particles=64, num_mcmc_steps=3)
    assert compiled


def test_smc_kernel_values_not_identity_key_the_cache():
    k1, k2 = probinf.RandomWalk(scale=0.5), probinf.RandomWalk(scale=0.5)
    probinf.smc(normal_mean, _data(0), key=0, num_particles=64, num_mcmc_steps=2, kernel=k1)
    with count_compilations() as compiled:
        probinf.smc(normal_mean, _data(2), key=1, num_particles=64, num_mcmc_steps=2, kernel=k2)
    assert compiled == []


def test_tempered_smc_second_call_does_not_compile():
    lp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    ll = lambda x: -0.5 * jnp.sum((x - 1.0) ** 2)  # noqa: E731
    sampler = lambda k, n: jax.random.normal(k, (n, 2))  # noqa: E731
    probinf.tempered_smc(jax.random.key(0), lp, ll, sampler, 64, num_mcmc_steps=2)
    with count_compilations() as compiled:
        probinf.tempered_smc(jax.random.key(1), lp, ll, sampler, 64, num_mcmc_steps=2)
    assert compiled == []


def test_particle_filter_second_call_does_not_compile():
    model = stochastic_volatility()
    y1 = jax.random.normal(jax.random.key(0), (30,))
    y2 = jax.random.normal(jax.random.key(1), (30,))
    probinf.particle_filter(jax.random.key(0), model, y1, 64)
    with count_compilations() as compiled:
        probinf.particle_filter(jax.random.key(1), model, y2, 64)
    assert compiled == []


def test_pmmh_second_call_does_not_compile():
    model = stochastic_volatility()
    y1 = jax.random.normal(jax.random.key(0), (20,))
    y2 = jax.random.normal(jax.random.key(1), (20,))

    def log_prior(th):
        return jnp.where((jnp.abs(th[1]) < 1.0) & (th[2] > 0), 0.0, -jnp.inf)

    theta0 = jnp.array([-1.0, 0.9, 0.2])
    kw = dict(num_particles=16, num_chains=2, num_warmup=5)
    pmmh(jax.random.key(0), model, y1, log_prior, theta0, 10, **kw)
    with count_compilations() as compiled:
        pmmh(jax.random.key(1), model, y2, log_prior, theta0, 10, **kw)
    assert compiled == []


def test_tempered_smc_keys_kernels_by_value_not_repr():
    """Two kernels with equal settings share one program; different settings do not (even if a repr hid them)."""
    lp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    ll = lambda x: -0.5 * jnp.sum((x - 1.0) ** 2)  # noqa: E731
    sampler = lambda k, n: jax.random.normal(k, (n, 2))  # noqa: E731
    probinf.tempered_smc(jax.random.key(0), lp, ll, sampler, 64, num_mcmc_steps=2, kernel=probinf.RandomWalk(0.3))
    with count_compilations() as compiled:
        probinf.tempered_smc(jax.random.key(1), lp, ll, sampler, 64, num_mcmc_steps=2, kernel=probinf.RandomWalk(0.3))
    assert compiled == []

    class Hidden(probinf.RandomWalk):
        def __repr__(self):
            return "Hidden()"  # the same repr whatever the settings

    probinf.tempered_smc(jax.random.key(0), lp, ll, sampler, 64, num_mcmc_steps=2, kernel=Hidden(0.3))
    with count_compilations() as compiled:
        probinf.tempered_smc(jax.random.key(0), lp, ll, sampler, 64, num_mcmc_steps=2, kernel=Hidden(0.9))
    assert compiled
