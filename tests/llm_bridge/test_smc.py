"""The LLM filter's SMC step (llm_bridge/algorithms/smc.py): exact weight bookkeeping of each resampling
mode, unbiased offspring, and the filter with finished particles left out of resampling against the exact
target, with a negative control that drops the active particles' weight in the SHIPPED step."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import llm_bridge.algorithms.smc as smc
from llm_bridge.algorithms import ParticleFiltering, StepConfig, log_potential
from llm_bridge.testing import FakeBackend, FakePRM, MarkovStepProcess, exact_target, symbols_of

N = 16


def _step(lw, active, mode, seed=0, method="multinomial", resampling="every"):
    pop = smc._init_population(np.arange(len(lw), dtype=np.int32))
    key, pop, info = smc.smc_step(jax.random.key(seed), pop, np.asarray(lw, np.float32), np.asarray(active),
                                  resampling=resampling, threshold=0.5, method=method, mode=mode)
    info = np.asarray(info)
    return np.asarray(pop.log_weights, float), info[: len(lw)], bool(info[len(lw)]), float(pop.log_evidence)


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

    def dropped(key, population, slots, source, method, keep_total):
        pop, anc = original(key, population, slots, source, method, keep_total)
        if keep_total:
            n = population.num_particles
            pop = pop._replace(log_weights=jax.numpy.where(slots, -jax.numpy.log(n), pop.log_weights))
        return pop, anc

    monkeypatch.setattr(smc, "_into_slots", dropped)
    jax.clear_caches()  # smc_step is compiled: retrace it with the patched block
    try:
        t, cells, r = _replicate_t()
    finally:
        monkeypatch.undo()
        jax.clear_caches()
    assert t > _bound(cells, r)
