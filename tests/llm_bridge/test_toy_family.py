"""Task family (split, nesting, difficulty knob), the trained step policy and its backend."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from llm_bridge.toy.family import Difficulty, family_problems, split_of
from llm_bridge.toy.step_backend import StepPolicyBackend
from llm_bridge.toy.step_policy import _OPS, _training_steps, load_step_policy
from llm_bridge.toy.task import format_prompt, grade, solution_text


@pytest.fixture(scope="module")
def policy():
    return load_step_policy()


def test_held_out_problems_are_disjoint_from_training():
    d = Difficulty(num_ops=5)
    test = family_problems(300, d, split="test", seed=0)
    train = family_problems(3000, Difficulty(num_ops=8), split="train", seed=1_000_003)  # the training stream
    assert all(split_of(p) == "test" for p in test)
    keys = lambda ps: {(p.start, p.ops[:2]) for p in ps}  # noqa: E731
    assert not keys(test) & keys(train)  # no shared start + first two operations, hence no shared problem
    assert not {format_prompt(p) for p in test} & {format_prompt(p) for p in train}


def test_training_rows_come_from_training_chains_only(monkeypatch):
    import llm_bridge.toy.step_policy as sp

    seen = []
    orig = sp.family_problems

    def spy(*a, **k):
        seen.append(k.get("split"))
        return orig(*a, **k)

    monkeypatch.setattr(sp, "family_problems", spy)
    rows = _training_steps(20, Difficulty(num_ops=3), seed=5)
    assert seen == ["train"] and rows.shape == (60, 4)


def test_chains_are_nested_in_num_ops_and_values_in_range():
    short = family_problems(50, Difficulty(num_ops=3, max_value=99), seed=2)
    long = family_problems(50, Difficulty(num_ops=7, max_value=99), seed=2)
    assert [(p.start, p.ops) for p in short] == [(p.start, p.ops[:3]) for p in long]
    assert all(0 <= v <= 99 for p in long for v in p.values)
    assert all(0 <= v <= 999 for p in family_problems(50, Difficulty(max_value=999), seed=2) for v in p.values)


def test_bad_difficulty_and_split_raise():
    with pytest.raises(ValueError, match="num_ops"):
        Difficulty(num_ops=0)
    with pytest.raises(ValueError, match="max_value"):
        Difficulty(max_value=5000)
    with pytest.raises(ValueError, match="split"):
        family_problems(1, split="validation")


def test_difficulty_is_monotone_in_chain_length(policy):
    """Exact success probability falls with the chain length (the shipped policy is trained on values up to 999,
    so the operand-size knob is not monotone for it: two-digit chains are not easier)."""
    means = [np.mean([policy.success_probability(p) for p in family_problems(40, Difficulty(num_ops=k), seed=3)])
             for k in (2, 4, 6)]
    assert means[0] > means[1] > means[2]


def test_answer_distribution_is_exact_against_enumeration(policy):
    """Two-step chain: enumerate every (r1, r2) pair of the policy and compare with the forward pass."""
    from llm_bridge.toy.task import ToyProblem

    p = ToyProblem(37, (("+", 15), ("*", 2)))
    t1 = policy.transition("+", 15)[37]
    t2 = policy.transition("*", 2)
    brute = np.zeros(1000)
    for r1 in np.flatnonzero(t1 > 0):
        brute += t1[r1] * t2[r1]
    np.testing.assert_allclose(policy.answer_distribution(p), brute, atol=1e-6)
    assert policy.answer_distribution(p).sum() == pytest.approx(1.0, abs=1e-6)


def test_chosen_setting_is_hard_enough(policy):
    """At the chosen setting (exact, 100 held-out problems): pass@64 with a perfect verifier <= 0.9 and greedy
    accuracy <= 0.5; the all-steps-right probability is a lower bound of the answer's."""
    ps = family_problems(100, Difficulty(), seed=0)
    on = np.array([policy.on_track_probability(p) for p in ps])
    s = np.array([policy.success_probability(p) for p in ps])
    assert np.mean(1 - (1 - s) ** 64) <= 0.9
    assert np.mean([policy.greedy_answer(p) == p.answer for p in ps]) <= 0.5
    assert np.all(s >= on - 1e-6) and np.mean(s) > 0.02  # solvable by sampling


def test_backend_frequencies_match_the_policy(policy):
    """Sampled first-step results follow the policy's probabilities (chi-square-free check: 4 SE)."""
    be = StepPolicyBackend(policy)
    out = be.generate(["37 +15\n"], n=4000, stop=["\n"], seed=1)[0]
    r = np.array([int(g.text.split("=")[1]) for g in out])
    p52 = float(np.exp(policy.result_logprob(37, _OPS["+"], 15, 52)[0]))
    se = math.sqrt(p52 * (1 - p52) / len(r))
    assert abs(np.mean(r == 52) - p52) < 4 * se + 1e-9
    g = out[0]
    assert g.finish_reason == "stop" and g.num_tokens == len(g.text) + 1
    assert g.logprob == pytest.approx(float(policy.result_logprob(37, 0, 15, int(g.text.split("=")[1]))[0]))


def test_backend_full_answers_score_and_grade(policy):
    be = StepPolicyBackend(policy)
    prompt = "12 +30 -7\n"
    full = be.generate([prompt], n=3, seed=0)[0]
    assert all(g.finish_reason == "eos" and g.text.splitlines()[-1].startswith("A: ") for g in full)
    for g in full:
        assert be.score([prompt], [g.text])[0] == pytest.approx(g.logprob, rel=1e-5)  # float32 weights
    from llm_bridge.toy.task import parse_prompt

    assert grade(parse_prompt(prompt), solution_text(parse_prompt(prompt)))
    assert be.score([prompt], ["12+30=42\n42-7=99\nA: 35"])[0] == -np.inf  # inconsistent answer line
    with pytest.raises(ValueError, match="cannot continue"):
        be.generate([prompt + "hello\n"], stop=["\n"])
    with pytest.raises(ValueError, match="top_p"):
        be.generate([prompt], top_p=0.9)
    a = be.generate([prompt], n=5, seed=3)
    b = be.generate([prompt], n=5, seed=3)
    assert [g.text for g in a[0]] == [g.text for g in b[0]]


@pytest.mark.parametrize("k", [1, 2, 5])
def test_sampled_success_rate_matches_exact_probability(policy, k):
    """Monte Carlo accuracy of full sampled answers agrees with success_probability within 4 SE."""
    ps = family_problems(1, Difficulty(num_ops=k), seed=11)
    p = ps[0]
    be = StepPolicyBackend(policy)
    out = be.generate([format_prompt(p)], n=3000, seed=k)[0]
    acc = np.mean([grade(p, g.text) for g in out])
    s = policy.success_probability(p)
    assert abs(acc - s) < 4 * math.sqrt(max(s * (1 - s), 1e-4) / 3000) + 1e-9


def test_nested_prompts_all_pass_split(policy):
    assert {split_of(p) for p in itertools.chain(family_problems(20, Difficulty(2), seed=0))} == {"test"}
