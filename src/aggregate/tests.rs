use super::*;
use crate::config;
use crate::function::FunctionName;
use serde_json::{json, Value};
use std::rc::Rc;

fn endpoint(backends: Value, extra: Value) -> Rc<Endpoint> {
    let mut ep = json!({"endpoint": "/e", "backend": backends});
    if let (Some(e), Some(x)) = (ep.as_object_mut(), extra.as_object()) {
        e.extend(x.clone());
    }
    let config =
        json!({"credentials": {"access_key_id": "A", "secret_access_key": "S"}, "endpoints": [ep]});
    let parsed = config::parse(&serde_json::to_vec(&config).unwrap(), &|_| None).unwrap();
    Rc::clone(&parsed.endpoints[0])
}

fn backend(function: &str, keys: Value) -> Value {
    let mut b = json!({"host": ["x"], "url_pattern": "/x",
        "extra_config": {"backend/lambda": {"function_name": function, "region": "us-east-1"}}});
    if let (Some(o), Some(k)) = (b.as_object_mut(), keys.as_object()) {
        o.extend(k.clone());
    }
    b
}

fn success(body: &str) -> Success {
    Success {
        body: body.as_bytes().to_vec(),
        executed_version: Some("7".into()),
        request_id: Some("req".into()),
    }
}

fn failed() -> ClientResponse {
    ClientError::LambdaTimeout.response()
}

/// Composes with (backend index, result, arrival order) in configuration order.
fn compose_of(e: &Endpoint, results: &[(Option<&Success>, usize)]) -> Composed {
    let failure = failed();
    let function = FunctionName::parse("f").unwrap();
    let parts: Vec<Part> = e
        .backends
        .iter()
        .zip(results)
        .map(|(b, (s, arrived))| Part {
            backend: b,
            function: &function,
            response: failure.clone(),
            success: s.cloned(),
            arrived: *arrived,
        })
        .collect();
    compose(e, parts)
}

fn header<'a>(r: &'a ClientResponse, name: &str) -> Option<&'a str> {
    r.header(name)
}

#[test]
fn one_backend_without_manipulation_passes_the_bytes_through() {
    let e = endpoint(json!([backend("f", json!({}))]), json!({}));
    let passthrough = ClientResponse {
        status: 200,
        headers: vec![],
        body: b"{ \"b\" : 1, \"a\": 2 }".to_vec(),
    };
    let s = success("{ \"b\" : 1, \"a\": 2 }");
    let function = FunctionName::parse("f").unwrap();
    let parts = vec![Part {
        backend: &e.backends[0],
        function: &function,
        response: passthrough.clone(),
        success: Some(s),
        arrived: 0,
    }];
    let composed = compose(&e, parts);
    assert_eq!(composed.response, passthrough);
    assert_eq!(header(&composed.response, COMPLETED_HEADER), None);
}

#[test]
fn one_backend_with_manipulation_is_formatted_and_encoded_as_krakend_does() {
    // lura v2.9.1 proxy/formatter.go:36-80: target, then deny, then mapping, then group.
    let e = endpoint(
        json!([backend(
            "f",
            json!({"target": "user", "deny": ["password_hash"],
                                   "mapping": {"name": "full_name"}, "group": "u"})
        )]),
        json!({}),
    );
    let s = success(r#"{"user": {"name": "<Ann>", "password_hash": "x", "id": 1.0}, "other": 2}"#);
    let composed = compose_of(&e, &[(Some(&s), 0)]);
    let r = &composed.response;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        br#"{"u":{"full_name":"\u003cAnn\u003e","id":1}}"#.to_vec()
    );
    assert_eq!(
        header(r, "content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(header(r, COMPLETED_HEADER), Some("true"));
    assert_eq!(header(r, "x-amz-executed-version"), Some("7"));
}

#[test]
fn a_result_that_is_not_an_object_is_a_502() {
    // krakend-lambda v2.0.3 backend.go:87-90: the result is decoded into a map.
    let e = endpoint(json!([backend("f", json!({"deny": ["a"]}))]), json!({}));
    for body in ["[1,2]", "\"text\"", "42", "not json"] {
        let s = success(body);
        let composed = compose_of(&e, &[(Some(&s), 0)]);
        assert_eq!(composed.response.status, 502, "{body}");
        assert_eq!(composed.problems.len(), 1);
        // Logged with the function, the backend and Lambda's request id.
        assert!(
            composed.problems[0].starts_with("function f: the result of backend 0 is not")
                && composed.problems[0].ends_with("request_id=req"),
            "{}",
            composed.problems[0]
        );
        let v: Value = serde_json::from_slice(&composed.response.body).unwrap();
        assert_eq!(v["error"], "invalid_lambda_result");
    }
}

#[test]
fn backends_merge_in_arrival_order_and_partial_answers_say_so() {
    // lura v2.9.1 proxy/merging.go:451-475: shallow, the later answer wins a key.
    let e = endpoint(
        json!([backend("a", json!({})), backend("b", json!({}))]),
        json!({}),
    );
    let a = success(r#"{"k": "from a", "a": 1}"#);
    let b = success(r#"{"k": "from b", "b": 2}"#);
    let composed = compose_of(&e, &[(Some(&a), 1), (Some(&b), 0)]);
    assert_eq!(
        composed.response.body,
        br#"{"a":1,"b":2,"k":"from a"}"#.to_vec()
    );
    assert_eq!(header(&composed.response, COMPLETED_HEADER), Some("true"));
    // Merged answers carry no backend's headers (merging.go:461).
    assert_eq!(header(&composed.response, "x-amz-executed-version"), None);
    let composed = compose_of(&e, &[(Some(&a), 1), (None, 0)]);
    assert_eq!(composed.response.status, 200);
    assert_eq!(composed.response.body, br#"{"a":1,"k":"from a"}"#.to_vec());
    assert_eq!(header(&composed.response, COMPLETED_HEADER), Some("false"));
    // None answered: the first failing backend's own answer.
    let composed = compose_of(&e, &[(None, 0), (None, 1)]);
    assert_eq!(composed.response, failed());
}

#[test]
fn the_endpoint_flatmap_runs_on_complete_merges_only() {
    // lura v2.9.1 proxy/formatter.go:340-347, factory.go:81-82.
    let e = endpoint(
        json!([backend("a", json!({})), backend("b", json!({}))]),
        json!({"extra_config": {"proxy": {"flatmap_filter": [{"type": "del", "args": ["secret"]}]}}}),
    );
    let a = success(r#"{"secret": 1, "a": 1}"#);
    let b = success(r#"{"b": 2}"#);
    let complete = compose_of(&e, &[(Some(&a), 0), (Some(&b), 1)]);
    assert_eq!(complete.response.body, br#"{"a":1,"b":2}"#.to_vec());
    let partial = compose_of(&e, &[(Some(&a), 0), (None, 1)]);
    assert_eq!(partial.response.body, br#"{"a":1,"secret":1}"#.to_vec());
}

#[test]
fn output_encodings_string_and_collection() {
    // lura v2.9.1 router/gin/render.go:84-125.
    let text = endpoint(
        json!([backend("f", json!({}))]),
        json!({"output_encoding": "string"}),
    );
    let s = success(r#"{"content": "hello"}"#);
    let r = compose_of(&text, &[(Some(&s), 0)]).response;
    assert_eq!(
        (r.body.as_slice(), header(&r, "content-type")),
        (&b"hello"[..], Some("text/plain; charset=utf-8"))
    );
    let list = endpoint(
        json!([backend("f", json!({}))]),
        json!({"output_encoding": "json-collection"}),
    );
    let s = success(r#"{"collection": [1, {"b": 2}]}"#);
    assert_eq!(
        compose_of(&list, &[(Some(&s), 0)]).response.body,
        br#"[1,{"b":2}]"#.to_vec()
    );
}
