"""Tests of probinf/filtering_prng.py: the unrolled threefry gives JAX's stock draws bit for bit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import probinf.filtering_prng as fp
from probinf import LinearGaussian, particle_filter
from probinf.filtering_prng import UNROLLED_THREEFRY, fast_move_key

SAMPLERS = {
    "bits": lambda k, s: jax.random.bits(k, s),
    "normal": lambda k, s: jax.random.normal(k, s),
    "uniform": lambda k, s: jax.random.uniform(k, s),
    "randint": lambda k, s: jax.random.randint(k, s, 0, 100),
    "split": lambda k, s: jax.random.split(k, s[0]),
    "fold_in": lambda k, s: jax.random.fold_in(k, 17),
}


def _data(x):
    return jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("raw", [False, True])
def test_same_draws_as_stock_threefry(name, raw):
    key = jax.random.PRNGKey(5) if raw else jax.random.key(5)
    fast = fast_move_key(key)
    assert jax.random.key_impl(fast) == UNROLLED_THREEFRY or jax.default_backend() != "cpu"
    for shape in [(7,), (3, 5)] + ([(1000,)] if name == "normal" else []):
        a, b = SAMPLERS[name](key, shape), SAMPLERS[name](fast, shape)
        np.testing.assert_array_equal(np.asarray(_data(a)), np.asarray(_data(b)))


def test_vmapped_and_jitted_draws():
    keys = jax.random.split(jax.random.key(1), 6)
    a = jax.vmap(lambda k: jax.random.normal(k, (9,)))(keys)
    b = jax.jit(jax.vmap(lambda k: jax.random.normal(fast_move_key(k), (9,))))(keys)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_other_implementations_pass_through():
    key = jax.random.key(0, impl="rbg")
    assert fast_move_key(key) is key


def test_negative_control_wrong_rotation_is_caught(monkeypatch):
    """A planted wrong rotation constant changes the draws: the comparison above can fail."""
    monkeypatch.setattr(fp, "_ROTATIONS", ((13, 15, 26, 6), (17, 29, 16, 25)))
    key = jax.random.key(5)
    a = jax.random.normal(key, (50,))
    b = jax.random.normal(fast_move_key(key), (50,))
    assert not np.array_equal(np.asarray(a), np.asarray(b))


def test_filter_result_unchanged_by_the_fast_key(monkeypatch):
    """The public filter gives the same log-evidence with the stock key path (fast key switched off)."""
    lg = LinearGaussian.ar1(0.9, 1.0, 0.5)
    _, y = lg.simulate(jax.random.key(0), 20)
    fast = particle_filter(jax.random.key(4), lg.to_ssm(), y, 32)
    import probinf.filtering

    monkeypatch.setattr(probinf.filtering, "fast_move_key", lambda k: k)
    jax.clear_caches()
    stock = particle_filter(jax.random.key(4), lg.to_ssm(), y, 32)
    jax.clear_caches()
    assert float(fast.log_evidence) == float(stock.log_evidence)
