"""Faults at the edges, in the real Envoy: request paths the filter must decide itself, transport
failures classified by Envoy's reset reason, stalls, sub-millisecond budgets, credential sources
that are slow, failing, or hand out unusable keys, load-time warnings with several workers, and
clients that stop sending.

moto (signature checking on) is the Lambda API wherever it can produce the case: path decisions,
the stalled client, and the credential tests, whose keys are real moto STS keys checked through
the ExpiryGate. A scripted stand-in plays the Lambda API only where moto cannot produce the fault:
a connection closed or reset after the request, a half body, a stall after the headers (each test
says so). The container credentials agent is always a stand-in (no such agent runs here)."""

import json
import re
import socket
import subprocess
import threading
import time
from collections import Counter

import jsonschema
import pytest
import requests

from conftest import SCHEMA, lambda_endpoint, plugin
from credential_standins import CredentialAuthority, ExpiryGate, Fault, FaultyContainerAgent
from stack import Envoy, cluster, envoy_config, free_port, in_place_route, signing_cluster
from standin import (CLOSE_AFTER_REQUEST, HALF_BODY, RST_AFTER_REQUEST, STALL_AFTER_HEADERS, STALL_AFTER_REQUEST,
                     Reply, Standin)

CREDS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "not-a-real-secret"}
OK = Reply(200, {"x-amzn-RequestId": "req-ok", "content-type": "application/json"}, {"ok": True, "pad": "x" * 64})
POD_TOKEN = "pod-identity-token-123"
CONTAINER_ENV = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials",
                 "AWS_CONTAINER_AUTHORIZATION_TOKEN": POD_TOKEN}
CLIENT_TIMEOUT = 8  # no single client request in this file may wait longer


# ---------------------------------------------------------------------------------------------
# 1. Paths that match an endpoint pattern are decided by the filter, never passed on.
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def paths(moto, tmp_path_factory):
    """One Envoy for the path cases: moto as the Lambda API, and an application upstream (a
    stand-in answering 200 that records what reaches it) behind Envoy's catch-all route, so a
    request the filter fails to decide shows up there."""
    app = Standin([Reply(200, {"content-type": "text/plain"}, b"app page")]).start()
    block = {"endpoint": moto.url, "function_param_name": "Lambda", "allowed_functions": ["echo"]}
    config = plugin(moto,
                    lambda_endpoint("/call-a-lambda/{lambda}", block),
                    lambda_endpoint("/call-a-lambda/{lambda}", block, method="POST"),
                    lambda_endpoint("/users/{id}/{lambda}", block))
    jsonschema.validate(config, SCHEMA)
    lp, ap = free_port(), free_port()
    envoy = Envoy(envoy_config(lp, ap, config, [cluster("lambda", moto.port), cluster("app", app.port)],
                               upstream_cluster="app"),
                  lp, ap, log_dir=tmp_path_factory.mktemp("envoy-paths"))
    try:
        envoy.start()
        yield envoy, app, moto
    finally:
        envoy.stop()
        app.stop()


def decided(paths, method, path, **kw):
    """Sends one request; asserts it reached neither the application nor the Lambda API."""
    envoy, app, moto = paths
    seen, invoked = len(app.requests), len(moto.invoked_paths())
    r = requests.request(method, envoy.url + path, allow_redirects=False, timeout=CLIENT_TIMEOUT, **kw)
    assert len(app.requests) == seen, \
        f"{method} {path} fell through to Envoy's other routes: {r.status_code} {r.text[:80]!r}"
    assert moto.invoked_paths()[invoked:] == [], f"{method} {path} reached the Lambda API"
    return r


def test_a_well_formed_allowed_name_is_invoked(paths):
    # The control for the cases below: the stack serves a good request from moto.
    envoy, app, moto = paths
    invoked = len(moto.invoked_paths())
    r = requests.get(envoy.url + "/call-a-lambda/echo", timeout=CLIENT_TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json() == {"lambda": "echo"}
    assert moto.invoked_paths()[invoked:] == ["/2015-03-31/functions/echo/invocations"]
    assert app.requests == []


@pytest.mark.parametrize("method, path", [
    ("GET", "/call-a-lambda/%FF"),
    ("GET", "/call-a-lambda/echo%FF"),
    ("GET", "/call-a-lambda/%C0%AF"),  # overlong UTF-8 for '/'
    ("GET", "/call-a-lambda/"),  # empty placeholder
    ("POST", "/call-a-lambda/%FF"),
])
def test_undecodable_or_empty_function_names_are_400(paths, method, path):
    r = decided(paths, method, path, data=b"{}" if method == "POST" else None)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_function_name", r.text


def test_undecodable_data_placeholder_is_400(paths):
    r = decided(paths, "GET", "/users/%FF%FE/echo")
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_path_parameter", r.text


@pytest.mark.parametrize("method, path, status, location", [
    ("GET", "/call-a-lambda/echo/", 301, "/call-a-lambda/echo"),
    ("GET", "/call-a-lambda/echo/?a=1&b=x%20y", 301, "/call-a-lambda/echo?a=1&b=x%20y"),
    ("POST", "/call-a-lambda/echo/?a=1", 307, "/call-a-lambda/echo?a=1"),
])
def test_trailing_slash_is_redirected_as_krakend_does(paths, method, path, status, location):
    r = decided(paths, method, path, data=b"{}" if method == "POST" else None)
    assert r.status_code == status, r.text
    assert r.headers.get("location") == location, r.headers


@pytest.mark.parametrize("path, status, error", [
    ("/call-a-lambda/other", 404, "function_not_allowed"),
    ("/call-a-lambda/ECHO", 404, "function_not_allowed"),
    ("/call-a-lambda/echo:live", 404, "function_not_allowed"),  # a qualifier the list does not allow
    ("/call-a-lambda/echo%3Alive", 404, "function_not_allowed"),
    ("/call-a-lambda/123456789012:function:echo", 404, "function_not_allowed"),
    ("/call-a-lambda/arn:aws:lambda:us-east-1:123456789012:function:echo", 404, "function_not_allowed"),
    ("/call-a-lambda/other%FF", 400, "invalid_function_name"),
    ("/call-a-lambda/echo%2F..%2Fother", 400, "invalid_function_name"),
    ("/call-a-lambda/echo%00", 400, "invalid_function_name"),
    ("/call-a-lambda/echo%20", 400, "invalid_function_name"),
])
def test_allowed_functions_cannot_be_bypassed(paths, path, status, error):
    r = decided(paths, "GET", path)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error, r.text


# ---------------------------------------------------------------------------------------------
# 2. Connection failures, classified by Envoy's reset reason.
# ---------------------------------------------------------------------------------------------

def start_callout(start_envoy, port, block=None, timeout="5s", method="GET"):
    block = {"function_name": "fn", "endpoint": f"http://127.0.0.1:{port}", **(block or {})}
    return start_envoy(plugin(CREDS, lambda_endpoint("/f", block, timeout=timeout, method=method)), port)


@pytest.mark.parametrize("invocation_type", ["RequestResponse", "Event"])
def test_refused_connection_is_503_unreachable_and_retried_for_every_type(start_envoy, invocation_type):
    # Nothing listens on the Lambda cluster's port: Envoy's reset reason is a connection failure.
    dead = free_port()
    envoy = start_callout(start_envoy, dead, {"max_retries": 2, "invocation_type": invocation_type})
    r = requests.get(envoy.url + "/f", timeout=CLIENT_TIMEOUT)
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "lambda_unreachable", r.text
    # Nothing reached Lambda, so even an Event is safe to retry: 1 + max_retries connection attempts.
    assert envoy.stat("cluster.lambda.upstream_cx_connect_fail") == 3


@pytest.mark.parametrize("mode", [CLOSE_AFTER_REQUEST, RST_AFTER_REQUEST, HALF_BODY])
@pytest.mark.parametrize("invocation_type, attempts", [("RequestResponse", 3), ("Event", 1)])
def test_connection_lost_after_the_request_is_502_reset(start_envoy, standin, mode, invocation_type, attempts):
    # Stand-in: moto cannot drop or reset a connection once it has read the request.
    api = standin([Reply(200, OK.headers, OK.body, mode=mode)])
    envoy = start_callout(start_envoy, api.port, {"max_retries": 2, "invocation_type": invocation_type})
    r = requests.get(envoy.url + "/f", timeout=CLIENT_TIMEOUT)
    assert r.status_code == 502, r.text
    assert r.json()["error"] == "lambda_connection_reset", r.text
    time.sleep(0.5)  # no late retry may arrive after the answer either
    # RequestResponse: 1 + max_retries. Event: never retried (AWS may already have queued it).
    assert len(api.requests) == attempts, [q["time"] for q in api.requests]


def start_in_place(start_envoy, port, timeout="3s"):
    endpoint = lambda_endpoint("/orders", {"function_name": "fn", "mode": "in_place", "cluster": "lambda_signed",
                                           "endpoint": f"http://127.0.0.1:{port}"}, method="POST", timeout=timeout)
    return start_envoy(plugin(None, endpoint), clusters=[signing_cluster("lambda_signed", port, "us-east-1", CREDS)],
                       first_routes=[in_place_route("lambda_signed")])


@pytest.mark.parametrize("mode", [CLOSE_AFTER_REQUEST, RST_AFTER_REQUEST])
def test_in_place_connection_lost_after_the_request_is_502_reset(start_envoy, standin, mode):
    # Stand-in: moto cannot drop or reset a connection. (A half body cannot be tested in place:
    # once the router has passed response headers on, Envoy resets the client stream itself.)
    api = standin([Reply(200, OK.headers, OK.body, mode=mode)])
    envoy = start_in_place(start_envoy, api.port)
    r = requests.post(envoy.url + "/orders", data=b"{}", timeout=CLIENT_TIMEOUT)
    assert r.status_code == 502, r.text
    assert r.json()["error"] == "lambda_connection_reset", r.text
    assert len(api.requests) >= 1


def test_in_place_refused_connection_is_503_unreachable(start_envoy):
    dead = free_port()
    envoy = start_in_place(start_envoy, dead)
    r = requests.post(envoy.url + "/orders", data=b"{}", timeout=CLIENT_TIMEOUT)
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "lambda_unreachable", r.text


# ---------------------------------------------------------------------------------------------
# 3. and 4. Stalls and tiny budgets.
# ---------------------------------------------------------------------------------------------

def test_stall_after_response_headers_is_504_timeout(start_envoy, standin):
    # Stand-in: moto always sends its whole answer; this one sends headers, then nothing.
    api = standin([Reply(200, OK.headers, OK.body, mode=STALL_AFTER_HEADERS, stall=10)])
    envoy = start_callout(start_envoy, api.port, {"max_retries": 2}, timeout="1s")
    started = time.monotonic()
    r = requests.get(envoy.url + "/f", timeout=CLIENT_TIMEOUT)
    elapsed = time.monotonic() - started
    assert r.status_code == 504, r.text
    assert r.json()["error"] == "lambda_timeout", r.text
    assert 0.9 <= elapsed <= 3.0, elapsed
    assert len(api.requests) == 1  # a timeout spends the budget: no retry
    assert envoy.stat("wasmcustom.lambda_wasm.timeouts.function.fn") == 1
    assert envoy.stat("wasmcustom.lambda_wasm.transport_errors.function.fn") == 0


@pytest.mark.parametrize("timeout", ["500us", "999us"])
def test_endpoint_timeouts_under_a_millisecond_are_refused_at_load(start_envoy, timeout):
    config = plugin(CREDS, lambda_endpoint("/f", {"function_name": "fn"}, timeout=timeout))
    envoy = start_envoy(config, free_port(), wait=False)
    try:
        code = envoy.run_to_exit(timeout=6)
    except subprocess.TimeoutExpired:
        pytest.fail(f"Envoy started with an endpoint timeout of {timeout} instead of refusing it")
    log = envoy.log()
    assert code != 0, "Envoy must refuse the plugin, not run without it"
    assert "invalid plugin configuration" in log, log[-2000:]
    assert "endpoint GET /f" in log and "endpoints[0].timeout" in log, log[-2000:]


def test_a_one_millisecond_timeout_answers_504_promptly(start_envoy, standin):
    # Stand-in: moto answers; this one reads the request and never answers (for up to 10 s).
    api = standin([Reply(mode=STALL_AFTER_REQUEST, stall=10)])
    envoy = start_callout(start_envoy, api.port, timeout="1ms")
    started = time.monotonic()
    try:
        r = requests.get(envoy.url + "/f", timeout=5)
    except requests.exceptions.ReadTimeout:
        pytest.fail("a 1ms endpoint timeout left the request hanging for 5 s")
    elapsed = time.monotonic() - started
    assert r.status_code == 504, r.text
    assert r.json()["error"] == "lambda_timeout", r.text
    assert elapsed < 2.0, elapsed


# ---------------------------------------------------------------------------------------------
# 5. - 7. Credential sources: slow, failing, handing out unusable keys.
# ---------------------------------------------------------------------------------------------

def container_source(start_envoy, moto, servers, plan, timeout="3s", credentials=None, concurrency=1):
    """Envoy with the container source: a scripted agent issuing real moto STS keys, and the
    ExpiryGate in front of moto (signatures checked; expired keys refused) as the Lambda API."""
    authority = CredentialAuthority(moto, 900)
    agent, gate = FaultyContainerAgent(authority, POD_TOKEN, plan), ExpiryGate(authority, moto)
    servers.extend([agent, gate])
    endpoint = lambda_endpoint("/f", {"function_name": "echo", "endpoint": gate.url}, timeout=timeout)
    config = plugin(None, endpoint)
    if credentials:
        config["credentials"] = credentials
    envoy = start_envoy(config, gate.port, clusters=[cluster("container_credentials", agent.port)],
                        env=CONTAINER_ENV, env_keys=list(CONTAINER_ENV), concurrency=concurrency)
    return envoy, agent, gate


def error_of(r):
    """The JSON error code of a non-200 answer (None for a 200, the raw text when not JSON)."""
    if r.status_code == 200:
        return None
    try:
        return r.json().get("error")
    except ValueError:
        return r.text[:60]


def timed_get(url, timeout=CLIENT_TIMEOUT):
    started = time.monotonic()
    r = requests.get(url, timeout=timeout)
    return r, started, time.monotonic()


def test_a_slow_refresh_does_not_stall_requests(moto, start_envoy, servers):
    # Keys valid for 4 minutes with refresh_before 5m: a refresh is due while they are still valid.
    # The first fetch is quick; every refresh takes 0.8 s at the agent.
    plan = lambda n: Fault(lifetime=240) if n == 0 else Fault(delay=0.8, lifetime=240)
    envoy, agent, gate = container_source(start_envoy, moto, servers, plan, credentials={"refresh_before": "5m"})
    r = requests.get(envoy.url + "/f", timeout=CLIENT_TIMEOUT)
    assert r.status_code == 200, r.text
    calls = []
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        r, start, end = timed_get(envoy.url + "/f")
        calls.append((r.status_code, start, end))
        time.sleep(0.05)
    assert {c[0] for c in calls} == {200}, calls
    refreshes = [(t, t + 0.8) for t in agent.fetch_times[1:]]
    assert refreshes, "no refresh ran: the test saw nothing"
    during = [end - start for _, start, end in calls if any(start < f_end and end > f_start
                                                           for f_start, f_end in refreshes)]
    assert len(during) >= 3, (len(during), refreshes)
    assert max(during) < 0.4, sorted(during)[-5:]  # well under the 0.8 s fetch: nobody waited for it


def test_a_failing_refresh_keeps_serving_and_backs_off(moto, start_envoy, servers):
    # The first fetch gives keys valid 4 minutes (a refresh is due at once with refresh_before 5m);
    # every later fetch answers 500.
    plan = lambda n: Fault(lifetime=240) if n == 0 else Fault(status=500)
    envoy, agent, gate = container_source(start_envoy, moto, servers, plan, credentials={"refresh_before": "5m"})
    statuses = []
    deadline = time.monotonic() + 8.5
    while time.monotonic() < deadline:
        statuses.append(requests.get(envoy.url + "/f", timeout=CLIENT_TIMEOUT).status_code)
        time.sleep(0.1)
    assert set(statuses) == {200}, Counter(statuses)  # the current keys keep signing: no 503
    failed = agent.fetch_times[1:]
    assert len(failed) >= 2, "the failed refresh was never retried"
    gaps = [round(b - a, 2) for a, b in zip(failed, failed[1:])]
    # Backoff about 2 s, 4 s ... (each 50-100% of that; up to ~1 s later for a timer tick), not a
    # fixed one-second retry: over 8.5 s that is 3 or 4 attempts, not 8. The first fetch already
    # counts as one step (its keys expire within refresh_before), so the failures start at 2 s.
    assert len(failed) <= 5, (len(failed), gaps)
    for i, gap in enumerate(gaps[:3]):
        base = 2.0 ** (i + 1)
        assert 0.5 * base - 0.1 <= gap <= base + 1.1, (i, gaps)
    assert gaps[-1] >= gaps[0], gaps


@pytest.mark.parametrize("succeeds", [True, False])
def test_requests_without_keys_wait_for_the_fetch(moto, start_envoy, servers, succeeds):
    # Every fetch takes 0.8 s, then gives keys valid 15 minutes (or a 500).
    plan = lambda n: Fault(delay=0.8, lifetime=900) if succeeds else Fault(delay=0.8, status=500)
    envoy, agent, gate = container_source(start_envoy, moto, servers, plan, timeout="3s")
    r, start, end = timed_get(envoy.url + "/f")
    if succeeds:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "credentials_unavailable", r.text
        assert gate.requests == []
    assert end - start < 2.5, end - start  # bounded by the endpoint timeout (3 s), not beyond
    assert agent.fetch_times, "no fetch"
    assert end >= agent.fetch_times[0] + 0.75, "answered before the fetch it should wait for had finished"


@pytest.mark.parametrize("lifetime, status", [(-60, 503), (120, 200)], ids=["already-expired", "expiring-soon"])
def test_unusable_keys_are_fetched_with_backoff_per_envoy(moto, start_envoy, servers, lifetime, status):
    # The agent hands out keys already expired, or expiring within refresh_before (5m): a refresh
    # is due again at once. Two workers (three VMs) under traffic must not each hammer the agent.
    started = time.monotonic()
    envoy, agent, gate = container_source(start_envoy, moto, servers, lambda n: Fault(lifetime=lifetime),
                                          timeout="1s", credentials={"refresh_before": "5m"}, concurrency=2)
    results = []

    def client():
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            r = requests.get(envoy.url + "/f", timeout=CLIENT_TIMEOUT, headers={"connection": "close"})
            results.append((r.status_code, error_of(r)))
            time.sleep(0.1)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    window = time.monotonic() - started
    assert results and {s for s, _ in results} == {status}, Counter(results)
    if status == 503:
        assert {e for _, e in results} == {"credentials_unavailable"}, Counter(results)
    assert agent.fetches <= 6, f"{agent.fetches} fetches in {window:.1f} s: {agent.fetch_times}"
    # Each failed request is logged once by design ("endpoint ... answered 503"); anything else,
    # such as what the source handed out, must not be logged per fetch attempt per VM.
    messages = Counter(re.sub(r"\d+", "N", line) for line in wasm_log_lines(envoy.log(), ("info", "warning", "error"))
                       if not line.startswith("endpoint "))
    repeated = {line: n for line, n in messages.items() if n > 4}
    assert not repeated, repeated


def wasm_log_lines(log, levels=None):
    """The filter's log messages at these levels (Envoy's timestamp, thread and source prefix removed)."""
    lines = []
    for line in log.splitlines():
        if "wasm log" not in line or (levels and not any(f"[{level}]" in line for level in levels)):
            continue
        lines.append(re.sub(r"^.*?wasm log[^:]*: ", "", line))
    return lines


@pytest.mark.parametrize("field", ["AccessKeyId", "SecretAccessKey", "Token"])
def test_keys_containing_cr_lf_are_refused(moto, start_envoy, servers, field):
    envoy, agent, gate = container_source(start_envoy, moto, servers, lambda n: Fault(poison=field), timeout="2s")
    r = requests.get(envoy.url + "/f", timeout=CLIENT_TIMEOUT)
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "credentials_unavailable", r.text
    assert envoy.stat("wasmcustom.lambda_wasm.credential_failures") >= 1
    assert gate.requests == []
    assert envoy.stat("cluster.lambda.upstream_rq_total") == 0
    assert "X-Injected" not in envoy.log()


# ---------------------------------------------------------------------------------------------
# 8. Load-time warnings once per Envoy; 9. a client that stops sending its body.
# ---------------------------------------------------------------------------------------------

def test_load_time_warnings_are_written_once_per_envoy(start_envoy, standin):
    api = standin([OK])
    endpoint = lambda_endpoint("/f", {"function_name": "fn", "endpoint": api.url})
    endpoint["input_headers"] = ["Content-Type"]
    config = plugin(CREDS, endpoint, version=3)
    envoy = start_envoy(config, api.port, concurrency=2)
    for _ in range(4):  # every worker VM is up and serving
        assert requests.get(envoy.url + "/f", timeout=CLIENT_TIMEOUT, headers={"connection": "close"}).status_code == 200
    time.sleep(0.5)
    log = envoy.log()
    for key in ["version", "endpoints[0].input_headers"]:
        warning = f"KrakenD key `{key}` has no effect in Envoy and is ignored"
        assert log.count(warning) == 1, (key, log.count(warning))


def raw_exchange(port, head, body_part, timeout, rest=None):
    """Sends a request head and part of its body (and, with `rest` = (seconds, bytes), the rest
    after that pause), then waits (at most `timeout` s from the start) for an answer.
    Returns (status, headers, body, seconds) or (None, ..., seconds) when nothing came."""
    started = time.monotonic()
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head + body_part)
        if rest:
            time.sleep(rest[0])
            s.sendall(rest[1])
        deadline = started + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            head_end = data.find(b"\r\n\r\n")
            if head_end >= 0:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", data[:head_end])
                if m and len(data) >= head_end + 4 + int(m.group(1)):
                    break
    elapsed = time.monotonic() - started
    if not data:
        return None, {}, b"", elapsed
    head_text, _, body = data.partition(b"\r\n\r\n")
    lines = head_text.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, body, elapsed


def test_a_slow_upload_is_taken_from_the_endpoint_timeout(start_envoy, standin):
    # Stand-in: moto always answers; this one takes the Invoke and never answers. The endpoint's
    # 2 s count from the request's arrival: after 1.2 s of upload, the Invoke gets what remains.
    api = standin([Reply(200, OK.headers, OK.body, mode=STALL_AFTER_REQUEST, stall=10)])
    envoy = start_callout(start_envoy, api.port, timeout="2s", method="POST")
    head = (b"POST /f HTTP/1.1\r\nHost: gateway\r\ncontent-type: application/json\r\n"
            b"content-length: 11\r\n\r\n")
    status, _, body, elapsed = raw_exchange(envoy.listener_port, head, b'{"a":', timeout=6,
                                            rest=(1.2, b'"slow"}'))
    assert status == 504, (status, body[:200])
    assert json.loads(body)["error"] == "lambda_timeout", body[:200]
    assert 1.9 <= elapsed < 2.8, f"answered after {elapsed:.2f} s; the whole budget is 2 s"
    assert len(api.requests) == 1


def test_a_client_that_stops_sending_its_body_gets_408(moto, start_envoy):
    envoy = start_envoy(plugin(moto, lambda_endpoint("/f", {"function_name": "echo", "endpoint": moto.url},
                                                     method="POST", timeout="1s")), moto.port)
    invoked = len(moto.invoked_paths())
    head = (b"POST /f HTTP/1.1\r\nHost: gateway\r\ncontent-type: application/json\r\n"
            b"content-length: 100\r\n\r\n")
    status, headers, body, elapsed = raw_exchange(envoy.listener_port, head, b'{"partial": ', timeout=5)
    assert status is not None, f"no answer within {elapsed:.1f} s to a body that never completed"
    assert status == 408, (status, body[:200])
    assert json.loads(body)["error"] == "request_timeout", body[:200]
    assert 0.5 <= elapsed < 3.0, elapsed
    assert moto.invoked_paths()[invoked:] == []
