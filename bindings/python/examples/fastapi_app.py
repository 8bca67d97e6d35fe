"""An example FastAPI application behind corsguard.

    pip install ./bindings/python fastapi uvicorn
    python bindings/python/examples/fastapi_app.py --port 8000

The policy is examples/corsguard.toml beside this file (CORSGUARD_CONFIG names another).
Send SIGHUP to reload it; an invalid file is refused and the old policy keeps serving.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from fastapi import FastAPI, Request, Response, WebSocket

import corsguard

CONFIG = os.environ.get("CORSGUARD_CONFIG", str(Path(__file__).with_name("corsguard.toml")))

# One handle, so that the signal handler below can reload what the middleware serves.
policy = corsguard.PolicyHandle.from_file(CONFIG)

app = FastAPI()

# How many requests reached the application: the browser test reads it to tell what corsguard
# answered itself from what it let through.
hits = {"count": 0}


@app.middleware("http")
async def count(request: Request, call_next):
    if request.url.path != "/hits":
        hits["count"] += 1
    return await call_next(request)


# Added last, so outermost: preflights and refusals are answered before the counter above.
app.add_middleware(corsguard.CorsMiddleware, config=policy)


@app.get("/hits")
def read_hits():
    return hits


@app.get("/api/items")
def items(response: Response):
    response.headers["X-Request-Id"] = "req-42"
    response.headers["X-Internal"] = "not exposed"
    # Stale CORS headers an application may still set: corsguard replaces them.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return ["apple", "pear"]


@app.put("/echo")
async def echo(request: Request):
    return Response(await request.body(), media_type="application/json")


@app.post("/api/items")
async def create(request: Request):
    return {"created": (await request.body()).decode()}


@app.get("/boom")
def boom():
    raise RuntimeError("something broke")


@app.websocket("/ws")
async def ws(socket: WebSocket):
    await socket.accept()
    await socket.send_text(await socket.receive_text())
    await socket.close()


def reload(signum, frame):
    try:
        policy.reload()
        print("corsguard: policy reloaded", file=sys.stderr)
    except corsguard.PolicyError as e:
        print(f"corsguard: reload refused, the old policy keeps serving\n{e}", file=sys.stderr)


if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    signal.signal(signal.SIGHUP, reload)
    # Loopback only: this is an example.
    uvicorn.run(app, host="127.0.0.1", port=args.port, ws="websockets-sansio", log_level="warning")
