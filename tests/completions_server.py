"""A real HTTP server on 127.0.0.1 that speaks the OpenAI ``/v1/completions`` protocol with logprobs, as vLLM does.

Its numbers come from ``next_logprobs(ids) -> rows``: for each position n of the token-id prompt ``ids``,
the log-softmax over the vocabulary of the token after ``ids[:n + 1]`` (one forward pass; in the tests,
SmolLM2 run with transformers). It answers a prompt of token ids with one generated token and its
``top_logprobs`` (``logprobs=k``), keyed ``token_id:N`` when the request asks for
``return_tokens_as_token_ids`` (vLLM's extension) and by token string otherwise (``strings`` forces strings,
as a server without the extension would); with ``echo`` it returns the prompt tokens' logprobs. ``script``
holds failures to send before answering (status, headers); every request is logged.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator, Sequence

NextLogprobs = Callable[[Sequence[int]], Sequence[Sequence[float]]]


class CompletionsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, next_logprobs: NextLogprobs, token_string: Callable[[int], str], strings: bool = False):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.next_logprobs, self.token_string, self.strings = next_logprobs, token_string, strings
        self.lock = threading.Lock()
        self.log: list[dict] = []
        self.script: list[tuple[int, dict]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    timeout = 120

    def log_message(self, format, *args):
        pass

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        server: CompletionsServer = self.server
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with server.lock:
            failure = server.script.pop(0) if server.script else None
            server.log.append({"path": self.path, "body": body, "status": failure[0] if failure else 200})
        if failure:
            return self._send(failure[0], {"error": "scripted failure"}, failure[1])
        if self.path != "/v1/completions":
            return self._send(404, {"error": f"no route {self.path}"})
        ids = body["prompt"]
        k = int(body.get("logprobs") or 0)

        def key(token_id: int) -> str:
            as_ids = body.get("return_tokens_as_token_ids") and not server.strings
            return f"token_id:{token_id}" if as_ids else server.token_string(token_id)

        rows = server.next_logprobs(ids)
        following = [float(v) for v in rows[-1]]
        best = max(range(len(following)), key=following.__getitem__)
        top = sorted(range(len(following)), key=lambda i: -following[i])[:k]
        tokens, token_logprobs, top_logprobs = [key(best)], [following[best]], [{key(i): following[i] for i in top}]
        if body.get("echo"):
            prompt_lp: list[float | None] = [None]
            prompt_top: list[dict | None] = [None]
            for n in range(1, len(ids)):
                value = float(rows[n - 1][ids[n]])
                prompt_lp.append(value)
                prompt_top.append({key(ids[n]): value})
            tokens = [key(i) for i in ids] + tokens
            token_logprobs = prompt_lp + token_logprobs
            top_logprobs = prompt_top + top_logprobs
        self._send(200, {"id": "cmpl-test", "object": "text_completion", "model": body.get("model"),
                         "choices": [{"index": 0, "text": server.token_string(best), "finish_reason": "length",
                                      "logprobs": {"tokens": tokens, "token_logprobs": token_logprobs,
                                                   "top_logprobs": top_logprobs}}]})


@contextmanager
def serve(next_logprobs: NextLogprobs, token_string: Callable[[int], str],
          strings: bool = False) -> Iterator[CompletionsServer]:
    server = CompletionsServer(next_logprobs, token_string, strings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
