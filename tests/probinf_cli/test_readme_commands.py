"""The README's command lines work from any directory, through the ``probinf`` console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _probinf() -> list[str]:
    """The installed console script when it runs this checkout's shell, else ``python -m probinf_cli``."""
    script = shutil.which("probinf", path=str(Path(sys.executable).parent))
    if script and "probinf_cli" in Path(script).read_text(errors="replace"):
        return [script]
    return [sys.executable, "-m", "probinf_cli"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PROBINF_PROGRESS="0")
    return subprocess.run([*_probinf(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_help_and_dp_epsilon_from_a_temporary_directory(tmp_path):
    assert tmp_path.resolve() != ROOT
    r = _run(["--help"], tmp_path)
    assert r.returncode == 0 and "reproduce" in r.stdout and "dp-epsilon" in r.stdout
    r = _run(["dp-epsilon", "--tp", "1000", "--fn", "0", "--tn", "1000", "--fp", "0", "--delta", "1e-5"], tmp_path)
    assert r.returncode == 0 and "Clopper-Pearson" in r.stdout
    r = _run(["reproduce", "--list"], tmp_path)
    assert r.returncode == 0 and "smc-validity" in r.stdout


@pytest.mark.slow
@pytest.mark.llm
def test_tts_quick_start_from_a_temporary_directory(tmp_path):
    pytest.importorskip("transformers")
    r = _run(["tts", "make-problems", "problems.jsonl", "--n", "2"], tmp_path)
    assert r.returncode == 0, r.stderr
    r = _run(["tts", "run", "problems.jsonl", "--model", "toy", "--prm", "toy-checker", "--method", "pf",
              "--budget", "2", "--threads", "1", "--out", "results.jsonl"], tmp_path)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and all(isinstance(x["correct"], bool) for x in recs)
