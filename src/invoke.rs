//! One Invoke, from the matched request to the client's response: which function, what payload,
//! the signed callout, and what to do with each reply (answer, or retry after a backoff).

use crate::config::{Endpoint, FunctionSource, Lambda, Mode, IN_PLACE_ROUTE_KEY};
use crate::credentials::Credentials;
use crate::event::{self, EventFormat, HttpInput};
use crate::function::{self, encode_label, FunctionName, FunctionNameError};
use crate::response::{self, ClientResponse, LambdaReply, Outcome, ResponseFormat};
use crate::retry;
use crate::route::Captures;
#[cfg_attr(feature = "bench-unsigned-floor", allow(unused_imports))]
use crate::sign::{self, KeyCache, SignError, Unsigned, LAMBDA_SERVICE};
use std::time::{Duration, SystemTime};
use thiserror::Error;

pub const USER_AGENT: &str = concat!("lambda-wasm/", env!("CARGO_PKG_VERSION"));

/// Request headers passed on to Lambda for tracing (never signed, never anything else).
pub const TRACE_HEADERS: [&str; 3] = ["traceparent", "tracestate", "x-amzn-trace-id"];
const MAX_TRACE_HEADER_LEN: usize = 512;

/// Lambda's payload limits: 6 MB synchronous, 1 MB asynchronous.
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
pub const MAX_EVENT_PAYLOAD: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationType {
    RequestResponse,
    /// Asynchronous: Lambda queues the event and answers 202.
    Event,
    /// Checks parameters and permissions only: 204.
    DryRun,
}

impl InvocationType {
    pub fn parse(text: &str) -> Option<InvocationType> {
        match text {
            "RequestResponse" => Some(InvocationType::RequestResponse),
            "Event" => Some(InvocationType::Event),
            "DryRun" => Some(InvocationType::DryRun),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InvocationType::RequestResponse => "RequestResponse",
            InvocationType::Event => "Event",
            InvocationType::DryRun => "DryRun",
        }
    }

    pub fn max_payload(self) -> usize {
        match self {
            InvocationType::Event => MAX_EVENT_PAYLOAD,
            InvocationType::RequestResponse | InvocationType::DryRun => MAX_SYNC_PAYLOAD,
        }
    }
}

/// A request the filter refuses before anything is sent to AWS.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("invalid function name {0:?}: {1}")]
    InvalidFunctionName(String, FunctionNameError),
    #[error("invalid qualifier {0:?}: {1}")]
    InvalidQualifier(String, FunctionNameError),
    #[error("the qualifier {0:?} conflicts with the qualifier in the function name {1:?}")]
    QualifierConflict(String, String),
    #[error("the request header {0} naming the function is missing")]
    MissingFunctionHeader(String),
    #[error("function {0:?} is not one this endpoint may invoke")]
    NotAllowed(String),
    #[error("the payload is {0} bytes; a {1} invocation takes at most {2}")]
    PayloadTooLarge(usize, &'static str, usize),
}

impl RequestError {
    /// The `error` code of the JSON answer.
    pub fn code(&self) -> &'static str {
        self.status_and_code().1
    }

    fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            RequestError::InvalidFunctionName(..) => (400, "invalid_function_name"),
            RequestError::InvalidQualifier(..) | RequestError::QualifierConflict(..) => {
                (400, "invalid_qualifier")
            }
            RequestError::MissingFunctionHeader(..) => (400, "missing_function"),
            RequestError::NotAllowed(..) => (404, "function_not_allowed"),
            RequestError::PayloadTooLarge(..) => (413, "payload_too_large"),
        }
    }

    pub fn to_client(&self) -> ClientResponse {
        let (status, code) = self.status_and_code();
        ClientResponse::error(status, code, &self.to_string())
    }
}

/// What the filter reads from a matched request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub captures: Captures,
    /// The request headers the endpoint asked for ([`wanted_headers`]), names lower-case.
    pub headers: Vec<(String, String)>,
    /// The whole request, for endpoints whose event describes it ([`needs_meta`]).
    pub meta: Option<RequestMeta>,
}

/// The whole HTTP request, for API Gateway events.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub method: String,
    /// `:path` as received, query string included.
    pub path: String,
    /// Every header, lower-case names, pseudo-headers included.
    pub headers: Vec<(String, String)>,
    pub source_ip: String,
    pub protocol: String,
    pub request_id: String,
    pub time: SystemTime,
}

/// Whether the endpoint's event needs the whole request ([`RequestMeta`]).
pub fn needs_meta(endpoint: &Endpoint) -> bool {
    endpoint.lambda.event_format.is_apigw()
}

fn build_payload(endpoint: &Endpoint, request: &Request, body: Vec<u8>) -> Vec<u8> {
    let lambda = &endpoint.lambda;
    let event = match (lambda.event_format, &request.meta) {
        (EventFormat::Krakend, _) if lambda.payload_from_params => {
            return event::from_params(endpoint.path.params(), &request.captures.values)
        }
        (EventFormat::Krakend | EventFormat::Raw, _) | (_, None) => return body,
        (format, Some(meta)) => {
            let header = |name: &str| {
                meta.headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            let input = HttpInput {
                method: &meta.method,
                pattern: endpoint.path.as_str(),
                path: &meta.path,
                headers: meta
                    .headers
                    .iter()
                    .filter(|(k, _)| lambda.event.shows_header(k))
                    .cloned()
                    .collect(),
                params: endpoint
                    .path
                    .params()
                    .iter()
                    .cloned()
                    .zip(request.captures.values.iter().cloned())
                    .collect(),
                host: header(":authority")
                    .or_else(|| header("host"))
                    .unwrap_or(""),
                protocol: &meta.protocol,
                source_ip: &meta.source_ip,
                request_id: &meta.request_id,
                time: meta.time,
            };
            let encoded = event::encode_body(&body, header("content-type"), &lambda.event);
            if format == EventFormat::ApigwV1 {
                event::apigw::v1(&input, &encoded)
            } else {
                event::apigw::v2(&input, &encoded)
            }
        }
    };
    serde_json::to_vec(&event).unwrap_or_default()
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The request headers an endpoint needs: its function and qualifier headers, and tracing.
pub fn wanted_headers(endpoint: &Endpoint) -> impl Iterator<Item = &str> {
    let function_header = match &endpoint.lambda.function {
        FunctionSource::Header { name, .. } => Some(name.as_str()),
        _ => None,
    };
    let in_place = (endpoint.lambda.mode == Mode::InPlace).then_some(IN_PLACE_HEADERS);
    function_header
        .into_iter()
        .chain(endpoint.lambda.qualifier_header.as_deref())
        .chain(TRACE_HEADERS)
        .chain(in_place.into_iter().flatten())
}

/// What an in-place rewrite keeps from the request: its body's length, its scheme, and the
/// `x-forwarded-proto` Envoy set (its router finds no route without it).
const IN_PLACE_HEADERS: [&str; 3] = ["content-length", ":scheme", "x-forwarded-proto"];

/// The function and qualifier a request resolves to, validated and allow-listed.
pub fn target_for(
    endpoint: &Endpoint,
    request: &Request,
    random: f64,
) -> Result<(FunctionName, Option<String>), RequestError> {
    let lambda = &endpoint.lambda;
    let parse = |value: &str| {
        FunctionName::parse(value)
            .map_err(|e| RequestError::InvalidFunctionName(value.to_string(), e))
    };
    let (name, name_from_request) = match &lambda.function {
        FunctionSource::Fixed(name) => (name.clone(), false),
        FunctionSource::Weighted(targets) => match function::choose_weighted(targets, random) {
            Some(name) => (name.clone(), false),
            None => {
                return Err(RequestError::InvalidFunctionName(
                    String::new(),
                    FunctionNameError::Empty,
                ))
            }
        },
        FunctionSource::Param { index } => {
            let value = request
                .captures
                .values
                .get(*index)
                .map(String::as_str)
                .unwrap_or("");
            (parse(value)?, true)
        }
        FunctionSource::Header {
            name: header,
            default,
        } => match (request.header(header), default) {
            (Some(value), _) => (parse(value)?, true),
            (None, Some(default)) => (default.clone(), false),
            (None, None) => return Err(RequestError::MissingFunctionHeader(header.clone())),
        },
    };
    let header_qualifier = lambda
        .qualifier_header
        .as_deref()
        .and_then(|h| request.header(h));
    if let Some(q) = header_qualifier {
        function::validate_qualifier(q)
            .map_err(|e| RequestError::InvalidQualifier(q.to_string(), e))?;
    }
    let qualifier = header_qualifier
        .map(str::to_string)
        .or_else(|| lambda.qualifier.clone());
    let qualifier = match (qualifier, name.qualifier()) {
        (Some(q), Some(own)) if q != own => {
            return Err(RequestError::QualifierConflict(q, name.to_string()))
        }
        // The name already says it: no `?Qualifier=`.
        (Some(_), Some(_)) => None,
        (q, _) => q,
    };
    if let Some(allowed) = &lambda.allowed {
        let id = match header_qualifier.filter(|_| qualifier.is_some()) {
            Some(q) => format!("{name}:{q}"),
            None => name.to_string(),
        };
        if (name_from_request || header_qualifier.is_some()) && !allowed.allows(&id) {
            return Err(RequestError::NotAllowed(id));
        }
    }
    Ok((name, qualifier))
}

/// Whether the payload needs the request body (KrakenD: every backend method but GET; the
/// other formats always).
pub fn needs_body(endpoint: &Endpoint) -> bool {
    endpoint.lambda.event_format != EventFormat::Krakend || !endpoint.lambda.payload_from_params
}

/// An Invoke in progress.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Index of the endpoint in the configuration.
    pub endpoint: usize,
    pub function: FunctionName,
    /// The Invoke path, percent-encoded.
    pub path: String,
    pub payload: Vec<u8>,
    /// Tracing headers from the client, passed on unsigned.
    pub trace_headers: Vec<(String, String)>,
    /// The access key that signed the last attempt.
    pub signed_with: Option<String>,
    /// When the last attempt was sent.
    pub sent_at: Option<SystemTime>,
    /// Whether the one retry with fresh credentials has been used.
    pub credentials_retried: bool,
    /// Retries made so far.
    pub retries: u32,
    pub deadline: SystemTime,
}

impl Invocation {
    /// Starts an invocation for a matched request. `body` is the request body (ignored for GET
    /// backends, whose payload is the placeholders). `random` in [0, 1) picks weighted targets.
    pub fn new(
        index: usize,
        endpoint: &Endpoint,
        request: &Request,
        body: Vec<u8>,
        now: SystemTime,
        random: f64,
    ) -> Result<Invocation, RequestError> {
        let (function, qualifier) = target_for(endpoint, request, random)?;
        let payload = build_payload(endpoint, request, body);
        check_size(endpoint, payload.len())?;
        Ok(Invocation::start(
            index, endpoint, request, function, qualifier, payload, now,
        ))
    }

    fn start(
        index: usize,
        endpoint: &Endpoint,
        request: &Request,
        function: FunctionName,
        qualifier: Option<String>,
        payload: Vec<u8>,
        now: SystemTime,
    ) -> Invocation {
        let mut path = format!(
            "{}/2015-03-31/functions/{}/invocations",
            endpoint.lambda.path_prefix,
            function.path_segment()
        );
        if let Some(q) = &qualifier {
            path.push_str("?Qualifier=");
            path.push_str(&encode_label(q));
        }
        let trace_headers = TRACE_HEADERS
            .iter()
            .filter_map(|name| {
                let value = request.header(name)?;
                let clean = value.len() <= MAX_TRACE_HEADER_LEN
                    && value.bytes().all(|b| (0x20..0x7f).contains(&b));
                clean.then(|| (name.to_string(), value.to_string()))
            })
            .collect();
        Invocation {
            endpoint: index,
            function,
            path,
            payload,
            trace_headers,
            signed_with: None,
            sent_at: None,
            credentials_retried: false,
            retries: 0,
            deadline: now.checked_add(endpoint.timeout).unwrap_or(now),
        }
    }

    pub fn time_left(&self, now: SystemTime) -> Duration {
        self.deadline.duration_since(now).unwrap_or(Duration::ZERO)
    }
}

/// One signed HTTP callout, ready for `dispatch_http_call`.
#[derive(Debug, Clone)]
pub struct Callout {
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

#[derive(Debug, Error)]
pub enum CalloutError {
    #[error("no time left for another attempt")]
    NoTimeLeft,
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// The Invoke's option headers: invocation type, log type, client context.
fn invoke_options(lambda: &Lambda) -> impl Iterator<Item = (&'static str, &str)> {
    [
        Some(("x-amz-invocation-type", lambda.invocation_type.as_str())),
        lambda.log_tail.then_some(("x-amz-log-type", "Tail")),
        lambda
            .client_context
            .as_deref()
            .map(|c| ("x-amz-client-context", c)),
    ]
    .into_iter()
    .flatten()
}

/// Refuses a payload over Lambda's limit for the endpoint's invocation type.
pub fn check_size(endpoint: &Endpoint, size: usize) -> Result<(), RequestError> {
    let kind = endpoint.lambda.invocation_type;
    if size > kind.max_payload() {
        return Err(RequestError::PayloadTooLarge(
            size,
            kind.as_str(),
            kind.max_payload(),
        ));
    }
    Ok(())
}

/// Starts an in-place invocation ([`Mode::InPlace`]): the headers that replace every header of
/// the client's request, turning it into the Invoke, whose payload is the request body as it
/// streams on. Envoy's `aws_request_signing` on the endpoint's cluster adds the signature; the
/// route timeout becomes the endpoint's. Nothing else from the client is kept.
pub fn rewrite(
    index: usize,
    endpoint: &Endpoint,
    request: &Request,
    now: SystemTime,
    random: f64,
) -> Result<(Invocation, Vec<(String, String)>), RequestError> {
    let (function, qualifier) = target_for(endpoint, request, random)?;
    let length = request.header("content-length");
    check_size(
        endpoint,
        length.and_then(|l| l.trim().parse().ok()).unwrap_or(0),
    )?;
    let invocation = Invocation::start(
        index,
        endpoint,
        request,
        function,
        qualifier,
        Vec::new(),
        now,
    );
    let mut headers = invoke_headers(&invocation, &endpoint.lambda);
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
        &endpoint.timeout.as_millis().to_string(),
    );
    for (name, value) in &invocation.trace_headers {
        push(name, value);
    }
    Ok((invocation, headers))
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
    if endpoint.lambda.response_format != ResponseFormat::Krakend {
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
    let cluster = &endpoint.lambda.cluster;
    if routed_to == Some(cluster.as_str()) {
        return Ok(response::classify(reply));
    }
    let went = match routed_to {
        Some(other) => format!("to cluster {other:?}"),
        None => format!("nowhere ({details})"),
    };
    Err(Step::fail(
        ClientResponse::error(
            500,
            "lambda_route_missing",
            "no Envoy route leads to the Lambda cluster",
        ),
        format!(
            "the rewritten request went {went}: add, first in the virtual host, a route matching \
             filter state wasm.{IN_PLACE_ROUTE_KEY} = {cluster:?} that sends it to cluster {cluster:?}"
        ),
    ))
}

/// Builds and signs the next attempt. Nothing from the client's request is copied.
pub fn callout(
    invocation: &Invocation,
    endpoint: &Endpoint,
    credentials: &Credentials,
    keys: &mut KeyCache,
    now: SystemTime,
) -> Result<Callout, CalloutError> {
    let timeout = invocation.time_left(now);
    if timeout.is_zero() {
        return Err(CalloutError::NoTimeLeft);
    }
    let lambda = &endpoint.lambda;
    let host = lambda.host.as_str();
    let mut signed_part = Vec::with_capacity(4);
    signed_part.push(("host", host));
    signed_part.extend(invoke_options(lambda));
    let unsigned = Unsigned {
        method: "POST",
        path_and_query: &invocation.path,
        headers: &signed_part,
        body: &invocation.payload,
    };
    #[cfg(not(feature = "bench-unsigned-floor"))]
    let signature = sign::sign_cached(
        keys,
        &unsigned,
        credentials,
        &endpoint.lambda.region,
        LAMBDA_SERVICE,
        now,
    )?;
    // The benchmark's callout floor only (`make bench`, against its fake Lambda): the same
    // callout unsigned, to measure what signing costs. Never in a build that ships.
    #[cfg(feature = "bench-unsigned-floor")]
    let signature: Vec<(String, String)> = {
        let _ = (keys, &unsigned, credentials, now);
        Vec::new()
    };
    let mut headers = invoke_headers(invocation, lambda);
    headers.extend(signature);
    headers.extend(invocation.trace_headers.iter().cloned());
    Ok(Callout { headers, timeout })
}

/// The Invoke's request line and headers, as the callout and the in-place rewrite both send
/// them: `POST` to the Invoke path on the Lambda host, its options, this filter's user agent.
fn invoke_headers(invocation: &Invocation, lambda: &Lambda) -> Vec<(String, String)> {
    let mut headers = Vec::with_capacity(14);
    headers.push((":method".to_string(), "POST".to_string()));
    headers.push((":path".to_string(), invocation.path.clone()));
    headers.push((":authority".to_string(), lambda.host.clone()));
    for (name, value) in invoke_options(lambda) {
        headers.push((name.to_string(), value.to_string()));
    }
    headers.push(("user-agent".to_string(), USER_AGENT.to_string()));
    headers
}

/// What the shell does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Answer the client. `failure` is a one-line cause for the log when the answer is an error.
    Respond {
        response: ClientResponse,
        failure: Option<String>,
        /// The function's log tail (`log_type: Tail`), for Envoy's debug log only.
        function_log: Option<String>,
    },
    /// Wait, then send another attempt.
    RetryAfter(Duration),
    /// AWS rejected the credentials as expired or unknown: drop them, fetch fresh ones and send
    /// the invocation once more.
    RefreshCredentials,
}

impl Step {
    /// An error answer with its cause for the log.
    pub fn fail(response: ClientResponse, cause: impl Into<String>) -> Step {
        Step::Respond {
            response,
            failure: Some(cause.into()),
            function_log: None,
        }
    }
}

/// Decides what follows one reply. `random` is uniform in [0, 1), for the backoff jitter.
/// What signed the attempt: the credentials (whose secrets never reach a response or a log) and
/// whether they can be refreshed.
#[derive(Clone, Copy)]
pub struct Signer<'a> {
    pub credentials: Option<&'a Credentials>,
    pub refreshable: bool,
}

pub fn after_reply(
    invocation: &mut Invocation,
    endpoint: &Endpoint,
    reply: &LambdaReply,
    signer: Signer,
    now: SystemTime,
    random: f64,
) -> Step {
    let outcome = response::classify(reply);
    after_outcome(invocation, endpoint, outcome, signer, now, random)
}

pub fn after_outcome(
    invocation: &mut Invocation,
    endpoint: &Endpoint,
    outcome: Outcome,
    signer: Signer,
    now: SystemTime,
    random: f64,
) -> Step {
    let credentials = signer.credentials;
    if let Outcome::ApiError(e) = &outcome {
        let rejected = crate::credentials::is_rejected_credentials(&e.error_type);
        if rejected && signer.refreshable && !invocation.credentials_retried {
            invocation.credentials_retried = true;
            return Step::RefreshCredentials;
        }
    }
    let time_left = invocation.time_left(now);
    if let Some(delay) = retry::decide(
        &outcome,
        invocation.retries,
        endpoint.lambda.max_retries,
        endpoint.lambda.invocation_type,
        time_left,
        random,
    ) {
        invocation.retries += 1;
        return Step::RetryAfter(delay);
    }
    let secrets: Vec<&str> = credentials.into_iter().flat_map(|c| c.secrets()).collect();
    let response = response::to_client(
        &outcome,
        endpoint.lambda.response_format,
        &endpoint.lambda.errors,
        secrets.iter().copied(),
    );
    let failure = describe_failure(&outcome, invocation.retries, &secrets);
    let function_log = match outcome {
        Outcome::Success { log_tail, .. } | Outcome::FunctionError { log_tail, .. } => log_tail,
        _ => None,
    };
    Step::Respond {
        response,
        failure,
        function_log,
    }
}

fn describe_failure(outcome: &Outcome, retries: u32, secrets: &[&str]) -> Option<String> {
    let cause = match outcome {
        Outcome::Success { .. } => return None,
        Outcome::FunctionError {
            kind, request_id, ..
        } => {
            format!(
                "function error ({kind}) request_id={}",
                request_id.as_deref().unwrap_or("-")
            )
        }
        Outcome::ApiError(e) => format!(
            "Lambda API error {} {} request_id={}: {}",
            e.status,
            e.error_type,
            e.request_id.as_deref().unwrap_or("-"),
            response::sanitize_message(&e.message, secrets.iter().copied())
        ),
        Outcome::Unreachable => "Lambda endpoint unreachable".to_string(),
        Outcome::Reset => "connection to the Lambda endpoint reset".to_string(),
        Outcome::Timeout => "timed out".to_string(),
    };
    Some(if retries > 0 {
        format!("{cause} (after {retries} retries)")
    } else {
        cause
    })
}

/// The answer when the time ran out while waiting to retry.
pub fn timed_out(invocation: &Invocation) -> Step {
    Step::fail(
        response::timeout(),
        format!("timed out (after {} retries)", invocation.retries),
    )
}

/// The answer when no credentials are available: refuse, never send unsigned.
pub fn no_credentials() -> ClientResponse {
    ClientResponse::error(
        503,
        "credentials_unavailable",
        "AWS credentials are unavailable: the Lambda request was not sent",
    )
}

#[cfg(test)]
mod tests;
