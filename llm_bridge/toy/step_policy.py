r"""A small trained step policy for the task family, with exact answer probabilities.

The policy writes a chained-arithmetic solution one line at a time, exactly in the
format of :mod:`llm_bridge.toy.task` (``"68-27=41"``, then ``"A: 41"``).  It copies the
running value and the operation (those characters are deterministic), and **computes**
the result with a learned network: a one-hidden-layer MLP from the digits of the value
and operand and the operator (63 one-hot features) to three independent softmaxes over
the result's hundreds, tens and ones digits.  Trained briefly (:func:`train_step_policy`,
about a minute on one free core; 281 s measured on the shared 2-core machine), it makes
the errors a weak reasoner makes: mostly right on easy
steps, systematically wrong on some carries and products, so some problems are nearly
unsolvable by sampling and a verifier or a search has something to find.

Because a step's result distribution is explicit, the probability that a sampled answer
is correct is computed **exactly** by a forward pass over the running value's distribution
(:meth:`StepPolicy.answer_distribution`, 1000 states); pass@k of a problem is then
``1 - (1 - p)^k`` with no sampling error.

The shipped weights (``assets/step_policy.npz``) are re-created by
``python -m llm_bridge.toy.step_policy --out llm_bridge/toy/assets/step_policy.npz``;
training uses only ``"train"`` problems of :mod:`llm_bridge.toy.family`.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llm_bridge.toy.family import Difficulty, family_problems
from llm_bridge.toy.task import ToyProblem

__all__ = ["StepPolicy", "features", "train_step_policy", "step_policy_path", "load_step_policy"]

_OPS = {"+": 0, "-": 1, "*": 2}
NUM_FEATURES = 63
_DIGITS = np.array([100, 10, 1])
#: Running values with less probability than this are dropped in :meth:`StepPolicy.answer_distribution`
#: (at most 1000 of them per step, so the answer probabilities are exact to within ``1e-6`` per step).
_PRUNE = 1e-9
#: Chains whose steps the policy is trained on (lengths up to 8, values up to 999).
TRAIN_DIFFICULTY = Difficulty(num_ops=8, max_value=999)


def features(v, op_idx, a) -> np.ndarray:
    """One-hot digits of ``v`` (30), of ``a`` (30) and the operator (3): shape ``(n, 63)``."""
    v, op_idx, a = (np.atleast_1d(np.asarray(x, np.int64)) for x in (v, op_idx, a))
    v, op_idx, a = np.broadcast_arrays(v, op_idx, a)
    n = v.shape[0]
    x = np.zeros((n, NUM_FEATURES), np.float32)
    rows = np.arange(n)
    for j, d in enumerate(_DIGITS):
        x[rows, 10 * j + (v // d) % 10] = 1.0
        x[rows, 30 + 10 * j + (a // d) % 10] = 1.0
    x[rows, 60 + op_idx] = 1.0
    return x


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@dataclass(frozen=True)
class StepPolicy:
    """The MLP's weights: ``W1 (63, H), b1 (H,), W2 (H, 30), b2 (30,)``."""

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray

    def digit_logprobs(self, v, op_idx, a, temperature: float = 1.0) -> np.ndarray:
        """Log-probabilities of the result's three digits, shape ``(n, 3, 10)``, at ``temperature``."""
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        h = np.maximum(features(v, op_idx, a) @ self.W1 + self.b1, 0.0)
        z = (h @ self.W2 + self.b2).reshape(-1, 3, 10)
        return _log_softmax(z / temperature)

    def result_logprob(self, v, op_idx, a, r) -> np.ndarray:
        """``log p(r | v, op, a)`` at temperature 1 (``r`` in ``[0, 999]``)."""
        lp = self.digit_logprobs(v, op_idx, a)
        r = np.atleast_1d(np.asarray(r, np.int64))
        d = (r[:, None] // _DIGITS) % 10
        return np.take_along_axis(lp, d[:, :, None], axis=2)[:, :, 0].sum(axis=1)

    def sample_results(self, rng: np.random.Generator, v, op_idx, a, n: int, temperature: float = 1.0):
        """``n`` sampled results per row: ints of shape ``(rows, n)``."""
        p = np.exp(self.digit_logprobs(v, op_idx, a, temperature))  # (rows, 3, 10)
        c = np.cumsum(p, axis=2)
        u = rng.random((p.shape[0], n, 3))
        d = (u[:, :, :, None] > c[:, None, :, :]).sum(axis=3).clip(0, 9)  # (rows, n, 3)
        return (d * _DIGITS).sum(axis=2)

    def transition(self, op: str, a: int) -> np.ndarray:
        """``T[v, r] = p(r | v, op, a)`` for all 1000 x 1000 values (rows sum to 1)."""
        p = np.exp(self.digit_logprobs(np.arange(1000), _OPS[op], a))
        return np.einsum("vh,vt,vo->vhto", p[:, 0], p[:, 1], p[:, 2]).reshape(1000, 1000)

    def answer_distribution(self, problem: ToyProblem) -> np.ndarray:
        """Exact distribution (length 1000) of the answer a sampled solution (temperature 1) writes."""
        pi = np.zeros(1000)
        pi[problem.start] = 1.0
        for op, a in problem.ops:
            live = np.flatnonzero(pi > _PRUNE)
            p = np.exp(self.digit_logprobs(live, _OPS[op], a))
            t = np.einsum("vh,vt,vo->vhto", p[:, 0], p[:, 1], p[:, 2]).reshape(len(live), 1000)
            pi = pi[live] @ t
        return pi

    def success_probability(self, problem: ToyProblem) -> float:
        """P(a sampled solution's answer is correct), exactly."""
        return float(self.answer_distribution(problem)[problem.answer])

    def on_track_probability(self, problem: ToyProblem) -> float:
        """P(every step of a sampled solution is correct) = product of the correct results' probabilities.

        Smaller than :meth:`success_probability` by the chance of a right answer reached
        through wrong steps (which a step verifier rejects).
        """
        vals = problem.values
        lp = sum(float(self.result_logprob(vals[i], _OPS[o], a, vals[i + 1])[0])
                 for i, (o, a) in enumerate(problem.ops))
        return float(np.exp(lp))

    def greedy_answer(self, problem: ToyProblem) -> int:
        """The answer of the greedy (per-digit argmax) solution."""
        v = problem.start
        for op, a in problem.ops:
            d = self.digit_logprobs(v, _OPS[op], a)[0].argmax(axis=1)
            v = int((d * _DIGITS).sum())
        return v

    def save(self, path) -> Path:
        path = Path(path)
        np.savez_compressed(path, W1=self.W1, b1=self.b1, W2=self.W2, b2=self.b2)
        return path

    @classmethod
    def load(cls, path) -> StepPolicy:
        with np.load(Path(path)) as z:
            return cls(*(np.asarray(z[k], np.float32) for k in ("W1", "b1", "W2", "b2")))


def _training_steps(num_chains: int, difficulty: Difficulty, seed: int) -> np.ndarray:
    """``(v, op_idx, a, r)`` rows of every step of ``num_chains`` training-split chains (lengths up to num_ops)."""
    rows = []
    for p in family_problems(num_chains, difficulty, split="train", seed=seed):
        vals = p.values
        rows += [(vals[i], _OPS[o], a, vals[i + 1]) for i, (o, a) in enumerate(p.ops)]
    return np.array(rows, np.int64)


def train_step_policy(*, hidden: int = 128, steps: int = 3000, batch_size: int = 256, lr: float = 1e-2,
                      num_chains: int = 4000, difficulty: Difficulty = TRAIN_DIFFICULTY,
                      seed: int = 0):
    """Train the MLP with Adam on the steps of ``num_chains`` training chains; returns ``(policy, record)``."""
    t0 = time.perf_counter()
    data = _training_steps(num_chains, difficulty, seed=1_000_003 + seed)
    rng = np.random.default_rng(seed)
    W1 = (rng.standard_normal((NUM_FEATURES, hidden)) * np.sqrt(2 / 7)).astype(np.float32)
    W2 = (rng.standard_normal((hidden, 30)) * np.sqrt(1 / hidden)).astype(np.float32)
    params = [W1, np.zeros(hidden, np.float32), W2, np.zeros(30, np.float32)]
    m = [np.zeros_like(q) for q in params]
    s = [np.zeros_like(q) for q in params]
    losses = []
    for it in range(1, steps + 1):
        b = data[rng.integers(0, len(data), batch_size)]
        x = features(b[:, 0], b[:, 1], b[:, 2])
        y = (b[:, 3:4] // _DIGITS) % 10  # (B, 3)
        pre = x @ params[0] + params[1]
        h = np.maximum(pre, 0.0)
        lp = _log_softmax((h @ params[2] + params[3]).reshape(-1, 3, 10))
        losses.append(-np.take_along_axis(lp, y[:, :, None], 2).mean() * 3)
        g = np.exp(lp)
        np.put_along_axis(g, y[:, :, None], np.take_along_axis(g, y[:, :, None], 2) - 1.0, 2)
        g = g.reshape(-1, 30) / len(b)
        gh = (g @ params[2].T) * (pre > 0)
        grads = [x.T @ gh, gh.sum(0), h.T @ g, g.sum(0)]
        lr_t = lr * 0.5 * (1 + np.cos(np.pi * it / steps))
        for j, gr in enumerate(grads):
            m[j] = 0.9 * m[j] + 0.1 * gr
            s[j] = 0.999 * s[j] + 0.001 * gr * gr
            params[j] -= lr_t * (m[j] / (1 - 0.9**it)) / (np.sqrt(s[j] / (1 - 0.999**it)) + 1e-8)
    policy = StepPolicy(*(q.astype(np.float32) for q in params))
    record = {"hidden": hidden, "steps": steps, "batch_size": batch_size, "lr": lr, "num_chains": num_chains,
              "training_difficulty": vars(difficulty), "seed": seed, "training_steps_rows": int(len(data)),
              "final_loss": float(np.mean(losses[-100:])), "train_seconds": round(time.perf_counter() - t0, 2)}
    return policy, record


_ASSET = Path(__file__).resolve().parent / "assets" / "step_policy.npz"


def step_policy_path() -> Path:
    """The shipped weights; ``FileNotFoundError`` (with the command that re-creates them) if absent."""
    if not _ASSET.is_file():
        raise FileNotFoundError(f"the step policy is missing at {_ASSET}; re-create it with "
                                f"`python -m llm_bridge.toy.step_policy --out {_ASSET}`")
    return _ASSET


def load_step_policy() -> StepPolicy:
    """The shipped :class:`StepPolicy`."""
    return StepPolicy.load(step_policy_path())


def main(argv=None) -> dict:
    """``python -m llm_bridge.toy.step_policy --out PATH [--steps N] [--hidden H] [--seed S]``."""
    ap = argparse.ArgumentParser(description="train the task-family step policy")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    policy, rec = train_step_policy(hidden=a.hidden, steps=a.steps, seed=a.seed)
    policy.save(a.out)
    Path(a.out).with_suffix(".json").write_text(json.dumps(rec, indent=2) + "\n")
    print(json.dumps(rec, indent=2))
    return rec


if __name__ == "__main__":
    main()
