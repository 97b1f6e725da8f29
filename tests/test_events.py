"""API Gateway events and proxy responses in the real Envoy against moto. moto's functions echo
their event, so each test reads the exact event the filter sent; AWS Lambda Powertools' resolvers
(real handler code, as deployed on Lambda) then route and parse it. Proxy responses come from
moto's canned results."""

import base64
import json
import types

import pytest
import requests
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, APIGatewayRestResolver

from conftest import lambda_endpoint, plugin

CONTEXT = types.SimpleNamespace(aws_request_id="test", function_name="echo", invoked_function_arn="arn")


def events_envoy(moto, start_envoy, event_format, method="GET", **extra):
    block = {"function_name": "echo", "endpoint": moto.url, "event_format": event_format, **extra}
    return start_envoy(plugin(moto, lambda_endpoint("/users/{id}/orders", block, method=method)), moto.port)


def http_api_app():
    app = APIGatewayHttpResolver()

    @app.get("/users/<user_id>/orders")
    def orders(user_id):
        e = app.current_event
        # Mixed-case names, as handlers write them: the event's lower-case headers must still match.
        return {"user": user_id, "page": e.get_query_string_value("page"), "agent": e.headers.get("User-Agent"),
                "tenant": e.headers.get("X-Tenant"), "source_ip": e.request_context.http.source_ip,
                "method": e.request_context.http.method, "cookies": e.cookies}

    return app


def test_payload_2_event_is_what_powertools_reads(moto, start_envoy):
    envoy = events_envoy(moto, start_envoy, "apigw_v2", response_format="krakend")
    r = requests.get(envoy.url + "/users/42/orders?page=2&tag=a&tag=b",
                     headers={"User-Agent": "it/1", "X-Tenant": "acme", "Authorization": "Bearer secret",
                              "Cookie": "session=abc"})
    assert r.status_code == 200, r.text
    event = r.json()
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /users/{id}/orders"
    assert event["rawPath"] == "/users/42/orders"
    assert event["rawQueryString"] == "page=2&tag=a&tag=b"
    assert event["queryStringParameters"] == {"page": "2", "tag": "a,b"}
    assert event["pathParameters"] == {"id": "42"}
    assert event["headers"]["x-tenant"] == "acme"
    assert event["headers"]["x-request-id"]  # Envoy's request id, also requestContext.requestId
    assert event["requestContext"]["requestId"] == event["headers"]["x-request-id"]
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    # The client's credentials never reach the function by default.
    assert "authorization" not in event["headers"] and "cookie" not in event["headers"]
    assert "cookies" not in event and "secret" not in r.text and "session=abc" not in r.text
    result = http_api_app().resolve(event, CONTEXT)
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"]) == {"user": "42", "page": "2", "agent": "it/1", "tenant": "acme",
                                          "source_ip": "127.0.0.1", "method": "GET", "cookies": []}


def test_allowed_credentials_and_cookies_reach_the_function(moto, start_envoy):
    envoy = events_envoy(moto, start_envoy, "apigw_v2", response_format="krakend",
                         event_headers={"allow": ["authorization", "cookie", "x-*"], "deny": ["x-internal"]})
    r = requests.get(envoy.url + "/users/7/orders",
                     headers={"Authorization": "Bearer t", "Cookie": "a=1; b=2", "X-One": "1", "X-Internal": "no",
                              "Accept": "text/html"})
    event = r.json()
    assert event["headers"]["authorization"] == "Bearer t"
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"]["x-one"] == "1"
    assert "x-internal" not in event["headers"] and "accept" not in event["headers"]
    assert http_api_app().resolve(event, CONTEXT)["statusCode"] == 200


def test_payload_1_event_is_what_powertools_reads(moto, start_envoy):
    envoy = events_envoy(moto, start_envoy, "apigw_v1", method="POST", response_format="krakend")
    body = {"item": "book", "qty": 2}
    r = requests.post(envoy.url + "/users/9/orders?dry=1", json=body, headers={"X-Tenant": "acme"})
    assert r.status_code == 200, r.text
    event = r.json()
    assert (event["resource"], event["path"], event["httpMethod"]) == ("/users/{id}/orders", "/users/9/orders", "POST")
    assert event["multiValueHeaders"]["x-tenant"] == ["acme"]
    assert event["queryStringParameters"] == {"dry": "1"}
    assert event["multiValueQueryStringParameters"] == {"dry": ["1"]}
    assert json.loads(event["body"]) == body and event["isBase64Encoded"] is False
    assert event["stageVariables"] is None

    app = APIGatewayRestResolver()

    @app.post("/users/<user_id>/orders")
    def create(user_id):
        e = app.current_event
        return {"user": user_id, "item": e.json_body["item"], "dry": e.get_query_string_value("dry"),
                "stage": e.request_context.stage, "ip": e.request_context.identity.source_ip}, 201

    result = app.resolve(event, CONTEXT)
    assert result["statusCode"] == 201, result
    assert json.loads(result["body"]) == {"user": "9", "item": "book", "dry": "1", "stage": "$default", "ip": "127.0.0.1"}


def test_binary_bodies_are_base64_in_the_event(moto, start_envoy):
    envoy = events_envoy(moto, start_envoy, "apigw_v2", method="POST", response_format="krakend")
    png = bytes(range(256)) * 4
    r = requests.post(envoy.url + "/users/1/orders", data=png, headers={"content-type": "image/png"})
    event = r.json()
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == png


def test_raw_event_is_the_body_whatever_the_method(moto, start_envoy):
    envoy = events_envoy(moto, start_envoy, "raw")
    r = requests.get(envoy.url + "/users/1/orders", data=b'{"from": "a GET body"}')
    assert r.status_code == 200
    assert r.content == b'{"from": "a GET body"}'


def test_proxy_responses_are_unwrapped(moto, start_envoy):
    envoy = events_envoy(moto, start_envoy, "apigw_v2")
    moto.queue_results(json.dumps({
        "statusCode": 201,
        "headers": {"Content-Type": "text/plain", "X-Single": "s"},
        "multiValueHeaders": {"X-Multi": ["a", "b"]},
        "cookies": ["session=new; HttpOnly", "theme=dark"],
        "body": base64.b64encode(b"created\x00binary").decode(),
        "isBase64Encoded": True,
    }))
    r = requests.get(envoy.url + "/users/1/orders")
    assert r.status_code == 201
    assert r.content == b"created\x00binary"
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["x-single"] == "s"
    assert r.headers["x-multi"] == "a, b"  # two header lines, joined by the client library
    assert r.raw.headers.getlist("set-cookie") == ["session=new; HttpOnly", "theme=dark"]


def test_real_handler_output_round_trips(moto, start_envoy):
    """The event the filter built → Powertools' resolver → its proxy response → the client."""
    envoy = events_envoy(moto, start_envoy, "apigw_v2", response_format="krakend")
    event = requests.get(envoy.url + "/users/5/orders?page=3", headers={"X-Tenant": "t"}).json()
    result = http_api_app().resolve(event, CONTEXT)
    envoy = events_envoy(moto, start_envoy, "apigw_v2")
    moto.queue_results(json.dumps(result))
    r = requests.get(envoy.url + "/users/5/orders")
    assert r.status_code == result["statusCode"]
    assert r.json()["user"] == "5" and r.json()["page"] == "3"
    assert r.headers["content-type"] == "application/json"


def test_payload_2_plain_json_is_a_200_and_malformed_is_a_502(moto, start_envoy):
    envoy = events_envoy(moto, start_envoy, "apigw_v2")
    moto.queue_results('{"message": "no statusCode"}')
    r = requests.get(envoy.url + "/users/1/orders")
    assert (r.status_code, r.json()) == (200, {"message": "no statusCode"})
    moto.queue_results('{"statusCode": "soon"}')
    r = requests.get(envoy.url + "/users/1/orders")
    assert r.status_code == 502
    assert r.json()["error"] == "malformed_proxy_response"
    # Payload 1.0 has no such inference: a result without statusCode is malformed.
    envoy = events_envoy(moto, start_envoy, "apigw_v1")
    moto.queue_results('{"message": "no statusCode"}')
    assert requests.get(envoy.url + "/users/1/orders").status_code == 502
