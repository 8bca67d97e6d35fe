"""The WSGI middleware in a real WSGI server (wsgiref) on loopback: the conformance table, the
application's headers replaced, the 500 case, Flask."""

from __future__ import annotations

from pathlib import Path

import pytest

import corsguard
from conftest import CASES, POLICIES, Wsgiref, assert_case_through, case_id, policy_file, send


class Counting:
    def __init__(self) -> None:
        self.hits = 0
        self.last_path = None

    def __call__(self, environ, start_response):
        self.hits += 1
        self.last_path = environ["PATH_INFO"]
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wsgi")
    running = {}
    for name in POLICIES:
        app = Counting()
        running[name] = (Wsgiref(corsguard.WsgiCorsMiddleware(app, config=policy_file(tmp, name))), app)
    yield running
    for server, _ in running.values():
        server.stop()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_table_through_wsgiref(servers, case):
    server, app = servers[case["policy"]]
    assert_case_through(server, app, case)


def test_flask_headers_replaced_and_errors_readable(tmp: Path):
    from flask import Flask, Response

    app = Flask("corsguard-test")
    posted = []

    @app.get("/api")
    def api():
        return Response("flask", headers={"Access-Control-Allow-Origin": "*", "Vary": "Cookie"})

    @app.post("/api")
    def create():
        posted.append(1)
        return "created"

    @app.get("/boom")
    def boom():
        raise RuntimeError("the view failed")

    app.wsgi_app = corsguard.WsgiCorsMiddleware(app.wsgi_app, config=policy_file(tmp, "credentialed"))
    server = Wsgiref(app)
    try:
        reply = send(server.port, "GET", "/api", [("Origin", "https://app.example.com")])
        assert reply.status == 200 and reply.body == b"flask"
        assert reply.all("access-control-allow-origin") == ["https://app.example.com"]
        assert reply.all("vary") == ["Cookie", "Origin"]
        # Flask answers the view's exception with its own 500, which gets the headers.
        reply = send(server.port, "GET", "/boom", [("Origin", "https://app.example.com")])
        assert reply.status == 500
        assert reply.header("access-control-allow-origin") == "https://app.example.com"
        reply = send(server.port, "POST", "/api", [("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site")])
        assert reply.status == 403 and posted == []
        reply = send(server.port, "OPTIONS", "/api", [("Origin", "https://app.example.com"),
                                                      ("Access-Control-Request-Method", "PUT"),
                                                      ("Access-Control-Request-Headers", "authorization")])
        assert reply.status == 204 and reply.body == b""
        assert reply.header("access-control-allow-headers") is not None
    finally:
        server.stop()


def test_an_exception_the_application_raises_is_a_readable_500(tmp: Path):
    def app(environ, start_response):
        raise RuntimeError("no response at all")

    server = Wsgiref(corsguard.WsgiCorsMiddleware(app, config=policy_file(tmp, "credentialed")))
    try:
        reply = send(server.port, "GET", "/", [("Origin", "https://app.example.com")])
        assert reply.status == 500 and reply.body == b"Internal Server Error\n"
        assert reply.header("access-control-allow-origin") == "https://app.example.com"
        assert reply.header("access-control-allow-credentials") == "true"
        reply = send(server.port, "GET", "/", [("Origin", "https://evil.example")])
        assert reply.status == 500 and reply.header("access-control-allow-origin") is None
    finally:
        server.stop()


def test_an_invalid_policy_fails_at_start_up(tmp: Path):
    bad = tmp / "bad.toml"
    bad.write_text('[profiles.production]\norigins = ["https://app.example.com/"]\n')
    with pytest.raises(corsguard.PolicyError) as caught:
        corsguard.WsgiCorsMiddleware(Counting(), config=bad)
    assert caught.value.diagnostics[0]["code"] == "origin-has-path"
    assert f"{bad}:2:" in str(caught.value)
