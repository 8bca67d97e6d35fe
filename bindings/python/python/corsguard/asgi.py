"""The ASGI middleware (Starlette, FastAPI, any ASGI application)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, MutableMapping

from ._source import Served, quoted

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ERROR_BODY = b"Internal Server Error\n"
_ERROR_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_ERROR_BODY)).encode()),
]
_BAD_BODY = b"bad request\n"
_BAD_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", str(len(_BAD_BODY)).encode()),
]


def _target(scope: Scope) -> str:
    raw = scope.get("raw_path")
    if raw:
        return raw.decode("latin-1")
    return quoted(scope.get("root_path", "") + scope.get("path", "/"))


class CorsMiddleware(Served):
    """CORS from a corsguard policy file for an ASGI application.

    ``app.add_middleware(CorsMiddleware, config="corsguard.toml")`` in Starlette and FastAPI,
    or ``CorsMiddleware(app, config=...)`` around any ASGI application. An invalid policy
    raises ``PolicyError`` here, at start-up.

    Preflights are answered (204 or 403) without calling the application; so are cross-origin
    unsafe requests from untrusted origins (403) and WebSocket handshakes from origins the
    policy does not allow. Every other response, the application's errors included, gets the
    policy's CORS headers in place of the application's own, with ``Vary`` merged.
    """

    app: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            verdict = self.handle.evaluate(scope["method"], _target(scope), scope["headers"])
        except ValueError:
            # A method, path or header no HTTP server accepts: what the gateway's parser answers.
            await send({"type": "http.response.start", "status": 400, "headers": _BAD_HEADERS})
            await send({"type": "http.response.body", "body": _BAD_BODY})
            return
        answer = verdict.answer()
        if answer is not None:
            status, headers, body = answer
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        started = False

        async def send_with_cors(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = dict(message)
                message["headers"] = verdict.apply(message.get("headers", ()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_cors)
        except Exception:
            # Starlette's error handler sits outside every user middleware, so its 500 would
            # carry no CORS headers and the page would see a CORS error instead. Answer it here
            # and re-raise, so that the server still logs the exception.
            if not started:
                await send({"type": "http.response.start", "status": 500, "headers": verdict.apply(_ERROR_HEADERS)})
                await send({"type": "http.response.body", "body": _ERROR_BODY})
            raise

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = list(scope["headers"])
        # A WebSocket scope is a handshake even when no Upgrade header carried it (HTTP/2's
        # extended CONNECT): the engine checks its origin as it checks the gateway's.
        if not any(bytes(name).lower() == b"upgrade" for name, _ in headers):
            headers.append((b"upgrade", b"websocket"))
        try:
            verdict = self.handle.evaluate("GET", _target(scope), headers)
        except ValueError:
            await receive()
            await send({"type": "websocket.close", "code": 1008})
            return
        answer = verdict.answer()
        if answer is not None:
            message = await receive()
            if message.get("type") != "websocket.connect":
                return
            status, headers, body = answer
            if "websocket.http.response" in scope.get("extensions", {}):
                await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
                await send({"type": "websocket.http.response.body", "body": body})
            else:
                # Closing before accepting is the server's 403.
                await send({"type": "websocket.close", "code": 1008})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] in ("websocket.accept", "websocket.http.response.start"):
                message = dict(message)
                message["headers"] = verdict.apply(message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, send_with_cors)


__all__ = ["CorsMiddleware"]
