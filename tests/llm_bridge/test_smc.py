"""The LLM filter's SMC step (llm_bridge/algorithms/smc.py): exact weight bookkeeping of each resampling
mode, unbiased offspring, and the filter with finished particles left out of resampling against the exact
target, with a negative control that drops the active particles' weight in the SHIPPED step."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import llm_bridge.algorithms.smc as smc
from llm_bridge.algorithms import ParticleFiltering, StepConfig, log_potential
from llm_bridge.testing import FakeBackend, FakePRM, MarkovStepProcess, exact_target, symbols_of

N = 16


def _step(lw, active, mode, seed=0, method="multinomial", resampling="every"):
    n = len(lw)
    out = smc.smc_step(np.random.default_rng(seed), np.full(n, -np.log(n)), 0.0, np.asarray(lw, float),
                       np.asarray(active), resampling=resampling, threshold=0.5, method=method, mode=mode)
    return out.log_weights, out.ancestors, out.resampled, out.log_evidence


@pytest.mark.parametrize("tau", [0.25, 0.5, 1.0, 3.0])
def test_log_potential_is_the_papers_softmax_temperature(tau):
    """softmax(logit(r) / tau): resampling probabilities proportional to (r / (1 - r)) ** (1 / tau), in closed
    form, with r clipped to [1e-6, 1 - 1e-6] (tau = 1 alone cannot tell dividing by tau from multiplying)."""
    r = np.array([0.2, 0.5, 0.75, 0.9])
    np.testing.assert_allclose(log_potential(r, tau), np.log((r / (1 - r)) ** (1 / tau)), rtol=1e-12, atol=1e-15)
    probs = np.exp(log_potential(r, tau) - logsumexp(log_potential(r, tau)))
    odds = (r / (1 - r)) ** (1 / tau)
    np.testing.assert_allclose(probs, odds / odds.sum(), rtol=1e-12)
    lo = 1e-6
    assert log_potential(0.0, tau) == pytest.approx(np.log(lo / (1 - lo)) / tau, rel=1e-9)
    # rel=1e-9: 1 - (1 - lo) is not exactly lo in floating point
    assert log_potential(1.0, tau) == pytest.approx(-np.log(lo / (1 - lo)) / tau, rel=1e-9)


@pytest.mark.parametrize("method", ["multinomial", "systematic", "stratified", "residual"])
def test_active_mode_keeps_the_active_total_and_the_finished_weights(method):
    rng = np.random.default_rng(0)
    for seed in range(5):
        lw = rng.normal(size=N)
        active = rng.random(N) < 0.6
        active[0] = True
        new_lw, anc, resampled, log_z = _step(lw, active, "active", seed, method)
        before = lw - logsumexp(lw)
        assert resampled
        np.testing.assert_allclose(new_lw[~active], before[~active], atol=1e-5)  # finished keep theirs
        np.testing.assert_allclose(logsumexp(new_lw[active]), logsumexp(before[active]), atol=1e-5)  # total kept
        np.testing.assert_allclose(new_lw[active], new_lw[active][0], atol=1e-6)  # shared equally
        assert np.array_equal(anc[~active], np.flatnonzero(~active))  # finished slots keep their particle
        assert active[anc[active]].all()  # active slots draw from the active particles only
        np.testing.assert_allclose(log_z, logsumexp(lw) - np.log(N), atol=1e-5)  # evidence: log mean weight


def test_reference_mode_keeps_slot_zero_and_resets_weights():
    lw = np.linspace(-3, 3, N)
    new_lw, anc, resampled, _ = _step(lw, np.ones(N, bool), "reference")
    assert resampled and anc[0] == 0
    np.testing.assert_allclose(new_lw, -np.log(N), atol=1e-6)


def test_no_resampling_without_active_particles_or_trigger():
    lw = np.linspace(-3, 3, N)
    for active, resampling in ((np.zeros(N, bool), "every"), (np.ones(N, bool), "never")):
        new_lw, anc, resampled, _ = _step(lw, active, "all", resampling=resampling)
        assert not resampled and np.array_equal(anc, np.arange(N))
        np.testing.assert_allclose(new_lw, lw - logsumexp(lw), atol=1e-5)


def test_active_mode_offspring_are_unbiased():
    # E[count_i] = K w_i / sum_active w (K active slots); multinomial counts: Var = R K p (1 - p) over R draws.
    lw = np.log(np.array([4, 1, 1, 2, 0.5, 3, 1, 1, 2, 1, 1, 1, 5, 1, 1, 1], float))
    active = np.zeros(N, bool)
    active[[0, 2, 3, 5, 8, 12, 13]] = True
    R = 400
    counts = np.zeros(N)
    for seed in range(R):
        counts += np.bincount(_step(lw, active, "active", seed)[1][active], minlength=N)
    k = active.sum()
    p = np.where(active, np.exp(lw), 0) / np.exp(lw[active]).sum()
    z = (counts - R * k * p)[active] / np.sqrt(R * k * p[active] * (1 - p[active]))
    assert np.abs(z).max() < stats.norm.isf(1e-3 / (2 * k))  # Bonferroni, family false-failure rate 1e-3


# ---------------------------------------------------------------------------- filter level
def _mild_prm(proc):
    return FakePRM(proc, reward=[[0.8, 0.5, 0.4], [0.7, 0.6, 0.4], [0.6, 0.4, 0.3]], reward_first=[0.7, 0.5, 0.4])


def _replicate_t(num_particles=2048, replicates=12):
    """Max |t| over answer lengths of the mean weighted estimate of R independent runs against the exact
    target's length distribution (t with R - 1 degrees of freedom: the standard error is estimated from the
    replicates).  Lengths pool the answers, where dropping the active weight shifts mass between particles
    that finished early and late."""
    proc = MarkovStepProcess.default()  # variable length: finished particles sit in the pool
    prm = _mild_prm(proc)
    target = {}
    for k, v in exact_target(proc, prm, log_potential=log_potential, potential="twisted").items():
        target[len(k)] = target.get(len(k), 0.0) + v
    pf = ParticleFiltering(step=StepConfig(temperature=1.0), aggregation="last", potential="twisted",
                           resample_finished=False)
    est = np.zeros((replicates, len(target)))
    keys = list(target)
    for r in range(replicates):
        res = pf.infer(FakeBackend(proc), prm, "Q:\n", budget=num_particles, seed=100 + r)
        assert any(0 < h["active"] < num_particles and h["resampled"] for h in res.history)
        w = np.exp(res.log_weights)
        for p, wi in zip(res.particles, w, strict=True):
            est[r, keys.index(len(symbols_of("".join(p.steps))))] += wi
    se = est.std(axis=0, ddof=1) / np.sqrt(replicates)
    t = (est.mean(axis=0) - np.array([target[k] for k in keys])) / se
    return np.abs(t).max(), len(keys), replicates


def _bound(cells, replicates):
    return stats.t.isf(1e-3 / (2 * cells), replicates - 1)  # Bonferroni over lengths, family rate 1e-3


@pytest.mark.slow
def test_filter_without_resampling_finished_particles_matches_exact_target():
    t, cells, r = _replicate_t()
    assert t < _bound(cells, r)


@pytest.mark.slow
def test_dropping_the_active_weight_is_detected(monkeypatch):
    # Negative control on the SHIPPED step: active particles resampled among themselves get weight 1/N
    # each instead of sharing their total (the finished ones keep theirs).
    original = smc._into_slots

    def dropped(rng, log_weights, slots, source, method, keep_total):
        anc, lw = original(rng, log_weights, slots, source, method, keep_total)
        if keep_total:
            lw = np.where(slots, -np.log(len(lw)), lw)
        return anc, lw

    monkeypatch.setattr(smc, "_into_slots", dropped)
    t, cells, r = _replicate_t()
    assert t > _bound(cells, r)


# ---------------------------------------------------------------------------- the host step is the core's blocks
@pytest.mark.parametrize("method", ["multinomial", "systematic", "stratified", "residual"])
def test_host_step_equals_the_jax_blocks_for_the_same_uniforms(method):
    """mode "all": the step's weights, evidence, ESS and ancestors equal probinf's JAX reweight / ESS / resampling
    blocks driven by the uniforms the step drew (a generator with the same seed replays them)."""
    import jax
    import jax.numpy as jnp

    from probinf._compat import enable_x64
    from probinf.host import host_uniforms
    from probinf.population import Population, reweight
    from probinf.resampling import RESAMPLING_FROM_UNIFORMS

    rng = np.random.default_rng(5)
    lw0 = rng.normal(size=64)
    lw0 -= logsumexp(lw0)
    for seed in range(3):
        inc = rng.normal(scale=2.0, size=64)
        out = smc.smc_step(np.random.default_rng(seed), lw0, -1.5, inc, np.ones(64, bool), resampling="every",
                           threshold=0.5, method=method, mode="all")
        u = host_uniforms(np.random.default_rng(seed), 64, method)
        with enable_x64(True):
            pop, info = jax.jit(reweight)(Population(jnp.zeros(64), jnp.asarray(lw0), jnp.asarray(-1.5)),
                                          jnp.asarray(inc))
            anc = RESAMPLING_FROM_UNIFORMS[method](pop.log_weights, 64, jnp.asarray(u))
            assert out.log_evidence == pytest.approx(float(pop.log_evidence), rel=1e-12)
            assert out.ess == pytest.approx(float(info.ess), rel=1e-12)
            np.testing.assert_array_equal(out.ancestors, np.asarray(anc))
        assert out.resampled
        np.testing.assert_allclose(out.log_weights, -np.log(64), rtol=1e-15)


def test_advance_equals_score_of_extend():
    """Session.advance builds each particle once; same backend and PRM calls, same particles, as the two steps."""
    from llm_bridge.algorithms.particle import Particle
    from llm_bridge.algorithms.session import Session

    proc = MarkovStepProcess.default()
    outs = []
    for fused in (False, True):
        be, prm = FakeBackend(proc), _mild_prm(proc)
        s = Session(be, prm, "Q:\n", config=StepConfig(), aggregation="last", key=11)
        ps = [Particle() for _ in range(12)]
        for t in range(4):
            skip = (0,) if t == 2 else ()
            if fused:
                ps = s.advance(ps, skip=skip)
            else:
                ext = s.extend(ps, skip=skip)
                ps = [ext[0]] + s.score(ext[1:]) if skip else s.score(ext)
        outs.append((ps, s.usage.as_dict(), [(c["prompts"], c["n"], c["seed"]) for c in be.calls]))
    (p0, u0, c0), (p1, u1, c1) = outs
    assert p0 == p1 and u0 | {"backend_seconds": 0, "reward_seconds": 0} == u1 | {"backend_seconds": 0,
                                                                                    "reward_seconds": 0}
    assert c0 == c1
    assert any(p.done for p in p1) and any(len(p.rewards) == 4 for p in p1)
    assert len(p1[0].rewards) == 3  # slot 0 was skipped once: neither extended nor scored at that step


def test_make_particle_equals_the_constructor():
    from llm_bridge.algorithms.particle import Particle, make_particle

    args = (("<a>", "<b>"), True, "eos", 7, -1.25, (0.5, 0.75))
    p, q = make_particle(*args), Particle(*args)
    assert p == q and hash(p) == hash(q) and repr(p) == repr(q)
    with pytest.raises(AttributeError):
        p.done = False  # still frozen


def test_key_stream_same_seed_same_stream_int_or_key():
    import jax

    from llm_bridge.algorithms.randomness import KeyStream

    def draws(k):
        s = KeyStream(k)
        return [s.next_seed(), s.integers(10), s.random(), *s.generator().random(3).tolist()]

    for seed in (0, 7, 2**32 - 1):
        assert draws(seed) == draws(seed) == draws(jax.random.key(seed)) == draws(
            jax.random.key_data(jax.random.key(seed)))
    assert len({tuple(draws(s)) for s in (1, 2, 2**32 + 1, 2**40 + 1)}) == 4  # high bits are kept
    s = KeyStream(3)
    assert s.generator() is s.generator()
    with pytest.raises(TypeError, match="seed"):
        KeyStream(1.5)
