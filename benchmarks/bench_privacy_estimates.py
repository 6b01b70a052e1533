"""Bayesian epsilon intervals: probinf's deterministic 1-D quadrature vs the authors' ``privacy-estimates``.

Same machine, same run.  For the counts in shared/reference/peer_results.md, times
``privacy_estimates.compute_eps_lo_hi / compute_eps_lo(method="joint-beta")`` (nested adaptive
quadrature inside a root finder; package defaults, xtol 1e-2) once each, and probinf's
``epsilon_posterior(...).interval / lower_bound`` (fresh object every call, so setup is included)
as the median of many calls.  Accuracy is judged against a Monte Carlo reference with 4e6 draws
(its standard error on each interval end is reported) and against each other.
``python -m benchmarks.bench_privacy_estimates``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from benchmarks._util import median_time, write_results

# (TP, TN, FP, FN), delta, alpha (significance), call
CASES = [
    ((487, 1, 512, 0), 1e-5, 0.1, "lo_hi"),
    ((1000, 1000, 0, 0), 1e-5, 0.05, "lo"),
    ((900, 950, 50, 100), 1e-5, 0.05, "lo_hi"),
    ((1000, 1000, 0, 0), 1e-5, 0.05, "lo_hi"),  # the peer fails here (bracket capped at eps = 10)
]
N_MC = 4_000_000


def _mc_quantiles(tp, tn, fp, fn, delta, qs, seed=0):
    from privacy import empirical_epsilon

    rng = np.random.default_rng(seed)
    eps = empirical_epsilon(rng.beta(fp + .5, tn + .5, N_MC), rng.beta(fn + .5, tp + .5, N_MC), delta)
    vals = np.quantile(eps, qs)
    # standard error of a sample quantile: sqrt(q(1-q)/n) / density, density by a +-0.002 probability window
    se = []
    for q in qs:
        lo, hi = np.quantile(eps, [max(q - 0.002, 0), min(q + 0.002, 1)])
        dens = 0.004 / max(hi - lo, 1e-12)
        se.append(float(np.sqrt(q * (1 - q) / N_MC) / dens))
    return vals, se


def _write(rows: list, t_vec: float) -> None:
    md = ["## Bayesian epsilon intervals: probinf vs privacy-estimates 0.1.0.post1 (joint-beta)", "",
          f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on a 2-core CPU (same run for both). "
          f"Monte Carlo reference: {N_MC:.0e} posterior draws (standard error in brackets).", "",
          "| counts (TP,TN,FP,FN) | δ | α | call | probinf | probinf time | privacy-estimates | peer time | speed-up "
          "| Monte Carlo | max abs diff probinf–MC | peer–MC |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        peer = r["peer"] if r["peer"] is not None else f"fails: {r['peer_error'][:60]}"
        sp = f"{r['speedup']:.0f}x" if r["speedup"] else "—"
        mc = ", ".join(f"{v} (±{s})" for v, s in zip(r["monte_carlo"], r["mc_se"], strict=True))
        dpm = f"{r['max_diff_peer_vs_mc']:.4f}" if r["max_diff_peer_vs_mc"] is not None else "—"
        md.append(f"| {r['counts (TP,TN,FP,FN)']} | {r['delta']:g} | {r['alpha']} | {r['call']} | {r['probinf']} | "
                  f"{r['probinf_ms']:.1f} ms | {peer} | {r['peer_s']:.2f} s | {sp} | {mc} | "
                  f"{r['max_diff_probinf_vs_mc']:.4f} | {dpm} |")
    md += ["", f"Vectorised CDF: 1000 epsilon values in one call take {t_vec * 1e3:.1f} ms "
           f"({t_vec * 1e6 / 1000:.1f} µs per value).", ""]
    write_results("privacy_estimates", rows, "\n".join(md), extra={"cdf_1000_values_s": t_vec})


def main() -> None:
    import privacy_estimates as pe

    from privacy import AttackCounts, epsilon_posterior

    warnings.simplefilter("ignore")  # the peer's scipy IntegrationWarnings
    # vectorised CDF: one call for 1000 epsilon values
    post = epsilon_posterior(AttackCounts(tp=900, fn=100, tn=950, fp=50), 1e-5)
    grid = np.linspace(2.0, 4.0, 1000)
    t_vec = median_time(lambda: post.cdf(grid), repeats=5)
    rows = []
    for (tp, tn, fp, fn), delta, alpha, call in CASES:
        counts = AttackCounts(tp=tp, fn=fn, tn=tn, fp=fp)
        ar = pe.AttackResults(FN=fn, FP=fp, TN=tn, TP=tp)
        if call == "lo":
            qs = [alpha]
            ours_fn = lambda: (epsilon_posterior(counts, delta).lower_bound(1 - alpha),)  # noqa: E731, B023
            peer_fn = lambda: (pe.compute_eps_lo(count=ar, delta=delta, alpha=alpha, method="joint-beta"),)  # noqa: E731, B023
        else:
            qs = [alpha / 2, 1 - alpha / 2]
            ours_fn = lambda: epsilon_posterior(counts, delta).interval(1 - alpha)  # noqa: E731, B023
            peer_fn = lambda: pe.compute_eps_lo_hi(count=ar, delta=delta, alpha=alpha, method="joint-beta")  # noqa: E731, B023
        ours = ours_fn()
        t_ours = median_time(ours_fn, repeats=11, warmup=1)
        t0 = time.perf_counter()
        try:
            peer, err = peer_fn(), None
        except Exception as exc:  # noqa: BLE001 - the peer's failure is a result
            peer, err = None, f"{type(exc).__name__}: {exc}"
        t_peer = time.perf_counter() - t0
        mc, mc_se = _mc_quantiles(tp, tn, fp, fn, delta, qs)
        row = {"counts (TP,TN,FP,FN)": f"{tp},{tn},{fp},{fn}", "delta": delta, "alpha": alpha,
               "call": "eps_lo" if call == "lo" else "eps_lo_hi",
               "probinf": [round(float(v), 4) for v in ours], "probinf_ms": t_ours * 1e3,
               "peer": None if peer is None else [round(float(v), 4) for v in peer], "peer_s": t_peer,
               "peer_error": err, "speedup": (t_peer / t_ours) if peer is not None else None,
               "monte_carlo": [round(float(v), 4) for v in mc], "mc_se": [round(s, 4) for s in mc_se],
               "max_diff_probinf_vs_peer": None if peer is None else float(np.max(np.abs(np.subtract(ours, peer)))),
               "max_diff_probinf_vs_mc": float(np.max(np.abs(np.subtract(ours, mc)))),
               "max_diff_peer_vs_mc": None if peer is None else float(np.max(np.abs(np.subtract(peer, mc))))}
        rows.append(row)
        print(row, flush=True)
        _write(rows, t_vec)  # partial results survive an interrupted run (the peer takes minutes per case)

    _write(rows, t_vec)


if __name__ == "__main__":
    main()
