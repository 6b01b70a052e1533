"""No PRM: each step scored by the policy's own token certainty via ``score_tokens``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from llm_bridge.contracts import (
    check_token_scores,
    check_token_scoring_backend,
)
from llm_bridge.rewards._base import _PerStepPRM

__all__ = ['SelfCertaintyPRM']


class SelfCertaintyPRM(_PerStepPRM):
    r"""No PRM: each step scored by the policy's own certainty, :math:`\exp(\frac1{n}\sum_k \log p(y_k \mid \cdot))`.

    The geometric-mean probability of the step's ``n`` tokens under the policy, given the
    prompt ``prompt_fn(question)`` and the earlier steps, each followed by ``joiner``
    (teacher forcing through ``backend.score_tokens``; the memo makes each step cost one
    scoring).  ``include_joiner=True`` also scores the delimiter after the step (the
    policy's probability of ending the step there).  ``reduce="min"`` uses the least
    likely token's probability instead of the geometric mean (one unlikely token -- a
    wrong digit -- is not averaged away).  Values lie in ``(0, 1]``.
    """

    def __init__(
        self,
        backend,
        *,
        prompt_fn: Callable[[str], str] | None = None,
        joiner: str = "\n\n",
        include_joiner: bool = False,
        reduce: str = "mean",
        cache_size: int = 100_000,
    ):
        super().__init__(cache_size)
        if reduce not in ("mean", "min"):
            raise ValueError(f"reduce must be 'mean' or 'min', got {reduce!r}")
        self.reduce = reduce
        check_token_scoring_backend(backend)
        self.backend = backend
        self.prompt_fn = prompt_fn
        self.joiner = joiner
        self.include_joiner = include_joiner
        self.name = f"SelfCertaintyPRM({type(backend).__name__})"

    def _score_new(self, items):
        prompts, conts = [], []
        for q, s in items:
            base = self.prompt_fn(q) if self.prompt_fn else q
            prompts.append(base + "".join(x + self.joiner for x in s[:-1]))
            conts.append(s[-1] + (self.joiner if self.include_joiner else ""))
        toks = check_token_scores(self.backend.score_tokens(prompts, conts), conts, type(self.backend).__name__)
        out = []
        for t in toks:
            if not t:
                out.append(1.0)  # an empty step is certain
                continue
            t = np.asarray(t, float)
            agg = t.mean() if self.reduce == "mean" else t.min()
            out.append(float(np.exp(np.minimum(agg, 0.0))))
        return out
