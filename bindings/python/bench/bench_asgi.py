"""The ASGI middleware against Starlette's CORSMiddleware with the same policy and against the
bare application, in one run: added cost per allowed request and per preflight, with 1 and
10,000 allowed origins (see BENCHMARKS.md, "Python: ASGI middleware").

Each stack is called directly with a scope, receive and send, in one event loop: no server, no
network, so what is measured is the middleware. The allowed origin is the last of the list.

    target/python-venv/bin/python bindings/python/bench/bench_asgi.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from starlette.middleware.cors import CORSMiddleware as StarletteCORS

import corsguard

ROUNDS = 7
CALLS = 20_000
METHODS = ["GET", "POST", "PUT"]
HEADERS = ["Content-Type", "Authorization"]


async def bare(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}


async def sink(message):
    pass


def origins(n):
    return [f"https://app{i}.example.com" for i in range(n)]


def policy_file(directory: Path, allowed):
    listed = ", ".join(f'"{o}"' for o in allowed)
    path = directory / f"bench-{len(allowed)}.toml"
    path.write_text(
        "[profiles.production]\n"
        f"origins = [{listed}]\n"
        'methods = ["GET", "POST", "PUT"]\n'
        'allow_headers = ["Content-Type", "Authorization"]\n'
        'expose_headers = ["X-Request-Id"]\n'
        "credentials = true\n"
        "max_age = 600\n"
    )
    return path


def scope(method, origin, extra=()):
    headers = [
        (b"host", b"api.example.com"),
        (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0"),
        (b"accept", b"*/*"),
        (b"accept-encoding", b"gzip, deflate, br"),
        (b"origin", origin.encode()),
        *extra,
    ]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": "/api/items", "raw_path": b"/api/items", "query_string": b"",
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}


async def per_call_ns(app, request):
    best = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(CALLS):
            await app(request, receive, sink)
        best.append((time.perf_counter_ns() - start) / CALLS)
    return statistics.median(best)


async def check(app, request, want_status):
    sent = []

    async def record(message):
        sent.append(message)

    await app(request, receive, record)
    assert sent[0]["status"] == want_status, (app, sent[0])
    names = [n.lower() for n, _ in sent[0]["headers"]]
    assert b"access-control-allow-origin" in names, sent[0]


async def main():
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'stack':<34}{'origins':>8}{'GET ns':>10}{'added':>9}{'preflight ns':>14}{'added':>9}")
        bare_get = await per_call_ns(bare, scope("GET", "https://app0.example.com"))
        for n in (1, 10_000):
            allowed = origins(n)
            last = allowed[-1]
            get = scope("GET", last)
            preflight = scope("OPTIONS", last, [(b"access-control-request-method", b"PUT"),
                                                (b"access-control-request-headers", b"authorization,content-type")])
            stacks = {
                "corsguard.CorsMiddleware": corsguard.CorsMiddleware(bare, config=policy_file(Path(tmp), allowed)),
                "starlette CORSMiddleware": StarletteCORS(bare, allow_origins=allowed, allow_methods=METHODS,
                                                          allow_headers=HEADERS, expose_headers=["X-Request-Id"],
                                                          allow_credentials=True, max_age=600),
            }
            for name, app in stacks.items():
                await check(app, get, 200)
                await check(app, preflight, 204 if name.startswith("corsguard") else 200)
                get_ns = await per_call_ns(app, get)
                pre_ns = await per_call_ns(app, preflight)
                # A preflight never reaches the application, so its whole time is added cost.
                print(f"{name:<34}{n:>8}{get_ns:>10.0f}{get_ns - bare_get:>9.0f}{pre_ns:>14.0f}{pre_ns:>9.0f}")
        print(f"{'bare application':<34}{'':>8}{bare_get:>10.0f}")


if __name__ == "__main__":
    asyncio.run(main())
