"""Programmatic step checkers: :class:`VerifierPRM` and the toy task's :class:`ToyStepVerifier`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from llm_bridge.exceptions import InvalidRewardError
from llm_bridge.rewards._base import _PerStepPRM

__all__ = ['VerifierPRM', 'ToyStepVerifier']


class VerifierPRM(_PerStepPRM):
    """A programmatic verifier: ``check(question, previous_steps, step)`` -> bool (or a probability).

    ``True`` maps to ``pass_score`` and ``False`` to ``fail_score``; a float is used as is.
    """

    def __init__(self, check: Callable, *, pass_score: float = 0.95, fail_score: float = 0.05,
                 cache_size: int = 100_000):
        super().__init__(cache_size)
        if not callable(check):
            raise TypeError(f"check must be callable, got {type(check).__name__}")
        for nm, v in (("pass_score", pass_score), ("fail_score", fail_score)):
            if not (0.0 <= v <= 1.0):
                raise ValueError(f"{nm} must be in [0, 1], got {v!r}")
        self.check = check
        self.pass_score, self.fail_score = float(pass_score), float(fail_score)
        self.name = f"VerifierPRM({getattr(check, '__name__', type(check).__name__)})"

    def _verdict(self, question, prev, step) -> float:
        v = self.check(question, list(prev), step)
        if isinstance(v, (bool, np.bool_)):
            return self.pass_score if v else self.fail_score
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise InvalidRewardError(f"{self.name}: check returned {v!r}; expected a bool or a probability") from None
        return v

    def _score_new(self, items):
        return [self._verdict(q, s[:-1], s[-1]) for q, s in items]


def _uniform(seed: int, *parts: str) -> float:
    """A deterministic U(0, 1) draw from a hash of ``seed`` and ``parts``."""
    h = hashlib.blake2b(digest_size=8, key=str(seed).encode()[:64])
    for p in parts:
        h.update(p.encode())
        h.update(b"\x1f")
    return int.from_bytes(h.digest(), "big") / 2**64


class ToyStepVerifier(VerifierPRM):
    r"""The exact step checker of the toy task, made imperfect at set rates.

    A wrong step passes with probability ``false_positive_rate`` and a correct step fails
    with probability ``false_negative_rate``.  The draw is a hash of ``(seed, question,
    steps so far)``, so a verifier is a *function* (the same partial answer always gets
    the same verdict) and independent across distinct steps.  Questions are toy prompts
    (:func:`~llm_bridge.toy.task.format_prompt`); correctness is
    :func:`~llm_bridge.toy.task.check_step` (on-track labels).

    With ``fpr = q`` the verifier is the "imperfect verifier" of Stroebl et al. (2024):
    resampling until a pass cannot exceed accuracy ``p / (p + q')`` (``q'`` the chance a
    wrong answer passes), whatever the budget.
    """

    def __init__(
        self,
        *,
        false_positive_rate: float = 0.0,
        false_negative_rate: float = 0.0,
        seed: int = 0,
        pass_score: float = 0.95,
        fail_score: float = 0.05,
        cache_size: int = 100_000,
    ):
        from llm_bridge.toy.task import check_step, parse_prompt

        for nm, v in (("false_positive_rate", false_positive_rate), ("false_negative_rate", false_negative_rate)):
            if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                raise ValueError(f"{nm} must be in [0, 1], got {v!r}")
        self.false_positive_rate = float(false_positive_rate)
        self.false_negative_rate = float(false_negative_rate)
        self.seed = int(seed)
        self._parse, self._check = parse_prompt, check_step

        def toy_check(question, prev, step):
            truth = self._check(self._parse(question), prev, step)
            u = _uniform(self.seed, question, *prev, step)
            if truth:
                return u >= self.false_negative_rate
            return u < self.false_positive_rate

        super().__init__(toy_check, pass_score=pass_score, fail_score=fail_score, cache_size=cache_size)
        self.name = f"ToyStepVerifier(fpr={self.false_positive_rate}, fnr={self.false_negative_rate}, seed={self.seed})"
