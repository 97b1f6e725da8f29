"""The filter's metrics as Envoy publishes them in /stats/prometheus (with the function and
reason labels the bootstrap's stats_tags extract), after traffic of every kind: moto for
successes, the stand-in for what moto cannot produce."""

import requests

from conftest import lambda_endpoint, plugin
from stack import cluster, free_port
from standin import Reply

OK = Reply(200, {"x-amzn-RequestId": "r"}, {"ok": True})
THROTTLE = Reply(429, {"x-amzn-RequestId": "r", "x-amzn-ErrorType": "TooManyRequestsException"}, {"message": "x"})
FAILED = Reply(200, {"x-amzn-RequestId": "r", "X-Amz-Function-Error": "Unhandled"}, {"errorMessage": "boom"})
SERVICE = Reply(500, {"x-amzn-RequestId": "r", "x-amzn-ErrorType": "ServiceException"}, {"message": "x"})
MISSING = Reply(404, {"x-amzn-RequestId": "r", "x-amzn-ErrorType": "ResourceNotFoundException"}, {"message": "x"})


def test_metrics_for_every_outcome(moto, start_envoy, standin):
    api = standin([THROTTLE, OK, FAILED, SERVICE, MISSING])
    dead = free_port()
    block = {"endpoint": moto.url}
    config = plugin(moto,
                    lambda_endpoint("/ok/{lambda}", {"function_param_name": "Lambda", "allowed_functions": ["echo", "echo:*"], **block}),
                    lambda_endpoint("/api", {"function_name": "scripted", "endpoint": api.url, "cluster": "api", "max_retries": 1}),
                    lambda_endpoint("/dead", {"function_name": "gone", "endpoint": "http://127.0.0.1:1", "cluster": "dead"}),
                    lambda_endpoint("/big", {"function_name": "echo", "invocation_type": "Event", **block}, method="POST"))
    config["credentials"]["assume_role"] = {"role_arn": moto.role_arn, "endpoint": moto.url}
    envoy = start_envoy(config, moto.port, clusters=[cluster("api", api.port), cluster("dead", dead), cluster("sts", moto.port)])

    assert requests.get(envoy.url + "/ok/echo").status_code == 200
    assert requests.get(envoy.url + "/ok/echo").status_code == 200
    assert requests.get(envoy.url + "/ok/echo%3Alive").status_code == 200
    assert requests.get(envoy.url + "/ok/other").status_code == 404
    assert requests.get(envoy.url + "/ok/bad%20name").status_code == 400
    assert requests.get(envoy.url + "/api").status_code == 200  # a throttle, retried, then OK
    assert requests.get(envoy.url + "/api").status_code == 502  # function error
    assert requests.get(envoy.url + "/api").status_code == 404  # a 500, retried: a 404
    assert requests.get(envoy.url + "/dead").status_code == 503
    assert requests.post(envoy.url + "/big", data=b"x" * (1024 * 1024 + 1)).status_code == 413

    m = envoy.prometheus()
    expected = {
        'lambda_wasm_invocations{function="echo"}': 2,
        'lambda_wasm_invocations{function="echo:live"}': 1,
        'lambda_wasm_invocations{function="scripted"}': 5,
        'lambda_wasm_invocations{function="gone"}': 1,
        'lambda_wasm_throttles{function="scripted"}': 1,
        'lambda_wasm_function_errors{function="scripted"}': 1,
        'lambda_wasm_aws_errors_5xx{function="scripted"}': 1,
        'lambda_wasm_aws_errors_4xx{function="scripted"}': 1,
        'lambda_wasm_retries{function="scripted"}': 2,
        'lambda_wasm_transport_errors{function="gone"}': 1,
        'lambda_wasm_rejected{reason="function_not_allowed"}': 1,
        'lambda_wasm_rejected{reason="invalid_function_name"}': 1,
        'lambda_wasm_rejected{reason="payload_too_large"}': 1,
        'lambda_wasm_latency_ms_count{function="echo"}': 2,
        'lambda_wasm_request_bytes_count{function="scripted"}': 5,
        'lambda_wasm_response_bytes_count{function="echo:live"}': 1,
    }
    for key, value in expected.items():
        assert m.get(key) == value, (key, m.get(key), sorted(k for k in m if "_bucket" not in k))
    # Two payloads of {"lambda":"echo"}\n (18 bytes); Envoy's histogram sums are approximate.
    assert abs(m['lambda_wasm_request_bytes_sum{function="echo"}'] - 36) <= 36 * 0.05
    # AssumeRole ran once for the whole Envoy (in the VM that took the lease).
    assert m["lambda_wasm_credential_refreshes{}"] == 1
    assert "lambda_wasm_credential_failures{}" not in m


def test_credential_failures_and_refusals_are_counted(moto, start_envoy):
    config = plugin(moto, lambda_endpoint("/f", {"function_name": "echo", "endpoint": moto.url}))
    config["credentials"]["assume_role"] = {"role_arn": moto.role_arn, "endpoint": moto.url}
    envoy = start_envoy(config, moto.port, clusters=[cluster("sts", free_port())])  # STS is down
    assert requests.get(envoy.url + "/f").status_code == 503
    m = envoy.prometheus()
    assert m["lambda_wasm_credential_failures{}"] >= 1
    assert m['lambda_wasm_rejected{reason="credentials_unavailable"}'] == 1
