r"""The task-family experiment: every method on the same problems, seeds and budgets.

For each (problem, seed) cell:

- **one rollout of** ``n_max`` samples (the step policy, step by step) feeds every
  sampling rule at every budget ``B``: the ``n_max / B`` disjoint blocks of ``B`` samples
  are each scored by BoN (argmax reward, ties to the first sample), weighted BoN,
  majority, Best-of-Majority (``k=1``, ``alpha=1/8``) and RPC (perplexity consistency),
  and the block average is the cell's score; pass@B is the unbiased estimator from the
  ``n_max`` samples (the perfect-verifier ceiling).  Tokens and calls are those of one
  block (tokens) and of the rollout (calls: one batched call per step).
- the **search methods** run once per budget: PF (``B`` particles), PG (``B = N x T``,
  ``T = 2``), PT (2 chains x 2 iterations), beam search and DVTS (``beam_width = 4``),
  each with its own token and call counts.
- for the fLaws plot, the same samples are scored by verifiers of several false-positive
  rates and their correctness kept, and PF is run with those verifiers.

Everything is seeded by ``(seed, problem index)``; same arguments, same table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from llm_bridge.algorithms import (
    DVTS,
    BeamSearch,
    ParallelTempering,
    ParticleFiltering,
    ParticleGibbs,
    Session,
    StepConfig,
    rollout,
)
from llm_bridge.algorithms.rpc import rpc_index
from llm_bridge.algorithms.voting import best_of_majority, majority_index, weighted_index
from llm_bridge.estimators import pass_at_k
from llm_bridge.toy.family import Difficulty
from llm_bridge.toy.task import format_prompt, grade, parse_answer

__all__ = ["ExperimentConfig", "SAMPLING_METHODS", "SEARCH_METHODS", "run_cell", "run_experiment"]

SAMPLING_METHODS = ("bon", "wbon", "majority", "bom", "rpc", "pass@k")
SEARCH_METHODS = ("pf", "pg", "pt", "beam", "dvts")
STEP = StepConfig(delimiter="\n", max_steps=18, max_step_tokens=24, temperature=1.0)


@dataclass(frozen=True)
class ExperimentConfig:
    """Sizes and settings; ``search_budgets`` maps a search method to its budgets."""

    difficulty: Difficulty = Difficulty()
    budgets: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    search_budgets: dict = field(default_factory=lambda: {"pf": (1, 2, 4, 8, 16), "pg": (4, 16), "pt": (4, 16),
                                                          "beam": (4, 16), "dvts": (4, 16)})
    fpr: float = 0.1
    fnr: float = 0.05
    flaws_rates: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
    flaws_pf_rates: tuple[float, ...] = (0.4,)
    flaws_pf_budgets: tuple[int, ...] = (4, 16)

    @property
    def n_max(self) -> int:
        return max(self.budgets)


def _prm(f, fnr, seed):
    from llm_bridge.rewards import ToyStepVerifier

    return ToyStepVerifier(false_positive_rate=f, false_negative_rate=fnr, seed=seed)


def _search(name, budget):
    kw = dict(step=STEP, aggregation="last", answer_fn=parse_answer)
    if name == "pf":
        return ParticleFiltering(**kw)
    if name == "pg":
        return ParticleGibbs(num_iterations=2 if budget % 2 == 0 else 1, **kw)
    if name == "pt":
        return ParallelTempering(num_chains=2, num_iterations=2, **kw)
    if name == "beam":
        return BeamSearch(beam_width=min(4, budget), **kw)
    if name == "dvts":
        return DVTS(beam_width=min(4, budget), **kw)
    raise ValueError(f"unknown search method {name!r}; expected one of {SEARCH_METHODS}")


def _sampling_rows(problem, session, particles, cfg, prm_seed):
    """Rows of the sampling rules + per-rate verifier outcomes, from one scored rollout."""
    texts = [session.text(p) for p in particles]
    correct = np.array([grade(problem, t) for t in texts], float)
    answers = [parse_answer(t) for t in texts]
    lps = np.array([p.logprob for p in particles])
    toks = np.array([p.num_tokens for p in particles], float)
    rewards = np.array([p.reward for p in session.score(particles)])
    calls = session.usage.generate_calls
    rows, rng = [], np.random.default_rng(prm_seed)
    for b in cfg.budgets:
        blocks = np.arange(cfg.n_max).reshape(-1, b)
        acc = {m: [] for m in SAMPLING_METHODS[:-1]}
        for idx in blocks:
            r, a = rewards[idx], [answers[i] for i in idx]
            acc["bon"].append(correct[idx[int(np.argmax(r))]])
            acc["wbon"].append(correct[idx[weighted_index(a, r, rng=rng)]])
            acc["majority"].append(correct[idx[majority_index(a, rng=rng)]])
            acc["bom"].append(correct[idx[best_of_majority(a, r, k=1, alpha=0.125)[0]]])
            acc["rpc"].append(correct[idx[rpc_index(a, lps[idx], [texts[i] for i in idx])]])
        tok = float(toks[blocks].sum(axis=1).mean())
        for m, v in acc.items():
            rows.append({"method": m, "budget": b, "correct": float(np.mean(v)), "tokens": tok, "calls": calls})
        rows.append({"method": "pass@k", "budget": b, "correct": float(pass_at_k(cfg.n_max, int(correct.sum()), b)),
                     "tokens": tok, "calls": calls})
    # BoN under verifiers of other false-positive rates (the deterministic hashed verifier)
    for f in cfg.flaws_rates:
        s2 = Session(session.backend, _prm(f, cfg.fnr, prm_seed), session.prompt, config=STEP, aggregation="last",
                     rng=np.random.default_rng(0))
        r2 = np.array([p.reward for p in s2.score(particles)])
        for b in cfg.budgets:
            blocks = np.arange(cfg.n_max).reshape(-1, b)
            v = [correct[idx[int(np.argmax(r2[idx]))]] for idx in blocks]
            rows.append({"method": f"bon_f{f}", "budget": b, "correct": float(np.mean(v)),
                         "tokens": float(toks[blocks].sum(axis=1).mean()), "calls": calls})
    return rows, correct.astype(bool)


def run_cell(backend, problem, cfg: ExperimentConfig, seed: int, index: int):
    """All rows of one (problem, seed) cell and the correctness of its ``n_max`` samples."""
    s = int(seed) * 1_000_003 + int(index)
    prompt = format_prompt(problem)
    prm = _prm(cfg.fpr, cfg.fnr, s)
    session = Session(backend, prm, prompt, config=STEP, aggregation="last", rng=np.random.default_rng(s))
    particles, _ = rollout(session, cfg.n_max)
    rows, correct = _sampling_rows(problem, session, particles, cfg, s)
    for name, budgets in cfg.search_budgets.items():
        for b in budgets:
            res = _search(name, b).infer(backend, prm, prompt, budget=b, seed=s + 7919 * b)
            rows.append({"method": name, "budget": b, "correct": float(grade(problem, res.text)),
                         "tokens": float(res.usage.tokens), "calls": res.usage.generate_calls})
    for f in cfg.flaws_pf_rates:
        for b in cfg.flaws_pf_budgets:
            res = _search("pf", b).infer(backend, _prm(f, cfg.fnr, s), prompt, budget=b, seed=s + 7919 * b)
            rows.append({"method": f"pf_f{f}", "budget": b, "correct": float(grade(problem, res.text)),
                         "tokens": float(res.usage.tokens), "calls": res.usage.generate_calls})
    for r in rows:
        r.update(problem=int(index), seed=int(seed))
    return rows, correct


def _run_chunk(args):
    backend, problems, cfg, todo = args
    return [(i, j, *run_cell(backend, problems[i], cfg, s, i)) for i, j, s in todo]


def run_experiment(backend, problems, seeds, cfg: ExperimentConfig = ExperimentConfig(), progress=None,
                   num_workers: int = 1):
    """The long table (problem, seed, method, budget, correct, tokens, calls) and correctness ``(P, S, n_max)``.

    ``num_workers > 1`` spreads the cells over processes (results are identical: every
    cell is seeded by its own indices).
    """
    rows, corr = [], np.zeros((len(problems), len(seeds), cfg.n_max), bool)
    cells = [(i, j, seeds[j]) for i in range(len(problems)) for j in range(len(seeds))]
    if num_workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        chunks = [cells[k::num_workers * 4] for k in range(num_workers * 4)]
        # spawn: JAX (used by the resampling step) is not fork-safe once initialised
        with ProcessPoolExecutor(num_workers, mp_context=multiprocessing.get_context("spawn")) as ex:
            out = [x for res in ex.map(_run_chunk, [(backend, problems, cfg, c) for c in chunks]) for x in res]
    else:
        it = progress(cells, desc="tts cells") if progress else cells
        out = [(i, j, *run_cell(backend, problems[i], cfg, s, i)) for i, j, s in it]
    for i, j, r, c in out:
        rows += r
        corr[i, j] = c
    return pd.DataFrame(rows), corr
