"""Argument validation and stop-string handling shared by all backends (internal)."""

from __future__ import annotations

import hashlib
import math
from typing import Sequence

from llm_bridge.exceptions import MalformedOutputError
from llm_bridge.protocols import Generation

__all__ = [
    "check_prompts",
    "check_generate_args",
    "check_score_args",
    "truncate_at_stop",
    "check_generations",
    "particle_seed",
]


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


def check_generate_args(
    *, n, max_tokens, temperature, top_p, stop, seed
) -> tuple[int, int, float, float, tuple[str, ...], int | None]:
    """Validate the common ``generate`` arguments and return them normalised."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ValueError(f"max_tokens must be an int >= 1, got {max_tokens!r}")
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if not isinstance(top_p, (int, float)) or not (0 < top_p <= 1):
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    if isinstance(stop, str):
        stop = (stop,)
    stop = tuple(stop or ())
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
    conts = list(continuations)
    if len(conts) != len(prompts):
        raise ValueError(
            f"prompts and continuations must have the same length, got {len(prompts)} and {len(conts)}"
        )
    for i, c in enumerate(conts):
        if not isinstance(c, str):
            raise TypeError(f"continuations[{i}] must be a str, got {type(c).__name__}")
    return prompts, conts


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, str | None]:
    """Cut ``text`` before the earliest occurrence of any stop string.

    Returns ``(text_before_stop, matched_stop)``; ``matched_stop`` is None when no stop
    string occurs.  Ties at the same position go to the longest stop string.
    """
    best, match = None, None
    for s in stop:
        i = text.find(s)
        if i >= 0 and (best is None or i < best or (i == best and len(s) > len(match))):
            best, match = i, s
    if best is None:
        return text, None
    return text[:best], match


def check_generations(result, num_prompts: int, n: int, source: str) -> list[list[Generation]]:
    """Verify a backend's output shape and fields; raise :class:`MalformedOutputError` otherwise."""
    if not isinstance(result, list) or len(result) != num_prompts:
        got = len(result) if isinstance(result, list) else type(result).__name__
        raise MalformedOutputError(f"{source}: expected {num_prompts} lists of generations, got {got}")
    for i, row in enumerate(result):
        if len(row) != n:
            raise MalformedOutputError(f"{source}: prompt {i} got {len(row)} generations, expected n={n}")
        for g in row:
            if not isinstance(g, Generation) or not isinstance(g.text, str):
                raise MalformedOutputError(f"{source}: prompt {i} holds a non-Generation {g!r}")
            if g.finish_reason not in ("stop", "eos", "length"):
                raise MalformedOutputError(f"{source}: unknown finish_reason {g.finish_reason!r}")
    return result


def particle_seed(seed: int | None, *keys) -> int | None:
    """A reproducible per-request seed derived from ``seed`` and ``keys`` (e.g. prompt and sample indices).

    ``None`` stays ``None`` (nondeterministic).  Distinct keys give (hash-)distinct seeds in
    ``[0, 2**31 - 1)``, so fanned-out particles differ yet the whole call is reproducible.
    """
    if seed is None:
        return None
    h = hashlib.blake2b(repr((int(seed),) + tuple(keys)).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big") % (2**31 - 1)
