"""The layer contracts: import-linter on the real import graph, plus the string imports it cannot see."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: low to high; a package may import only packages of a lower rank (the applications share one rank)
RANK = {"probinf": 0, "privacy": 1, "crowd": 1, "conformal": 1, "llm_bridge": 1, "probinf_cli": 2}
_ALT = "|".join(sorted(RANK, key=len, reverse=True))
_NAME = re.compile(rf"^({_ALT})(\.[A-Za-z_][\w.]*)?(:[A-Za-z_]\w*)?$")


def test_import_contracts_hold():
    pytest.importorskip("importlinter")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; "
                        "sys.exit(c())"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "3 kept, 0 broken" in r.stdout


def _string_imports(pkg: str) -> list[tuple[str, int, str]]:
    """String literals in ``pkg`` naming a module of a package it may not import (upward or sideways)."""
    bad = []
    for path in sorted((ROOT / pkg).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (m := _NAME.match(node.value)) \
                    and (m.group(2) or m.group(3)):  # a module path, not a bare word such as "crowd"
                target = m.group(1)
                if target != pkg and RANK[target] >= RANK[pkg]:
                    bad.append((str(path.relative_to(ROOT)), node.lineno, node.value))
    return bad


@pytest.mark.parametrize("pkg", [p for p in RANK if p != "probinf_cli"])
def test_no_upward_or_sideways_import_by_string(pkg):
    assert _string_imports(pkg) == []


def test_string_import_check_catches_a_registry_entry(tmp_path, monkeypatch):
    """Negative control: the old core registry ("crowd.repro:run" in probinf) is found."""
    fake = tmp_path / "probinf"
    fake.mkdir()
    (fake / "reg.py").write_text('REG = {"crowd": "crowd.repro:run"}\n')
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _string_imports("probinf") == [(str(Path("probinf/reg.py")), 1, "crowd.repro:run")]
