"""The ASGI middleware in real uvicorn on loopback: the conformance table, the application's
headers replaced, the 500 case, WebSocket handshakes, Starlette and FastAPI."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import corsguard
from conftest import CASES, POLICIES, Uvicorn, assert_case_through, case_id, cors_headers, policy_file, send


class Counting:
    """An ASGI application that answers "ok" and counts the requests that reach it."""

    def __init__(self) -> None:
        self.hits = 0
        self.last_path = None

    async def __call__(self, scope, receive, send):
        assert scope["type"] == "http"
        self.hits += 1
        self.last_path = scope["path"]
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("asgi")
    running = {}
    for name in POLICIES:
        app = Counting()
        server = Uvicorn(corsguard.CorsMiddleware(app, config=policy_file(tmp, name)))
        running[name] = (server, app)
    yield running
    for server, _ in running.values():
        server.stop()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_table_through_uvicorn(servers, case):
    server, app = servers[case["policy"]]
    assert_case_through(server, app, case)


def stale_headers_app(status=200):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"text/plain"),
            (b"access-control-allow-origin", b"*"),
            (b"Access-Control-Allow-Origin", b"https://other.example"),
            (b"access-control-allow-methods", b"DELETE"),
            (b"vary", b"Accept-Encoding"),
        ]})
        await send({"type": "http.response.body", "body": b"app"})
    return app


def test_the_applications_cors_headers_are_replaced(tmp: Path):
    server = Uvicorn(corsguard.CorsMiddleware(stale_headers_app(), config=policy_file(tmp, "credentialed")))
    try:
        reply = send(server.port, "GET", "/api", [("Origin", "https://app.example.com")])
        assert reply.status == 200 and reply.body == b"app"
        assert reply.all("access-control-allow-origin") == ["https://app.example.com"]
        assert reply.all("access-control-allow-methods") == []
        assert reply.header("access-control-allow-credentials") == "true"
        assert reply.all("vary") == ["Accept-Encoding", "Origin"]
        # A foreign origin gets none of the application's CORS headers either.
        reply = send(server.port, "GET", "/api", [("Origin", "https://evil.example")])
        assert reply.status == 200
        assert [n for n, _ in cors_headers(reply.headers)] == ["vary", "vary"]
    finally:
        server.stop()


def test_an_exception_in_the_application_is_a_readable_500(tmp: Path):
    from starlette.applications import Starlette
    from starlette.routing import Route

    async def boom(request):
        raise RuntimeError("the application failed")

    app = Starlette(routes=[Route("/boom", boom)])
    app.add_middleware(corsguard.CorsMiddleware, config=policy_file(tmp, "credentialed"))
    server = Uvicorn(app)
    try:
        reply = send(server.port, "GET", "/boom", [("Origin", "https://app.example.com")])
        assert reply.status == 500
        assert reply.header("access-control-allow-origin") == "https://app.example.com"
        assert reply.header("access-control-allow-credentials") == "true"
        assert reply.body == b"Internal Server Error\n"
        # The server survives to answer the next request.
        reply = send(server.port, "OPTIONS", "/boom", [("Origin", "https://app.example.com"),
                                                       ("Access-Control-Request-Method", "PUT")])
        assert reply.status == 204
    finally:
        server.stop()


def test_fastapi_add_middleware(tmp: Path):
    from fastapi import FastAPI

    app = FastAPI()
    calls = []

    @app.post("/items")
    def create():
        calls.append(1)
        return {"ok": True}

    @app.get("/items")
    def list_items():
        return {"items": []}

    app.add_middleware(corsguard.CorsMiddleware, config=policy_file(tmp, "defaults"))
    server = Uvicorn(app)
    try:
        reply = send(server.port, "GET", "/items", [("Origin", "https://app.example.com")])
        assert reply.status == 200 and reply.body == b'{"items":[]}'
        assert reply.header("access-control-allow-origin") == "https://app.example.com"
        # A cross-origin unsafe request from an untrusted origin never reaches the view.
        reply = send(server.port, "POST", "/items", [("Origin", "https://evil.example"), ("Content-Type", "text/plain")],
                     b"x")
        assert reply.status == 403 and calls == []
        assert reply.header("corsguard-reason") == "cross-origin-request"
        assert reply.body == b"cross-origin request refused\n"
        reply = send(server.port, "POST", "/items", [("Origin", "https://app.example.com")], b"{}")
        assert reply.status == 200 and calls == [1]
    finally:
        server.stop()


def test_an_invalid_policy_fails_at_start_up(tmp: Path):
    bad = tmp / "bad.toml"
    bad.write_text('[profiles.production]\norigins = ["*"]\ncredentials = true\n')
    with pytest.raises(corsguard.PolicyError) as caught:
        corsguard.CorsMiddleware(Counting(), config=bad)
    assert [d["code"] for d in caught.value.diagnostics][0] == "wildcard-with-credentials"
    from starlette.applications import Starlette

    app = Starlette()
    app.add_middleware(corsguard.CorsMiddleware, config=bad)
    # Starlette builds its middleware stack on the first call (lifespan, at start-up).
    with pytest.raises(corsguard.PolicyError):
        app.build_middleware_stack()


def test_other_scopes_pass_through(tmp: Path):
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    middleware = corsguard.CorsMiddleware(app, config=policy_file(tmp, "defaults"))
    asyncio.run(middleware({"type": "lifespan"}, None, None))
    assert seen == ["lifespan"]


def websocket_app():
    async def app(scope, receive, send):
        if scope["type"] != "websocket":
            return
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept", "headers": [(b"access-control-allow-origin", b"*")]})
        message = await receive()
        await send({"type": "websocket.send", "text": "echo:" + message.get("text", "")})
        await send({"type": "websocket.close"})
    return app


@pytest.mark.parametrize("ws", ["websockets-sansio", "wsproto"])
def test_websocket_handshakes_are_checked_by_origin(tmp: Path, ws):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    server = Uvicorn(corsguard.CorsMiddleware(websocket_app(), config=policy_file(tmp, "defaults")), ws=ws)
    try:
        url = f"ws://127.0.0.1:{server.port}/ws"
        with connect(url, origin="https://app.example.com") as conn:
            conn.send("hi")
            assert conn.recv(timeout=5) == "echo:hi"
            assert conn.response.headers.get_all("access-control-allow-origin") == ["https://app.example.com"]
        with connect(url) as conn:  # no Origin: not a browser
            conn.send("cli")
            assert conn.recv(timeout=5) == "echo:cli"
        for origin in ["https://evil.example.net", "null", "http://app.example.com", "https://app.example.com.evil.net"]:
            with pytest.raises(InvalidStatus) as refused:
                connect(url, origin=origin)
            assert refused.value.response.status_code == 403, origin
    finally:
        server.stop()


def test_a_refused_websocket_gets_the_reason_when_the_server_can_say_it(tmp: Path):
    # uvicorn's websockets-sansio implementation supports the websocket.http.response
    # extension, so the refusal is the gateway's 403 with its headers.
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    server = Uvicorn(corsguard.CorsMiddleware(websocket_app(), config=policy_file(tmp, "defaults")), ws="websockets-sansio")
    try:
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{server.port}/ws", origin="https://evil.example.net")
        response = refused.value.response
        assert response.status_code == 403
        assert response.headers.get("corsguard-reason") == "websocket-origin-not-allowed"
        assert response.headers.get("vary") == "Origin"
    finally:
        server.stop()
