"""The ``probinf dp-epsilon`` command."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from probinf_cli.main import app

runner = CliRunner()


def test_dp_epsilon_table_and_reference_value():
    r = runner.invoke(app, ["dp-epsilon", "--tp", "1000", "--fn", "0", "--tn", "1000", "--fp", "0", "--delta", "1e-5"])
    assert r.exit_code == 0, r.output
    assert "7.2072" in r.output and "Clopper-Pearson" in r.output and "5.6006" in r.output
    assert "inf" in r.output  # CP upper end and the plug-in epsilon are infinite


def test_dp_epsilon_json():
    r = runner.invoke(app, ["dp-epsilon", "--tp", "900", "--fn", "100", "--tn", "950", "--fp", "50",
                            "--delta", "1e-5", "--level", "0.9", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    b, cp = out["bayesian"], out["clopper_pearson"]
    assert b["interval_lower"] < b["median"] < b["interval_upper"]
    assert cp["interval_lower"] < b["interval_lower"] and b["interval_upper"] < cp["interval_upper"]


def test_dp_epsilon_bad_input_exits_with_message():
    r = runner.invoke(app, ["dp-epsilon", "--tp", "0", "--fn", "0", "--tn", "10", "--fp", "0", "--delta", "1e-5"])
    assert r.exit_code == 2 and "empty member class" in r.output
    r = runner.invoke(app, ["dp-epsilon", "--tp", "5", "--fn", "1", "--tn", "10", "--fp", "0", "--delta", "1.5"])
    assert r.exit_code == 2 and "delta" in r.output
    r = runner.invoke(app, ["dp-epsilon", "--tp", "5", "--fn", "1", "--tn", "10", "--fp", "0", "--delta", "0",
                            "--level", "1"])
    assert r.exit_code == 2 and "level" in r.output
