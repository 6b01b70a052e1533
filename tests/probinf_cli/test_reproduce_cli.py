"""``probinf reproduce``: listing, the report, errors as one line, and the shell's layering at run time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from probinf_cli import runner as runner_mod
from probinf_cli.exceptions import OutputDirError, UnknownReproductionError
from probinf_cli.main import app
from probinf_cli.reproductions import REPRODUCTIONS, Reproduction
from probinf_cli.runner import ReproResult, run_reproductions

cli = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def test_list_shows_every_reproduction_with_description_and_times():
    r = cli.invoke(app, ["reproduce", "--list"])
    assert r.exit_code == 0, r.output
    assert set(REPRODUCTIONS) == {"conformal", "crowd", "dp-epsilon", "dp-km", "smc-samplers", "smc-validity", "tts"}
    for name, rep in REPRODUCTIONS.items():
        line = next(ln for ln in r.output.splitlines() if ln.startswith(name + " "))
        assert rep.description[:30] in line and f"~{rep.quick_minutes:g} min" in line
    assert ":run" not in r.output  # descriptions, not module targets


def test_unknown_name_and_unwritable_out_are_one_line(tmp_path):
    r = cli.invoke(app, ["reproduce", "nope", "--out", str(tmp_path)])
    assert r.exit_code == 1 and "unknown reproduction 'nope'" in r.output and "Traceback" not in r.output
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = cli.invoke(app, ["reproduce", "dp-km", "--out", str(blocker / "sub")])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.strip().splitlines() == [r.output.strip()] and "cannot write to the output directory" in r.output
    with pytest.raises(UnknownReproductionError):
        run_reproductions(["nope"], tmp_path)
    with pytest.raises(OutputDirError):
        run_reproductions(["dp-km"], blocker)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_read_only_out_dir_is_one_line(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        r = cli.invoke(app, ["reproduce", "dp-km", "--out", str(ro)])
    finally:
        ro.chmod(0o700)
    assert r.exit_code == 1 and "Permission denied" in r.output and "Traceback" not in r.output


def _fake(summary: str):
    def run(out_dir, *, quick=True, seed=0):
        fig = Path(out_dir) / "f.png"
        fig.write_bytes(b"\x89PNG")
        return ReproResult("Fake", summary, figures=[fig], tables={"t": pd.DataFrame({"a": [1.5], "b": ["x"]})})

    return run


def test_report_renders_markdown_summaries_as_html(tmp_path, monkeypatch):
    fake = Reproduction("fake", "a fake", 0.1, 0.1, _fake("Intro with `code`.\n\n- one\n- **two**\n\n| a | b |\n"
                                                           "|---|---|\n| 1 | 2 |"))
    monkeypatch.setattr(runner_mod, "REPRODUCTIONS", {"fake": fake})
    index = run_reproductions(["fake"], tmp_path, echo=lambda s: None)
    page = (tmp_path / "index.html").read_text()
    assert "<pre" not in page
    assert "<code>code</code>" in page and "<li>" in page and "<strong>two</strong>" in page
    assert "<table" in page and "<td>2</td>" in page
    assert "fake/t.csv" in index.read_text() and (tmp_path / "fake" / "t.csv").exists()


def test_failed_reproduction_is_reported_and_the_others_run(tmp_path, monkeypatch):
    def broken(out_dir, *, quick=True, seed=0):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(runner_mod, "REPRODUCTIONS", {"bad": Reproduction("bad", "", 0, 0, broken),
                                                      "ok": Reproduction("ok", "", 0, 0, _fake("fine"))})
    with pytest.raises(RuntimeError, match="bad"):
        run_reproductions(["bad", "ok"], tmp_path, echo=lambda s: None)
    md = (tmp_path / "index.md").read_text()
    assert "bad: FAILED" in md and "ZeroDivisionError" in md and "Fake" in md


def test_repro_result_is_immutable():
    r = ReproResult("t", figures=["a.png"], tables={"x": pd.DataFrame()})
    assert r.figures == (Path("a.png"),)
    with pytest.raises(AttributeError):
        r.title = "u"  # type: ignore[misc]
    with pytest.raises(TypeError):
        r.tables["y"] = pd.DataFrame()  # type: ignore[index]


def _imported_after(args: list[str]) -> set[str]:
    """Top-level modules imported by ``python -m probinf_cli ARGS`` (a fresh interpreter)."""
    code = ("import sys, runpy; sys.argv = ['probinf', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('probinf_cli', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('MODULES', ' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300,
                         check=True).stdout
    return set(out.split("MODULES", 1)[1].split())


HEAVY = {"jax", "numpyro", "torch", "transformers", "pandas", "matplotlib", "statsmodels", "lifelines", "sklearn",
         "arviz", "crowd", "conformal", "llm_bridge", "opacus"}


def test_help_and_dp_epsilon_import_no_heavy_library():
    """What keeps `probinf --help` and `probinf dp-epsilon` under 1.5 s: none of the heavy imports happen."""
    assert not (_imported_after(["--help"]) & (HEAVY | {"scipy", "numpy", "probinf", "privacy"}))
    dp = _imported_after(["dp-epsilon", "--tp", "500", "--fn", "500", "--tn", "500", "--fp", "500", "--delta", "1e-5"])
    # the core's package itself is light (lazy exports, probinf.lazy and probinf.deprecation): what must not load is
    # what it exports (JAX, NumPyro), which HEAVY lists
    assert "privacy" in dp and not (dp & HEAVY)
