"""Baselines (BoN, WBoN, majority, BoM, beam, DVTS), voting rules and the method registry."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_bridge.algorithms import (
    DVTS,
    METHODS,
    BeamSearch,
    BestOfMajority,
    BestOfN,
    SelfConsistency,
    StepConfig,
    WeightedBestOfN,
    best_of_majority,
    get_method,
    majority_index,
    weighted_index,
)
from llm_bridge.testing import FakeBackend, FakePRM, MarkovStepProcess, answer_of

PROC = MarkovStepProcess.default()


def _run(algo, budget=16, seed=0, prm=True):
    be = FakeBackend(PROC)
    p = FakePRM(PROC, noise=0.2) if prm else None
    return algo.infer(be, p, "Q:\n", budget=budget, seed=seed), be, p


def test_best_of_n_picks_the_highest_reward():
    res, be, prm = _run(BestOfN(answer_fn=answer_of))
    r = [p.reward for p in res.particles]
    assert res.particles[res.index].reward == max(r)
    assert len(res.particles) == 16 and all(p.done for p in res.particles)
    assert res.usage.reward_calls == 1  # complete answers scored once, in one batch
    assert res.usage.generations == sum(len(c["prompts"]) * c["n"] for c in be.calls)


def test_weighted_bon_and_majority_follow_their_rules():
    res, _, _ = _run(WeightedBestOfN(answer_fn=answer_of))
    answers = [answer_of("".join(p.steps)) for p in res.particles]
    tot = Counter()
    for a, p in zip(answers, res.particles, strict=True):
        tot[a] += p.reward
    assert res.answer == max(tot, key=tot.get)
    res, _, _ = _run(SelfConsistency(answer_fn=answer_of), prm=False)
    answers = [answer_of("".join(p.steps)) for p in res.particles]
    c = Counter(answers)
    assert c[res.answer] == max(c.values())
    assert res.usage.reward_calls == 0


def test_majority_converges_to_the_mode_of_the_answer_distribution():
    # exact answer distribution of the process: the mode must win w.p. -> 1 as N grows
    dist = Counter()
    for syms, p in PROC.trajectories():
        dist[syms[-1]] += p
    mode = max(dist, key=dist.get)
    res, _, _ = _run(SelfConsistency(answer_fn=answer_of, step=StepConfig(temperature=1.0)), budget=512, prm=False)
    assert res.answer == mode


def test_best_of_majority_submissions():
    res, _, _ = _run(BestOfMajority(answer_fn=answer_of, k=2, alpha=0.1))
    assert 1 <= len(res.submissions) <= 2
    assert len({answer_of(s) for s in res.submissions}) == len(res.submissions)


@pytest.mark.parametrize("cls", [BeamSearch, DVTS])
def test_search_methods_respect_budget_and_pick_complete_answers(cls):
    res, be, _ = _run(cls(beam_width=4, answer_fn=answer_of), budget=16)
    assert res.particles[res.index].done
    assert res.particles[res.index].reward == max(p.reward for p in res.particles)
    per_call = [len(c["prompts"]) * c["n"] for c in be.calls]
    assert max(per_call) <= 16  # never more than N candidates per step
    with pytest.raises(ValueError, match="multiple of 4"):
        cls(beam_width=4).infer(FakeBackend(PROC), FakePRM(PROC), "Q", budget=6)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_is_deterministic_given_the_seed(name):
    kw = {"answer_fn": answer_of}
    if name in ("pg",):
        kw["num_iterations"] = 2
    budget = 8
    a, _, _ = _run(get_method(name, **kw), budget=budget, seed=3)
    b, _, _ = _run(get_method(name, **kw), budget=budget, seed=3)
    assert a.text == b.text and [p.steps for p in a.particles] == [p.steps for p in b.particles]


def test_unknown_method_and_missing_prm():
    with pytest.raises(ValueError, match="unknown method"):
        get_method("mcts")
    with pytest.raises(ValueError, match="reward model"):
        BestOfN().infer(FakeBackend(PROC), None, "Q", budget=2)


@given(st.lists(st.sampled_from(["x", "y", "z", None]), min_size=1, max_size=20), st.data())
def test_voting_rules_properties(answers, data):
    w = data.draw(st.lists(st.floats(0, 1), min_size=len(answers), max_size=len(answers)))
    i = majority_index(answers)
    counts = Counter(a for a in answers if a is not None)
    if counts:
        assert counts[answers[i]] == max(counts.values())
    j = weighted_index(answers, w)
    assert 0 <= j < len(answers)
    # uniform weights: weighted majority == majority (as a set of winners)
    k = weighted_index(answers, np.ones(len(answers)))
    if counts:
        assert counts[answers[k]] == max(counts.values())
    subs = best_of_majority(answers, w, k=2, alpha=0.3)
    assert 1 <= len(subs) <= 2


def test_voting_bad_input():
    with pytest.raises(ValueError):
        majority_index([])
    with pytest.raises(ValueError):
        weighted_index(["a"], [np.nan])
    with pytest.raises(ValueError):
        best_of_majority(["a"], [1.0], k=0)
