"""Fuzz every public entry point of :mod:`llm_bridge` with bad inputs (hypothesis).

Each bad input must raise a clear exception of ours -- a ``TypeError`` / ``ValueError`` (or an
:mod:`llm_bridge.exceptions` class) raised by llm_bridge's own code, with a message -- and never
return NaN or a silent result, crash inside a dependency, or hang (``pytest-timeout``).  The
input classes covered are listed in ``docs/llm_fuzz.md``.
"""

from __future__ import annotations

import math
import traceback

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llm_bridge as lb
from llm_bridge.exceptions import BackendError, RewardModelError

pytestmark = pytest.mark.timeout(120)
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)
OURS = (TypeError, ValueError, BackendError, RewardModelError)

# Values of the wrong type or range for any argument.
junk = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 0), st.floats(allow_nan=True, allow_infinity=True),
    st.just(float("nan")), st.just(float("inf")), st.text(max_size=3), st.binary(max_size=3),
    st.lists(st.integers(), max_size=2), st.just(object()), st.just({"a": 1}), st.just(np.array([np.nan])),
)
not_positive_int = st.one_of(st.integers(-5, 0), st.floats(0.5, 3.5), st.booleans(), st.none(), st.text(max_size=2),
                             st.just(float("nan")))


def _ours(fn, *args, **kwargs):
    """Call ``fn``; it must raise one of OURS from llm_bridge's own frames, with a message."""
    with pytest.raises(OURS) as info:
        fn(*args, **kwargs)
    exc = info.value
    assert str(exc), f"{type(exc).__name__} without a message"
    frames = traceback.extract_tb(exc.__traceback__)
    raiser = frames[-1].filename.replace("\\", "/")
    assert "/llm_bridge/" in raiser or "/tests/fuzz/" in raiser, (
        f"{type(exc).__name__}({exc}) was raised inside a dependency: {raiser}")
    return exc


def _proc():
    return lb.MarkovStepProcess.default()


# ----------------------------------------------------------------------------- algorithms
METHOD_NAMES = sorted(lb.METHODS)


@FUZZ
@given(name=st.sampled_from(METHOD_NAMES), budget=not_positive_int)
def test_algorithms_reject_bad_budgets(name, budget):
    proc = _proc()
    _ours(lb.get_method(name).infer, lb.FakeBackend(proc), lb.FakePRM(proc), "Q:\n", budget=budget, seed=0)


@FUZZ
@given(name=st.sampled_from(METHOD_NAMES), prompt=st.one_of(junk.filter(lambda x: not isinstance(x, str)),
                                                            st.just(""), st.just("  \n")))
def test_algorithms_reject_bad_prompts(name, prompt):
    proc = _proc()
    _ours(lb.get_method(name).infer, lb.FakeBackend(proc), lb.FakePRM(proc), prompt, budget=8, seed=0)


@FUZZ
@given(name=st.sampled_from(METHOD_NAMES), seed=st.one_of(st.floats(), st.text(max_size=2), st.just([1]),
                                                          st.booleans(), st.just(2**70)))
def test_algorithms_reject_bad_seeds(name, seed):
    proc = _proc()
    _ours(lb.get_method(name).infer, lb.FakeBackend(proc), lb.FakePRM(proc), "Q:\n", budget=8, seed=seed)


@FUZZ
@given(name=st.sampled_from(METHOD_NAMES), backend=junk, prm=junk)
def test_algorithms_reject_objects_that_are_not_backends(name, backend, prm):
    proc = _proc()
    _ours(lb.get_method(name).infer, backend, lb.FakePRM(proc), "Q:\n", budget=8, seed=0)
    if prm is not None:
        _ours(lb.get_method(name).infer, lb.FakeBackend(proc), prm, "Q:\n", budget=8, seed=0)


@FUZZ
@given(field=st.sampled_from(["delimiter", "tokens_per_step", "max_steps", "max_step_tokens", "temperature",
                              "top_p", "final_stop", "retries", "backoff", "timeout"]), value=junk)
def test_step_config_rejects_bad_fields(field, value):
    good = {"delimiter": "\n\n", "tokens_per_step": None, "max_steps": 4, "max_step_tokens": 8, "temperature": 1.0,
            "top_p": 1.0, "final_stop": (), "retries": 0, "backoff": 0.0, "timeout": 30.0}
    if value == good[field] or (field in ("tokens_per_step", "timeout") and value is None) \
            or (field == "final_stop" and isinstance(value, list) and not value) \
            or (field == "top_p" and isinstance(value, float) and 0 < value <= 1) \
            or (field in ("temperature",) and isinstance(value, float) and 0 < value < math.inf) \
            or (field in ("backoff",) and isinstance(value, (int, float)) and not isinstance(value, bool)
                and 0 <= value < math.inf) \
            or (field == "timeout" and isinstance(value, float) and 0 < value) \
            or (field == "retries" and isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return  # a valid value
    proc = _proc()
    cfg = lb.StepConfig(**{**good, field: value})
    _ours(lb.ParticleFiltering(step=cfg).infer, lb.FakeBackend(proc), lb.FakePRM(proc), "Q:\n", budget=4, seed=0)


@FUZZ
@given(option=st.sampled_from(["tau", "potential", "resampling", "ess_threshold", "method", "resample_finished",
                               "final", "aggregation"]), value=junk)
def test_particle_filter_rejects_bad_options(option, value):
    valid = {"tau": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < math.inf,
             "ess_threshold": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1,
             "resample_finished": lambda v: isinstance(v, bool)}
    if option in valid and valid[option](value):
        return
    proc = _proc()
    _ours(lb.ParticleFiltering(**{option: value}).infer, lb.FakeBackend(proc), lb.FakePRM(proc), "Q:\n",
          budget=4, seed=0)


def test_get_method_rejects_unknown_names():
    for name in ("nope", None, 3, ""):
        _ours(lb.get_method, name)


# ----------------------------------------------------------------------------- faulty implementations
class _BadBackend(lb.FakeBackend):
    def __init__(self, proc, mode):
        super().__init__(proc)
        self.mode = mode

    def generate(self, prompts, **kw):
        out = super().generate(prompts, **kw)
        if self.mode == "short":
            return out[:-1] if len(out) > 1 else []
        if self.mode == "none":
            return None
        if self.mode == "text":
            return [[lb.Generation(text=None, finish_reason="stop") for _ in row] for row in out]  # type: ignore
        if self.mode == "reason":
            return [[lb.Generation(text="x", finish_reason="done") for _ in row] for row in out]  # type: ignore
        return [[lb.Generation(text="x", num_tokens=-1, finish_reason="stop") for _ in row] for row in out]


class _BadPRM(lb.FakePRM):
    def __init__(self, proc, value):
        super().__init__(proc)
        self.value = value

    def score_steps(self, questions, steps):
        return [[self.value] * len(s) for s in steps]


@FUZZ
@given(mode=st.sampled_from(["short", "none", "text", "reason", "tokens"]), name=st.sampled_from(METHOD_NAMES))
def test_malformed_backend_output_is_our_error(mode, name):
    proc = _proc()
    _ours(lb.get_method(name).infer, _BadBackend(proc, mode), lb.FakePRM(proc), "Q:\n", budget=8, seed=0)


@FUZZ
@given(value=st.one_of(st.just(float("nan")), st.floats(1.0001, 1e9), st.floats(-1e9, -1e-9), st.just("x"),
                       st.none(), st.just(float("inf"))),
       name=st.sampled_from(["pf", "pg", "bon", "wbon", "beam", "dvts", "pt"]))
def test_invalid_rewards_are_our_error(value, name):
    proc = _proc()
    _ours(lb.get_method(name).infer, lb.FakeBackend(proc), _BadPRM(proc, value), "Q:\n", budget=8, seed=0)


# ----------------------------------------------------------------------------- voting, aggregation, budget
@FUZZ
@given(answers=st.one_of(st.just([]), junk.filter(lambda x: not isinstance(x, (list, str, bytes, np.ndarray)))))
def test_votes_reject_empty_or_non_sequences(answers):
    _ours(lb.majority_vote, answers)
    _ours(lb.weighted_majority_vote, answers, [1.0])


@FUZZ
@given(weights=st.one_of(st.just([float("nan"), 1.0]), st.just([-1.0, 1.0]), st.just([1.0]), st.just("ab"),
                         st.just([1.0, 2.0, 3.0]), st.just([float("inf"), 1.0])))
def test_weighted_vote_rejects_bad_weights(weights):
    _ours(lb.weighted_majority_vote, ["a", "b"], weights)


@FUZZ
@given(k=not_positive_int, alpha=st.one_of(st.floats(-5, -0.01), st.floats(1.01, 5), st.just(float("nan"))))
def test_best_of_majority_rejects_bad_k_and_alpha(k, alpha):
    _ours(lb.best_of_majority, ["a", "b", "a"], [0.1, 0.2, 0.3], k=k)
    _ours(lb.best_of_majority, ["a", "b", "a"], [0.1, 0.2, 0.3], k=1, alpha=alpha)


@FUZZ
@given(spec=junk.filter(lambda x: not callable(x)))
def test_get_aggregation_rejects_unknown_specs(spec):
    _ours(lb.get_aggregation, spec)


# ----------------------------------------------------------------------------- estimators
@FUZZ
@given(n=st.integers(1, 20), c=st.integers(-3, 25), k=st.integers(-3, 25))
def test_pass_at_k_rejects_out_of_range_counts(n, c, k):
    if 0 <= c <= n and 1 <= k <= n:
        v = lb.pass_at_k(n, c, k)
        assert 0.0 <= float(np.asarray(v)) <= 1.0
        return
    _ours(lb.pass_at_k, n, c, k)


@FUZZ
@given(p=st.one_of(st.floats(-2, -0.01), st.floats(1.01, 3), st.just(float("nan"))))
def test_verifier_ceiling_rejects_non_probabilities(p):
    _ours(lb.verifier_ceiling, p, 0.5)
    _ours(lb.verifier_ceiling, 0.5, p)


@FUZZ
@given(ks=st.one_of(st.just([]), st.just([0]), st.just([-1]), st.just([100]), st.just("ab")))
def test_coverage_curve_rejects_bad_ks(ks):
    _ours(lb.coverage_curve, [10, 10], [3, 4], ks, num_resamples=10)


def test_accuracy_vs_budget_rejects_missing_columns():
    import pandas as pd

    _ours(lb.accuracy_vs_budget, pd.DataFrame({"x": [1]}))
    _ours(lb.accuracy_vs_budget, "not a frame")


@FUZZ
@given(budgets=st.one_of(st.just([]), st.just([0]), st.just([-2]), st.just([1000])))
def test_subsample_curve_rejects_bad_budgets(budgets):
    _ours(lb.subsample_curve, [1, 0, 1, 1], budgets, lambda s: float(np.mean(s)))


# ----------------------------------------------------------------------------- testing doubles, backends
@FUZZ
@given(n=not_positive_int, max_tokens=not_positive_int)
def test_fake_backend_generate_checks_its_arguments(n, max_tokens):
    be = lb.FakeBackend(_proc())
    _ours(be.generate, ["Q:\n"], n=n)
    _ours(be.generate, ["Q:\n"], max_tokens=max_tokens)
    _ours(be.generate, "Q:\n")


def test_markov_process_rejects_non_probabilities():
    _ours(lb.MarkovStepProcess, symbols=("a",), init=(0.5,), trans=((1.0,),), p_end=(0.0,), max_len=2)
    _ours(lb.MarkovStepProcess, symbols=("a",), init=(1.0,), trans=((1.0,),), p_end=(0.0,), max_len=0)


@FUZZ
@given(url=st.one_of(junk, st.just("localhost:8000"), st.just("ftp://x"), st.just("http://")),
       timeout=st.one_of(st.just(0), st.just(-1.0), st.just(float("nan")), st.just(float("inf")), st.just("5")))
def test_http_backends_reject_bad_urls_and_timeouts(url, timeout):
    pytest.importorskip("httpx")
    _ours(lb.OpenAICompatibleBackend, url)
    _ours(lb.OpenAICompatibleBackend, "http://127.0.0.1:9", timeout=timeout)
    _ours(lb.EndpointPRM, url) if not isinstance(url, str) or not url.startswith("http") else None


def test_usage_and_results_are_plain():
    u = lb.Usage()
    assert u.generations == 0 and all(not (isinstance(v, float) and math.isnan(v)) for v in u.as_dict().values())


@FUZZ
@given(rng=st.one_of(st.floats(), st.text(max_size=2), st.just([1]), st.booleans()))
def test_votes_reject_bad_random_states(rng):
    _ours(lb.majority_vote, ["a", "b"], rng=rng)  # a tie: the generator is used


def test_votes_accept_an_int_seed_for_ties():
    picks = {lb.majority_vote(["a", "b"], rng=s) for s in range(20)}
    assert picks == {"a", "b"}
    assert lb.majority_vote(["a", "b"], rng=3) == lb.majority_vote(["a", "b"], rng=3)
