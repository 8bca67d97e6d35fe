"""What the suites share: the engine's conformance table, loopback servers, a raw HTTP client."""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
import tomllib
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parents[3]
TABLE_PATH = REPO / "crates" / "test-support" / "data" / "conformance.toml"


def load_table() -> Dict[str, Any]:
    with open(TABLE_PATH, "rb") as f:
        return tomllib.load(f)


TABLE = load_table()
CASES = TABLE["cases"]
POLICIES: Dict[str, str] = TABLE["policies"]


def case_id(case: Dict[str, Any]) -> str:
    return case["name"]


def cors_headers(headers: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """The headers a case's ``expect`` lists, in order: CORS, Vary, corsguard-reason."""
    out = []
    for name, value in headers:
        name = name.lower()
        if name.startswith("access-control-") or name in ("vary", "corsguard-reason"):
            out.append((name, value))
    return out


def expected(case: Dict[str, Any]) -> List[Tuple[str, str]]:
    return [(n, v) for n, v in case.get("expect", [])]


def policy_file(tmp: Path, name: str) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(POLICIES[name])
    return path


class Reply:
    def __init__(self, status: int, headers: List[Tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> Optional[str]:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> List[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]


def send(port: int, method: str, path: str, headers: List[Tuple[str, str]], body: bytes = b"") -> Reply:
    """One request with exactly ``headers`` (Host only if given, else the server's), in order."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if not any(n.lower() == "host" for n, _ in headers):
            conn.putheader("Host", f"127.0.0.1:{port}")
        for name, value in headers:
            conn.putheader(name, value)
        if body:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, response.getheaders(), data)
    finally:
        conn.close()


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class Uvicorn:
    """A real uvicorn server on loopback, in a thread."""

    def __init__(self, app: Any, ws: str = "none") -> None:
        import uvicorn

        self.sock = free_socket()
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, ws=ws, lifespan="off", log_level="critical", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


class Wsgiref:
    """A real wsgiref server on loopback, in a thread."""

    def __init__(self, app: Callable[..., Any]) -> None:
        from wsgiref.simple_server import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

        self.server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def corsguard_bin() -> str:
    """The corsguard binary, for comparing with ``explain`` and ``check`` (scripts/test builds
    it; CORSGUARD_BIN names another)."""
    path = os.environ.get("CORSGUARD_BIN") or str(REPO / "target" / "debug" / "corsguard")
    assert os.access(path, os.X_OK), f"{path} is missing: build it with `cargo build -p corsguard-cli`"
    return path


def assert_case_through(server: Any, app: Any, case: Dict[str, Any]) -> None:
    """Sends one conformance case to `server`, whose application `app` counts its hits and keeps
    the last path, and holds the answer to the table: reached the application or not, exactly
    the expected CORS and Vary headers, and the application's answer or corsguard's status."""
    before = app.hits
    reply = send(server.port, case["method"], case["path"], [(n, v) for n, v in case.get("headers", [])])
    forwarded = app.hits == before + 1
    assert forwarded == case["forwarded"]
    assert cors_headers(reply.headers) == expected(case)
    if forwarded:
        assert (reply.status, reply.body) == (200, b"ok")
        assert app.last_path == case["path"]
    else:
        assert reply.status == case["status"]
