r"""The step policy (:mod:`llm_bridge.toy.step_policy`) behind the :class:`~llm_bridge.protocols.Backend` protocol.

A prompt is a toy prompt (``"23 +45 -27 *2\n"``) followed by the solution lines written so
far; ``generate`` writes the next line(s): ``"{v}{op}{a}={r}"`` with ``v`` the previous
line's result (the start value first) and ``r`` sampled from the policy, then ``"A: {v}"``
and EOS.  With ``"\n"`` among ``stop`` one line is written per call (``finish_reason
"stop"``, or ``"eos"`` for the answer line); without it the whole rest of the solution.

Tokens are characters, as with the character tokenizer of the toy transformer: a line of
``L`` characters costs ``L + 1`` tokens (its delimiter or EOS).  ``logprob`` is the sum of
the result digits' log-probabilities at temperature 1 (copied characters are
deterministic); ``score`` is the same teacher-forced (``-inf`` for text the policy cannot
write).  Calls and tokens are counted in ``calls`` / ``tokens``.

Example
-------
>>> from llm_bridge.toy.step_backend import StepPolicyBackend
>>> be = StepPolicyBackend.shipped()
>>> g = be.generate(["5 +3\n"], n=2, stop=["\n"], seed=0)[0]
>>> [x.text.startswith("5+3=") for x in g], g[0].finish_reason
([True, True], 'stop')
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from llm_bridge.protocols import Generation
from llm_bridge.toy.step_policy import _OPS, StepPolicy, load_step_policy
from llm_bridge.toy.task import ANSWER_PREFIX, STEP_DELIMITER, parse_prompt

__all__ = ["StepPolicyBackend"]

_LINE = re.compile(r"^(\d+)([+\-*])(\d+)=(\d+)$")


class StepPolicyBackend:
    """A :class:`~llm_bridge.protocols.Backend` sampling from a :class:`StepPolicy` (numpy, no torch)."""

    def __init__(self, policy: StepPolicy, *, seed: int = 0):
        if not isinstance(policy, StepPolicy):
            raise TypeError(f"policy must be a StepPolicy, got {type(policy).__name__}")
        self.policy = policy
        self._rng = np.random.default_rng(seed)
        self.calls = 0
        self.tokens = 0

    @classmethod
    def shipped(cls, *, seed: int = 0) -> StepPolicyBackend:
        """The backend over the shipped weights (``llm_bridge/toy/assets/step_policy.npz``)."""
        return cls(load_step_policy(), seed=seed)

    @staticmethod
    def _state(prompt: str):
        """(problem, number of lines written, current value) of a prompt + partial solution."""
        if not isinstance(prompt, str):
            raise TypeError(f"prompts must hold str, got {type(prompt).__name__}")
        problem = parse_prompt(prompt)
        lines = [ln.strip() for ln in prompt.split(STEP_DELIMITER)[1:] if ln.strip()]
        v = problem.start
        for ln in lines:
            m = _LINE.match(ln)
            if m is None:
                if ln.startswith(ANSWER_PREFIX.strip()):
                    return problem, len(problem.ops) + 1, v
                raise ValueError(f"StepPolicyBackend cannot continue a line it would not write: {ln!r}")
            v = int(m.group(4))
        return problem, len(lines), v

    def generate(self, prompts: Sequence[str], *, n: int = 1, max_tokens: int = 64, temperature: float = 1.0,
                 top_p: float = 1.0, stop: Sequence[str] = (), seed: int | None = None) -> list[list[Generation]]:
        """``n`` continuations per prompt (see the module docstring)."""
        if isinstance(prompts, str):
            raise TypeError("prompts must be a sequence of str, got a single str; wrap it in a list")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0 (greedy is not supported), got {temperature!r}")
        if top_p != 1.0:
            raise ValueError(f"top_p must be 1.0 for StepPolicyBackend, got {top_p!r}")
        rng = np.random.default_rng(seed) if seed is not None else self._rng
        one_line = STEP_DELIMITER in tuple(stop)
        self.calls += 1
        out = []
        for prompt in prompts:
            problem, t, v0 = self._state(prompt)
            vals = np.full(n, v0, np.int64)
            texts: list[list[str]] = [[] for _ in range(n)]
            lps = np.zeros(n)
            finish = "eos"
            while t < len(problem.ops):
                op, a = problem.ops[t]
                r = self.policy.sample_results(rng, vals, _OPS[op], a, 1, temperature)[:, 0]
                lps += self.policy.result_logprob(vals, _OPS[op], a, r)
                for i in range(n):
                    texts[i].append(f"{vals[i]}{op}{a}={r[i]}")
                vals, t = r, t + 1
                if one_line:
                    finish = "stop"
                    break
            else:
                if t == len(problem.ops):
                    for i in range(n):
                        texts[i].append(f"{ANSWER_PREFIX}{vals[i]}")
            row = []
            for i in range(n):
                text = STEP_DELIMITER.join(texts[i])
                fr = finish
                ntok = len(text) + 1
                if ntok > max_tokens:
                    text, fr, ntok = text[:max_tokens], "length", max_tokens
                self.tokens += ntok
                row.append(Generation(text=text, num_tokens=ntok, logprob=float(lps[i]),
                                      finish_reason=fr))  # type: ignore[arg-type]  # fr is 'stop', 'eos' or 'length'
            out.append(row)
        return out

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[float]:
        """``log p(continuation | prompt)`` at temperature 1 (``-inf`` if the policy cannot write it)."""
        if len(prompts) != len(continuations):
            raise ValueError(f"prompts and continuations must have equal lengths, got {len(prompts)} and "
                             f"{len(continuations)}")
        out = []
        for prompt, cont in zip(prompts, continuations, strict=True):
            problem, t, v = self._state(prompt)
            total = 0.0
            for ln in (x.strip() for x in cont.split(STEP_DELIMITER) if x.strip()):
                m = _LINE.match(ln)
                if t < len(problem.ops) and m and int(m.group(1)) == v and (m.group(2), int(m.group(3))) == \
                        problem.ops[t]:
                    r = int(m.group(4))
                    total += float(self.policy.result_logprob(v, _OPS[m.group(2)], int(m.group(3)), r)[0]) \
                        if r < 1000 else -np.inf
                    v, t = r, t + 1
                elif t == len(problem.ops) and ln == f"{ANSWER_PREFIX}{v}":
                    t += 1
                else:
                    total = -np.inf
                    break
            out.append(total)
        return out
