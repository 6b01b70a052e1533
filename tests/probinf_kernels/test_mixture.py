"""probinf.kernels.mixture_loglik: every backend against the reference (and the reference against scipy)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp as sp_logsumexp
from scipy.stats import norm

from probinf._compat import enable_x64
from probinf.kernels import BackendUnavailableError, mixture_loglik


def _random_problem(seed, P, n, K, D, dtype=np.float32, weight_scale=1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D)).astype(dtype)
    lw = (weight_scale * rng.normal(size=(P, K))).astype(dtype)
    mu = rng.normal(size=(P, K, D)).astype(dtype)
    sc = np.exp(0.3 * rng.normal(size=(P, K, D))).astype(dtype)
    return x, lw, mu, sc


def _scipy_oracle(x, lw, mu, sc):
    # Independent float64 formulation with scipy's norm.logpdf and logsumexp.
    x, lw, mu, sc = (np.asarray(a, np.float64) for a in (x, lw, mu, sc))
    comp = norm.logpdf(x[None, :, None, :], mu[:, None], sc[:, None]).sum(-1)  # (P, n, K)
    return sp_logsumexp(lw[:, None, :] + comp, axis=-1).sum(-1)


def test_reference_matches_scipy():
    args = _random_problem(0, 4, 50, 3, 2, np.float64)
    with enable_x64(True):
        ref = mixture_loglik(*args, backend="reference")
    np.testing.assert_allclose(np.asarray(ref), _scipy_oracle(*args), rtol=1e-12)


@given(
    seed=st.integers(0, 2**31 - 1),
    P=st.integers(1, 5),
    n=st.integers(0, 70),
    K=st.integers(1, 4),
    D=st.integers(1, 3),
    chunk=st.sampled_from([1, 7, 64]),
)
@settings(max_examples=12)
def test_cpu_matches_reference(seed, P, n, K, D, chunk):
    args = _random_problem(seed, P, n, K, D)
    ref = np.asarray(mixture_loglik(*args, backend="reference"), np.float64)
    cpu = np.asarray(mixture_loglik(*args, backend="cpu", chunk_size=chunk), np.float64)
    # float32: each of the n log-sum-exp terms is rounded at ~1e-7 relative; the sum of
    # n terms carries at most ~n ulps of the largest term.
    tol = 1e-5 * (np.abs(ref) + 1.0) + 1e-6 * n
    assert cpu.shape == (P,)
    assert np.all(np.abs(cpu - ref) <= tol)


@given(
    seed=st.integers(0, 2**31 - 1),
    P=st.sampled_from([1, 3]),
    n=st.sampled_from([1, 9]),
    weight_scale=st.sampled_from([1.0, 100.0]),
    outlier=st.sampled_from([0.0, 50.0, 1e3]),
)
@settings(max_examples=6, deadline=None)  # interpreter mode: each shape is a new (slow) trace
def test_pallas_interpret_matches_scipy_property(seed, P, n, weight_scale, outlier):
    """Random problems with peaked weights and one far point: Pallas (interpreted) vs float64 scipy."""
    x, lw, mu, sc = _random_problem(seed, P, n, 3, 2, weight_scale=weight_scale)
    x = x.copy()
    x[0, 0] += np.float32(outlier)
    pal = np.asarray(mixture_loglik(x, lw, mu, sc, backend="pallas", interpret=True), np.float64)
    ref = _scipy_oracle(x, lw, mu, sc)
    assert np.all(np.isfinite(pal))
    assert np.all(np.abs(pal - ref) <= 1e-5 * (np.abs(ref) + 1.0) + 1e-6 * n)


@pytest.mark.parametrize("P,n,K,D", [(1, 1, 1, 1), (3, 40, 3, 2), (17, 130, 5, 1), (2, 5, 3, 3)])
def test_pallas_interpret_matches_reference(P, n, K, D):
    args = _random_problem(P * 1000 + n, P, n, K, D)
    ref = np.asarray(mixture_loglik(*args, backend="reference"))
    pal = np.asarray(mixture_loglik(*args, backend="pallas", interpret=True))
    np.testing.assert_allclose(pal, ref, rtol=2e-5, atol=1e-4)


@pytest.mark.parametrize("backend", ["cpu", "pallas"])
def test_extreme_log_weights(backend):
    kw = {"interpret": True} if backend == "pallas" else {}
    x, lw, mu, sc = _random_problem(3, 3, 20, 3, 1)
    lw = lw.copy()
    lw[0, 1:] = -1e30  # effectively switched off
    lw[1, :] = [700.0, 699.0, -700.0]  # huge but finite: must not overflow
    lw[2, 0] = -np.inf  # exactly off
    ref = np.asarray(mixture_loglik(x, lw, mu, sc, backend="reference"))
    out = np.asarray(mixture_loglik(x, lw, mu, sc, backend=backend, **kw))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref, rtol=1e-5)
    # Particle 0 equals a single-Gaussian likelihood plus n * lw[0, 0].
    single = norm.logpdf(x[:, 0], mu[0, 0, 0], sc[0, 0, 0]).sum() + 20 * lw[0, 0]
    np.testing.assert_allclose(ref[0], single, rtol=1e-5)


@pytest.mark.parametrize("backend", ["cpu", "pallas"])
def test_one_outlier_is_finite_not_minus_inf(backend):
    """One point 1e3 standard deviations from every component: each component's log-density is
    about -5e5, so exp() underflows to 0 without the max-subtraction; the exact answer is finite."""
    kw = {"interpret": True} if backend == "pallas" else {}
    x, lw, mu, sc = _random_problem(11, 3, 20, 3, 1)
    x = x.copy()
    x[7, 0] = 1e3
    out = np.asarray(mixture_loglik(x, lw, mu, sc, backend=backend, **kw), np.float64)
    expect = _scipy_oracle(x, lw, mu, sc)
    assert np.all(np.isfinite(out)), out
    np.testing.assert_allclose(out, expect, rtol=1e-5)


@pytest.mark.parametrize("backend", ["reference", "cpu", "pallas"])
def test_all_components_off_is_minus_inf_not_nan(backend):
    kw = {"interpret": True} if backend == "pallas" else {}
    x, lw, mu, sc = _random_problem(4, 2, 5, 2, 1)
    lw = np.full_like(lw, -np.inf)
    out = np.asarray(mixture_loglik(x, lw, mu, sc, backend=backend, **kw))
    assert np.all(out == -np.inf)


def test_empty_reductions():
    x, lw, mu, sc = _random_problem(5, 3, 0, 2, 1)
    assert np.all(np.asarray(mixture_loglik(x, lw, mu, sc)) == 0.0)  # no data
    x, lw, mu, sc = _random_problem(5, 3, 4, 0, 1)
    assert np.all(np.asarray(mixture_loglik(x, lw, mu, sc)) == -np.inf)  # no components


@pytest.mark.parametrize("backend", ["cpu", "pallas"])
def test_nan_propagates_to_affected_particle_only(backend):
    kw = {"interpret": True} if backend == "pallas" else {}
    x, lw, mu, sc = _random_problem(6, 3, 10, 2, 1)
    mu = mu.copy()
    mu[1, 0, 0] = np.nan
    out = np.asarray(mixture_loglik(x, lw, mu, sc, backend=backend, **kw))
    assert np.isnan(out[1]) and np.all(np.isfinite(out[[0, 2]]))


def test_one_dimensional_shorthand():
    x, lw, mu, sc = _random_problem(7, 2, 30, 3, 1)
    full = mixture_loglik(x, lw, mu, sc)
    short = mixture_loglik(x[:, 0], lw, mu[..., 0], sc[..., 0])
    np.testing.assert_allclose(np.asarray(full), np.asarray(short), rtol=1e-6)


@pytest.mark.parametrize("backend", ["cpu", "pallas"])
def test_gradients_match_reference(backend):
    x, lw, mu, sc = _random_problem(8, 3, 25, 3, 2)
    kw = {"interpret": True} if backend == "pallas" else {}

    def loss(b, lw, mu, sc, **k):
        return jnp.sum(mixture_loglik(x, lw, mu, sc, backend=b, **k) * jnp.arange(1.0, 4.0))

    g_ref = jax.grad(loss, argnums=(1, 2, 3))("reference", lw, mu, sc)
    g = jax.grad(loss, argnums=(1, 2, 3))(backend, lw, mu, sc, **kw)
    for a, b in zip(g, g_ref, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-3)


def test_float64_exact():
    args = _random_problem(9, 4, 200, 3, 2, np.float64)
    with enable_x64(True):
        cpu = mixture_loglik(*args, backend="cpu", chunk_size=16)
        assert cpu.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(cpu), _scipy_oracle(*args), rtol=1e-11)


def test_bad_input():
    x, lw, mu, sc = _random_problem(10, 2, 5, 3, 2)
    with pytest.raises(ValueError, match="means must have shape"):
        mixture_loglik(x, lw, mu[:, :2], sc)
    with pytest.raises(ValueError, match="log_weights must have shape"):
        mixture_loglik(x, lw[0], mu, sc)
    with pytest.raises(ValueError, match="backend must be one of"):
        mixture_loglik(x, lw, mu, sc, backend="cuda")
    with pytest.raises(ValueError, match="chunk_size"):
        mixture_loglik(x, lw, mu, sc, chunk_size=0)
    if not any(d.platform == "gpu" for d in jax.devices()):
        with pytest.raises(BackendUnavailableError, match="needs a GPU"):
            mixture_loglik(x, lw, mu, sc, backend="pallas")
