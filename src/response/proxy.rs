//! API Gateway proxy responses (`response_format: apigw`): the function returns
//! `{statusCode, headers, multiValueHeaders, cookies, body, isBase64Encoded}` and the client gets
//! that status, those headers and that body.

use super::ClientResponse;
use crate::http::is_token;
use base64::Engine;
use serde_json::{Map, Value};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MalformedProxy {
    #[error("the function's result is not JSON")]
    NotJson,
    #[error("the function's result has no statusCode")]
    NoStatus,
    #[error("statusCode must be a number from 100 to 599")]
    Status,
    #[error("{0} must be an object")]
    NotObject(&'static str),
    #[error("body must be a string")]
    Body,
    #[error("cookies must be an array of strings")]
    Cookies,
    #[error("isBase64Encoded is true but body is not base64")]
    Base64,
}

/// Headers a function may not set: the connection's business, or recomputed by Envoy.
const DROPPED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

fn header_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn push(headers: &mut Vec<(String, String)>, name: &str, value: String) {
    let name = name.to_ascii_lowercase();
    if is_token(&name) && !DROPPED.contains(&name.as_str()) && !value.contains(['\r', '\n', '\0']) {
        headers.push((name, value));
    }
}

fn object<'v>(
    result: &'v Map<String, Value>,
    key: &'static str,
) -> Result<Option<&'v Map<String, Value>>, MalformedProxy> {
    match result.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(MalformedProxy::NotObject(key)),
    }
}

/// Unwraps a proxy response. With `infer` (payload 2.0), a valid JSON result without
/// `statusCode` is a 200 JSON body, as API Gateway's HTTP APIs do.
pub fn unwrap(result: &[u8], infer: bool) -> Result<ClientResponse, MalformedProxy> {
    let value: Value = serde_json::from_slice(result).map_err(|_| MalformedProxy::NotJson)?;
    let proxy = value.as_object().filter(|o| o.contains_key("statusCode"));
    let Some(proxy) = proxy else {
        if infer {
            return Ok(ClientResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: result.to_vec(),
            });
        }
        return Err(MalformedProxy::NoStatus);
    };
    let status = match &proxy["statusCode"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|s| (100..=599).contains(s))
    .ok_or(MalformedProxy::Status)? as u16;

    let mut headers = Vec::new();
    let single = object(proxy, "headers")?;
    let multi = object(proxy, "multiValueHeaders")?;
    for (name, value) in single.into_iter().flatten() {
        // multiValueHeaders wins for a name present in both, as API Gateway merges them.
        if multi.is_some_and(|m| m.keys().any(|k| k.eq_ignore_ascii_case(name))) {
            continue;
        }
        if let Some(v) = header_value(value) {
            push(&mut headers, name, v);
        }
    }
    for (name, values) in multi.into_iter().flatten() {
        for v in values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(header_value)
        {
            push(&mut headers, name, v);
        }
    }
    match proxy.get("cookies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(cookies)) => {
            for c in cookies {
                let c = c.as_str().ok_or(MalformedProxy::Cookies)?;
                push(&mut headers, "set-cookie", c.to_string());
            }
        }
        Some(_) => return Err(MalformedProxy::Cookies),
    }
    let text = match proxy.get("body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(MalformedProxy::Body),
    };
    let body = if proxy.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| MalformedProxy::Base64)?
    } else {
        text.into_bytes()
    };
    if !body.is_empty() && !headers.iter().any(|(k, _)| k == "content-type") {
        headers.push(("content-type".into(), "application/json".into()));
    }
    Ok(ClientResponse {
        status,
        headers,
        body,
    })
}
