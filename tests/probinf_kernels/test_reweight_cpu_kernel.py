"""Tests of probinf/kernels/reweight_cpu.py: reweighting and weight summaries as one CPU kernel.

- against the pure-JAX definition (``probinf.reweight`` and the filter's summaries) on random
  float32 inputs, with zero weights, wide ranges and sizes that exercise every loop remainder;
- the invalid cases (NaN, +inf, all zero weights) give logsumexp's special values and valid = 0;
- batching (vmap) row by row, float64 and the fallback path;
- the public filter with and without the kernel: the same result to float32 rounding when no
  resampling can amplify it, and a planted error in the kernel's weights is caught there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

import probinf
import probinf.filtering_steps
from probinf import LinearGaussian
from probinf._compat import enable_x64
from probinf.kernels import reweight_cpu
from probinf.kernels.reweight_cpu import available, reweight_summaries, reweight_summaries_kernel

pytestmark = pytest.mark.skipif(not available(), reason=f"CPU kernel not built: {reweight_cpu.build_error()}")

KERNEL = jax.jit(reweight_summaries_kernel)


def _reference(lw0, g):
    lw = np.asarray(lw0, np.float64) + np.asarray(g, np.float64)
    lse = logsumexp(lw)
    w = np.exp(lw - lse)
    return lw - lse, w, lse, 1.0 / np.sum(w**2)


def _check(lw0, g):
    lw, w, lse, ess, valid = (np.asarray(a) for a in KERNEL(jnp.asarray(lw0, jnp.float32),
                                                              jnp.asarray(g, jnp.float32)))
    # the reference in float64 from the float32 sums the kernel sees
    r_lw, r_w, r_lse, r_ess = _reference(np.float32(lw0) + np.float32(g), np.zeros(len(lw0)))
    assert bool(valid)
    scale = max(1.0, abs(r_lse))
    assert abs(float(lse) - r_lse) <= 4e-7 * scale + 1e-6
    np.testing.assert_allclose(w, r_w, rtol=3e-5, atol=1e-6 * r_w.max())
    np.testing.assert_allclose(lw, r_lw, rtol=1e-6, atol=4e-7 * scale + 1e-5)
    assert abs(float(ess) - r_ess) <= 1e-5 * r_ess
    assert np.isfinite(w).all() and abs(float(w.sum()) - 1.0) < 1e-5


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 2100), spread=st.floats(0.0, 200.0), shift=st.floats(-1e4, 1e4),
       zero_frac=st.sampled_from([0.0, 0.3, 0.99]), seed=st.integers(0, 2**31 - 1))
def test_matches_the_definition(n, spread, shift, zero_frac, seed):
    rng = np.random.default_rng(seed)
    lw0 = np.full(n, -np.log(n)) + rng.normal(size=n)
    g = shift + spread * rng.normal(size=n)
    dead = rng.uniform(size=n) < zero_frac
    dead[rng.integers(n)] = False  # at least one live particle
    g[dead] = -np.inf
    _check(lw0, g)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 1023, 1024, 1025, 20_000])
def test_every_loop_remainder(n):
    x = np.linspace(-30.0, 3.0, n)
    _check(np.zeros(n), x)


def test_extreme_exponents_and_tiny_weights():
    """exp over the whole float32 range below the maximum: relative accuracy down to the smallest normal
    float, zero (XLA flushes subnormals) or the subnormal value below it, exactly zero past -104."""
    g = np.concatenate([[0.0], -np.linspace(0.0, 120.0, 5001)]).astype(np.float32)
    lw, w, lse, ess, valid = (np.asarray(a) for a in KERNEL(jnp.zeros(g.size), jnp.asarray(g)))
    g64 = g.astype(np.float64)
    ref = np.exp(g64 - logsumexp(g64))
    normal = ref > np.finfo(np.float32).tiny
    np.testing.assert_allclose(w[normal], ref[normal], rtol=4e-6)
    assert np.all((w[~normal] >= 0.0) & (w[~normal] <= ref[~normal] * (1 + 1e-5) + 2e-45))
    assert np.all(w[g < -104.0] == 0.0)


@pytest.mark.parametrize("g, lse", [([0.0, np.nan, 1.0], np.nan), ([0.0, np.inf, 1.0], np.inf),
                                    ([-np.inf, -np.inf, -np.inf], -np.inf), ([np.nan, np.inf, -np.inf], np.nan)])
def test_invalid_rows_are_flagged_like_logsumexp(g, lse):
    lw, w, out, ess, valid = KERNEL(jnp.zeros(3), jnp.asarray(g, jnp.float32))
    assert not bool(valid)
    np.testing.assert_equal(float(out), lse)
    assert np.isnan(np.asarray(w)).all() and np.isnan(np.asarray(lw)).all() and np.isnan(float(ess))
    ref = jax.scipy.special.logsumexp(jnp.asarray(g, jnp.float32))
    np.testing.assert_equal(float(ref), lse)


def test_vmap_is_row_by_row():
    rng = np.random.default_rng(1)
    lw0 = jnp.asarray(rng.normal(size=(4, 33)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(4, 33)) * 5, jnp.float32).at[2, :].set(-jnp.inf)
    batched = jax.vmap(reweight_summaries_kernel)(lw0, g)
    for r in range(4):
        one = KERNEL(lw0[r], g[r])
        for a, b in zip(batched, one, strict=True):
            np.testing.assert_array_equal(np.asarray(a[r]), np.asarray(b))


def test_float64_and_unavailable_take_the_reference(monkeypatch):
    sentinel = tuple(jnp.full((2,), 7.0) for _ in range(5))
    with enable_x64(True):
        assert reweight_summaries(jnp.zeros(2, jnp.float64), jnp.zeros(2), lambda: sentinel) is sentinel
    monkeypatch.setattr(reweight_cpu, "available", lambda: False)
    assert reweight_summaries(jnp.zeros(2, jnp.float32), jnp.zeros(2), lambda: sentinel) is sentinel


def _lg_filter(key=0):
    lg = LinearGaussian.ar1(0.9, 1.0, 0.5)
    y = jnp.asarray(np.random.default_rng(0).normal(size=40), jnp.float32)
    return probinf.particle_filter(key, lg.to_ssm(), y, 2000, ess_threshold=0.0)  # never resample


def test_filter_with_and_without_the_kernel_agree(monkeypatch):
    """No resampling, so no near-tie can amplify rounding: the two paths agree to float32 rounding."""
    jax.clear_caches()
    fast = _lg_filter()
    monkeypatch.setattr(probinf.filtering_steps, "reweight_summaries", lambda lw, g, reference: reference())
    jax.clear_caches()
    slow = _lg_filter()
    jax.clear_caches()
    assert abs(float(fast.log_evidence) - float(slow.log_evidence)) < 2e-5 * abs(float(slow.log_evidence))
    np.testing.assert_allclose(np.asarray(fast.filtering_means), np.asarray(slow.filtering_means), atol=2e-4)
    np.testing.assert_allclose(np.asarray(fast.ess), np.asarray(slow.ess), rtol=2e-4)


def test_negative_control_planted_weight_error(monkeypatch):
    """Weights that are 1% off at one particle change the filtering means beyond that tolerance."""
    jax.clear_caches()
    good = _lg_filter()
    orig = probinf.filtering_steps.reweight_summaries

    def broken(lw, g, reference):
        lw2, w, lse, ess, valid = orig(lw, g, reference)
        return lw2, w * jnp.where(jnp.argmax(w) == jnp.arange(w.shape[0]), 1.5, 1.0), lse, ess, valid

    monkeypatch.setattr(probinf.filtering_steps, "reweight_summaries", broken)
    jax.clear_caches()
    bad = _lg_filter()
    jax.clear_caches()
    assert np.max(np.abs(np.asarray(bad.filtering_means) - np.asarray(good.filtering_means))) > 2e-3
