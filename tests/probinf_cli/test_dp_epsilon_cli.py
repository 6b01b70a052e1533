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


def test_chance_level_attack_gets_a_caveat_and_the_mass_near_zero():
    r = runner.invoke(app, ["dp-epsilon", "--tp", "500", "--fn", "500", "--tn", "500", "--fp", "500",
                            "--delta", "1e-5"])
    assert r.exit_code == 0, r.output
    assert "CAVEAT" in r.output and "chance level" in r.output
    assert "posterior mass at eps <= 0.1" in r.output
    # negative control: a real attack gets no caveat
    r = runner.invoke(app, ["dp-epsilon", "--tp", "900", "--fn", "100", "--tn", "950", "--fp", "50", "--delta", "1e-5"])
    assert r.exit_code == 0 and "CAVEAT" not in r.output


def test_chance_level_json_reports_the_mass_below_small_epsilon():
    r = runner.invoke(app, ["dp-epsilon", "--tp", "500", "--fn", "500", "--tn", "500", "--fp", "500",
                            "--delta", "1e-5", "--json"])
    out = json.loads(r.output)
    assert out["chance_level"]["at_chance"] is True
    mass = out["chance_level"]["posterior_mass_below"]
    assert 0.9 < mass["0.1"] <= 1 and mass["0.05"] <= mass["0.1"]


def test_level_below_one_half_is_refused_not_a_bound_above_the_interval():
    r = runner.invoke(app, ["dp-epsilon", "--tp", "900", "--fn", "100", "--tn", "950", "--fp", "50",
                            "--delta", "1e-5", "--level", "0.3"])
    assert r.exit_code == 2
    assert "--level must be in (0.5, 1), got 0.3" in r.output and "Traceback" not in r.output
