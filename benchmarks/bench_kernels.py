"""Kernels vs the naive formulation (and pykeops for the log-sum-exp reduction).

Mixture log-likelihood: P particles x n points x K components (D = 1), per-particle
totals.  Implementations: the naive broadcast in JAX (jitted ``backend="reference"``),
probinf's chunked ``backend="cpu"``, and pykeops' LazyTensor ``logsumexp``
(CPU, compiled once; its compile time is excluded).  Wall time (median of 3 after a
warm-up) and peak extra RSS of a fresh process.

Large-N resampling: probinf's float32-exact systematic resampling vs the naive
float32 ``cumsum`` + ``searchsorted``: time and the largest offspring-count error
relative to the float64 expectation ``N w_i`` (exact schemes stay below 1).
"""

from __future__ import annotations

import numpy as np

from benchmarks._util import median_time, peak_rss_mb, write_results

MIX_SIZES = [(100, 1_000, 5), (1_000, 10_000, 5), (2_000, 50_000, 5)]

_SETUP = """
import numpy as np, jax, jax.numpy as jnp
from probinf.kernels.mixture import mixture_loglik, _reference
P, n, K = {P}, {n}, {K}
rng = np.random.default_rng(0)
x = jnp.asarray(rng.normal(size=(n, 1)), jnp.float32)
lw = jax.nn.log_softmax(jnp.asarray(rng.normal(size=(P, K)), jnp.float32))
mu = jnp.asarray(rng.normal(size=(P, K, 1)), jnp.float32)
sc = jnp.asarray(np.exp(0.3 * rng.normal(size=(P, K, 1))), jnp.float32)
"""

_RUN = {
    "naive-jax": "jax.jit(_reference)(x, lw, mu, sc).block_until_ready()",
    "probinf-cpu": "mixture_loglik(x, lw, mu, sc, backend='cpu').block_until_ready()",
    "pykeops": """
import torch
from pykeops.torch import LazyTensor
X = LazyTensor(torch.as_tensor(np.asarray(x))[None, :, None, :].expand(P, n, 1, 1).contiguous())
M = LazyTensor(torch.as_tensor(np.asarray(mu))[:, None, :, :])
S = LazyTensor(torch.as_tensor(np.asarray(1 / sc**2))[:, None, :, :])
C = LazyTensor(torch.as_tensor(np.asarray(lw - jnp.log(sc).sum(-1) - 0.5 * np.log(2 * np.pi)))[:, None, :, None])
out = (C - 0.5 * ((X - M) ** 2 * S).sum(-1)).logsumexp(dim=2)[..., 0].sum(1)
""",
}


def _mixture_rows():

    rows = []
    for P, n, K in MIX_SIZES:
        ns = {}
        exec(_SETUP.format(P=P, n=n, K=K), ns)
        ref = np.asarray(ns["mixture_loglik"](ns["x"], ns["lw"], ns["mu"], ns["sc"], backend="cpu"))
        for impl, code in _RUN.items():
            if impl == "naive-jax" and P * n * K > 6e8:
                continue
            try:
                t = median_time(lambda: exec(code, ns))  # noqa: B023 - called within this iteration
                mem = peak_rss_mb(_SETUP.format(P=P, n=n, K=K) + "\n#--workload--\n" + code)
            except Exception as exc:  # pykeops missing or failing: record, go on
                rows.append({"kernel": "mixture", "impl": impl, "P": P, "n": n, "K": K, "error": repr(exc)})
                continue
            err = None
            if impl == "pykeops":
                err = float(np.max(np.abs(ns["out"].numpy() - ref) / np.abs(ref)))
            rows.append({"kernel": "mixture", "impl": impl, "P": P, "n": n, "K": K,
                         "seconds": t, "peak_extra_mib": mem, "max_rel_diff_vs_probinf": err})
    return rows


def _resampling_rows():
    import jax
    import jax.numpy as jnp

    from probinf import resample

    rows = []
    for N in (10**5, 10**6, 10**7):
        lw = jax.random.normal(jax.random.PRNGKey(0), (N,), jnp.float32) * 2.0
        w64 = np.exp(np.asarray(lw, np.float64) - np.max(np.asarray(lw, np.float64)))
        w64 /= w64.sum()
        key = jax.random.PRNGKey(1)
        t = median_time(lambda: resample(key, lw).block_until_ready())  # noqa: B023 - called within this iteration
        counts = np.bincount(np.asarray(resample(key, lw)), minlength=N)
        rows.append({"kernel": "resample-systematic", "impl": "probinf (split sums)", "N": N, "seconds": t,
                     "max_abs_count_error": float(np.max(np.abs(counts - N * w64)))})

        w32 = np.asarray(jax.nn.softmax(lw))
        u = np.float32(0.5)

        def naive():
            c = np.cumsum(w32, dtype=np.float32) * np.float32(N)  # noqa: B023 - called within this iteration
            return np.minimum(np.searchsorted(c, (np.arange(N, dtype=np.float32) + u), side="right"), N - 1)  # noqa: B023 - called within this iteration

        t = median_time(naive)
        counts = np.bincount(naive(), minlength=N)
        rows.append({"kernel": "resample-systematic", "impl": "naive float32 cumsum", "N": N, "seconds": t,
                     "max_abs_count_error": float(np.max(np.abs(counts - N * w64)))})
    return rows


def main():
    rows = _mixture_rows() + _resampling_rows()
    md = ["## kernels", "", "| kernel | impl | size | seconds | peak extra MiB | note |", "|---|---|---|---|---|---|"]
    for r in rows:
        size = f"P={r['P']} n={r['n']} K={r['K']}" if "P" in r else f"N={r['N']:.0e}"
        note = r.get("error") or (f"max count err {r['max_abs_count_error']:.3g}" if "max_abs_count_error" in r
                                  else (f"rel diff {r['max_rel_diff_vs_probinf']:.1e}"
                                        if r.get("max_rel_diff_vs_probinf") is not None else ""))
        md.append(f"| {r['kernel']} | {r['impl']} | {size} | {r.get('seconds', float('nan')):.4g} | "
                  f"{r.get('peak_extra_mib', float('nan')):.4g} | {note} |")
    text = "\n".join(md) + "\n"
    write_results("kernels", rows, text)
    print(text)


if __name__ == "__main__":
    main()
