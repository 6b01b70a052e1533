"""The ``tts`` reproduction runs end to end at a tiny scale and reports every table and verdict."""

from __future__ import annotations

import pytest

import probinf_cli.reproductions.tts as repro
from llm_bridge.evaluation.experiment import ExperimentConfig


@pytest.mark.slow
def test_repro_runs_small(tmp_path, monkeypatch):
    cfg = ExperimentConfig(budgets=(1, 2, 4), search_budgets={"pf": (1, 2), "pg": (4,), "pt": (4,), "beam": (4,),
                                                              "dvts": (4,)},
                           flaws_rates=(0.1, 0.4), flaws_pf_rates=(0.4,), flaws_pf_budgets=(2,))
    monkeypatch.setattr(repro, "CONFIGS", {True: cfg, False: cfg})
    monkeypatch.setattr(repro, "SIZES", {True: (3, (0, 1)), False: (3, (0, 1))})
    res = repro.run(tmp_path, quick=True, seed=0, llm=False)
    acc = res.tables["accuracy_vs_budget"]
    assert {"pf", "pg", "pt", "beam", "dvts", "bon", "wbon", "majority", "bom", "rpc", "pass@k"} <= set(acc.method)
    assert ((acc.lower <= acc.accuracy + 1e-12) & (acc.accuracy <= acc.upper + 1e-12)).all()
    assert all(p.exists() for p in res.figures)
    assert set(res.tables["scaling_rate"].budget) == {1, 2}
    assert set(res.tables["scaling_rate"].verdict) <= {"held", "not held", "undetermined"}
    cells = res.tables["cells"]
    assert len(cells.groupby(["problem", "seed"])) == 6  # every method on the same 3 problems x 2 seeds
    assert "Scaling-rate claim" in res.summary and "fLaws ceiling" in res.summary
    # same seed, same numbers
    res2 = repro.run(tmp_path / "again", quick=True, seed=0, llm=False)
    assert res2.tables["cells"].equals(cells)
