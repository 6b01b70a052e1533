"""Run every ``benchmarks/bench_*.py`` in its own process, one after the other.

Each script writes ``benchmarks/results/<name>.json`` and ``.md``; this runner
collects the Markdown tables into ``benchmarks/results/SUMMARY.md``.
Usage: ``python -m benchmarks.run_all [substring ...]``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(a in s.stem for a in argv)]
    failed = []
    for script in scripts:
        print(f"== {script.stem}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", f"benchmarks.{script.stem}"], cwd=HERE.parent)
        print(f"== {script.stem}: rc={rc} in {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(script.stem)
    parts = [f"# Benchmark summary ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", ""]
    for md in sorted((HERE / "results").glob("*.md")):
        if md.name != "SUMMARY.md":
            parts += [md.read_text(), ""]
    (HERE / "results" / "SUMMARY.md").write_text("\n".join(parts))
    if failed:
        print(f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
