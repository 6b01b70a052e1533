"""Wall time of CLI calls a user types often, each in a fresh process (import time included).

``probinf --help``, ``probinf dp-epsilon ...`` (a 2x2 table, posterior summary) and, for scale, a bare
``python -c pass`` and ``python -c "import jax"`` (what the CLI avoids importing on these paths).
Median of 7 runs after one warm-up (file-system cache warm). ``python -m benchmarks.bench_cli_startup``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks._util import median_time, write_results

AIM_S = 1.5


def _probinf() -> list[str]:
    exe = Path(sys.executable).with_name("probinf")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("probinf")
    return [found] if found else [sys.executable, "-m", "probinf_cli.main"]


def main() -> None:
    cli = _probinf()
    calls = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import jax'": [sys.executable, "-c", "import jax"],
        "probinf --help": [*cli, "--help"],
        "probinf dp-epsilon --tp 500 --fn 500 --tn 500 --fp 500 --delta 1e-5": [
            *cli, "dp-epsilon", "--tp", "500", "--fn", "500", "--tn", "500", "--fp", "500", "--delta", "1e-5"],
    }
    rows = []
    for name, argv in calls.items():
        def run(argv=argv):
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        seconds = median_time(run, repeats=7, warmup=1)
        aim = AIM_S if name.startswith("probinf") else None
        rows.append({"call": name, "seconds": seconds, "aim_s": aim,
                     "met": None if aim is None else bool(seconds <= aim)})
        print(f"{name}: {seconds:.3f} s", flush=True)
    lines = ["# CLI start-up: wall time of a fresh process (median of 7 after 1 warm-up)", "",
             "| call | wall s | aim | met |", "|---|---|---|---|"]
    for r in rows:
        aim = "" if r["aim_s"] is None else f"<= {r['aim_s']} s"
        met = "" if r["met"] is None else ("yes" if r["met"] else "no")
        lines.append(f"| `{r['call']}` | {r['seconds']:.3f} | {aim} | {met} |")
    write_results("cli_startup", rows, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
