"""Sharded vs plain particle filter on the lent GPU machine's device(s): the single-device figures that
``docs/scaling.md`` scales from.

Linear-Gaussian AR(1) bootstrap filter, T = 50, resampling every step (ESS threshold 1), systematic;
median of 3 timed runs after a compile.  ``plain`` is ``particle_filter`` without a mesh, ``mesh`` the same
call with ``mesh=particle_mesh()`` over every local device.  Writes ``$OUT/scaling_gpu.json``.

Usage (repository root): ``PYTHONPATH=$PWD python3 benchmarks/gpu/scaling_gpu.py [--smoke]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (CPU check of the script)")
    a = ap.parse_args(argv)
    import jax

    from probinf import LinearGaussian, particle_filter
    from probinf.distributed import particle_mesh

    lg = LinearGaussian.ar1(rho=0.9, sigma_x=1.0, sigma_y=0.5)
    t_len = 50
    _, y = lg.simulate(jax.random.PRNGKey(0), t_len)
    ssm = lg.to_ssm()
    exact = float(lg.kalman_filter(y).log_likelihood)
    mesh = particle_mesh()
    sizes = (2**10, 2**12) if a.smoke else (2**20, 2**24)
    rows = []
    for n in sizes:
        for kind, kw in (("plain", {}), ("mesh", {"mesh": mesh})):
            def run(seed: int, n: int = n, kw: dict = kw) -> float:
                res = particle_filter(seed, ssm, y, n, ess_threshold=1.0, **kw)
                return float(jax.block_until_ready(res.log_evidence))

            err = run(0) - exact
            ts = []
            for i in range(3):
                t0 = time.perf_counter()
                run(i + 1)
                ts.append(time.perf_counter() - t0)
            rows.append({"N": n, "kind": kind, "seconds": statistics.median(ts),
                         "ms_per_step": 1e3 * statistics.median(ts) / t_len, "log_z_error": err})
            print(json.dumps(rows[-1]), flush=True)
    rec = {"devices": [str(d) for d in jax.devices()], "jax": jax.__version__, "T": t_len,
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows}
    out = Path(os.environ.get("OUT", "benchmarks/results"))
    out.mkdir(parents=True, exist_ok=True)
    (out / ("scaling_gpu_smoke.json" if a.smoke else "scaling_gpu.json")).write_text(json.dumps(rec, indent=2) + "\n")


if __name__ == "__main__":
    main()
