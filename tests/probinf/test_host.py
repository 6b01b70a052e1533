"""Tests of probinf/host.py: the NumPy twins equal the JAX blocks (same uniforms, same ancestors) on every cell
of the uniforms at tiny N, so they have the same exact resampling law; ESS and reweighting equal the JAX blocks;
properties; bad input."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from probinf import DegenerateWeightsError, InvalidWeightsError, ess, reweight
from probinf._compat import enable_x64
from probinf.host import HOST_RESAMPLING_FROM_UNIFORMS, as_generator, host_ess, host_resample, host_reweight
from probinf.population import Population
from probinf.resampling import RESAMPLING_FROM_UNIFORMS
from probinf.validate import enumerate_resampling, resampling_breakpoints

METHODS = sorted(HOST_RESAMPLING_FROM_UNIFORMS)
WEIGHTS = [
    [1.0],
    [0.5, 0.5],
    [0.1, 0.6, 0.3],
    [0.0, 0.7, 0.3],
    [0.6, 0.4, 0.0],
    [0.2, 0.0, 0.3, 0.5],
]


_JITTED = {m: jax.jit(jax.vmap(RESAMPLING_FROM_UNIFORMS[m], in_axes=(None, None, 0)), static_argnums=1)
           for m in METHODS}


def _jax_ancestors(method, lw, m, grid):
    """The JAX scheme at every row of ``grid`` in float64 (rows padded to a power of two: few compilations)."""
    size = 1 << max(int(len(grid) - 1).bit_length(), 3)
    padded = np.concatenate([grid, np.repeat(grid[:1], size - len(grid), axis=0)])
    with enable_x64(True):
        out = _JITTED[method](jnp.asarray(lw, jnp.float64), m, jnp.asarray(padded, jnp.float64))
    return np.asarray(out)[: len(grid)]


_REWEIGHT = jax.jit(reweight)
_ESS = jax.jit(ess)


def _cells(w, m, method):
    """Midpoints and volumes of every cell of the uniforms (the scheme is constant on each)."""
    bps = resampling_breakpoints(w, m, method)
    mids = [0.5 * (b[1:] + b[:-1]) for b in bps]
    lens = [np.diff(b) for b in bps]
    grid = np.array(list(itertools.product(*mids)))
    vol = np.prod(np.array(list(itertools.product(*lens))), axis=1)
    return (grid[:, 0] if method == "systematic" else grid), vol


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("w", WEIGHTS, ids=str)
@pytest.mark.parametrize("m_extra", [0, 1])
def test_same_uniforms_same_ancestors_on_every_cell(method, w, m_extra):
    """Host and JAX ancestors agree at every cell midpoint, so the host law is exactly the JAX law; the law
    built from the host is compared with the enumeration harness's (the JAX implementation's) law too."""
    w = np.asarray(w)
    m = len(w) + m_extra
    grid, vol = _cells(w, m, method)
    with np.errstate(divide="ignore"):
        lw = np.log(w)
    want = _jax_ancestors(method, lw, m, grid)
    got = np.array([HOST_RESAMPLING_FROM_UNIFORMS[method](lw, m, u) for u in grid])
    np.testing.assert_array_equal(got, want)
    law: dict[tuple[int, ...], float] = {}
    for a, p in zip(map(tuple, got.tolist()), vol, strict=True):
        law[a] = law.get(a, 0.0) + float(p)
    ref = enumerate_resampling(w, method, m)
    assert set(law) == set(ref)
    for a, p in ref.items():
        assert law[a] == pytest.approx(p, abs=1e-12)


def test_multinomial_law_is_the_product_of_the_weights():
    """Closed form: M iid draws, P(a) = prod_k w_{a_k} (the enumeration above checks the JAX law; this checks
    both against the definition)."""
    w = np.array([0.2, 0.0, 0.3, 0.5])
    grid, vol = _cells(w, 3, "multinomial")
    law: dict[tuple[int, ...], float] = {}
    for u, p in zip(grid, vol, strict=True):
        a = tuple(HOST_RESAMPLING_FROM_UNIFORMS["multinomial"](np.log(w + 1e-300), 3, u).tolist())
        law[a] = law.get(a, 0.0) + float(p)
    for a in itertools.product(range(4), repeat=3):
        assert law.get(a, 0.0) == pytest.approx(float(np.prod(w[list(a)])), abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("w", [[0.0, 0.5, 0.5], [0.25, 0.25, 0.5], [0.5, 0.0, 0.5]], ids=str)
def test_uniforms_on_the_breakpoints_equal_the_jax_blocks(method, w):
    """Uniforms exactly on a cell boundary (0 included: ``jax.random.uniform`` can return it): slot ``k`` takes the
    first ``i`` with ``u_k < C_i`` (strict), like the JAX block, so a zero-weight particle is never an ancestor."""
    m = len(w)
    with np.errstate(divide="ignore"):
        lw = np.log(np.asarray(w))
    bps = resampling_breakpoints(np.asarray(w), m, method)
    points = sorted({float(x) for b in bps for x in b if 0.0 <= x < 1.0})
    grid = np.array(points) if method == "systematic" else np.array([[p] * m for p in points])
    want = _jax_ancestors(method, lw, m, grid)
    got = np.array([HOST_RESAMPLING_FROM_UNIFORMS[method](lw, m, u) for u in grid])
    np.testing.assert_array_equal(got, want)
    assert not np.isin(got, np.flatnonzero(np.asarray(w) == 0)).any()


@pytest.mark.parametrize("method", METHODS)
def test_same_uniforms_same_ancestors_at_n64(method):
    """The size the LLM filters run at: 64 random weights (spread over 8 nats, a few zero), float64 on both."""
    rng = np.random.default_rng(1)
    lw = rng.normal(scale=2.0, size=64)
    lw[rng.integers(0, 64, 4)] = -np.inf
    grid = rng.random(8) if method == "systematic" else rng.random((8, 64))
    want = _jax_ancestors(method, lw, 64, grid)
    np.testing.assert_array_equal([HOST_RESAMPLING_FROM_UNIFORMS[method](lw, 64, u) for u in grid], want)


@pytest.mark.parametrize("shift", [0.0, 1e30, -700.0])
def test_ess_and_reweight_equal_the_jax_blocks(shift):
    rng = np.random.default_rng(2)
    lw0 = rng.normal(size=64)
    lw0 -= np.logaddexp.reduce(lw0)
    inc = rng.normal(scale=3.0, size=64) + shift
    inc[[3, 9]] = -np.inf
    with enable_x64(True):
        pop, info = _REWEIGHT(Population(jnp.zeros(64), jnp.asarray(lw0), jnp.asarray(0.0)), jnp.asarray(inc))
        out = host_reweight(lw0, inc)
        np.testing.assert_allclose(out.log_weights, np.asarray(pop.log_weights), rtol=1e-12, atol=1e-12)
        assert out.log_evidence_increment == pytest.approx(float(info.log_evidence_increment), rel=1e-13, abs=1e-12)
        assert out.ess == pytest.approx(float(info.ess), rel=1e-12)
        assert out.valid and bool(info.valid)
        assert host_ess(lw0 + inc) == pytest.approx(float(_ESS(jnp.asarray(lw0 + inc))), rel=1e-12)
    assert host_ess(np.full(5, -1.0)) == pytest.approx(5.0)
    assert host_ess(np.array([0.0, -np.inf, -np.inf])) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_reweight_flags_unusable_increments_like_the_jax_block(bad):
    lw0 = np.full(4, -np.log(4))
    for inc in (np.array([0.0, bad, 0.0, 0.0]), np.full(4, -np.inf)):
        if np.isinf(bad) and bad < 0:
            continue
        _, info = _REWEIGHT(Population(jnp.zeros(4), jnp.asarray(lw0), jnp.asarray(0.0)), jnp.asarray(inc))
        assert not host_reweight(lw0, inc).valid and not bool(info.valid)


def test_host_resample_same_seed_same_result_and_generator_passed_down():
    lw = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    for method in METHODS:
        a, b = host_resample(7, lw, 9, method), host_resample(7, lw, 9, method)
        np.testing.assert_array_equal(a, b)
        assert a.shape == (9,)
    g = np.random.default_rng(3)
    assert as_generator(g) is g
    first = host_resample(g, lw, 50, "multinomial")
    assert not np.array_equal(first, host_resample(g, lw, 50, "multinomial"))  # the generator moved on


@settings(max_examples=60, deadline=None)
@given(w=arrays(np.float64, st.integers(1, 12), elements=st.floats(0.0, 10.0)),
       m=st.integers(1, 20), seed=st.integers(0, 2**32 - 1), method=st.sampled_from(METHODS))
def test_host_resample_properties(w, m, seed, method):
    """M ancestors in range, never a zero-weight particle; systematic counts within floor/ceil of M w."""
    if not (w > 0).any():
        w = np.concatenate([w, [1.0]])
    with np.errstate(divide="ignore"):
        anc = host_resample(seed, np.log(w), m, method)
    assert anc.shape == (m,) and anc.min() >= 0 and anc.max() < len(w)
    assert (w[anc] > 0).all()
    if method == "systematic":
        counts = np.bincount(anc, minlength=len(w))
        mw = m * w / w.sum()
        assert (counts >= np.floor(mw - 1e-9)).all() and (counts <= np.ceil(mw + 1e-9)).all()


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="method"):
        host_resample(0, np.zeros(3), method="nope")
    with pytest.raises(InvalidWeightsError, match="NaN"):
        host_resample(0, np.array([0.0, np.nan]))
    with pytest.raises(DegenerateWeightsError):
        host_resample(0, np.full(3, -np.inf))
    with pytest.raises(ValueError, match="1-D"):
        host_resample(0, np.zeros((2, 2)))
    with pytest.raises(TypeError, match="random_state"):
        host_resample("0", np.zeros(3))
    with pytest.raises(TypeError, match="num_samples"):
        host_resample(0, np.zeros(3), 2.0)
