"""DP Kaplan-Meier vs lifelines' KaplanMeierFitter: wall time (same run) and RMSE at each epsilon.

Wall time: ``fit`` on NCCTG lung (n = 228) and on a synthetic Exp(365) sample with 30% censoring
(n = 1e6, as in shared/reference/peer_results.md), for lifelines and for each mechanism
(histogram and tree with the default 1000-replicate noise-aware bootstrap, and with 1 replicate
= the release alone; paper). RMSE: lung, 1000 releases per epsilon, against lifelines' exact KM.
``python -m benchmarks.bench_km``.
"""

from __future__ import annotations

import warnings

import numpy as np

from benchmarks._util import median_time, write_results


def main() -> None:
    from lifelines import KaplanMeierFitter

    from privacy import NoPrivacyGuaranteeWarning, PrivateKaplanMeier
    from probinf_cli.reproductions.dp_km import COARSE_GRID, lung_data, rmse_table

    warnings.simplefilter("ignore", NoPrivacyGuaranteeWarning)
    t_lung, e_lung = lung_data()
    rng = np.random.default_rng(0)
    n = 1_000_000
    death = rng.exponential(365.0, n)
    cens = rng.exponential(365.0 * 7 / 3, n)  # P(censored) = 0.3
    t_syn, e_syn = np.minimum(death, cens), (death <= cens).astype(int)
    datasets = {"lung (n=228)": (t_lung, e_lung, COARSE_GRID), "synthetic (n=1e6)": (t_syn, e_syn,
                                                                                        np.linspace(15, 1500, 100))}
    rows = []
    for dname, (t, e, grid) in datasets.items():
        base = median_time(lambda: KaplanMeierFitter().fit(t, e), repeats=3)  # noqa: B023 - called within this iteration
        ref = KaplanMeierFitter().fit(t, e)
        rows.append({"data": dname, "estimator": "lifelines KaplanMeierFitter", "seconds": base, "ratio": 1.0,
                     "S(365)": float(ref.predict(365.0)), "median": float(ref.median_survival_time_)})
        for mech, nb in (("histogram", 1000), ("histogram", 1), ("tree", 1000), ("tree", 1), ("paper", 1)):
            def fit(mech=mech, nb=nb):
                return PrivateKaplanMeier(1.0, grid=grid, mechanism=mech, n_bootstrap=nb, random_state=0).fit(t, e)  # noqa: B023 - called within this iteration

            sec = median_time(fit, repeats=3)
            km = fit()
            label = f"PrivateKaplanMeier {mech}, eps=1" + (f", {nb} bootstrap" if mech != "paper" else " (no DP)")
            rows.append({"data": dname, "estimator": label, "seconds": sec, "ratio": sec / base,
                         "S(365)": float(km.predict(365.0)), "median": float(km.median_survival_time_)})
    rmse = rmse_table(t_lung, e_lung, n_rep=1000, seed=1)
    md = ["## DP Kaplan-Meier vs lifelines 0.30.3", "",
          "Wall time of `fit` (median of 3, same run; ratio = ours / lifelines):", "",
          "| data | estimator | seconds | ratio | S(365) | median |", "|---|---|---|---|---|---|"]
    md += [f"| {r['data']} | {r['estimator']} | {r['seconds']:.4f} | {r['ratio']:.2f} | {r['S(365)']:.4f} | "
           f"{r['median']:.1f} |" for r in rows]
    md += ["", "RMSE against lifelines' exact KM on lung (1000 releases per epsilon; at the release points):", "",
           "| mechanism | grid | adjacency | " + " | ".join(f"eps={x:g}" for x in sorted(rmse.epsilon.unique())) + " |",
           "|---|---|---|" + "---|" * rmse.epsilon.nunique()]
    for (mech, g, adj), grp in rmse.groupby(["mechanism", "grid", "adjacency"], sort=False):
        md.append(f"| {mech} | {g} | {adj} | " + " | ".join(f"{v:.4f}" for v in grp["rmse_at_release_points"]) + " |")
    text = "\n".join(md) + "\n"
    write_results("km", rows, text, extra={"rmse": rmse.to_dict(orient="records")})
    print(text)


if __name__ == "__main__":
    main()
