"""An LLM as a step judge: ``P("Yes") / (P("Yes") + P("No"))`` via ``Backend.score``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from llm_bridge.exceptions import InvalidRewardError, MalformedOutputError
from llm_bridge.rewards._base import _PerStepPRM

__all__ = ['LLMJudgePRM', 'DEFAULT_JUDGE_TEMPLATE']


DEFAULT_JUDGE_TEMPLATE = (
    "Question:\n{question}\n\nSolution so far:\n{previous}\n\nNew step:\n{step}\n\n"
    "Is the new step correct? Answer Yes or No.\nAnswer:"
)


class LLMJudgePRM(_PerStepPRM):
    r"""An LLM as judge: score = :math:`P(\text{yes}) / (P(\text{yes}) + P(\text{no}))`.

    For every step a judge prompt (``template`` with ``{question}``, ``{previous}`` -- the
    earlier steps joined by ``joiner`` -- and ``{step}``; ``prompt_fn`` may wrap it, e.g.
    in a chat template) is scored with ``backend.score`` for the continuations ``yes`` and
    ``no`` (two teacher-forced calls batched over all new steps).  Normalising over the two
    answers removes the probability of other continuations.

    Needs a backend whose ``score`` is exact (:class:`TransformersBackend`, vLLM); not
    llama.cpp's server (its prompt scoring is off by one).
    """

    def __init__(
        self,
        backend,
        *,
        template: str = DEFAULT_JUDGE_TEMPLATE,
        yes: str = " Yes",
        no: str = " No",
        joiner: str = "\n",
        prompt_fn: Callable[[str], str] | None = None,
        cache_size: int = 100_000,
    ):
        super().__init__(cache_size)
        for key in ("{question}", "{step}"):
            if key not in template:
                raise ValueError(f"template must contain {key}, got {template[:80]!r}")
        if not yes or not no or yes == no:
            raise ValueError(f"yes and no must be two different non-empty strings, got {yes!r} and {no!r}")
        self.backend = backend
        self.template = template
        self.yes, self.no, self.joiner = yes, no, joiner
        self.prompt_fn = prompt_fn
        self.name = f"LLMJudgePRM({type(backend).__name__})"

    def judge_prompt(self, question: str, steps: Sequence[str]) -> str:
        """The judge prompt for the last of ``steps``."""
        prev = self.joiner.join(steps[:-1]) if len(steps) > 1 else "(none)"
        text = self.template.format(question=question, previous=prev, step=steps[-1])
        return self.prompt_fn(text) if self.prompt_fn else text

    def _score_new(self, items):
        prompts = [self.judge_prompt(q, s) for q, s in items]
        ly = np.asarray(self.backend.score(prompts, [self.yes] * len(prompts)), float)
        ln = np.asarray(self.backend.score(prompts, [self.no] * len(prompts)), float)
        shapes_ok = ly.shape == (len(prompts),) and ln.shape == (len(prompts),)
        if not shapes_ok or not np.all(np.isfinite(np.r_[ly, ln]) | (np.r_[ly, ln] == -np.inf)):
            raise MalformedOutputError(f"{self.name}: the backend's score returned invalid log-probabilities")
        m = np.maximum(ly, ln)
        if np.any(m == -np.inf):
            raise InvalidRewardError(f"{self.name}: both {self.yes!r} and {self.no!r} have probability 0")
        return list(1.0 / (1.0 + np.exp(ln - ly)))
