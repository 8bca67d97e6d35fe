"""The Django middleware: ``"corsguard.django.CorsMiddleware"`` in ``settings.MIDDLEWARE``.

Settings: ``CORSGUARD_CONFIG``, the policy file's path (required), and ``CORSGUARD_PROFILE``,
the profile (optional; else the file's ``default_profile`` or only profile). Put it first in
``MIDDLEWARE``, before anything that can answer a request (``CommonMiddleware``'s redirects,
authentication), so that preflights and refusals are answered before them and their answers get
the policy's headers.
"""

from __future__ import annotations

from typing import Any, Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from ._corsguard import Policy, PolicyHandle, Verdict
from ._source import handle_for
from .wsgi import environ_headers


class CorsMiddleware:
    """CORS from the policy file ``settings.CORSGUARD_CONFIG``. The file is read when Django
    loads its middleware (at start-up), and an invalid one raises ``PolicyError`` then."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        config = getattr(settings, "CORSGUARD_CONFIG", None)
        if config is None:
            raise ImproperlyConfigured("corsguard.django.CorsMiddleware needs settings.CORSGUARD_CONFIG, a policy file's path")
        self.get_response = get_response
        self.handle: PolicyHandle = handle_for(config, getattr(settings, "CORSGUARD_PROFILE", None))

    @property
    def policy(self) -> Policy:
        """The policy serving now."""
        return self.handle.current

    def reload(self, path: Any = None) -> Policy:
        """Reads the policy file again (see ``PolicyHandle.reload``)."""
        return self.handle.reload(path)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            verdict: Verdict = self.handle.evaluate(request.method or "GET", request.get_full_path(), environ_headers(request.META))
        except ValueError:
            return HttpResponse(b"bad request\n", status=400, content_type="text/plain; charset=utf-8")
        answer = verdict.answer()
        if answer is not None:
            status, headers, body = answer
            response = HttpResponse(body, status=status)
            del response["Content-Type"]
            for name, value in headers:
                response[name.decode("latin-1")] = value.decode("latin-1")
            return response
        # Django turns the view's exceptions into responses (a 500) inside get_response, so
        # that response gets the CORS headers here like any other.
        response = self.get_response(request)
        merged: dict[str, str] = {}
        for name, value in verdict.apply_str(list(response.items())):
            # Django keeps one value per header name: repeated ones (Vary) are joined.
            merged[name] = f"{merged[name]}, {value}" if name in merged else value
        for name in list(response.headers):
            del response.headers[name]
        for name, value in merged.items():
            response.headers[name] = value
        return response


__all__ = ["CorsMiddleware"]
