"""Failure paths in the real Envoy. moto cannot throttle, fail a function, stall or reset a
connection, so a scripted stand-in plays the Lambda API for those cases (see standin.py)."""

import time

import requests

from conftest import lambda_endpoint, plugin
from stack import free_port
from standin import Reply

THROTTLE = Reply(429, {"x-amzn-RequestId": "req-429", "x-amzn-ErrorType": "TooManyRequestsException",
                       "content-type": "application/json"},
                 {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "message": "Rate Exceeded."})
OK = Reply(200, {"x-amzn-RequestId": "req-ok", "X-Amz-Executed-Version": "7",
                 "content-type": "application/json"}, {"ok": True})
CREDS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "not-a-real-secret"}


def start_with(start_envoy, api_port, block=None, timeout=None, method="GET"):
    block = {"function_name": "fn", "endpoint": f"http://127.0.0.1:{api_port}", **(block or {})}
    return start_envoy(plugin(CREDS, lambda_endpoint("/f", block, timeout=timeout, method=method)), api_port)


def test_throttle_is_retried_with_backoff_then_succeeds(start_envoy, standin):
    api = standin([THROTTLE, THROTTLE, OK])
    envoy = start_with(start_envoy, api.port, {"max_retries": 2}, timeout="5s")
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True}
    assert r.headers["x-amz-executed-version"] == "7"
    assert len(api.requests) == 3
    gaps = [b["time"] - a["time"] for a, b in zip(api.requests, api.requests[1:])]
    # Throttle backoff: at least half of 500 ms, then at least half of 1 s.
    assert gaps[0] >= 0.24 and gaps[1] >= 0.49, gaps
    # Every attempt is signed afresh.
    assert all(q["headers"]["authorization"].startswith("AWS4-HMAC-SHA256") for q in api.requests)


def test_throttle_beyond_max_retries_is_relayed(start_envoy, standin):
    api = standin([THROTTLE])
    envoy = start_with(start_envoy, api.port, {"max_retries": 1}, timeout="5s")
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 429
    assert r.json() == {"error": "TooManyRequestsException", "message": "Rate Exceeded.", "request_id": "req-429"}
    assert len(api.requests) == 2
    assert "after 1 retries" in envoy.log()


def test_no_retries_by_default_and_never_after_a_4xx(start_envoy, standin):
    api = standin([THROTTLE])
    envoy = start_with(start_envoy, api.port)
    assert requests.get(envoy.url + "/f").status_code == 429
    assert len(api.requests) == 1

    api = standin([Reply(404, {"x-amzn-RequestId": "r404", "x-amzn-ErrorType": "ResourceNotFoundException"},
                         {"Type": "User", "message": "Function not found: fn"})])
    envoy = start_with(start_envoy, api.port, {"max_retries": 3})
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 404
    assert r.json()["error"] == "ResourceNotFoundException"
    assert len(api.requests) == 1


def test_service_errors_are_retried(start_envoy, standin):
    api = standin([Reply(500, {"x-amzn-RequestId": "r500", "x-amzn-ErrorType": "ServiceException"},
                         {"message": "internal"}), OK])
    envoy = start_with(start_envoy, api.port, {"max_retries": -1})
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 200
    assert len(api.requests) == 2


def test_function_error_is_a_502_and_not_retried(start_envoy, standin):
    error = {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}
    api = standin([Reply(200, {"x-amzn-RequestId": "r-fe", "X-Amz-Function-Error": "Unhandled",
                               "content-type": "application/json"}, error)])
    envoy = start_with(start_envoy, api.port, {"max_retries": 3})
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 502
    assert r.json() == error
    assert r.headers["x-amz-function-error"] == "Unhandled"
    assert len(api.requests) == 1
    assert "function error (Unhandled) request_id=r-fe" in envoy.log()


def test_unreachable_endpoint_is_a_503_after_retries(start_envoy):
    dead = free_port()  # nothing listens here
    envoy = start_with(start_envoy, dead, {"max_retries": 2}, timeout="3s")
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 503
    assert r.json()["error"] == "lambda_unreachable"
    assert envoy.stat("cluster.lambda.upstream_cx_connect_fail") == 3
    assert "unreachable (after 2 retries)" in envoy.log()


def test_slow_lambda_times_out_with_a_504(start_envoy, standin):
    api = standin([Reply(200, {}, {"late": True}, delay=3)])
    envoy = start_with(start_envoy, api.port, {"max_retries": 2}, timeout="500ms")
    started = time.monotonic()
    r = requests.get(envoy.url + "/f")
    elapsed = time.monotonic() - started
    assert r.status_code == 504
    assert r.json()["error"] == "lambda_timeout"
    assert elapsed < 2.5, elapsed  # the endpoint timeout, not the function's 3 s
    assert len(api.requests) == 1  # a timeout spends the budget: no retry


def test_connection_reset_is_a_5xx_json_error(start_envoy, standin):
    api = standin([Reply(reset=True)])
    envoy = start_with(start_envoy, api.port, {"max_retries": 1})
    r = requests.get(envoy.url + "/f")
    assert r.status_code in (502, 503)
    assert r.json()["error"] in ("lambda_connection_reset", "lambda_unreachable")
    assert len(api.requests) == 2  # retried once


def test_unknown_cluster_is_a_500_naming_the_cluster_in_the_log(start_envoy, standin):
    api = standin([OK])
    envoy = start_with(start_envoy, api.port, {"cluster": "no-such-cluster"})
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 500
    assert r.json()["error"] == "callout_failed"
    assert '"no-such-cluster"' in envoy.log()
    # The VM survives: the next request is served the same way.
    assert requests.get(envoy.url + "/f").status_code == 500


def test_client_disconnect_during_backoff_leaves_the_vm_healthy(start_envoy, standin):
    api = standin([THROTTLE, OK, OK])
    envoy = start_with(start_envoy, api.port, {"max_retries": 3}, timeout="5s")
    try:
        requests.get(envoy.url + "/f", timeout=0.1)
    except requests.exceptions.ReadTimeout:
        pass
    time.sleep(1.2)  # the backoff elapses with the client gone
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 200
