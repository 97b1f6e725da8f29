//! What the filter reads from a matched request, and the checks that refuse it before anything
//! is sent to AWS: which function and qualifier it names, and whether its payload fits.

use crate::config::{valid_tenant_id, Endpoint, FunctionSource, Lambda, Mode, TenantSource};
use crate::event::EventFormat;
use crate::function::{self, FunctionName, FunctionNameError};
use crate::response::{ClientError, ClientResponse};
use crate::route::{BadValue, Captures};
use std::time::SystemTime;
use thiserror::Error;

/// Request headers passed on to Lambda for tracing (never signed, never anything else).
pub const TRACE_HEADERS: [&str; 3] = ["traceparent", "tracestate", "x-amzn-trace-id"];

/// What an in-place rewrite keeps from the request: its body's length, its scheme, and the
/// `x-forwarded-proto` Envoy set (its router finds no route without it).
pub(super) const IN_PLACE_HEADERS: [&str; 3] = ["content-length", ":scheme", "x-forwarded-proto"];

/// A request the filter refuses before anything is sent to AWS.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("invalid function name {0:?}: {1}")]
    InvalidFunctionName(String, FunctionNameError),
    #[error("the function name in the path is not valid UTF-8 once percent-decoded")]
    FunctionNameNotUtf8,
    #[error("path parameter {{{0}}} is {1}")]
    InvalidPathParameter(String, &'static str),
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
    #[error("the tenant id must be 1 to 256 of letters, digits, ._:/=+-@ and space")]
    InvalidTenantId,
    #[error("the request header {0} giving the tenant id is missing")]
    MissingTenantId(String),
}

impl RequestError {
    /// The catalogue entry of the client's answer.
    pub fn kind(&self) -> ClientError {
        match self {
            RequestError::InvalidFunctionName(..) | RequestError::FunctionNameNotUtf8 => {
                ClientError::InvalidFunctionName
            }
            RequestError::InvalidPathParameter(..) => ClientError::InvalidPathParameter,
            RequestError::InvalidQualifier(..) | RequestError::QualifierConflict(..) => {
                ClientError::InvalidQualifier
            }
            RequestError::MissingFunctionHeader(..) => ClientError::MissingFunction,
            RequestError::NotAllowed(..) => ClientError::FunctionNotAllowed,
            RequestError::PayloadTooLarge(..) => ClientError::PayloadTooLarge,
            RequestError::InvalidTenantId => ClientError::InvalidTenantId,
            RequestError::MissingTenantId(..) => ClientError::MissingTenantId,
        }
    }

    /// The `error` code of the JSON answer.
    pub fn code(&self) -> &'static str {
        self.kind().code()
    }

    pub fn to_client(&self) -> ClientResponse {
        self.kind().with_message(&self.to_string())
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

impl Request {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether an event of the endpoint needs the whole request ([`RequestMeta`]).
pub fn needs_meta(endpoint: &Endpoint) -> bool {
    endpoint
        .backends
        .iter()
        .any(|b| b.lambda.event_format.is_apigw())
}

/// Whether a payload needs the request body (KrakenD: every backend method but GET; the other
/// formats always).
pub fn needs_body(endpoint: &Endpoint) -> bool {
    endpoint
        .backends
        .iter()
        .any(|b| b.lambda.event_format != EventFormat::Krakend || !b.lambda.payload_from_params)
}

/// The request headers an endpoint needs: its backends' function and qualifier headers, and
/// tracing.
pub fn wanted_headers(endpoint: &Endpoint) -> impl Iterator<Item = &str> {
    let chosen = endpoint.backends.iter().flat_map(|b| {
        let function_header = match &b.lambda.function {
            FunctionSource::Header { name, .. } => Some(name.as_str()),
            _ => None,
        };
        let tenant_header = match &b.lambda.tenant {
            Some(TenantSource::Header { name, .. }) => Some(name.as_str()),
            _ => None,
        };
        function_header
            .into_iter()
            .chain(b.lambda.qualifier_header.as_deref())
            .chain(tenant_header)
    });
    let in_place = (endpoint.primary.lambda.mode == Mode::InPlace).then_some(IN_PLACE_HEADERS);
    chosen
        .chain(TRACE_HEADERS)
        .chain(in_place.into_iter().flatten())
}

/// Refuses a path whose placeholder value cannot be used (empty, or not UTF-8 once decoded):
/// the function's placeholder as an invalid name, any other as an invalid parameter.
fn check_captures(
    endpoint: &Endpoint,
    lambda: &Lambda,
    captures: &Captures,
) -> Result<(), RequestError> {
    let Some((index, bad)) = captures.bad else {
        return Ok(());
    };
    if matches!(lambda.function, FunctionSource::Param { index: f } if f == index) {
        return Err(match bad {
            BadValue::Empty => {
                RequestError::InvalidFunctionName(String::new(), FunctionNameError::Empty)
            }
            BadValue::NotUtf8 => RequestError::FunctionNameNotUtf8,
        });
    }
    let name = endpoint
        .path
        .params()
        .get(index)
        .cloned()
        .unwrap_or_default();
    let what = match bad {
        BadValue::Empty => "empty",
        BadValue::NotUtf8 => "not valid UTF-8 once percent-decoded",
    };
    Err(RequestError::InvalidPathParameter(name, what))
}

/// The function and qualifier a request resolves to for one backend, validated and
/// allow-listed.
pub fn target_for(
    endpoint: &Endpoint,
    lambda: &Lambda,
    request: &Request,
    random: f64,
) -> Result<(FunctionName, Option<String>), RequestError> {
    check_captures(endpoint, lambda, &request.captures)?;
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

/// The tenant id the request gives the backend (`X-Amz-Tenant-Id`), validated.
pub fn tenant_for(lambda: &Lambda, request: &Request) -> Result<Option<String>, RequestError> {
    let id = match &lambda.tenant {
        None => return Ok(None),
        Some(TenantSource::Fixed(id)) => return Ok(Some(id.clone())),
        Some(TenantSource::Header { name, required }) => match request.header(name) {
            Some(id) => id.to_string(),
            None if *required => return Err(RequestError::MissingTenantId(name.clone())),
            None => return Ok(None),
        },
        Some(TenantSource::Param { index }) => request
            .captures
            .values
            .get(*index)
            .cloned()
            .unwrap_or_default(),
    };
    if !valid_tenant_id(&id) {
        return Err(RequestError::InvalidTenantId);
    }
    Ok(Some(id))
}

/// Refuses a payload over Lambda's limit for the backend's invocation type.
pub fn check_size(lambda: &Lambda, size: usize) -> Result<(), RequestError> {
    let kind = lambda.invocation_type;
    if size > kind.max_payload() {
        return Err(RequestError::PayloadTooLarge(
            size,
            kind.as_str(),
            kind.max_payload(),
        ));
    }
    Ok(())
}
