"""Full-scale ``tts`` reproduction on a lent GPU machine (16 CPU cores; no network, no install).

The task-family policy is a numpy MLP (``llm_bridge.toy.step_policy``), so the full run
(500 held-out problems x 2 seeds, budgets 1-128, every method) is spread over the machine's
CPU cores (``--workers``, default ``os.cpu_count() - 2``); JAX is pinned to the CPU
(``JAX_PLATFORMS=cpu``) so the workers do not contend for the GPU.  The SmolLM2-135M part
(81 additions x 64 samples, PF vs BoN at budgets 1-32) runs on CUDA when torch sees a GPU.
Not yet run on a GPU machine (none was lent when it was written).  Writes the report,
figures and tables to ``$OUT/repro`` and the timing to ``$OUT/tts_gpu.json``.

Usage (repository root): ``PYTHONPATH=$PWD python3 benchmarks/gpu/tts_gpu.py $OUT [--workers N] [--quick]``.
CPU fallback: ``probinf reproduce tts --full`` (one process; not measured: the full scale has 8x the quick
run's cells at roughly 2x the cost each, so about 16x the quick run's 3.3 min, i.e. about 50 min, on the
shared 2-core machine, plus the SmolLM2 part).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    ap.add_argument("--quick", action="store_true", help="quick scale (60 problems) instead of full")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    import probinf_cli.reproductions.tts as repro
    from probinf_cli.runner import run_reproductions

    try:
        import torch

        llm_device = "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        llm_device = "cpu"
    orig = repro.run
    repro.run = lambda out_dir, *, quick=True, seed=0: orig(out_dir, quick=quick, seed=seed, num_workers=a.workers,
                                                           llm_device=llm_device)
    t0 = time.time()
    run_reproductions(["tts"], a.out / "repro", quick=a.quick, seed=0, echo=print)
    wall = time.time() - t0
    rec = {"llm_device": llm_device, "scale": "quick" if a.quick else "full", "workers": a.workers,
           "cpu_count": os.cpu_count(),
           "wall_s": round(wall, 1)}
    print(json.dumps(rec), flush=True)
    (a.out / "tts_gpu.json").write_text(json.dumps(rec, indent=2) + "\n")


if __name__ == "__main__":
    main()
