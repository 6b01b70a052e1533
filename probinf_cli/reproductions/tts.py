r"""Reproduction ``tts``: accuracy vs budget on the toy task (Puri et al. 2025, Fig. 1/2 and Table 1 analogue).

Policy: the project's toy transformer (:func:`llm_bridge.toy.toy_model_path`) through
:class:`~llm_bridge.backends.TransformersBackend`; reward: the toy step checker
(:class:`~llm_bridge.rewards.ToyStepVerifier`) made imperfect (false-positive and
false-negative rates below), aggregated with ``"last"`` (on-track after the latest
step).  Steps are lines (``"\n"``); an answer ends at EOS.

Methods and budgets ``B`` in 1..64 (powers of two):

- particle filtering (PF, ``B`` particles, resampling every step, argmax final pick);
- particle Gibbs (PG, ``B = N x T`` with ``T = 4`` iterations when ``B >= 8``, else ``T = 2`` / ``1``);
- beam search (``beam_width = min(4, B)``);
- best-of-N (BoN), weighted BoN (WBoN) and majority voting: as in search-and-learn, ONE
  run of 64 samples per problem, subsampled to every ``B`` (expected accuracy over random
  subsets), plus the unbiased pass@B (coverage: the oracle-verifier ceiling).

Each cell is the mean over problems with a 95% percentile-bootstrap band over problems.
The paper's scaling-rate claim is checked as: the smallest BoN budget ``B'`` whose accuracy
reaches PF's at ``B``; the claim is ``B' >= 4B``.  If the toy model or transformers is
unavailable, the run falls back to the fake Markov process of :mod:`llm_bridge.testing`
(random per-problem chains, noisy fake PRM) and says so in the summary.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from llm_bridge.algorithms import BeamSearch, ParticleFiltering, ParticleGibbs, Session, StepConfig, rollout
from llm_bridge.algorithms.voting import majority_index, weighted_index
from llm_bridge.estimators import accuracy_vs_budget, pass_at_k

__all__ = ["run", "Problem", "toy_setup", "fake_setup"]

BUDGETS = (1, 2, 4, 8, 16, 32, 64)
FPR, FNR = 0.10, 0.05
#: (problems, random subsets per budget for the subsampled BoN/majority curves), quick / full
SIZES = {True: (6, 16), False: (100, 64)}
#: torch device and CPU threads of the toy policy (one thread: with 2 threads, OpenMP spin-waiting
#: under CPU contention made a forward 40x slower on the shared 2-core machine)
DEVICE, NUM_THREADS = "cpu", 1


@dataclass
class Problem:
    """One evaluation problem: where to run it and how to grade it."""

    prompt: str
    backend: object
    prm: object
    grade: Callable[[str], bool]


def toy_setup(num_problems: int, seed: int):
    """Toy task + toy policy + imperfect toy step checker; raises if the model is unavailable."""
    from llm_bridge.backends import TransformersBackend
    from llm_bridge.rewards import ToyStepVerifier
    from llm_bridge.toy import format_prompt, grade, make_problems, parse_answer, toy_model_path

    backend = TransformersBackend.from_pretrained(toy_model_path(), device=DEVICE, num_threads=NUM_THREADS)
    prm = ToyStepVerifier(false_positive_rate=FPR, false_negative_rate=FNR, seed=seed)
    probs = make_problems(num_problems, seed=10_000 + seed, num_ops=(4, 6))
    problems = [Problem(format_prompt(p), backend, prm, (lambda p: lambda text: bool(grade(p, text)))(p)) for p in probs]
    step = StepConfig(delimiter="\n", max_steps=10, max_step_tokens=24, temperature=1.0)
    desc = (f"toy task (chained arithmetic, 4-6 operations), toy policy via TransformersBackend ({DEVICE}), "
            f"ToyStepVerifier with false-positive rate {FPR} and false-negative rate {FNR}, aggregation 'last'")
    return problems, step, parse_answer, desc


def fake_setup(num_problems: int, seed: int):
    """Fallback: per-problem random Markov step processes and a noisy fake PRM (answer 'a' is correct)."""
    from llm_bridge.testing import FakeBackend, FakePRM, MarkovStepProcess, answer_of

    rng = np.random.default_rng(seed)
    problems = []
    for i in range(num_problems):
        proc = MarkovStepProcess(symbols=("a", "b", "c"), init=tuple(rng.dirichlet([1, 1, 1])),
                                 trans=tuple(tuple(r) for r in rng.dirichlet([1, 1, 1], size=3)),
                                 p_end=(0.3, 0.2, 0.2), max_len=6)
        problems.append(Problem(f"Q{i}:\n", FakeBackend(proc, seed=i), FakePRM(proc, noise=0.3),
                                lambda text: answer_of(text) == "a"))
    step = StepConfig(delimiter="\n\n", max_steps=8, temperature=1.0)
    return problems, step, answer_of, "FALLBACK fake Markov step processes (the toy model was unavailable)"


def _sampling_rows(pb: Problem, step: StepConfig, answer_fn, budgets, n_max, seed, n_subsets):
    """BoN / WBoN / majority / pass@k for every budget, from one run of ``n_max`` samples."""
    session = Session(pb.backend, pb.prm, pb.prompt, config=step, aggregation="last",
                      rng=np.random.default_rng(seed))
    particles, _ = rollout(session, n_max)
    particles = session.score(particles)
    texts = [session.text(p) for p in particles]
    correct = np.array([pb.grade(t) for t in texts], float)
    answers = [answer_fn(t) for t in texts]
    rewards = np.array([p.reward for p in particles])
    tokens = session.usage.tokens / n_max
    rng = np.random.default_rng(seed + 1)
    rows = []
    for b in budgets:
        acc = {"bon": [], "wbon": [], "majority": []}
        for _ in range(1 if b == n_max else n_subsets):
            idx = np.arange(n_max) if b == n_max else rng.choice(n_max, b, replace=False)
            sub_r, sub_a = rewards[idx], [answers[i] for i in idx]
            acc["bon"].append(correct[idx[int(np.argmax(sub_r))]])
            acc["wbon"].append(correct[idx[weighted_index(sub_a, sub_r, rng=rng)]])
            acc["majority"].append(correct[idx[majority_index(sub_a, rng=rng)]])
        for m, v in acc.items():
            rows.append({"method": m, "budget": b, "correct": float(np.mean(v)), "tokens": tokens * b})
        rows.append({"method": "pass@k", "budget": b, "correct": float(pass_at_k(n_max, int(correct.sum()), b)),
                     "tokens": tokens * b})
    return rows


def _pg(b):
    t = 4 if b >= 8 else (2 if b >= 2 else 1)
    return ParticleGibbs(num_iterations=t)


def run(out_dir: Path, *, quick: bool = True, seed: int = 0):
    """Run the reproduction; see the module docstring."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from probinf.progress import progress
    from probinf_cli.runner import ReproResult

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    num_problems, n_subsets = SIZES[bool(quick)]
    lo, hi = BUDGETS[0], BUDGETS[-1]
    t0 = time.perf_counter()
    try:
        problems, step, answer_fn, desc = toy_setup(num_problems, seed)
        fallback = False
    except (FileNotFoundError, ImportError, OSError) as exc:
        problems, step, answer_fn, desc = fake_setup(num_problems, seed)
        desc += f" [{type(exc).__name__}: {exc}]"
        fallback = True
    rows = []
    for i, pb in enumerate(progress(problems, desc="tts repro")):
        s = seed * 100_003 + i
        for r in _sampling_rows(pb, step, answer_fn, BUDGETS, max(BUDGETS), s, n_subsets):
            rows.append({"problem": i, **r})
        for b in BUDGETS:
            algos = {
                "pf": ParticleFiltering(step=step, aggregation="last", answer_fn=answer_fn),
                "pg": _pg(b),
                "beam": BeamSearch(beam_width=min(4, b), step=step, aggregation="last", answer_fn=answer_fn),
            }
            algos["pg"].step, algos["pg"].aggregation, algos["pg"].answer_fn = step, "last", answer_fn
            for name, algo in algos.items():
                res = algo.infer(pb.backend, pb.prm, pb.prompt, budget=b, seed=s + 7919 * b)
                rows.append({"problem": i, "method": name, "budget": b, "correct": float(pb.grade(res.text)),
                             "tokens": res.usage.tokens})
    df = pd.DataFrame(rows)
    acc = accuracy_vs_budget(df, num_resamples=1000, seed=seed)
    tok = df.groupby(["method", "budget"])["tokens"].mean().reset_index()
    acc = acc.merge(tok, on=["method", "budget"])
    wide = acc.pivot(index="budget", columns="method", values="accuracy")

    # the scaling-rate claim: smallest BoN budget reaching PF@B
    claim = []
    for b in BUDGETS:
        pf = wide.loc[b, "pf"]
        reach = [bb for bb in BUDGETS if wide.loc[bb, "bon"] >= pf - 1e-12]
        bmin = reach[0] if reach else None
        claim.append({"budget": b, "pf": pf, "bon_same_budget": wide.loc[b, "bon"],
                      "bon_budget_to_match": bmin if bmin else f">{max(BUDGETS)}",
                      "ratio": (bmin / b) if bmin else f">{max(BUDGETS) // b}"})
    claim = pd.DataFrame(claim)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    styles = {"pf": "C0", "pg": "C1", "beam": "C2", "bon": "C3", "wbon": "C4", "majority": "C5", "pass@k": "0.5"}
    for m, c in styles.items():
        g = acc[acc.method == m].sort_values("budget")
        if g.empty:
            continue
        ls = "--" if m == "pass@k" else "-"
        axes[0].plot(g.budget, g.accuracy, ls, marker="o", color=c, label=m)
        axes[0].fill_between(g.budget, g.lower, g.upper, color=c, alpha=0.12)
        if m != "pass@k":
            axes[1].plot(g.budget, g.tokens, ls, marker="o", color=c, label=m)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("budget (particles / samples)")
    axes[0].set_ylabel("accuracy (95% bootstrap band over problems)")
    axes[1].set_ylabel("generated tokens per problem")
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=8)
    axes[0].set_title("accuracy vs budget" + (" (FALLBACK fake process)" if fallback else " (toy task)"))
    axes[1].set_title("compute")
    fig.tight_layout()
    fig_path = out_dir / "tts_accuracy_vs_budget.png"
    fig.savefig(fig_path, dpi=120)
    plt.close(fig)

    ratios = [r for r in claim.ratio if isinstance(r, (int, float))]
    holds = [b for b, r in zip(claim.budget, claim.ratio) if (isinstance(r, str) or r >= 4) and b < max(BUDGETS)]
    pf1, pf64 = wide.loc[lo, "pf"], wide.loc[hi, "pf"]
    summary = "\n".join([
        f"Setting: {desc}; {len(problems)} problems, budgets {list(BUDGETS)}, seed {seed}, "
        f"{time.perf_counter() - t0:.0f} s.",
        "",
        f"PF accuracy goes from {pf1:.3f} at B={lo} to {pf64:.3f} at B={hi}; BoN from {wide.loc[lo, 'bon']:.3f} to "
        f"{wide.loc[hi, 'bon']:.3f}; PG reaches {wide.loc[hi, 'pg']:.3f}, beam search {wide.loc[hi, 'beam']:.3f}, "
        f"WBoN {wide.loc[hi, 'wbon']:.3f}, majority {wide.loc[hi, 'majority']:.3f}; pass@{hi} (oracle-verifier "
        f"ceiling) {wide.loc[hi, 'pass@k']:.3f}.",
        "",
        "Scaling-rate claim (PF at B matches BoN only at >= 4B): "
        + (f"HOLDS at B in {holds}" if holds else "NOT seen at any budget")
        + (f"; smallest BoN/PF budget ratios: {ratios}" if ratios else "")
        + ". Point estimates; the bands (figure, table) show which differences exceed the problem-sampling noise.",
    ] + ([] if fallback else [
        f"The verifier accepts a wrong step with probability {FPR} and rejects a right one with probability {FNR}; "
        "pass@k is what a perfect verifier would reach, an upper bound for every method here.",
    ]))
    if fallback:
        summary = "**FALLBACK: the toy model was not available; this ran the fake Markov process.**\n\n" + summary
    return ReproResult(title="LLM test-time scaling: particle filtering vs baselines (toy task)", summary=summary,
                       figures=[fig_path], tables={"accuracy_vs_budget": acc, "scaling_rate": claim})
