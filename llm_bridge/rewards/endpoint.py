"""A process reward model served over HTTP (vLLM ``/pooling`` or any per-separator scorer)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from llm_bridge.contracts import (
    check_score_steps_args,
    check_step_scores,
)
from llm_bridge.exceptions import MalformedOutputError
from llm_bridge.rewards._base import QWEN_PRM_SYSTEM_PROMPT

__all__ = ['EndpointPRM']


class EndpointPRM:
    r"""A PRM served over HTTP, e.g. ``vllm serve Qwen/Qwen2.5-Math-PRM-7B --runner pooling``.

    Each partial answer is rendered like :class:`TransformersPRM` (steps joined and ended
    by ``step_token``; chat messages or a plain string) and all answers go to
    ``POST {base_url}{path}`` in one request, ``{"model": model, "input": [text, ...]}``
    (chat messages use one request per answer with ``"messages"``).  The response's
    ``data[i]["data"]`` must hold one entry per separator: a probability, or a
    ``[p_negative, p_positive]`` pair (``positive_index`` picks the entry); with
    ``scores_are="logits"`` a softmax is applied first.

    Retries, timeouts and the concurrency limit come from the shared HTTP client.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        path: str = "/pooling",
        step_token: str = "<extra_0>",
        system_prompt: str | None = QWEN_PRM_SYSTEM_PROMPT,
        use_messages: bool = False,
        positive_index: int = 1,
        scores_are: str = "probs",
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_concurrency: int = 8,
        batch_size: int = 64,
    ):
        from llm_bridge.backends._http import HTTPClient

        if scores_are not in ("probs", "logits"):
            raise ValueError(f"scores_are must be 'probs' or 'logits', got {scores_are!r}")
        self.client = HTTPClient(
            base_url, api_key=api_key, timeout=timeout, max_retries=max_retries, backoff=backoff,
            max_concurrency=max_concurrency,
        )
        self.model = model
        self.path = path
        self.step_token = step_token
        self.system_prompt = system_prompt
        self.use_messages = use_messages
        self.positive_index = positive_index
        self.scores_are = scores_are
        self.batch_size = batch_size
        self.name = f"EndpointPRM({base_url}{path})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _messages(self, q, steps):
        body = "".join(s + self.step_token for s in steps)
        msgs = [] if self.system_prompt is None else [{"role": "system", "content": self.system_prompt}]
        return msgs + [{"role": "user", "content": q}, {"role": "assistant", "content": body}]

    def _parse_entry(self, entry, n_steps: int, i: int) -> list[float]:
        data = entry.get("data") if isinstance(entry, dict) else None
        if not isinstance(data, list) or len(data) != n_steps:
            got = len(data) if isinstance(data, list) else type(data).__name__
            raise MalformedOutputError(f"{self.name}: answer {i} got {got} step entries for {n_steps} steps")
        vals = []
        for e in data:
            if isinstance(e, (list, tuple)):
                arr = np.asarray(e, dtype=float)
                if self.scores_are == "logits":
                    arr = np.exp(arr - arr.max()) / np.exp(arr - arr.max()).sum()
                if not (0 <= self.positive_index < len(arr)):
                    raise MalformedOutputError(f"{self.name}: step entry {e!r} has no index {self.positive_index}")
                vals.append(float(arr[self.positive_index]))
            elif isinstance(e, (int, float)):
                vals.append(1 / (1 + math.exp(-e)) if self.scores_are == "logits" else float(e))
            else:
                raise MalformedOutputError(f"{self.name}: answer {i} has a non-numeric step entry {e!r}")
        return vals

    def score_steps(self, questions: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """Score all partial answers (batched requests of ``batch_size`` inputs)."""
        qs, st = check_score_steps_args(questions, steps)
        out: list[list[float]] = [[] for _ in qs]
        todo = [i for i, s in enumerate(st) if s]
        if self.use_messages:
            payloads = [{"model": self.model, "messages": self._messages(qs[i], st[i])} for i in todo]
            groups = [[i] for i in todo]
        else:
            groups = [todo[k : k + self.batch_size] for k in range(0, len(todo), self.batch_size)]
            payloads = [
                {"model": self.model,
                 "input": [qs[i].rstrip("\n") + "\n" + "".join(s + self.step_token for s in st[i]) for i in g]}
                for g in groups
            ]
        answers = self.client.post_many(self.path, payloads)
        for g, ans in zip(groups, answers, strict=True):
            data = ans.get("data") if isinstance(ans, dict) else None
            if not isinstance(data, list) or len(data) != len(g):
                raise MalformedOutputError(f"{self.name}: expected {len(g)} entries in 'data', got {str(ans)[:200]}")
            for entry, i in zip(data, g, strict=True):
                out[i] = self._parse_entry(entry, len(st[i]), i)
        return check_step_scores(out, st, self.name)
