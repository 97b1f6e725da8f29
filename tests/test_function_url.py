"""Function URL targets in the real Envoy: the client's request forwarded in place to the URL's
host, signed by Envoy's aws_request_signing on the cluster (service lambda, body hashed) or
unsigned (auth none), with a header allow-list; the function's own HTTP response back as it is,
streamed. The Function URL is a stand-in that checks signatures with botocore (see
function_url_standin.py: moto serves no Function URL invocations)."""

import http.client
import json
import time

import requests

from conftest import lambda_endpoint
from function_url_standin import FunctionUrl
from stack import cluster, in_place_route, signing_cluster

KEY = {"access_key_id": "AKIDFUNCURL", "secret_access_key": "function-url-secret"}
HOST = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws"


def url_endpoint(path, method, auth="iam", **options):
    endpoint = lambda_endpoint(path, {"function_url": {"url": f"https://{HOST}", "auth": auth, **options},
                                      "cluster": "function_url"}, method=method)
    return endpoint


def start(start_envoy, standin, site, *endpoints, auth="iam"):
    app = standin(echo=True)
    target = (signing_cluster("function_url", site.port, "us-east-1", KEY) if auth == "iam"
              else cluster("function_url", site.port))
    config = {"endpoints": list(endpoints)}
    return start_envoy(config, clusters=[target], upstream_port=app.port,
                       first_routes=[in_place_route("function_url")]), app


def test_requests_are_forwarded_signed_with_only_allowed_headers(start_envoy, standin, servers):
    site = FunctionUrl(check=(KEY["access_key_id"], KEY["secret_access_key"], "us-east-1"))
    servers.append(site)
    envoy, app = start(start_envoy, standin, site,
                       url_endpoint("/api/orders/{id}", "POST", strip_prefix="/api"),
                       url_endpoint("/api/cookies", "GET", strip_prefix="/api", forward_cookies=True,
                                    forward_headers=["x-tenant"]))
    body = json.dumps({"item": "book"}).encode()
    r = requests.post(envoy.url + "/api/orders/7?debug=1", data=body, headers={
        "content-type": "application/json", "authorization": "Bearer client-token", "cookie": "c=1",
        "x-api-key": "k", "x-amz-security-token": "t", "x-tenant": "blue", "traceparent": "00-ab-cd-01"})
    assert r.status_code == 201, r.text
    assert r.json() == {"method": "POST", "path": "/orders/7?debug=1", "body": body.decode()}
    assert r.headers["set-cookie"] == "session=abc; HttpOnly", "the function's response as it is"
    seen = site.requests[-1]
    assert seen["signature_valid"], "botocore recomputed Envoy's signature"
    assert seen["headers"]["host"] == HOST
    assert seen["headers"]["authorization"].startswith("AWS4-HMAC-SHA256")
    for gone in ("cookie", "x-api-key", "x-amz-security-token", "x-tenant"):
        assert gone not in seen["headers"], gone
    assert seen["headers"]["traceparent"] == "00-ab-cd-01"
    r = requests.get(envoy.url + "/api/cookies", headers={"cookie": "c=1", "x-tenant": "blue"})
    assert r.status_code == 201, r.text
    assert site.requests[-1]["headers"]["cookie"] == "c=1"
    assert site.requests[-1]["headers"]["x-tenant"] == "blue"
    assert app.requests == [], "nothing fell through to the app"


def test_a_refused_signature_is_a_502_and_auth_none_sends_no_signature(start_envoy, standin, servers):
    wrong = FunctionUrl(check=("AKIDOTHER", "other", "us-east-1"))
    servers.append(wrong)
    envoy, _ = start(start_envoy, standin, wrong, url_endpoint("/f", "GET"))
    r = requests.get(envoy.url + "/f")
    assert (r.status_code, r.json()["error"]) == (502, "lambda_access_denied")
    public = FunctionUrl(check=None)
    servers.append(public)
    envoy, _ = start(start_envoy, standin, public, url_endpoint("/p", "GET", auth="none"), auth="none")
    r = requests.get(envoy.url + "/p?x=1")
    assert r.status_code == 201, r.text
    assert "authorization" not in public.requests[-1]["headers"]
    assert r.json()["path"] == "/p?x=1"


def test_no_client_request_reaches_the_url_cluster_without_the_filter(start_envoy, standin, servers):
    site = FunctionUrl(check=(KEY["access_key_id"], KEY["secret_access_key"], "us-east-1"))
    servers.append(site)
    envoy, app = start(start_envoy, standin, site, url_endpoint("/f", "GET"))
    r = requests.get(envoy.url + "/other", headers={"host": HOST})
    assert r.json()["path"] == "/other", "the app answered, not the Function URL"
    assert site.requests == []


def test_a_streaming_function_url_reaches_the_client_chunk_by_chunk(start_envoy, standin, servers):
    chunks = [f"data: event {i}\n\n".encode() for i in range(5)]
    site = FunctionUrl(check=(KEY["access_key_id"], KEY["secret_access_key"], "us-east-1"), chunks=chunks, gap=0.3)
    servers.append(site)
    envoy, _ = start(start_envoy, standin, site, url_endpoint("/events", "GET"))
    conn = http.client.HTTPConnection("127.0.0.1", envoy.listener_port, timeout=10)
    conn.request("GET", "/events")
    r = conn.getresponse()
    assert r.status == 200
    assert r.getheader("content-type") == "text/event-stream"
    first = r.read1(1 << 16)
    first_at = time.monotonic()
    rest = r.read()
    conn.close()
    assert first.startswith(b"data: event 0")
    assert first_at < site.chunk_times[-1], "the first event arrived before the last was produced"
    assert first + rest == b"".join(chunks)
