r"""A chained-arithmetic task family with a difficulty knob and a train / held-out split.

Problems are :class:`~llm_bridge.toy.task.ToyProblem` s (same prompt, steps, grading and
step checker as :mod:`llm_bridge.toy.task`), drawn with two knobs
(:class:`Difficulty`):

- ``num_ops``: the chain length (number of operations, one solution step each);
- ``max_value``: the operand size (running values and ``+``/``-`` operands lie in
  ``[0, max_value]``; ``999`` means three-digit arithmetic).

Chains are **nested** in ``num_ops``: problem ``i`` with ``k`` operations is the first ``k``
operations of problem ``i`` with ``k + 1`` (each problem has its own generator, seeded by
``(seed, i)``), so a longer chain is the same problem with more work.

Split: :func:`split_of` hashes the start value and the first two operations (CRC-32);
one key in :data:`TEST_FRACTION_DENOM` is held out (``"test"``).  Training draws only
``"train"`` problems and evaluation only ``"test"`` problems, so no evaluation problem
(nor any problem sharing its first two operations) is ever a training problem.

Example
-------
>>> from llm_bridge.toy.family import Difficulty, family_problems, split_of
>>> ps = family_problems(3, Difficulty(num_ops=4, max_value=99), split="test", seed=0)
>>> [split_of(p) for p in ps], [p.num_ops for p in ps]
(['test', 'test', 'test'], [4, 4, 4])
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from llm_bridge.toy.task import ToyProblem

__all__ = ["Difficulty", "TEST_FRACTION_DENOM", "split_of", "draw_chain", "family_problems"]

#: One split key in this many is held out.
TEST_FRACTION_DENOM = 5
#: Longest chain a problem generator draws (``num_ops`` may not exceed it).
MAX_OPS = 16


@dataclass(frozen=True)
class Difficulty:
    """The task family's knobs: chain length and operand size.

    Parameters
    ----------
    num_ops : int
        Operations per problem, ``1 <= num_ops <= 16``.
    max_value : int
        Bound of running values and of ``+``/``-`` operands, ``9 <= max_value <= 999``.
    max_multiplier : int
        ``*`` operands are drawn from ``2..max_multiplier``.
    """

    num_ops: int = 10
    max_value: int = 999
    max_multiplier: int = 9

    def __post_init__(self):
        for nm, lo, hi in (("num_ops", 1, MAX_OPS), ("max_value", 9, 999), ("max_multiplier", 2, 9)):
            v = getattr(self, nm)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
                raise ValueError(f"Difficulty.{nm} must be an int in [{lo}, {hi}], got {v!r}")


def split_of(problem: ToyProblem) -> str:
    """``"test"`` or ``"train"``: a CRC-32 of the start value and the first two operations."""
    if not isinstance(problem, ToyProblem):
        raise TypeError(f"problem must be a ToyProblem, got {type(problem).__name__}")
    key = f"{problem.start}|" + "|".join(f"{o}{a}" for o, a in problem.ops[:2])
    return "test" if zlib.crc32(key.encode()) % TEST_FRACTION_DENOM == 0 else "train"


def draw_chain(rng: np.random.Generator, num_ops: int, max_value: int, max_multiplier: int = 9) -> ToyProblem:
    """One chain: each operation uniform among those that keep the value in range, then a uniform operand."""
    v = int(rng.integers(0, max_value + 1))
    start, ops = v, []
    for _ in range(num_ops):
        choices = ([("+")] if v < max_value else []) + (["-"] if v > 0 else [])
        if 0 < v and 2 * v <= max_value:
            choices.append("*")
        op = choices[int(rng.integers(len(choices)))]
        if op == "+":
            a = int(rng.integers(1, max_value - v + 1))
            v += a
        elif op == "-":
            a = int(rng.integers(1, v + 1))
            v -= a
        else:
            a = int(rng.integers(2, min(max_multiplier, max_value // v) + 1))
            v *= a
        ops.append((op, a))
    return ToyProblem(start, tuple(ops))


def family_problems(n: int, difficulty: Difficulty = Difficulty(), *, split: str = "test", seed: int = 0,
                    start_index: int = 0) -> list[ToyProblem]:
    """The first ``n`` problems of ``split`` in the stream ``(seed, start_index), (seed, start_index + 1), ...``.

    Problem ``i`` of the stream is the first ``num_ops`` operations of a 16-operation
    chain drawn from ``default_rng([seed, i])``; problems outside ``split`` are skipped.
    Same arguments, same problems; the same ``seed`` at two ``num_ops`` gives nested chains
    wherever both keep a problem (the split depends on the first two operations only, so
    for ``num_ops >= 2`` they keep the same ones).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not isinstance(difficulty, Difficulty):
        raise TypeError(f"difficulty must be a Difficulty, got {type(difficulty).__name__}")
    out: list = []
    i = int(start_index)
    while len(out) < n:
        full = draw_chain(np.random.default_rng([int(seed), i]), MAX_OPS, difficulty.max_value,
                          difficulty.max_multiplier)
        p = ToyProblem(full.start, full.ops[: difficulty.num_ops])
        if split_of(p) == split:
            out.append(p)
        i += 1
    return out
