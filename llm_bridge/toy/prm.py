r"""Evaluating process reward models on the toy task: corrupted partial answers with exact step labels.

:func:`corrupt_answer` truncates a canonical solution at a random step and, with probability
``p_corrupt``, changes one random digit (a wrong result, a wrongly copied value or operand, a
wrong answer line).  :func:`evaluate_prm` scores such answers with any
:class:`~llm_bridge.protocols.RewardModel` and compares the step scores with the exact
"on track" labels of :func:`~llm_bridge.toy.task.step_labels` (AUROC, error rates at 0.5).

Measured with it (``docs/llm_backends.md``): the toy policy's self-certainty reaches a step
AUROC of 0.81.  A learned token-classifier PRM (``LlamaForTokenClassification``, from scratch
or fine-tuned from the toy policy, step or dense per-token labels, up to 1500 steps) stayed
at AUROC 0.63-0.65 within this machine's CPU budget, so none is shipped.

Example
-------
>>> from llm_bridge.rewards import ToyStepVerifier
>>> from llm_bridge.toy.prm import evaluate_prm
>>> evaluate_prm(ToyStepVerifier(), n=50)["auroc"]
1.0
"""

from __future__ import annotations

import numpy as np

from llm_bridge.toy.task import canonical_steps, format_prompt, make_problems, step_labels

__all__ = ["corrupt_answer", "evaluate_prm", "auroc"]


def corrupt_answer(problem, rng: np.random.Generator, p_corrupt: float = 0.6) -> list[str]:
    """Canonical steps, truncated at a random length, with one random digit changed with probability ``p_corrupt``."""
    if not (0.0 <= p_corrupt <= 1.0):
        raise ValueError(f"p_corrupt must be in [0, 1], got {p_corrupt!r}")
    steps = canonical_steps(problem)
    k = int(rng.integers(1, len(steps) + 1))
    steps = steps[:k]
    if rng.random() < p_corrupt:
        i = int(rng.integers(0, k))
        s = steps[i]
        digits = [j for j, ch in enumerate(s) if ch.isdigit()]
        j = digits[int(rng.integers(len(digits)))]
        steps[i] = s[:j] + str((int(s[j]) + int(rng.integers(1, 10))) % 10) + s[j + 1 :]
    return steps


def auroc(scores, labels) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (Mann-Whitney U with mid-ranks for ties)."""
    from scipy.stats import rankdata

    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    if n1 == 0 or n0 == 0:
        raise ValueError(f"auroc needs both classes, got {n1} positives and {n0} negatives")
    r = rankdata(scores)
    return float((r[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def evaluate_prm(prm, n: int = 300, seed: int = 1, p_corrupt: float = 0.6) -> dict:
    """Step-level quality of ``prm`` on ``n`` corrupted held-out partial answers.

    Returns the number of steps, AUROC, accuracy at threshold 0.5, the mean score of correct
    and wrong steps, and the false-positive / false-negative rates at 0.5.
    """
    rng = np.random.default_rng(seed + 77)
    problems = make_problems(n, seed=seed + 10_000, num_ops=(2, 6))
    answers = [corrupt_answer(p, rng, p_corrupt) for p in problems]
    scores = prm.score_steps([format_prompt(p) for p in problems], answers)
    s = np.concatenate([np.asarray(x, float) for x in scores])
    y = np.concatenate([np.asarray(step_labels(p, a)) for p, a in zip(problems, answers, strict=True)])
    return {
        "steps": int(len(y)),
        "auroc": auroc(s, y),
        "accuracy_at_0.5": float(np.mean((s > 0.5) == y)),
        "mean_score_correct": float(s[y].mean()),
        "mean_score_wrong": float(s[~y].mean()),
        "false_positive_rate_at_0.5": float(np.mean(s[~y] > 0.5)),
        "false_negative_rate_at_0.5": float(np.mean(s[y] <= 0.5)),
    }
