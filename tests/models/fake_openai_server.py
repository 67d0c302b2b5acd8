"""A real local HTTP server speaking the OpenAI chat-completions streaming protocol.

It listens on 127.0.0.1 (port 0, in a thread) and answers each POST with the next queued
``Reply``: a stream of SSE events (``data: {...}`` lines, then ``data: [DONE]``), an HTTP error,
or a stream cut off mid-way (the socket is closed before the chunked body ends). Every request
is recorded, so tests can assert what the adapter sent. ``SSEServer`` is shared with the
Anthropic fake (``fake_anthropic_server``), which only differs in the events it builds.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest


@dataclass
class Reply:
    """One queued answer. ``events`` are (event name or None, JSON data) pairs."""

    status: int = 200
    events: list[tuple[str | None, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON body of an error reply
    cut_after: int | None = None  # close the socket after this many events
    delay: float = 0.0  # seconds between events
    done: bool = True  # end with "data: [DONE]" (OpenAI only)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    json: Any


M = TypeVar("M")


class SSEServer:
    """A queue of replies served over HTTP/1.1 on 127.0.0.1."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[Request] = []
        self.disconnects = 0  # streams the client closed before the end
        self._clients: list[Any] = []  # models whose connections end with the server
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def start(self) -> SSEServer:
        self._thread.start()
        return self

    def own(self, model: M) -> M:
        """Close ``model`` (its SDK client's keep-alive connections) when the server stops."""
        self._clients.append(model)
        return model

    def stop(self) -> None:
        for model in self._clients:
            model.close()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def default_reply(self) -> Reply:
        return Reply(status=500, body={"error": {"message": "no reply queued"}})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle(self) -> None:
                # the client may close a kept-alive connection at any time
                with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                    super().handle()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                server.requests.append(
                    Request(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        json.loads(raw or b"null"),
                    )
                )
                reply = server.replies.popleft() if server.replies else server.default_reply()
                if reply.status != 200:
                    self._send_error(reply)
                else:
                    self._send_stream(reply)

            def _send_error(self, reply: Reply) -> None:
                data = json.dumps(reply.body or {}).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _chunk(self, text: str) -> None:
                data = text.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _send_stream(self, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.flush()
                try:
                    for n, (event, data) in enumerate(reply.events):
                        if reply.cut_after is not None and n >= reply.cut_after:
                            self.close_connection = True
                            return  # no terminating chunk: the client sees a broken body
                        if n and reply.delay:
                            time.sleep(reply.delay)
                        head = f"event: {event}\n" if event else ""
                        self._chunk(f"{head}data: {json.dumps(data)}\n\n")
                    if reply.cut_after is not None:
                        self.close_connection = True
                        return
                    if reply.done:
                        self._chunk("data: [DONE]\n\n")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    server.disconnects += 1
                    self.close_connection = True

        return Handler


# --- OpenAI replies -----------------------------------------------------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def usage_chunk(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "test-model",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def text_events(pieces: list[str], usage: tuple[int, int] | None = None) -> list[Any]:
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [_chunk({"content": p}) for p in pieces]
    chunks.append(_chunk({}, "stop"))
    if usage:
        chunks.append(usage_chunk(*usage))
    return [(None, c) for c in chunks]


def text_reply(*pieces: str, usage: tuple[int, int] | None = None, **kw: Any) -> Reply:
    return Reply(events=text_events(list(pieces), usage), **kw)


def tool_reply(
    calls: list[tuple[str, str]],
    *,
    text: str = "",
    split: int = 7,
    usage: tuple[int, int] | None = None,
    name: str = "execute",
) -> Reply:
    """A reply with tool calls: (id, raw arguments) each, arguments split every ``split``."""
    chunks = [_chunk({"role": "assistant", "content": text or None})]
    for index, (call_id, args) in enumerate(calls):
        first = {"index": index, "id": call_id, "type": "function"}
        first["function"] = {"name": name, "arguments": ""}
        chunks.append(_chunk({"tool_calls": [first]}))
        for i in range(0, len(args), split):
            part = {"index": index, "function": {"arguments": args[i : i + split]}}
            chunks.append(_chunk({"tool_calls": [part]}))
    chunks.append(_chunk({}, "tool_calls"))
    if usage:
        chunks.append(usage_chunk(*usage))
    return Reply(events=[(None, c) for c in chunks])


def error_reply(status: int, message: str, **headers: str) -> Reply:
    return Reply(
        status=status,
        body={"error": {"message": message, "type": "test_error", "code": None}},
        headers={k.replace("_", "-"): v for k, v in headers.items()},
    )


@pytest.fixture
def openai_server() -> Iterator[SSEServer]:
    server = SSEServer().start()
    try:
        yield server
    finally:
        server.stop()
