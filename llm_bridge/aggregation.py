r"""Reward aggregation: from a PRM's per-step scores to one reward per partial answer.

An :class:`Aggregation` has two parts:

- ``prepare(steps) -> steps``: what is sent to the reward model.  Usually the steps
  themselves; for ``"model"`` aggregation (Puri et al. 2025, Sec. 3; the PRM used as
  an outcome model on the partial answer) the steps are joined into ONE step so the
  PRM returns a single score for the whole partial answer;
- ``reduce(scores) -> float``: the aggregated reward in ``[0, 1]``.

Built-ins (``"model"``, ``"prod"``, ``"min"``, ``"last"``, ``"mean"``) and any
user-supplied callable ``f(scores: Sequence[float]) -> float`` are accepted by
:func:`get_aggregation`; a callable's output is validated (finite, in ``[0, 1]``).

Example
-------
>>> agg = get_aggregation("prod")
>>> agg.reduce([0.5, 0.5])
0.25
>>> get_aggregation("model").prepare(["a", "b"], joiner="\n\n")
['a\n\nb']
>>> get_aggregation(lambda s: max(s)).reduce([0.1, 0.7])
0.7
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llm_bridge.exceptions import InvalidRewardError

__all__ = ["Aggregation", "AGGREGATIONS", "get_aggregation"]


def _prod(s):
    return math.prod(s)


def _mean(s):
    return sum(s) / len(s)


@dataclass(frozen=True)
class Aggregation:
    """A named reduction of per-step scores; ``whole_answer`` sends the answer as one step."""

    name: str
    fn: Callable[[Sequence[float]], float]
    whole_answer: bool = False

    def prepare(self, steps: Sequence[str], *, joiner: str = "\n\n") -> list[str]:
        """The steps to send to the reward model for this partial answer."""
        steps = list(steps)
        if self.whole_answer:
            return [joiner.join(steps)]
        return steps

    def reduce(self, scores: Sequence[float]) -> float:
        """Aggregate validated step scores into one reward in ``[0, 1]``."""
        if len(scores) == 0:
            raise InvalidRewardError(f"aggregation {self.name!r} received no step scores")
        r = self.fn(list(scores))
        try:
            r = float(r)
        except (TypeError, ValueError):
            raise InvalidRewardError(
                f"aggregation {self.name!r} returned {r!r}; expected a float in [0, 1]"
            ) from None
        if not (0.0 <= r <= 1.0):  # also catches NaN
            raise InvalidRewardError(
                f"aggregation {self.name!r} returned {r} for scores {list(scores)[:8]}; expected a value in [0, 1]"
            )
        return r


AGGREGATIONS: dict[str, Aggregation] = {
    "model": Aggregation("model", lambda s: s[-1], whole_answer=True),
    "prod": Aggregation("prod", _prod),
    "min": Aggregation("min", min),
    "last": Aggregation("last", lambda s: s[-1]),
    "mean": Aggregation("mean", _mean),
}


def get_aggregation(spec: str | Callable | Aggregation) -> Aggregation:
    """An :class:`Aggregation` from a name in :data:`AGGREGATIONS`, a callable, or an instance."""
    if isinstance(spec, Aggregation):
        return spec
    if isinstance(spec, str):
        if spec not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {spec!r}; expected one of {sorted(AGGREGATIONS)} or a callable")
        return AGGREGATIONS[spec]
    if callable(spec):
        return Aggregation(getattr(spec, "__name__", "custom"), spec)
    raise TypeError(f"aggregation must be a name, a callable or an Aggregation, got {type(spec).__name__}")
