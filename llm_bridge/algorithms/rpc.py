r"""RPC-style selection (Zhou et al. 2025): perplexity consistency over sampled reasoning paths.

An answer's confidence is the sum of the model's own probabilities ``p(path | x) = exp(logprob)``
over the **distinct** sampled paths that reach it (duplicates counted once), and the answer
with the largest confidence wins; :func:`rpc_index` returns the most probable path with that
answer.  This combines self-consistency (many paths agree) with perplexity (probable paths
weigh more).  The paper's second ingredient, Reasoning Pruning (a two-component Weibull
mixture over path probabilities), is not implemented.  No reward model is needed; the
backend must return finite ``Generation.logprob`` values.

Example
-------
>>> rpc_index(["7", "7", "9"], [-3.0, -3.0, -1.0], ["a", "a", "b"])  # 2 copies of one path count once
2
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np

from llm_bridge.algorithms._engine import Session, StepConfig, TTSResult, default_answer_fn
from llm_bridge.algorithms.best_of_n import rollout
from llm_bridge.budget import Usage, check_budget

__all__ = ["perplexity_consistency", "rpc_index", "RPC"]


def perplexity_consistency(answers: Sequence[Hashable | None], logprobs, paths: Sequence[str]) -> dict:
    """``{answer: sum of exp(logprob) over distinct paths with that answer}`` (``None`` answers skipped)."""
    lp = np.asarray(logprobs, float)
    if len(answers) != len(lp) or len(paths) != len(lp) or len(lp) == 0:
        raise ValueError(f"answers, logprobs and paths must be non-empty and of equal length, got "
                         f"{len(answers)}, {len(lp)}, {len(paths)}")
    if np.any(np.isnan(lp)) or np.any(lp > 1e-9):
        raise ValueError("logprobs must be log-probabilities (<= 0, not NaN); the backend must report them")
    m = float(np.max(lp[np.isfinite(lp)])) if np.isfinite(lp).any() else 0.0
    seen: set = set()
    conf: dict = {}
    for a, lpi, t in zip(answers, lp, paths, strict=True):
        if a is None or t in seen:
            continue
        seen.add(t)
        conf[a] = conf.get(a, 0.0) + float(np.exp(lpi - m))  # scaled by exp(-max): same argmax, no underflow
    return conf


def rpc_index(answers: Sequence[Hashable | None], logprobs, paths: Sequence[str]) -> int:
    """Index of the most probable path whose answer has the largest perplexity-consistency confidence."""
    conf = perplexity_consistency(answers, logprobs, paths)
    lp = np.asarray(logprobs, float)
    if not conf:
        return int(np.argmax(lp))
    best = max(conf, key=lambda a: (conf[a], -min(i for i, x in enumerate(answers) if x == a)))
    idx = [i for i, a in enumerate(answers) if a == best]
    return idx[int(np.argmax(lp[idx]))]


class RPC:
    """Sample ``budget`` responses and pick by perplexity consistency (no reward model)."""

    name = "rpc"
    needs_prm = False

    def __init__(self, *, step: StepConfig | None = None, answer_fn: Callable[[str], Hashable] | None = None):
        self.step = step if step is not None else StepConfig()
        self.answer_fn = answer_fn

    def infer(self, backend, prm, prompt: str, *, budget: int, seed: int = 0, question: str | None = None,
              usage: Usage | None = None) -> TTSResult:
        """Sample and select; ``prm`` is ignored; same seed, same result."""
        n = check_budget(budget)
        session = Session(backend, None, prompt, config=self.step, aggregation="last", usage=usage,
                          rng=np.random.default_rng(seed), question=question)
        particles, history = rollout(session, n)
        texts = [session.text(p) for p in particles]
        answers = [(self.answer_fn or default_answer_fn)(t) for t in texts]
        i = rpc_index(answers, [p.logprob for p in particles], texts)
        lw = np.full(n, -np.log(n))
        return TTSResult(self.name, texts[i], answers[i], i, list(particles), lw, session.usage, list(history),
                         [texts[i]])
