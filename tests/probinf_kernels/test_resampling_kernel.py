"""Tests of kernels/resampling.py: blocked split prefix sums and exact integer cumsums."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from probinf.kernels._device import jax_has_gpu
from probinf.kernels.resampling import (
    ANCESTOR_METHODS,
    ancestors_from_cumcounts,
    compensated_cumsum,
    compensated_sum,
    exact_int_cumsum,
    offspring_counts,
    search_sorted_split,
)

_int_cumsum = jax.jit(lambda x: exact_int_cumsum(x, total_bound=50 * 257))
_cumsum = jax.jit(compensated_cumsum)

SIZES = [1, 7, 8, 32, 33, 128, 129, 1000, 4097, 100_003]


@pytest.mark.parametrize("n", SIZES)
def test_compensated_cumsum_accuracy(n):
    v = np.random.default_rng(n).exponential(size=n).astype(np.float32)
    w, f = jax.jit(compensated_cumsum)(v)
    w, f = np.asarray(w), np.asarray(f)
    assert w.dtype == np.int32 and f.dtype == np.float32
    assert np.all((f >= 0) & (f < 1))
    ref = np.cumsum(v.astype(np.float64))
    # Bound: <= levels * B * ulp(B) with B <= 128 (2 ulp(128) = 1.5e-5 per rounding);
    # 3 levels at 1e5 -> 1e-3 is a generous but meaningful bound (a float32 cumsum is
    # off by ~1e-1 at 1e5, checked below).
    err = np.abs(w + f.astype(np.float64) - ref)
    assert err.max() < 1e-3
    tw, tf = compensated_sum(v)
    assert abs(int(tw) + float(tf) - ref[-1]) < 1e-3
    if n == 100_003:  # the naive float32 cumsum is far worse: the test has teeth
        assert np.abs(np.cumsum(v) - ref).max() > 10 * err.max()


@given(arrays(np.int32, (257,), elements=st.integers(0, 50)))
def test_exact_int_cumsum(x):
    np.testing.assert_array_equal(np.asarray(_int_cumsum(x)), np.cumsum(x))


@given(arrays(np.float32, (150,), elements=st.floats(0, 20, width=32)))
def test_cumsum_monotone_and_split(v):
    w, f = _cumsum(v)
    total = np.asarray(w, np.float64) + np.asarray(f, np.float64)
    assert np.all(np.diff(total) >= -1e-5)
    np.testing.assert_allclose(total, np.cumsum(v.astype(np.float64)), atol=1e-4)


def test_offspring_counts_and_search():
    v = np.array([0.5, 1.25, 0.0, 2.25], np.float32)  # sums to 4
    c = np.asarray(offspring_counts(v, 0.3))
    assert c.sum() == 4 and c[2] == 0
    assert np.all((c >= np.floor(v)) & (c <= np.ceil(v)))
    w, f = compensated_cumsum(v)
    idx = search_sorted_split(w, f, jnp.array([0, 1, 2, 3]), jnp.array([0.4, 0.9, 0.5, 0.99]))
    # C = 0.5, 1.75, 1.75, 4.0: targets 0.4 -> 0, 1.9 -> 3, 2.5 -> 3, 3.99 -> 3
    np.testing.assert_array_equal(np.asarray(idx), [0, 3, 3, 3])


def test_empty_input():
    w, f = compensated_cumsum(jnp.zeros((0,)))
    assert w.shape == (0,) and f.shape == (0,)


def _ancestors_by_definition(cum, m):
    """Slot k -> #{i : cum_i <= k} (NumPy, the definition)."""
    return np.searchsorted(np.asarray(cum), np.arange(m), side="right")


@given(st.lists(st.integers(0, 4), min_size=1, max_size=60), st.integers(0, 2))
def test_ancestor_methods_agree_with_the_definition(counts, spill):
    """Scatter-add (CPU) and forward fill (GPU) give the same ancestors, including zero-count runs
    and a rounding spill-over (cumulative counts ending below M)."""
    counts = np.asarray(counts)
    m = int(counts.sum()) + spill
    if m == 0:
        return
    cum = jnp.asarray(np.minimum(np.cumsum(counts), m), jnp.int32)
    expect = _ancestors_by_definition(cum, m)
    for name, fn in ANCESTOR_METHODS.items():
        got = np.asarray(jax.jit(fn, static_argnums=1)(cum, m))
        np.testing.assert_array_equal(got, expect, err_msg=name)
    clipped = np.asarray(ancestors_from_cumcounts(cum, m, len(counts) - 1))
    np.testing.assert_array_equal(clipped, np.minimum(expect, len(counts) - 1))


def test_ancestor_fill_degenerate_weights():
    """One particle takes every slot (the case that serializes a GPU scatter-add): exact."""
    n = 10_001
    cum = jnp.asarray(np.r_[np.zeros(5000), np.full(n - 5000, n)].astype(np.int32))
    for method in ("fill", "scatter_add", "auto"):
        anc = np.asarray(ancestors_from_cumcounts(cum, n, n - 1, method=method))
        np.testing.assert_array_equal(anc, np.full(n, 5000))


@pytest.mark.slow
def test_ancestor_fill_exact_beyond_float32_integers():
    """N = 2**24 + 3 (past float32's exact-integer range), skewed weights: fill == scatter-add."""
    from probinf.resampling import scaled_weights

    n = 2**24 + 3
    lw = jax.random.normal(jax.random.PRNGKey(0), (n,), jnp.float32) * 2.0

    @jax.jit
    def both(lw):
        v, last = scaled_weights(lw, n)
        whole, frac = compensated_cumsum(v, total_bound=n + 1)
        cum = jnp.minimum(whole + (frac > 0.37).astype(whole.dtype), n)
        return (ancestors_from_cumcounts(cum, n, last, method="fill"),
                ancestors_from_cumcounts(cum, n, last, method="scatter_add"))

    a, b = both(lw)
    assert bool(jnp.array_equal(a, b))


@pytest.mark.skipif(not jax_has_gpu(), reason="N = 1e8 needs a GPU (GPU selection: make test-gpu)")
def test_float32_systematic_exact_at_1e8_on_gpu():
    """N = 1e8 float32 on the GPU path: counts within floor/ceil of N w, cumulative counts within 1 of the mass."""
    from probinf import resample

    n = 100_000_000
    lw = jax.random.normal(jax.random.PRNGKey(0), (n,), jnp.float32) * 2.0
    idx = resample(jax.random.PRNGKey(1), lw)
    counts = np.bincount(np.asarray(idx), minlength=n)
    w = np.exp(np.asarray(lw, np.float64) - float(np.max(lw)))
    nw = n * w / w.sum()
    assert counts.sum() == n
    assert np.all(counts >= np.floor(nw - 1e-2)) and np.all(counts <= np.ceil(nw + 1e-2))
    assert np.abs(np.cumsum(counts) - np.cumsum(nw)).max() < 1 + n * 2.0**-24
