r"""The step engine shared by every algorithm: batched, metered, retried, validated.

A :class:`Session` holds one problem (prompt, backend, reward model, aggregation,
:class:`~llm_bridge.budget.Usage`, seeded generator) and offers two batched
operations on a list of :class:`Particle` s:

- :meth:`Session.extend`: ONE step for every active particle.  Particles sharing a
  prefix are sent once with ``n`` = their multiplicity (the first step is a single
  prompt with ``n = N``); prefixes with equal multiplicity go in one
  ``Backend.generate`` call, so a step costs one call per distinct multiplicity
  (usually 1 to 3).  Finished particles are frozen: never sent again.
- :meth:`Session.score`: ONE ``RewardModel.score_steps`` call for all partial answers
  not scored before (scores are cached by the step tuple, so resampled duplicates and
  frozen particles cost nothing).

A step is the text up to a delimiter (``StepConfig.delimiter``, default a blank line,
sent as the stop string) or a fixed number of tokens (``StepConfig.tokens_per_step``).
A particle finishes on EOS, when a step contains one of ``StepConfig.final_stop``, or
after ``max_steps`` steps.

Reliability: every call's seed is drawn BEFORE the call, so a retried call (after a
timeout / connection error / 5xx) reproduces exactly what the failed one would have
returned, and no particle is lost or changed by a failure.  Outputs are validated:
wrong counts or types raise :class:`~llm_bridge.exceptions.MalformedOutputError`,
NaN / out-of-range / wrongly sized rewards raise
:class:`~llm_bridge.exceptions.InvalidRewardError`.
"""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Hashable, Sequence

import numpy as np

from llm_bridge.aggregation import Aggregation, get_aggregation
from llm_bridge.budget import Usage
from llm_bridge.exceptions import (
    BackendError,
    BackendRequestError,
    InvalidRewardError,
    MalformedOutputError,
)

__all__ = [
    "StepConfig",
    "Particle",
    "Session",
    "TTSResult",
    "log_potential",
    "default_answer_fn",
    "check_prompt",
]

_FINISH = ("stop", "eos", "length")
_RETRYABLE = (BackendError, TimeoutError, ConnectionError, OSError)
_EPS = 1e-6


def log_potential(r: float | np.ndarray, tau: float = 1.0):
    r"""The paper's resampling log-weight :math:`\mathrm{logit}(\hat r)/\tau`, with ``r`` clipped to ``[1e-6, 1-1e-6]``.

    ``softmax(logit(r)/tau)`` is the resampling distribution of Puri et al. (2025),
    official code ``--softmax-temp``: probability ``\propto (r/(1-r))^{1/\tau}``.
    """
    r = np.clip(np.asarray(r, float), _EPS, 1 - _EPS)
    out = (np.log(r) - np.log1p(-r)) / tau
    return float(out) if out.ndim == 0 else out


def check_prompt(prompt, name: str = "prompt") -> str:
    """A non-empty string, else a clear ``TypeError``/``ValueError``."""
    if not isinstance(prompt, str):
        raise TypeError(f"{name} must be a str, got {type(prompt).__name__}")
    if not prompt.strip():
        raise ValueError(f"{name} must be a non-empty string (got {prompt!r}); nothing to continue from")
    return prompt


_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")


def default_answer_fn(text: str) -> Hashable | None:
    r"""The canonical answer of a response: the last ``\boxed{...}``, else ``"A: x"``'s ``x``, else the last non-empty line."""
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


@dataclass(frozen=True)
class StepConfig:
    """How a step is generated (see the module docstring).

    Parameters
    ----------
    delimiter : str
        Stop string ending a step (default a blank line, as in the paper's code).
    tokens_per_step : int, optional
        If given, a step is this many tokens instead (no delimiter; its_hub #97).
    max_steps : int
        A particle finishes after this many steps.
    max_step_tokens : int
        ``max_tokens`` of one step in delimiter mode.
    temperature, top_p : float
        Sampling parameters of the policy (paper: 0.8 and 1.0).
    final_stop : tuple of str
        A step containing one of these finishes the particle (e.g. ``("\\boxed",)``).
    retries : int
        Retries of a failed backend / reward call (timeouts, connection errors, 5xx).
    backoff : float
        Seconds before the first retry, doubled each time.
    """

    delimiter: str = "\n\n"
    tokens_per_step: int | None = None
    max_steps: int = 32
    max_step_tokens: int = 512
    temperature: float = 0.8
    top_p: float = 1.0
    final_stop: tuple[str, ...] = ()
    retries: int = 3
    backoff: float = 0.0

    def validate(self) -> "StepConfig":
        if self.tokens_per_step is None:
            if not isinstance(self.delimiter, str) or self.delimiter == "":
                raise ValueError(f"delimiter must be a non-empty string (or set tokens_per_step), got {self.delimiter!r}")
        elif isinstance(self.tokens_per_step, bool) or not isinstance(self.tokens_per_step, int) or self.tokens_per_step < 1:
            raise ValueError(f"tokens_per_step must be a positive int or None, got {self.tokens_per_step!r}")
        for name in ("max_steps", "max_step_tokens"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        if not (0 < self.top_p <= 1):
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if isinstance(self.final_stop, str):
            raise TypeError(f"final_stop must be a tuple of strings, got the string {self.final_stop!r}")
        if self.retries < 0 or self.backoff < 0:
            raise ValueError(f"retries and backoff must be >= 0, got {self.retries}, {self.backoff}")
        return self

    @property
    def joiner(self) -> str:
        return "" if self.tokens_per_step else self.delimiter


@dataclass(frozen=True)
class Particle:
    """A partial answer: its steps and what the algorithms know about it.

    ``rewards[t]`` is the aggregated reward of this particle's prefix after algorithm
    step ``t + 1`` (a frozen particle repeats its final reward), so particle Gibbs can
    compare a reference's PARTIAL reward at step ``t`` with the other particles'.
    """

    steps: tuple[str, ...] = ()
    done: bool = False
    finish_reason: str | None = None
    num_tokens: int = 0
    logprob: float = 0.0
    rewards: tuple[float, ...] = ()

    @property
    def reward(self) -> float:
        """The latest aggregated reward (NaN before the first scoring)."""
        return self.rewards[-1] if self.rewards else float("nan")

    def truncated(self, t: int) -> "Particle":
        """This particle as it was after algorithm step ``t`` (used for particle Gibbs references)."""
        n = min(t, len(self.steps))
        done = self.done and t >= len(self.steps)
        rw = self.rewards[:t] if t <= len(self.rewards) else self.rewards + (self.rewards[-1],) * (t - len(self.rewards))
        return Particle(self.steps[:n], done, self.finish_reason if done else None, self.num_tokens, self.logprob, rw)


@dataclass
class TTSResult:
    """The outcome of one inference run.

    Attributes
    ----------
    method : str
    text : str
        The selected response (steps joined by the delimiter).
    answer : hashable or None
        ``answer_fn(text)``.
    index : int
        Index of the selected particle in ``particles``.
    particles : list of Particle
        The final pool (PF/PG: the particle set; BoN: the N samples).
    log_weights : ndarray of shape (len(particles),)
        Normalized final log-weights (uniform for sampling baselines).
    usage : Usage
    history : list of dict
        Per-step diagnostics (``ess``, ``resampled``, ``active``...).
    submissions : list of str
        Best-of-Majority's ``k`` submissions (else ``[text]``).
    """

    method: str
    text: str
    answer: Hashable | None
    index: int
    particles: list[Particle]
    log_weights: np.ndarray
    usage: Usage
    history: list[dict] = field(default_factory=list)
    submissions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """A JSON-friendly summary (no particle texts beyond the selected one)."""
        return {
            "method": self.method,
            "text": self.text,
            "answer": self.answer if isinstance(self.answer, (str, int, float, type(None))) else str(self.answer),
            "reward": _finite_or_none(self.particles[self.index].reward) if self.particles else None,
            "num_particles": len(self.particles),
            "usage": self.usage.as_dict(),
            "submissions": self.submissions,
        }


def _finite_or_none(x):
    return float(x) if x is not None and math.isfinite(x) else None


class Session:
    """One problem's batched, metered access to a backend and a reward model (see module docstring)."""

    def __init__(self, backend, prm, prompt: str, *, config: StepConfig, aggregation="model",
                 usage: Usage | None = None, rng: np.random.Generator, question: str | None = None):
        self.backend = backend
        self.prm = prm
        self.prompt = check_prompt(prompt)
        self.question = prompt if question is None else check_prompt(question, "question")
        self.config = config.validate()
        self.aggregation: Aggregation = get_aggregation(aggregation)
        self.usage = usage if usage is not None else Usage()
        self.rng = rng
        self._cache: dict[tuple[str, ...], float] = {}
        if not callable(getattr(backend, "generate", None)):
            raise TypeError(f"backend must implement Backend.generate, got {type(backend).__name__}")
        if prm is not None and not callable(getattr(prm, "score_steps", None)):
            raise TypeError(f"prm must implement RewardModel.score_steps, got {type(prm).__name__}")

    # -- text ------------------------------------------------------------------------
    def prefix(self, steps: Sequence[str]) -> str:
        """The prompt continued by ``steps`` (each followed by the delimiter in delimiter mode)."""
        if self.config.tokens_per_step:
            return self.prompt + "".join(steps)
        return self.prompt + "".join(s + self.config.delimiter for s in steps)

    def text(self, p: Particle) -> str:
        """The response text of a particle."""
        return self.config.joiner.join(p.steps)

    def next_seed(self) -> int:
        return int(self.rng.integers(0, 2**31 - 1))

    # -- retries -----------------------------------------------------------------------
    def _retry(self, fn, what: str):
        cfg = self.config
        for attempt in range(cfg.retries + 1):
            try:
                with self.usage.timing("backend" if what == "generate" else "reward"):
                    return fn()
            except MalformedOutputError:
                raise
            except _RETRYABLE as exc:
                status = getattr(exc, "status_code", None)
                if status is not None and 400 <= status < 500 and status not in (408, 429):
                    raise
                if attempt == cfg.retries:
                    raise BackendRequestError(
                        f"{what} failed after {cfg.retries + 1} attempts: {exc!r}; the particles of this "
                        "step are unchanged (raise StepConfig.retries to retry more)",
                        attempts=cfg.retries + 1,
                    ) from exc
                self.usage.retries += 1
                if cfg.backoff:
                    time.sleep(cfg.backoff * 2**attempt)

    # -- generation ----------------------------------------------------------------------
    def _generate(self, prompts: list[str], n: int) -> list[list]:
        cfg = self.config
        max_tokens = cfg.tokens_per_step or cfg.max_step_tokens
        stop = () if cfg.tokens_per_step else (cfg.delimiter,)
        seed = self.next_seed()  # drawn before the call: a retry reproduces it exactly
        out = self._retry(lambda: self.backend.generate(
            prompts, n=n, max_tokens=max_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
            stop=stop, seed=seed), "generate")
        _check_generations(out, len(prompts), n, self.backend)
        self.usage.add_generations(len(prompts) * n, tokens=sum(g.num_tokens for row in out for g in row))
        return out

    def extend(self, particles: Sequence[Particle], *, skip: Sequence[int] = ()) -> list[Particle]:
        """One step for every active particle (except indices in ``skip``); frozen ones are returned unchanged."""
        skip = set(skip)
        groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for i, p in enumerate(particles):
            if not p.done and i not in skip:
                groups[p.steps].append(i)
        out = list(particles)
        if not groups:
            return out
        by_count: dict[int, list[tuple[str, ...]]] = defaultdict(list)
        for steps, idx in groups.items():
            by_count[len(idx)].append(steps)
        for count in sorted(by_count):
            keys = by_count[count]
            gens = self._generate([self.prefix(k) for k in keys], count)
            for key, row in zip(keys, gens):
                for i, g in zip(groups[key], row):
                    out[i] = self._child(particles[i], g)
        return out

    def _child(self, p: Particle, g) -> Particle:
        cfg = self.config
        step = g.text
        steps = p.steps + (step,)
        done = (
            g.finish_reason == "eos"
            or any(s in step for s in cfg.final_stop)
            or len(steps) >= cfg.max_steps
        )
        reason = g.finish_reason if done else None
        if done and g.finish_reason != "eos" and len(steps) >= cfg.max_steps and not any(s in step for s in cfg.final_stop):
            reason = "max_steps"
        lp = g.logprob if isinstance(g.logprob, (int, float)) else float("nan")
        return Particle(steps, done, reason, p.num_tokens + int(g.num_tokens), p.logprob + lp, p.rewards)

    # -- scoring ---------------------------------------------------------------------------
    def score(self, particles: Sequence[Particle]) -> list[Particle]:
        """Append the current aggregated reward to every particle's ``rewards`` (one batched PRM call)."""
        if self.prm is None:
            raise ValueError("this method needs a reward model (prm), got None")
        todo = []
        for p in particles:
            if p.steps not in self._cache and p.steps not in todo:
                todo.append(p.steps)
        if todo:
            prepared = [self.aggregation.prepare(list(s) if s else [""], joiner=self.config.joiner) for s in todo]
            out = self._retry(lambda: self.prm.score_steps([self.question] * len(todo), prepared), "score_steps")
            _check_rewards(out, prepared, self.prm)
            self.usage.add_reward(len(todo), sum(len(x) for x in prepared))
            for s, sc in zip(todo, out):
                self._cache[s] = self.aggregation.reduce([float(v) for v in sc])
        return [Particle(p.steps, p.done, p.finish_reason, p.num_tokens, p.logprob, p.rewards + (self._cache[p.steps],))
                for p in particles]

    def reward_of(self, steps: tuple[str, ...]) -> float:
        return self._cache[steps]


def _check_generations(out, num_prompts: int, n: int, backend) -> None:
    name = type(backend).__name__
    if not isinstance(out, (list, tuple)) or len(out) != num_prompts:
        got = len(out) if isinstance(out, (list, tuple)) else type(out).__name__
        raise MalformedOutputError(f"{name}.generate returned {got} results for {num_prompts} prompts; expected one list per prompt")
    for i, row in enumerate(out):
        if not isinstance(row, (list, tuple)) or len(row) != n:
            got = len(row) if isinstance(row, (list, tuple)) else type(row).__name__
            raise MalformedOutputError(f"{name}.generate returned {got} generations for prompt {i}; expected n={n}")
        for g in row:
            text = getattr(g, "text", None)
            if not isinstance(text, str):
                raise MalformedOutputError(f"{name}.generate returned a generation without a str text: {g!r}")
            if getattr(g, "finish_reason", None) not in _FINISH:
                raise MalformedOutputError(
                    f"{name}.generate returned finish_reason={getattr(g, 'finish_reason', None)!r}; expected one of {_FINISH}")
            nt = getattr(g, "num_tokens", None)
            if isinstance(nt, bool) or not isinstance(nt, (int, np.integer)) or nt < 0:
                raise MalformedOutputError(f"{name}.generate returned num_tokens={nt!r}; expected an int >= 0")


def _check_rewards(out, prepared, prm) -> None:
    name = type(prm).__name__
    if not isinstance(out, (list, tuple)) or len(out) != len(prepared):
        got = len(out) if isinstance(out, (list, tuple)) else type(out).__name__
        raise InvalidRewardError(f"{name}.score_steps returned {got} score lists for {len(prepared)} partial answers")
    for i, (sc, st) in enumerate(zip(out, prepared)):
        try:
            vals = [float(v) for v in sc]
        except (TypeError, ValueError):
            raise InvalidRewardError(f"{name}.score_steps returned non-numeric scores {sc!r} for answer {i}") from None
        if len(vals) != len(st):
            raise InvalidRewardError(f"{name}.score_steps returned {len(vals)} scores for an answer of {len(st)} steps (answer {i})")
        bad = [v for v in vals if not (0.0 <= v <= 1.0)]
        if bad:
            raise InvalidRewardError(
                f"{name}.score_steps returned {bad[0]} for answer {i}; a step score must be a probability in [0, 1] (NaN is not)")


def select(session: Session, particles: Sequence[Particle], log_weights: np.ndarray, how: str,
           answer_fn: Callable[[str], Hashable] | None, rng: np.random.Generator) -> int:
    """Index of the final pick: ``argmax`` (reward), ``sample`` (from the weights),
    ``majority`` (most frequent answer) or ``weighted`` (answer with the largest summed weight)."""
    from llm_bridge.algorithms.voting import majority_index, weighted_index

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
    raise ValueError(f"final selection must be one of 'argmax', 'sample', 'majority', 'weighted'; got {how!r}")
