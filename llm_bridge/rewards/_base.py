"""The shared pieces of the PRMs: the Qwen PRM system prompt, a prefix memo and the per-step base class."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from llm_bridge.contracts import (
    check_score_steps_args,
    check_step_scores,
)
from llm_bridge.exceptions import InvalidRewardError

__all__ = ["QWEN_PRM_SYSTEM_PROMPT"]


QWEN_PRM_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."


class _PrefixMemo:
    """A bounded LRU of per-prefix scores keyed by ``(question, steps[:t+1])``."""

    def __init__(self, maxsize: int):
        self.maxsize = int(maxsize)
        self._d: OrderedDict = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        if key in self._d:
            self._d.move_to_end(key)
            self.hits += 1
            return self._d[key]
        self.misses += 1
        return None

    def put(self, key, value):
        if self.maxsize <= 0:
            return
        self._d[key] = value
        self._d.move_to_end(key)
        while len(self._d) > self.maxsize:
            self._d.popitem(last=False)


class _PerStepPRM:
    """Base of PRMs that score each step on its own (memoised): subclasses implement ``_score_new``."""

    name = "PRM"

    def __init__(self, cache_size: int = 100_000):
        self._memo = _PrefixMemo(cache_size)

    def _score_new(self, items: list[tuple[str, tuple[str, ...]]]) -> list[float]:
        """Scores of the last step of each ``(question, steps_prefix)`` (non-empty prefixes)."""
        raise NotImplementedError

    def score_steps(self, questions: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """One probability per step of each partial answer (see :class:`~llm_bridge.protocols.RewardModel`)."""
        qs, st = check_score_steps_args(questions, steps)
        keys = [[(q, tuple(s[: t + 1])) for t in range(len(s))] for q, s in zip(qs, st, strict=True)]
        values: dict = {}
        todo = []
        for row in keys:
            for k in row:
                if k in values:
                    continue
                v = self._memo.get(k)
                if v is None:
                    values[k] = None
                    todo.append(k)
                else:
                    values[k] = v
        if todo:
            vals = self._score_new(todo)
            if len(vals) != len(todo):
                raise InvalidRewardError(f"{self.name} produced {len(vals)} scores for {len(todo)} steps")
            for k, v in zip(todo, vals, strict=True):
                try:
                    v = float(v)
                except (TypeError, ValueError):
                    raise InvalidRewardError(f"{self.name} produced a non-numeric score {v!r}") from None
                if not (0.0 <= v <= 1.0):  # also rejects NaN
                    raise InvalidRewardError(
                        f"{self.name} produced {v!r} for step {len(k[1]) - 1} ({k[1][-1][:60]!r}); expected a "
                        "probability in [0, 1]"
                    )
                values[k] = v
                self._memo.put(k, v)
        out = [[values[k] for k in row] for row in keys]
        return check_step_scores(out, st, self.name)
