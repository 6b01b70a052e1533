r"""Reproduction ``smc-validity``: the particle filter's evidence is unbiased and exact where it can be.

1. Log-evidence error and variance vs N for the bootstrap and the guided
   (locally optimal) filters on the linear-Gaussian AR(1) of Chopin &
   Papaspiliopoulos (rho = 0.9, sigma_x = 1, sigma_y = 0.2), against the Kalman
   filter; with the mean of :math:`\hat Z / Z` and its standard error.
2. Exact enumeration (N = 2 and 3 particles, every proposal and resampling
   outcome) of the filter on a two-state HMM, for every resampling scheme, with
   always / ESS-triggered resampling, bootstrap and guided: :math:`E[\hat Z] = Z`
   and the collapsed filter equals the exact posterior to rounding.
3. float32 resampling at large N: worst drift of cumulative offspring counts from
   the cumulative mass, probinf's split prefix sums vs a plain float32 cumsum.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from probinf._compat import enable_x64
from probinf.kalman import LinearGaussian
from probinf.progress import progress
from probinf.resampling import RESAMPLING_FROM_UNIFORMS, resample
from probinf.validate import check_evidence_unbiased, enumerate_particle_filter, pf_replicates
from probinf_cli.runner import ReproResult

__all__ = ["run"]


def _evidence_vs_n(seed: int, quick: bool):
    t_len = 100
    lg = LinearGaussian.ar1(0.9, 1.0, 0.2)
    _, y = lg.simulate(jax.random.PRNGKey(seed), t_len)
    with enable_x64(True):
        exact = float(LinearGaussian.ar1(0.9, 1.0, 0.2).kalman_filter(np.asarray(y, np.float64)).log_likelihood)
    ssm = lg.to_ssm()
    sizes = [32, 100, 316, 1000] if quick else [32, 100, 316, 1000, 3162, 10000]
    reps = 100 if quick else 400
    rows = []
    jobs = [(f, n) for f in ("bootstrap", "guided") for n in sizes]
    for f, n in progress(jobs, desc="smc-validity: evidence vs N"):
        prop = ssm.proposal if f == "guided" else None
        lz, _, valid = pf_replicates(jax.random.PRNGKey(seed + n), ssm, y, n, reps, proposal=prop)
        err = lz - exact
        chk = check_evidence_unbiased(lz, exact)
        rows.append(dict(filter=f, N=n, T=t_len, runs=reps, log_Z_exact=exact,
                         mean_log_error=err.mean(), sd_log_Z=err.std(ddof=1), var_log_Z=err.var(ddof=1),
                         mean_Z_ratio=float(chk.estimate), se_Z_ratio=float(chk.standard_error), z=chk.z,
                         unbiased_at_1e4=chk.passed, all_valid=bool(valid.all())))
    return pd.DataFrame(rows)


def _enumeration_table():
    p0 = [0.3, 0.7]
    P = [[0.9, 0.1], [0.2, 0.8]]
    ll = np.log([[0.8, 0.3], [0.1, 0.7], [0.5, 0.9]])
    guided = ([0.5, 0.5], [[0.6, 0.4], [0.5, 0.5]])
    rows = []
    jobs = [(m, thr, prop, n) for m in sorted(RESAMPLING_FROM_UNIFORMS) for thr in (1.0, 0.5)
            for prop in ("bootstrap", "guided") for n in (2, 3)]
    for m, thr, prop, n in progress(jobs, desc="smc-validity: enumeration"):
        t_len = 3 if n == 2 else 2
        r = enumerate_particle_filter(p0, P, ll[:t_len], n, method=m, ess_threshold=thr,
                                      proposal=guided if prop == "guided" else None)
        rows.append(dict(resampling=m, ess_threshold=thr, proposal=prop, N=n, T=t_len,
                         outcomes=r.num_branches, max_rel_error_E_Zhat=r.max_evidence_rel_error,
                         max_abs_error_filtering=r.max_filtering_error,
                         total_probability=float(r.total_probability[-1])))
    return pd.DataFrame(rows)


def _float32_table(quick: bool):
    rows = []
    for n in ([10**5, 10**6] if quick else [10**5, 10**6, 10**7]):
        lw = jax.random.normal(jax.random.PRNGKey(0), (n,), dtype=jnp.float32)
        counts = np.bincount(np.asarray(resample(jax.random.PRNGKey(1), lw)), minlength=n)
        w = np.exp(np.asarray(lw, np.float64) - float(np.max(lw)))
        mass = np.cumsum(n * w / w.sum())
        c32 = np.cumsum((n * w / w.sum()).astype(np.float32), dtype=np.float32)
        naive = np.searchsorted(c32, np.arange(n, dtype=np.float32) + np.float32(0.5), side="right")
        naive_counts = np.bincount(np.minimum(naive, n - 1), minlength=n)
        rows.append(dict(N=n, probinf_max_drift=np.abs(np.cumsum(counts) - mass).max(),
                         naive_float32_max_drift=np.abs(np.cumsum(naive_counts) - mass).max(),
                         probinf_counts_sum=int(counts.sum())))
    return pd.DataFrame(rows)


def _figure(df: pd.DataFrame, out_dir: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for f, g in df.groupby("filter"):
        axes[0].errorbar(g.N, g.mean_log_error, yerr=g.sd_log_Z / np.sqrt(g.runs), marker="o", label=f, capsize=3)
        axes[1].loglog(g.N, g.var_log_Z, marker="o", label=f)
        axes[2].errorbar(g.N, g.mean_Z_ratio, yerr=2 * g.se_Z_ratio, marker="o", label=f, capsize=3)
    axes[0].axhline(0, color="k", lw=0.8)
    axes[0].set(xscale="log", xlabel="N particles", ylabel="mean of log Z_hat - log Z", title="log-evidence error")
    n = np.array(sorted(df.N.unique()), float)
    ref = df[df["filter"] == "bootstrap"].var_log_Z.iloc[0] * n[0] / n
    axes[1].loglog(n, ref, "k--", lw=0.8, label="1/N")
    axes[1].set(xlabel="N particles", ylabel="Var(log Z_hat)", title="variance")
    axes[2].axhline(1, color="k", lw=0.8)
    axes[2].set(xscale="log", xlabel="N particles", ylabel="mean Z_hat / Z (±2 se)", title="unbiasedness of Z_hat")
    for ax in axes:
        ax.legend()
    fig.suptitle("Particle filter vs Kalman, linear-Gaussian AR(1), T = 100, sigma_y = 0.2")
    fig.tight_layout()
    path = out_dir / "evidence_vs_n.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run(out_dir: Path, *, quick: bool = True, seed: int = 0) -> ReproResult:
    """Run the reproduction; write ``evidence_vs_n.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ev = _evidence_vs_n(seed, quick)
    en = _enumeration_table()
    f32 = _float32_table(quick)
    fig = _figure(ev, out_dir)
    worst_enum = max(en.max_rel_error_E_Zhat.max(), en.max_abs_error_filtering.max())
    summary = (
        f"- Exact enumeration ({len(en)} configurations: 4 resampling schemes x always/ESS-triggered x "
        f"bootstrap/guided x N = 2, 3): worst |E[Z_hat]/Z - 1| or filtering error = {worst_enum:.1e} "
        "(float64 rounding).\n"
        f"- Z_hat / Z unbiased (z-test at 1e-4) in {int(ev.unbiased_at_1e4.sum())}/{len(ev)} (filter, N) cells. "
        "Where it is rejected (bootstrap, small N) Var(log Z_hat) >> 1: Z_hat / Z is so heavy-tailed that its "
        "sample mean over a few hundred runs is dominated by rare huge values and the normal z-test does not "
        "apply (exactness at small N is what the enumeration table shows); log Z_hat is biased low there "
        "(Jensen), as expected.\n"
        f"- Guided vs bootstrap Var(log Z_hat) at N = {int(ev.N.max())}: "
        f"{ev[(ev['filter'] == 'guided') & (ev.N == ev.N.max())].var_log_Z.iloc[0]:.3g} vs "
        f"{ev[(ev['filter'] == 'bootstrap') & (ev.N == ev.N.max())].var_log_Z.iloc[0]:.3g}.\n"
        f"- float32 systematic resampling at N = {int(f32.N.max()):.0e}: cumulative-count drift "
        f"{f32.probinf_max_drift.iloc[-1]:.2f} (probinf) vs {f32.naive_float32_max_drift.iloc[-1]:.1f} "
        "(plain float32 cumsum)."
    )
    return ReproResult(
        title="SMC validity: unbiased evidence, exact enumeration, float32 resampling",
        summary=summary,
        figures=[fig],
        tables={"evidence_vs_n": ev, "exact_enumeration": en, "float32_resampling": f32},
    )
