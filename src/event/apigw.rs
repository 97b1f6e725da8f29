//! API Gateway proxy events: REST payload 1.0 and HTTP API / Function URL payload 2.0, with the
//! fields AWS documents and that aws-lambda-go's `events` and Powertools' event classes read.

use super::{Body, HttpInput};
use crate::clock::Utc;
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};
use std::time::SystemTime;

/// What the filter stands in for: the API and account ids AWS would fill in.
const API_ID: &str = "lambda-wasm";
const ACCOUNT_ID: &str = "anonymous";
const STAGE: &str = "$default";

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// Query pairs in order, percent-decoded (a `+` stays a `+`, as API Gateway leaves it).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Each name's values in arrival order, names sorted (a sorted vector: a BTreeMap instantiated
/// for this pair type alone weighed ~5.5 KB of the module).
type Grouped = Vec<(String, Vec<String>)>;

fn grouped(pairs: impl IntoIterator<Item = (String, String)>) -> Grouped {
    let mut map: Grouped = Vec::new();
    for (k, v) in pairs {
        if let Some(values) = super::sorted_slot(&mut map, k, Vec::new()) {
            values.push(v);
        }
    }
    map
}

fn last_values(map: &Grouped) -> Value {
    Value::Object(super::object(map.iter().filter_map(|(k, v)| {
        Some((k.clone(), Value::String(v.last()?.clone())))
    })))
}

fn joined_values(map: &Grouped) -> Value {
    Value::Object(super::object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.join(",")))),
    ))
}

fn lists(map: &Grouped) -> Value {
    Value::Object(super::object(
        map.iter().map(|(k, v)| (k.clone(), json!(v))),
    ))
}

fn path_parameters(input: &HttpInput) -> Option<Value> {
    (!input.params.is_empty()).then(|| {
        Value::Object(super::object(
            input
                .params
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone()))),
        ))
    })
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `22/Nov/2026:03:00:00 +0000`, as API Gateway writes request times.
pub fn clf_time(t: SystemTime) -> String {
    Utc::from_time(t).clf()
}

fn domain_prefix(host: &str) -> &str {
    host.split(['.', ':']).next().unwrap_or(host)
}

fn body_fields(body: &Body) -> (Value, bool) {
    match body {
        Body::None => (Value::Null, false),
        Body::Text(t) => (Value::String(t.clone()), false),
        Body::Base64(b) => (Value::String(b.clone()), true),
    }
}

/// REST API proxy integration, payload format 1.0.
pub fn v1(input: &HttpInput, body: &Body) -> Value {
    let (path, query) = input.path.split_once('?').unwrap_or((input.path, ""));
    let path = decode(path);
    let headers = grouped(input.headers.iter().cloned());
    let query = grouped(query_pairs(query));
    let none_if_empty = |map: &Grouped, v: Value| {
        if map.is_empty() {
            Value::Null
        } else {
            v
        }
    };
    let (body, base64) = body_fields(body);
    json!({
        "version": "1.0",
        "resource": input.pattern,
        "path": path,
        "httpMethod": input.method,
        "headers": none_if_empty(&headers, last_values(&headers)),
        "multiValueHeaders": none_if_empty(&headers, lists(&headers)),
        "queryStringParameters": none_if_empty(&query, last_values(&query)),
        "multiValueQueryStringParameters": none_if_empty(&query, lists(&query)),
        "pathParameters": path_parameters(input),
        "stageVariables": null,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "resourceId": API_ID,
            "resourcePath": input.pattern,
            "httpMethod": input.method,
            "path": path,
            "protocol": input.protocol,
            "stage": STAGE,
            "requestId": input.request_id,
            "extendedRequestId": input.request_id,
            "requestTime": clf_time(input.time),
            "requestTimeEpoch": epoch_ms(input.time),
            "domainName": input.host,
            "domainPrefix": domain_prefix(input.host),
            "identity": {"sourceIp": input.source_ip, "userAgent": input.user_agent()},
        },
        "body": body,
        "isBase64Encoded": base64,
    })
}

/// HTTP API proxy integration / Function URL, payload format 2.0.
pub fn v2(input: &HttpInput, body: &Body) -> Value {
    let (raw_path, raw_query) = input.path.split_once('?').unwrap_or((input.path, ""));
    let route_key = format!("{} {}", input.method, input.pattern);
    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!(route_key));
    event.insert("rawPath".into(), json!(raw_path));
    event.insert("rawQueryString".into(), json!(raw_query));
    let cookies: Vec<String> = input
        .headers
        .iter()
        .filter(|(k, _)| k == "cookie")
        .flat_map(|(_, v)| v.split(';').map(|c| c.trim().to_string()))
        .filter(|c| !c.is_empty())
        .collect();
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    let headers = grouped(input.headers.iter().filter(|(k, _)| k != "cookie").cloned());
    event.insert("headers".into(), joined_values(&headers));
    let query = grouped(query_pairs(raw_query));
    if !query.is_empty() {
        event.insert("queryStringParameters".into(), joined_values(&query));
    }
    if let Some(params) = path_parameters(input) {
        event.insert("pathParameters".into(), params);
    }
    event.insert(
        "requestContext".into(),
        json!({
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": input.host,
            "domainPrefix": domain_prefix(input.host),
            "http": {
                "method": input.method,
                "path": decode(raw_path),
                "protocol": input.protocol,
                "sourceIp": input.source_ip,
                "userAgent": input.user_agent(),
            },
            "requestId": input.request_id,
            "routeKey": route_key,
            "stage": STAGE,
            "time": clf_time(input.time),
            "timeEpoch": epoch_ms(input.time),
        }),
    );
    let (body, base64) = body_fields(body);
    if !body.is_null() {
        event.insert("body".into(), body);
    }
    event.insert("isBase64Encoded".into(), json!(base64));
    Value::Object(event)
}
