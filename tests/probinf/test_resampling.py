"""Tests of probinf/resampling.py: exact enumeration, properties, float32 at 1e7, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from probinf import (
    RESAMPLING_METHODS,
    DegenerateWeightsError,
    InvalidWeightsError,
    resample,
    resample_with_flag,
)
from probinf.resampling import RESAMPLING_FROM_UNIFORMS, _resample_with_flag
from probinf.validate import enumerate_resampling, offspring_distribution, resampling_breakpoints

METHODS = sorted(RESAMPLING_METHODS)
WEIGHTS = [
    [1.0],
    [0.5, 0.5],
    [0.1, 0.6, 0.3],
    [0.0, 0.7, 0.3],
    [1 / 3, 1 / 3, 1 / 3],
    [0.05, 0.05, 0.9],
]


def _mean_counts(dist, n):
    return sum(np.array(c, float) * p for c, p in dist.items())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("w", WEIGHTS, ids=str)
@pytest.mark.parametrize("m_extra", [0, 1])
def test_exact_offspring_distribution(method, w, m_extra):
    """Exact (enumerated) E[counts] = M w to rounding; support rules per scheme."""
    w = np.asarray(w)
    m = len(w) + m_extra
    dist = offspring_distribution(w, method, m)
    assert sum(dist.values()) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(_mean_counts(dist, len(w)), m * w / w.sum(), atol=1e-12)
    for counts in dist:
        c = np.array(counts)
        assert c.sum() == m
        assert np.all(c[w == 0] == 0)  # zero weight never selected
        if method in ("systematic", "residual"):
            assert np.all(c >= np.floor(m * w - 1e-12))
        if method == "systematic":
            assert np.all(c <= np.ceil(m * w + 1e-12))


def test_exact_systematic_distribution_values():
    # w = (0.25, 0.75), N = 2: C = (0.5, 2); u < 0.5 -> (1, 1), u >= 0.5 -> (0, 2).
    dist = offspring_distribution([0.25, 0.75], "systematic")
    assert dist == pytest.approx({(1, 1): 0.5, (0, 2): 0.5})
    # Multinomial is the product of independent categorical draws.
    dist = offspring_distribution([0.25, 0.75], "multinomial")
    assert dist == pytest.approx({(2, 0): 0.0625, (1, 1): 0.375, (0, 2): 0.5625})


def test_enumeration_rejects_a_broken_resampler():
    """Negative control: the shipped systematic scheme fed a uniform that only covers [0, 0.5) is biased.

    The cells are those of the broken scheme (the correct breakpoints ``b`` and their images ``2 b``
    under ``u -> u / 2``), so every cell midpoint lies well inside a cell on every platform: the
    enumeration is exact for the broken scheme, not decided by float32 rounding at a cell edge.
    """
    broken = lambda lw, m, u: RESAMPLING_FROM_UNIFORMS["systematic"](lw, m, 0.5 * u)  # noqa: E731
    w = np.array([0.1, 0.6, 0.3])
    b = resampling_breakpoints(w, 3, "systematic")[0]
    cells = np.unique(np.concatenate([b, np.minimum(2 * b, 1.0)]))
    assert np.diff(cells).min() > 0.05  # midpoints are far from every edge
    dist = enumerate_resampling(w, resampler=broken, breakpoints=[cells])
    counts = {}
    for a, p in dist.items():
        c = tuple(np.bincount(a, minlength=3))
        counts[c] = counts.get(c, 0) + p
    assert np.abs(_mean_counts(counts, 3) - 3 * w).max() > 0.05


lw_strategy = arrays(
    np.float32, (12,), elements=st.one_of(st.floats(-30, 30, width=32), st.just(-np.inf))
).filter(lambda a: np.isfinite(a).any())


@given(lw_strategy, st.integers(0, 2**31 - 1), st.sampled_from(METHODS))
def test_properties(lw, seed, method):
    idx = np.asarray(resample(jax.random.PRNGKey(seed), lw, method=method))
    assert idx.shape == (12,) and idx.dtype == np.int32
    assert np.all((idx >= 0) & (idx < 12))
    assert np.all(np.isfinite(lw[idx]))  # -inf never selected
    # Shift invariance: same key, weights shifted by a constant -> same ancestors
    # (up to float32 rounding of the shifted weights at cell boundaries, which a
    # shift by a power of two avoids exactly).
    idx2 = np.asarray(resample(jax.random.PRNGKey(seed), lw + np.float32(64.0), method=method))
    np.testing.assert_array_equal(idx, idx2)
    if method == "systematic":
        w = np.exp(lw.astype(np.float64) - np.max(lw))
        nw = 12 * w / w.sum()
        c = np.bincount(idx, minlength=12)
        assert np.all(c >= np.floor(nw - 1e-4)) and np.all(c <= np.ceil(nw + 1e-4))


@pytest.mark.parametrize("method", METHODS)
def test_jit_vmap_and_no_retrace(method):
    lw = jax.random.normal(jax.random.PRNGKey(0), (50,))
    key = jax.random.PRNGKey(3)
    eager = resample(key, lw, method=method)
    keys = jnp.stack([key, jax.random.PRNGKey(5)])
    # jit (traced key and weights) and vmap in one compiled call, to keep compile time low.
    batched = jax.jit(jax.vmap(lambda k, lw_: resample(k, lw_, method=method), in_axes=(0, None)))(keys, lw)
    assert batched.shape == (2, 50)
    np.testing.assert_array_equal(np.asarray(eager), np.asarray(batched[0]))
    size = _resample_with_flag._cache_size()
    resample(jax.random.PRNGKey(4), lw + 1.0, method=method)
    assert _resample_with_flag._cache_size() == size  # same shapes: no retrace
    # num_samples != N
    assert resample(key, lw, 7, method=method).shape == (7,)


@pytest.mark.parametrize("method", METHODS)
def test_unbiased_monte_carlo_float32(method):
    """E[count_i] = N w_i by simulation (N = 1000, 200 draws); z-scores from the per-draw spread."""
    n, r = 1000, 200
    lw = jax.random.normal(jax.random.PRNGKey(1), (n,)) * 2
    w = np.exp(np.asarray(lw, np.float64))
    w /= w.sum()
    keys = jax.random.split(jax.random.PRNGKey(2), r)
    idx = np.asarray(jax.jit(jax.vmap(lambda k, lw_: resample(k, lw_, method=method), in_axes=(0, None)))(keys, lw))
    counts = np.stack([np.bincount(i, minlength=n) for i in idx])
    # Test the total count of the 10 blocks of 100 consecutive particles (where a
    # float32 cumsum bias would show), z-test with Bonferroni over 10 blocks at 1e-3.
    blocks = counts.reshape(r, 10, 100).sum(-1)
    expect = n * w.reshape(10, 100).sum(-1)
    se = blocks.std(0, ddof=1) / np.sqrt(r) + 1e-12
    z = (blocks.mean(0) - expect) / np.maximum(se, 0.5 / np.sqrt(r))
    assert np.all(np.abs(z) < 4.1), z


@pytest.mark.slow
def test_float32_systematic_exact_at_1e7():
    """N = 1e7 in float32: every count within floor/ceil of N w, and every contiguous
    block's total within floor/ceil of its mass (a plain float32 cumsum fails this)."""
    n = 10_000_000
    lw = jax.random.normal(jax.random.PRNGKey(0), (n,), dtype=jnp.float32)
    idx = resample(jax.random.PRNGKey(1), lw, method="systematic")
    counts = np.bincount(np.asarray(idx), minlength=n)
    w = np.exp(np.asarray(lw, np.float64) - float(np.max(lw)))
    nw = n * w / w.sum()
    assert counts.sum() == n
    # The float32 weights are rounded (relative 2**-24) before scaling: allow 1e-3.
    assert np.all(counts >= np.floor(nw - 1e-3)) and np.all(counts <= np.ceil(nw + 1e-3))
    cum_mass = np.cumsum(nw)
    cum_counts = np.cumsum(counts)
    # |cumulative count - cumulative mass| <= 1 at every prefix, exactly for the
    # float32 weights the resampler sees; they differ from the float64 reference by
    # float32 rounding of exp (<= 2**-24 relative each, so <= N 2**-24 = 0.6 in total).
    assert np.abs(cum_counts - cum_mass).max() < 1 + n * 2.0**-24
    # Negative control: a float32 cumsum + searchsorted drifts by whole offspring.
    c32 = np.cumsum((nw).astype(np.float32), dtype=np.float32)
    naive = np.searchsorted(c32, np.arange(n, dtype=np.float32) + np.float32(0.5), side="right")
    naive_counts = np.cumsum(np.bincount(np.minimum(naive, n - 1), minlength=n))
    assert np.abs(naive_counts - cum_mass).max() > 5


@pytest.mark.slow
@pytest.mark.parametrize("method", ["stratified", "residual"])
def test_float32_large_n_other_schemes(method):
    n = 2_000_000
    lw = jax.random.normal(jax.random.PRNGKey(0), (n,), dtype=jnp.float32)
    counts = np.bincount(np.asarray(resample(jax.random.PRNGKey(1), lw, method=method)), minlength=n)
    w = np.exp(np.asarray(lw, np.float64) - float(np.max(lw)))
    cum_mass = np.cumsum(n * w / w.sum())
    assert counts.sum() == n
    # Stratified: |cumulative count - mass| <= 1 (+ rounding) deterministically.
    if method == "stratified":  # bound as in the systematic test above
        assert np.abs(np.cumsum(counts) - cum_mass).max() < 1 + n * 2.0**-24
    else:
        assert np.all(counts >= np.floor(n * w / w.sum() - 1e-3))


@pytest.mark.parametrize(
    "lw, err",
    [
        (np.array([0.0, np.nan, 1.0], np.float32), InvalidWeightsError),
        (np.array([0.0, np.inf], np.float32), InvalidWeightsError),
        (np.full(3, -np.inf, np.float32), DegenerateWeightsError),
        (np.zeros((0,), np.float32), InvalidWeightsError),
    ],
)
def test_bad_weights(lw, err):
    with pytest.raises(err):
        resample(jax.random.PRNGKey(0), lw)
    if lw.size:
        _, valid = resample_with_flag(jax.random.PRNGKey(0), jnp.asarray(lw), lw.size)
        assert not bool(valid)


def test_bad_arguments():
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="1-D"):
        resample(key, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="num_samples"):
        resample(key, np.zeros(3, np.float32), 0)
    with pytest.raises(TypeError, match="num_samples"):
        resample(key, np.zeros(3, np.float32), 2.5)
    with pytest.raises(ValueError, match="method"):
        resample(key, np.zeros(3, np.float32), method="metropolis")
