r"""Sampling baselines: best-of-N, weighted best-of-N, self-consistency, Best-of-Majority.

All draw ``N = budget`` independent responses through the same step engine as the
particle methods (identical policy, steps and stopping rules, so comparisons isolate
the selection rule), score each complete response ONCE with the reward model (one
batched call; the PRM is used as an outcome model through the aggregation), and pick:

- :class:`BestOfN`: the highest reward (search-and-learn "naive");
- :class:`WeightedBestOfN` (= weighted majority): the answer with the largest summed
  reward (the paper's WBoN, search-and-learn "weighted");
- :class:`SelfConsistency` (majority): the most frequent answer, no reward model;
- :class:`BestOfMajority`: Di et al. (2025): answers with frequency >= ``alpha``,
  the ``k`` highest-reward ones submitted.

Example
-------
>>> from llm_bridge.testing import MarkovStepProcess, FakeBackend, FakePRM, answer_of
>>> proc = MarkovStepProcess.default()
>>> res = SelfConsistency(answer_fn=answer_of).infer(FakeBackend(proc), None, "Q:\n", budget=8, seed=0)
>>> res.answer in ("a", "b", "c")
True
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import numpy as np

from llm_bridge.algorithms.config import StepConfig
from llm_bridge.algorithms.particle import Particle, TTSResult
from llm_bridge.algorithms.selection import default_answer_fn
from llm_bridge.algorithms.session import Session
from llm_bridge.algorithms.voting import best_of_majority, majority_index, weighted_index
from llm_bridge.budget import Usage, check_budget
from llm_bridge.contracts import check_reward_model

__all__ = ["rollout", "BestOfN", "WeightedBestOfN", "SelfConsistency", "WeightedMajority", "BestOfMajority"]

_DEFAULT_STEP = StepConfig()  # frozen, so one shared default is safe


def rollout(session: Session, n: int) -> tuple[list[Particle], list[dict]]:
    """``n`` independent complete responses, generated step by step (batched per step)."""
    particles = [Particle() for _ in range(n)]
    history, t = [], 0
    while t < session.config.max_steps and any(not p.done for p in particles):
        t += 1
        particles = session.extend(particles)
        history.append({"step": t, "active": sum(not p.done for p in particles)})
    return particles, history


class _Sampler:
    """Shared ``infer``: sample ``budget`` responses, score them (if needed), pick one."""

    name = "sampler"
    needs_prm = True

    def __init__(self, *, step: StepConfig = _DEFAULT_STEP, aggregation="model",
                 answer_fn: Callable[[str], Hashable] | None = None):
        self.step = step
        self.aggregation = aggregation
        self.answer_fn = answer_fn

    def _pick(self, answers, rewards, rng) -> list[int]:
        raise NotImplementedError

    def infer(self, backend, prm, prompt: str, *, budget: int, seed: int = 0, question: str | None = None,
              usage: Usage | None = None) -> TTSResult:
        """Sample ``budget`` responses and select; same seed, same result."""
        n = check_budget(budget)
        if self.needs_prm and prm is None:
            raise ValueError(f"{self.name} needs a reward model (prm); use 'majority' for none")
        if prm is not None:
            check_reward_model(prm)  # unused here, but an object that is no reward model is a mistake
        session = Session(backend, prm if self.needs_prm else None, prompt, config=self.step,
                          aggregation=self.aggregation, usage=usage, key=seed, question=question)
        particles, history = rollout(session, n)
        if self.needs_prm:
            particles = session.score(particles)
        return self.select(session, particles, history)

    def select(self, session: Session, particles: list[Particle], history=()) -> TTSResult:
        """Apply this method's selection rule to already generated (and scored) particles."""
        afn = self.answer_fn or default_answer_fn
        texts = [session.text(p) for p in particles]
        answers = [afn(t) for t in texts]
        rewards = np.array([p.reward for p in particles], float)
        picks = self._pick(answers, rewards, session.rng)
        i = picks[0]
        lw = np.full(len(particles), -np.log(len(particles)))
        return TTSResult(self.name, texts[i], answers[i], i, list(particles), lw, session.usage, list(history),
                         [texts[j] for j in picks])


class BestOfN(_Sampler):
    """Best-of-N: the response with the highest aggregated reward (ties: first)."""

    name = "bon"

    def _pick(self, answers, rewards, rng):
        return [int(np.argmax(rewards))]


class WeightedBestOfN(_Sampler):
    """Weighted best-of-N / weighted majority: argmax over answers of the summed reward."""

    name = "wbon"

    def _pick(self, answers, rewards, rng):
        return [weighted_index(answers, rewards, rng=rng)]


WeightedMajority = WeightedBestOfN


class SelfConsistency(_Sampler):
    """Self-consistency / majority voting (no reward model); random tie-break."""

    name = "majority"
    needs_prm = False

    def _pick(self, answers, rewards, rng):
        return [majority_index(answers, rng=rng)]


class BestOfMajority(_Sampler):
    """Best-of-Majority (Di et al. 2025): frequency >= ``alpha``, then the ``k`` highest rewards."""

    name = "bom"

    def __init__(self, *, k: int = 1, alpha: float = 0.125, step: StepConfig = _DEFAULT_STEP, aggregation="model",
                 answer_fn=None):
        super().__init__(step=step, aggregation=aggregation, answer_fn=answer_fn)
        self.k = k
        self.alpha = alpha

    def _pick(self, answers, rewards, rng):
        return best_of_majority(answers, rewards, k=self.k, alpha=self.alpha)
