"""backend="auto" picks the measured winner: the table in probinf.kernels._backend_table against the
benchmark JSON it was made from (benchmarks/results/backend_table.json), and the kernels' routing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from probinf.kernels._backend_table import TOKEN_TEMP_BUDGET_BYTES, choose_backend

TABLE = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "backend_table.json"
MEASURED = json.loads(TABLE.read_text())["measurements"]


def _id(m):
    return f"{m['kernel']}-{m['platform']}-{m.get('input', '')}{m['work']:.0e}"


@pytest.mark.parametrize("m", MEASURED, ids=_id)
def test_auto_picks_the_measured_winner(m):
    """At every measured point, auto runs the backend with the smallest measured time."""
    fastest = min(m["seconds"], key=m["seconds"].get)
    temp = 4.0 * m["work"] if m["kernel"] == "token_logprobs" else 0.0
    assert choose_backend(m["kernel"], m["platform"], m["work"], temp_bytes=temp) == fastest


def test_pallas_is_never_auto_for_conformal_and_token_logprobs():
    for work in (1.0, 1e6, 1e9, 1e12):
        for platform in ("cpu", "gpu"):
            assert choose_backend("conformal_bayes", platform, work) != "pallas"
            assert choose_backend("token_logprobs", platform, work, temp_bytes=4 * work) != "pallas"


def test_token_logprobs_auto_avoids_a_huge_temporary():
    big = TOKEN_TEMP_BUDGET_BYTES / 4 * 2  # rows * V with a float32 temporary of twice the budget
    assert choose_backend("token_logprobs", "gpu", big, temp_bytes=4 * big) == "cpu"


def test_routing_on_a_gpu(monkeypatch):
    """With a GPU reported, the public functions route to the table's choice (no GPU needed)."""
    import importlib

    mx = importlib.import_module("probinf.kernels.mixture")
    tl = importlib.import_module("probinf.kernels.token_logprobs")  # the package re-exports a function of that name

    calls = []
    monkeypatch.setattr(tl, "_jax_has_gpu", lambda: True)
    monkeypatch.setattr(tl, "_jax_path", lambda z, ids, backend, interpret: calls.append(backend))
    tl.token_logprobs(np.zeros((2, 5), np.float32), np.zeros(2, int))
    assert calls == ["reference"]

    class Routed(Exception):
        pass

    def fake_pallas(interpret, chunk):
        raise Routed

    monkeypatch.setattr(mx, "_has_gpu", lambda: True)
    monkeypatch.setattr(mx, "_make_pallas", fake_pallas)
    x = np.zeros((10, 1), np.float32)
    lw, mu, sc = np.zeros((2, 3), np.float32), np.zeros((2, 3, 1), np.float32), np.ones((2, 3, 1), np.float32)
    out = mx.mixture_loglik(x, lw, mu, sc)  # small: XLA chunked path, no Pallas
    np.testing.assert_allclose(np.asarray(out), np.asarray(mx.mixture_loglik(x, lw, mu, sc, backend="cpu")))
    monkeypatch.setattr(mx, "choose_backend", lambda *a, **k: "pallas")
    with pytest.raises(Routed):
        mx.mixture_loglik(x, lw, mu, sc)
