"""No import name of ours may shadow a dependency's, from the repository root or from anywhere else.

transformers >= 5.25 requires Hugging Face's ``kernels`` distribution and imports it at load time.
A top-level package of ours with a dependency's name breaks one side in every process: from the
repository root ours shadows theirs, elsewhere theirs shadows ours.  Both checks below run in fresh
subprocesses, once with the repository root as the working directory and once from a temporary one.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def our_top_level_packages() -> list[str]:
    """Top-level import packages this distribution ships (from pyproject's package discovery)."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = cfg["tool"]["setuptools"]["packages"]["find"]["include"]
    found = [
        p.name
        for p in sorted(ROOT.iterdir())
        if (p / "__init__.py").is_file() and any(fnmatch(p.name, pat) for pat in patterns)
    ]
    assert "probinf" in found, f"package discovery found no probinf in {ROOT}: {found}"
    return found


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=600)


_IMPORT_ALL = """
import importlib
from pathlib import Path
for name in {ours}:
    importlib.import_module(name)
import transformers
from transformers.integrations import hub_kernels  # imports Hugging Face's kernels when installed
from probinf.kernels import conformal_bayes_scores, mixture_loglik, token_logprobs
import probinf.kernels
assert Path(probinf.kernels.__file__).parent.parent.name == "probinf", probinf.kernels.__file__
try:
    import kernels as hf_kernels  # Hugging Face's, when transformers requires it
except ImportError:
    hf_kernels = None
if hf_kernels is not None:  # theirs, never a folder of ours
    assert not (Path(hf_kernels.__file__).parent.parent / "probinf").is_dir(), hf_kernels.__file__
print("ok", transformers.__version__, hf_kernels is not None)
"""


@pytest.mark.llm
@pytest.mark.parametrize("where", ["repo-root", "elsewhere"])
def test_our_packages_and_transformers_import_together(where, tmp_path):
    pytest.importorskip("transformers")
    ours = our_top_level_packages()
    code = _IMPORT_ALL.format(ours=json.dumps(ours))
    proc = _run(code, ROOT if where == "repo-root" else tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), (
        f"importing {ours} and transformers in one process from {where} failed:\n{proc.stderr[-3000:]}"
    )


def test_no_top_level_name_of_ours_is_a_dependencys():
    ours = set(our_top_level_packages())
    clashes = {}
    for name, dists in md.packages_distributions().items():
        others = [d for d in dists if d.lower().replace("_", "-") != "probinf"]
        if name in ours and others:
            clashes[name] = others
    assert not clashes, (
        f"top-level import names of ours are also provided by installed distributions: {clashes}; "
        "rename ours (e.g. move it under probinf.)"
    )


def test_guard_sees_a_clash_when_one_exists(monkeypatch):
    """Negative control: a distribution providing one of our names is reported."""
    fake = {"probinf": ["probinf"], "kernels": ["kernels"], "crowd": ["probinf", "crowdsourcing-x"]}
    monkeypatch.setattr(md, "packages_distributions", lambda: fake)
    with pytest.raises(AssertionError, match="crowd"):
        test_no_top_level_name_of_ours_is_a_dependencys()
