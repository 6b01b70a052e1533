r"""PMMH and particle Gibbs sections of the ``smc-samplers`` reproduction.

- PMMH posterior of :math:`\rho` in the AR(1)-in-noise model against an
  exact-likelihood (Kalman) random-walk MH and the exact grid posterior, for
  two particle numbers: the pseudo-marginal chain targets the same posterior,
  only its mixing (acceptance, ESS) depends on N.
- Particle Gibbs (CSMC with ancestor sampling, N = 10) smoothing means and 95%
  bands against the Kalman (RTS) smoother.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.scipy.stats import norm
from scipy import stats

from probinf._compat import enable_x64
from probinf.kalman import LinearGaussian, kalman_filter
from probinf.pmcmc import particle_gibbs, pmmh
from probinf.progress import progress
from probinf.ssm import StateSpaceModel
from probinf_cli.runner import ReproResult

__all__ = ["pmmh_section"]

SIGMA_Y = 0.5


def _ar1_model():
    return StateSpaceModel(
        initial_sampler=lambda k, n, th: jax.random.normal(k, (n,)) / jnp.sqrt(1 - th[0] ** 2),
        transition_sampler=lambda k, x, t, th: th[0] * x + jax.random.normal(k, x.shape),
        observation_log_density=lambda y, x, t, th: norm.logpdf(y, x, SIGMA_Y),
        transition_log_density=lambda x, xp, t, th: norm.logpdf(x, th[0] * xp, 1.0),
        initial_log_density=lambda x, th: norm.logpdf(x, 0.0, 1.0 / jnp.sqrt(1 - th[0] ** 2)),
    )


def _log_prior(th):
    return jnp.where(jnp.abs(th[0]) < 1.0, 0.0, -jnp.inf)


def _kalman_ll(y, rho):
    return kalman_filter(y, rho, 1.0, 1.0, SIGMA_Y**2, 0.0, 1.0 / (1 - rho**2)).log_likelihood


def _exact_mh(key, y, num_iters, num_chains, step):
    """Random-walk MH on rho with the exact Kalman likelihood (the reference chain)."""
    ll = jax.vmap(lambda r: _kalman_ll(y, r))

    def target(r):
        return jnp.where(jnp.abs(r) < 1, ll(jnp.clip(r, -0.999, 0.999)), -jnp.inf)

    @jax.jit
    def run(key):
        def step_fn(carry, k):
            r, lt = carry
            k1, k2 = jax.random.split(k)
            prop = r + step * jax.random.normal(k1, r.shape)
            lt_new = target(prop)
            acc = jnp.log(jax.random.uniform(k2, r.shape)) < lt_new - lt
            r = jnp.where(acc, prop, r)
            return (r, jnp.where(acc, lt_new, lt)), (r, acc)

        r0 = jnp.full((num_chains,), 0.5)
        _, (rs, acc) = jax.lax.scan(step_fn, (r0, target(r0)), jax.random.split(key, num_iters))
        return rs, acc

    rs, acc = run(key)
    return np.asarray(rs).T, np.asarray(acc).T


def pmmh_section(out_dir: Path, *, quick: bool = True, seed: int = 0) -> ReproResult:
    """PMMH vs exact-likelihood MH, and particle Gibbs smoothing vs the Kalman smoother."""
    import arviz as az
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_len = 40 if quick else 100
    lg = LinearGaussian.ar1(0.9, 1.0, SIGMA_Y)
    _, y = lg.simulate(jax.random.PRNGKey(seed + 11), t_len)
    draws = 1000 if quick else 5000
    warm = draws // 2
    grid = np.linspace(-0.999, 0.999, 4001)
    with enable_x64(True):
        lls = np.asarray(jax.jit(jax.vmap(lambda r: _kalman_ll(np.asarray(y, np.float64), r)))(jnp.asarray(grid)))
    w = np.exp(lls - lls.max())
    w /= w.sum() * (grid[1] - grid[0])
    exact_mean = np.sum(w * grid) * (grid[1] - grid[0])
    exact_sd = np.sqrt(np.sum(w * (grid - exact_mean) ** 2) * (grid[1] - grid[0]))

    rows, samples = [], {}
    rs, acc = _exact_mh(jax.random.PRNGKey(seed), y, warm + 4 * draws, 4, 0.1)
    rs, acc = rs[:, warm:], acc[:, warm:]
    samples["exact-likelihood MH"] = rs
    idata = az.from_dict(posterior={"rho": rs})
    rows.append(dict(sampler="exact-likelihood MH (Kalman)", N=np.nan, mean=rs.mean(), sd=rs.std(),
                     acceptance=acc.mean(), ess_bulk=float(az.ess(idata)["rho"]), rhat=float(az.rhat(idata)["rho"])))
    for n in progress([25, 100] if quick else [25, 100, 400], desc="smc-samplers: PMMH"):
        res = pmmh(jax.random.PRNGKey(seed + n), _ar1_model(), y, _log_prior, jnp.array([0.5]), draws,
                   num_particles=n, num_chains=4, num_warmup=warm, step_size=0.1, param_names=["rho"])
        idata = res.to_arviz()
        s = res.samples[..., 0]
        samples[f"PMMH N={n}"] = s
        rows.append(dict(sampler="PMMH", N=n, mean=s.mean(), sd=s.std(), acceptance=res.acceptance_rate.mean(),
                         ess_bulk=float(az.ess(idata)["rho"]), rhat=float(az.rhat(idata)["rho"])))
    rows.append(dict(sampler="exact grid posterior", N=np.nan, mean=exact_mean, sd=exact_sd, acceptance=np.nan,
                     ess_bulk=np.nan, rhat=np.nan))
    table = pd.DataFrame(rows)

    # Particle Gibbs smoothing at the true rho vs the Kalman smoother.
    sm = lg.kalman_smoother(y)
    pg = particle_gibbs(jax.random.PRNGKey(seed + 1), lg.to_ssm(), y, 400 if quick else 2000, num_particles=10,
                        num_chains=4, num_warmup=50)
    pid = pg.to_arviz()
    x = np.asarray(pid["posterior"]["x"]).reshape(-1, t_len)
    mcse = np.asarray(az.mcse(pid, var_names=["x"])["x"])
    km, ksd = np.asarray(sm.smoothed_means[:, 0]), np.sqrt(np.asarray(sm.smoothed_covs[:, 0, 0]))
    z = np.abs(x.mean(0) - km) / mcse
    pg_table = pd.DataFrame(dict(t=np.arange(t_len), kalman_mean=km, pg_mean=x.mean(0), mcse=mcse, z=z,
                                 kalman_sd=ksd, pg_sd=x.std(0)))

    fig, axes = plt.subplots(1, 2, figsize=(13, 4))
    for name, s in samples.items():
        axes[0].hist(s.ravel(), bins=60, density=True, histtype="step", lw=1.5, label=name)
    axes[0].plot(grid, w, "k--", lw=1, label="exact posterior (Kalman grid)")
    axes[0].set(xlim=(max(-1.0, exact_mean - 5 * exact_sd), min(1.0, exact_mean + 5 * exact_sd)), xlabel="rho",
                ylabel="density",
                title=f"PMMH vs exact-likelihood MH (T = {t_len})")
    axes[0].legend(fontsize=8)
    tt = np.arange(t_len)
    axes[1].fill_between(tt, km - 1.96 * ksd, km + 1.96 * ksd, color="C0", alpha=0.2, label="Kalman smoother 95%")
    axes[1].plot(tt, km, "C0", label="Kalman smoother mean")
    lo, hi = np.percentile(x, [2.5, 97.5], axis=0)
    axes[1].plot(tt, x.mean(0), "C3.", label="particle Gibbs mean (N = 10)")
    axes[1].plot(tt, lo, "C3:", lw=1)
    axes[1].plot(tt, hi, "C3:", lw=1, label="particle Gibbs 95%")
    axes[1].plot(tt, np.asarray(y), "kx", ms=4, label="observations")
    axes[1].set(xlabel="t", title="particle Gibbs (CSMC-AS) smoothing vs Kalman")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / "pmmh_pg_vs_exact.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    bonferroni = float(stats.norm.ppf(1 - 1e-3 / (2 * t_len)))
    summary = (
        f"PMMH on rho (AR(1) in noise, T = {t_len}) agrees with exact-likelihood MH and the exact grid posterior "
        f"(mean {exact_mean:.4f}, sd {exact_sd:.4f}); acceptance and ESS grow with N, the posterior does not move. "
        f"Particle Gibbs with ancestor sampling (N = 10 particles) reproduces the Kalman smoother: "
        f"max |z| over t = {z.max():.2f} (Bonferroni 1e-3 bound {bonferroni:.2f})."
    )
    return ReproResult(title="Particle MCMC vs exact answers", summary=summary, figures=[path],
                       tables={"pmmh_vs_exact": table, "pg_smoothing_vs_kalman": pg_table})
