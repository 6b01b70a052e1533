"""GPU figures for the kernels (run on a lent GPU machine; ``--smoke`` runs tiny sizes on CPU).

Writes ``$OUT/gpu_kernels.json`` (or ``benchmarks/results/gpu_kernels.json``): device,
correctness of each GPU path against the reference, wall time, achieved FLOP/s or
bandwidth against the device's peak.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402


def timeit(fn, repeats=5):
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def mixture(smoke, interpret):
    from probinf.kernels.mixture import _reference, mixture_loglik

    out = []
    sizes = [(8, 300, 3, 2)] if smoke else [(64, 1000, 4, 2), (1024, 65536, 8, 2), (4096, 65536, 8, 2)]
    for P, n, K, D in sizes:
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.normal(size=(n, D)), jnp.float32)
        lw = jax.nn.log_softmax(jnp.asarray(rng.normal(size=(P, K)), jnp.float32))
        mu = jnp.asarray(rng.normal(size=(P, K, D)), jnp.float32)
        sc = jnp.asarray(np.exp(0.3 * rng.normal(size=(P, K, D))), jnp.float32)
        row = {"P": P, "n": n, "K": K, "D": D}
        cpu_path = jax.jit(lambda *a: mixture_loglik(*a, backend="cpu", chunk_size=1024))
        pal = jax.jit(lambda *a: mixture_loglik(*a, backend="pallas", interpret=interpret))
        ref_small = P * n * K * D <= 3e9
        r = np.asarray(cpu_path(x, lw, mu, sc))
        p = np.asarray(pal(x, lw, mu, sc))
        row["pallas_max_rel_err_vs_xla_chunked"] = float(np.max(np.abs(p - r) / np.abs(r)))
        row["t_pallas"] = timeit(lambda: pal(x, lw, mu, sc))
        row["t_xla_chunked"] = timeit(lambda: cpu_path(x, lw, mu, sc))
        if ref_small:
            refj = jax.jit(_reference)
            row["t_naive"] = timeit(lambda: refj(x, lw, mu, sc))
        # Per (p, i, k): D * (sub, mul, mul, add) + add + sub + exp + add; per (p, i): log, add.
        flops = P * n * (K * (4 * D + 4) + 2)
        row["gflops_pallas"] = flops / row["t_pallas"] / 1e9
        row["fraction_of_fp32_peak_67tflops"] = row["gflops_pallas"] * 1e9 / 67e12
        out.append(row)
        print("mixture", row, flush=True)
    return out


def resampling(smoke):
    from probinf import resample

    out = []
    for N in ([10**5] if smoke else [10**6, 10**7, 10**8]):
        lw = jax.random.normal(jax.random.PRNGKey(0), (N,), jnp.float32) * 2.0
        key = jax.random.PRNGKey(1)
        t = timeit(lambda: resample(key, lw), repeats=3)
        idx = np.asarray(resample(key, lw))
        w = np.asarray(lw, np.float64)
        w = np.exp(w - w.max())
        w /= w.sum()
        err = float(np.max(np.abs(np.bincount(idx, minlength=N) - N * w)))
        # Bytes touched at least once: read N weights, write N indices (4 B each).
        row = {"N": N, "seconds": t, "max_abs_count_error": err, "GB_per_s_min_traffic": 8 * N / t / 1e9}
        out.append(row)
        print("resample", row, flush=True)
    return out


def conformal_bayes(smoke, interpret):
    """Pallas conformal-Bayes scores vs the fused XLA ("cpu") path on the same device.

    Both are timed through their jitted cores on device arrays (no host transfer), once
    with the (G, n) train scores written and once without (what ``ConformalBayes`` uses).
    """
    from probinf.kernels.conformal_bayes import _fast, _pallas, conformal_bayes_scores, default_chunk_size

    out = []
    sizes = [(64, 50, 20)] if smoke else [(1000, 1000, 200), (4000, 5000, 500), (10000, 2000, 1000)]
    for T, n, G in sizes:
        rng = np.random.default_rng(0)
        lt_np = rng.normal(-2, 3, size=(T, n))
        lg_np = rng.normal(-2, 3, size=(T, G))
        lt, lg = jnp.asarray(lt_np, jnp.float32), jnp.asarray(lg_np, jnp.float32)
        lw0 = jnp.zeros((T,), jnp.float32)
        chunk = default_chunk_size(T, n, G)  # the public default
        row = {"T": T, "n": n, "G": G}
        pal = conformal_bayes_scores(lt_np, lg_np, backend="pallas", interpret=interpret)
        xla = conformal_bayes_scores(lt_np, lg_np, backend="cpu")
        row["pallas_max_abs_err_log_train_vs_xla"] = float(np.max(np.abs(pal.log_scores_train - xla.log_scores_train)))
        row["pallas_max_abs_err_log_test_vs_xla"] = float(np.max(np.abs(pal.log_score_test - xla.log_score_test)))
        row["pallas_max_rel_err_ess_vs_xla"] = float(np.max(np.abs(pal.ess / xla.ess - 1)))
        row["pallas_pvalue_max_abs_diff_vs_xla"] = float(np.max(np.abs(pal.pvalues - xla.pvalues)))
        if T * n * G <= 5e7:
            ref = conformal_bayes_scores(lt_np, lg_np, backend="reference")
            row["pallas_max_abs_err_log_train_vs_float64_ref"] = float(
                np.max(np.abs(pal.log_scores_train - ref.log_scores_train)))
            t0 = time.perf_counter()
            conformal_bayes_scores(lt_np, lg_np, backend="reference", return_train_scores=False)
            row["t_reference_numpy"] = time.perf_counter() - t0
        for train in (True, False):
            tag = "with_train" if train else "no_train"
            row[f"t_pallas_{tag}"] = timeit(
                lambda: _pallas(lt, lg, lw0, return_train=train, interpret=interpret), repeats=3)
            row[f"t_xla_{tag}"] = timeit(lambda: _fast(lt, lg, lw0, chunk, train), repeats=3)
        # Train scores dominate: per (t, g, i) one add, max, sub, exp, add (online log-sum-exp).
        row["gexp_per_s_pallas_no_train"] = T * n * G / row["t_pallas_no_train"] / 1e9
        out.append(row)
        print("conformal_bayes", row, flush=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    on_gpu = any(d.platform == "gpu" for d in jax.devices())
    res = {"devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    dest = Path(os.environ.get("OUT", Path(__file__).resolve().parents[1] / "results"))
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / ("gpu_kernels.json" if on_gpu else "gpu_kernels_smoke.json")
    # Written after each section so a run cut short still leaves its figures.
    res["resampling"] = resampling(args.smoke)
    path.write_text(json.dumps(res, indent=2))
    res["mixture"] = mixture(args.smoke, interpret=not on_gpu)
    path.write_text(json.dumps(res, indent=2))
    res["conformal_bayes"] = conformal_bayes(args.smoke, interpret=not on_gpu)
    path.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
