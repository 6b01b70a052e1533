"""Paired bootstrap, budget ratio to match, fLaws closed form, coverage-law fit, pass@k exactness, RPC."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_bridge.algorithms.rpc import perplexity_consistency, rpc_index
from llm_bridge.estimators import pass_at_k
from llm_bridge.evaluation import (
    budget_ratio_to_match,
    claim_verdict,
    fit_loglinear_coverage,
    paired_bootstrap,
    predicted_resampling_accuracy,
    simulate_resampling,
)


def test_paired_bootstrap_variance_matches_closed_form():
    """One seed: Var*(mean d) = (1/n) * (1/n) sum (d_i - dbar)^2 exactly; check within the MC error of R resamples."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=40), rng.normal(size=40)
    d = a - b
    exact = np.mean((d - d.mean()) ** 2) / len(d)
    R = 20000
    iv = paired_bootstrap(a, b, num_resamples=R, random_state=1)
    # the sample variance of R draws has relative SE ~ sqrt(2/(R-1)) (near-normal means); 5 SE
    assert abs(iv.se**2 / exact - 1) < 5 * math.sqrt(2 / (R - 1))
    assert iv.estimate == pytest.approx(d.mean())
    z = 1.959964
    assert iv.lower == pytest.approx(d.mean() - z * math.sqrt(exact), abs=0.05)


def test_pairing_narrows_the_interval_for_correlated_methods():
    """Negative control: the same data unpaired (b shuffled) gives a much wider interval."""
    rng = np.random.default_rng(2)
    base = rng.normal(size=(50, 2))
    a, b = base + 0.1, base + rng.normal(scale=0.05, size=base.shape)
    paired = paired_bootstrap(a, b, num_resamples=500)
    unpaired = paired_bootstrap(a, b[rng.permutation(50)], num_resamples=500)
    assert (paired.upper - paired.lower) < 0.2 * (unpaired.upper - unpaired.lower)
    assert paired.excludes(0.0)


def test_two_stage_bootstrap_resamples_seeds_too():
    """With per-problem constant cells the seed stage adds nothing; with seed noise it widens the interval."""
    rng = np.random.default_rng(3)
    prob = rng.normal(size=(30, 1))
    flat = paired_bootstrap(np.repeat(prob, 4, axis=1), num_resamples=2000, random_state=0)
    noisy = paired_bootstrap(prob + rng.normal(scale=2.0, size=(30, 4)), num_resamples=2000, random_state=0)
    assert noisy.se > 1.5 * flat.se


def test_paired_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        paired_bootstrap(np.zeros(5), np.zeros(6))
    with pytest.raises(ValueError, match="finite"):
        paired_bootstrap([0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap([0.0, 1.0, 1.0], confidence_level=1.5)


def test_budget_ratio_point_and_verdicts():
    budgets = [1, 2, 4, 8, 16]
    bon = np.tile(np.array([0.1, 0.2, 0.3, 0.4, 0.5]), (20, 1, 1))  # deterministic curve
    pf = np.full((20, 1), 0.35)
    r = budget_ratio_to_match(bon, pf, budgets, 1, num_resamples=50)
    assert r["ratio"] == 8 and r["lower"] == r["upper"] == 8 and r["p_ratio_ge_4"] == 1.0
    assert claim_verdict(r["lower"], r["upper"]) == "held"
    r2 = budget_ratio_to_match(bon, np.full((20, 1), 0.15), budgets, 1, num_resamples=50)
    assert r2["ratio"] == 2 and claim_verdict(r2["lower"], r2["upper"]) == "not held"
    r3 = budget_ratio_to_match(bon, np.full((20, 1), 0.9), budgets, 8, num_resamples=50)
    assert math.isinf(r3["ratio"]) and claim_verdict(r3["lower"], r3["upper"], 4, r3["max_ratio"]) == "undetermined"
    assert claim_verdict(2, 8) == "undetermined"
    with pytest.raises(ValueError, match="lower <= upper"):
        claim_verdict(4, 2)


def test_flaws_closed_form_matches_simulation():
    """Resampling on iid samples with iid verdicts: measured accuracy within 4 SE of the closed form."""
    rng = np.random.default_rng(4)
    s = rng.uniform(0.02, 0.6, size=400)
    n = 32
    correct = rng.random((400, n)) < s[:, None]
    ks = [1, 4, 32]
    sim = simulate_resampling(correct, ks, 0.2, 0.05, num_orders=4, random_state=5).mean(axis=0)
    pred = predicted_resampling_accuracy(s, ks, 0.2, 0.05)
    se = 0.5 / math.sqrt(400)  # bound on the SE of a mean of [0, 1] values over 400 problems
    assert np.all(np.abs(sim - pred) < 4 * se)
    # the ceiling is below pass@K for f > 0 and equals the pass@K limit for f = 0
    assert predicted_resampling_accuracy(s, [10_000], 0.2)[0] < 0.99
    assert predicted_resampling_accuracy(s, [10_000], 0.0)[0] == pytest.approx(1.0)


def test_flaws_negative_control_wrong_rate_is_detected():
    rng = np.random.default_rng(6)
    s = rng.uniform(0.02, 0.6, size=400)
    correct = rng.random((400, 32)) < s[:, None]
    sim = simulate_resampling(correct, [32], 0.2, 0.0, random_state=0).mean()
    assert abs(sim - predicted_resampling_accuracy(s, [32], 0.05)[0]) > 4 * 0.5 / math.sqrt(400)


def test_coverage_fit_recovers_known_law():
    """Per-problem success p_i = 1 - exp(-lam_i) with lam ~ Gamma gives a known aggregate curve; fit is close."""
    rng = np.random.default_rng(7)
    n = 256
    s = rng.beta(0.3, 3.0, size=300)
    c = rng.binomial(n, s)
    ks = [1, 2, 4, 8, 16, 32, 64]
    fit = fit_loglinear_coverage(n, c, ks, num_resamples=200)
    assert fit.a < 0 and fit.b < 0
    assert fit.a_ci[0] <= fit.a <= fit.a_ci[1] and fit.b_ci[0] <= fit.b <= fit.b_ci[1]
    assert np.max(np.abs(fit.predict(ks) - np.array(fit.coverage))) < 0.05
    with pytest.raises(ValueError, match="0 < coverage < 1"):
        fit_loglinear_coverage(4, np.zeros(10, int), [1, 2, 4])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), data=st.data())
def test_pass_at_k_equals_enumeration_over_subsets(n, data):
    """pass@k = fraction of size-k subsets of the n samples holding a correct one (exact enumeration)."""
    c = data.draw(st.integers(0, n))
    k = data.draw(st.integers(1, n))
    samples = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    exact = sum(any(samples[i] for i in sub) for sub in subsets) / len(subsets)
    assert float(pass_at_k(n, c, k)) == pytest.approx(exact, abs=1e-12)


def test_rpc_perplexity_consistency_counts_distinct_paths_once():
    answers = ["7", "7", "7", "9"]
    lps = np.log([0.1, 0.1, 0.05, 0.2])
    paths = ["p", "p", "q", "r"]  # "p" twice: counted once -> 0.15 for "7" vs 0.2 for "9"
    conf = perplexity_consistency(answers, lps, paths)
    assert conf["7"] / conf["9"] == pytest.approx(0.15 / 0.2)
    assert rpc_index(answers, lps, paths) == 3
    # counting duplicates (plain probability-weighted voting) would pick "7": the rule differs
    assert rpc_index(answers, lps, ["p", "s", "q", "r"]) == 0
    with pytest.raises(ValueError, match="log-probabilities"):
        perplexity_consistency(["a"], [0.5], ["x"])


def test_rpc_runs_through_the_engine_on_the_step_policy():
    from llm_bridge.algorithms.rpc import RPC
    from llm_bridge.evaluation.experiment import STEP
    from llm_bridge.toy.step_backend import StepPolicyBackend
    from llm_bridge.toy.task import parse_answer

    be = StepPolicyBackend.shipped()
    r1 = RPC(step=STEP, answer_fn=parse_answer).infer(be, None, "12 +30 -7\n", budget=8, seed=0)
    r2 = RPC(step=STEP, answer_fn=parse_answer).infer(be, None, "12 +30 -7\n", budget=8, seed=0)
    assert r1.text == r2.text and r1.text.splitlines()[-1].startswith("A: ")
    assert r1.usage.tokens == sum(p.num_tokens for p in r1.particles)


def test_verify_sum_reads_the_answer_not_the_restated_operands():
    from llm_bridge.evaluation.monkeys import addition_problems, verify_sum

    assert verify_sum("8 + 6 = 14", 8, 6) and verify_sum("The answer is 14.", 8, 6) and verify_sum("14", 8, 6)
    assert not verify_sum("8 + 6 = 15", 8, 6) and not verify_sum("8 and 6", 8, 6) and not verify_sum("none", 8, 6)
    ps = addition_problems(81)
    assert len(set(ps)) == 81 and all(1 <= a <= 9 and 1 <= b <= 9 for a, b in ps)
    with pytest.raises(ValueError, match="n must be"):
        addition_problems(0)
