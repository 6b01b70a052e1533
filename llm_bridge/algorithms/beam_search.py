r"""Search baselines: PRM-guided beam search and diverse verifier tree search (DVTS).

As in HuggingFace search-and-learn (Beeching, Tunstall & Rush 2024; Snell et al. 2024),
with budget ``N`` and ``beam_width`` ``M`` (``N`` a multiple of ``M``):

- :class:`BeamSearch`: ``N / M`` beams; each step every active beam is expanded into
  ``M`` candidates (one batched call with ``n = M`` per beam), all candidates are
  scored in one PRM call, finished candidates are collected, and the ``N / M`` best
  unfinished candidates by aggregated reward become the next beams.  Stops when no
  beam is active, ``N`` responses are complete, or after ``max_steps``.
- :class:`DVTS`: ``N / M`` independent subtrees, each greedily keeping its best of
  ``M`` expansions per step; a subtree ends when its best candidate is finished.

The final pick is the highest-reward complete response (or a weighted vote).

Example
-------
>>> from llm_bridge.testing import MarkovStepProcess, FakeBackend, FakePRM
>>> proc = MarkovStepProcess.default()
>>> res = BeamSearch(beam_width=2).infer(FakeBackend(proc), FakePRM(proc), "Q:\n", budget=4, seed=0)
>>> res.particles[res.index].done
True
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import numpy as np

from llm_bridge.algorithms.config import StepConfig
from llm_bridge.algorithms.particle import Particle, TTSResult
from llm_bridge.algorithms.selection import default_answer_fn
from llm_bridge.algorithms.session import Session
from llm_bridge.algorithms.voting import weighted_index
from llm_bridge.budget import Usage, check_budget

__all__ = ["BeamSearch", "DVTS"]

_DEFAULT_STEP = StepConfig()  # frozen, so one shared default is safe


class _Search:
    name = "search"

    def __init__(self, *, beam_width: int = 4, step: StepConfig = _DEFAULT_STEP, aggregation="last",
                 final: str = "argmax", answer_fn: Callable[[str], Hashable] | None = None):
        self.beam_width = beam_width
        self.step = step
        self.aggregation = aggregation
        self.final = final
        self.answer_fn = answer_fn

    def _setup(self, backend, prm, prompt, budget, seed, question, usage):
        m = check_budget(self.beam_width, "beam_width")
        n = check_budget(budget, multiple_of=m)
        if self.final not in ("argmax", "weighted"):
            raise ValueError(f"final must be 'argmax' or 'weighted' for search methods, got {self.final!r}")
        if prm is None:
            raise ValueError(f"{self.name} needs a reward model (prm)")
        session = Session(backend, prm, prompt, config=self.step, aggregation=self.aggregation, usage=usage,
                          key=seed, question=question)
        return session, n, m

    def _result(self, session: Session, pool: list[Particle], history) -> TTSResult:
        afn = self.answer_fn or default_answer_fn
        texts = [session.text(p) for p in pool]
        rewards = np.array([p.reward for p in pool], float)
        if self.final == "weighted":
            answers = [afn(t) for t in texts]
            i = weighted_index(answers, rewards, rng=session.rng)
        else:
            i = int(np.argmax(rewards))
        lw = np.full(len(pool), -np.log(len(pool)))
        return TTSResult(self.name, texts[i], afn(texts[i]), i, pool, lw, session.usage, history, [texts[i]])


class BeamSearch(_Search):
    """PRM-guided beam search (search-and-learn); see the module docstring.

    Parameters
    ----------
    beam_width : int
        Expansions per beam ``M``; ``budget / M`` beams are kept.
    step : StepConfig
    aggregation : str or callable
        search-and-learn's default is ``"last"``.
    final : {"argmax", "weighted"}
    answer_fn : callable, optional
    """

    name = "beam"

    def infer(self, backend, prm, prompt: str, *, budget: int, seed: int = 0, question: str | None = None,
              usage: Usage | None = None) -> TTSResult:
        """Run beam search with ``budget`` candidates per step."""
        session, n, m = self._setup(backend, prm, prompt, budget, seed, question, usage)
        keep = n // m
        beams = [Particle()]
        completed: list[Particle] = []
        history, t = [], 0
        while beams and len(completed) < n and t < session.config.max_steps:
            t += 1
            cands = session.extend([b for b in beams for _ in range(m)] if t > 1 else [Particle()] * n)
            cands = session.score(cands)
            completed += [c for c in cands if c.done]
            live = sorted((c for c in cands if not c.done), key=lambda c: -c.reward)
            beams = live[:keep]
            history.append({"step": t, "completed": len(completed), "beams": len(beams)})
        pool = completed or beams
        return self._result(session, pool, history)


class DVTS(_Search):
    """Diverse verifier tree search: ``budget / beam_width`` independent greedy subtrees."""

    name = "dvts"

    def infer(self, backend, prm, prompt: str, *, budget: int, seed: int = 0, question: str | None = None,
              usage: Usage | None = None) -> TTSResult:
        """Run DVTS with ``budget`` candidates per step."""
        session, n, m = self._setup(backend, prm, prompt, budget, seed, question, usage)
        k = n // m
        leaves = [Particle() for _ in range(k)]
        history, t = [], 0
        while any(not p.done for p in leaves) and t < session.config.max_steps:
            t += 1
            active = [i for i, p in enumerate(leaves) if not p.done]
            cands = session.score(session.extend([leaves[i] for i in active for _ in range(m)]))
            for j, i in enumerate(active):
                group = cands[j * m:(j + 1) * m]
                leaves[i] = max(group, key=lambda c: c.reward)
            history.append({"step": t, "active": sum(not p.done for p in leaves)})
        return self._result(session, leaves, history)
