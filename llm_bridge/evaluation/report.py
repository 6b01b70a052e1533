"""Tables, verdicts and figures of the task-family experiment (:mod:`llm_bridge.evaluation.experiment`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from llm_bridge.evaluation.flaws import predicted_ceiling, predicted_resampling_accuracy, simulate_resampling
from llm_bridge.evaluation.paired import budget_ratio_to_match, claim_verdict, paired_bootstrap

__all__ = ["cells", "accuracy_table", "paired_table", "ratio_table", "flaws_table", "plot_accuracy", "plot_flaws"]


def cells(df: pd.DataFrame, method: str, budget: int) -> np.ndarray:
    """The ``(problems, seeds)`` score array of one method at one budget."""
    g = df[(df.method == method) & (df.budget == budget)]
    if g.empty:
        raise ValueError(f"no rows for method {method!r} at budget {budget}")
    return g.pivot_table(index="problem", columns="seed", values="correct").to_numpy()


def accuracy_table(df: pd.DataFrame, *, num_resamples: int = 1000, random_state=0) -> pd.DataFrame:
    """Mean accuracy per (method, budget) with two-stage bootstrap intervals, mean tokens and calls."""
    rows = []
    for (m, b), g in df.groupby(["method", "budget"], sort=True):
        iv = paired_bootstrap(cells(df, m, b), num_resamples=num_resamples, random_state=random_state)
        rows.append({"method": m, "budget": int(b), "accuracy": iv.estimate, "lower": iv.lower, "upper": iv.upper,
                     "tokens": float(g.tokens.mean()), "calls": float(g.calls.mean())})
    return pd.DataFrame(rows)


def paired_table(df: pd.DataFrame, reference: str = "pf", *, num_resamples: int = 1000, random_state=0):
    """``reference@B - method@B`` with paired intervals, for every method sharing budget ``B`` with ``reference``."""
    rows = []
    for b in sorted(df[df.method == reference].budget.unique()):
        ref = cells(df, reference, b)
        for m in sorted(df[(df.budget == b) & (df.method != reference)].method.unique()):
            iv = paired_bootstrap(ref, cells(df, m, b), num_resamples=num_resamples, random_state=random_state)
            rows.append({"budget": int(b), "versus": m, "difference": iv.estimate, "lower": iv.lower,
                         "upper": iv.upper, "excludes_0": iv.excludes(0.0)})
    return pd.DataFrame(rows)


def ratio_table(df: pd.DataFrame, budgets, *, pf: str = "pf", bon: str = "bon", num_resamples: int = 1000,
                random_state=0) -> pd.DataFrame:
    """Budget ratio to match (smallest ``B'`` with BoN@B' >= PF@B, over ``B``) with intervals and verdicts."""
    bon_c = np.stack([cells(df, bon, b) for b in budgets], axis=2)
    rows = []
    for b in sorted(df[df.method == pf].budget.unique()):
        r = budget_ratio_to_match(bon_c, cells(df, pf, b), budgets, int(b), num_resamples=num_resamples,
                                  random_state=random_state)
        rows.append({"budget": int(b), **r, "verdict": claim_verdict(r["lower"], r["upper"], 4.0, r["max_ratio"])})
    return pd.DataFrame(rows)


def flaws_table(df, correct, success_probs, cfg, *, num_resamples: int = 1000, random_state=0) -> pd.DataFrame:
    """Simulated resampling vs the closed form, per false-positive rate ``f`` and ``K``; plus BoN and PF at ``f``.

    ``correct``: ``(P, S, n)`` sample correctness; ``success_probs``: exact per-problem P(correct).
    """
    p_n, s_n, n = correct.shape
    rows = []
    for f in cfg.flaws_rates:
        sim = np.stack([simulate_resampling(correct[:, j], cfg.budgets, f, cfg.fnr, random_state=j)
                        for j in range(s_n)], axis=1)  # (P, S, K)
        pred = predicted_resampling_accuracy(success_probs, cfg.budgets, f, cfg.fnr)
        ceil = predicted_ceiling(success_probs, f, cfg.fnr)
        for k_i, k in enumerate(cfg.budgets):
            iv = paired_bootstrap(sim[:, :, k_i], num_resamples=num_resamples, random_state=random_state)
            row = {"f": f, "K": int(k), "resampling": iv.estimate, "lower": iv.lower, "upper": iv.upper,
                   "predicted": float(pred[k_i]), "ceiling": ceil}
            for m in (f"bon_f{f}", f"pf_f{f}") + (("pf",) if f == cfg.fpr else ()):
                if ((df.method == m) & (df.budget == k)).any():
                    ivm = paired_bootstrap(cells(df, m, k), num_resamples=num_resamples, random_state=random_state)
                    key = m.split("_")[0]
                    row.update({key: ivm.estimate, f"{key}_lower": ivm.lower, f"{key}_upper": ivm.upper})
            rows.append(row)
    return pd.DataFrame(rows)


_STYLE = {"pf": "C0", "pg": "C1", "pt": "C8", "beam": "C2", "dvts": "C9", "bon": "C3", "wbon": "C4",
          "majority": "C5", "bom": "C6", "rpc": "C7", "pass@k": "0.4"}


def plot_accuracy(acc: pd.DataFrame, path, title: str):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for m, c in _STYLE.items():
        g = acc[acc.method == m].sort_values("budget")
        if g.empty:
            continue
        ls = "--" if m == "pass@k" else "-"
        axes[0].plot(g.budget, g.accuracy, ls, marker="o", ms=3, color=c, label=m)
        axes[0].fill_between(g.budget, g.lower, g.upper, color=c, alpha=0.12)
        if m != "pass@k":
            axes[1].plot(g.budget, g.tokens, marker="o", ms=3, color=c, label=m)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("budget B (samples / particles)")
    axes[0].set_ylabel("accuracy (95% bootstrap over problems x seeds)")
    axes[1].set_ylabel("generated tokens per problem")
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=7, ncol=2)
    axes[0].set_title(title)
    axes[1].set_title("compute: tokens at each budget")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_flaws(ft: pd.DataFrame, passk: pd.DataFrame, path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(passk.budget, passk.accuracy, "k--", label="pass@K (perfect verifier)")
    for i, (f, g) in enumerate(ft.groupby("f")):
        c = f"C{i}"
        ax.errorbar(g.K.to_numpy(), g.resampling.to_numpy(),
                    yerr=[(g.resampling - g.lower).to_numpy(), (g.upper - g.resampling).to_numpy()], fmt="o", ms=3,
                    color=c, label=f"resampling, f={f} (measured)")
        ax.plot(g.K, g.predicted, "-", color=c, lw=1, label=f"closed form, f={f}")
        ax.axhline(g.ceiling.iloc[0], color=c, ls=":", lw=1)
        if "pf" in g and g.pf.notna().any():
            h = g[g.pf.notna()]
            ax.errorbar(h.K.to_numpy(), h.pf.to_numpy(),
                        yerr=[(h.pf - h.pf_lower).to_numpy(), (h.pf_upper - h.pf).to_numpy()], fmt="s", ms=6,
                        mfc="none", color=c, label=f"PF with a step verifier, f={f}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("K (samples) / B (particles)")
    ax.set_ylabel("accuracy")
    ax.set_title("imperfect-verifier ceiling p/(p+q) (dotted) vs resampling and PF")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
