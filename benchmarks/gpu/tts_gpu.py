"""GPU check for llm_bridge (run on a lent GPU machine from the repository root).

1. trains the toy policy with the project's script (``llm_bridge.toy.train``, default
   settings) into ``/tmp/toy_policy`` unless ``llm_bridge/toy/assets/toy_policy`` exists;
2. throughput of particle filtering through ``TransformersBackend`` on CUDA vs CPU (same
   machine), N = 64 and 256, toy step checker PRM;
3. the ``tts`` reproduction (quick scale) on CUDA, written to ``$OUT/repro``.

Usage: ``PYTHONPATH=. python3 benchmarks/gpu/tts_gpu.py $OUT``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def main(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    import llm_bridge.toy as toy

    try:
        path = toy.toy_model_path()
        trained = "shipped"
    except FileNotFoundError:
        path = Path("/tmp/toy_policy")
        t0 = time.time()
        subprocess.run([sys.executable, "-m", "llm_bridge.toy.train", "--out", str(path), "--threads", "8"], check=True)
        trained = f"trained here in {time.time() - t0:.0f} s"
        toy.toy_model_path = lambda: path
    print("toy policy:", trained, flush=True)
    import torch

    from llm_bridge.algorithms import ParticleFiltering, StepConfig
    from llm_bridge.backends import TransformersBackend
    from llm_bridge.rewards import ToyStepVerifier
    from llm_bridge.toy import format_prompt, grade, make_problems, parse_answer

    probs = make_problems(8, seed=20_000, num_ops=(4, 6))
    prm = ToyStepVerifier(false_positive_rate=0.1, false_negative_rate=0.05, seed=0)
    step = StepConfig(delimiter="\n", max_steps=10, max_step_tokens=24, temperature=1.0)
    rows = []

    def bench(device, n):
        be = TransformersBackend.from_pretrained(path, device=device, num_threads=8 if device == "cpu" else None)
        pf = ParticleFiltering(step=step, aggregation="last", answer_fn=parse_answer)
        pf.infer(be, prm, format_prompt(probs[0]), budget=n, seed=0)  # warm-up
        t0 = time.perf_counter()
        tok = bsec = rsec = correct = 0
        for i, p in enumerate(probs):
            res = pf.infer(be, prm, format_prompt(p), budget=n, seed=i)
            u = res.usage
            tok, bsec, rsec = tok + u.tokens, bsec + u.backend_seconds, rsec + u.reward_seconds
            correct += int(grade(p, res.text))
        wall = time.perf_counter() - t0
        row = dict(device=device, gpu=torch.cuda.get_device_name(0) if device == "cuda" else "",
                   N=n, problems=len(probs), wall_s=wall, tokens=tok, tokens_per_s=tok / wall,
                   problems_per_s=len(probs) / wall, backend_share=bsec / wall, reward_share=rsec / wall,
                   overhead_share=1 - (bsec + rsec) / wall, accuracy=correct / len(probs))
        print(json.dumps(row), flush=True)
        rows.append(row)
        (out / "tts_gpu.json").write_text(json.dumps({"policy": trained, "rows": rows}, indent=2))

    if torch.cuda.is_available():
        bench("cuda", 64)
        bench("cuda", 256)
        import probinf_cli.reproductions.tts as repro
        from probinf_cli.runner import run_reproductions

        repro.DEVICE, repro.NUM_THREADS = "cuda", None
        t0 = time.time()
        run_reproductions(["tts"], out / "repro", quick=True, seed=0, echo=print)
        print(f"repro on cuda: {time.time() - t0:.0f} s", flush=True)
    bench("cpu", 64)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", "/tmp/tts_gpu")))
