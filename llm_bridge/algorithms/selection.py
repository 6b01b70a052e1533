r"""The final pick of a run and its packaging: :func:`default_answer_fn`, :func:`select`, :func:`finish`."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from llm_bridge.algorithms.particle import Particle, TTSResult
from llm_bridge.algorithms.voting import majority_index, weighted_index

__all__ = ["FINAL_SELECTIONS", "default_answer_fn", "check_final", "select", "finish"]

#: The final selections of the particle methods.
FINAL_SELECTIONS = ("argmax", "sample", "majority", "weighted")

_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")


def default_answer_fn(text: str) -> Hashable | None:
    r"""The canonical answer of a response: the last ``\boxed{...}``, else ``"A: x"``'s ``x``, else the last line."""
    m = _BOXED.findall(text)
    if m:
        return m[-1].strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return None
    last = lines[-1]
    if last.startswith("A:"):
        return last[2:].strip()
    return last


def check_final(final) -> str:
    """``final`` if it is one of :data:`FINAL_SELECTIONS`, else a clear ``ValueError``."""
    if not isinstance(final, str) or final not in FINAL_SELECTIONS:
        raise ValueError(f"final must be one of {FINAL_SELECTIONS}, got {final!r}")
    return final


def select(session, particles: Sequence[Particle], log_weights: np.ndarray, how: str,
           answer_fn: Callable[[str], Hashable] | None, rng) -> int:
    """Index of the final pick: ``argmax`` (reward), ``sample`` (from the weights),
    ``majority`` (most frequent answer) or ``weighted`` (answer with the largest summed weight)."""
    if how == "argmax":
        r = np.array([p.reward for p in particles], float)
        if np.isnan(r).all():
            return 0
        return int(np.nanargmax(r))
    if how == "sample":
        w = np.exp(log_weights - log_weights.max())
        return int(rng.choice(len(w), p=w / w.sum()))
    answers = [(answer_fn or default_answer_fn)(session.text(p)) for p in particles]
    if how == "majority":
        return majority_index(answers, rng=rng)
    if how == "weighted":
        return weighted_index(answers, np.exp(log_weights - log_weights.max()), rng=rng)
    raise ValueError(f"final selection must be one of {FINAL_SELECTIONS}; got {how!r}")


def finish(name, session, particles, lw, history, final, answer_fn, *, reference: Particle | None = None) -> TTSResult:
    """Normalize the weights, make the final pick and package a :class:`TTSResult`."""
    lw = np.asarray(lw, float)
    lwn = lw - np.logaddexp.reduce(lw)
    i = select(session, particles, lwn, final, answer_fn, session.rng)
    text = session.text(particles[i])
    ans = (answer_fn or default_answer_fn)(text)
    return TTSResult(name, text, ans, i, list(particles), lwn, session.usage, history, [text], reference)
