"""The WSGI middleware (Flask, any WSGI application), and what Django's shares with it."""

from __future__ import annotations

import sys
import traceback
from http import HTTPStatus
from typing import Any, Callable, Iterable, List, Mapping, Tuple

from ._corsguard import Verdict
from ._source import Served, quoted

StartResponse = Callable[..., Any]
WSGIApp = Callable[[Mapping[str, Any], StartResponse], Iterable[bytes]]

_ERROR_BODY = b"Internal Server Error\n"
_ERROR_HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(_ERROR_BODY)))]
_BAD_BODY = b"bad request\n"
_BAD_HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(_BAD_BODY)))]


def environ_headers(environ: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """The request headers a WSGI environ (or Django's ``META``) holds, as name/value pairs.

    A WSGI server joins repeated headers with commas, so a repeated ``Origin`` reaches the
    engine as one malformed origin and is refused all the same."""
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").lower(), value))
        elif key == "CONTENT_TYPE" or key == "CONTENT_LENGTH":
            if value:
                headers.append((key.replace("_", "-").lower(), value))
    return headers


def environ_target(environ: Mapping[str, Any]) -> str:
    """The request's path as the client sent it (gunicorn and uWSGI keep it), else the decoded
    path escaped back."""
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if raw:
        return raw
    return quoted(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "/"))


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def str_headers(headers: Iterable[Tuple[bytes, bytes]]) -> List[Tuple[str, str]]:
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]


class WsgiCorsMiddleware(Served):
    """CORS from a corsguard policy file for a WSGI application.

    ``app.wsgi_app = WsgiCorsMiddleware(app.wsgi_app, config="corsguard.toml")`` in Flask. An
    invalid policy raises ``PolicyError`` here, at start-up. Behaves as ``CorsMiddleware``
    (ASGI) does: preflights and refusals answered without calling the application, the
    application's ``Access-Control-*`` headers replaced, ``Vary`` merged, and an exception in the
    application answered with a 500 that an allowed page can read (the traceback goes to
    ``wsgi.errors``).
    """

    app: WSGIApp

    def __call__(self, environ: Mapping[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            verdict: Verdict = self.handle.evaluate(
                environ.get("REQUEST_METHOD", "GET"), environ_target(environ), environ_headers(environ)
            )
        except ValueError:
            start_response("400 Bad Request", list(_BAD_HEADERS))
            return [_BAD_BODY]
        answer = verdict.answer()
        if answer is not None:
            status, headers, body = answer
            start_response(status_line(status), str_headers(headers))
            return [body]

        def start_response_with_cors(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Any:
            headers = verdict.apply_str(headers)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start_response_with_cors)
        except Exception:
            errors = environ.get("wsgi.errors", sys.stderr)
            errors.write(traceback.format_exc())
            start_response("500 Internal Server Error", verdict.apply_str(_ERROR_HEADERS), sys.exc_info())
            return [_ERROR_BODY]


__all__ = ["WsgiCorsMiddleware"]
