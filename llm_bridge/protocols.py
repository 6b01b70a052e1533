"""The two interfaces every LLM backend and every reward model implements.

Backends and reward models are ``typing.Protocol``s: anything with these methods
plugs into the algorithms (particle filtering, particle Gibbs, best-of-N, beam
search, ...).  All calls are *batched*: the algorithms hand over every particle's
prefix of a step in one call, so a backend can batch, fan out or cache as it sees fit.

Conventions
-----------
- ``generate(prompts, n=..)`` returns one list per prompt, each holding ``n``
  :class:`Generation` s (so ``len(result) == len(prompts)`` and
  ``len(result[i]) == n``).
- ``Generation.text`` never includes the matched stop string; ``finish_reason`` is
  ``"stop"`` (a stop string matched), ``"eos"`` (the model ended the answer) or
  ``"length"`` (``max_tokens`` reached).  ``logprob`` is the sum of the sampled
  tokens' log-probabilities under the *unmodified* model distribution
  (temperature 1, no top-p), or ``nan`` when the backend cannot provide it.
- ``score(prompts, continuations)`` returns ``log p(continuation | prompt)`` summed
  over the continuation's tokens (teacher forcing).
- A reward model's ``score_steps(questions, steps)`` returns, for each partial
  answer (a list of step strings), one probability in ``[0, 1]`` per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, Sequence, runtime_checkable

__all__ = ["Generation", "Backend", "RewardModel", "FinishReason"]

FinishReason = Literal["stop", "eos", "length"]


@dataclass(frozen=True)
class Generation:
    """One sampled continuation."""

    text: str
    token_ids: tuple[int, ...] = ()
    num_tokens: int = 0
    logprob: float = float("nan")
    finish_reason: FinishReason = "length"
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@runtime_checkable
class Backend(Protocol):
    """A text generator with log-probabilities."""

    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        max_tokens: int = 64,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> list[list[Generation]]: ...

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[float]: ...


@runtime_checkable
class RewardModel(Protocol):
    """A process reward model: per-step probabilities that a partial answer is on track."""

    def score_steps(
        self, questions: Sequence[str], steps: Sequence[Sequence[str]]
    ) -> list[list[float]]: ...
