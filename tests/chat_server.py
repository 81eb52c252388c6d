"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol, for the tests.

Its answers come from a function ``answer(messages, options) -> str`` (in the slow tests, a local SmolLM2
model through ``LocalChat``). It can be scripted to fail before answering (429 with Retry-After, 5xx, 4xx),
logs every request, counts how many were in flight at once, and refuses to answer more than
``max_requests`` (so a runaway client fails instead of hanging). ``serve()`` starts it on a free port in a
thread and always shuts it down.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

Answer = Callable[[list, dict], str]


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: Answer, max_requests: int = 200):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.max_requests = max_requests
        self.lock = threading.Lock()
        self.log: list[dict] = []  # one entry per request, in arrival order
        self.script: list[tuple[int, dict, str]] = []  # failures to answer before the model answers
        self.in_flight = 0
        self.max_in_flight = 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"

    def answered(self) -> list[dict]:
        return [r for r in self.log if r["status"] == 200]


class _Handler(BaseHTTPRequestHandler):
    timeout = 120  # a stuck client cannot hold a handler thread forever

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    def _send(self, status: int, body: str, headers: dict | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        server: ChatServer = self.server
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with server.lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            if self.path != "/v1/chat/completions":
                status, headers, text = 404, {}, '{"error": "not found"}'
            elif len(server.log) >= server.max_requests:
                status, headers, text = 503, {}, '{"error": "request budget of the test server spent"}'
            elif server.script:
                status, headers, text = server.script.pop(0)
            else:
                status, headers, text = 200, {}, ""
            entry = {"status": status, "model": body.get("model"), "messages": body.get("messages"),
                     "options": {k: body.get(k) for k in ("temperature", "max_tokens", "seed", "top_p")},
                     "auth": self.headers.get("Authorization"), "started": time.monotonic()}
            server.log.append(entry)
        try:
            if status == 200:
                content = server.answer(body["messages"], entry["options"])
                text = json.dumps({
                    "id": f"chatcmpl-{len(server.log)}", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": sum(len(m["content"]) // 4 for m in body["messages"]),
                              "completion_tokens": len(content or "") // 4}})
            self._send(status, text, headers)
        finally:
            with server.lock:
                server.in_flight -= 1


@contextmanager
def serve(answer: Answer, max_requests: int = 200) -> Iterator[ChatServer]:
    httpd = ChatServer(answer, max_requests)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
    assert not thread.is_alive()
