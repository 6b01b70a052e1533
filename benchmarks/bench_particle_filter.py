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
from probinf.kernels import resampling_cpu

T = 1000
SV = dict(mu=-1.02, rho=0.9702, sigma=0.178)


NOTES = """
## 2026-12-05: the reweighting kernel, and equal resources

- The reweighting and its weight summaries (log-evidence increment, normalized log-weights, the
  weights for the filtering means, the ESS) are one C++ XLA-FFI call (`probinf/kernels/reweight_cpu.cc`,
  three vectorized passes instead of about eight XLA passes, several of them split over the cores).
  Same definition as `probinf.reweight` to float32 rounding (tested against it, and the public filter
  with and without the kernel agrees when no resampling can amplify rounding).
- SV at N = 1e4, seven runs of this script on both cores the same hour (medians of 9 each; the last
  is the table of `particle_filter.md`): right after the peers 4.55x-4.74x, back-to-back 7.07x-7.22x
  in five runs, while two runs stayed in a slow state (back-to-back 4.21x, no gain from the second
  core).  With the whole process pinned to one core (`--cores 1`: probinf, its XLA threads and
  `particles` on the same single CPU, the equal-resources comparison, since `particles` is
  single-threaded): 5.30x-5.33x over three runs, no difference between the two columns, and LG
  4.24x-4.32x (the last is `particle_filter_1core.md`).

## 2026-12-05: 512-bit vectors, and the call right after other work

- probinf's filter and tempered SMC now compile with `xla_cpu_prefer_vector_width=512` (a per-jit compiler
  option, `probinf/_xla_cpu.py`; XLA asks LLVM for 256-bit vectors by default, also on AVX-512 CPUs).  On this
  AMD EPYC box (AVX-512, 32-bit rotates native) a SV step at N = 1e4 went from 68-72 to 57-59 us (median of
  11 interleaved repeats, same process) with bit-identical log-evidence; `PROBINF_XLA_CPU_VECTOR_WIDTH=256`
  restores XLA's default code.  The reweighting's validity flag is now the logsumexp's finiteness alone (it
  covers NaN and +inf), two passes fewer.
- **A call right after other work is slower**: XLA splits each large elementwise fusion over both cores,
  and after the process has been idle or busy in NumPy for a few hundred ms the first filter call pays
  thread wake-ups at every split fusion for most of its run.  Measured at N = 1e4 (SV, medians of 9):
  right after `particles` + NumPy 66 ms, the same call repeated at once 52 ms; after `time.sleep(0.3)`
  66 vs 56 ms; pinned to one core (`taskset -c 0`) 56-59 ms with no difference between the two.  XLA
  offers no per-compilation switch for this intra-op split (it follows the number of schedulable CPUs),
  so both figures are reported: the probinf column (each call right after the peers, as before) and the
  back-to-back column (the same call repeated at once, as in a loop over seeds or in particle MCMC).
- Tried and not adopted: XLA's own reductions instead of YNNPACK's (`xla_cpu_experimental_ynn_fusion_type`
  empty: 74-80 us, slower); an optimization barrier between the threefry bits and `erf_inv` (no gain);
  threefry bits in the C++ kernel (8.3 us for 1e4 bits, the same as XLA's unrolled loop at 512 bits).

## Run-to-run spread on the shared box, and what limits SV (2026-12-04)

The ratio at N = 1e4 moves a lot between runs here, because other jobs share the 2 cores: three earlier full
runs of this script on 2026-12-04 gave LG 4.05x / 3.12x / 4.79x and SV 7.92x / 3.77x / 3.61x (load average
6.0 / 2.9 / 2.8).  Ten interleaved repeats at load ~3 gave SV probinf 0.079 to 0.168 s (bimodal: a run
either gets a core or is preempted) against particles 0.38 to 0.66 s (median ratio 5.9x, min-to-min 4.9x),
and LG median 5.0x.  Single-threaded XLA (`--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`)
gave the same ratios.  `particles` gains more than probinf when the box is quiet (SV 1e4: 0.30 s at load 2.5,
0.71 s at load 6), so the SV aim (>= 5x) is met only on loaded runs; the LG aim (>= 3x) held in every run.

What limits SV: at load ~2.5 a SV step costs 61 us (min) and 13 us of that is everything but the model's
`jax.random.normal` draw of N = 1e4 noises (measured by swapping in a deterministic transition): threefry
bits ~35 us (20 rounds x 4 vector ops, rotates emulated on AVX2) and the inverse-erf transform ~13 us.
Tried and not adopted: hashing both threefry output words per counter (JAX's non-partitionable layout,
bit-identical to it) took the step from 71 to 60 us but would change every draw relative to JAX's default
configuration; Philox (`philox4x32`, `philox2x32`) was slower (64, 62 us vs 53 us for the normal alone);
`threefry4x32` was faster (39 us) but again different draws.  NumPy's ziggurat normal is cheaper than any
of these, which is most of the remaining gap.

## What was tried (profile first; per-step figures are minima over 6 interleaved repeats, N = 1e4, T = 1000)

2-core shared box (load average 5 to 8 from other jobs), JAX 0.10.2 CPU, 2026-12-04.  Each row adds one
change to the filter (`probinf.filtering`); `particles` timed in the same loop.

| change | LG us/step | SV us/step |
|---|---|---|
| before | 580 | 134 |
| + ESS carried from the reweighting, per-step keys and uniforms drawn in one batch | 561 | 120 |
| + systematic resampling as one CPU kernel (`probinf/kernels/resampling_cpu.cc`, XLA FFI) | 158 | 107 |
| + the model's move keys as straight-line threefry (`probinf/filtering_prng.py`) | 102 | 78 |
| particles 0.3alpha | 747 | 577 |

Findings, in the order they mattered:

- **Resampling was the wall, and within it XLA's CPU prefix sums.** Exact systematic resampling needs two
  prefix sums (weights, then slot marks) plus a dozen small passes; XLA lowers `cumsum` to a tree of window
  reductions (30 to 50 us each at N = 1e4 here, against a few us for a sequential loop), and the blocked
  matmul prefix sum is no faster at this size.  `jnp.searchsorted` is worse (`scan`: 14 gathers; `sort` and
  `compare_all`: far worse).  The kernel does it in one sequential double-precision pass and a branch-free
  merge with the sorted points u + k.  A first version that filled each particle's slots in a loop lost
  most of the gain to branch mispredictions (offspring counts are random): 241 -> 140 us/step once the merge
  became "mark the first slot, running maximum".
- **The RNG was the next wall.** JAX lowers threefry on a CPU as a rolled `while` loop; a straight-line
  implementation of the same function (a `jax.extend.random` PRNG implementation) gives bit-identical draws
  (tested for every sampler) and takes the SV step from 107 to 78 us.  Drawing the per-step split keys and
  the systematic uniform for all T steps in one batched call (same values) removed two more rolled loops a step.
- Carrying the ESS computed with the weighted means (one `exp` pass) instead of recomputing it before the
  resampling decision saved a little; the `lax.cond` on ESS < N/2 already skipped non-resampling steps
  (SV resamples at 8% of steps, LG at 99.9%).
- Not the wall: the public wrapper's checks (< 1 ms a call), float32 vs float64 sums (the kernel sums in
  double anyway), XLA's intra-op threads (same ratios single-threaded); scan unrolling was not tried after
  the above (the non-RNG part of a SV step is 13 us).
- Exactness: the kernel's prefix sums are accurate to ~N 2^-53 relative, so counts stay within
  floor/ceil(N w_i); it is tested against the definition in exact rationals (tiny N), against the pure-JAX
  path at 1e4 (disagreements only at that path's near-ties), and through the public filter's exact
  enumeration (tests/probinf/test_filter_enumeration.py).  Without a C++ compiler (or with
  `PROBINF_CPU_KERNELS=0`) the filter keeps the pure-JAX path.
"""


def _load():
    import os

    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


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


def _bench_row(name, n, model, y, y32, ref, args):
    """One (model, N) row: probinf, particles and NumPy timed in turn within every repeat (interleaved)."""
    row = {"model": {"lg": "linear Gauss", "sv": "stoch. vol."}[name], "N": n, "T": T, "reference": ref}
    t0 = time.perf_counter()
    particle_filter(jax.random.PRNGKey(0), model, y32, n).log_evidence.block_until_ready()
    row["probinf_compile_s"] = time.perf_counter() - t0  # the first call compiles; excluded below
    libs = {"probinf": lambda r: float(particle_filter(jax.random.PRNGKey(r + 1), model, y32, n).log_evidence)}
    if not args.no_peers:
        np.random.seed(0)  # particles draws from NumPy's global generator
        libs["particles"] = lambda r: particles_filter(y, n, name)
        libs["numpy"] = lambda r: numpy_filter(y, n, name, np.random.default_rng(r))
    times = {lib: [] for lib in libs}
    errs = {lib: [] for lib in libs}
    back_to_back = []
    for r in range(args.repeats + 1):  # repeat 0 is a warm-up for every library (numba, caches)
        for lib, fn in libs.items():
            t0 = time.perf_counter()
            ll = fn(r)
            times[lib].append(time.perf_counter() - t0)
            errs[lib].append(ll - ref)
            if lib == "probinf":  # the same call again at once: XLA's worker threads are awake (see NOTES)
                t0 = time.perf_counter()
                fn(r)
                back_to_back.append(time.perf_counter() - t0)
    for lib in ("probinf", "particles", "numpy"):
        if lib in libs:
            row.update({f"{lib}_s": statistics.median(times[lib][1:]), f"{lib}_err_mean": float(np.mean(errs[lib])),
                        f"{lib}_err_sd": float(np.std(errs[lib]))})
        else:
            row.update({f"{lib}_s": np.nan, f"{lib}_err_mean": np.nan, f"{lib}_err_sd": np.nan})
    for lib in ("particles", "numpy"):
        row[f"speedup_vs_{lib}"] = row[f"{lib}_s"] / row["probinf_s"]
    row["probinf_back_to_back_s"] = statistics.median(back_to_back[1:])
    row["speedup_back_to_back_vs_particles"] = row["particles_s"] / row["probinf_back_to_back_s"]
    return row


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--sizes", type=str, default=None, help="comma-separated N list")
    ap.add_argument("--no-peers", action="store_true", help="time probinf only (e.g. on a GPU)")
    ap.add_argument("--name", type=str, default="particle_filter")
    ap.add_argument("--out", type=str, default=None, help="results directory (default benchmarks/results)")
    ap.add_argument("--cores", type=int, default=None,
                    help="pin the whole process (probinf, its XLA threads and the peers) to this many CPUs")
    args = ap.parse_args(argv)
    if args.cores:  # before JAX starts its thread pools, which inherit the affinity
        import os

        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])
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
            rows.append(_bench_row(name, n, models[name], data[name], y32, ref[name], args))
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)
    try:
        import particles as _p
    except ImportError:
        _p = None

    lines = [
        f"# Particle filter benchmark (T = {T}, bootstrap, systematic resampling at ESS < N/2)",
        "",
        f"probinf (JAX {jax.__version__}, float32, jit compile excluded) vs particles "
        f"{getattr(_p, '__version__', '?')} "
        "vs a vectorized NumPy filter, same machine, same run, the three timed in turn within every repeat. Median of "
        f"{args.repeats} runs after a warm-up; log-evidence error mean ± sd over {args.repeats + 1} runs. "
        f"Load average at the start: {_load()}. "
        + (f"Whole process pinned to {args.cores} CPU(s)." if args.cores else "All CPUs of the machine available."),
        "",
        "The probinf column times each call right after the peers ran (as a one-off call in a script would run);",
        "the back-to-back column repeats that call at once (as in a loop over seeds or inside particle MCMC).",
        "",
        "| model | N | probinf s | probinf back-to-back s | particles s | numpy s | speed-up vs particles | "
        "back-to-back vs particles | vs numpy | err probinf | err particles | err numpy | probinf compile s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['N']:.0e} | {r['probinf_s']:.3f} | {r['probinf_back_to_back_s']:.3f} | "
            f"{r['particles_s']:.3f} | {r['numpy_s']:.3f} | "
            f"{r['speedup_vs_particles']:.2f}x | {r['speedup_back_to_back_vs_particles']:.2f}x | "
            f"{r['speedup_vs_numpy']:.2f}x | "
            f"{r['probinf_err_mean']:+.2f} ± {r['probinf_err_sd']:.2f} | {r['particles_err_mean']:+.2f} ± "
            f"{r['particles_err_sd']:.2f} | "
            f"{r['numpy_err_mean']:+.2f} ± {r['numpy_err_sd']:.2f} | {r['probinf_compile_s']:.1f} |"
        )
    extra = {"quick": args.quick, "jax_backend": jax.default_backend(), "cores": args.cores,
             "devices": [str(d) for d in jax.devices()]}
    if args.out:
        from pathlib import Path

        import benchmarks._util as util

        util.RESULTS = Path(args.out)
    lines.insert(1, f"\nJAX backend: {jax.default_backend()} ({jax.devices()[0]}); CPU resampling kernel: "
                    f"{'built' if resampling_cpu.available() else resampling_cpu.build_error()}.")
    lines.append(NOTES)
    extra["cpu_kernel"] = resampling_cpu.available()
    write_results(args.name, rows, "\n".join(lines) + "\n", extra)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
