"""Faults: a dead server, a ``/v1`` base URL, and an in-process backend that blocks.

Each must give ONE clear error of ours, promptly: never a hang, a long retry storm or a
dependency's exception.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from llm_bridge.algorithms import ParticleFiltering, StepConfig
from llm_bridge.exceptions import BackendTimeoutError, BackendUnavailableError
from llm_bridge.testing import FakeBackend, FakePRM, MarkovStepProcess

httpx = pytest.importorskip("httpx")


def _dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens on this port any more: connections are refused
    return f"http://127.0.0.1:{port}"


def test_dead_server_gives_one_clear_error_promptly():
    from llm_bridge.backends import OpenAICompatibleBackend

    url = _dead_url()
    be = OpenAICompatibleBackend(url + "/v1/", timeout=30, max_retries=4, backoff=0.5)
    proc = MarkovStepProcess.default()
    t0 = time.perf_counter()
    with pytest.raises(BackendUnavailableError) as info:
        ParticleFiltering().infer(be, FakePRM(proc), "Q:\n", budget=4, seed=0)
    elapsed = time.perf_counter() - t0
    msg = str(info.value)
    assert url + "/v1/models" in msg  # the URL tried (normalised: one /v1)
    assert "start it" in msg and "base_url" in msg  # and the fix
    assert "/v1/v1" not in msg
    assert elapsed < 5.0  # bounded: not the whole retry budget (4 retries with backoff would take ~8 s)
    assert isinstance(info.value, RuntimeError) and info.value.__cause__ is None  # one error, no chained traceback


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_base_url_ending_in_v1_is_normalised(fake_server, suffix):
    from llm_bridge.backends import OpenAICompatibleBackend

    fake_server.routes["/v1/models"] = lambda _: {"data": [{"id": "m", "owned_by": "vllm"}]}
    fake_server.routes["/v1/completions"] = lambda p: {"choices": [{"index": 0, "text": "x", "finish_reason": "stop"}]}
    be = OpenAICompatibleBackend(fake_server.url + suffix, logprobs=False)
    [[g]] = be.generate(["hi"], max_tokens=2)
    assert g.text == "x"
    assert [path for path, _ in fake_server.log] == ["/v1/models", "/v1/completions"]


def test_bad_base_url_is_a_clear_error():
    from llm_bridge.backends import OpenAICompatibleBackend

    for bad in ("localhost:8000", "", "http://", "http://a,http://a"):
        with pytest.raises(ValueError, match="base_url"):
            OpenAICompatibleBackend(bad)
    for bad in (None, 8000):  # not a string or a list of strings
        with pytest.raises(TypeError, match="base_url"):
            OpenAICompatibleBackend(bad)


class _BlockingBackend(FakeBackend):
    """An in-process backend whose second call never returns (until released)."""

    def __init__(self, proc):
        super().__init__(proc)
        self.release = threading.Event()
        self.n_calls = 0

    def generate(self, *args, **kwargs):
        self.n_calls += 1
        if self.n_calls >= 2:
            self.release.wait(60)
        return super().generate(*args, **kwargs)


def test_blocking_in_process_backend_times_out_clearly():
    proc = MarkovStepProcess.default(fixed_length=3)
    be = _BlockingBackend(proc)
    pf = ParticleFiltering(step=StepConfig(timeout=0.5, retries=3))
    t0 = time.perf_counter()
    try:
        with pytest.raises(BackendTimeoutError, match="timeout=0.5") as info:
            pf.infer(be, FakePRM(proc), "Q:\n", budget=8, seed=0)
    finally:
        be.release.set()
    assert isinstance(info.value, TimeoutError)
    assert time.perf_counter() - t0 < 5.0
    assert be.n_calls == 2  # a timed-out call is not retried (the stuck one may still be running)


def test_watchdog_passes_results_and_errors_through():
    proc = MarkovStepProcess.default()
    a = ParticleFiltering(step=StepConfig(timeout=None)).infer(FakeBackend(proc), FakePRM(proc), "Q:\n", budget=8,
                                                               seed=3)
    b = ParticleFiltering(step=StepConfig(timeout=30.0)).infer(FakeBackend(proc), FakePRM(proc), "Q:\n", budget=8,
                                                               seed=3)
    assert [p.steps for p in a.particles] == [p.steps for p in b.particles]


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan"), "5", True])
def test_bad_timeout_is_rejected(timeout):
    proc = MarkovStepProcess.default()
    with pytest.raises(ValueError, match="timeout"):
        ParticleFiltering(step=StepConfig(timeout=timeout)).infer(FakeBackend(proc), FakePRM(proc), "Q:\n", budget=4)
