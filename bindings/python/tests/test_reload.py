"""Reload at run time (an invalid file refused, the old policy serving on) and bad policies
(``PolicyError.diagnostics`` is ``corsguard check --format json``'s list)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import corsguard
from conftest import Uvicorn, Wsgiref, send

GOOD = '[profiles.development]\norigins = ["https://app.example.com"]\n'
NEXT = '[profiles.development]\norigins = ["https://next.example.com"]\n'
BAD = '[profiles.development]\norigins = ["https://next.example.com/"]\n'


async def asgi_ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def wsgi_ok(environ, start_response):
    start_response("200 OK", [])
    return [b"ok"]


def acao(port, origin):
    return send(port, "GET", "/", [("Origin", origin)]).header("access-control-allow-origin")


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
def test_reload_swaps_the_policy_and_refuses_an_invalid_file(tmp: Path, kind):
    path = tmp / "corsguard.toml"
    path.write_text(GOOD)
    if kind == "asgi":
        middleware = corsguard.CorsMiddleware(asgi_ok, config=path)
        server = Uvicorn(middleware)
    else:
        middleware = corsguard.WsgiCorsMiddleware(wsgi_ok, config=path)
        server = Wsgiref(middleware)
    try:
        assert acao(server.port, "https://app.example.com") == "https://app.example.com"
        path.write_text(BAD)
        with pytest.raises(corsguard.PolicyError) as caught:
            middleware.reload()
        assert caught.value.diagnostics[0]["code"] == "origin-has-path"
        # The old policy keeps serving.
        assert acao(server.port, "https://app.example.com") == "https://app.example.com"
        path.write_text(NEXT)
        assert middleware.reload().profile == "development"
        assert acao(server.port, "https://next.example.com") == "https://next.example.com"
        assert acao(server.port, "https://app.example.com") is None
    finally:
        server.stop()


def test_one_handle_shared_by_two_middleware(tmp: Path):
    path = tmp / "corsguard.toml"
    path.write_text(GOOD)
    handle = corsguard.PolicyHandle.from_file(path)
    asgi = corsguard.CorsMiddleware(asgi_ok, config=handle)
    wsgi = corsguard.WsgiCorsMiddleware(wsgi_ok, config=handle)
    handle.reload_toml(NEXT)
    assert asgi.policy.decide("GET", "/", {"Origin": "https://next.example.com"})["allowed"]
    assert wsgi.policy.decide("GET", "/", {"Origin": "https://next.example.com"})["allowed"]
    with pytest.raises(corsguard.PolicyError):
        handle.reload_toml(BAD)
    assert handle.current.decide("GET", "/", {"Origin": "https://next.example.com"})["allowed"]
    handle.replace(corsguard.Policy.from_toml(GOOD))
    assert asgi.policy.decide("GET", "/", {"Origin": "https://app.example.com"})["allowed"]
    with pytest.raises(ValueError):
        corsguard.PolicyHandle(corsguard.Policy.from_toml(GOOD)).reload()
    assert handle.path == path


BAD_POLICIES = {
    "wildcard with credentials": '[policy]\norigins = ["*"]\ncredentials = true\n',
    "several problems": '[profiles.production]\norigins = ["http://localhost:3000", "https://*.com", "null"]\n'
                        'methods = ["TRACE", "G ET"]\nallow_headers = ["Cookie"]\nmax_age = 999999\n',
    "unknown key": '[policy]\norigin = ["https://app.example.com"]\n',
    "not TOML": "[policy\norigins = 3\n",
}


@pytest.mark.parametrize("name", BAD_POLICIES)
def test_policy_error_diagnostics_are_what_check_prints(corsguard_bin, tmp: Path, name):
    path = tmp / "bad.toml"
    path.write_text(BAD_POLICIES[name])
    run = subprocess.run([corsguard_bin, "check", "--format", "json", str(path)], capture_output=True, text=True)
    checked = json.loads(run.stdout)
    with pytest.raises(corsguard.PolicyError) as from_file:
        corsguard.Policy.from_file(path)
    with pytest.raises(corsguard.PolicyError) as from_toml:
        corsguard.Policy.from_toml(BAD_POLICIES[name])
    assert from_file.value.diagnostics == checked["diagnostics"]
    assert from_toml.value.diagnostics == checked["diagnostics"]
    assert isinstance(from_file.value, ValueError)
    # The message is check's human report, pointing into the file.
    first = checked["diagnostics"][0]
    assert f"error[{first['code']}]" in str(from_file.value)
    if first["line"] is not None:
        assert f"{path}:{first['line']}:" in str(from_file.value)


def test_an_unreadable_file_is_a_policy_error(tmp: Path):
    with pytest.raises(corsguard.PolicyError) as caught:
        corsguard.Policy.from_file(tmp / "missing.toml")
    assert caught.value.diagnostics[0]["code"] == "parse-error"
    with pytest.raises(TypeError):
        corsguard.CorsMiddleware(asgi_ok)
