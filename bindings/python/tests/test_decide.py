"""The conformance table through ``Policy.decide`` (against ``corsguard explain --format json``)
and through the ``Verdict`` the middleware act on; inputs no server sends."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

import corsguard
from conftest import CASES, POLICIES, case_id, cors_headers, expected, policy_file


def headers_of(case):
    return [(n, v) for n, v in case.get("headers", [])]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_decide_matches_the_table(case):
    policy = corsguard.Policy.from_toml(POLICIES[case["policy"]])
    got = policy.decide(case["method"], case["path"], headers_of(case))
    assert got["kind"] == case["kind"]
    assert got["allowed"] == case["allowed"]
    assert got["forwarded"] == case["forwarded"]
    assert got["status"] == case.get("status")
    assert got["reason"] == case["reason"]
    assert got["headers"] == dict(expected(case))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_verdict_writes_the_tables_headers_in_order(case):
    policy = corsguard.Policy.from_toml(POLICIES[case["policy"]])
    verdict = policy.evaluate(case["method"], case["path"], [(n.encode(), v.encode()) for n, v in headers_of(case)])
    answer = verdict.answer()
    if case["forwarded"]:
        assert answer is None and verdict.status is None
        written = [(n.decode(), v.decode()) for n, v in verdict.apply([])]
    else:
        status, headers, _ = answer
        assert status == case["status"] == verdict.status
        written = [(n.decode(), v.decode()) for n, v in headers]
    assert cors_headers(written) == expected(case)


def test_decide_is_what_explain_prints(corsguard_bin, tmp: Path):
    for case in CASES:
        path = policy_file(tmp, case["policy"])
        argv = [corsguard_bin, "explain", "--config", str(path), "--format", "json", "-X", case["method"]]
        for name, value in headers_of(case):
            argv += ["-H", f"{name}: {value}"]
        argv.append(case["path"])
        run = subprocess.run(argv, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
        assert run.stdout, (case["name"], run.stderr)
        explained = json.loads(run.stdout)
        decided = corsguard.Policy.from_file(path).decide(case["method"], case["path"], headers_of(case))
        assert decided == explained, case["name"]


def test_headers_as_a_mapping_str_or_bytes():
    policy = corsguard.Policy.from_toml(POLICIES["defaults"])
    want = policy.decide("GET", "/", [("Origin", "https://app.example.com")])
    assert policy.decide("GET", "/", {"Origin": "https://app.example.com"}) == want
    assert policy.decide("GET", "/", {b"origin": b"https://app.example.com"}) == want
    assert policy.decide("GET", "/", [[b"ORIGIN", "https://app.example.com"]]) == want
    assert want["allowed"] and want["headers"]["access-control-allow-origin"] == "https://app.example.com"
    assert policy.decide("GET", "/")["reason"] == "no-origin"


@pytest.mark.parametrize(
    "method, path, headers",
    [
        ("G ET", "/", []),
        ("", "/", []),
        ("GET", "not a target", []),
        ("GET", "/", [("Origin", "a\r\nb")]),
        ("GET", "/", [("bad name", "x")]),
        ("GET", "/", [("Origin", "x\x00")]),
    ],
)
def test_requests_no_server_accepts_raise_value_error(method, path, headers):
    policy = corsguard.Policy.from_toml(POLICIES["defaults"])
    with pytest.raises(ValueError):
        policy.decide(method, path, headers)


@pytest.mark.parametrize("headers", [[("Origin",)], [1], [("Origin", 3)], 5, [("a", "b", "c")]])
def test_malformed_header_arguments_raise_type_error(headers):
    policy = corsguard.Policy.from_toml(POLICIES["defaults"])
    with pytest.raises(TypeError):
        policy.decide("GET", "/", headers)


def test_random_input_never_crosses_the_boundary_as_a_panic():
    # A panic would surface as pyo3's PanicException (a BaseException, not an Exception), or
    # abort the interpreter: neither may happen for any input.
    rng = random.Random(17)
    policy = corsguard.Policy.from_toml(POLICIES["credentialed"])
    alphabet = [chr(c) for c in range(0, 0x180)] + ["\u2028", "\udcff", "*", ",", ":", "/", "."]
    names = ["origin", "access-control-request-method", "access-control-request-headers", "host",
             "upgrade", "sec-fetch-site", "access-control-request-private-network", "x"]

    def text(n):
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))

    outcomes = set()
    for _ in range(5000):
        method = rng.choice(["GET", "OPTIONS", "POST", "PUT", "DELETE", text(6)])
        path = rng.choice(["/", "/api", "/public/x", text(12)])
        headers = [(rng.choice(names + [text(8)]), rng.choice(["https://app.example.com", text(40)]))
                   for _ in range(rng.randint(0, 6))]
        try:
            decided = policy.decide(method, path, headers)
            outcomes.add(decided["reason"])
            verdict = policy.evaluate(method, path, headers)
            verdict.answer()
            verdict.apply([(text(5), text(10)) for _ in range(3)])
            verdict.apply_str([(text(5), text(10)) for _ in range(3)])
        except ValueError:
            outcomes.add("ValueError")
    # The random requests did reach the engine's decisions, not only its input checks.
    assert {"ValueError", "allowed", "no-origin"} <= outcomes, outcomes
    try:
        corsguard.Policy.from_toml(text(200))
    except corsguard.PolicyError as e:
        assert e.diagnostics


def test_a_policy_reports_its_profile_and_strictness():
    policy = corsguard.Policy.from_toml(POLICIES["credentialed"])
    assert (policy.profile, policy.strict) == ("production", True)
    dev = corsguard.Policy.from_toml(POLICIES["defaults"])
    assert (dev.profile, dev.strict) == ("development", False)
    assert "production" in repr(policy)
