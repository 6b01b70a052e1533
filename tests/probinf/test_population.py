"""Tests of probinf/population.py: evidence bookkeeping, resampling decisions, moves."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import logsumexp

from probinf import (
    Population,
    init_population,
    maybe_resample,
    move,
    resample_population,
    reweight,
    take_particles,
)
from probinf.validate import enumerate_particle_filter


def test_init_and_reweight_bookkeeping():
    x = jnp.arange(4.0)
    pop = init_population(x)
    assert float(pop.log_evidence) == 0.0
    np.testing.assert_allclose(np.asarray(pop.log_weights), np.full(4, -np.log(4)), rtol=1e-6)
    g = jnp.log(jnp.array([1.0, 2.0, 3.0, 4.0]))
    pop2, info2 = reweight(pop, g)
    assert float(info2.log_evidence_increment) == pytest.approx(np.log(2.5), rel=1e-6)
    assert bool(info2.valid)
    w2 = np.array([1, 2, 3, 4]) / 10.0
    assert float(info2.ess) == pytest.approx(1.0 / np.sum(w2**2), rel=1e-5)
    _, bad = reweight(pop, jnp.array([0.0, jnp.nan, 0.0, 0.0]))
    assert not bool(bad.valid)
    _, dead = reweight(pop, jnp.full(4, -jnp.inf))
    assert not bool(dead.valid)    # log Z gains log sum_i W_i G_i = log mean G with uniform W.
    assert float(pop2.log_evidence) == pytest.approx(np.log(2.5), rel=1e-6)
    assert float(logsumexp(np.asarray(pop2.log_weights))) == pytest.approx(0.0, abs=1e-6)
    # A second reweight with non-uniform W: sum_i W_i G_i, not mean G.
    pop3, _ = reweight(pop2, g)
    w = np.array([1, 2, 3, 4]) / 10.0
    assert float(pop3.log_evidence) == pytest.approx(np.log(2.5) + np.log(np.sum(w * [1, 2, 3, 4])), rel=1e-6)
    # init with log-weights: evidence log mean w, weights normalized.
    pop4 = init_population(x, g)
    assert float(pop4.log_evidence) == pytest.approx(np.log(2.5), rel=1e-6)


def test_resample_population_keeps_evidence_and_pytree():
    parts = {"a": jnp.arange(5.0), "b": jnp.arange(10.0).reshape(5, 2)}
    pop = init_population(parts, jnp.log(jnp.array([0.0, 0.0, 1.0, 0.0, 0.0]) + 1e-30))
    new, info = resample_population(jax.random.PRNGKey(0), pop)
    assert float(new.log_evidence) == float(pop.log_evidence)
    # equal weights after resampling, normalized: log W = -log N
    np.testing.assert_allclose(np.asarray(new.log_weights), np.full(5, -np.log(5)), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(new.particles["a"]), np.full(5, 2.0))
    np.testing.assert_array_equal(np.asarray(new.particles["b"]), np.tile([4.0, 5.0], (5, 1)))
    assert bool(info.resampled) and bool(info.valid)


@pytest.mark.parametrize("threshold, expect", [(0.0, False), (1.0, True), (0.5, True), (0.1, False)])
def test_maybe_resample_threshold(threshold, expect):
    lw = jnp.log(jnp.array([0.7, 0.1, 0.1, 0.1]))  # ESS = 1 / 0.52 = 1.92 -> 0.48 N
    pop = init_population(jnp.arange(4.0), lw)
    new, info = maybe_resample(jax.random.PRNGKey(1), pop, threshold)
    assert bool(info.resampled) == expect
    assert float(info.ess) == pytest.approx(1 / 0.52, rel=1e-5)
    if not expect:
        np.testing.assert_array_equal(np.asarray(info.ancestors), np.arange(4))
        np.testing.assert_allclose(np.asarray(new.log_weights), np.asarray(pop.log_weights))
    else:
        np.testing.assert_allclose(np.asarray(new.log_weights), np.full(4, -np.log(4)), rtol=1e-6)
    assert float(new.log_evidence) == float(pop.log_evidence)


def test_move_applies_kernel_to_every_particle():
    pop = init_population(jnp.zeros(6))
    kernel = lambda k, x: (x + jax.random.normal(k), jnp.ones(()))  # noqa: E731
    new, info = move(jax.random.PRNGKey(0), pop, kernel)
    assert new.particles.shape == (6,) and info.shape == (6,)
    assert len(np.unique(np.asarray(new.particles))) == 6  # independent keys per particle
    np.testing.assert_array_equal(np.asarray(new.log_weights), np.asarray(pop.log_weights))


def test_take_particles():
    t = take_particles({"x": jnp.arange(3.0)}, jnp.array([2, 2, 0]))
    np.testing.assert_array_equal(np.asarray(t["x"]), [2.0, 2.0, 0.0])


def test_ess_triggered_bookkeeping_exact():
    """Exact enumeration: with ESS-triggered resampling (weights carried when not
    resampling), E[Z_hat] = Z and proper weighting hold exactly."""
    ll = np.log([[0.9, 0.2], [0.15, 0.8], [0.6, 0.5]])
    res = enumerate_particle_filter([0.4, 0.6], [[0.8, 0.2], [0.3, 0.7]], ll, 2, ess_threshold=0.9)
    assert res.max_evidence_rel_error < 1e-12
    assert res.max_filtering_error < 1e-12


def test_wrong_bookkeeping_is_detected():
    """Negative control: an increment log(mean G) that ignores the carried weights
    (correct only right after resampling) is biased, and enumeration shows it."""

    def bad_reweight(pop, inc):
        lse = logsumexp_j(pop.log_weights + inc)
        return Population(pop.particles, pop.log_weights + inc - lse,
                          pop.log_evidence + logsumexp_j(inc) - jnp.log(inc.shape[0])), None

    from jax.scipy.special import logsumexp as logsumexp_j

    ll = np.log([[0.9, 0.2], [0.15, 0.8], [0.6, 0.5]])
    res = enumerate_particle_filter([0.4, 0.6], [[0.8, 0.2], [0.3, 0.7]], ll, 2, ess_threshold=0.0,
                                    reweight=bad_reweight)
    assert res.max_evidence_rel_error > 1e-3


_SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1e30, 1e30, 3.0e38, -3.0e38, 88.0, -104.0])


@settings(max_examples=200, deadline=None)
@given(lw0=hnp.arrays(np.float32, st.integers(1, 6), elements=st.one_of(st.floats(-50, 50, width=32), _SPECIAL)),
       inc=hnp.arrays(np.float32, 6, elements=st.one_of(st.floats(-1e3, 1e3, width=32), _SPECIAL)))
def test_reweight_valid_is_the_three_conditions(lw0, inc):
    """``valid`` (only the logsumexp's finiteness) equals: no NaN, no +inf and some finite weight, for any input."""
    inc = inc[: lw0.shape[0]]
    pop = Population(jnp.zeros(lw0.shape[0]), jnp.asarray(lw0), jnp.float32(0.0))
    _, info = reweight(pop, jnp.asarray(inc))
    with np.errstate(all="ignore"):
        lw = lw0 + inc
    expected = not np.isnan(lw).any() and not np.isposinf(lw).any() and bool(np.isfinite(lw).any())
    assert bool(info.valid) == expected
