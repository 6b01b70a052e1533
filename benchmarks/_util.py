"""Small helpers shared by the benchmark scripts: timing, peak memory, result files."""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def median_time(fn, repeats: int = 3, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _vm_hwm_snippet() -> str:
    # VmHWM is the peak RSS of this process's own address space. ``ru_maxrss`` is not
    # usable here: on Linux it survives exec, so a child started by a large parent
    # reports the parent's peak and the workload's growth reads as 0.
    return (
        "def _hwm():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1])\n"
    )


def peak_rss_mb(code: str) -> float:
    """Peak resident memory (MiB) of a fresh Python process running ``code`` minus its baseline.

    ``code`` should do its imports, print nothing, and run the workload once; the
    baseline is the same process's peak right after imports (marked by a line
    ``#--workload--`` in ``code``). Reads ``VmHWM`` from ``/proc/self/status`` (Linux).
    """
    head, _, body = code.partition("#--workload--")
    script = (
        _vm_hwm_snippet() + head + "\nbase = _hwm()\n"
        + body + "\npeak = _hwm()\nprint((peak - base) / 1024.0)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def machine() -> dict:
    import os

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def write_results(name: str, rows: list[dict], markdown: str, extra: dict | None = None) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine(), "rows": rows, **(extra or {})}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2, default=float))
    (RESULTS / f"{name}.md").write_text(markdown)
