"""The ``tts`` reproduction runs end to end at a tiny scale (fake-process fallback, 2 problems)."""

from __future__ import annotations

import pytest

import probinf_cli.reproductions.tts as repro


@pytest.mark.slow
def test_repro_runs_small(tmp_path, monkeypatch):
    monkeypatch.setattr(repro, "BUDGETS", (1, 2, 4))
    monkeypatch.setattr(repro, "SIZES", {True: (2, 2), False: (2, 2)})

    def no_model(*a, **k):
        raise FileNotFoundError("toy model disabled for this test")

    monkeypatch.setattr(repro, "toy_setup", no_model)
    res = repro.run(tmp_path, quick=True, seed=0)
    assert "FALLBACK" in res.summary
    acc = res.tables["accuracy_vs_budget"]
    assert set(acc.method) == {"pf", "pg", "beam", "bon", "wbon", "majority", "pass@k"}
    assert set(acc.budget) == {1, 2, 4}
    assert ((acc.lower <= acc.accuracy) & (acc.accuracy <= acc.upper)).all()
    assert all(p.exists() for p in res.figures)
    assert len(res.tables["scaling_rate"]) == 3
