"""What the algorithms carry and return: a :class:`Particle` (a partial answer) and a :class:`TTSResult`."""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

from llm_bridge.budget import Usage

__all__ = ["Particle", "TTSResult", "make_particle"]


@dataclass(frozen=True)
class Particle:
    """A partial answer: its steps and what the algorithms know about it.

    ``rewards[t]`` is the aggregated reward of this particle's prefix after algorithm
    step ``t + 1`` (a frozen particle repeats its final reward), so particle Gibbs can
    compare a reference's PARTIAL reward at step ``t`` with the other particles'.
    """

    steps: tuple[str, ...] = ()
    done: bool = False
    finish_reason: str | None = None
    num_tokens: int = 0
    logprob: float = 0.0
    rewards: tuple[float, ...] = ()

    @property
    def reward(self) -> float:
        """The latest aggregated reward (NaN before the first scoring)."""
        return self.rewards[-1] if self.rewards else float("nan")

    def truncated(self, t: int) -> Particle:
        """This particle as it was after algorithm step ``t`` (used for particle Gibbs references)."""
        n = min(t, len(self.steps))
        done = self.done and t >= len(self.steps)
        pad = (self.rewards[-1],) * (t - len(self.rewards)) if t > len(self.rewards) else ()
        rw = self.rewards[:t] + pad
        return Particle(self.steps[:n], done, self.finish_reason if done else None, self.num_tokens, self.logprob, rw)


_new = object.__new__


def make_particle(steps: tuple[str, ...], done: bool, finish_reason: str | None, num_tokens: int, logprob: float,
                  rewards: tuple[float, ...]) -> Particle:
    """``Particle(steps, done, finish_reason, num_tokens, logprob, rewards)``, built about 2x faster.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``; the SMC loop
    builds ``N`` particles a step, so it fills the instance dict at once instead (equal objects:
    same fields, same ``==`` and hash).
    """
    p = _new(Particle)
    p.__dict__.update(steps=steps, done=done, finish_reason=finish_reason, num_tokens=num_tokens, logprob=logprob,
                      rewards=rewards)
    return p


@dataclass
class TTSResult:
    """The outcome of one inference run.

    Attributes
    ----------
    method : str
    text : str
        The selected response (steps joined by the delimiter).
    answer : hashable or None
        ``answer_fn(text)``.
    index : int
        Index of the selected particle in ``particles``.
    particles : list of Particle
        The final pool (PF/PG: the particle set; BoN: the N samples).
    log_weights : ndarray of shape (len(particles),)
        Normalized final log-weights (uniform for sampling baselines).
    usage : Usage
    history : list of dict
        Per-step diagnostics (``ess``, ``resampled``, ``active``...).
    submissions : list of str
        Best-of-Majority's ``k`` submissions (else ``[text]``).
    reference : Particle or None
        Particle Gibbs / parallel tempering: the last reference trajectory (else None).
    """

    method: str
    text: str
    answer: Hashable | None
    index: int
    particles: list[Particle]
    log_weights: np.ndarray
    usage: Usage
    history: list[dict] = field(default_factory=list)
    submissions: list[str] = field(default_factory=list)
    reference: Particle | None = None

    def to_dict(self) -> dict:
        """A JSON-friendly summary (no particle texts beyond the selected one)."""
        return {
            "method": self.method,
            "text": self.text,
            "answer": self.answer if isinstance(self.answer, (str, int, float, type(None))) else str(self.answer),
            "reward": _finite_or_none(self.particles[self.index].reward) if self.particles else None,
            "num_particles": len(self.particles),
            "usage": self.usage.as_dict(),
            "submissions": self.submissions,
        }


def _finite_or_none(x):
    return float(x) if x is not None and math.isfinite(x) else None
