"""Budget accounting and reward aggregation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_bridge.aggregation import AGGREGATIONS, get_aggregation
from llm_bridge.algorithms import BeamSearch, ParticleFiltering
from llm_bridge.budget import Usage, check_budget
from llm_bridge.exceptions import InvalidRewardError
from llm_bridge.testing import FakeBackend, FakePRM, MarkovStepProcess


def test_usage_adds_and_serialises():
    u = Usage()
    u.add_generations(3, tokens=10)
    u.add_reward(2, 5)
    with u.timing("backend"):
        pass
    v = u + u
    got = (v.generations, v.tokens, v.generate_calls, v.reward_calls, v.reward_scores, v.reward_steps)
    assert got == (6, 20, 2, 2, 4, 10)
    assert v.as_dict()["tokens"] == 20
    with pytest.raises(ValueError):
        with u.timing("gpu"):
            pass


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("8", TypeError),
                                      (True, TypeError)])
def test_check_budget(bad, exc):
    with pytest.raises(exc):
        check_budget(bad)
    assert check_budget(8, multiple_of=4) == 8
    with pytest.raises(ValueError, match="multiple of 4"):
        check_budget(6, multiple_of=4)


@pytest.mark.parametrize("agg", ["prod", "min", "last", "mean", "model"])
def test_reward_accounting_matches_the_prm_log_for_every_aggregation(agg):
    proc = MarkovStepProcess.default()
    for algo in (ParticleFiltering(aggregation=agg), BeamSearch(beam_width=2, aggregation=agg)):
        be, prm = FakeBackend(proc), FakePRM(proc)
        u = algo.infer(be, prm, "Q:\n", budget=8, seed=1).usage
        assert u.reward_calls == len(prm.calls)
        assert u.reward_scores == sum(c["num"] for c in prm.calls)
        assert u.reward_steps == sum(len(s) for c in prm.calls for s in c["steps"])
        assert (u.generate_calls, u.generations, u.tokens) == (
            len(be.calls), sum(len(c["prompts"]) * c["n"] for c in be.calls), be.tokens_out)
        if agg == "model":
            assert all(len(s) == 1 for c in prm.calls for s in c["steps"])  # whole answer as one step


def test_aggregations_values():
    s = [0.9, 0.5, 0.8]
    assert AGGREGATIONS["prod"].reduce(s) == pytest.approx(0.36)
    assert AGGREGATIONS["min"].reduce(s) == 0.5
    assert AGGREGATIONS["last"].reduce(s) == 0.8
    assert AGGREGATIONS["mean"].reduce(s) == pytest.approx(2.2 / 3)
    assert get_aggregation("model").prepare(["a", "b"], joiner="\n") == ["a\nb"]
    custom = get_aggregation(lambda x: x[0])
    assert custom.reduce(s) == 0.9 and custom.prepare(["a", "b"]) == ["a", "b"]


@given(st.lists(st.floats(0, 1), min_size=1, max_size=10))
def test_builtin_aggregations_stay_in_unit_interval_and_are_ordered(scores):
    vals = {k: a.reduce(scores) for k, a in AGGREGATIONS.items() if k != "model"}
    assert all(0 <= v <= 1 for v in vals.values())
    assert vals["prod"] <= vals["min"] + 1e-12 <= vals["mean"] + 2e-12


def test_custom_aggregation_output_is_validated():
    with pytest.raises(InvalidRewardError):
        get_aggregation(lambda x: 2.0).reduce([0.5])
    with pytest.raises(InvalidRewardError):
        get_aggregation(lambda x: math.nan).reduce([0.5])
    with pytest.raises(ValueError, match="unknown aggregation"):
        get_aggregation("median")
    with pytest.raises(TypeError):
        get_aggregation(3)
