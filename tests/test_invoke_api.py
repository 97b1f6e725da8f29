"""The Invoke surface, the error policy and safe exposure, in the real Envoy. moto plays Lambda
wherever it can (Event, DryRun, Qualifier, canned results, a missing function, payload limits,
allow-lists, the canary split); the stand-in only where moto cannot produce the case: function
errors, X-Amz-Log-Result, Retry-After, and recording the headers AWS would receive."""

import base64
import json
from collections import Counter

import pytest
import requests

from conftest import lambda_endpoint, plugin
from stack import Moto
from standin import Reply

CREDS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "not-a-real-secret"}
OK = Reply(200, {"x-amzn-RequestId": "req-ok", "content-type": "application/json"}, {"ok": True})


def moto_envoy(moto, start_envoy, *endpoints):
    return start_envoy(plugin(moto, *endpoints), moto.port)


def standin_envoy(start_envoy, api, block, **endpoint_kw):
    block = {"function_name": "fn", "endpoint": api.url, **block}
    return start_envoy(plugin(CREDS, lambda_endpoint("/f", block, **endpoint_kw)), api.port)


def test_event_is_202_and_dry_run_is_204(moto, start_envoy):
    envoy = moto_envoy(moto, start_envoy,
                       lambda_endpoint("/event", {"function_name": "echo", "endpoint": moto.url,
                                                  "invocation_type": "Event"}, method="POST"),
                       lambda_endpoint("/check", {"function_name": "echo", "endpoint": moto.url,
                                                  "invocation_type": "DryRun"}))
    r = requests.post(envoy.url + "/event", data=b'{"job": 1}')
    assert r.status_code == 202, r.text
    assert r.headers["x-amzn-requestid"]
    r = requests.get(envoy.url + "/check")
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert "content-type" not in r.headers


def test_qualifier_is_sent_as_a_query_parameter(moto, start_envoy):
    envoy = moto_envoy(moto, start_envoy, lambda_endpoint(
        "/f", {"function_name": "echo", "qualifier": "live", "endpoint": moto.url}))
    before = len(moto.invoked_paths())
    assert requests.get(envoy.url + "/f").status_code == 200
    assert moto.invoked_paths()[before:] == ["/2015-03-31/functions/echo/invocations?Qualifier=live"]


def test_canned_function_result_reaches_the_client(moto, start_envoy):
    envoy = moto_envoy(moto, start_envoy, lambda_endpoint("/f", {"function_name": "echo", "endpoint": moto.url}))
    moto.queue_results('{"statusCode": 201, "answer": [1, 2]}')
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 200
    assert r.json() == {"statusCode": 201, "answer": [1, 2]}


def test_a_missing_function_is_a_404(start_envoy, tmp_path):
    moto = Moto(log_dir=tmp_path, docker_lambda=True).start()
    try:
        moto.enable_auth()
        envoy = moto_envoy(moto, start_envoy, lambda_endpoint("/f", {"function_name": "missing", "endpoint": moto.url}))
        r = requests.get(envoy.url + "/f")
        assert r.status_code == 404
        body = r.json()
        assert body["error"] == "ResourceNotFoundException"
        assert body["message"].startswith("Function not found")
        assert body["request_id"]
    finally:
        moto.stop()


def test_payload_limits_refuse_before_invoking(moto, start_envoy):
    envoy = moto_envoy(moto, start_envoy,
                       lambda_endpoint("/event", {"function_name": "echo", "endpoint": moto.url,
                                                  "invocation_type": "Event"}, method="POST"),
                       lambda_endpoint("/sync", {"function_name": "echo", "endpoint": moto.url}, method="POST"))
    r = requests.post(envoy.url + "/event", data=b"x" * (1024 * 1024 + 1))
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"
    r = requests.post(envoy.url + "/sync", data=b"x" * (6 * 1024 * 1024 + 1))
    assert r.status_code == 413
    assert envoy.stat("cluster.lambda.upstream_rq_total") == 0
    assert requests.post(envoy.url + "/event", data=b"x" * 1024).status_code == 202


def test_log_tail_goes_to_envoy_debug_log_only(start_envoy, standin):
    tail = "START RequestId: abc\nhello from the function\nEND RequestId: abc\n"
    api = standin([Reply(200, {"x-amzn-RequestId": "r1", "X-Amz-Log-Result": base64.b64encode(tail.encode()).decode()},
                         {"ok": True})])
    envoy = standin_envoy(start_envoy, api, {"log_type": "Tail"})
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 200
    assert "x-amz-log-result" not in r.headers and "hello from the function" not in r.text
    assert api.requests[0]["headers"]["x-amz-log-type"] == "Tail"
    log = envoy.log()
    assert "[debug]" in log and "hello from the function" in log


def test_client_context_is_sent_base64(moto, start_envoy, standin):
    context = {"custom": {"tenant": "acme"}, "env": {"stage": "prod"}}
    api = standin([OK])
    envoy = standin_envoy(start_envoy, api, {"client_context": context})
    assert requests.get(envoy.url + "/f").status_code == 200
    sent = api.requests[0]["headers"]["x-amz-client-context"]
    assert json.loads(base64.b64decode(sent)) == context
    # moto accepts the same signed header.
    envoy = moto_envoy(moto, start_envoy, lambda_endpoint(
        "/f", {"function_name": "echo", "endpoint": moto.url, "client_context": context}))
    assert requests.get(envoy.url + "/f").status_code == 200


@pytest.mark.parametrize("kind,error,expected", [
    ("Unhandled", {"errorType": "ValueError", "errorMessage": "boom"}, 502),
    ("Handled", {"errorType": "Error", "errorMessage": "boom"}, 502),
    ("Unhandled", {"errorType": "NotFoundError", "errorMessage": "no such order"}, 404),
    ("Unhandled", {"errorMessage": "2026-11-22T00:00:00.000Z 1 Task timed out after 3.00 seconds"}, 504),
    ("Unhandled", {"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: 1 Error: Task timed out after 3.00 seconds"}, 504),
])
def test_function_errors_follow_the_error_policy(start_envoy, standin, kind, error, expected):
    api = standin([Reply(200, {"x-amzn-RequestId": "r-fe", "X-Amz-Function-Error": kind}, error)])
    envoy = standin_envoy(start_envoy, api, {"errors": {"error_types": {"NotFoundError": 404}}, "max_retries": 2})
    r = requests.get(envoy.url + "/f")
    assert r.status_code == expected
    assert r.json() == error
    assert len(api.requests) == 1


def test_retry_after_is_honoured_then_relayed(start_envoy, standin):
    throttle = Reply(429, {"x-amzn-RequestId": "r429", "x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "1"},
                     {"message": "Rate Exceeded."})
    api = standin([throttle, OK])
    envoy = standin_envoy(start_envoy, api, {"max_retries": 1}, timeout="4s")
    assert requests.get(envoy.url + "/f").status_code == 200
    assert api.requests[1]["time"] - api.requests[0]["time"] >= 0.99

    api = standin([throttle])
    envoy = standin_envoy(start_envoy, api, {})
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"


def test_event_is_not_retried_once_aws_may_have_accepted_it(start_envoy, standin):
    api = standin([Reply(500, {"x-amzn-RequestId": "r500", "x-amzn-ErrorType": "ServiceException"}, {"message": "x"}),
                   Reply(202, {"x-amzn-RequestId": "r202"}, b"")])
    envoy = standin_envoy(start_envoy, api, {"invocation_type": "Event", "max_retries": 3}, method="POST")
    assert requests.post(envoy.url + "/f", data=b"{}").status_code == 500
    assert len(api.requests) == 1
    throttle = Reply(429, {"x-amzn-RequestId": "r429", "x-amzn-ErrorType": "TooManyRequestsException"}, {"message": "x"})
    api = standin([throttle, Reply(202, {"x-amzn-RequestId": "r202"}, b"")])
    envoy = standin_envoy(start_envoy, api, {"invocation_type": "Event", "max_retries": 3}, method="POST")
    assert requests.post(envoy.url + "/f", data=b"{}").status_code == 202
    assert len(api.requests) == 2


def test_allowed_functions_limit_what_the_path_can_reach(moto, start_envoy):
    envoy = moto_envoy(moto, start_envoy,
                       lambda_endpoint("/safe/{lambda}", {"function_param_name": "Lambda", "endpoint": moto.url,
                                                          "allowed_functions": ["echo", "echo:*"]}),
                       lambda_endpoint("/open/{lambda}", {"function_param_name": "Lambda", "endpoint": moto.url}))
    before = len(moto.invoked_paths())
    assert requests.get(envoy.url + "/safe/echo").status_code == 200
    assert requests.get(envoy.url + "/safe/echo%3Alive").status_code == 200
    for refused in ["other", "echo2", "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aecho"]:
        r = requests.get(envoy.url + "/safe/" + refused)
        assert r.status_code == 404, refused
        assert r.json()["error"] == "function_not_allowed"
    assert len(moto.invoked_paths()) - before == 2
    log = envoy.log()
    assert "endpoint GET /open/{lambda}: the request names the function and there is no allowed_functions" in log
    assert "endpoint GET /safe/{lambda}: the request names" not in log


def test_function_and_qualifier_from_headers(moto, start_envoy):
    envoy = moto_envoy(moto, start_envoy, lambda_endpoint("/h", {
        "function_header_name": "x-lambda-function", "qualifier_header_name": "x-lambda-qualifier",
        "function_name": "echo", "allowed_functions": ["echo", "echo:live"], "endpoint": moto.url}))
    before = len(moto.invoked_paths())
    assert requests.get(envoy.url + "/h").status_code == 200
    assert requests.get(envoy.url + "/h", headers={"X-Lambda-Function": "echo", "X-Lambda-Qualifier": "live"}).status_code == 200
    assert requests.get(envoy.url + "/h", headers={"X-Lambda-Function": "billing"}).status_code == 404
    # A qualifier from a header chooses the code that runs: it is allow-listed too.
    assert requests.get(envoy.url + "/h", headers={"X-Lambda-Qualifier": "beta"}).status_code == 404
    assert requests.get(envoy.url + "/h", headers={"X-Lambda-Qualifier": "live"}).status_code == 200
    assert requests.get(envoy.url + "/h", headers={"X-Lambda-Function": "bad name"}).status_code == 400
    assert moto.invoked_paths()[before:] == [
        "/2015-03-31/functions/echo/invocations",
        "/2015-03-31/functions/echo/invocations?Qualifier=live",
        "/2015-03-31/functions/echo/invocations?Qualifier=live",
    ]


def test_only_tracing_headers_reach_aws(start_envoy, standin):
    api = standin([OK])
    envoy = standin_envoy(start_envoy, api, {})
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    trace_id = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    r = requests.get(envoy.url + "/f", headers={
        "traceparent": traceparent, "X-Amzn-Trace-Id": trace_id, "Authorization": "Bearer client",
        "Proxy-Authorization": "Basic eA==", "Cookie": "a=b", "TE": "trailers", "X-Api-Key": "k",
        "X-Amz-Security-Token": "client-token", "X-Forwarded-For": "10.1.1.1"})
    assert r.status_code == 200
    sent = {k.lower(): v for k, v in api.requests[0]["headers"].items()}
    assert sent["traceparent"] == traceparent
    assert sent["x-amzn-trace-id"] == trace_id
    assert sent["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "traceparent" not in sent["authorization"]
    for name in ["proxy-authorization", "cookie", "te", "x-api-key", "x-amz-security-token", "x-forwarded-for"]:
        assert name not in sent, name


def test_canary_split_stays_within_tolerance(moto, start_envoy):
    """2,000 requests at 20/80: the canary's share must stay within 20 % ± 3.6 points, four
    standard deviations of the binomial (σ = √(2000·0.2·0.8) ≈ 17.9 requests), so a correct
    filter fails this about once in 15,000 runs."""
    envoy = moto_envoy(moto, start_envoy, lambda_endpoint("/c", {
        "functions": [{"name": "echo:live", "weight": 20}, {"name": "echo", "weight": 80}], "endpoint": moto.url}))
    before = len(moto.invoked_paths())
    n = 2000
    with requests.Session() as s:
        for _ in range(n):
            assert s.get(envoy.url + "/c").status_code == 200
    seen = Counter(moto.invoked_paths()[before:])
    canary = seen["/2015-03-31/functions/echo:live/invocations"]
    assert canary + seen["/2015-03-31/functions/echo/invocations"] == n
    assert abs(canary / n - 0.20) <= 0.036, canary
