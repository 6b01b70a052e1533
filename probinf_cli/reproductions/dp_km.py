"""Reproduction ``dp-km``: the DP Kaplan-Meier of Veeraragavan et al. (2024) beside provable mechanisms.

On lifelines' NCCTG lung data (n = 228): RMSE against lifelines' exact KM for epsilon in
{0.5, 1, 2, 5, 10} and every mechanism, curves with bands, the empirical privacy audit
(membership game + Bayesian epsilon posterior), the paper's influential-points analysis, and the
Thresholdout demonstration. ``probinf reproduce dp-km --out DIR``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from privacy.exceptions import NoPrivacyGuaranteeWarning
from privacy.holdout import adaptive_overfitting_demo
from privacy.km_audit import audit_km, influential_points
from privacy.survival import PrivateKaplanMeier
from privacy.survival.data import cell_counts
from privacy.survival.mechanisms import product_limit, release_histogram, release_tree
from privacy.survival.paper import release_paper
from probinf.progress import progress
from probinf_cli.runner import ReproResult

__all__ = ["run", "lung_data", "rmse_table", "tree_vs_histogram", "EPSILONS", "COARSE_GRID", "FINE_GRID"]

EPSILONS = (0.5, 1.0, 2.0, 5.0, 10.0)
COARSE_GRID = np.arange(30.0, 1051.0, 30.0)  # 35 public 30-day bins (a public 1050-day horizon)
FINE_GRID = np.arange(10.0, 1051.0, 10.0)  # 105 public 10-day bins


def lung_data():
    """Durations (days) and death indicators of lifelines' bundled NCCTG lung data."""
    from lifelines.datasets import load_lung

    df = load_lung()
    return df["time"].to_numpy(float), df["status"].to_numpy(int)


def _step(index, curves, times):
    pos = np.searchsorted(index, times, side="right") - 1
    padded = np.concatenate([np.ones(curves.shape[:-1] + (1,)), curves], axis=-1)
    return padded[..., pos + 1]


def rmse_table(t, e, *, n_rep=200, epsilons=EPSILONS, seed=0):
    """RMSE of every mechanism against lifelines' exact KM, two definitions (see the summary)."""
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(t, e)
    ev = np.unique(t[e == 1])
    ref_ev = kmf.predict(ev).to_numpy()
    rng = np.random.default_rng(seed)
    configs = [
        ("histogram", "30-day", COARSE_GRID, "add-remove"),
        ("histogram", "30-day", COARSE_GRID, "replace-one"),
        ("tree", "30-day", COARSE_GRID, "add-remove"),
        ("histogram", "10-day", FINE_GRID, "add-remove"),
        ("tree", "10-day", FINE_GRID, "add-remove"),
        ("paper", "event times", None, "none (no DP)"),
    ]
    rows = []
    for mech, gname, grid, adj in progress(configs, desc="dp-km rmse"):
        for eps in epsilons:
            if mech == "paper":
                u, curves, _ = release_paper(t, e, eps, rng, size=n_rep)
                at_release = np.sqrt(np.mean((curves - kmf.predict(u).to_numpy()) ** 2))
                on_events = np.sqrt(np.mean((_step(u, curves, ev) - ref_ev) ** 2))
            else:
                cells = cell_counts(t, e, grid)
                if mech == "histogram":
                    noisy = release_histogram(cells, eps, adj, rng, size=n_rep)
                else:
                    noisy = release_tree(cells, eps, adj, rng, size=n_rep)[0]
                npub = float(t.size) if adj == "replace-one" else None
                curves = product_limit(noisy, n_public=npub)[0]
                at_release = np.sqrt(np.mean((curves - kmf.predict(grid).to_numpy()) ** 2))
                on_events = np.sqrt(np.mean((_step(grid, curves, ev) - ref_ev) ** 2))
            rows.append({"mechanism": mech, "grid": gname, "adjacency": adj, "epsilon": eps,
                         "rmse_at_release_points": at_release, "rmse_on_event_times": on_events, "reps": n_rep})
    return pd.DataFrame(rows)


def tree_vs_histogram(t, e, *, n_rep=300, seed=0, grids=(35, 105, 525)):
    """Where the tree helps: RMSE of the at-risk counts (early / tail, t >= 600 days) and of the curve's tail."""
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(t, e)
    rng = np.random.default_rng(seed)
    rows = []
    for k in grids:
        grid = np.linspace(1050.0 / k, 1050.0, k)
        cells = cell_counts(t, e, grid)
        _, n_exact, _ = product_limit(cells.astype(float))
        ref = kmf.predict(grid).to_numpy()
        tail = grid >= 600
        for eps in (1.0, 10.0):
            for mech in ("histogram", "tree"):
                if mech == "histogram":
                    noisy = release_histogram(cells, eps, "add-remove", rng, size=n_rep)
                else:
                    noisy = release_tree(cells, eps, "add-remove", rng, size=n_rep)[0]
                s, n_risk, _ = product_limit(noisy)
                rows.append({"bins": k, "epsilon": eps, "mechanism": mech,
                             "at_risk_rmse_early": float(np.sqrt(np.mean((n_risk - n_exact)[:, ~tail] ** 2))),
                             "at_risk_rmse_tail": float(np.sqrt(np.mean((n_risk - n_exact)[:, tail] ** 2))),
                             "curve_rmse_tail": float(np.sqrt(np.mean((s - ref)[:, tail] ** 2)))})
    return pd.DataFrame(rows)


def _curves_figure(t, e, out_dir, seed):
    import matplotlib.pyplot as plt
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(t, e)
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5), sharex=True, sharey=True)
    for row, eps in enumerate((1.0, 10.0)):
        for col, mech in enumerate(("histogram", "tree", "paper")):
            ax = axes[row, col]
            kmf.plot_survival_function(ax=ax, ci_show=False, color="k", lw=1, label="lifelines KM (exact)")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NoPrivacyGuaranteeWarning)
                km = PrivateKaplanMeier(eps, grid=COARSE_GRID, mechanism=mech, random_state=seed).fit(t, e)
            km.plot_survival_function(ax=ax, color="C1" if mech == "paper" else "C0")
            ax.set_title(f"{mech}, eps={eps:g}" + (" (no DP guarantee)" if mech == "paper" else ""))
            ax.legend(fontsize=7, loc="upper right")
    fig.suptitle("NCCTG lung: one release per mechanism, 95% bands (noise + sampling)")
    fig.tight_layout()
    path = Path(out_dir) / "dp_km_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _rmse_figure(table, out_dir):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for (mech, gname, adj), g in table.groupby(["mechanism", "grid", "adjacency"], sort=False):
        ax.plot(g["epsilon"], g["rmse_at_release_points"], marker="o", label=f"{mech}, {gname}, {adj}")
    ax.axhline(0.04, color="grey", ls=":", label="paper's reported RMSE at eps=10")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epsilon")
    ax.set_ylabel("RMSE vs exact KM")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(out_dir) / "dp_km_rmse.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _audit_table(t, e, *, n_trials, seed):
    cases = [("histogram", "counts"), ("histogram", "curve"), ("tree", "curve"), ("paper", "curve"),
             ("paper", "index")]
    rows = []
    for mech, attack in progress(cases, desc="dp-km audit"):
        for eps in (1.0, 10.0):
            res = audit_km(t, e, mech, eps, grid=COARSE_GRID, attack=attack, target="search", n_trials=n_trials,
                           random_state=seed)
            d = res.to_dict()
            d["guarantee"] = "none" if mech == "paper" else f"{eps:g}-DP"
            d["violation"] = bool(res.lower_bound > eps)
            rows.append(d)
    return pd.DataFrame(rows)


def _audit_figure(audit, out_dir):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    cases = list(dict.fromkeys(zip(audit["mechanism"], audit["attack"], strict=True)))
    for _, r in audit.iterrows():
        i = cases.index((r["mechanism"], r["attack"]))
        x = r["claimed_epsilon"] * (1 + 0.06 * (i - 2))
        ax.errorbar(x, r["lower_bound_0.95"], yerr=[[0], [max(r["interval_hi"] - r["lower_bound_0.95"], 0)]],
                    fmt="o" if r["mechanism"] != "paper" else "s", color=f"C{i}",
                    label=f"{r['mechanism']} / {r['attack']}" if r["claimed_epsilon"] == 1.0 else None)
    xs = np.array([0.7, 14])
    ax.plot(xs, xs, "k--", lw=1, label="claimed epsilon")
    ax.set_xscale("log")
    ax.set_xlabel("claimed epsilon")
    ax.set_ylabel("95% lower bound on epsilon (bar: to upper end)")
    ax.legend(fontsize=7)
    ax.set_title("Membership audit on lung (searched target)\nperfect attacks are capped by the trial count")
    fig.tight_layout()
    path = Path(out_dir) / "dp_km_audit.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _influence_table(t, e, *, n_rep, seed):
    rows = []
    for mech in progress(("histogram", "paper"), desc="dp-km influential points"):
        for eps in EPSILONS:
            for crn in (False, True):
                s = influential_points(t, e, mech, eps, grid=COARSE_GRID, common_noise=crn, num_replicates=n_rep,
                                       random_state=seed)
                rows.append({"mechanism": mech, "epsilon": eps, "noise": "common" if crn else "independent",
                             **{f"tau={k:g}": v for k, v in s.items()}})
    return pd.DataFrame(rows)


def run(out_dir: Path, *, quick: bool = True, seed: int = 0) -> ReproResult:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t, e = lung_data()
    n_rep = 300 if quick else 2000
    rmse = rmse_table(t, e, n_rep=n_rep, seed=seed)
    tree = tree_vs_histogram(t, e, n_rep=n_rep, seed=seed)
    audit = _audit_table(t, e, n_trials=8000 if quick else 40000, seed=seed)
    infl = _influence_table(t, e, n_rep=2 if quick else 10, seed=seed)
    holdout = pd.concat([adaptive_overfitting_demo(n=1000, random_state=seed + s) for s in range(5 if quick else 20)])
    holdout_mean = holdout.groupby("queries", as_index=False).mean()
    figures = [_curves_figure(t, e, out_dir, seed), _rmse_figure(rmse, out_dir), _audit_figure(audit, out_dir)]

    def r(mech, grid, adj, eps):
        m = (rmse.mechanism == mech) & (rmse.grid == grid) & (rmse.adjacency == adj) & (rmse.epsilon == eps)
        return float(rmse.loc[m, "rmse_at_release_points"].iloc[0])

    hist = [r("histogram", "30-day", "add-remove", x) for x in EPSILONS]
    pap = [r("paper", "event times", "none (no DP)", x) for x in EPSILONS]
    viol = audit[audit.violation]
    last = holdout_mean.iloc[-1]
    summary = "\n".join([
        f"NCCTG lung (lifelines, n={t.size}, {int(e.sum())} deaths); {n_rep} releases per cell.",
        "",
        "RMSE against lifelines' exact KM at the release points (grid points, or the observed event times "
        "for the paper's mechanism), pooled over releases and points:",
        "- histogram, 35 public 30-day bins, add-remove: " + ", ".join(
            f"eps={x:g}: {v:.4f}" for x, v in zip(EPSILONS, hist, strict=True)),
        "- paper's mechanism (reconstructed; no DP guarantee): " + ", ".join(
            f"eps={x:g}: {v:.4f}" for x, v in zip(EPSILONS, pap, strict=True)),
        f"  (the paper reports about 0.04 at eps=10; the reconstruction gives {pap[-1]:.3f}).",
        "",
        "Tree vs histogram (table tree_vs_histogram): on long grids the tree estimates the at-risk counts "
        "better (they are long prefix/suffix sums), but each bin's death count carries the tree's larger "
        "per-node noise, so the curve itself is less accurate than the histogram's on every grid measured; "
        "the histogram's at-risk counts are suffix sums, already short in the tail.",
        "",
        "Empirical audit (membership game, target searched on pilot trials, Bayesian posterior, delta=0): "
        f"{len(viol)} of {len(audit)} rows exceed their claimed epsilon at the 95% level: "
        + ("; ".join(f"{a.mechanism}/{a.attack} at eps={a.claimed_epsilon:g}: lower bound {a['lower_bound_0.95']:.2f}"
                     for _, a in viol.iterrows()) or "none") + ". "
        "Provable mechanisms stay at or below their epsilon; the paper's release indexes its curve by the "
        "observed event times, so a unique death time is a perfect membership test (lower bound limited only "
        "by the number of trials).",
        "",
        "Influential points (records whose removal moves the released curve by more than tau): with "
        "independent noise the count falls as epsilon grows, reproducing the paper's finding, but it measures "
        "the noise, not privacy; with common random numbers only the data's effect remains.",
        "",
        f"Thresholdout (boosting attack, {int(last.queries)} adaptive queries, labels independent of features): "
        f"standard holdout reports {last.reported_standard:.3f} (fresh {last.fresh_standard:.3f}); "
        f"Thresholdout reports {last.reported_thresholdout:.3f} (fresh {last.fresh_thresholdout:.3f}).",
    ])
    return ReproResult(
        title="DP Kaplan-Meier: provable mechanisms vs Veeraragavan et al. 2024",
        summary=summary,
        figures=figures,
        tables={"rmse": rmse, "tree_vs_histogram": tree, "audit": audit, "influential_points": infl,
                "thresholdout": holdout_mean},
    )
