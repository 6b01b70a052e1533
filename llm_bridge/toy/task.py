r"""A toy multi-step reasoning task with exact grading: chained arithmetic, one step per line.

A problem is a start value and a chain of operations applied **left to right**
(like a pocket calculator, no operator precedence), every intermediate value an
integer in ``[0, max_value]``.  The prompt lists the chain; the solution writes one
operation per line and ends with an answer line::

    prompt   = "23 +45 -27 *2\n"                     # format_prompt(problem)
    solution = "23+45=68\n68-27=41\n41*2=82\nA: 82"   # solution_text(problem)

followed by the model's end-of-sequence token.  Steps are separated by
:data:`STEP_DELIMITER` (``"\n"``), so a step-wise search generates with
``stop=["\n"]`` and a finished particle ends with ``finish_reason == "eos"``.

Grading is exact:

- :func:`grade` -- outcome: the answer line equals the true answer;
- :func:`check_step` -- process: a step is correct iff every previous step is correct
  and the step equals the canonical step at its position (Math-Shepherd-style "on
  track" labels: after the first mistake every later step is wrong);
- :func:`step_labels` -- the labels of all steps of a (partial) answer at once.

Problems are plain frozen dataclasses (:class:`ToyProblem`) with ``to_dict`` /
``from_dict`` for JSONL files.  Everything is deterministic given ``seed``.

Example
-------
>>> from llm_bridge.toy.task import make_problems, format_prompt, solution_text, grade
>>> p = make_problems(1, seed=0, num_ops=3)[0]
>>> grade(p, solution_text(p))
True
>>> format_prompt(p).endswith("\n")
True
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "STEP_DELIMITER",
    "ANSWER_PREFIX",
    "OPS",
    "ToyProblem",
    "make_problems",
    "format_prompt",
    "parse_prompt",
    "canonical_steps",
    "solution_text",
    "parse_steps",
    "parse_answer",
    "grade",
    "check_step",
    "step_labels",
    "save_problems",
    "load_problems",
]

#: Separator between steps (each step is one line).
STEP_DELIMITER = "\n"
#: Prefix of the final answer line.
ANSWER_PREFIX = "A: "
#: Supported operations.
OPS = ("+", "-", "*")

_STEP_RE = re.compile(r"^\s*(\d+)\s*([+\-*])\s*(\d+)\s*=\s*(-?\d+)\s*$")
_ANSWER_RE = re.compile(r"^\s*A\s*:\s*(-?\d+)\s*$")


def _apply(value: int, op: str, operand: int) -> int:
    if op == "+":
        return value + operand
    if op == "-":
        return value - operand
    if op == "*":
        return value * operand
    raise ValueError(f"op must be one of {OPS}, got {op!r}")


@dataclass(frozen=True)
class ToyProblem:
    """A chain ``start op_1 operand_1 op_2 operand_2 ...`` evaluated left to right.

    Parameters
    ----------
    start : int
        The start value.
    ops : tuple of (str, int)
        The operations, each ``(op, operand)`` with ``op`` in ``{"+", "-", "*"}``.
    """

    start: int
    ops: tuple[tuple[str, int], ...]

    def __post_init__(self):
        if not isinstance(self.start, (int, np.integer)) or isinstance(self.start, bool):
            raise TypeError(f"start must be an int, got {type(self.start).__name__}")
        ops = tuple((str(o), int(a)) for o, a in self.ops)
        for o, _ in ops:
            if o not in OPS:
                raise ValueError(f"ops must use operations from {OPS}, got {o!r}")
        if len(ops) == 0:
            raise ValueError("ops must hold at least one operation, got an empty chain")
        object.__setattr__(self, "start", int(self.start))
        object.__setattr__(self, "ops", ops)

    @property
    def values(self) -> tuple[int, ...]:
        """The running values ``v_0 = start, v_k = v_{k-1} op_k operand_k`` (length ``num_ops + 1``)."""
        vals = [self.start]
        for op, a in self.ops:
            vals.append(_apply(vals[-1], op, a))
        return tuple(vals)

    @property
    def answer(self) -> int:
        """The final value."""
        return self.values[-1]

    @property
    def num_ops(self) -> int:
        """The number of operations (the solution has ``num_ops + 1`` lines incl. the answer line)."""
        return len(self.ops)

    @property
    def num_steps(self) -> int:
        """The number of solution lines, ``num_ops + 1`` (the answer line counts as a step)."""
        return len(self.ops) + 1

    def to_dict(self) -> dict:
        """A JSON-friendly dict (``prompt`` and ``answer`` included for readers of the JSONL)."""
        return {
            "start": self.start,
            "ops": [[o, a] for o, a in self.ops],
            "prompt": format_prompt(self),
            "answer": self.answer,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ToyProblem:
        """Inverse of :meth:`to_dict` (extra keys are ignored)."""
        try:
            return cls(start=int(d["start"]), ops=tuple((o, int(a)) for o, a in d["ops"]))
        except (KeyError, TypeError) as e:
            raise ValueError(f"a toy problem dict needs 'start' (int) and 'ops' (list of [op, int]); got {d!r}") from e


def make_problems(
    n: int,
    seed: int = 0,
    *,
    num_ops: int | tuple[int, int] = (3, 6),
    max_value: int = 99,
    max_operand: int = 99,
    max_multiplier: int = 9,
) -> list[ToyProblem]:
    """Draw ``n`` random problems whose running values all stay in ``[0, max_value]``.

    Each operation is chosen uniformly among the operations that can keep the value in
    range, then its operand uniformly among the admissible ones (``+``/``-``: ``1..max_operand``,
    ``*``: ``2..max_multiplier``).

    Parameters
    ----------
    n : int
        Number of problems (>= 0).
    seed : int
        Seed of a ``numpy.random.default_rng``; same seed, same problems.
    num_ops : int or (int, int)
        Number of operations, or an inclusive range drawn uniformly per problem.
    max_value, max_operand, max_multiplier : int
        Bounds on intermediate values and operands.

    Returns
    -------
    list of ToyProblem
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if isinstance(num_ops, (int, np.integer)):
        lo = hi = int(num_ops)
    else:
        try:
            lo, hi = (int(x) for x in num_ops)
        except (TypeError, ValueError) as e:
            raise ValueError(f"num_ops must be an int or a (low, high) pair, got {num_ops!r}") from e
    if lo < 1 or hi < lo:
        raise ValueError(f"num_ops must satisfy 1 <= low <= high, got {num_ops!r}")
    if max_value < 2 or max_operand < 1 or max_multiplier < 2:
        raise ValueError(
            "need max_value >= 2, max_operand >= 1, max_multiplier >= 2; "
            f"got {max_value}, {max_operand}, {max_multiplier}"
        )
    rng = np.random.default_rng(seed)
    problems = []
    for _ in range(int(n)):
        k = int(rng.integers(lo, hi + 1))
        v = int(rng.integers(0, max_value + 1))
        start, ops = v, []
        for _ in range(k):
            choices = []
            if v < max_value:
                choices.append("+")
            if v > 0:
                choices.append("-")
            if 0 < v and 2 * v <= max_value:
                choices.append("*")
            op = choices[int(rng.integers(len(choices)))]
            if op == "+":
                a = int(rng.integers(1, min(max_operand, max_value - v) + 1))
            elif op == "-":
                a = int(rng.integers(1, min(max_operand, v) + 1))
            else:
                a = int(rng.integers(2, min(max_multiplier, max_value // v) + 1))
            ops.append((op, a))
            v = _apply(v, op, a)
        problems.append(ToyProblem(start, tuple(ops)))
    return problems


def _check_problem(problem) -> ToyProblem:
    if isinstance(problem, dict):
        return ToyProblem.from_dict(problem)
    if not isinstance(problem, ToyProblem):
        raise TypeError(f"problem must be a ToyProblem (or its dict), got {type(problem).__name__}")
    return problem


def format_prompt(problem: ToyProblem) -> str:
    """The prompt: ``"23 +45 -27 *2\\n"`` (start, then each operation, newline-terminated)."""
    p = _check_problem(problem)
    return " ".join([str(p.start)] + [f"{o}{a}" for o, a in p.ops]) + "\n"


_PROMPT_RE = re.compile(r"^\s*(\d+)((?:\s+[+\-*]\d+)+)\s*$")


def parse_prompt(prompt: str) -> ToyProblem:
    """Inverse of :func:`format_prompt`: the problem written in a prompt (trailing text after the first line ignored).

    Raises ``ValueError`` when the first line is not a chain like ``"23 +45 -27 *2"``.
    """
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    first = prompt.split(STEP_DELIMITER, 1)[0]
    m = _PROMPT_RE.match(first)
    if not m:
        raise ValueError(f"not a toy-task prompt (expected e.g. '23 +45 -27 *2'): {first[:60]!r}")
    ops = tuple((t[0], int(t[1:])) for t in m.group(2).split())
    return ToyProblem(int(m.group(1)), ops)


def canonical_steps(problem: ToyProblem) -> list[str]:
    """The correct solution lines: one ``"a+b=c"`` line per operation, then ``"A: c"``."""
    p = _check_problem(problem)
    vals = p.values
    steps = [f"{vals[i]}{o}{a}={vals[i + 1]}" for i, (o, a) in enumerate(p.ops)]
    steps.append(f"{ANSWER_PREFIX}{p.answer}")
    return steps


def solution_text(problem: ToyProblem) -> str:
    """The correct continuation of :func:`format_prompt` (without the EOS token)."""
    return STEP_DELIMITER.join(canonical_steps(problem))


def parse_steps(text: str | Sequence[str]) -> list[str]:
    """Split an answer into steps: non-empty lines, stripped.

    A sequence of strings (already split steps, e.g. the particles' step list) is
    flattened the same way, so ``parse_steps(steps) == parse_steps("\\n".join(steps))``.
    """
    if isinstance(text, str):
        lines = text.split(STEP_DELIMITER)
    else:
        lines = [line for s in text for line in str(s).split(STEP_DELIMITER)]
    return [line.strip() for line in lines if line.strip()]


def parse_answer(text: str | Sequence[str]) -> int | None:
    """The integer on the first answer line (``"A: 42"``), or ``None`` if there is none.

    Useful as the "projection" of majority voting.
    """
    for step in parse_steps(text):
        m = _ANSWER_RE.match(step)
        if m:
            return int(m.group(1))
    return None


def grade(problem: ToyProblem, text: str | Sequence[str]) -> bool:
    """Outcome grading: True iff the answer line's value equals ``problem.answer``."""
    p = _check_problem(problem)
    ans = parse_answer(text)
    return ans is not None and ans == p.answer


def _expected(p: ToyProblem, index: int) -> str | None:
    steps = canonical_steps(p)
    return steps[index] if index < len(steps) else None


def _normalize_step(step: str) -> str:
    s = step.strip()
    m = _STEP_RE.match(s)
    if m:
        return f"{int(m.group(1))}{m.group(2)}{int(m.group(3))}={int(m.group(4))}"
    m = _ANSWER_RE.match(s)
    if m:
        return f"{ANSWER_PREFIX}{int(m.group(1))}"
    return s


def step_labels(problem: ToyProblem, steps: str | Sequence[str]) -> list[bool]:
    """Process labels of every step of a (partial) answer: see :func:`check_step`.

    Returns one bool per step of ``parse_steps(steps)``; once a step is wrong all later
    ones are wrong.  Steps beyond the answer line are wrong.
    """
    p = _check_problem(problem)
    labels, ok = [], True
    for i, s in enumerate(parse_steps(steps)):
        exp = _expected(p, i)
        ok = ok and exp is not None and _normalize_step(s) == exp
        labels.append(ok)
    return labels


def check_step(problem: ToyProblem, previous_steps: str | Sequence[str], step: str) -> bool:
    """Process grading of one step: True iff all ``previous_steps`` are correct and ``step``
    equals the canonical step at its position (spacing and leading zeros are ignored).

    ``previous_steps`` may be the text so far or a list of steps (each is parsed with
    :func:`parse_steps`).  An empty ``step`` is wrong.
    """
    prev = parse_steps(previous_steps)
    cur = parse_steps(step)
    if len(cur) != 1:
        return False
    return all(step_labels(problem, prev + cur))


def save_problems(problems: Iterable[ToyProblem], path: str | Path) -> Path:
    """Write problems as JSONL (one :meth:`ToyProblem.to_dict` per line)."""
    path = Path(path)
    with path.open("w") as f:
        for p in problems:
            f.write(json.dumps(_check_problem(p).to_dict()) + "\n")
    return path


def load_problems(path: str | Path) -> list[ToyProblem]:
    """Read problems written by :func:`save_problems`."""
    out = []
    with Path(path).open() as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    out.append(ToyProblem.from_dict(json.loads(line)))
                except (json.JSONDecodeError, ValueError) as e:
                    raise ValueError(f"{path}:{lineno}: not a toy problem: {e}") from e
    return out
