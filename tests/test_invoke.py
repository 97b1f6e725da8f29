"""The filter in the real Envoy against moto's Lambda API with SigV4 checking on."""

import json
import time

import boto3
import pytest
import requests

from conftest import lambda_endpoint, plugin

ARN = "arn:aws:lambda:us-east-1:123456789012:function:echo"


def invoked_since(moto, before):
    return moto.invoked_paths()[before:]


def test_get_sends_krakend_placeholder_payload(moto, start_envoy):
    envoy = start_envoy(plugin(moto, lambda_endpoint(
        "/users/{userId}/{lambda}", {"function_param_name": "Lambda", "endpoint": moto.url})), moto.port)
    before = len(moto.invoked_paths())
    r = requests.get(envoy.url + "/users/42%20x/echo?ignored=1",
                     headers={"Authorization": "Bearer client-secret", "Cookie": "s=1"})
    assert r.status_code == 200, r.text
    # moto echoes the payload: KrakenD's shape, byte for byte (sorted, lower-cased keys, newline).
    assert r.content == b'{"lambda":"echo","userid":"42 x"}\n'
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-amzn-requestid"]
    assert invoked_since(moto, before) == ["/2015-03-31/functions/echo/invocations"]


def test_post_body_passes_through_unchanged(moto, start_envoy):
    envoy = start_envoy(plugin(moto, lambda_endpoint(
        "/orders", {"function_name": "echo", "endpoint": moto.url}, method="POST")), moto.port)
    body = b'{ "items": [1, 2, 3],\n  "note": "\\u00e9 <&>" }'
    r = requests.post(envoy.url + "/orders?x=1", data=body, headers={"content-type": "text/plain"})
    assert r.status_code == 200, r.text
    assert r.content == body
    # A large body (above Envoy's default 1 MiB buffer) goes through too with the example limits.
    big = json.dumps({"blob": "x" * (3 * 1024 * 1024)}).encode()
    r = requests.post(envoy.url + "/orders", data=big)
    assert r.status_code == 200
    assert r.content == big


@pytest.mark.parametrize("name", [
    "echo", "echo:live", "echo:$LATEST", ARN, ARN + ":live", "123456789012:function:echo",
])
def test_function_name_forms(moto, start_envoy, name):
    # moto checks the signature over the percent-encoded path; its log shows the decoded name.
    envoy = start_envoy(plugin(moto, lambda_endpoint("/f", {"function_name": name, "endpoint": moto.url})), moto.port)
    before = len(moto.invoked_paths())
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 200, r.text
    assert r.content == b"{}\n"
    assert invoked_since(moto, before) == [f"/2015-03-31/functions/{name}/invocations"]


def test_function_param_name_takes_the_function_from_the_path(moto, start_envoy):
    envoy = start_envoy(plugin(moto, lambda_endpoint(
        "/call-a-lambda/{lambda}", {"function_param_name": "Lambda", "endpoint": moto.url})), moto.port)
    before = len(moto.invoked_paths())
    for path in ["echo", "echo%3Alive", ARN.replace(":", "%3A")]:
        r = requests.get(envoy.url + "/call-a-lambda/" + path)
        assert r.status_code == 200, r.text
    assert invoked_since(moto, before) == [
        "/2015-03-31/functions/echo/invocations",
        "/2015-03-31/functions/echo:live/invocations",
        "/2015-03-31/functions/" + ARN + "/invocations",
    ]


def test_invalid_function_name_is_a_400_and_nothing_is_sent(moto, start_envoy):
    envoy = start_envoy(plugin(moto, lambda_endpoint(
        "/call-a-lambda/{lambda}", {"function_param_name": "Lambda", "endpoint": moto.url})), moto.port)
    before = len(moto.invoked_paths())
    for bad in ["bad%20name", "a" * 65, "x%3Ay%3Az%3Aw%3Av", "a%2Fb", "fn%3A%24LATEST2", "%2E%2E"]:
        r = requests.get(envoy.url + "/call-a-lambda/" + bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"] == "invalid_function_name"
    assert envoy.stat("cluster.lambda.upstream_rq_total") == 0
    assert invoked_since(moto, before) == []


def test_unmatched_requests_pass_through_untouched(moto, start_envoy, standin):
    origin = standin(echo=True)
    envoy = start_envoy(plugin(moto, lambda_endpoint(
        "/call-a-lambda/{lambda}", {"function_param_name": "Lambda", "endpoint": moto.url})),
        moto.port, upstream_port=origin.port)
    cases = [
        ("GET", "/other/path?q=1", b""),
        ("POST", "/call-a-lambda/echo", b"not for lambda: wrong method"),
        ("GET", "/call-a-lambda/echo/extra", b""),
        ("PUT", "/upload", b"x" * 100_000),
    ]
    for method, path, body in cases:
        r = requests.request(method, envoy.url + path, data=body, headers={"X-Custom": "kept", "Authorization": "Bearer t"})
        assert r.status_code == 200, r.text
        seen = r.json()
        assert (seen["method"], seen["path"]) == (method, path)
        headers = {k.lower(): v for k, v in seen["headers"].items()}
        assert headers["x-custom"] == "kept"
        assert headers["authorization"] == "Bearer t"
        assert seen["body"].encode("latin-1") == body
    assert envoy.stat("cluster.lambda.upstream_rq_total") == 0


def test_client_headers_never_reach_aws(moto, start_envoy, standin):
    # moto does not show the headers it receives: a stand-in Lambda API records them.
    api = standin(echo=True)
    envoy = start_envoy(plugin(moto, lambda_endpoint("/f", {"function_name": "echo:$LATEST", "endpoint": api.url},
                                                      method="POST")), api.port)
    r = requests.post(envoy.url + "/f", data=b"{}", headers={
        "Authorization": "Bearer client-token", "Cookie": "session=abc", "X-Forwarded-For": "10.0.0.1",
        "X-Custom": "no"})
    assert r.status_code == 200, r.text
    sent = {k.lower(): v for k, v in api.requests[0]["headers"].items()}
    assert sent["authorization"].startswith("AWS4-HMAC-SHA256 Credential=" + moto.access_key_id)
    assert "client-token" not in json.dumps(sent)
    for leaked in ["cookie", "x-custom"]:
        assert leaked not in sent
    assert sent["x-amz-invocation-type"] == "RequestResponse"
    # The name is percent-encoded in the path as the AWS SDKs encode it.
    assert api.requests[0]["path"] == "/2015-03-31/functions/echo%3A%24LATEST/invocations"
    assert sent["host"] == f"127.0.0.1:{api.port}"


def test_wrong_secret_is_a_502_with_the_aws_type_only_in_the_log(moto, start_envoy):
    envoy = start_envoy(plugin({"access_key_id": moto.access_key_id, "secret_access_key": "wrong-secret-value"},
                               lambda_endpoint("/f", {"function_name": "echo", "endpoint": moto.url})), moto.port)
    r = requests.get(envoy.url + "/f")
    # moto answered 403 SignatureDoesNotMatch: the client did nothing wrong, so it gets a 502.
    assert r.status_code == 502
    body = r.json()
    assert body["error"] == "lambda_access_denied"
    assert body["request_id"]
    assert "SignatureDoesNotMatch" not in r.text and "wrong-secret-value" not in r.text
    log = envoy.log()
    assert f"Lambda API error 403 SignatureDoesNotMatch request_id={body['request_id']}" in log
    assert "wrong-secret-value" not in log


def test_temporary_credentials_with_session_token(moto, start_envoy):
    sts = boto3.client("sts", endpoint_url=moto.url, region_name="us-east-1",
                       aws_access_key_id=moto.access_key_id, aws_secret_access_key=moto.secret_access_key)
    temp = sts.assume_role(RoleArn=moto.role_arn, RoleSessionName="lambda-wasm-test")["Credentials"]
    creds = {"access_key_id": temp["AccessKeyId"], "secret_access_key": temp["SecretAccessKey"],
             "session_token": temp["SessionToken"]}
    envoy = start_envoy(plugin(creds, lambda_endpoint("/f", {"function_name": "echo", "endpoint": moto.url})), moto.port)
    assert requests.get(envoy.url + "/f").status_code == 200
    # The same keys without the token are refused by moto: the token really is signed and sent.
    del creds["session_token"]
    envoy = start_envoy(plugin(creds, lambda_endpoint("/f", {"function_name": "echo", "endpoint": moto.url})), moto.port)
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 502
    assert "Lambda API error 403" in envoy.log()


def test_credentials_and_region_from_the_vm_environment(moto, start_envoy):
    env = {"AWS_ACCESS_KEY_ID": moto.access_key_id, "AWS_SECRET_ACCESS_KEY": moto.secret_access_key,
           "AWS_REGION": "us-east-1"}
    config = plugin(None, lambda_endpoint("/f", {"function_name": "echo", "endpoint": moto.url}))
    del config["endpoints"][0]["backend"][0]["extra_config"]["backend/lambda"]["region"]
    envoy = start_envoy(config, moto.port, env=env, env_keys=list(env))
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 200, r.text


def test_no_credentials_refuses_every_request(moto, start_envoy):
    # Nothing configured: the SDKs' chain ends at EC2 instance metadata, whose cluster is missing.
    envoy = start_envoy(plugin(None, lambda_endpoint("/f", {"function_name": "echo", "endpoint": moto.url})), moto.port)
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 503
    assert r.json()["error"] == "credentials_unavailable"
    assert 'Envoy refused the callout to cluster "imds"' in envoy.log()
    # A chain with nothing available: refused at once, never sent unsigned.
    config = plugin(None, lambda_endpoint("/f", {"function_name": "echo", "endpoint": moto.url}))
    config["credentials"] = {"chain": ["environment"]}
    envoy2 = start_envoy(config, moto.port)
    r = requests.get(envoy2.url + "/f")
    assert r.status_code == 503
    assert r.json()["error"] == "credentials_unavailable"
    assert "no AWS credentials" in envoy2.log()
    for e in (envoy, envoy2):
        assert e.stat("cluster.lambda.upstream_rq_total") == 0


def test_many_requests_in_a_row(moto, start_envoy):
    envoy = start_envoy(plugin(moto, lambda_endpoint(
        "/n/{id}", {"function_name": "echo", "endpoint": moto.url})), moto.port)
    with requests.Session() as s:
        for i in range(50):
            r = s.get(f"{envoy.url}/n/{i}")
            assert r.status_code == 200
            assert r.json() == {"id": str(i)}
