use super::*;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn lower_cases_keys_and_sorts_them() {
    let out = from_params(&strings(&["userId", "lambda"]), &strings(&["42", "fn"]));
    assert_eq!(out, b"{\"lambda\":\"fn\",\"userid\":\"42\"}\n");
}

#[test]
fn a_later_name_replaces_an_equal_earlier_one() {
    // Names equal once lower-cased, as Go's map assignment in KrakenD: the last value wins, keys
    // stay sorted whatever the arrival order.
    let out = from_params(
        &strings(&["b", "Id", "a", "ID"]),
        &strings(&["1", "2", "3", "4"]),
    );
    assert_eq!(out, b"{\"a\":\"3\",\"b\":\"1\",\"id\":\"4\"}\n");
}

#[test]
fn sorted_slot_keeps_keys_sorted_and_finds_equal_ones() {
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    for (key, value) in [("m", 1), ("c", 2), ("x", 3), ("c", 4), ("a", 5)] {
        sorted_slot(&mut pairs, key.to_string(), Vec::new())
            .unwrap()
            .push(value);
    }
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "c", "m", "x"]);
    assert_eq!(pairs[1].1, [2, 4]);
}

#[test]
fn no_placeholders_gives_an_empty_object() {
    assert_eq!(from_params(&[], &[]), b"{}\n");
}

#[test]
fn escapes_like_go_json_encoder() {
    let out = from_params(&strings(&["q"]), &strings(&["<a href=\"x\">&\u{2028}é"]));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"q\":\"\\u003ca href=\\\"x\\\"\\u003e\\u0026\\u2028é\"}\n"
    );
}

fn input(headers: &[(&str, &str)]) -> HttpInput<'static> {
    HttpInput {
        method: "POST",
        pattern: "/users/{id}/orders",
        path: "/users/42%20x/orders?a=1&b=x&b=y&flag&c=%2B%20",
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        params: vec![("id".into(), "42 x".into())],
        host: "api.example.com",
        protocol: "HTTP/1.1",
        source_ip: "10.1.2.3",
        request_id: "req-1",
        time: crate::credentials::parse_time("2026-11-22T03:04:05Z").unwrap(),
    }
}

fn keys(v: &serde_json::Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn payload_1_0_has_the_documented_fields() {
    let i = input(&[
        ("content-type", "application/json"),
        ("x-dup", "1"),
        ("x-dup", "2"),
        ("user-agent", "curl/8"),
    ]);
    let e = apigw::v1(&i, &Body::Text("{\"a\":1}".into()));
    let mut k = keys(&e);
    k.sort();
    assert_eq!(
        k,
        [
            "body",
            "headers",
            "httpMethod",
            "isBase64Encoded",
            "multiValueHeaders",
            "multiValueQueryStringParameters",
            "path",
            "pathParameters",
            "queryStringParameters",
            "requestContext",
            "resource",
            "stageVariables",
            "version"
        ]
    );
    assert_eq!(e["resource"], "/users/{id}/orders");
    assert_eq!(e["path"], "/users/42 x/orders");
    assert_eq!(e["httpMethod"], "POST");
    assert_eq!(
        e["headers"]["x-dup"], "2",
        "the last value, as API Gateway does"
    );
    assert_eq!(
        e["multiValueHeaders"]["x-dup"],
        serde_json::json!(["1", "2"])
    );
    assert_eq!(
        e["queryStringParameters"],
        serde_json::json!({"a": "1", "b": "y", "flag": "", "c": "+ "})
    );
    assert_eq!(
        e["multiValueQueryStringParameters"]["b"],
        serde_json::json!(["x", "y"])
    );
    assert_eq!(e["pathParameters"], serde_json::json!({"id": "42 x"}));
    assert_eq!(e["body"], "{\"a\":1}");
    assert_eq!(e["isBase64Encoded"], false);
    let rc = &e["requestContext"];
    assert_eq!(rc["identity"]["sourceIp"], "10.1.2.3");
    assert_eq!(rc["identity"]["userAgent"], "curl/8");
    assert_eq!(rc["requestTime"], "22/Nov/2026:03:04:05 +0000");
    assert_eq!(rc["requestTimeEpoch"], 1_795_316_645_000u64);
    assert_eq!(
        (rc["resourcePath"].as_str(), rc["stage"].as_str()),
        (Some("/users/{id}/orders"), Some("$default"))
    );
    assert_eq!(
        (rc["domainName"].as_str(), rc["domainPrefix"].as_str()),
        (Some("api.example.com"), Some("api"))
    );
    for key in [
        "accountId",
        "apiId",
        "resourceId",
        "requestId",
        "protocol",
        "httpMethod",
        "path",
    ] {
        assert!(rc[key].is_string(), "{key}");
    }
    // Nothing in the query, no headers, no body: nulls, as API Gateway sends them.
    let mut bare = input(&[]);
    bare.path = "/users/1/orders";
    let e = apigw::v1(&bare, &Body::None);
    for key in [
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "body",
    ] {
        assert!(e[key].is_null(), "{key}");
    }
}

#[test]
fn payload_2_0_has_the_documented_fields() {
    let i = input(&[
        ("x-dup", "1"),
        ("x-dup", "2"),
        ("cookie", "s=1; t=2"),
        ("user-agent", "curl/8"),
    ]);
    let e = apigw::v2(&i, &Body::Base64("AAE=".into()));
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "POST /users/{id}/orders");
    assert_eq!(e["rawPath"], "/users/42%20x/orders");
    assert_eq!(e["rawQueryString"], "a=1&b=x&b=y&flag&c=%2B%20");
    assert_eq!(e["cookies"], serde_json::json!(["s=1", "t=2"]));
    assert_eq!(
        e["headers"],
        serde_json::json!({"x-dup": "1,2", "user-agent": "curl/8"})
    );
    assert_eq!(
        e["queryStringParameters"],
        serde_json::json!({"a": "1", "b": "x,y", "flag": "", "c": "+ "})
    );
    assert_eq!(e["pathParameters"], serde_json::json!({"id": "42 x"}));
    assert_eq!(
        (e["body"].as_str(), e["isBase64Encoded"].as_bool()),
        (Some("AAE="), Some(true))
    );
    let http = &e["requestContext"]["http"];
    assert_eq!(
        http,
        &serde_json::json!({"method": "POST", "path": "/users/42 x/orders", "protocol": "HTTP/1.1",
                                         "sourceIp": "10.1.2.3", "userAgent": "curl/8"})
    );
    let rc = &e["requestContext"];
    assert_eq!(rc["time"], "22/Nov/2026:03:04:05 +0000");
    assert_eq!(rc["timeEpoch"], 1_795_316_645_000u64);
    assert_eq!(rc["routeKey"], "POST /users/{id}/orders");
    // Absent parts are left out, as HTTP APIs do.
    let mut bare = input(&[]);
    bare.path = "/users/1/orders";
    bare.params.clear();
    let e = apigw::v2(&bare, &Body::None);
    for key in ["cookies", "queryStringParameters", "pathParameters", "body"] {
        assert!(e.get(key).is_none(), "{key}");
    }
    assert_eq!(e["rawQueryString"], "");
}

#[test]
fn credentials_stay_out_of_events_unless_allowed() {
    let default = EventOptions::default();
    for name in [
        "authorization",
        "cookie",
        "proxy-authorization",
        "x-api-key",
        "x-amz-security-token",
        ":path",
        "connection",
        "transfer-encoding",
        "x-envoy-expected-rq-timeout-ms",
    ] {
        assert!(!default.shows_header(name), "{name}");
    }
    for name in [
        "content-type",
        "user-agent",
        "x-forwarded-for",
        "x-request-id",
        "accept",
    ] {
        assert!(default.shows_header(name), "{name}");
    }
    let allow = EventOptions {
        allow_headers: Some(vec!["authorization".into(), "x-tenant-*".into()]),
        deny_headers: vec!["x-tenant-secret".into()],
        ..EventOptions::default()
    };
    assert!(allow.shows_header("authorization"));
    assert!(allow.shows_header("x-tenant-id"));
    assert!(!allow.shows_header("x-tenant-secret"));
    assert!(!allow.shows_header("content-type"));
    assert!(!allow.shows_header(":authority"));
}

#[test]
fn binary_bodies_are_base64() {
    let default = EventOptions::default();
    assert_eq!(encode_body(b"", Some("image/png"), &default), Body::None);
    assert_eq!(
        encode_body(b"{}", Some("application/json; charset=utf-8"), &default),
        Body::Text("{}".into())
    );
    assert_eq!(
        encode_body(b"<a/>", Some("application/atom+xml"), &default),
        Body::Text("<a/>".into())
    );
    assert_eq!(encode_body(b"hi", None, &default), Body::Text("hi".into()));
    assert_eq!(
        encode_body(b"\x89PNG", Some("image/png"), &default),
        Body::Base64("iVBORw==".into())
    );
    assert_eq!(
        encode_body(b"hi", Some("application/octet-stream"), &default),
        Body::Base64("aGk=".into())
    );
    assert_eq!(
        encode_body(b"\xff\xfe", Some("text/plain"), &default),
        Body::Base64("//4=".into()),
        "not UTF-8: never lossy"
    );
    let listed = EventOptions {
        binary_media_types: Some(vec!["image/*".into(), "application/pdf".into()]),
        ..EventOptions::default()
    };
    assert_eq!(
        encode_body(b"x", Some("image/gif"), &listed),
        Body::Base64("eA==".into())
    );
    assert_eq!(
        encode_body(b"x", Some("application/pdf"), &listed),
        Body::Base64("eA==".into())
    );
    assert_eq!(
        encode_body(b"x", Some("application/octet-stream"), &listed),
        Body::Text("x".into())
    );
}

#[test]
fn request_times_in_common_log_format() {
    let t = |s: &str| apigw::clf_time(crate::credentials::parse_time(s).unwrap());
    assert_eq!(t("1970-01-01T00:00:00Z"), "01/Jan/1970:00:00:00 +0000");
    assert_eq!(t("2024-02-29T23:59:59Z"), "29/Feb/2024:23:59:59 +0000");
    assert_eq!(t("2026-12-31T12:00:09Z"), "31/Dec/2026:12:00:09 +0000");
}

#[test]
fn property_events_are_valid_json_for_any_request() {
    let mut g = crate::testkit::Gen::new(5);
    let options = EventOptions::default();
    for case in 0..2000 {
        let path = format!("/{}?{}", g.text(5), g.text(5));
        let headers: Vec<(String, String)> = (0..g.below(5))
            .map(|_| (g.text(2).to_lowercase(), g.text(4)))
            .collect();
        let params: Vec<(String, String)> =
            (0..g.below(3)).map(|_| (g.text(2), g.text(3))).collect();
        let host = g.text(3);
        let i = HttpInput {
            method: "POST",
            pattern: "/p/{x}",
            path: &path,
            headers,
            params,
            host: &host,
            protocol: "HTTP/1.1",
            source_ip: "10.1.2.3",
            request_id: "req",
            time: crate::credentials::parse_time("2026-11-22T03:04:05Z").unwrap(),
        };
        let content_type = g.text(3);
        let body = encode_body(&g.bytes(40), Some(&content_type), &options);
        for event in [apigw::v1(&i, &body), apigw::v2(&i, &body)] {
            let text = serde_json::to_vec(&event).unwrap();
            assert!(
                serde_json::from_slice::<serde_json::Value>(&text).is_ok(),
                "case {case}"
            );
        }
        let names: Vec<String> = (0..g.below(4)).map(|_| g.text(3)).collect();
        let values: Vec<String> = names.iter().map(|_| g.text(3)).collect();
        let payload = from_params(&names, &values);
        assert!(
            serde_json::from_slice::<serde_json::Value>(&payload).is_ok(),
            "case {case}"
        );
    }
}
