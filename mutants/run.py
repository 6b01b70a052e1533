"""Mutation check: apply each planted one-line bug in mutants.toml, run the tests meant to catch it.

Usage (from the repository root)::

    python mutants/run.py                  # every mutant; exit 1 if any survives, 2 if a patch fails
    python mutants/run.py --only ID[,ID]   # a few mutants
    python mutants/run.py --list           # ids, packages and files
    python mutants/run.py --baseline       # first check that the selected tests pass unmutated

Everything runs in temporary copies of the tree (one per ``--jobs`` worker: tracked and untracked,
non-ignored files, as ``git ls-files`` lists them), never in the working tree.  For each mutant the runner replaces
the exact text ``old`` (which must occur exactly once in ``file``, else it stops before running
anything) by ``new``, runs ``pytest -x -q -p no:cacheprovider -n 0`` on the mutant's ``tests``
with a per-mutant timeout, and restores the file (always, also on Ctrl-C or a timeout).  A
mutant is *caught* when pytest fails (a timeout also counts as caught, and is reported as
such); it *survives* when the tests pass.  pytest exit codes 2-5 (interrupted, internal or
usage error, no tests collected) are errors of the mutant's entry, not catches.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIST = Path(__file__).resolve().parent / "mutants.toml"
PACKAGES = ("probinf", "probinf.kernels", "privacy", "crowd", "conformal", "llm_bridge")
_LIVE: set = set()  # running pytest processes, killed on Ctrl-C
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Mutant:
    id: str
    package: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str = ""
    timeout: float | None = None


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # caught | survived | timeout | error
    seconds: float
    detail: str = ""
    extra: dict = field(default_factory=dict)


def load_mutants(path: Path = LIST) -> list[Mutant]:
    """Parse and validate the mutant list (ids unique, every field present, packages known)."""
    with open(path, "rb") as f:
        raw = tomllib.load(f).get("mutant", [])
    out, seen = [], set()
    for i, m in enumerate(raw):
        missing = [k for k in ("id", "package", "file", "old", "new", "tests") if k not in m]
        if missing:
            raise SystemExit(f"{path}: mutant #{i + 1} ({m.get('id', '?')}) lacks {missing}")
        if m["id"] in seen:
            raise SystemExit(f"{path}: duplicate mutant id {m['id']!r}")
        if m["package"] not in PACKAGES:
            raise SystemExit(f"{path}: mutant {m['id']!r} has package {m['package']!r}, expected one of {PACKAGES}")
        if m["old"] == m["new"] or "\n" in m["old"] or "\n" in m["new"]:
            raise SystemExit(f"{path}: mutant {m['id']!r} must change exactly one line")
        seen.add(m["id"])
        out.append(Mutant(m["id"], m["package"], m["file"], m["old"], m["new"], tuple(m["tests"]),
                          m.get("why", ""), m.get("timeout")))
    return out


def check_patch(root: Path, m: Mutant) -> str | None:
    """None if ``old`` occurs exactly once in ``file`` under ``root``, else the reason."""
    p = root / m.file
    if not p.is_file():
        return f"{m.file} does not exist"
    n = p.read_text().count(m.old)
    return None if n == 1 else f"old text found {n} times in {m.file} (expected exactly once): {m.old.strip()!r}"


def copy_tree(dst: Path) -> None:
    """Copy the tracked and untracked, non-ignored files of the working tree (never .git or build outputs)."""
    try:
        files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                               check=True, capture_output=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: copy everything but caches
        shutil.copytree(ROOT, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", "reports"))
        return
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


def run_tests(root: Path, tests, timeout: float) -> tuple[int | None, str, float]:
    """``pytest -x`` on ``tests`` in ``root``; returns (exit code or None on timeout, output tail, seconds)."""
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-n", "0", *tests]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    with _LOCK:
        _LIVE.add(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(errors="replace")[-2000:], time.monotonic() - t0
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, "", time.monotonic() - t0
    finally:
        if proc.poll() is None:  # Ctrl-C while waiting: take the whole pytest process group down
            _kill(proc)
        with _LOCK:
            _LIVE.discard(proc)


def _kill(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_mutant(root: Path, m: Mutant, timeout: float) -> Outcome:
    """Apply ``m`` in ``root``, run its tests, restore the file (always)."""
    path = root / m.file
    original = path.read_text()
    try:
        path.write_text(original.replace(m.old, m.new, 1))
        rc, tail, secs = run_tests(root, m.tests, m.timeout or timeout)
    finally:
        path.write_text(original)
    if rc is None:
        return Outcome(m, "timeout", secs, f"tests ran past {m.timeout or timeout:.0f} s")
    if rc == 0:
        return Outcome(m, "survived", secs, "tests passed with the bug in place")
    if rc == 1:
        failed = [ln for ln in tail.splitlines() if ln.startswith(("FAILED", "ERROR"))]
        return Outcome(m, "caught", secs, failed[0] if failed else "")
    return Outcome(m, "error", secs, f"pytest exit code {rc}: {tail.strip().splitlines()[-1] if tail.strip() else ''}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated mutant ids")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--timeout", type=float, default=240.0, help="per-mutant timeout in seconds (default 240)")
    ap.add_argument("--baseline", action="store_true", help="first run the selected tests unmutated")
    ap.add_argument("--jobs", type=int, default=2, help="mutants run in parallel, one tree copy each (default 2)")
    ap.add_argument("--file", type=Path, default=LIST, help="mutant list (default mutants/mutants.toml)")
    args = ap.parse_args(argv)
    mutants = load_mutants(args.file)
    if args.list:
        for m in mutants:
            print(f"{m.id:36s} {m.package:16s} {m.file}")
        print(f"{len(mutants)} mutants over {len({m.package for m in mutants})} packages")
        return 0
    if args.only:
        want = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = sorted(set(want) - {m.id for m in mutants})
        if unknown:
            print(f"unknown mutant id(s): {unknown}", file=sys.stderr)
            return 2
        mutants = [m for m in mutants if m.id in want]
    bad = [(m, why) for m in mutants if (why := check_patch(ROOT, m))]
    if bad:
        for m, why in bad:
            print(f"PATCH FAILS  {m.id}: {why}", file=sys.stderr)
        return 2
    outcomes: list[Outcome] = []
    t_start = time.monotonic()
    jobs = max(1, min(args.jobs, len(mutants)))
    with tempfile.TemporaryDirectory(prefix="probinf-mutants-") as tmp:
        roots = [Path(tmp) / f"tree{i}" for i in range(jobs)]
        for r in roots:
            copy_tree(r)
        if args.baseline:
            tests = sorted({t for m in mutants for t in m.tests})
            rc, tail, secs = run_tests(roots[0], tests, args.timeout * 4)
            if rc != 0:
                print(f"BASELINE FAILS ({secs:.0f} s): the unmutated tests do not pass\n{tail}", file=sys.stderr)
                return 2
            print(f"baseline ok ({secs:.0f} s)", flush=True)
        free = list(roots)

        def work(m: Mutant) -> Outcome:
            with _LOCK:
                root = free.pop()
            try:
                o = run_mutant(root, m, args.timeout)
            finally:
                with _LOCK:
                    free.append(root)
            print(f"{o.status.upper():9s} {o.seconds:6.1f} s  {m.id:36s} [{m.package}] {o.detail}"[:200], flush=True)
            return o

        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            outcomes = list(pool.map(work, mutants))
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            with _LOCK:
                live = list(_LIVE)
            for proc in live:
                _kill(proc)
            print("interrupted: the temporary copies are discarded, the working tree was never touched",
                  file=sys.stderr)
            return 130
        pool.shutdown()
    counts = {s: sum(o.status == s for o in outcomes) for s in ("caught", "timeout", "survived", "error")}
    print(f"\n{len(outcomes)} mutants in {time.monotonic() - t_start:.0f} s: " +
          ", ".join(f"{v} {k}" for k, v in counts.items()))
    for o in outcomes:
        if o.status in ("survived", "error"):
            print(f"  {o.status}: {o.mutant.id} ({o.mutant.file}: {o.mutant.why})")
    return 0 if counts["survived"] == counts["error"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
