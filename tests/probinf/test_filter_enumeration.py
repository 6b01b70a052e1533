r"""Exact enumeration of the PUBLIC :func:`probinf.particle_filter`, every resampling path.

A two-state HMM with N = 2 particles and T = 2 steps is written so that all of the
filter's randomness is enumerable:

- the model's draws come from a *tape* of uniforms passed as ``theta`` (each uniform
  takes the values 1/8, 3/8, 5/8, 7/8 with probability 1/4; every initial and
  transition probability is a multiple of 1/4, so inverse-CDF draws from the tape have
  exactly the model's law);
- the observation densities are 1 and 3, so the weights at the resampling step are
  1/2 or 1/4 and 3/4; the law of the offspring counts of every scheme is then known in
  closed form (textbook schemes evaluated on a grid of uniforms whose cells contain no
  breakpoint), independently of the shipped code;
- for each tape and each possible offspring vector the test searches a key under which
  the shipped, key-driven resampler produces it, runs the public filter with that key and
  weights its estimate by the exact probability.

Hence :math:`E[\hat Z_t]` (from the reported increments, and for ``t = T - 1`` from the
reported ``log_evidence`` itself) and :math:`E[\hat Z_t \sum_i W^i_t X^i_t]` are computed exactly
(float64) and compared with the forward algorithm to 1e-10.  The key-driven draws
themselves (``randint`` / ``uniform`` in multinomial and residual resampling) are checked
against the same exact offspring law over 4000 fixed keys: a binomial z-test per outcome,
Bonferroni-corrected to a false-failure rate of 1e-6 for the whole file (fixed keys make
the outcome deterministic on every platform: JAX's threefry is bit-reproducible).

Negative controls break the shipped code by monkeypatching one line's worth of
behaviour (the evidence increment of the filter's reweighting; an off-by-one in the
multinomial/residual integer draw) and assert that the machinery rejects them with a
margin far beyond rounding.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

import probinf
import probinf.filtering
import probinf.resampling
from probinf import StateSpaceModel, particle_filter
from probinf._compat import enable_x64
from probinf.population import Population, ReweightInfo

N, T = 2, 2
P0 = np.array([0.25, 0.75])
P = np.array([[0.5, 0.5], [0.25, 0.75]])
G = np.array([[1.0, 3.0], [3.0, 1.0]])  # g_t(y_t | x) for x = 0, 1
GRID = np.array([1, 3, 5, 7]) / 8.0  # the tape's uniforms, each with probability 1/4
FALSE_FAILURE = 1e-6


def _model():
    p0 = jnp.asarray(P0)
    p_stay0 = jnp.asarray(P[:, 0])

    def init(key, n, tape):
        return (tape[0] >= p0[0]).astype(tape.dtype)

    def trans(key, x, t, tape):
        return (tape[t] >= p_stay0[x.astype(jnp.int32)]).astype(tape.dtype)

    def obs(y, x, t, tape):
        return jnp.take(y, x.astype(jnp.int32))

    return StateSpaceModel(init, trans, obs)


MODEL = _model()  # one object: the filter's jit cache is keyed on it

def _forward():
    pred, lz, out = P0, 0.0, []
    for t in range(T):
        joint = pred * G[t]
        lz += np.log(joint.sum())
        post = joint / joint.sum()
        out.append((np.exp(lz), post[1]))
        pred = post @ P
    return out


def _grid_law(w, method):
    """Exact law of the offspring counts of particle 0 (N = M = 2), from textbook schemes."""
    u = (np.arange(64) + 0.5) / 64  # no breakpoint of a quarter-valued cumsum lies inside a cell
    c0 = w[0]
    law: dict = {}

    def add(count, p):
        law[count] = law.get(count, 0.0) + p

    if method == "systematic":
        for ui in u:
            add(int(ui / 2 < c0) + int((ui + 1) / 2 < c0), 1 / 64)
    elif method == "stratified":
        for ua, ub in itertools.product(u, u):
            add(int(ua / 2 < c0) + int((ub + 1) / 2 < c0), 1 / 64**2)
    elif method == "multinomial":
        for ua, ub in itertools.product(u, u):
            add(int(ua < c0) + int(ub < c0), 1 / 64**2)
    elif method == "residual":
        floors = np.floor(2 * w)
        resid = 2 * w - floors
        r = 2 - int(floors.sum())
        q0 = resid[0] / resid.sum() if r else 0.0
        for ua, ub in itertools.product(u, u):
            draws = [ua, ub][:r]
            add(int(floors[0]) + sum(int(d < q0) for d in draws), 1 / 64**2)
    return {k: v for k, v in law.items() if v > 0}


def _run(tape, key, method, threshold):
    res = particle_filter(key, MODEL, jnp.asarray(np.log(G)), N, theta=jnp.asarray(tape),
                          resampling=method, ess_threshold=threshold, return_history=True)
    return res


def enumerate_public_filter(method, threshold, num_search_keys=64):
    """Exact ``E[Z_hat_t]`` and ``E[Z_hat_t * sum_i W_t^i X_t^i]`` of the public filter."""
    with enable_x64(True):
        ez, ephi = np.zeros(T), np.zeros(T)
        for u0 in itertools.product(GRID, repeat=N):
            x0 = (np.asarray(u0) >= P0[0]).astype(int)
            w = G[0, x0] / G[0, x0].sum()
            ess = 1.0 / np.sum(w**2)
            if ess < threshold * N or threshold >= 1.0:
                law = _grid_law(w, method)
            else:
                law = {1: 1.0}  # no resampling: identity ancestors
            keys: dict = {}
            for s in range(num_search_keys):  # a key realizing every possible offspring vector
                if set(keys) >= set(law):
                    break
                tape = np.array([u0, [GRID[0]] * N])
                anc = np.asarray(_run(tape, jax.random.key(s), method, threshold).ancestors[1])
                count = int(np.sum(anc == 0))
                assert count in law, f"{method}: offspring count {count} has probability 0 (weights {w})"
                keys.setdefault(count, jax.random.key(s))
            missing = set(law) - set(keys)
            assert not missing, f"{method}: no key among {num_search_keys} gives offspring counts {missing}"
            for u1 in itertools.product(GRID, repeat=N):
                p_tape = 0.25 ** (2 * N)
                tape = np.array([u0, u1])
                for count, p_anc in law.items():
                    res = _run(tape, keys[count], method, threshold)
                    z = np.exp(np.cumsum(np.asarray(res.log_evidence_increments)))
                    z[-1] = np.exp(float(res.log_evidence))  # Z_hat_T as reported, not rebuilt from increments
                    ez += p_tape * p_anc * z
                    ephi += p_tape * p_anc * z * np.asarray(res.filtering_means)
    return ez, ephi


def _errors(ez, ephi):
    exact = _forward()
    z = np.array([e[0] for e in exact])
    m = np.array([e[1] for e in exact])
    return np.max(np.abs(ez / z - 1.0)), np.max(np.abs(ephi / z - m))


@pytest.fixture
def fresh_jit():
    """Monkeypatched module globals are only seen by a fresh trace: clear JAX's caches around the test."""
    jax.clear_caches()
    yield
    jax.clear_caches()


CASES = [(m, 1.0) for m in ("systematic", "stratified", "multinomial", "residual")] + [
    ("systematic", 0.9), ("multinomial", 0.9), ("systematic", 0.0)]


@pytest.mark.parametrize("method,threshold", CASES)
def test_public_filter_exact(method, threshold):
    """E[Z_hat_t] = Z_t and proper weighting, exactly, for the shipped filter and resampler."""
    ez, ephi = enumerate_public_filter(method, threshold)
    err_z, err_phi = _errors(ez, ephi)
    assert err_z < 1e-10 and err_phi < 1e-10, (err_z, err_phi)


def _offspring_frequencies(method, w, num_keys=4000):
    lw = jnp.log(jnp.asarray(w, jnp.float32))
    keys = jax.random.split(jax.random.key(2026), num_keys)
    anc = jax.vmap(lambda k: probinf.resample(k, lw, method=method))(keys)
    counts = np.asarray(jnp.sum(anc == 0, axis=1))
    return {c: float(np.mean(counts == c)) for c in range(N + 1)}


def _law_z_max(method):
    """Largest |z| of the empirical offspring law against the exact one (or inf on an impossible outcome)."""
    zmax = 0.0
    for w in ([0.25, 0.75], [0.5, 0.5], [0.75, 0.25]):
        w = np.asarray(w)
        law = _grid_law(w, method)
        freq = _offspring_frequencies(method, w)
        for c, f in freq.items():
            p = law.get(c, 0.0)
            if p in (0.0, 1.0):
                if f != p:
                    return np.inf
                continue
            zmax = max(zmax, abs(f - p) / np.sqrt(p * (1 - p) / 4000))
    return zmax


# 4 schemes x 3 weight vectors x 3 outcomes, two-sided.
Z_CRIT = float(norm.isf(FALSE_FAILURE / (2 * 4 * 3 * 3)))


@pytest.mark.parametrize("method", ["systematic", "stratified", "multinomial", "residual"])
def test_key_driven_offspring_law(method):
    """The key-driven draws have the exact offspring law (binomial z-tests, false-failure rate 1e-6 in all)."""
    assert _law_z_max(method) < Z_CRIT


def _broken_reweight(population, log_increment):
    # Planted bug: the evidence gains log mean G, ignoring the carried weights W.
    lw = population.log_weights + log_increment
    lse = jax.scipy.special.logsumexp(lw)
    inc = jax.scipy.special.logsumexp(log_increment) - jnp.log(log_increment.shape[0])
    new = Population(population.particles, lw - lse, population.log_evidence + inc)
    return new, ReweightInfo(inc, new.ess, jnp.isfinite(lse))


def test_negative_control_wrong_evidence_increment(monkeypatch, fresh_jit):
    """The filter's own reweighting with a wrong increment is rejected far beyond rounding."""
    monkeypatch.setattr(probinf.filtering, "reweight", _broken_reweight)
    monkeypatch.setattr(probinf.filtering_steps, "reweight", _broken_reweight)
    # the pure-JAX path (the CPU kernel, which does not call reweight, is checked below)
    monkeypatch.setattr(probinf.filtering_steps, "reweight_summaries", lambda lw, g, reference: reference())
    ez, ephi = enumerate_public_filter("systematic", 0.0)
    err_z, _ = _errors(ez, ephi)
    assert err_z > 1e-2


def test_negative_control_wrong_increment_in_the_kernel_path(monkeypatch, fresh_jit):
    """The same through the outputs of reweight_summaries, the block both paths go through."""
    orig = probinf.filtering_steps.reweight_summaries

    def broken(lw, g, reference):
        lw2, w, lse, ess, valid = orig(lw, g, reference)
        return lw2, w, lse + 0.05, ess, valid

    monkeypatch.setattr(probinf.filtering_steps, "reweight_summaries", broken)
    ez, ephi = enumerate_public_filter("systematic", 0.0)
    err_z, _ = _errors(ez, ephi)
    assert err_z > 1e-2


@pytest.mark.slow
def test_negative_control_off_by_one_integer_draw(monkeypatch, fresh_jit):
    """An off-by-one in the integer part of the multinomial / residual targets is rejected."""
    orig = probinf.resampling._uniform_targets
    monkeypatch.setattr(probinf.resampling, "_uniform_targets",
                        lambda key, m, upper, dtype: orig(key, m, upper - 1, dtype))
    assert _law_z_max("multinomial") > 3 * Z_CRIT
    monkeypatch.setattr(probinf.resampling, "_uniform_targets",
                        lambda key, m, upper, dtype: orig(key, m, upper + 1, dtype))
    assert _law_z_max("multinomial") > 3 * Z_CRIT
    assert _law_z_max("residual") > 3 * Z_CRIT


def test_negative_control_offspring_law_machinery():
    """The exact law used above is not vacuous: a wrong scheme's law differs from the right one."""
    w = np.array([0.25, 0.75])
    assert _grid_law(w, "systematic") != _grid_law(w, "multinomial")
    for method in ("systematic", "stratified", "multinomial", "residual"):
        np.testing.assert_allclose(sum(_grid_law(w, method).values()), 1.0)
