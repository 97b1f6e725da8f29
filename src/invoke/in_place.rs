//! In-place mode ([`Mode::InPlace`](crate::config::Mode)): the client's request itself becomes
//! the Invoke, routed by filter state to a cluster whose `aws_request_signing` signs it, and
//! Lambda's answer is mapped on its way back.

use super::callout::{invoke_headers, whole_millis};
use super::{check_size, target_for, tenant_for, Invocation, Request, RequestError, Step};
use crate::config::{Endpoint, IN_PLACE_ROUTE_KEY};
use crate::response::{self, ClientError, LambdaReply, Outcome, ResponseFormat};
use std::rc::Rc;
use std::time::SystemTime;

/// Starts an in-place invocation ([`Mode::InPlace`]): the headers that replace every header of
/// the client's request, turning it into the Invoke, whose payload is the request body as it
/// streams on. Envoy's `aws_request_signing` on the endpoint's cluster adds the signature; the
/// route timeout becomes the endpoint's. Nothing else from the client is kept.
pub fn rewrite(
    endpoint: &Rc<Endpoint>,
    request: &Request,
    now: SystemTime,
    random: f64,
) -> Result<(Invocation, Vec<(String, String)>), RequestError> {
    let backend = &endpoint.primary;
    let (function, qualifier) = target_for(endpoint, &backend.lambda, request, random)?;
    let tenant = tenant_for(&backend.lambda, request)?;
    let length = request.header("content-length");
    check_size(
        &backend.lambda,
        length.and_then(|l| l.trim().parse().ok()).unwrap_or(0),
    )?;
    let mut invocation = Invocation::start(
        endpoint,
        backend,
        request,
        function,
        qualifier,
        Vec::new(),
        now,
    );
    invocation.tenant = tenant;
    let mut headers = invoke_headers(&invocation, &backend.lambda);
    let mut push = |name: &str, value: &str| headers.push((name.to_string(), value.to_string()));
    push(":scheme", request.header(":scheme").unwrap_or("http"));
    if let Some(length) = length {
        push("content-length", length);
    }
    if let Some(proto) = request.header("x-forwarded-proto") {
        push("x-forwarded-proto", proto);
    }
    push(
        "x-envoy-upstream-rq-timeout-ms",
        &whole_millis(endpoint.timeout).as_millis().to_string(),
    );
    for (name, value) in &invocation.trace_headers {
        push(name, value);
    }
    Ok((invocation, headers))
}

/// Request headers a Function URL request keeps by default: content negotiation, conditional
/// requests, tracing. Never `authorization`, cookies (unless allowed), API keys or `x-amz-*`.
const URL_HEADERS: [&str; 16] = [
    "content-type",
    "content-length",
    "content-encoding",
    "accept",
    "accept-encoding",
    "accept-language",
    "user-agent",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "range",
    "x-request-id",
    "traceparent",
    "tracestate",
    "x-amzn-trace-id",
];

/// A Function URL target's request ([`FunctionUrl`](crate::config::FunctionUrl)): the client's
/// method, path (the `strip_prefix` removed) and query, its allowed headers, to the URL's host.
/// The body streams on unchanged; the cluster signs it (`auth: iam`).
pub fn url_rewrite(
    endpoint: &Rc<Endpoint>,
    method: &str,
    path: &str,
    client_headers: &[(String, String)],
    now: SystemTime,
) -> Result<(Invocation, Vec<(String, String)>), RequestError> {
    let backend = &endpoint.primary;
    let lambda = &backend.lambda;
    let header = |name: &str| {
        client_headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    check_size(
        lambda,
        header("content-length")
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0),
    )?;
    let forwarded = match lambda.url.as_ref().and_then(|u| u.strip_prefix.as_deref()) {
        Some(prefix) => match path.strip_prefix(prefix) {
            Some(rest) if rest.is_empty() || rest.starts_with('?') => format!("/{rest}"),
            Some(rest) if rest.starts_with('/') => rest.to_string(),
            _ => path.to_string(),
        },
        None => path.to_string(),
    };
    let (function, _) = target_for(endpoint, lambda, &Request::default(), 0.0)?;
    let mut invocation = Invocation::start(
        endpoint,
        backend,
        &Request::default(),
        function,
        None,
        Vec::new(),
        now,
    );
    invocation.path = forwarded.clone();
    let extra = lambda.url.as_ref().map(|u| &u.forward_headers);
    let cookies = lambda.url.as_ref().is_some_and(|u| u.forward_cookies);
    let mut headers = vec![
        (":method".to_string(), method.to_string()),
        (":path".to_string(), forwarded),
        (":authority".to_string(), lambda.host.clone()),
        (
            ":scheme".to_string(),
            header(":scheme").unwrap_or("http").to_string(),
        ),
    ];
    for (name, value) in client_headers {
        let allowed = URL_HEADERS.contains(&name.as_str())
            || (cookies && name == "cookie")
            || extra.is_some_and(|e| e.contains(name));
        let never = name == "authorization" || name.starts_with("x-amz-") || name.starts_with(':');
        if allowed && !never {
            headers.push((name.clone(), value.clone()));
        }
    }
    if let Some(proto) = header("x-forwarded-proto") {
        headers.push(("x-forwarded-proto".to_string(), proto.to_string()));
    }
    headers.push((
        "x-envoy-upstream-rq-timeout-ms".to_string(),
        whole_millis(endpoint.timeout).as_millis().to_string(),
    ));
    Ok((invocation, headers))
}

/// How a Function URL's answer goes on: the function's own HTTP response, as it is (streamed),
/// unless it is not one — no Lambda request id (Envoy's own reply, another upstream) or AWS
/// refusing the gateway's signature — which is read whole and mapped.
pub fn url_passage(status: u16, headers: &[(String, String)]) -> Passage {
    let outcome = response::classify(&LambdaReply {
        status: Some(status),
        headers,
        body: &[],
    });
    let from_lambda = headers.iter().any(|(k, _)| k == "x-amzn-requestid");
    let refused = matches!(&outcome, Outcome::ApiError(e) if response::is_auth_error(e)
        && headers.iter().any(|(k, _)| k == "x-amzn-errortype"));
    if !from_lambda || refused {
        return Passage::Whole;
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    Passage::Through { outcome, length }
}

/// How an in-place invocation's response goes on to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Passage {
    /// A success whose body is the client's: replace the response headers with these and let
    /// the body stream through.
    Stream {
        headers: Vec<(String, String)>,
        outcome: Outcome,
        /// The body's length when Lambda gave it (0 otherwise), for the metrics.
        length: usize,
    },
    /// A Function URL's own response: its headers and body go on as they are.
    Through { outcome: Outcome, length: usize },
    /// Anything else: read the whole body, then map it ([`in_place_outcome`]).
    Whole,
}

/// Decides from the response headers alone whether an in-place response streams through: a
/// success with Lambda's request id (which neither Envoy's own replies nor an application a
/// misrouted request reached would carry; anything else is read whole and its route checked).
pub fn in_place_passage(endpoint: &Endpoint, status: u16, headers: &[(String, String)]) -> Passage {
    let outcome = response::classify(&LambdaReply {
        status: Some(status),
        headers,
        body: &[],
    });
    let Outcome::Success {
        executed_version,
        request_id: request_id @ Some(_),
        ..
    } = &outcome
    else {
        return Passage::Whole;
    };
    if endpoint.primary.lambda.response_format != ResponseFormat::Krakend {
        return Passage::Whole;
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.as_str());
    let has_body = length.map_or(status != 204, |l| l.trim() != "0");
    let mut mapped = vec![(":status".to_string(), status.to_string())];
    mapped.extend(response::success_headers(
        has_body,
        executed_version,
        request_id,
    ));
    if let Some(length) = length {
        mapped.push(("content-length".to_string(), length.to_string()));
    }
    Passage::Stream {
        headers: mapped,
        outcome,
        length: length.and_then(|l| l.trim().parse().ok()).unwrap_or(0),
    }
}

/// What a whole in-place response came to, or the answer when Envoy's router did not take the
/// request to the endpoint's cluster (`routed_to`; `details`: Envoy's response code details).
/// A response from anywhere else is never relayed as Lambda's.
pub fn in_place_outcome(
    endpoint: &Endpoint,
    reply: &LambdaReply,
    details: &str,
    routed_to: Option<&str>,
) -> Result<Outcome, Step> {
    let cluster = &endpoint.primary.lambda.cluster;
    if routed_to == Some(cluster.as_str()) {
        return Ok(response::classify(reply));
    }
    let went = match routed_to {
        Some(other) => format!("to cluster {other:?}"),
        None => format!("nowhere ({details})"),
    };
    Err(Step::fail(
        ClientError::LambdaRouteMissing.response(),
        format!(
            "the rewritten request went {went}: add, first in the virtual host, a route matching \
             filter state wasm.{IN_PLACE_ROUTE_KEY} = {cluster:?} that sends it to cluster {cluster:?}"
        ),
    ))
}
