"""Tenant isolation (X-Amz-Tenant-Id) in the real Envoy: taken from a header, validated, signed.
moto verifies the signature (the tenant header among the signed ones); a recording stand-in shows
what reaches Lambda, since moto does not implement tenant-isolated functions."""

import requests

from conftest import lambda_endpoint, plugin


def tenant_endpoint(path, endpoint, tenant):
    return lambda_endpoint(path, {"function_name": "echo", "endpoint": endpoint, "tenant_id": tenant})


def test_the_tenant_header_is_signed_and_sent(moto, start_envoy):
    config = plugin(moto, tenant_endpoint("/moto", moto.url, {"header": "x-tenant"}))
    envoy = start_envoy(config, moto.port)
    r = requests.get(envoy.url + "/moto", headers={"x-tenant": "blue:eu/1"})
    assert r.status_code == 200, r.text  # moto accepted the signature over x-amz-tenant-id
    missing = requests.get(envoy.url + "/moto")
    assert (missing.status_code, missing.json()["error"]) == (400, "missing_tenant_id")
    bad = requests.get(envoy.url + "/moto", headers={"x-tenant": "a;b"})
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_tenant_id")
    assert "lambda_wasm.rejected.reason.invalid_tenant_id" in requests.get(envoy.admin + "/stats").text


def test_the_tenant_reaches_lambda_from_a_placeholder(moto, start_envoy, standin):
    recorder = standin(echo=True)
    config = plugin(moto, tenant_endpoint("/seen/{tenant}", recorder.url, {"param": "Tenant"}))
    envoy = start_envoy(config, recorder.port)
    r = requests.get(envoy.url + "/seen/acme")
    assert r.status_code == 200, r.text
    sent = recorder.requests[-1]["headers"]
    assert sent["x-amz-tenant-id"] == "acme"
    assert "x-amz-tenant-id" in sent["authorization"].split("SignedHeaders=")[1]
    r = requests.get(envoy.url + "/seen/a%09b")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_tenant_id")
    assert len(recorder.requests) == 1, "nothing sent for an invalid tenant"
