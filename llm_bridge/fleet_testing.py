"""Stand-in OpenAI-compatible replicas for fleet tests: deterministic answers, delays, failures, a kill switch.

:class:`StandInReplica` serves ``GET /v1/models`` and ``POST /v1/completions`` on
127.0.0.1 like a llama.cpp server (one prompt per request, ``n`` ignored), with a
text that is a pure function of ``(prompt, seed, temperature)``, so any replica gives
the same answer to the same request: a fleet run can be compared with a
single-server run exactly.  ``delay`` makes requests overlap (to observe load
balancing), ``fail_status`` answers every completion with that HTTP status, and
:meth:`StandInReplica.kill` stops the replica mid-run (in-flight requests are cut
off without an answer, later connections are refused), as when a server dies.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["StandInReplica", "stand_in_text"]


def stand_in_text(prompt: str, seed, temperature) -> str:
    """The stand-in model's answer: a digest of the request's prompt, seed and temperature."""
    h = hashlib.sha256(json.dumps([prompt, seed, temperature]).encode()).hexdigest()
    return f" {h[:8]}"


class StandInReplica:
    """One stand-in replica on ``127.0.0.1`` (an ephemeral port); see the module docstring."""

    def __init__(self, *, delay: float = 0.0, fail_status: int | None = None, model: str = "/stand-in/model.gguf"):
        self.delay = float(delay)
        self.fail_status = fail_status
        self.model = model
        self.served = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._dead = threading.Event()
        replica = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def _finish(self):
                # the request stops counting as in flight before its answer is written: a client that
                # reads the answer and sends its next request at once must not be counted twice
                if getattr(self, "_counted", False):
                    self._counted = False
                    with replica._lock:
                        replica._in_flight -= 1

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self._finish()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _cut(self):
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass

            def do_GET(self):
                if replica._dead.is_set():
                    return self._cut()
                self._send(200, {"object": "list", "data": [{"id": replica.model, "owned_by": "me"}]})

            def do_POST(self):
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with replica._lock:
                    replica._in_flight += 1
                    replica.max_in_flight = max(replica.max_in_flight, replica._in_flight)
                self._counted = True
                try:
                    if replica.delay:
                        replica._dead.wait(replica.delay)
                    if replica._dead.is_set():
                        return self._cut()
                    if replica.fail_status is not None:
                        return self._send(replica.fail_status, {"error": {"message": "stand-in failure"}})
                    if isinstance(payload.get("prompt"), list):
                        return self._send(500, {"error": {"message": "prompt lists are not supported"}})
                    text = stand_in_text(payload["prompt"], payload.get("seed"), payload.get("temperature"))
                    choice = {"index": 0, "text": text, "finish_reason": "length"}
                    if payload.get("logprobs") is not None:
                        choice["logprobs"] = {"tokens": [text], "token_logprobs": [-1.0], "text_offset": [0]}
                    with replica._lock:
                        replica.served += 1
                    self._send(200, {"choices": [choice], "usage": {"completion_tokens": 1}})
                finally:
                    self._finish()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def kill(self) -> None:
        """Die now: cut in-flight requests, refuse new connections."""
        self._dead.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def close(self) -> None:
        """Stop the replica (idempotent)."""
        if not self._dead.is_set():
            self.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
