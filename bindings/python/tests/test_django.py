"""The Django middleware through Django's test client: the conformance table, views' headers
replaced, the 500 case, settings."""

from __future__ import annotations

from pathlib import Path

import django
import pytest
from django.conf import settings

from conftest import CASES, POLICIES, case_id, cors_headers, expected, policy_file

HITS = []

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["corsguard.django.CorsMiddleware"],
    SECRET_KEY="corsguard-tests",
    LOGGING_CONFIG=None,
)
django.setup()

from django.http import HttpResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import re_path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

import corsguard  # noqa: E402


@csrf_exempt
def ok(request):
    HITS.append(request.path)
    return HttpResponse("ok", content_type="text/plain")


def stale(request):
    response = HttpResponse("django")
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Expose-Headers"] = "X-Secret"
    response["Vary"] = "Cookie"
    return response


def boom(request):
    raise RuntimeError("the view failed")


urlpatterns = [re_path(r"^stale$", stale), re_path(r"^boom$", boom), re_path(r".*", ok)]


def meta(headers):
    out = {}
    for name, value in headers:
        key = name.upper().replace("-", "_")
        out[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    return out


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_table_through_the_test_client(tmp: Path, case):
    with override_settings(CORSGUARD_CONFIG=str(policy_file(tmp, case["policy"]))):
        client = Client(raise_request_exception=True)
        headers = meta(case.get("headers", []))
        extra = {"SERVER_NAME": "127.0.0.1"}
        before = len(HITS)
        response = client.generic(case["method"], case["path"], **extra, **headers)
    forwarded = len(HITS) == before + 1
    assert forwarded == case["forwarded"]
    want = expected(case)
    assert cors_headers(list(response.items())) == want
    assert response.status_code == (200 if forwarded else case["status"])


def test_views_headers_replaced_and_errors_readable(tmp: Path):
    with override_settings(CORSGUARD_CONFIG=str(policy_file(tmp, "credentialed")), CORSGUARD_PROFILE="production"):
        client = Client(raise_request_exception=False)
        response = client.get("/stale", HTTP_ORIGIN="https://app.example.com")
        assert response.status_code == 200 and response.content == b"django"
        assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert response["Access-Control-Expose-Headers"] == "X-Request-Id"
        assert response["Vary"] == "Cookie, Origin"
        response = client.get("/boom", HTTP_ORIGIN="https://app.example.com")
        assert response.status_code == 500
        assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
        before = len(HITS)
        response = client.options("/x", HTTP_ORIGIN="https://app.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="PATCH")
        assert response.status_code == 204 and len(HITS) == before
        assert "Content-Type" not in response
        response = client.delete("/x", HTTP_ORIGIN="https://evil.example", HTTP_SEC_FETCH_SITE="cross-site")
        assert response.status_code == 403 and len(HITS) == before


def test_settings_are_checked_when_django_loads_its_middleware(tmp: Path):
    from django.core.exceptions import ImproperlyConfigured
    from django.core.handlers.wsgi import WSGIHandler

    bad = tmp / "bad.toml"
    bad.write_text('[profiles.production]\norigins = ["null"]\n')
    with override_settings(CORSGUARD_CONFIG=str(bad)):
        with pytest.raises(corsguard.PolicyError) as caught:
            WSGIHandler()
        assert caught.value.diagnostics[0]["code"] == "null-origin"
    with override_settings(CORSGUARD_CONFIG=str(policy_file(tmp, "defaults")), CORSGUARD_PROFILE="staging"):
        with pytest.raises(corsguard.PolicyError) as caught:
            WSGIHandler()
        assert caught.value.diagnostics[0]["code"] == "unknown-profile"
    with pytest.raises(ImproperlyConfigured):
        WSGIHandler()
