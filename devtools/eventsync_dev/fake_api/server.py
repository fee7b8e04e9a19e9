"""A real HTTP server imitating Luma and Eventee on one port, with fault injection.

Built for speed as well as realism: keep-alive, TCP_NODELAY, and each response written
with a single send, so a 200k-guest benchmark measures the client, not this server.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import sys
import threading
import time
import traceback
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import routes
from .data import Dataset
from .faults import Faults

Headers = dict[str, str]
Response = tuple[int, bytes, str, Headers]
JSON = "application/json"
LUMA_API_KEY = "luma-test-key"
"""The one Luma key the fake accepts unless told another (the fake's, not a secret)."""
EVENTEE_API_TOKEN = "eventee-test-token"
"""Likewise, Eventee's one token."""


def _json(status: int, payload: Any, headers: Headers | None = None) -> Response:
    if isinstance(payload, bytes):  # already serialised (fast path for guest pages)
        return status, payload, JSON, headers or {}
    body = json.dumps(payload, separators=(",", ":")).encode()
    return status, body, JSON, headers or {}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hang stop()
    api: FakeApi

    def __init__(self, address: tuple[str, int], api: FakeApi) -> None:
        self.api = api
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-api"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self.server.api._serve(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.api.verbose:
            super().log_message(format, *args)


class FakeApi:
    """Both fake vendors on 127.0.0.1; start(), or use as a context manager."""

    def __init__(
        self,
        dataset: Dataset | None = None,
        luma_api_key: str = LUMA_API_KEY,
        eventee_api_token: str = EVENTEE_API_TOKEN,
        faults: Faults | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        verbose: bool = False,
    ) -> None:
        self.dataset = dataset if dataset is not None else Dataset()
        self.luma_api_key = luma_api_key
        self.eventee_api_token = eventee_api_token
        self.faults = faults if faults is not None else Faults()
        self.host, self._port, self.verbose = host, port, verbose
        self.counts: Counter[str] = Counter()
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.ok_total = 0  # 2xx answered since start/reset_counts(), for drop_connection_after
        self.intervals: list[tuple[float, float]] = []
        """(start, end) of every answer, by time.monotonic(): shows requests served at once."""
        self._lock = threading.Lock()
        self._waiting = 0
        self._met = threading.Condition()
        self._windows: dict[str, list[float]] = {}  # key -> [window_start, used, blocked_until]
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeApi:
        if self._server is None:
            self._server = _Server((self.host, self._port), self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # stop() waits up to one interval
                name="fake-api",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open keep-alive connections, so clients see the server gone."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with server.sockets_lock:
            for sock in list(server.open_sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeApi:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeApi is not started")
        return int(self._server.server_address[1])

    @property
    def luma_base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def eventee_base_url(self) -> str:
        return f"http://{self.host}:{self.port}/public/v1"

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.statuses.clear()
            self.intervals.clear()
            self.ok_total = 0

    # -- request handling -----------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        started = time.monotonic()
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)  # keep the keep-alive stream in sync
        path, _, raw_query = handler.path.partition("?")
        path = urlsplit(path).path
        with self._lock:
            self.counts[path] += 1
        try:
            response = self._respond(handler.command, path, parse_qs(raw_query), handler)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = _json(500, {"message": "Internal server error"})
        if response is None:  # dropped: close without a byte of answer
            handler.close_connection = True
            return
        status, body, ctype, headers = response
        head = [f"HTTP/1.1 {status} {_phrase(status)}", f"Content-Type: {ctype}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        if handler.close_connection:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if handler.command != "HEAD":
            data += body
        with self._lock:
            self.statuses[(path, status)] += 1
            if 200 <= status < 300:
                self.ok_total += 1
        trickle = self.faults.trickle_bytes_per_second
        try:
            if trickle > 0 and Faults.matches(path, self.faults.slow_paths):
                self._trickle(handler, data, trickle)
            else:
                handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # client gave up; not our error
            handler.close_connection = True
            return
        with self._lock:
            self.intervals.append((started, time.monotonic()))
        if self.verbose:
            handler.log_request(status, len(body))

    def _respond(
        self, method: str, path: str, query: routes.Query, handler: _Handler
    ) -> Response | None:
        f = self.faults
        headers: Headers = {}
        if control := routes.CONTROL.get(path):
            if method != "POST":
                return _json(405, {"message": "Method not allowed"})
            try:
                return _json(*control(self.dataset, f, query))
            except routes.BadRequest as err:
                return _json(400, {"message": str(err)})
        luma = path.startswith("/v1/")
        if luma:
            key = handler.headers.get("x-luma-api-key")
            if not key:
                return _json(400, {"message": "Missing x-luma-api-key header"})
            if key != self.luma_api_key:
                return _json(401, {"message": "Invalid API key"})
            if f.luma_rate_limit > 0:
                limited, headers = self._rate_limit(key)
                if limited:
                    return _json(429, {"message": "rate limited"}, headers)
        elif path.startswith("/public/v1/") and (
            handler.headers.get("Authorization") != f"Bearer {self.eventee_api_token}"
        ):
            return _json(401, {"error": "token_invalid"})

        if 0 <= f.drop_connection_after <= self.ok_total:
            return None
        if f.meet_at_once > 0:
            self._meet(f)
        if f.take("rate_limit_429"):
            after = str(max(0, math.ceil(f.retry_after)))
            return _json(429, {"message": "rate limited"}, {**headers, "Retry-After": after})
        if Faults.matches(path, f.burst_paths) and f.take("status_burst"):
            return _json(f.burst_status, {"message": _phrase(f.burst_status)}, headers)
        slow = f.slow_seconds > 0 and Faults.matches(path, f.slow_paths)
        if slow and (f.slow_count < 0 or f.take("slow_count")):
            time.sleep(f.slow_seconds)

        route = (routes.LUMA if luma else routes.EVENTEE).get(path)
        if route is None:
            response = _json(404, {"message": "Not found"}, headers)
        elif method not in ("GET", "HEAD"):
            response = _json(405, {"message": "Method not allowed"}, headers)
        else:
            try:
                status, payload = route(self.dataset, f, query)
            except routes.BadRequest as err:
                status, payload = 400, {"message": str(err)}
            response = _json(status, payload, headers)

        if Faults.matches(path, f.wrong_shape_paths) and f.take("wrong_shape"):
            return _json(200, json.dumps(f.wrong_shape_body).encode(), headers)
        if f.take("non_json"):
            return 200, b"<html>oops</html>", "text/html; charset=utf-8", headers
        if f.take("truncate_json"):
            status, body, ctype, headers = response
            return status, body[: len(body) // 2], ctype, headers
        return response

    @staticmethod
    def _trickle(handler: _Handler, data: bytes, per_second: float) -> None:
        """Headers at once, then the body a byte at a time (each read on the client succeeds)."""
        head, _, body = data.partition(b"\r\n\r\n")
        handler.wfile.write(head + b"\r\n\r\n")
        for i in range(len(body)):
            handler.wfile.write(body[i : i + 1])
            handler.wfile.flush()
            time.sleep(1 / per_second)

    def _meet(self, f: Faults) -> None:
        with self._met:
            self._waiting += 1
            if self._waiting >= f.meet_at_once:
                f.meet_at_once = 0
                self._met.notify_all()
            else:
                self._met.wait_for(lambda: f.meet_at_once == 0, timeout=60)
            self._waiting -= 1

    def _rate_limit(self, key: str) -> tuple[bool, Headers]:
        """Luma's documented limit: a budget per window per key, then a block with 429s."""
        f, now = self.faults, time.monotonic()
        limit, window = f.luma_rate_limit, f.luma_rate_window
        with self._lock:
            state = self._windows.get(key)
            blocked = bool(state and state[2])
            if state is None or (now >= state[2] if blocked else now - state[0] >= window):
                state = self._windows[key] = [now, 0.0, 0.0]  # fresh window, or block over
            if state[2]:
                limited = True
            else:
                state[1] += 1
                limited = state[1] > limit
                if limited:
                    state[2] = now + f.luma_block_seconds
            ends = state[2] if limited else state[0] + window
            headers = {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(max(0, limit - int(state[1]))),
                "X-RateLimit-Reset": str(max(0, math.ceil(ends - now))),
            }
        if limited:
            headers["Retry-After"] = str(max(1, math.ceil(state[2] - now)))
        return limited, headers
