"""PMMH benchmark: probinf.pmmh vs particles' PMMH on stochastic volatility.

Model: particles' ``StochVol`` (mu, rho, sigma) with its tutorial prior
mu ~ N(0, 2^2), rho ~ U(-1, 1), sigma ~ Gamma(1, 1); T = 200 simulated points
(Pitt & Shephard parameters), bootstrap filter with Nx = 200 particles,
adaptive random-walk MH.  Reports wall time (probinf compile excluded), time per
iteration per chain, bulk ESS per second (ArviZ) and posterior means.

Usage: ``python -m benchmarks.bench_pmmh [--niter 1000]``.
Writes ``benchmarks/results/pmmh.{json,md}``.
"""

from __future__ import annotations

import argparse
import time

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import gamma, norm

from benchmarks._util import write_results
from probinf import pmmh, stochastic_volatility

SV = dict(mu=-1.02, rho=0.9702, sigma=0.178)
T = 200
NX = 200


def simulate(seed=0):
    rng = np.random.default_rng(seed)
    x = np.empty(T)
    x[0] = SV["mu"] + SV["sigma"] / np.sqrt(1 - SV["rho"] ** 2) * rng.normal()
    for t in range(1, T):
        x[t] = SV["mu"] + SV["rho"] * (x[t - 1] - SV["mu"]) + SV["sigma"] * rng.normal()
    return rng.normal(size=T) * np.exp(0.5 * x)


def log_prior(th):
    ok = (jnp.abs(th[1]) < 1) & (th[2] > 0)
    lp = norm.logpdf(th[0], 0.0, 2.0) + gamma.logpdf(jnp.where(th[2] > 0, th[2], 1.0), 1.0)
    return jnp.where(ok, lp - jnp.log(2.0), -jnp.inf)


def run_particles(y, niter):
    # particles 0.3's PMMH calls the alias np.float, removed in NumPy 2: restore it for the
    # peer only (the alias is the builtin float, so behaviour is unchanged).
    if not hasattr(np, "float"):
        np.float = float
    import particles
    import particles.distributions as dists
    import particles.state_space_models as ssms
    from particles import mcmc

    class Prior(dists.StructDist):
        # NumPy 2 refuses to store a (1,) array into a scalar slot, which particles 0.3
        # does with the prior log-density of a single theta: return a scalar there.
        def logpdf(self, theta):
            out = np.asarray(super().logpdf(theta))
            return out[0] if out.shape == (1,) else out

    prior = Prior({"mu": dists.Normal(scale=2.0), "rho": dists.Uniform(a=-1.0, b=1.0), "sigma": dists.Gamma()})
    np.random.seed(0)
    alg = mcmc.PMMH(ssm_cls=ssms.StochVol, prior=prior, data=y, Nx=NX, niter=niter,
                    theta0=np.array([(SV["mu"], SV["rho"], SV["sigma"])],
                                    dtype=[("mu", float), ("rho", float), ("sigma", float)]))
    t0 = time.perf_counter()
    alg.run()
    dt = time.perf_counter() - t0
    ch = np.stack([alg.chain.theta[k] for k in ("mu", "rho", "sigma")], -1)[niter // 2:]
    return dt, ch[None], float(np.mean(alg.acc_rate)) if hasattr(alg, "acc_rate") else np.nan, particles


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--niter", type=int, default=1000)
    args = ap.parse_args(argv)
    y = simulate()
    niter = args.niter
    rows = []
    model = stochastic_volatility()
    for chains in (1, 4):
        kw = dict(num_particles=NX, num_chains=chains, num_warmup=niter // 2, step_size=jnp.array([0.2, 0.02, 0.05]),
                  param_names=["mu", "rho", "sigma"])
        theta0 = jnp.array([SV["mu"], SV["rho"], SV["sigma"]])
        t0 = time.perf_counter()
        pmmh(jax.random.PRNGKey(0), model, jnp.asarray(y, jnp.float32), log_prior, theta0, niter - niter // 2, **kw)
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = pmmh(jax.random.PRNGKey(1), model, jnp.asarray(y, jnp.float32), log_prior, theta0,
                   niter - niter // 2, **kw)
        dt = time.perf_counter() - t0
        ess = az.ess(res.to_arviz())
        rows.append(dict(library="probinf", chains=chains, niter=niter, Nx=NX, T=T, wall_s=dt, compile_s=compile_s - dt,
                         s_per_iter_per_chain=dt / (niter * chains),
                         acceptance=float(res.acceptance_rate.mean()),
                         ess_rho_per_s=float(ess["rho"]) / dt, ess_sigma_per_s=float(ess["sigma"]) / dt,
                         mean_mu=float(res.samples[..., 0].mean()), mean_rho=float(res.samples[..., 1].mean()),
                         mean_sigma=float(res.samples[..., 2].mean())))
        print(rows[-1], flush=True)
    dt, ch, acc, _ = run_particles(y, niter)
    ess = az.ess(az.from_dict(posterior={"mu": ch[..., 0], "rho": ch[..., 1], "sigma": ch[..., 2]}))
    rows.append(dict(library="particles", chains=1, niter=niter, Nx=NX, T=T, wall_s=dt, compile_s=0.0,
                     s_per_iter_per_chain=dt / niter, acceptance=acc,
                     ess_rho_per_s=float(ess["rho"]) / dt, ess_sigma_per_s=float(ess["sigma"]) / dt,
                     mean_mu=float(ch[..., 0].mean()), mean_rho=float(ch[..., 1].mean()),
                     mean_sigma=float(ch[..., 2].mean())))
    print(rows[-1], flush=True)
    pk = rows[-1]
    lines = [f"# PMMH benchmark: stochastic volatility (T = {T}, Nx = {NX}, {niter} iterations, half warm-up)", "",
             "| library | chains | wall s | s / iter / chain | speed-up per chain-iteration vs particles | acceptance "
             "| ESS(rho)/s | ESS(sigma)/s | mean mu | mean rho | mean sigma |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['library']} | {r['chains']} | {r['wall_s']:.2f} | {r['s_per_iter_per_chain'] * 1e3:.2f} ms "
                     "| "
                     f"{pk['s_per_iter_per_chain'] / r['s_per_iter_per_chain']:.1f}x | {r['acceptance']:.2f} | "
                     f"{r['ess_rho_per_s']:.1f} | {r['ess_sigma_per_s']:.1f} | {r['mean_mu']:.3f} | "
                     f"{r['mean_rho']:.3f} | "
                     f"{r['mean_sigma']:.3f} |")
    write_results("pmmh", rows, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
