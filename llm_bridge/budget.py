r"""One budget accounting for every test-time-scaling algorithm.

A :class:`Usage` counts what an inference run consumed, in the units the field
compares methods by:

- ``generations``: sampled continuations returned by the backend (one per particle
  per step for step-wise methods; the paper's "budget" is the number of particles);
- ``tokens``: generated tokens (``Generation.num_tokens`` summed);
- ``generate_calls``: batched ``Backend.generate`` calls (and ``retries`` of them);
- ``reward_calls``: batched ``RewardModel.score_steps`` calls;
- ``reward_scores``: partial answers scored (one per trajectory in a call);
- ``reward_steps``: individual step scores returned by the reward model;
- ``backend_seconds`` / ``reward_seconds``: wall time spent inside the backend and
  the reward model, so that orchestration overhead = total - both.

The algorithms increment a ``Usage`` through :func:`metered_generate` and
:func:`metered_score` (in :mod:`llm_bridge.algorithms._engine`), never by hand, so
the counts are exact by construction and tested against the fake backend's own
call log.  ``Usage`` objects add (``u1 + u2``) so an evaluation can total them.

Example
-------
>>> u = Usage()
>>> u.add_generations(3, tokens=12)
>>> u.generations, u.tokens
(3, 12)
>>> (u + u).as_dict()["tokens"]
24
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields

__all__ = ["Usage", "check_budget"]


@dataclass
class Usage:
    """Counters of one run (see the module docstring for each field's meaning)."""

    generations: int = 0
    tokens: int = 0
    generate_calls: int = 0
    retries: int = 0
    reward_calls: int = 0
    reward_scores: int = 0
    reward_steps: int = 0
    backend_seconds: float = 0.0
    reward_seconds: float = 0.0

    def add_generations(self, count: int, *, tokens: int = 0, calls: int = 1) -> None:
        """Record ``count`` continuations with ``tokens`` tokens from ``calls`` backend calls."""
        self.generations += int(count)
        self.tokens += int(tokens)
        self.generate_calls += int(calls)

    def add_reward(self, scores: int, steps: int, *, calls: int = 1) -> None:
        """Record ``scores`` partial answers (``steps`` step scores) from ``calls`` reward calls."""
        self.reward_scores += int(scores)
        self.reward_steps += int(steps)
        self.reward_calls += int(calls)

    @contextmanager
    def timing(self, what: str):
        """Context manager adding the elapsed wall time to ``backend_seconds`` or ``reward_seconds``."""
        if what not in ("backend", "reward"):
            raise ValueError(f"what must be 'backend' or 'reward', got {what!r}")
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            if what == "backend":
                self.backend_seconds += dt
            else:
                self.reward_seconds += dt

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def as_dict(self) -> dict:
        """The counters as a plain dict (JSON-serialisable)."""
        return asdict(self)


def check_budget(budget, name: str = "budget", *, multiple_of: int | None = None) -> int:
    """Validate a positive integer budget (optionally a multiple of ``multiple_of``); return it as ``int``."""
    if isinstance(budget, bool) or not hasattr(budget, "__index__"):
        raise TypeError(f"{name} must be a positive int, got {type(budget).__name__} {budget!r}")
    budget = int(budget)
    if budget < 1:
        raise ValueError(f"{name} must be >= 1 (the number of samples/particles), got {budget}")
    if multiple_of is not None and budget % multiple_of:
        raise ValueError(
            f"{name}={budget} must be a multiple of {multiple_of} for this method "
            f"(e.g. {max(multiple_of, budget // multiple_of * multiple_of)})"
        )
    return budget
