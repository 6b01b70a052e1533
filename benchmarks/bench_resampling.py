"""Ancestors from exact cumulative counts: scatter-add vs forward fill vs binary search, one run.

Systematic resampling of N float32 log-weights (``N(0, 4)``, so many particles get
no child) at N = 1e5, 1e6, 1e7 (``--sizes`` to change), all variants jitted and timed in
the same process on the same device (median of 5 after a warm-up, compile excluded):

- ``probinf resample()``: the public call (host-side validation included);
- ``auto``: :func:`probinf.kernels.resampling.ancestors_from_cumcounts` as shipped (scatter-add on CPU,
  fill elsewhere), so ``auto`` vs ``scatter_add`` on CPU is the before/after of the GPU change;
- ``scatter_add`` / ``fill``: :func:`probinf.kernels.resampling.ancestors_from_cumcounts` forced;
- ``searchsorted``: ``jnp.searchsorted(cum, arange(N), side="right")`` (a vectorized binary search);
- ``offspring counts only``: the split prefix sums without the ancestors (a lower bound).

Every variant must return exactly the ancestors of the scatter-add form (checked).
Writes ``benchmarks/results/resampling_ancestors.{json,md}`` (or under ``$OUT``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._util import machine, median_time


def _cumcounts(lw, u):
    from probinf.kernels.resampling import compensated_cumsum
    from probinf.resampling import scaled_weights

    n = lw.shape[0]
    v, last_valid = scaled_weights(lw, n)
    whole, frac = compensated_cumsum(v, total_bound=n + 1)
    return jnp.minimum(whole + (frac > u).astype(whole.dtype), n), last_valid


def variants():
    from probinf import resample
    from probinf.kernels.resampling import ancestors_from_cumcounts

    def forced(method):
        def f(key, lw):
            u = jax.random.uniform(key, (), lw.dtype)
            cum, lv = _cumcounts(lw, u)
            return ancestors_from_cumcounts(cum, lw.shape[0], lv, method=method)
        return jax.jit(f)

    def searchsorted(key, lw):
        u = jax.random.uniform(key, (), lw.dtype)
        cum, lv = _cumcounts(lw, u)
        n = lw.shape[0]
        slots = jnp.arange(n, dtype=cum.dtype)
        return jnp.minimum(jnp.searchsorted(cum, slots, side="right"), lv).astype(jnp.int32)

    def counts_only(key, lw):
        u = jax.random.uniform(key, (), lw.dtype)
        return _cumcounts(lw, u)[0]

    return {
        "probinf resample() (public, validates on host)": lambda key, lw: resample(key, lw),
        "auto (as shipped, jitted)": forced("auto"),
        "scatter_add": forced("scatter_add"),
        "fill": forced("fill"),
        "searchsorted": jax.jit(searchsorted),
        "offspring counts only": jax.jit(counts_only),
    }


def run(sizes, repeats=5):
    rows = []
    for n in sizes:
        lw = jax.random.normal(jax.random.PRNGKey(0), (n,), jnp.float32) * 2.0
        key = jax.random.PRNGKey(1)
        ref = None
        for name, fn in variants().items():
            t = median_time(lambda: jax.block_until_ready(fn(key, lw)), repeats=repeats)  # noqa: B023 - called within this iteration
            out = np.asarray(fn(key, lw))
            row = {"N": n, "impl": name, "seconds": t, "device": str(jax.devices()[0])}
            if name == "scatter_add":
                ref = out
            if out.shape == (n,) and name != "offspring counts only":
                if ref is None:
                    ref = np.asarray(variants()["scatter_add"](key, lw))
                row["identical_to_scatter_add"] = bool(np.array_equal(out, ref))
            rows.append(row)
            print(row, flush=True)
        w = np.exp(np.asarray(lw, np.float64) - float(np.max(lw)))
        err = float(np.max(np.abs(np.bincount(ref, minlength=n) - n * w / w.sum())))
        rows.append({"N": n, "impl": "check", "max_abs_count_error_vs_Nw": err})
    return rows


def markdown(rows, info):
    md = [f"## Resampling ancestors ({info['date']}, {rows[0]['device'] if rows else ''}, {info['cpus']} CPUs)", "",
          "| N | impl | seconds | identical to scatter-add |", "|---|---|---|---|"]
    for r in rows:
        if r["impl"] == "check":
            md.append(f"| {r['N']:.0e} | max abs count error vs N·w | {r['max_abs_count_error_vs_Nw']:.4f} | |")
            continue
        md.append(f"| {r['N']:.0e} | {r['impl']} | {r['seconds']:.4g} | {r.get('identical_to_scatter_add', '')} |")
    return "\n".join(md) + "\n"


def main(argv=None):
    import json

    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1e5,1e6,1e7")
    args = ap.parse_args(argv)
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    rows = run(sizes)
    info = machine()
    text = markdown(rows, info)
    dest = Path(os.environ.get("OUT") or Path(__file__).resolve().parent / "results")
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "resampling_ancestors.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=2))
    (dest / "resampling_ancestors.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
