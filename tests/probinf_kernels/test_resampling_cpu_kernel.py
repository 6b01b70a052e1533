"""Tests of probinf/kernels/resampling_cpu.py: the systematic-resampling CPU kernel.

- exact enumeration at tiny N against the definition, in rational arithmetic;
- agreement with the pure-JAX path (``probinf.resampling._systematic_u``) at N = 1e4,
  disagreements allowed only at near-ties of the JAX path's ~1e-3 prefix error;
- batching (vmap), float64, degenerate weights;
- the filter's resampling step: kernel path and pure-JAX path give the same ancestors at
  N = 64, and a planted off-by-one in the kernel's output breaks that equality.
The public filter's exact law through the kernel is enumerated in
tests/probinf/test_filter_enumeration.py.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import probinf.filtering_steps
from probinf._compat import enable_x64
from probinf.kernels import resampling_cpu
from probinf.kernels.resampling_cpu import available, systematic_ancestors_kernel
from probinf.resampling import _systematic_u

pytestmark = pytest.mark.skipif(not available(), reason=f"CPU kernel not built: {resampling_cpu.build_error()}")


def _definition(weights, u, m):
    """Slot k gets the first i with u + k < C_i (exact rationals); spill-over to the last positive weight."""
    w = [Fraction(x) for x in weights]
    total = sum(w)
    last = max(i for i, x in enumerate(w) if x > 0)
    c, acc = [], Fraction(0)
    for x in w:
        acc += x
        c.append(m * acc / total)
    out = []
    for k in range(m):
        t = Fraction(u) + k
        out.append(next((i for i, ci in enumerate(c) if t < ci), last))
    return out


def test_exact_enumeration_tiny_n():
    """Every weight vector in {0..3}^N (N <= 4, not all 0), M in {N, N+1, 2}, 16 uniforms: equal to the definition.

    Uniforms (2j + 1) / 32 never tie with C_i = M * prefix / total (denominators differ).
    """
    us = (np.arange(16) * 2 + 1) / 32.0
    for n in (1, 2, 3, 4):
        for ws in itertools.product(range(4), repeat=n):
            if not any(ws):
                continue
            w = jnp.asarray(ws, jnp.float32)
            for m in sorted({n, n + 1, 2}):
                got = np.asarray(jax.vmap(lambda u, w=w, m=m: systematic_ancestors_kernel(w, u, m))(
                    jnp.asarray(us, jnp.float32)))
                for j, u in enumerate(us):
                    assert got[j].tolist() == _definition(ws, float(np.float32(u)), m), (ws, u, m)


def test_agrees_with_pure_jax_path_at_1e4():
    """Same ancestors as the pure-JAX path except where u + k lies within its prefix error of some C_i."""
    n = 10_000
    for seed in range(3):
        lw = 2.0 * jax.random.normal(jax.random.key(seed), (n,))
        lw = lw - jax.nn.logsumexp(lw)
        u = jax.random.uniform(jax.random.key(100 + seed), ())
        ref = np.asarray(_systematic_u(lw, n, u))
        got = np.asarray(systematic_ancestors_kernel(jnp.exp(lw - jnp.max(lw)), u, n))
        e = np.exp(np.asarray(lw, np.float64) - float(np.max(np.asarray(lw))))
        c = np.cumsum(e) * n / e.sum()
        bad = np.nonzero(got != ref)[0]
        assert len(bad) <= 5
        for k in bad:  # a near-tie: the boundary between the two answers sits within 2e-3 of u + k
            lo, hi = sorted((got[k], ref[k]))
            assert np.min(np.abs(c[lo:hi] - (float(u) + k))) < 2e-3
        counts = np.bincount(got, minlength=n)
        nw = e / e.sum() * n
        assert np.all((counts >= np.floor(nw) - 1e-9) & (counts <= np.ceil(nw) + 1e-9))


def test_batched_float64_and_degenerate():
    w = jax.random.uniform(jax.random.key(0), (3, 50)) ** 4
    u = jnp.array([0.1, 0.5, 0.9])
    batched = np.asarray(jax.vmap(systematic_ancestors_kernel)(w, u))
    for r in range(3):
        np.testing.assert_array_equal(batched[r], np.asarray(systematic_ancestors_kernel(w[r], u[r])))
    with enable_x64(True):
        w64 = jnp.asarray([0.0, 1.0, 0.0, 2.0, 0.0], jnp.float64)
        assert np.asarray(systematic_ancestors_kernel(w64, jnp.float64(0.25))).tolist() == \
            _definition([0, 1, 0, 2, 0], 0.25, 5)
    # zero weights never get a slot, even at the ends
    got = np.asarray(systematic_ancestors_kernel(jnp.asarray([0.0, 0.0, 1.0, 0.0], jnp.float32), jnp.float32(0.0)))
    assert got.tolist() == [2, 2, 2, 2]


def _filter_ancestors(n=64, reps=200):
    """The filter's own resampling step (``probinf.filtering_steps.ancestors``) over many weights and uniforms."""
    lw = 3.0 * jax.random.normal(jax.random.key(11), (reps, n))
    lw = lw - jax.nn.logsumexp(lw, axis=1, keepdims=True)
    u = jax.random.uniform(jax.random.key(12), (reps,))
    return jax.jit(jax.vmap(lambda uu, ll: probinf.filtering_steps.ancestors(uu, ll, n, "systematic")))(u, lw)


def _reference_only(w, u, m, reference):
    return reference()


def test_filter_kernel_path_equals_reference_path(monkeypatch):
    """The filter's resampling with the kernel equals the pure-JAX path (N = 64, 200 weight vectors, vmapped)."""
    fast = np.asarray(_filter_ancestors())
    monkeypatch.setattr(probinf.filtering_steps, "systematic_ancestors", _reference_only)
    slow = np.asarray(_filter_ancestors())
    np.testing.assert_array_equal(fast, slow)


def test_negative_control_planted_off_by_one(monkeypatch):
    """A kernel result shifted by one slot breaks that equality: the comparison can fail."""
    good = np.asarray(_filter_ancestors())
    orig = probinf.filtering_steps.systematic_ancestors
    monkeypatch.setattr(probinf.filtering_steps, "systematic_ancestors",
                        lambda w, u, m, reference: jnp.roll(orig(w, u, m, reference), 1))
    bad = np.asarray(_filter_ancestors())
    assert np.mean(np.any(good != bad, axis=1)) > 0.9


def test_unavailable_paths_say_why(monkeypatch, tmp_path):
    """Disabled, or a compiler that fails: available() is False and build_error() names the reason."""
    try:
        available.cache_clear()
        monkeypatch.setenv("PROBINF_CPU_KERNELS", "0")
        assert not available() and "PROBINF_CPU_KERNELS" in resampling_cpu.build_error()
        available.cache_clear()
        monkeypatch.setenv("PROBINF_CPU_KERNELS", "1")
        monkeypatch.setenv("PROBINF_KERNEL_CACHE", str(tmp_path))
        monkeypatch.setenv("CXX", "false")  # a "compiler" that always fails
        assert not available() and "failed" in resampling_cpu.build_error()
        assert not list(tmp_path.glob("*.so"))  # no partial library left behind
    finally:
        monkeypatch.undo()
        available.cache_clear()
        assert available()  # the real build again (cached on disk; targets are not registered twice)
