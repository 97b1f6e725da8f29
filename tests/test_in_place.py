"""`mode: in_place` in the real Envoy: the filter rewrites the client's request into the Invoke,
Envoy's router sends it to a cluster whose upstream filter is Envoy's own aws_request_signing, and
the filter maps the answer on its way back. moto (SigV4 checking on) is the Lambda API wherever it
can produce the case; the scripted stand-in (standin.py) plays it where moto cannot: function
errors, stalls, and recording exactly what arrives upstream."""

import base64
import hashlib
import json

import pytest
import requests

from conftest import lambda_endpoint, plugin
from stack import IN_PLACE_KEY, Moto, free_port, in_place_route, signing_cluster
from standin import Reply

CREDS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "not-a-real-secret"}
OK = Reply(200, {"x-amzn-RequestId": "req-ok", "X-Amz-Executed-Version": "3", "content-type": "application/json"},
           {"ok": True})


def in_place(block=None, path="/orders", method="POST", **kw):
    """An in_place endpoint on the signing cluster; keys set to None in `block` are left out."""
    full = {"function_name": "echo", "mode": "in_place", "cluster": "lambda_signed", **(block or {})}
    return lambda_endpoint(path, {k: v for k, v in full.items() if v is not None}, method=method, **kw)


def start_in_place(start_envoy, port, *endpoints, creds=CREDS, route=True, upstream_port=None, **top):
    """Envoy with the filter (no credentials of its own: Envoy signs) and the signing cluster."""
    clusters = [signing_cluster("lambda_signed", port, "us-east-1", creds)]
    routes = [in_place_route("lambda_signed", timeout="30s")] if route else []
    return start_envoy(plugin(None, *endpoints, **top), clusters=clusters, first_routes=routes,
                       upstream_port=upstream_port)


def moto_creds(moto):
    return {"access_key_id": moto.access_key_id, "secret_access_key": moto.secret_access_key}


def test_body_goes_to_lambda_signed_by_envoy(moto, start_envoy):
    envoy = start_in_place(start_envoy, moto.port, in_place({"endpoint": moto.url}), creds=moto_creds(moto))
    before = len(moto.invoked_paths())
    body = b'{"items": [1, 2, 3], "note": "\\u00e9"}'
    r = requests.post(envoy.url + "/orders?x=1", data=body,
                      headers={"content-type": "text/plain", "authorization": "Bearer client-secret"})
    assert r.status_code == 200, r.text
    assert r.content == body  # moto's echo function: the payload was the body, unchanged
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-amzn-requestid"]
    assert moto.invoked_paths()[before:] == ["/2015-03-31/functions/echo/invocations"]
    # Bodies above Envoy's default 1 MiB buffer are signed too (the cluster's buffer limit).
    big = json.dumps({"blob": "x" * (3 * 1024 * 1024)}).encode()
    r = requests.post(envoy.url + "/orders", data=big)
    assert r.status_code == 200, r.text[:300]
    assert r.content == big
    # Chunked bodies (no content-length) too.
    r = requests.post(envoy.url + "/orders", data=iter([b'{"a":', b'1}']))
    assert r.status_code == 200, r.text
    assert r.json() == {"a": 1}
    samples = envoy.prometheus()
    assert samples['lambda_wasm_invocations{function="echo"}'] == 3
    assert samples['lambda_wasm_request_bytes_count{function="echo"}'] == 3


def test_wrong_keys_in_envoys_signer_are_refused_by_aws(moto, start_envoy):
    envoy = start_in_place(start_envoy, moto.port, in_place({"endpoint": moto.url}),
                           creds={"access_key_id": moto.access_key_id, "secret_access_key": "wrong"})
    r = requests.post(envoy.url + "/orders", data=b"{}")
    assert r.status_code == 502
    assert r.json()["error"] == "lambda_access_denied"
    assert "wrong" not in r.text


def test_nothing_from_the_client_reaches_lambda_but_the_body(start_envoy, standin):
    tail = base64.b64encode(b"START\nhello from the function\nEND\n").decode()
    api = standin([Reply(200, {**OK.headers, "X-Amz-Log-Result": tail, "x-amzn-trace-id": "Root=1-x"}, OK.body)])
    envoy = start_in_place(start_envoy, api.port, in_place({
        "endpoint": api.url, "function_param_name": "Fn", "function_name": None, "qualifier": "live",
        "invocation_type": "RequestResponse", "log_type": "Tail"}, path="/fn/{fn}"), timeout="3s")
    body = b'{"q": 1}'
    r = requests.post(envoy.url + "/fn/my-func", data=body, headers={
        "authorization": "Bearer client-secret", "cookie": "s=1", "x-custom": "no",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True}
    assert r.headers["x-amz-executed-version"] == "3"
    # Lambda's other headers stop here; the log tail goes to Envoy's debug log only.
    assert "x-amz-log-result" not in r.headers and "x-amzn-trace-id" not in r.headers
    assert "hello from the function" in envoy.log()
    [got] = api.requests
    assert got["method"] == "POST"
    assert got["path"] == "/2015-03-31/functions/my-func/invocations?Qualifier=live"
    assert got["body"] == body
    headers = {k.lower(): v for k, v in got["headers"].items()}
    assert headers["host"] == f"127.0.0.1:{api.port}"
    assert headers["x-amz-invocation-type"] == "RequestResponse"
    assert headers["x-amz-log-type"] == "Tail"
    assert headers["traceparent"].startswith("00-0af7")
    # Envoy's signer signed it, over the body's hash, with the cluster's keys.
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/lambda/aws4_request" in headers["authorization"]
    assert headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
    # x-forwarded-proto is Envoy's own (its router needs it), with the value Envoy set.
    assert headers["x-forwarded-proto"] == "http"
    for leaked in ("cookie", "x-custom", "x-forwarded-for", "x-request-id", "content-type"):
        assert leaked not in headers, leaked
    assert "client-secret" not in json.dumps(headers)


def test_function_errors_are_mapped(start_envoy, standin):
    unhandled = Reply(200, {"x-amzn-RequestId": "req-1", "X-Amz-Function-Error": "Unhandled",
                            "content-type": "application/json"},
                      {"errorType": "ValueError", "errorMessage": "bad input"})
    api = standin([unhandled])
    envoy = start_in_place(start_envoy, api.port, in_place({"endpoint": api.url, "errors": {
        "error_types": {"ValueError": 422}}}))
    r = requests.post(envoy.url + "/orders", data=b"{}")
    assert r.status_code == 422
    assert r.json() == {"errorType": "ValueError", "errorMessage": "bad input"}
    assert r.headers["x-amz-function-error"] == "Unhandled"
    assert "function error (Unhandled) request_id=req-1" in envoy.log()

def test_aws_api_errors_are_mapped(start_envoy, tmp_path):
    # moto in its Docker mode answers a real 404 for a function it does not have.
    moto = Moto(log_dir=tmp_path, docker_lambda=True).start()
    try:
        moto.enable_auth()
        envoy = start_in_place(start_envoy, moto.port, in_place({"endpoint": moto.url, "function_name": "missing"}),
                               creds=moto_creds(moto))
        r = requests.post(envoy.url + "/orders", data=b"{}")
        assert r.status_code == 404
        body = r.json()
        assert body["error"] == "ResourceNotFoundException"
        assert body["message"].startswith("Function not found")
        assert body["request_id"] == r.headers["x-amzn-requestid"]
    finally:
        moto.stop()


def test_api_gateway_response_format_is_unwrapped(start_envoy, standin):
    proxy = Reply(200, {"x-amzn-RequestId": "req-2", "content-type": "application/json"},
                  {"statusCode": 201, "headers": {"location": "/orders/7"}, "body": "created"})
    api = standin([proxy])
    envoy = start_in_place(start_envoy, api.port, in_place({
        "endpoint": api.url, "event_format": "raw", "response_format": "apigw"}))
    r = requests.post(envoy.url + "/orders", data=b"{}")
    assert r.status_code == 201, r.text
    assert r.text == "created"
    assert r.headers["location"] == "/orders/7"


def test_bad_requests_never_reach_lambda(moto, start_envoy):
    envoy = start_in_place(start_envoy, moto.port,
                           in_place({"endpoint": moto.url, "function_param_name": "Fn", "function_name": None,
                                     "allowed_functions": ["echo"]}, path="/fn/{fn}"),
                           in_place({"endpoint": moto.url, "invocation_type": "Event"}, path="/event"),
                           creds=moto_creds(moto))
    before = len(moto.invoked_paths())
    r = requests.post(envoy.url + "/fn/bad%20name", data=b"{}")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_function_name"
    r = requests.post(envoy.url + "/fn/other", data=b"{}")
    assert r.status_code == 404
    assert r.json()["error"] == "function_not_allowed"
    # Asynchronous invocations take 1 MB: refused from the content-length, before any byte is sent.
    r = requests.post(envoy.url + "/event", data=b"x" * (1024 * 1024 + 1))
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"
    # ...and from the bytes streamed when there is no content-length.
    r = requests.post(envoy.url + "/event", data=iter([b"x" * (512 * 1024)] * 3))
    assert r.status_code == 413
    assert moto.invoked_paths()[before:] == []
    # Within the limit, Event answers 202.
    r = requests.post(envoy.url + "/event", data=b"{}")
    assert r.status_code == 202, r.text
    assert r.headers["x-amzn-requestid"]


def test_lambda_path_is_not_reachable_without_the_filter_choosing_it(moto, start_envoy):
    """The in-place route matches filter state only the filter sets: a client that sends the Invoke
    path itself gets Envoy's other routes, never the signing cluster."""
    envoy = start_in_place(start_envoy, moto.port, in_place({"endpoint": moto.url}), creds=moto_creds(moto))
    before = len(moto.invoked_paths())
    r = requests.post(envoy.url + "/2015-03-31/functions/echo/invocations", data=b"{}",
                      headers={IN_PLACE_KEY: "lambda_signed", "x-envoy-original-path": "/orders"})
    assert r.status_code == 404
    assert r.text == "no route"
    assert moto.invoked_paths()[before:] == []


def test_timeout_and_unreachable_and_missing_route(start_envoy, standin):
    slow = standin([Reply(200, {"x-amzn-RequestId": "r"}, {"late": True}, delay=2.0)])
    envoy = start_in_place(start_envoy, slow.port, in_place({"endpoint": slow.url}, timeout="500ms"))
    r = requests.post(envoy.url + "/orders", data=b"{}")
    assert r.status_code == 504
    assert r.json()["error"] == "lambda_timeout"
    assert r.elapsed.total_seconds() < 1.8

    dead = free_port()
    envoy = start_in_place(start_envoy, dead, in_place({"endpoint": f"http://127.0.0.1:{dead}"}))
    r = requests.post(envoy.url + "/orders", data=b"{}")
    assert r.status_code == 503
    assert r.json()["error"] == "lambda_unreachable"

    api = standin([OK])
    envoy = start_in_place(start_envoy, api.port, in_place({"endpoint": api.url}), route=False)
    r = requests.post(envoy.url + "/orders", data=b"{}")
    assert r.status_code == 500
    assert r.json()["error"] == "lambda_route_missing"
    assert "went nowhere (direct_response)" in envoy.log()
    assert f"route matching filter state {IN_PLACE_KEY} = \"lambda_signed\"" in envoy.log()
    assert api.requests == []
    # A catch-all route to an application answering 200 is not taken for Lambda's answer either.
    app = standin([Reply(200, {"content-type": "text/plain"}, b"app page")])
    envoy = start_in_place(start_envoy, api.port, in_place({"endpoint": api.url}), route=False,
                           upstream_port=app.port)
    r = requests.post(envoy.url + "/orders", data=b"{}")
    assert r.status_code == 500
    assert r.json()["error"] == "lambda_route_missing"
    assert 'went to cluster "app"' in envoy.log()


@pytest.mark.parametrize("block, method, key, words", [
    ({}, "GET", "mode", "event_format raw, or krakend with a backend method other than GET"),
    ({"event_format": "apigw_v2"}, "POST", "mode", "this payload is built by the filter"),
    ({"max_retries": 2}, "POST", "max_retries", "retry_policy"),
])
def test_configs_in_place_cannot_serve_are_refused_at_load(start_envoy, block, method, key, words):
    envoy = start_envoy(plugin(None, in_place(block, method=method)), wait=False)
    assert envoy.run_to_exit() != 0
    log = envoy.log()
    assert f"endpoint {method} /orders" in log and f"backend/lambda.{key}`" in log and words in log, log[-2000:]
