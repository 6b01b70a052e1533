"""Particle filter benchmark: probinf vs ``particles`` vs a plain vectorized NumPy filter.

Bootstrap filters, systematic resampling when ESS < N/2, T = 1000, on
- linear Gaussian: X_t = 0.9 X_{t-1} + N(0, 1), Y_t = X_t + N(0, 0.2^2) (Kalman reference);
- stochastic volatility (Pitt & Shephard parameters, particles' StochVol; grid-filter reference).
Median wall time over repeats after one warm-up (probinf's jit compile excluded and
reported separately) and the log-evidence error vs the exact value.

Usage: ``python -m benchmarks.bench_particle_filter [--quick]`` (quick: N up to 1e4).
Writes ``benchmarks/results/particle_filter.{json,md}``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._util import write_results
from probinf import LinearGaussian, particle_filter, stochastic_volatility
from probinf._compat import enable_x64

T = 1000
SV = dict(mu=-1.02, rho=0.9702, sigma=0.178)


def simulate_lg(seed=0):
    rng = np.random.default_rng(seed)
    x = np.empty(T)
    x[0] = rng.normal() / np.sqrt(1 - 0.81)
    for t in range(1, T):
        x[t] = 0.9 * x[t - 1] + rng.normal()
    return x + 0.2 * rng.normal(size=T)


def simulate_sv(seed=0):
    rng = np.random.default_rng(seed)
    mu, rho, sig = SV["mu"], SV["rho"], SV["sigma"]
    x = np.empty(T)
    x[0] = mu + sig / np.sqrt(1 - rho**2) * rng.normal()
    for t in range(1, T):
        x[t] = mu + rho * (x[t - 1] - mu) + sig * rng.normal()
    return rng.normal(size=T) * np.exp(0.5 * x)


def grid_loglik_sv(y, num_nodes=1500):
    """Exact-to-quadrature SV log-likelihood: a grid filter (trapezoid nodes)."""
    mu, rho, sig = SV["mu"], SV["rho"], SV["sigma"]
    s0 = sig / np.sqrt(1 - rho**2)
    g = np.linspace(mu - 9 * s0, mu + 9 * s0, num_nodes)
    dx = g[1] - g[0]
    kern = np.exp(-0.5 * ((g[None, :] - mu - rho * (g[:, None] - mu)) / sig) ** 2) / (sig * np.sqrt(2 * np.pi)) * dx
    pred = np.exp(-0.5 * ((g - mu) / s0) ** 2) / (s0 * np.sqrt(2 * np.pi)) * dx
    ll = 0.0
    for t in range(len(y)):
        lik = np.exp(-0.5 * (np.log(2 * np.pi) + g + y[t] ** 2 * np.exp(-g)))
        joint = pred * lik
        z = joint.sum()
        ll += np.log(z)
        pred = (joint / z) @ kern
    return ll


def numpy_filter(y, n, model, rng):
    """Plain vectorized NumPy bootstrap filter (systematic resampling at ESS < N/2)."""
    if model == "lg":
        x = rng.normal(size=n) / np.sqrt(1 - 0.81)
    else:
        mu, rho, sig = SV["mu"], SV["rho"], SV["sigma"]
        x = mu + sig / np.sqrt(1 - rho**2) * rng.normal(size=n)
    lw = np.full(n, -np.log(n))
    ll = 0.0
    for t in range(len(y)):
        if t > 0:
            w = np.exp(lw)
            if 1.0 / np.sum(w * w) < 0.5 * n:
                cs = np.cumsum(w)
                idx = np.searchsorted(cs, (rng.uniform() + np.arange(n)) / n * cs[-1])
                x = x[np.minimum(idx, n - 1)]
                lw = np.full(n, -np.log(n))
            if model == "lg":
                x = 0.9 * x + rng.normal(size=n)
            else:
                x = mu + rho * (x - mu) + sig * rng.normal(size=n)
        if model == "lg":
            g = -0.5 * ((y[t] - x) / 0.2) ** 2 - np.log(0.2 * np.sqrt(2 * np.pi))
        else:
            g = -0.5 * (np.log(2 * np.pi) + x + y[t] ** 2 * np.exp(-x))
        lw = lw + g
        m = lw.max()
        s = np.log(np.sum(np.exp(lw - m))) + m
        ll += s
        lw -= s
    return ll


def particles_filter(y, n, model):
    import particles
    import particles.state_space_models as ssms
    from particles.kalman import LinearGauss

    mod = LinearGauss(sigmaX=1.0, sigmaY=0.2, rho=0.9) if model == "lg" else ssms.StochVol(**SV)
    pf = particles.SMC(fk=ssms.Bootstrap(ssm=mod, data=y), N=n, resampling="systematic", ESSrmin=0.5)
    pf.run()
    return pf.logLt


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", type=str, default=None, help="comma-separated N list")
    ap.add_argument("--no-peers", action="store_true", help="time probinf only (e.g. on a GPU)")
    ap.add_argument("--name", type=str, default="particle_filter")
    ap.add_argument("--out", type=str, default=None, help="results directory (default benchmarks/results)")
    args = ap.parse_args(argv)
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    if args.sizes:
        sizes = [int(float(s)) for s in args.sizes.split(",")]
    lg = LinearGaussian.ar1(0.9, 1.0, 0.2)
    data = {"lg": simulate_lg(), "sv": simulate_sv()}
    with enable_x64(True):
        ref = {"lg": float(LinearGaussian.ar1(0.9, 1.0, 0.2).kalman_filter(data["lg"]).log_likelihood)}
    ref["sv"] = grid_loglik_sv(data["sv"])
    models = {"lg": lg.to_ssm(), "sv": stochastic_volatility(**SV)}
    rows = []
    for name in ("lg", "sv"):
        y32 = jnp.asarray(data[name], jnp.float32)
        for n in sizes:
            row = {"model": {"lg": "linear Gauss", "sv": "stoch. vol."}[name], "N": n, "T": T, "reference": ref[name]}
            # probinf (compile excluded; first call compiles)
            t0 = time.perf_counter()
            particle_filter(jax.random.PRNGKey(0), models[name], y32, n).log_evidence.block_until_ready()
            row["probinf_compile_s"] = time.perf_counter() - t0
            times, lls = [], []
            for r in range(args.repeats + 1):
                t0 = time.perf_counter()
                ll = float(particle_filter(jax.random.PRNGKey(r + 1), models[name], y32, n).log_evidence)
                times.append(time.perf_counter() - t0)
                lls.append(ll - ref[name])
            row.update(probinf_s=statistics.median(times[1:]), probinf_err_mean=np.mean(lls),
                       probinf_err_sd=np.std(lls))
            peers = () if args.no_peers else (
                ("particles", lambda r: particles_filter(data[name], n, name)),  # noqa: B023 - called within this iteration
                ("numpy", lambda r: numpy_filter(data[name], n, name, np.random.default_rng(r))))  # noqa: B023 - called within this iteration
            for lib, fn in peers:
                if lib == "particles":
                    np.random.seed(0)
                times, lls = [], []
                for r in range(args.repeats + 1):
                    t0 = time.perf_counter()
                    ll = fn(r)
                    times.append(time.perf_counter() - t0)
                    lls.append(ll - ref[name])
                row.update({f"{lib}_s": statistics.median(times[1:]), f"{lib}_err_mean": np.mean(lls),
                            f"{lib}_err_sd": np.std(lls)})
            for lib in ("particles", "numpy"):
                if args.no_peers:
                    row.update({f"{lib}_s": np.nan, f"{lib}_err_mean": np.nan, f"{lib}_err_sd": np.nan})
                row[f"speedup_vs_{lib}"] = row[f"{lib}_s"] / row["probinf_s"]
            rows.append(row)
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    try:
        import particles as _p
    except ImportError:
        _p = None

    lines = [
        f"# Particle filter benchmark (T = {T}, bootstrap, systematic resampling at ESS < N/2)",
        "",
        f"probinf (JAX {jax.__version__}, float32, jit compile excluded) vs particles "
        f"{getattr(_p, '__version__', '?')} "
        "vs a vectorized NumPy filter, same machine, same run. Median of "
        f"{args.repeats} runs after a warm-up; log-evidence error mean ± sd over {args.repeats + 1} runs.",
        "",
        "| model | N | probinf s | particles s | numpy s | speed-up vs particles | vs numpy | "
        "err probinf | err particles | err numpy | probinf compile s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['N']:.0e} | {r['probinf_s']:.3f} | {r['particles_s']:.3f} | {r['numpy_s']:.3f} | "
            f"{r['speedup_vs_particles']:.2f}x | {r['speedup_vs_numpy']:.2f}x | "
            f"{r['probinf_err_mean']:+.2f} ± {r['probinf_err_sd']:.2f} | {r['particles_err_mean']:+.2f} ± "
            f"{r['particles_err_sd']:.2f} | "
            f"{r['numpy_err_mean']:+.2f} ± {r['numpy_err_sd']:.2f} | {r['probinf_compile_s']:.1f} |"
        )
    extra = {"quick": args.quick, "jax_backend": jax.default_backend(),
             "devices": [str(d) for d in jax.devices()]}
    if args.out:
        from pathlib import Path

        import benchmarks._util as util

        util.RESULTS = Path(args.out)
    lines.insert(1, f"\nJAX backend: {jax.default_backend()} ({jax.devices()[0]}).")
    write_results(args.name, rows, "\n".join(lines) + "\n", extra)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
