"""Tests of probinf/weights.py: normalize, ess, log_mean_exp, validity checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import logsumexp as np_logsumexp

from probinf import (
    DegenerateWeightsError,
    InvalidWeightsError,
    check_log_weights,
    ess,
    log_mean_exp,
    normalize,
    weights_valid,
)
from probinf._compat import enable_x64

N = 16
finite = st.floats(-50, 50, allow_nan=False, width=32)
lw_arrays = arrays(np.float32, (N,), elements=finite)
lw_with_neginf = arrays(np.float32, (N,), elements=st.one_of(finite, st.just(-np.inf))).filter(
    lambda a: np.isfinite(a).any()
)


@given(lw_arrays, st.floats(-1e3, 1e3, width=32))
def test_normalize_shift_invariant_and_sums_to_one(lw, c):
    a = np.asarray(normalize(lw))
    b = np.asarray(normalize(lw + np.float32(c)))
    # float32 rounding of lw + c is at most ulp(|c| + 50) ~ 6e-5 per entry.
    np.testing.assert_allclose(a, b, atol=2e-4)
    assert abs(np_logsumexp(a.astype(np.float64))) < 1e-5


@given(lw_with_neginf)
def test_ess_in_range_and_neginf_kept(lw):
    e = float(ess(lw))
    k = int(np.isfinite(lw).sum())
    assert 1.0 - 1e-5 <= e <= k * (1 + 1e-5)  # ESS <= number of live particles <= N
    nl = np.asarray(normalize(lw))
    assert np.all(np.isneginf(nl[np.isneginf(lw)]))
    assert np.asarray(ess(lw)).dtype == np.float32


@given(lw_arrays, st.floats(-1e3, 1e3, width=32))
def test_ess_shift_invariant(lw, c):
    assert float(ess(lw)) == pytest.approx(float(ess(lw + np.float32(c))), rel=1e-3)


def test_ess_extremes_exact():
    assert float(ess(jnp.zeros(7))) == pytest.approx(7.0, rel=1e-6)
    one_hot = jnp.array([0.0] + [-jnp.inf] * 6)
    assert float(ess(one_hot)) == pytest.approx(1.0, rel=1e-6)
    # Huge log-weights do not overflow.
    assert float(ess(jnp.array([1e30, 1e30]))) == pytest.approx(2.0, rel=1e-6)
    # Batch axis: reduce over the last axis.
    assert ess(jnp.zeros((3, 5))).shape == (3,)


@given(arrays(np.float64, (5, 4), elements=st.floats(-30, 30)))
def test_log_mean_exp_matches_numpy(x):
    with enable_x64(True):
        np.testing.assert_allclose(float(log_mean_exp(x)), np_logsumexp(x) - np.log(x.size), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(
            np.asarray(log_mean_exp(x, axis=0)), np_logsumexp(x, axis=0) - np.log(5), rtol=1e-12, atol=1e-12
        )


def test_jit_matches_eager():
    lw = jax.random.normal(jax.random.PRNGKey(0), (33,))
    np.testing.assert_array_equal(np.asarray(jax.jit(normalize)(lw)), np.asarray(normalize(lw)))
    assert float(jax.jit(ess)(lw)) == pytest.approx(float(ess(lw)), rel=1e-6)


@pytest.mark.parametrize(
    "bad, err, match",
    [
        (np.array([0.0, np.nan]), InvalidWeightsError, "NaN"),
        (np.array([0.0, np.inf]), InvalidWeightsError, r"\+inf"),
        (np.array([-np.inf, -np.inf]), DegenerateWeightsError, "every entry"),
        (np.zeros((0,)), InvalidWeightsError, "at least one particle"),
        (np.float32(1.0), InvalidWeightsError, "scalar"),
        (np.array([1, 2]), InvalidWeightsError, "floating-point"),
    ],
)
def test_check_log_weights_errors(bad, err, match):
    with pytest.raises(err, match=match):
        check_log_weights(bad)
    if np.ndim(bad) == 1 and bad.size and np.issubdtype(bad.dtype, np.floating):
        assert not bool(weights_valid(bad))


def test_weights_valid_flag_under_jit():
    f = jax.jit(weights_valid)
    assert bool(f(jnp.array([0.0, -jnp.inf])))
    assert not bool(f(jnp.array([0.0, jnp.nan])))
    assert not bool(f(jnp.array([-jnp.inf, -jnp.inf])))
    assert not bool(f(jnp.array([0.0, jnp.inf])))
