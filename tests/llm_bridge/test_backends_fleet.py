"""OpenAICompatibleBackend over a fleet of replicas: stand-in replicas (failure injection) and real
llama.cpp servers on loopback (marked ``server``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("httpx")

from llm_bridge.backends import OpenAICompatibleBackend  # noqa: E402
from llm_bridge.backends.fleet import FleetClient, split_base_urls  # noqa: E402
from llm_bridge.exceptions import BackendRequestError  # noqa: E402
from llm_bridge.fleet_testing import StandInReplica  # noqa: E402

PROMPTS = [f"Question {i}: " for i in range(24)]


@pytest.fixture
def replicas(request):
    made = []

    def make(k=3, **kw):
        made.extend(StandInReplica(**kw) for _ in range(k))
        return made[-k:]

    yield make
    for r in made:
        r.close()


def _texts(out):
    return [[g.text for g in row] for row in out]


def test_split_base_urls():
    assert split_base_urls("http://127.0.0.1:1, http://127.0.0.1:2") == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    assert split_base_urls(["http://127.0.0.1:1"]) == ["http://127.0.0.1:1"]
    with pytest.raises(ValueError, match="http"):
        split_base_urls("127.0.0.1:1,http://127.0.0.1:2")
    with pytest.raises(ValueError, match="twice"):
        split_base_urls(["http://127.0.0.1:1", "http://127.0.0.1:1"])
    with pytest.raises(TypeError, match="base_url"):
        split_base_urls(8000)


def test_balanced_by_load_and_per_replica_limit(replicas):
    reps = replicas(3, delay=0.05)
    with OpenAICompatibleBackend([r.url for r in reps], server="llama.cpp", max_concurrency=2, backoff=0.01) as be:
        assert isinstance(be.client, FleetClient)
        out = be.generate(PROMPTS, n=1, max_tokens=4, temperature=1.0, seed=5)
    with StandInReplica() as single:
        with OpenAICompatibleBackend(single.url, server="llama.cpp") as be1:
            ref = be1.generate(PROMPTS, n=1, max_tokens=4, temperature=1.0, seed=5)
    assert _texts(out) == _texts(ref)
    served = [r.served for r in reps]
    assert sum(served) == len(PROMPTS)
    # 24 requests of 50 ms, 2 slots per replica: least-loaded routing keeps every replica busy
    assert min(served) >= 4, served
    assert max(r.max_in_flight for r in reps) <= 2


def test_killed_replica_mid_run_loses_no_particle(replicas):
    reps = replicas(3, delay=0.05)
    with StandInReplica() as single, OpenAICompatibleBackend(single.url, server="llama.cpp") as be1:
        ref = be1.generate(PROMPTS * 2, n=2, max_tokens=4, seed=11)
    be = OpenAICompatibleBackend([r.url for r in reps], server="llama.cpp", max_concurrency=2, backoff=0.01,
                                 replica_down_time=60.0)
    killer = threading.Timer(0.12, reps[0].kill)
    killer.start()
    try:
        out = be.generate(PROMPTS * 2, n=2, max_tokens=4, seed=11)
    finally:
        killer.join()
        stats = be.client.replica_stats()
        be.close()
    assert _texts(out) == _texts(ref)
    assert stats[0]["down"] and stats[0]["ejections"] == 1 and stats[0]["failed"] >= 1, stats
    assert be.client.stats["failovers"] >= 1


def test_failing_replica_is_ejected_and_its_requests_served_elsewhere(replicas):
    good = replicas(2)
    bad = StandInReplica(fail_status=503)
    try:
        be = OpenAICompatibleBackend([bad.url] + [r.url for r in good], server="llama.cpp", max_concurrency=1,
                                     backoff=0.01, replica_down_time=60.0)
        out = be.generate(PROMPTS, seed=2)
        stats = be.client.replica_stats()
        be.close()
    finally:
        bad.close()
    with StandInReplica() as single, OpenAICompatibleBackend(single.url, server="llama.cpp") as be1:
        assert _texts(out) == _texts(be1.generate(PROMPTS, seed=2))
    assert bad.served == 0 and stats[0]["ejections"] >= 1 and stats[0]["failed"] <= 2, stats
    assert sum(r.served for r in good) == len(PROMPTS)


def test_every_replica_down_fails_clearly(replicas):
    reps = replicas(2)
    for r in reps:
        r.kill()
    be = OpenAICompatibleBackend([r.url for r in reps], server="llama.cpp", max_retries=2, backoff=0.01,
                                 timeout=2.0, replica_down_time=0.05)
    t0 = time.monotonic()
    with pytest.raises(BackendRequestError, match="every replica"):
        be.generate(["x"], seed=0)
    assert time.monotonic() - t0 < 10
    be.close()


def test_rejected_request_is_not_retried_elsewhere(replicas):
    reps = replicas(2, fail_status=400)
    with OpenAICompatibleBackend([r.url for r in reps], server="llama.cpp", backoff=0.01) as be:
        with pytest.raises(BackendRequestError, match="400"):
            be.generate(["x"], seed=0)
        assert be.client.stats["requests"] == 2  # GET /v1/models, then the one rejected POST


def test_negative_control_without_failover_the_run_loses_particles(replicas, monkeypatch):
    """Pin every attempt to replica 0 (no failover, as a single-URL client): after it dies the run must fail."""
    reps = replicas(2)
    reps[0].kill()

    def pinned(self, avoid, deadline):
        with self._cond:
            self.replicas[0].in_flight += 1
            self.replicas[0].down_until = 0.0  # never ejected either
            return self.replicas[0]

    monkeypatch.setattr(FleetClient, "_acquire", pinned)
    with OpenAICompatibleBackend([r.url for r in reps], server="llama.cpp", model="m", max_retries=2,
                                 backoff=0.01) as be:
        with pytest.raises(BackendRequestError, match="every replica"):
            be.generate(PROMPTS[:4], seed=0)


# --------------------------------------------------------------------------- real llama.cpp replicas
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_llama_servers(gguf, k: int):
    """Start ``k`` llama_cpp.server processes on 127.0.0.1 (one thread, one slot each); return (procs, urls)."""
    import httpx

    procs, urls = [], []
    for _ in range(k):
        port = _free_port()
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "512", "--n_threads", "1", "--verbose", "False"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ}))
        urls.append(f"http://127.0.0.1:{port}")
    deadline = time.time() + 180
    for p, u in zip(procs, urls, strict=True):
        while True:
            if p.poll() is not None:
                raise RuntimeError(f"llama_cpp.server at {u} exited")
            try:
                if httpx.get(u + "/v1/models", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise RuntimeError("llama_cpp.server did not answer within 180 s")
            time.sleep(0.5)
    return procs, urls


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


CHAT = "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.server
@pytest.mark.slow
def test_real_llamacpp_fleet_survives_a_killed_replica(smollm_gguf):
    import importlib.util

    for mod in ("llama_cpp", "uvicorn", "sse_starlette"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} is not installed (pip install 'probinf[server]')")
    procs, urls = start_llama_servers(smollm_gguf, 3)
    try:
        prompts = [CHAT + f"{c}" for c in "ABCDEFGHIJKL"]
        kw = dict(max_tokens=6, temperature=0.0, stop=["\n"], seed=1)
        with OpenAICompatibleBackend(urls[2], timeout=120, server="llama.cpp") as be1:
            ref = be1.generate(prompts, **kw)
        be = OpenAICompatibleBackend(urls, timeout=120, server="llama.cpp", max_concurrency=1, backoff=0.05,
                                     replica_down_time=120.0)
        killer = threading.Timer(1.0, procs[0].kill)
        killer.start()
        try:
            out = be.generate(prompts, **kw)
        finally:
            killer.join()
            stats = be.client.replica_stats()
            be.close()
        assert _texts(out) == _texts(ref)  # greedy: deterministic whatever replica served it
        assert sum(s["served"] for s in stats) == len(prompts) + 1  # + GET /v1/models
        assert stats[0]["ejections"] == 1 and stats[0]["failed"] >= 1, stats  # it died mid-run
        assert stats[1]["served"] > 0 and stats[2]["served"] > 0, stats
    finally:
        stop(procs)
