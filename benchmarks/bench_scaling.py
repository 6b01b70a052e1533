"""Scale-out measurements: sharded SMC on forced host CPU devices, and LLM fleet throughput on loopback.

``--part devices``: for D in (1, 2, 4) forced host devices (one fresh process each),
the sharded bootstrap filter (linear-Gaussian, global interaction, resampling every
step) and one sharded exact resampling, median wall time after a compile; plus the
compiled per-device memory of one filter run at n and 2n particles per device
(``memory_analysis``), i.e. the bytes per particle.  Forced CPU devices share the
same cores: this measures the code path and the collectives' overhead, not speed-up.

``--part fleet``: 1, 2 and 3 llama.cpp servers (SmolLM2-135M GGUF, one thread, one
slot each) on 127.0.0.1, and one greedy batch of requests through
``OpenAICompatibleBackend`` with all replicas; generated tokens per second.

Writes ``results/scaling_devices.{json,md}`` / ``results/fleet_throughput.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._util import write_results

ROOT = Path(__file__).resolve().parents[1]

_DEVICE_CODE = r"""
import json, os, statistics, sys, time
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=%(d)d"
os.environ["JAX_PLATFORMS"] = "cpu"
import jax, jax.numpy as jnp
from probinf.distributed import particle_mesh, sharded_particle_filter, sharded_resample_particles
from probinf.distributed.filtering import _pf_sharded
from probinf.kalman import LinearGaussian
mesh = particle_mesh()
lg = LinearGaussian.ar1(rho=0.9, sigma_x=1.0, sigma_y=0.5)
T, N = %(t)d, %(n)d
_, y = lg.simulate(jax.random.PRNGKey(0), T)
ssm = lg.to_ssm()
def med(f, r=3):
    jax.block_until_ready(f(0))
    ts = []
    for i in range(r):
        t0 = time.perf_counter(); jax.block_until_ready(f(i + 1)); ts.append(time.perf_counter() - t0)
    return statistics.median(ts)
pf = lambda s: sharded_particle_filter(s, ssm, y, N, mesh, ess_threshold=1.0).log_evidence
lw = jax.random.normal(jax.random.PRNGKey(1), (N,))
x = jnp.zeros((N, 4))
rs = lambda s: sharded_resample_particles(s, x, lw, mesh)[0]
mem = {}
for per in (N // %(d)d, 2 * N // %(d)d):
    c = _pf_sharded.lower(jax.random.PRNGKey(0), y, None, model=ssm, proposal=None, mesh=mesh, n=per,
                          resampling="systematic", thr=1.0, interaction="global", exchange_every=None).compile()
    m = c.memory_analysis()
    mem[per] = (m.temp_size_in_bytes + m.output_size_in_bytes) if m is not None else float("nan")
per = N // %(d)d
print(json.dumps(dict(D=%(d)d, N=N, T=T, pf_s=med(pf), resample_s=med(rs, 5),
                      bytes_per_particle=(mem[2 * per] - mem[per]) / per)))
"""


def devices(t_len: int, n: int):
    rows = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for d in (1, 2, 4):
        out = subprocess.run([sys.executable, "-c", _DEVICE_CODE % dict(d=d, t=t_len, n=n)], capture_output=True,
                             text=True, env=env, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    lines = [
        f"# Sharded SMC on forced host CPU devices (N = {n}, T = {t_len}, resampling every step)", "",
        "**Code path, not speed:** the D forced devices share the same CPU cores (2 shared cores here), so the",
        "times show the overhead of the collectives and the dense exchange, not a speed-up.", "",
        "| D | filter s | per step ms | one exact resampling ms | compiled bytes / particle / device |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['D']} | {r['pf_s']:.3f} | {1e3 * r['pf_s'] / r['T']:.2f} | {1e3 * r['resample_s']:.2f} | "
                     f"{r['bytes_per_particle']:.0f} |")
    write_results("scaling_devices", rows, "\n".join(lines) + "\n")
    print("\n".join(lines))


def fleet(num_prompts: int, max_tokens: int):
    sys.path.insert(0, str(ROOT / "tests" / "llm_bridge"))
    from test_backends_fleet import CHAT, start_llama_servers, stop  # the test's server launcher

    from llm_bridge.backends import OpenAICompatibleBackend
    from tests.llm_bridge.conftest import smollm_gguf_path

    procs, urls = start_llama_servers(smollm_gguf_path(), 3)
    rows = []
    try:
        prompts = [CHAT + f"{i} " for i in range(num_prompts)]
        for k in (1, 2, 3):
            with OpenAICompatibleBackend(urls[:k] if k > 1 else urls[0], server="llama.cpp", timeout=300,
                                         max_concurrency=1, logprobs=False) as be:
                be.generate(prompts[:k], max_tokens=4, temperature=0.0)  # warm every replica
                t0 = time.perf_counter()
                out = be.generate(prompts, max_tokens=max_tokens, temperature=0.0, seed=0)
                dt = time.perf_counter() - t0
            toks = sum(g.num_tokens for row in out for g in row)
            rows.append(dict(replicas=k, requests=num_prompts, tokens=toks, seconds=dt, tokens_per_s=toks / dt))
    finally:
        stop(procs)
    base = rows[0]["tokens_per_s"]
    lines = [
        f"# LLM fleet throughput on loopback ({num_prompts} greedy requests, max_tokens={max_tokens})", "",
        "llama.cpp servers (llama-cpp-python, SmolLM2-135M-Instruct GGUF, `--n_threads 1`, one slot each) on",
        "127.0.0.1; `OpenAICompatibleBackend` with 1-3 replica URLs, `max_concurrency=1` per replica.",
        f"**Machine: {os.cpu_count()} CPU cores shared with other jobs**: three one-thread servers compete for those",
        "cores, so this shows the client spreading load, not what separate machines would give.", "",
        "| replicas | tokens | seconds | tokens/s | vs 1 replica |", "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['replicas']} | {r['tokens']} | {r['seconds']:.2f} | {r['tokens_per_s']:.1f} | "
                     f"{r['tokens_per_s'] / base:.2f}x |")
    write_results("fleet_throughput", rows, "\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("devices", "fleet"), required=True)
    ap.add_argument("--num-particles", type=int, default=2**16)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--num-prompts", type=int, default=12)
    ap.add_argument("--max-tokens", type=int, default=24)
    a = ap.parse_args(argv)
    if a.part == "devices":
        devices(a.steps, a.num_particles)
    else:
        fleet(a.num_prompts, a.max_tokens)


if __name__ == "__main__":
    main()
