"""Full-scale ``tts`` reproduction on a lent GPU machine (16 CPU cores; no network, no install).

The task-family policy is a numpy MLP (``llm_bridge.toy.step_policy``), so the full run
(500 held-out problems x 2 seeds, budgets 1-128, every method) is spread over the machine's
CPU cores (``--workers``, default ``os.cpu_count() - 2``); JAX is pinned to the CPU
(``JAX_PLATFORMS=cpu``) so the workers do not contend for the GPU.  Writes the report,
figures and tables to ``$OUT/repro`` and the timing to ``$OUT/tts_gpu.json``.

Usage (repository root): ``PYTHONPATH=$PWD python3 benchmarks/gpu/tts_gpu.py $OUT [--workers N] [--quick]``.
CPU fallback: ``probinf reproduce tts --full`` (one process; measured on the 2 shared cores of the
development machine, see ``docs``/the report: about 8x the quick run's cells at about 2x the cost each).
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
    import llm_bridge.repro as repro
    from probinf.reproduce import run_reproductions

    orig = repro.run
    repro.run = lambda out_dir, *, quick=True, seed=0: orig(out_dir, quick=quick, seed=seed, num_workers=a.workers)
    t0 = time.time()
    run_reproductions(["tts"], a.out / "repro", quick=a.quick, seed=0, echo=print)
    wall = time.time() - t0
    rec = {"scale": "quick" if a.quick else "full", "workers": a.workers, "cpu_count": os.cpu_count(),
           "wall_s": round(wall, 1)}
    print(json.dumps(rec), flush=True)
    (a.out / "tts_gpu.json").write_text(json.dumps(rec, indent=2) + "\n")


if __name__ == "__main__":
    main()
