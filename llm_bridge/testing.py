r"""A deterministic fake backend and PRM over a small, exactly known stochastic process.

:class:`MarkovStepProcess` is a step-generating Markov chain: an answer is a
sequence of symbols ``x_1 .. x_L`` (each written as the token ``<x>``), steps are
separated by a delimiter token (default ``"\n\n"``), and after each symbol the
answer ends (EOS) with probability ``p_end[x_t]`` (always at ``max_len``).  The
token stream after a prompt is therefore::

    <x1> DELIM <x2> DELIM ... <xL> EOS

with ``p(x_1) = init``, ``p(x_t | x_{t-1}) = trans``.  Every complete answer and
its probability can be enumerated (:meth:`MarkovStepProcess.trajectories`), so an
algorithm's output distribution can be compared with an exactly computed target.

:class:`FakeBackend` implements the :class:`~llm_bridge.protocols.Backend` protocol
for this process (stop strings, ``max_tokens``, ``n``, temperature, top-p, seed,
exact log-probabilities and teacher-forced ``score``), records every call, and can
inject failures (timeouts) or malformed output on chosen calls.
:class:`FakePRM` implements :class:`~llm_bridge.protocols.RewardModel`: the score of
a step is a known function ``reward[x_{t-1}, x_t]`` (``reward_first[x_1]`` for the
first step) of the prefix up to that step, optionally perturbed by deterministic
noise, with injectable invalid outputs.  The "answer" of a trajectory is its last
symbol (:func:`answer_of`).

Determinism: ``generate(..., seed=s)`` depends only on its arguments (same seed,
same output); without a seed it draws from the backend's own seeded generator.

Example
-------
>>> proc = MarkovStepProcess.default()
>>> be = FakeBackend(proc)
>>> out = be.generate(["Q:\n"], n=2, stop=["\n\n"], seed=0)
>>> len(out), len(out[0]), out[0][0].finish_reason in ("stop", "eos")
(1, 2, True)
"""

from __future__ import annotations

import bisect
import math
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from llm_bridge.contracts import FinishReason, Generation, check_generate_args, check_prompts
from llm_bridge.exceptions import BackendRequestError

__all__ = ["MarkovStepProcess", "FakeBackend", "FakePRM", "answer_of", "symbols_of", "exact_target"]

_SYM = re.compile(r"<([A-Za-z0-9_]+)>")


def symbols_of(text: str) -> list[str]:
    """The process symbols written in ``text`` (``"<a>\\n\\n<b>" -> ["a", "b"]``)."""
    return _SYM.findall(text)


def answer_of(text: str) -> str | None:
    """The answer of a fake-process trajectory: its last symbol (``None`` if there is none)."""
    s = symbols_of(text)
    return s[-1] if s else None


@dataclass(frozen=True)
class MarkovStepProcess:
    """A step-generating Markov chain with known probabilities (see the module docstring)."""

    symbols: tuple[str, ...]
    init: tuple[float, ...]
    trans: tuple[tuple[float, ...], ...]
    p_end: tuple[float, ...]
    max_len: int
    delimiter: str = "\n\n"

    def __post_init__(self):
        k = len(self.symbols)
        init = np.asarray(self.init, float)
        trans = np.asarray(self.trans, float)
        if init.shape != (k,) or trans.shape != (k, k) or len(self.p_end) != k:
            raise ValueError(f"init must be ({k},), trans ({k},{k}), p_end ({k},)")
        if not np.allclose(init.sum(), 1) or not np.allclose(trans.sum(1), 1) or (trans < 0).any():
            raise ValueError("init and the rows of trans must be probability vectors")
        if self.max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {self.max_len}")

    @classmethod
    def default(cls, *, fixed_length: int | None = None, delimiter: str = "\n\n") -> MarkovStepProcess:
        """A 3-symbol chain; fixed-length ``fixed_length`` answers, or variable length up to 4."""
        p_end = (0.0, 0.0, 0.0) if fixed_length else (0.3, 0.2, 0.4)
        return cls(
            symbols=("a", "b", "c"),
            init=(0.2, 0.5, 0.3),
            trans=((0.5, 0.3, 0.2), (0.2, 0.5, 0.3), (0.3, 0.3, 0.4)),
            p_end=p_end,
            max_len=fixed_length or 4,
            delimiter=delimiter,
        )

    def index(self, sym: str) -> int:
        return self.symbols.index(sym)

    def next_probs(self, history: Sequence[str]) -> np.ndarray:
        if not history:
            return np.asarray(self.init, float)
        return np.asarray(self.trans[self.index(history[-1])], float)

    def end_prob(self, history: Sequence[str]) -> float:
        if len(history) >= self.max_len:
            return 1.0
        return float(self.p_end[self.index(history[-1])])

    def trajectories(self) -> list[tuple[tuple[str, ...], float]]:
        """Every complete answer with its probability under the model (sums to 1)."""
        out = []

        def rec(hist, p):
            probs = self.next_probs(hist)
            for i, s in enumerate(self.symbols):
                if probs[i] == 0:
                    continue
                h = hist + (s,)
                pe = self.end_prob(h)
                if pe > 0:
                    out.append((h, p * probs[i] * pe))
                if pe < 1:
                    rec(h, p * probs[i] * (1 - pe))

        rec((), 1.0)
        return out

    def text_of(self, symbols: Sequence[str]) -> str:
        """The answer text ``<x1>DELIM<x2>...`` of a symbol sequence."""
        return self.delimiter.join(f"<{s}>" for s in symbols)


def _tempered(p: np.ndarray, temperature: float, top_p: float) -> np.ndarray:
    q = np.where(p > 0, p, 0.0)
    if temperature != 1.0:
        with np.errstate(divide="ignore"):
            q = np.where(q > 0, np.exp(np.log(np.where(q > 0, q, 1.0)) / temperature), 0.0)
        q = q / q.sum()
    if top_p < 1.0:
        order = np.argsort(-q, kind="stable")
        cum = np.cumsum(q[order])
        keep = order[: int(np.searchsorted(cum, top_p - 1e-12) + 1)]
        mask = np.zeros_like(q, bool)
        mask[keep] = True
        q = np.where(mask, q, 0.0)
        q = q / q.sum()
    return q


class FakeBackend:
    """A :class:`~llm_bridge.protocols.Backend` over a :class:`MarkovStepProcess`.

    Parameters
    ----------
    process : MarkovStepProcess
    seed : int
        Seed of the generator used when ``generate`` gets no ``seed``.
    fail_calls : set of int, optional
        Indices (0-based, counting every ``generate`` call) of calls that raise
        :class:`~llm_bridge.exceptions.BackendRequestError` (an injected timeout).
    malformed_calls : set of int, optional
        Indices of calls returning one result too few (malformed output).
    """

    def __init__(self, process: MarkovStepProcess, *, seed: int = 0, fail_calls=(), malformed_calls=()):
        self.process = process
        self._rng = np.random.default_rng(seed)
        self.fail_calls = set(fail_calls)
        self.malformed_calls = set(malformed_calls)
        self.calls: list[dict] = []
        self.score_calls = 0
        self.tokens_out = 0
        self._cum: dict = {}
        # prompts continuing a text that had certainly ended (a symbol with p_end = 1, or max_len):
        # a frozen-particle violation that text alone can detect
        self.extended_finished = 0

    # -- parsing -------------------------------------------------------------------
    def _state(self, prompt: str) -> tuple[list[str], bool]:
        """(symbols so far, whether the next token is a symbol) after ``prompt``."""
        hist = symbols_of(prompt)
        m = list(_SYM.finditer(prompt))
        after_symbol = bool(m) and m[-1].end() == len(prompt)
        return hist, not after_symbol

    def _sample(self, rng, state, max_tokens, temperature, top_p, stop) -> Generation:
        proc = self.process
        hist, need_symbol = state
        if hist and not need_symbol and len(hist) > proc.max_len:
            raise ValueError(f"prompt already holds {len(hist)} > max_len symbols")
        text, ids, lp, ntok = "", [], 0.0, 0
        finish: FinishReason = "length"
        while ntok < max_tokens:
            if need_symbol:
                key = (hist[-1] if hist else None, temperature, top_p)
                if key not in self._cum:
                    p0 = proc.next_probs(hist)
                    q = _tempered(p0, temperature, top_p)
                    self._cum[key] = (list(np.cumsum(q)), [float(x) for x in q], [float(x) for x in p0])
                cum, q, p0 = self._cum[key]
                i = min(bisect.bisect_right(cum, rng.random()), len(q) - 1)
                while q[i] == 0:  # guard against float round-off landing on a zero-probability symbol
                    i -= 1
                lp += math.log(p0[i])
                hist = hist + [proc.symbols[i]]
                tok, tid = f"<{proc.symbols[i]}>", i
                need_symbol = False
            else:
                pe = proc.end_prob(hist)
                pt = _tempered(np.array([1 - pe, pe]), temperature, 1.0)[1] if 0 < pe < 1 else pe
                end = rng.random() < pt
                ntok += 1
                if end:
                    lp += math.log(pe)
                    ids.append(len(proc.symbols) + 1)
                    finish = "eos"
                    break
                lp += math.log1p(-pe)
                tok, tid = proc.delimiter, len(proc.symbols)
                need_symbol = True
                ids.append(tid)
                text += tok
                hit = [text.find(s) for s in stop if s and s in text]
                if hit:
                    text = text[: min(hit)]
                    finish = "stop"
                    break
                continue
            ntok += 1
            ids.append(tid)
            text += tok
            hit = [text.find(s) for s in stop if s and s in text]
            if hit:
                text = text[: min(hit)]
                finish = "stop"
                break
        return Generation(text=text, token_ids=tuple(ids), num_tokens=ntok, logprob=lp, finish_reason=finish)

    # -- protocol --------------------------------------------------------------------
    def generate(self, prompts, *, n=1, max_tokens=64, temperature=1.0, top_p=1.0, stop=(), seed=None):
        prompts = check_prompts(prompts)
        n, max_tokens, temperature, top_p, stop, seed = check_generate_args(
            n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop, seed=seed)
        idx = len(self.calls)
        self.calls.append(dict(prompts=list(prompts), n=n, max_tokens=max_tokens, stop=list(stop), seed=seed,
                               failed=idx in self.fail_calls))
        if idx in self.fail_calls:
            raise BackendRequestError(f"injected timeout on call {idx}", attempts=1)
        if not prompts or any(not isinstance(p, str) or p == "" for p in prompts):
            raise ValueError("prompts must be non-empty strings")
        rng = self._rng if seed is None else np.random.default_rng(seed)
        for p in prompts:
            hist = symbols_of(p)
            if any(self.process.end_prob(hist[: t + 1]) == 1.0 for t in range(len(hist))):
                self.extended_finished += 1  # continues a prefix that ends with certainty
        out = []
        for p in prompts:
            state = self._state(p)
            out.append([self._sample(rng, state, max_tokens, temperature, top_p, list(stop)) for _ in range(n)])
        for row in out:
            for g in row:
                self.tokens_out += g.num_tokens
        if idx in self.malformed_calls:
            out = out[:-1]
        return out

    def score(self, prompts, continuations):
        self.score_calls += 1
        out = []
        for prompt, cont in zip(prompts, continuations, strict=True):
            hist, need_symbol = self._state(prompt)
            pieces = re.split(r"(<[A-Za-z0-9_]+>)", cont)
            lp = 0.0
            for piece in pieces:
                if piece == "":
                    continue
                m = _SYM.fullmatch(piece)
                if m:
                    if not need_symbol:
                        raise ValueError(f"continuation {cont!r} has two symbols without a delimiter")
                    p = self.process.next_probs(hist)[self.process.index(m.group(1))]
                    lp += math.log(p) if p > 0 else -math.inf
                    hist, need_symbol = hist + [m.group(1)], False
                elif piece == self.process.delimiter and not need_symbol:
                    lp += math.log1p(-self.process.end_prob(hist)) if self.process.end_prob(hist) < 1 else -math.inf
                    need_symbol = True
                else:
                    raise ValueError(f"continuation {cont!r} is not text of this process")
            out.append(lp)
        return out


class FakePRM:
    """A :class:`~llm_bridge.protocols.RewardModel` with known per-step scores.

    The score of step ``t`` of a partial answer is ``reward_first[x_1]`` for ``t = 1``
    and ``reward[x_{t-1}][x_t]`` afterwards, where ``x_t`` is the last symbol written
    up to the end of step ``t`` (a step without a symbol repeats the previous score;
    an answer without any symbol scores 0.5).  ``noise > 0`` adds a deterministic
    perturbation (a hash of the prefix), clipped to ``[0, 1]``.

    ``invalid``: ``None``, ``"nan"``, ``"range"`` (returns 1.5) or ``"count"`` (one
    score too few): injected on every call, to test input validation.
    ``fail_calls``: call indices raising :class:`~llm_bridge.exceptions.BackendRequestError`.
    """

    def __init__(self, process: MarkovStepProcess, *, reward=None, reward_first=None, noise: float = 0.0,
                 invalid: str | None = None, fail_calls=()):
        self.process = process
        k = len(process.symbols)
        self.reward = np.asarray(reward if reward is not None else
                                 [[0.9, 0.4, 0.2], [0.7, 0.5, 0.3], [0.6, 0.2, 0.1]], float)
        self.reward_first = np.asarray(reward_first if reward_first is not None else [0.8, 0.5, 0.3], float)
        if self.reward.shape != (k, k) or self.reward_first.shape != (k,):
            raise ValueError(f"reward must be ({k},{k}) and reward_first ({k},)")
        self.noise = noise
        self.invalid = invalid
        self.fail_calls = set(fail_calls)
        self.calls: list[dict] = []

    def prefix_score(self, symbols: Sequence[str]) -> float:
        """The score of a step ending with the symbol sequence ``symbols``."""
        if not symbols:
            return 0.5
        ix = [self.process.index(s) for s in symbols]
        r = self.reward_first[ix[0]] if len(ix) == 1 else self.reward[ix[-2], ix[-1]]
        if self.noise:
            h = zlib.crc32("".join(symbols).encode()) / 2**32 - 0.5
            r = min(1.0, max(0.0, r + 2 * self.noise * h))
        return float(r)

    def score_steps(self, questions, steps):
        idx = len(self.calls)
        self.calls.append(dict(num=len(steps), steps=[list(s) for s in steps]))
        if idx in self.fail_calls:
            raise BackendRequestError(f"injected PRM timeout on call {idx}")
        out = []
        for _q, st in zip(questions, steps, strict=True):
            sc, syms = [], []
            for s in st:
                syms = syms + symbols_of(s)
                sc.append(self.prefix_score(syms))
            if self.invalid == "nan":
                sc[-1] = float("nan")
            elif self.invalid == "range":
                sc[-1] = 1.5
            elif self.invalid == "count":
                sc = sc[:-1]
            out.append(sc)
        return out


def exact_target(process: MarkovStepProcess, prm: FakePRM, *, log_potential: Callable[[float], float],
                 potential: str = "step") -> dict[tuple[str, ...], float]:
    r"""The exact normalised target over complete answers of the particle filter.

    ``potential="step"``: :math:`\pi(x) \propto p_M(x) \prod_{t=1}^{|x|} G(\hat r_t(x_{1:t}))`
    (fixed-length processes: the paper's resample-every-step filter);
    ``potential="twisted"``: :math:`\pi(x) \propto p_M(x)\, G(\hat r(x))` with ``G =
    exp(log_potential(r))`` and ``r_t`` the "last" aggregation (the FakePRM's step score).
    """
    out = {}
    for syms, p in process.trajectories():
        if potential == "step":
            lg = sum(log_potential(prm.prefix_score(syms[: t + 1])) for t in range(len(syms)))
        elif potential == "twisted":
            lg = log_potential(prm.prefix_score(syms))
        else:
            raise ValueError(f"potential must be 'step' or 'twisted', got {potential!r}")
        out[syms] = p * math.exp(lg)
    z = sum(out.values())
    return {k: v / z for k, v in out.items()}

