r"""The contracts of :mod:`llm_bridge`: the Protocols every backend and reward model implements, and their validators.

Backends and reward models are ``typing.Protocol``\ s: anything with these methods plugs
into the algorithms (particle filtering, particle Gibbs, best-of-N, beam search, ...).
All calls are *batched*: the algorithms hand over every particle's prefix of a step in one
call, so a backend can batch, fan out or cache as it sees fit.

The validators below are the single statement of each contract.  Implementations call the
``check_*_args`` functions on their inputs; the engine and the reward models call the
``check_*`` output validators on what an implementation returned.

Conventions
-----------
- ``Backend.generate(prompts, n=..)`` returns one list per prompt, each holding ``n``
  :class:`Generation` s (so ``len(result) == len(prompts)`` and ``len(result[i]) == n``).
- ``Generation.text`` never includes the matched stop string; ``finish_reason`` is
  ``"stop"`` (a stop string matched), ``"eos"`` (the model ended the answer) or
  ``"length"`` (``max_tokens`` reached).  ``logprob`` is the sum of the sampled tokens'
  log-probabilities under the *unmodified* model distribution (temperature 1, no top-p), or
  ``nan`` when the backend cannot provide it.
- ``Backend.score(prompts, continuations)`` returns ``log p(continuation | prompt)`` summed
  over the continuation's tokens (teacher forcing).
- ``TokenScoringBackend.score_tokens(prompts, continuations)`` returns, per continuation, a
  ``list[float]`` of per-token log-probabilities (empty for an empty continuation).
- ``RewardModel.score_steps(questions, steps)`` returns, for each partial answer (a list of
  step strings), one probability in ``[0, 1]`` per step.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from llm_bridge.exceptions import InvalidRewardError, MalformedOutputError

__all__ = [
    "FinishReason",
    "FINISH_REASONS",
    "Generation",
    "Backend",
    "TokenScoringBackend",
    "RewardModel",
    "check_prompt",
    "check_prompts",
    "check_generate_args",
    "check_score_args",
    "check_score_steps_args",
    "check_generations",
    "check_token_scores",
    "check_step_scores",
    "check_backend",
    "check_token_scoring_backend",
    "check_reward_model",
]

FinishReason = Literal["stop", "eos", "length"]
FINISH_REASONS: tuple[str, ...] = ("stop", "eos", "length")


@dataclass(frozen=True)
class Generation:
    """One sampled continuation."""

    text: str
    token_ids: tuple[int, ...] = ()
    num_tokens: int = 0
    logprob: float = float("nan")
    finish_reason: FinishReason = "length"
    meta: dict = field(default_factory=dict, compare=False, hash=False)


@runtime_checkable
class Backend(Protocol):
    """A text generator with log-probabilities."""

    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        max_tokens: int = 64,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> list[list[Generation]]: ...

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[float]: ...


@runtime_checkable
class TokenScoringBackend(Protocol):
    """A scorer of per-token log-probabilities (needed by ``SelfCertaintyPRM``; every shipped backend is one)."""

    def score_tokens(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[list[float]]: ...


@runtime_checkable
class RewardModel(Protocol):
    """A process reward model: per-step probabilities that a partial answer is on track."""

    def score_steps(self, questions: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float]]: ...


# ----------------------------------------------------------------------------- implementations
def check_backend(backend, name: str = "backend"):
    """``backend`` if it implements :class:`Backend` (``generate``), else a clear ``TypeError``."""
    if not callable(getattr(backend, "generate", None)):
        raise TypeError(f"{name} must implement Backend.generate (see llm_bridge.contracts.Backend), "
                        f"got {type(backend).__name__}")
    return backend


def check_token_scoring_backend(backend, name: str = "backend"):
    """``backend`` if it implements :class:`TokenScoringBackend` (``score_tokens``), else a clear ``TypeError``."""
    if not callable(getattr(backend, "score_tokens", None)):
        raise TypeError(f"{name} must implement TokenScoringBackend.score_tokens (per-token log-probabilities), "
                        f"got {type(backend).__name__}; use TransformersBackend, VLLMBackend or a vLLM server")
    return backend


def check_reward_model(prm, name: str = "prm"):
    """``prm`` if it implements :class:`RewardModel`, else a ``TypeError``."""
    if not callable(getattr(prm, "score_steps", None)):
        raise TypeError(f"{name} must implement RewardModel.score_steps (see llm_bridge.contracts.RewardModel), "
                        f"got {type(prm).__name__}")
    return prm


# ----------------------------------------------------------------------------- inputs
def check_prompt(prompt, name: str = "prompt") -> str:
    """A non-empty string, else a clear ``TypeError``/``ValueError``."""
    if not isinstance(prompt, str):
        raise TypeError(f"{name} must be a str, got {type(prompt).__name__}")
    if not prompt.strip():
        raise ValueError(f"{name} must be a non-empty string (got {prompt!r}); nothing to continue from")
    return prompt


def check_prompts(prompts, name: str = "prompts") -> list[str]:
    """A non-empty list of non-empty strings, or a clear ``TypeError``/``ValueError``."""
    if isinstance(prompts, str):
        raise TypeError(f"{name} must be a sequence of strings, got a single str; wrap it in a list: [{name[:-1]}]")
    try:
        out = list(prompts)
    except TypeError as e:
        raise TypeError(f"{name} must be a sequence of strings, got {type(prompts).__name__}") from e
    for i, p in enumerate(out):
        if not isinstance(p, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(p).__name__}")
        if p == "":
            raise ValueError(f"{name}[{i}] is an empty string; every prompt needs at least one character")
    return out


def _positive_int(value, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def check_generate_args(
    *, n, max_tokens, temperature, top_p, stop, seed
) -> tuple[int, int, float, float, tuple[str, ...], int | None]:
    """Validate the common ``generate`` arguments and return them normalised."""
    _positive_int(n, "n")
    _positive_int(max_tokens, "max_tokens")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature) \
            or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not (0 < top_p <= 1):
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    if isinstance(stop, str):
        stop = (stop,)
    try:
        stop = tuple(stop or ())
    except TypeError as e:
        raise TypeError(f"stop must be a sequence of strings, got {type(stop).__name__}") from e
    for s in stop:
        if not isinstance(s, str) or s == "":
            raise ValueError(f"stop must be a sequence of non-empty strings, got {stop!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    return n, max_tokens, float(temperature), float(top_p), stop, seed


def check_score_args(prompts, continuations) -> tuple[list[str], list[str]]:
    """Prompts as in :func:`check_prompts`; continuations strings (may be empty), same length."""
    prompts = check_prompts(prompts)
    if isinstance(continuations, str):
        raise TypeError("continuations must be a sequence of strings, got a single str")
    try:
        conts = list(continuations)
    except TypeError as e:
        raise TypeError(f"continuations must be a sequence of strings, got {type(continuations).__name__}") from e
    if len(conts) != len(prompts):
        raise ValueError(f"prompts and continuations must have the same length, got {len(prompts)} and {len(conts)}")
    for i, c in enumerate(conts):
        if not isinstance(c, str):
            raise TypeError(f"continuations[{i}] must be a str, got {type(c).__name__}")
    return prompts, conts


def check_score_steps_args(questions, steps) -> tuple[list[str], list[list[str]]]:
    """``score_steps`` inputs: a sequence of question strings and, per question, a list of step strings."""
    if isinstance(questions, str):
        raise TypeError("questions must be a sequence of strings, got a single str")
    try:
        qs = list(questions)
        raw = list(steps)
    except TypeError as e:
        raise TypeError("questions and steps must be sequences (of strings, and of lists of step strings)") from e
    if any(isinstance(s, str) for s in raw):
        raise TypeError("steps must be a sequence of lists of step strings, got a str where a list was expected")
    try:
        st = [list(s) for s in raw]
    except TypeError as e:
        raise TypeError("steps must be a sequence of lists of step strings") from e
    if len(qs) != len(st):
        raise ValueError(f"questions and steps must have the same length, got {len(qs)} and {len(st)}")
    for i, q in enumerate(qs):
        if not isinstance(q, str):
            raise TypeError(f"questions[{i}] must be a str, got {type(q).__name__}")
    for i, s in enumerate(st):
        for j, x in enumerate(s):
            if not isinstance(x, str):
                raise TypeError(f"steps[{i}][{j}] must be a str, got {type(x).__name__}")
    return qs, st


# ----------------------------------------------------------------------------- outputs
def check_generations(out, n_prompts: int, n: int, source: str) -> list[list[Generation]]:
    """A backend's ``generate`` output: ``n_prompts`` rows of ``n`` generations with valid fields.

    Raises :class:`~llm_bridge.exceptions.MalformedOutputError` naming ``source`` otherwise.
    """
    if not isinstance(out, (list, tuple)) or len(out) != n_prompts:
        got = len(out) if isinstance(out, (list, tuple)) else type(out).__name__
        raise MalformedOutputError(f"{source}.generate returned {got} results for {n_prompts} prompts; "
                                   "expected one list per prompt")
    for i, row in enumerate(out):
        if not isinstance(row, (list, tuple)) or len(row) != n:
            got = len(row) if isinstance(row, (list, tuple)) else type(row).__name__
            raise MalformedOutputError(f"{source}.generate returned {got} generations for prompt {i}; expected n={n}")
        for g in row:
            if not isinstance(getattr(g, "text", None), str):
                raise MalformedOutputError(f"{source}.generate returned a generation without a str text: {g!r}")
            if getattr(g, "finish_reason", None) not in FINISH_REASONS:
                raise MalformedOutputError(f"{source}.generate returned finish_reason="
                                           f"{getattr(g, 'finish_reason', None)!r}; expected one of {FINISH_REASONS}")
            nt = getattr(g, "num_tokens", None)
            if (type(nt) is not int and (isinstance(nt, bool) or not isinstance(nt, numbers.Integral))) or nt < 0:
                raise MalformedOutputError(f"{source}.generate returned num_tokens={nt!r}; expected an int >= 0")
    return [list(row) for row in out]


def check_token_scores(out, continuations: Sequence[str], source: str) -> list[list[float]]:
    """A ``score_tokens`` output: one list of finite log-probabilities ``<= 0`` per continuation."""
    if not isinstance(out, (list, tuple)) or len(out) != len(continuations):
        got = len(out) if isinstance(out, (list, tuple)) else type(out).__name__
        raise MalformedOutputError(f"{source}.score_tokens returned {got} rows for {len(continuations)} continuations")
    rows = []
    for i, t in enumerate(out):
        try:
            vals = [float(v) for v in t]
        except (TypeError, ValueError):
            raise MalformedOutputError(f"{source}.score_tokens returned non-numeric log-probabilities for row {i}") \
                from None
        bad = [v for v in vals if not (v <= 1e-6)]  # also rejects NaN; +1e-6 allows float round-off above 0
        if bad:
            raise MalformedOutputError(f"{source}.score_tokens returned {bad[0]!r} in row {i} "
                                       f"({continuations[i][:40]!r}); a log-probability must be <= 0")
        rows.append(vals)
    return rows


def check_step_scores(scores, steps: Sequence[Sequence[str]], source: str = "reward model") -> list[list[float]]:
    """A ``score_steps`` output: one list per answer, one probability in ``[0, 1]`` per step.

    Returns the scores as lists of Python floats; raises
    :class:`~llm_bridge.exceptions.InvalidRewardError` naming the answer and step otherwise.
    """
    if not isinstance(scores, (list, tuple)) or len(scores) != len(steps):
        got = len(scores) if isinstance(scores, (list, tuple)) else type(scores).__name__
        raise InvalidRewardError(f"{source} returned {got} score lists for {len(steps)} partial answers")
    out = []
    for i, (sc, st) in enumerate(zip(scores, steps, strict=True)):
        try:
            vals = [float(v) for v in sc]
        except (TypeError, ValueError):
            raise InvalidRewardError(f"{source} returned non-numeric scores {sc!r} for answer {i}") from None
        if len(vals) != len(st):
            raise InvalidRewardError(f"{source} returned {len(vals)} scores for an answer of {len(st)} steps "
                                     f"(answer {i})")
        for j, v in enumerate(vals):
            if not (0.0 <= v <= 1.0):  # also rejects NaN
                raise InvalidRewardError(f"{source} returned {v!r} for step {j} of answer {i}; expected a "
                                         "probability in [0, 1] (NaN is not)")
        out.append(vals)
    return out
