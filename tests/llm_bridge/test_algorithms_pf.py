"""Particle filtering on the fake Markov step process: exact targets, freezing, ESS, determinism, failures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _smc_variance import filter_law

from llm_bridge.algorithms import ParticleFiltering, StepConfig, log_potential
from llm_bridge.exceptions import BackendRequestError, InvalidRewardError, MalformedOutputError
from llm_bridge.testing import FakeBackend, FakePRM, MarkovStepProcess, exact_target, symbols_of

N_BIG = 8192
T1 = StepConfig(temperature=1.0)


def _weighted_dist(res):
    w = np.exp(res.log_weights)
    out: dict = {}
    for p, wi in zip(res.particles, w, strict=True):
        k = tuple(symbols_of("".join(p.steps)))
        out[k] = out.get(k, 0.0) + wi
    return out


def _max_z(est, target, n, sigma2):
    # Per-cell z-scores with the filter's exact asymptotic variance sigma2(cell) / n, derived by
    # enumeration (tests/llm_bridge/_smc_variance.py), not measured.
    return max(abs(est.get(k, 0.0) - p) / math.sqrt(sigma2(k) / n) for k, p in target.items())


def _law(proc, prm, potential, resampling, target, tokens=False, res=None):
    law, sigma2, starts = filter_law(proc, prm, log_potential, potential=potential, resampling=resampling,
                                     tokens=tokens)
    assert law == pytest.approx(target, abs=1e-12)  # the enumeration's limit is the exact target
    if res is not None:  # the run resampled where the limit ESS does, so sigma2 is the variance of this run
        assert [h["step"] + 1 for h in res.history if h["resampled"]] == starts[1:]
    return sigma2


# Bound: 27-36 cells, Bonferroni at family alpha 1e-3 -> |z| < 4.5 (two-sided normal quantile 1 - 1e-3/72).
Z = 4.5


@pytest.mark.parametrize("resampling", ["every", "ess"])
def test_pf_step_potential_matches_exact_target(resampling):
    proc = MarkovStepProcess.default(fixed_length=3)
    prm = FakePRM(proc)
    pf = ParticleFiltering(step=T1, aggregation="last", resampling=resampling)
    res = pf.infer(FakeBackend(proc), prm, "Q:\n", budget=N_BIG, seed=1)
    lp = lambda r: log_potential(r, 1.0)  # noqa: E731
    step_t = exact_target(proc, prm, log_potential=lp, potential="step")
    twisted_t = exact_target(proc, prm, log_potential=lp, potential="twisted")
    est = _weighted_dist(res)
    sigma2 = _law(proc, prm, "step", resampling, step_t, res=res)
    assert _max_z(est, step_t, N_BIG, sigma2) < Z
    # negative control: the other weighting's target differs visibly and is rejected
    assert _max_z(est, twisted_t, N_BIG, sigma2) > 10 * Z


def _mild_prm(proc):
    # Rewards in [0.3, 0.8]: intermediate twisted targets stay close to the final one, so the
    # SMC variance inflation stays small (with tau=0.5 and rewards in [0.1, 0.9] some paths
    # need e^8.8 weight ratios and the filter, although consistent, degenerates at N=1e4).
    return FakePRM(proc, reward=[[0.8, 0.5, 0.4], [0.7, 0.6, 0.4], [0.6, 0.4, 0.3]], reward_first=[0.7, 0.5, 0.4])


@pytest.mark.parametrize("resampling", ["every", "ess"])
def test_pf_twisted_variable_length_matches_exact_target(resampling):
    proc = MarkovStepProcess.default()  # variable length 1..4: frozen particles in the pool
    prm = _mild_prm(proc)
    pf = ParticleFiltering(step=T1, aggregation="last", potential="twisted", resampling=resampling)
    res = pf.infer(FakeBackend(proc), prm, "Q:\n", budget=N_BIG, seed=2)
    target = exact_target(proc, prm, log_potential=log_potential, potential="twisted")
    est = _weighted_dist(res)
    sigma2 = _law(proc, prm, "twisted", resampling, target, res=res)
    assert _max_z(est, target, N_BIG, sigma2) < Z
    p_model = dict(proc.trajectories())  # negative control: the unweighted model is rejected
    assert _max_z(est, p_model, N_BIG, sigma2) > 2 * Z


def test_token_count_steps_match_the_delimiter_target():
    proc = MarkovStepProcess.default()
    prm = _mild_prm(proc)
    pf = ParticleFiltering(step=StepConfig(temperature=1.0, tokens_per_step=1, max_steps=16), aggregation="last",
                           potential="twisted")
    res = pf.infer(FakeBackend(proc), prm, "Q:\n", budget=N_BIG, seed=3)
    assert all(p.done and p.finish_reason == "eos" for p in res.particles)
    target = exact_target(proc, prm, log_potential=log_potential, potential="twisted")
    sigma2 = _law(proc, prm, "twisted", "every", target, tokens=True, res=res)
    assert _max_z(_weighted_dist(res), target, N_BIG, sigma2) < Z


def _terminal_process():
    # "z" ends the answer with certainty, so any prompt containing "<z>" continues a finished text
    return MarkovStepProcess(symbols=("a", "b", "z"), init=(0.4, 0.4, 0.2),
                             trans=((0.4, 0.3, 0.3), (0.3, 0.4, 0.3), (0.3, 0.3, 0.4)),
                             p_end=(0.0, 0.0, 1.0), max_len=5)


@pytest.mark.parametrize("resample_finished", [True, False])
def test_finished_particles_are_frozen_and_kept(resample_finished):
    proc = _terminal_process()
    be = FakeBackend(proc)
    prm = FakePRM(proc, reward=[[0.6, 0.5, 0.9], [0.5, 0.4, 0.8], [0.5, 0.5, 0.5]], reward_first=[0.5, 0.5, 0.7])
    res = ParticleFiltering(step=T1, resample_finished=resample_finished).infer(be, prm, "Q:\n", budget=64, seed=0)
    assert be.extended_finished == 0  # no prompt ever continued a finished text
    assert len(res.particles) == 64 and all(p.done for p in res.particles)
    assert any(0 < h["active"] < 64 for h in res.history)  # finished ones sat in the pool
    assert abs(np.exp(res.log_weights).sum() - 1) < 1e-9


def test_frozen_negative_control_detects_extension():
    be = FakeBackend(_terminal_process())
    be.generate(["Q:\n<a>\n\n"], n=1, stop=["\n\n"], seed=1)
    assert be.extended_finished == 0
    be.generate(["Q:\n<z>\n\n"], n=1, stop=["\n\n"], seed=1)
    assert be.extended_finished == 1


def test_ess_trigger_fires_only_below_threshold():
    proc = MarkovStepProcess.default(fixed_length=4)
    for thr in (0.3, 0.6, 0.9):
        res = ParticleFiltering(step=T1, resampling="ess", ess_threshold=thr).infer(
            FakeBackend(proc), FakePRM(proc), "Q:\n", budget=32, seed=4)
        for h in res.history:
            assert h["resampled"] == (h["ess"] < thr * 32 and h["active"] > 0)
    res = ParticleFiltering(step=T1, resampling="every").infer(FakeBackend(proc), FakePRM(proc), "Q:\n", budget=32,
                                                               seed=4)
    assert all(h["resampled"] == (h["active"] > 0) for h in res.history)
    res = ParticleFiltering(step=T1, resampling="never").infer(FakeBackend(proc), FakePRM(proc), "Q:\n", budget=32,
                                                               seed=4)
    assert not any(h["resampled"] for h in res.history)


def test_same_seed_same_result_and_seed_matters():
    proc = MarkovStepProcess.default()
    run = lambda s: ParticleFiltering(final="sample").infer(  # noqa: E731
        FakeBackend(proc), FakePRM(proc, noise=0.1), "Q:\n", budget=16, seed=s)
    a, b, c = run(5), run(5), run(6)
    assert [p.steps for p in a.particles] == [p.steps for p in b.particles]
    assert a.text == b.text and np.array_equal(a.log_weights, b.log_weights)
    assert [p.steps for p in a.particles] != [p.steps for p in c.particles]


def test_budget_accounting_is_exact():
    proc = MarkovStepProcess.default()
    be, prm = FakeBackend(proc), FakePRM(proc)
    res = ParticleFiltering().infer(be, prm, "Q:\n", budget=32, seed=0)
    u = res.usage
    assert u.generate_calls == len(be.calls)
    assert u.generations == sum(len(c["prompts"]) * c["n"] for c in be.calls)
    assert u.tokens == be.tokens_out
    assert u.reward_calls == len(prm.calls)
    assert u.reward_scores == sum(c["num"] for c in prm.calls)
    assert u.reward_steps == sum(len(s) for c in prm.calls for s in c["steps"])


def test_generations_equal_active_particles_per_step():
    proc = MarkovStepProcess.default()
    be = FakeBackend(proc)
    res = ParticleFiltering(resampling="never").infer(be, FakePRM(proc), "Q:\n", budget=32, seed=0)
    before = [32] + [h["active"] for h in res.history[:-1]]
    assert res.usage.generations == sum(before)
    # model aggregation sends the whole answer as one step: one step score per partial answer
    assert res.usage.reward_steps == res.usage.reward_scores


def test_backend_failure_is_retried_without_losing_particles():
    proc = MarkovStepProcess.default()
    clean = ParticleFiltering().infer(FakeBackend(proc), FakePRM(proc), "Q:\n", budget=16, seed=7)
    be = FakeBackend(proc, fail_calls={1, 2, 4})
    prm = FakePRM(proc, fail_calls={0})
    res = ParticleFiltering().infer(be, prm, "Q:\n", budget=16, seed=7)
    assert [p.steps for p in res.particles] == [p.steps for p in clean.particles]
    assert res.text == clean.text
    assert res.usage.retries == 4
    assert res.usage.generations == clean.usage.generations


def test_backend_failure_beyond_retries_raises_clearly():
    proc = MarkovStepProcess.default()
    be = FakeBackend(proc, fail_calls={0, 1})
    with pytest.raises(BackendRequestError, match="after 2 attempts"):
        ParticleFiltering(step=StepConfig(retries=1)).infer(be, FakePRM(proc), "Q:\n", budget=4, seed=0)


@pytest.mark.parametrize("invalid", ["nan", "range", "count"])
def test_invalid_prm_output_raises(invalid):
    proc = MarkovStepProcess.default()
    with pytest.raises(InvalidRewardError):
        ParticleFiltering(aggregation="last").infer(
            FakeBackend(proc), FakePRM(proc, invalid=invalid), "Q:\n", budget=4, seed=0)


def test_malformed_backend_output_raises():
    proc = MarkovStepProcess.default()
    with pytest.raises(MalformedOutputError, match="results for"):
        ParticleFiltering().infer(FakeBackend(proc, malformed_calls={0}), FakePRM(proc), "Q:\n", budget=4, seed=0)


@pytest.mark.parametrize(
    "kwargs, budget, prompt, exc",
    [
        ({}, 0, "Q", ValueError),
        ({}, -3, "Q", ValueError),
        ({}, 2.5, "Q", TypeError),
        ({}, 4, "", ValueError),
        ({}, 4, "   ", ValueError),
        ({}, 4, None, TypeError),
        ({"tau": 0.0}, 4, "Q", ValueError),
        ({"resampling": "sometimes"}, 4, "Q", ValueError),
        ({"method": "bogus"}, 4, "Q", ValueError),
        ({"final": "best"}, 4, "Q", ValueError),
        ({"aggregation": "median"}, 4, "Q", ValueError),
        ({"step": StepConfig(delimiter="")}, 4, "Q", ValueError),
        ({"step": StepConfig(max_steps=0)}, 4, "Q", ValueError),
    ],
)
def test_bad_input_is_rejected(kwargs, budget, prompt, exc):
    proc = MarkovStepProcess.default()
    with pytest.raises(exc):
        ParticleFiltering(**kwargs).infer(FakeBackend(proc), FakePRM(proc), prompt, budget=budget, seed=0)


def test_pf_without_prm_is_rejected():
    proc = MarkovStepProcess.default()
    with pytest.raises(ValueError, match="reward model"):
        ParticleFiltering().infer(FakeBackend(proc), None, "Q", budget=4)
