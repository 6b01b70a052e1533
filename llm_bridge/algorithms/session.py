r"""One problem's batched, metered, retried and watched access to a backend and a reward model.

A :class:`Session` holds one problem (prompt, backend, reward model, aggregation,
:class:`~llm_bridge.budget.Usage`, the run's :class:`~llm_bridge.algorithms.randomness.KeyStream`)
and offers two batched operations on a list of :class:`~llm_bridge.algorithms.particle.Particle` s:

- :meth:`Session.extend`: ONE step for every active particle.  Particles sharing a prefix are
  sent once with ``n`` = their multiplicity (the first step is a single prompt with ``n = N``);
  prefixes with equal multiplicity go in one ``Backend.generate`` call, so a step costs one call
  per distinct multiplicity (usually 1 to 3).  Finished particles are frozen: never sent again.
- :meth:`Session.score`: ONE ``RewardModel.score_steps`` call for all partial answers not scored
  before (scores are cached by the step tuple, so resampled duplicates and frozen particles cost
  nothing).

Reliability: every call's seed is drawn BEFORE the call, so a retried call (after a timeout /
connection error / 5xx) reproduces exactly what the failed one would have returned, and no
particle is lost or changed by a failure.  Every call runs under a watchdog
(``StepConfig.timeout``): a call that does not return in time raises
:class:`~llm_bridge.exceptions.BackendTimeoutError`, in-process backends included.  Outputs are
checked by :mod:`llm_bridge.contracts` (wrong counts or types raise
:class:`~llm_bridge.exceptions.MalformedOutputError`; NaN / out-of-range / wrongly sized rewards
raise :class:`~llm_bridge.exceptions.InvalidRewardError`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import defaultdict
from collections.abc import Sequence

from llm_bridge.aggregation import Aggregation, get_aggregation
from llm_bridge.algorithms.config import StepConfig
from llm_bridge.algorithms.particle import Particle, make_particle
from llm_bridge.algorithms.randomness import KeyStream
from llm_bridge.budget import Usage
from llm_bridge.contracts import (
    Generation,
    check_backend,
    check_generations,
    check_prompt,
    check_reward_model,
    check_step_scores,
)
from llm_bridge.exceptions import (
    BackendError,
    BackendRequestError,
    BackendTimeoutError,
    BackendUnavailableError,
    MalformedOutputError,
)

__all__ = ["Session", "Watchdog"]

_RETRYABLE = (BackendError, TimeoutError, ConnectionError, OSError)
_FATAL = (MalformedOutputError, BackendUnavailableError, BackendTimeoutError)


class Watchdog:
    """Runs calls on a shared pool of daemon worker threads and gives up on a call after ``timeout`` seconds.

    A call that times out cannot be killed (Python threads cannot be): its worker stays busy until the
    call returns, and other calls go to another worker (a new one is started when none is idle).
    ``timeout=None`` runs the call in the caller's thread.
    """

    _tasks: queue.SimpleQueue = queue.SimpleQueue()
    _lock = threading.Lock()
    _idle = 0

    @classmethod
    def _worker(cls) -> None:
        while True:
            fn, box, done = cls._tasks.get()
            with cls._lock:
                cls._idle -= 1
            try:
                box["out"] = fn()
            except BaseException as exc:  # handed to the waiting caller, re-raised there
                box["exc"] = exc
            finally:
                with cls._lock:
                    cls._idle += 1
                done.set()

    @classmethod
    def call(cls, fn, timeout: float | None, what: str):
        """``fn()``, or :class:`~llm_bridge.exceptions.BackendTimeoutError` after ``timeout`` seconds."""
        if timeout is None:
            return fn()
        with cls._lock:
            if cls._idle == 0:
                cls._idle += 1
                threading.Thread(target=cls._worker, daemon=True, name="llm_bridge-watchdog").start()
        box: dict = {}
        done = threading.Event()
        cls._tasks.put((fn, box, done))
        if not done.wait(timeout):
            raise BackendTimeoutError(
                f"{what} did not return within timeout={timeout:g} s and was abandoned; the particles of this step "
                "are unchanged. Check that the backend is not stuck (a dead GPU, a full queue), or raise "
                "StepConfig.timeout")
        if "exc" in box:
            raise box["exc"]
        return box["out"]


class Session:
    """One problem's batched, metered access to a backend and a reward model (see the module docstring).

    ``key`` is the run's randomness: an ``int`` seed or a JAX PRNG key (``rng``, a
    ``numpy.random.Generator``, is accepted for older callers: its first draw seeds the key).
    """

    def __init__(self, backend, prm, prompt: str, *, config: StepConfig, aggregation="model",
                 usage: Usage | None = None, key=None, rng=None, question: str | None = None):
        self.backend = check_backend(backend)
        self.prm = None if prm is None else check_reward_model(prm)
        self.prompt = check_prompt(prompt)
        self.question = prompt if question is None else check_prompt(question, "question")
        if not isinstance(config, StepConfig):
            raise TypeError(f"step must be a StepConfig, got {type(config).__name__}")
        self.config = config.validate()
        self.aggregation: Aggregation = get_aggregation(aggregation)
        if usage is not None and not isinstance(usage, Usage):
            raise TypeError(f"usage must be a llm_bridge.Usage or None, got {type(usage).__name__}")
        self.usage = usage if usage is not None else Usage()
        if key is None:
            key = int(rng.integers(0, 2**63 - 1)) if rng is not None else 0
        self.rng = KeyStream(key)
        self._cache: dict[tuple[str, ...], float] = {}

    # -- text ------------------------------------------------------------------------
    def prefix(self, steps: Sequence[str]) -> str:
        """The prompt continued by ``steps`` (each followed by the delimiter in delimiter mode)."""
        if self.config.tokens_per_step:
            return self.prompt + "".join(steps)
        d = self.config.delimiter
        return self.prompt + "".join(s + d for s in steps)

    def text(self, p: Particle) -> str:
        """The response text of a particle."""
        return self.config.joiner.join(p.steps)

    def next_seed(self) -> int:
        """The ``int`` seed of the next backend call, derived from the run's key."""
        return self.rng.next_seed()

    # -- calls -------------------------------------------------------------------------
    def call(self, fn, what: str):
        """``fn()`` under the watchdog, retried on transient failures (timeouts, connection errors, 5xx)."""
        cfg = self.config
        for attempt in range(cfg.retries + 1):
            try:
                with self.usage.timing("backend" if what == "generate" else "reward"):
                    return Watchdog.call(fn, cfg.timeout, f"{what} ({type(self.backend).__name__})"
                                         if what == "generate" else f"{what} ({type(self.prm).__name__})")
            except _FATAL:
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
    def generate(self, prompts: list[str], n: int) -> list[list]:
        """One checked, metered ``Backend.generate`` call with this session's step settings."""
        cfg = self.config
        max_tokens = cfg.tokens_per_step or cfg.max_step_tokens
        stop = () if cfg.tokens_per_step else (cfg.delimiter,)
        seed = self.next_seed()  # drawn before the call: a retry reproduces it exactly
        out = self.call(lambda: self.backend.generate(
            prompts, n=n, max_tokens=max_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
            stop=stop, seed=seed), "generate")
        out = check_generations(out, len(prompts), n, type(self.backend).__name__)
        self.usage.add_generations(len(prompts) * n, tokens=sum(int(g.num_tokens) for row in out for g in row))
        return out

    _generate = generate  # older name

    def _step_generations(self, particles: Sequence[Particle], skip: Sequence[int]) -> dict[int, Generation]:
        """One generation for every active particle (except indices in ``skip``), batched by prefix multiplicity."""
        skipped = set(skip)
        groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for i, p in enumerate(particles):
            if not p.done and i not in skipped:
                groups[p.steps].append(i)
        out: dict[int, Generation] = {}
        by_count: dict[int, list[tuple[str, ...]]] = defaultdict(list)
        for steps, idx in groups.items():
            by_count[len(idx)].append(steps)
        for count in sorted(by_count):
            keys = by_count[count]
            gens = self.generate([self.prefix(k) for k in keys], count)
            for key, row in zip(keys, gens, strict=True):
                out.update(zip(groups[key], row, strict=True))
        return out

    def extend(self, particles: Sequence[Particle], *, skip: Sequence[int] = ()) -> list[Particle]:
        """One step for every active particle (except indices in ``skip``); frozen ones are returned unchanged."""
        out = list(particles)
        for i, g in self._step_generations(particles, skip).items():
            p = particles[i]
            out[i] = self._child(p, g, p.rewards)
        return out

    def _child(self, p: Particle, g, rewards: tuple[float, ...], steps: tuple[str, ...] | None = None) -> Particle:
        """``p`` extended by the generation ``g`` (``steps``: ``p.steps + (g.text,)`` when already built)."""
        cfg = self.config
        step = g.text
        steps = p.steps + (step,) if steps is None else steps
        final = any(s in step for s in cfg.final_stop) if cfg.final_stop else False
        at_max = len(steps) >= cfg.max_steps
        done = g.finish_reason == "eos" or final or at_max
        reason = None
        if done:
            reason = "max_steps" if (g.finish_reason != "eos" and at_max and not final) else g.finish_reason
        lp = g.logprob if isinstance(g.logprob, (int, float)) else float("nan")
        return make_particle(steps, done, reason, p.num_tokens + int(g.num_tokens), p.logprob + lp, rewards)

    # -- scoring ---------------------------------------------------------------------------
    def _score_new(self, steps_list) -> dict[tuple[str, ...], float]:
        """Score (one batched PRM call) every partial answer of ``steps_list`` not scored before; the cache."""
        if self.prm is None:
            raise ValueError("this method needs a reward model (prm), got None")
        cache = self._cache
        todo = list(dict.fromkeys(s for s in steps_list if s not in cache))
        if todo:
            joiner = self.config.joiner
            prepared = [self.aggregation.prepare(list(s) if s else [""], joiner=joiner) for s in todo]
            out = self.call(lambda: self.prm.score_steps([self.question] * len(todo), prepared), "score_steps")
            vals = check_step_scores(out, prepared, f"{type(self.prm).__name__}.score_steps")
            self.usage.add_reward(len(todo), sum(len(x) for x in prepared))
            for s, sc in zip(todo, vals, strict=True):
                cache[s] = self.aggregation.reduce(sc)
        return cache

    def score(self, particles: Sequence[Particle]) -> list[Particle]:
        """Append the current aggregated reward to every particle's ``rewards`` (one batched PRM call)."""
        cache = self._score_new([p.steps for p in particles])
        return [make_particle(p.steps, p.done, p.finish_reason, p.num_tokens, p.logprob, p.rewards + (cache[p.steps],))
                for p in particles]

    def advance(self, particles: Sequence[Particle], *, skip: Sequence[int] = ()) -> list[Particle]:
        """``score(extend(particles))`` with each new particle built once; indices in ``skip`` are returned unchanged
        (neither extended nor scored).  Same calls, same order, same result as the two steps."""
        gens = self._step_generations(particles, skip)
        skipped = set(skip)
        keep = [i for i in range(len(particles)) if i not in skipped] if skipped else range(len(particles))
        steps_of = [particles[i].steps + (gens[i].text,) if i in gens else particles[i].steps for i in keep]
        cache = self._score_new(steps_of)
        out = list(particles)
        for i, steps in zip(keep, steps_of, strict=True):
            p = particles[i]
            rewards = p.rewards + (cache[steps],)
            g = gens.get(i)
            out[i] = self._child(p, g, rewards, steps) if g is not None else make_particle(
                steps, p.done, p.finish_reason, p.num_tokens, p.logprob, rewards)
        return out

    def reward_of(self, steps: tuple[str, ...]) -> float:
        """The cached aggregated reward of a partial answer."""
        return self._cache[steps]
