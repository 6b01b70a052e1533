r"""Answer-level selection rules: majority, weighted majority, Best-of-Majority.

All work on a list of canonical answers (``None`` = no parsable answer, never
voted for) and return indices into that list, so they apply equally to BoN
samples, a particle filter's final pool, or subsamples in an accuracy-vs-budget
curve.

- **Majority / self-consistency** (Wang et al. 2022): the most frequent answer.
- **Weighted majority** (search-and-learn "weighted"; the paper's WBoN):
  :math:`\arg\max_a \sum_i r_i 1[a_i = a]`.
- **Best-of-Majority** (Di et al. 2025, arXiv:2510.03199): keep responses whose
  answer has empirical frequency :math:`\ge \alpha`, submit the ``k`` highest-reward
  ones (distinct answers).

Ties are broken uniformly at random with the given generator (its_hub's
self-consistency), or by first occurrence when ``rng`` is ``None``.

Example
-------
>>> majority_index(["1", "2", "2", None])
1
>>> weighted_index(["1", "2", "2"], [0.9, 0.3, 0.3])
0
>>> best_of_majority(["1", "2", "2", "3"], [0.9, 0.5, 0.6, 0.99], k=1, alpha=0.5)
[2]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np

__all__ = ["majority_index", "weighted_index", "best_of_majority", "majority_vote", "weighted_majority_vote"]


def _check(answers, weights=None):
    if isinstance(answers, (str, bytes, dict, set, frozenset)) or not hasattr(answers, "__len__"):
        raise TypeError(f"answers must be a sequence (list) of canonical answers, got {type(answers).__name__}")
    answers = list(answers)
    if not answers:
        raise ValueError("answers must be a non-empty sequence")
    for a in answers:
        if not isinstance(a, Hashable):
            raise TypeError(f"every answer must be hashable (a str, number or None), got {type(a).__name__}")
    if weights is not None:
        try:
            w = np.asarray(weights, float)
        except (TypeError, ValueError):
            raise TypeError(f"weights must be a sequence of numbers, got {weights!r}") from None
        if w.shape != (len(answers),):
            raise ValueError(f"weights must have shape ({len(answers)},), got {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"weights must be finite non-negative numbers (no NaN or inf), got {w.tolist()}")
        return answers, w
    return answers, None


def _as_rng(rng):
    """``None``, a generator with ``integers`` (numpy's, or a :class:`KeyStream`), or a seed / JAX key."""
    if rng is None or callable(getattr(rng, "integers", None)):
        return rng
    from llm_bridge.algorithms.randomness import KeyStream

    return KeyStream(rng)


def _pick(scores: dict, rng) -> Hashable:
    rng = _as_rng(rng)
    best = max(scores.values())
    tied = [a for a, s in scores.items() if s >= best - 1e-12 * max(1.0, abs(best))]
    if rng is None or len(tied) == 1:
        return tied[0]
    return tied[int(rng.integers(len(tied)))]


def majority_index(answers: Sequence[Hashable | None], *, rng=None) -> int:
    """Index of the first response carrying the most frequent (non-``None``) answer (0 if none parse)."""
    answers, _ = _check(answers)
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return 0
    return answers.index(_pick(dict(counts), rng))


def weighted_index(answers: Sequence[Hashable | None], weights, *, rng=None) -> int:
    """Index of the highest-weight response carrying the answer with the largest summed weight."""
    answers, w = _check(answers, weights)
    tot: dict = {}
    for a, wi in zip(answers, w, strict=True):
        if a is not None:
            tot[a] = tot.get(a, 0.0) + wi
    if not tot:
        return int(np.argmax(w))
    win = _pick(tot, rng)
    idx = [i for i, a in enumerate(answers) if a == win]
    return idx[int(np.argmax(w[idx]))]


def majority_vote(answers: Sequence[Hashable | None], *, rng=None) -> Hashable | None:
    """The most frequent non-``None`` answer."""
    return list(answers)[majority_index(answers, rng=rng)]


def weighted_majority_vote(answers: Sequence[Hashable | None], weights, *, rng=None) -> Hashable | None:
    """The answer with the largest summed weight."""
    return list(answers)[weighted_index(answers, weights, rng=rng)]


def best_of_majority(answers: Sequence[Hashable | None], rewards, *, k: int = 1, alpha: float = 0.0) -> list[int]:
    r"""Best-of-Majority: indices of up to ``k`` submissions.

    Responses whose answer's frequency among all ``N`` is below ``alpha`` are dropped
    (``None`` answers too); among the rest, the highest-reward response of each answer
    is kept and the ``k`` best answers by that reward are submitted.  If no answer
    reaches ``alpha``, the most frequent answers are used instead.
    """
    answers, r = _check(answers, rewards)
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if not (0.0 <= alpha <= 1.0):
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    n = len(answers)
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return [int(np.argmax(r))]
    keep = {a for a, c in counts.items() if c / n >= alpha}
    if not keep:
        top = max(counts.values())
        keep = {a for a, c in counts.items() if c == top}
    best: dict = {}
    for i, a in enumerate(answers):
        if a in keep and (a not in best or r[i] > r[best[a]]):
            best[a] = i
    order = sorted(best.values(), key=lambda i: (-r[i], i))
    return order[: int(k)]
