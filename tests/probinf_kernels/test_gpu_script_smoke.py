"""The prepared GPU benchmark runs on CPU in --smoke mode (tiny sizes, Pallas interpreted) and
writes every section, with each GPU path checked against the reference and auto's pick recorded."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("gpu_kernels", ROOT / "benchmarks" / "gpu" / "gpu_kernels.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_gpu_kernels_smoke_writes_every_section(tmp_path, monkeypatch):
    monkeypatch.setenv("OUT", str(tmp_path))
    res = _load().main(["--smoke"])
    saved = json.loads((tmp_path / "gpu_kernels_smoke.json").read_text())
    assert (tmp_path / "gpu_kernels_smoke.md").exists()
    assert not [k for k in saved if k.endswith("_error")], saved
    for section in ("resampling", "token_logprobs", "conformal_bayes", "mixture", "auto_check"):
        assert saved[section], section
    r = res["resampling"][0]
    assert all(v for k, v in r.items() if k.startswith("identical_"))
    assert all(v < 1 for k, v in r.items() if k.startswith("counts_error_"))
    t = res["token_logprobs"][0]
    assert all(v < 1e-3 for k, v in t.items() if k.startswith("max_abs_err_"))
    assert res["conformal_bayes"][0]["pallas_pvalue_max_abs_diff_vs_xla"] == 0.0
    assert res["mixture"][0]["pallas_max_rel_err_vs_xla_chunked"] < 1e-5


def test_run_gpu_script_is_valid_bash_and_names_its_outputs():
    script = ROOT / "benchmarks" / "gpu" / "run_gpu.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    for needle in ("gpu_kernels.py", "tests_gpu.xml", "tests/probinf_kernels", "$OUT"):
        assert needle in text
