"""GPU figures for the kernels (run on a lent GPU machine; ``--smoke`` runs tiny sizes on CPU).

Sections (``--only`` to pick): resampling at N = 1e7, 1e8 (every ancestor form, torch float64
cumsum + searchsorted, a byte copy), token_logprobs (every JAX and torch path vs the naive
log_softmax + gather), conformal-Bayes (XLA vs Pallas vs the naive broadcast) and the mixture
(Pallas vs XLA vs naive); then ``auto_check``: what ``backend="auto"`` picks at each size and
whether it was the fastest.  Writes ``$OUT/gpu_kernels.{json,md}`` (or under
``benchmarks/results``; ``gpu_kernels_smoke.*`` for ``--smoke`` or without a GPU).  Run from the
repository root with ``PYTHONPATH=$PWD`` (``benchmarks/gpu/run_gpu.sh`` does).
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
        row["t_pallas"] = timeit(lambda: pal(x, lw, mu, sc))  # noqa: B023 - called within this iteration
        row["t_xla_chunked"] = timeit(lambda: cpu_path(x, lw, mu, sc))  # noqa: B023 - called within this iteration
        if ref_small:
            refj = jax.jit(_reference)
            row["t_naive"] = timeit(lambda: refj(x, lw, mu, sc))  # noqa: B023 - called within this iteration
        # Per (p, i, k): D * (sub, mul, mul, add) + add + sub + exp + add; per (p, i): log, add.
        flops = P * n * (K * (4 * D + 4) + 2)
        row["gflops_pallas"] = flops / row["t_pallas"] / 1e9
        row["fraction_of_fp32_peak_67tflops"] = row["gflops_pallas"] * 1e9 / 67e12
        out.append(row)
        print("mixture", row, flush=True)
    return out


def resampling(smoke):
    """Systematic resampling: every ancestor form vs a torch float64 cumsum + searchsorted and a byte copy.

    All in one process on one device; each form must return exactly the scatter-add ancestors.
    """
    from benchmarks.bench_resampling import variants

    out = []
    for N in ([10**4] if smoke else [10**7, 10**8]):
        lw = jax.random.normal(jax.random.PRNGKey(0), (N,), jnp.float32) * 2.0
        key = jax.random.PRNGKey(1)
        w = np.asarray(lw, np.float64)
        w = np.exp(w - w.max())
        w /= w.sum()
        row = {"N": N}
        ref = None
        for name, fn in variants().items():
            row[f"t_{name}"] = timeit(lambda: fn(key, lw), repeats=3)  # noqa: B023 - called within this iteration
            res = np.asarray(fn(key, lw))
            if name == "scatter_add":
                ref = res
            if name != "offspring counts only":
                row[f"counts_error_{name}"] = float(np.max(np.abs(np.bincount(res, minlength=N) - N * w)))
        for name, fn in variants().items():
            if name != "offspring counts only":
                row[f"identical_{name}"] = bool(np.array_equal(np.asarray(fn(key, lw)), ref))
        # Byte copy of the N int32 ancestors (device bandwidth floor).
        anc = jnp.asarray(ref)
        copy = jax.jit(lambda a: a + 0)
        row["t_copy_int32_jax"] = timeit(lambda: copy(anc), repeats=5)  # noqa: B023 - called within this iteration
        row.update(_torch_resampling_baseline(w, N))
        out.append(row)
        print("resample", row, flush=True)
    return out


def _torch_resampling_baseline(w, N):
    """torch float64 cumsum + searchsorted (systematic, same u = 0.5), and a clone of N int32."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return {"torch": "not installed"}
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    wt = torch.as_tensor(w, dtype=torch.float64, device=dev)
    pts = (torch.arange(N, dtype=torch.float64, device=dev) + 0.5) / N

    def run():
        c = torch.cumsum(wt, 0)
        return torch.clamp(torch.searchsorted(c, pts, right=True), max=N - 1)

    def tsync(fn, repeats=5):
        fn()
        ts = []
        for _ in range(repeats):
            if dev == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if dev == "cuda":
                torch.cuda.synchronize()
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts))

    idx = run()
    a32 = idx.to(torch.int32)
    return {"torch_device": dev, "t_torch_float64_cumsum_searchsorted": tsync(run),
            "t_torch_copy_int32": tsync(lambda: a32.clone()),
            "counts_error_torch_float64": float(np.max(np.abs(
                np.bincount(idx.cpu().numpy(), minlength=N) - N * w)))}


def token_logprobs_paths(smoke, interpret):
    """token_logprobs: every JAX and torch path vs the naive log_softmax + gather, and what auto picks."""
    from probinf.kernels import token_logprobs

    out = []
    sizes = [(2, 16, 500)] if smoke else [(8, 2048, 32000), (2, 1024, 152064)]
    for B, L, V in sizes:
        rng = np.random.default_rng(0)
        z32 = rng.normal(size=(B, L, V)).astype(np.float32) * 3
        ids_np = rng.integers(0, V, size=(B, L))
        z = jnp.asarray(z32, jnp.bfloat16)
        ids = jnp.asarray(ids_np, jnp.int32)
        row = {"B": B, "L": L, "V": V, "dtype": "bfloat16"}
        naive = jax.jit(lambda a, b: jnp.take_along_axis(jax.nn.log_softmax(a.astype(jnp.float32), -1),
                                                         b[..., None], -1)[..., 0])
        want = np.asarray(naive(z, ids))
        row["t_jax_naive_log_softmax_gather"] = timeit(lambda: naive(z, ids))  # noqa: B023 - called within this iteration
        for backend in ("auto", "reference", "cpu", "pallas"):
            kw = {"interpret": interpret} if backend == "pallas" else {}
            fn = lambda b=backend, k=kw: token_logprobs(z, ids, backend=b, **k)  # noqa: E731, B023
            row[f"t_jax_{backend}"] = timeit(fn, repeats=3)
            row[f"max_abs_err_jax_{backend}"] = float(np.max(np.abs(np.asarray(fn()) - want)))
        try:
            import torch
        except ImportError:  # pragma: no cover
            out.append(row)
            continue
        dev = "cuda" if torch.cuda.is_available() else "cpu"
        zt = torch.as_tensor(z32, device=dev).to(torch.bfloat16)
        it = torch.as_tensor(ids_np, device=dev)

        def tsync(fn, repeats=3):
            fn()
            ts = []
            for _ in range(repeats):
                if dev == "cuda":  # noqa: B023 - called within this iteration
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                fn()
                if dev == "cuda":  # noqa: B023 - called within this iteration
                    torch.cuda.synchronize()
                ts.append(time.perf_counter() - t0)
            return float(np.median(ts))

        tnaive = lambda: torch.log_softmax(zt.float(), -1).gather(-1, it[..., None])[..., 0]  # noqa: E731, B023
        row["torch_device"] = dev
        row["t_torch_naive_log_softmax_gather"] = tsync(tnaive)
        for backend in ("auto", "reference", "cpu", "chunked"):
            fn = lambda b=backend: token_logprobs(zt, it, backend=b)  # noqa: E731, B023
            row[f"t_torch_{backend}"] = tsync(fn)
            row[f"max_abs_err_torch_{backend}"] = float((fn() - tnaive()).abs().max())
        out.append(row)
        print("token_logprobs", row, flush=True)
    return out


def _naive_conformal(lt, lg):
    """The obvious formulation: materialize (T, G, n) add-one-in log-weights and log-sum-exp them."""
    lw = lg[:, :, None]  # (T, G, 1): add-one-in weight of draw t for grid value g
    lse = jax.scipy.special.logsumexp(lw, axis=0)  # (G, 1)
    train = jax.scipy.special.logsumexp(lw + lt[:, None, :], axis=0) - lse  # (G, n)
    test = jax.scipy.special.logsumexp(2 * lg, axis=0) - lse[:, 0]  # (G,)
    return jnp.mean(train <= test[:, None], axis=1)


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
        row["t_auto_public"] = timeit(lambda: conformal_bayes_scores(lt, lg, return_train_scores=False), repeats=3)  # noqa: B023 - called within this iteration
        if T * n * G <= 2.5e9:  # the naive (T, G, n) tensor in float32 fits in memory
            naive = jax.jit(_naive_conformal)
            row["t_naive_jax_broadcast"] = timeit(lambda: naive(lt, lg), repeats=3)  # noqa: B023 - called within this iteration
        for train in (True, False):
            tag = "with_train" if train else "no_train"
            row[f"t_pallas_{tag}"] = timeit(
                lambda: _pallas(lt, lg, lw0, return_train=train, interpret=interpret), repeats=3)  # noqa: B023 - called within this iteration
            row[f"t_xla_{tag}"] = timeit(lambda: _fast(lt, lg, lw0, chunk, train), repeats=3)  # noqa: B023 - called within this iteration
        # Train scores dominate: per (t, g, i) one add, max, sub, exp, add (online log-sum-exp).
        row["gexp_per_s_pallas_no_train"] = T * n * G / row["t_pallas_no_train"] / 1e9
        out.append(row)
        print("conformal_bayes", row, flush=True)
    return out


def _auto_check(res):
    """What backend='auto' picks at each measured size and whether that was the fastest measured path."""
    from probinf.kernels._backend_table import choose_backend

    platform = "gpu" if any(d.platform == "gpu" for d in jax.devices()) else "cpu"
    rows = []
    for r in res.get("conformal_bayes", []):
        times = {"cpu": r["t_xla_no_train"], "pallas": r["t_pallas_no_train"]}
        pick = choose_backend("conformal_bayes", platform, r["T"] * r["n"] * r["G"])
        rows.append({"kernel": "conformal_bayes", "size": [r["T"], r["n"], r["G"]], "auto": pick,
                     "fastest": min(times, key=times.get), "times": times})
    for r in res.get("token_logprobs", []):
        times = {b: r[f"t_jax_{b}"] for b in ("reference", "cpu", "pallas")}
        work = r["B"] * r["L"] * r["V"]
        pick = choose_backend("token_logprobs", platform, work, temp_bytes=4.0 * work)
        rows.append({"kernel": "token_logprobs (jax)", "size": [r["B"], r["L"], r["V"]], "auto": pick,
                     "fastest": min(times, key=times.get), "times": times})
    for r in res.get("mixture", []):
        times = {"cpu": r["t_xla_chunked"], "pallas": r["t_pallas"]}
        pick = choose_backend("mixture", platform, r["P"] * r["n"] * r["K"] * r["D"])
        rows.append({"kernel": "mixture", "size": [r["P"], r["n"], r["K"], r["D"]], "auto": pick,
                     "fastest": min(times, key=times.get), "times": times})
    return rows


def _markdown(res):
    lines = [f"# GPU kernel figures ({res['devices']}, JAX {res['jax']}, {res['date']})", ""]
    for section in ("resampling", "token_logprobs", "conformal_bayes", "mixture", "auto_check"):
        rows = res.get(section) or []
        if not rows:
            continue
        keys = list(dict.fromkeys(k for r in rows for k in r))
        lines += [f"## {section}", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
        lines += ["| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |" for r in rows]
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny sizes; Pallas interpreted when there is no GPU")
    ap.add_argument("--only", default="resampling,token_logprobs,conformal_bayes,mixture")
    args = ap.parse_args(argv)
    on_gpu = any(d.platform == "gpu" for d in jax.devices())
    res = {"devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "smoke": bool(args.smoke)}
    dest = Path(os.environ.get("OUT") or Path(__file__).resolve().parents[1] / "results")
    dest.mkdir(parents=True, exist_ok=True)
    stem = "gpu_kernels" if on_gpu and not args.smoke else "gpu_kernels_smoke"
    sections = {
        "resampling": lambda: resampling(args.smoke),
        "token_logprobs": lambda: token_logprobs_paths(args.smoke, interpret=not on_gpu),
        "conformal_bayes": lambda: conformal_bayes(args.smoke, interpret=not on_gpu),
        "mixture": lambda: mixture(args.smoke, interpret=not on_gpu),
    }
    for name in args.only.split(","):
        try:
            res[name] = sections[name]()
        except Exception as exc:  # record and go on: one failing section must not lose the others
            res[name + "_error"] = repr(exc)
            print(name, "failed:", repr(exc), flush=True)
        # Written after each section so a run cut short still leaves its figures.
        (dest / f"{stem}.json").write_text(json.dumps(res, indent=2))
    res["auto_check"] = _auto_check(res)
    (dest / f"{stem}.json").write_text(json.dumps(res, indent=2))
    (dest / f"{stem}.md").write_text(_markdown(res))
    print(_markdown(res))
    return res


if __name__ == "__main__":
    main()
