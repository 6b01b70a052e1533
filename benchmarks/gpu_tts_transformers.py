"""GPU figures for llm_bridge: the toy particle filter through TransformersBackend on CUDA, and the
token_logprobs kernel at LLM sizes.  One prepared script for a lent GPU machine (``--smoke`` runs tiny
sizes on CPU to check the script itself).

Measures
--------
1. Raw sampling throughput of :class:`~llm_bridge.backends.TransformersBackend` (generated tokens/s)
   at batch sizes 64 / 256 / 1024 rows, shared prompt (prefix KV reuse) vs. distinct prompts.
2. Particle filtering on the toy task (toy policy + :class:`~llm_bridge.rewards.ToyStepVerifier` with a
   10% false-positive rate) at N = 8, 64, 256 particles over ``--problems`` problems: wall time,
   generated tokens/s, backend / reward / orchestration shares of the wall time, accuracy; and
   best-of-N at the same N for comparison (accuracy, tokens).
3. ``probinf.kernels.token_logprobs`` on CUDA at B x L x V = 8 x 2048 x 32000 (bf16 logits): torch blocked and
   V-chunked paths vs ``log_softmax``+gather (wall time, peak extra memory, achieved read bandwidth), and
   for JAX input the Pallas kernel vs the fused XLA path (compare read GB/s with the card's HBM peak:
   H100 SXM ~3.35 TB/s, H200 ~4.8 TB/s).

Writes ``$OUT/gpu_tts_transformers.json`` (+ ``.md``) when ``OUT`` is set, else
``benchmarks/results/``.  Usage: ``python benchmarks/gpu_tts_transformers.py [--smoke]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def throughput(be, device, smoke):
    rows = []
    sizes = [8] if smoke else [64, 256, 1024]
    max_tokens = 16 if smoke else 64
    for rows_n in sizes:
        for shared in (True, False):
            prompts = ["12 +5 -3 *2 +7\n"] if shared else [f"{i % 97} +5 -3 *2 +{i % 9 + 1}\n" for i in range(rows_n)]
            n = rows_n if shared else 1
            be.generate(prompts[:2], n=2, max_tokens=4, seed=0)  # warm-up
            before = be.stats["generated_tokens"]
            _sync(device)
            t0 = time.perf_counter()
            be.generate(prompts, n=n, max_tokens=max_tokens, temperature=1.0, seed=1)
            _sync(device)
            dt = time.perf_counter() - t0
            toks = be.stats["generated_tokens"] - before
            rows.append({"rows": rows_n, "shared_prompt": shared, "max_tokens": max_tokens, "seconds": dt,
                         "generated_tokens": toks, "tokens_per_s": toks / dt})
            print("throughput", rows[-1], flush=True)
    return rows


def particle_filter(be, device, smoke, num_problems):
    from llm_bridge.algorithms import BestOfN, ParticleFiltering, StepConfig
    from llm_bridge.rewards import ToyStepVerifier
    from llm_bridge.toy.task import format_prompt, grade, make_problems, parse_answer

    problems = make_problems(2 if smoke else num_problems, seed=2024, num_ops=(4, 6))
    step = StepConfig(delimiter="\n", max_steps=8, max_step_tokens=16, temperature=1.0)
    rows = []
    for N in ([4] if smoke else [8, 64, 256]):
        for name, algo in (
            ("pf", ParticleFiltering(step=step, aggregation="last", answer_fn=parse_answer)),
            ("bon", BestOfN(step=step, aggregation="last", answer_fn=parse_answer)),
        ):
            prm = ToyStepVerifier(false_positive_rate=0.1, seed=0)
            algo.infer(be, prm, format_prompt(problems[0]), budget=N, seed=999)  # warm-up (JIT of the resampler)
            correct, toks, backend_s, reward_s = 0, 0, 0.0, 0.0
            _sync(device)
            t0 = time.perf_counter()
            for k, p in enumerate(problems):
                res = algo.infer(be, prm, format_prompt(p), budget=N, seed=k)
                correct += grade(p, res.text)
                toks += res.usage.tokens
                backend_s += res.usage.backend_seconds
                reward_s += res.usage.reward_seconds
            _sync(device)
            wall = time.perf_counter() - t0
            rows.append({"method": name, "N": N, "problems": len(problems), "accuracy": correct / len(problems),
                         "wall_s": wall, "tokens": toks, "tokens_per_s": toks / wall,
                         "backend_share": backend_s / wall, "reward_share": reward_s / wall,
                         "orchestration_share": max(0.0, 1 - (backend_s + reward_s) / wall)})
            print("pf/bon", rows[-1], flush=True)
    return rows


def kernel(device, smoke):
    from probinf.kernels.token_logprobs import token_logprobs

    B, L, V = (2, 16, 1000) if smoke else (8, 2048, 32000)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    g = torch.Generator(device=device).manual_seed(0)
    logits = (torch.randn(B, L, V, generator=g, device=device) * 4).to(dtype)
    ids = torch.randint(0, V, (B, L), generator=g, device=device)
    rows = []
    ref = token_logprobs(logits, ids, backend="reference")
    for backend, chunk in (("reference", None), ("cpu", None), ("chunked", 4096), ("chunked", 16384)):
        kw = {"chunk_size": chunk} if chunk else {}
        fn = lambda: token_logprobs(logits, ids, backend=backend, **kw)  # noqa: E731, B023
        out = fn()
        err = float((out - ref).abs().max())
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        _sync(device)
        ts = []
        for _ in range(3 if smoke else 10):
            t0 = time.perf_counter()
            fn()
            _sync(device)
            ts.append(time.perf_counter() - t0)
        dt = float(np.median(ts))
        row = {"backend": backend, "chunk_size": chunk, "B": B, "L": L, "V": V, "dtype": str(dtype),
               "seconds": dt, "read_GBps": logits.numel() * logits.element_size() / dt / 1e9,
               "max_abs_err_vs_reference": err}
        if device.type == "cuda":
            row["peak_extra_MiB"] = (torch.cuda.max_memory_allocated() - base) / 2**20
        rows.append(row)
        print("kernel", row, flush=True)
    return rows


def kernel_jax(smoke):
    """JAX input: the Pallas kernel vs the fused XLA path vs log_softmax + gather (GPU when JAX sees one)."""
    import jax
    import jax.numpy as jnp

    from probinf.kernels.token_logprobs import _jax_has_gpu, token_logprobs

    gpu = _jax_has_gpu()
    B, L, V = (2, 16, 1000) if (smoke or not gpu) else (8, 2048, 32000)
    z = jax.random.normal(jax.random.PRNGKey(0), (B, L, V), jnp.float32).astype(jnp.bfloat16) * 4
    ids = jax.random.randint(jax.random.PRNGKey(1), (B, L), 0, V)
    rows = []
    ref = np.asarray(token_logprobs(z, ids, backend="reference"))
    for backend in ("reference", "cpu", "pallas"):
        fn = lambda: token_logprobs(z, ids, backend=backend, interpret=not gpu)  # noqa: E731, B023
        out = np.asarray(fn())
        ts = []
        for _ in range(3 if smoke else 10):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            ts.append(time.perf_counter() - t0)
        dt = float(np.median(ts))
        row = {"framework": "jax", "backend": backend, "B": B, "L": L, "V": V, "seconds": dt, "gpu": gpu,
               "read_GBps": B * L * V * 2 / dt / 1e9, "max_abs_err_vs_reference": float(np.nanmax(np.abs(out - ref)))}
        rows.append(row)
        print("kernel", row, flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes on CPU (checks the script)")
    ap.add_argument("--problems", type=int, default=32)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)

    from llm_bridge.backends import TransformersBackend
    from llm_bridge.toy import toy_model_path

    device = torch.device("cuda" if (torch.cuda.is_available() and not a.smoke) else "cpu")
    be = TransformersBackend.from_pretrained(toy_model_path(), device=str(device), batch_size=1024)
    info = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu",
            "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "smoke": a.smoke}
    print(info, flush=True)
    res = {"info": info, "throughput": throughput(be, device, a.smoke),
           "particle_filter": particle_filter(be, device, a.smoke, a.problems),
           "token_logprobs": kernel(device, a.smoke) + kernel_jax(a.smoke)}
    out_dir = Path(a.out or os.environ.get("OUT") or Path(__file__).resolve().parent / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gpu_tts_transformers.json").write_text(json.dumps(res, indent=2))
    md = [f"# llm_bridge on {info['device']} ({info['date']})", "", "| rows | shared prompt | tokens/s |",
          "|---|---|---|"]
    md += [f"| {r['rows']} | {r['shared_prompt']} | {r['tokens_per_s']:.0f} |" for r in res["throughput"]]
    md += ["", "| method | N | accuracy | wall s | tokens/s | orchestration share |", "|---|---|---|---|---|---|"]
    md += [f"| {r['method']} | {r['N']} | {r['accuracy']:.3f} | {r['wall_s']:.1f} | {r['tokens_per_s']:.0f} | "
           f"{r['orchestration_share']:.1%} |" for r in res["particle_filter"]]
    md += ["", "| token_logprobs input | backend | chunk | seconds | read GB/s |", "|---|---|---|---|---|"]
    md += [f"| {r.get('framework', 'torch')} | {r['backend']} | {r.get('chunk_size')} | {r['seconds']:.4f} | "
           f"{r['read_GBps']:.0f} |"
           for r in res["token_logprobs"]]
    (out_dir / "gpu_tts_transformers.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return res


if __name__ == "__main__":
    main()
