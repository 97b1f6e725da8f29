//! What Lambda (or Envoy, on Lambda's behalf) answered, and what the client gets.

use base64::Engine;
use serde_json::Value;

pub mod errors;
pub mod proxy;

pub use errors::ClientError;

/// How a successful result becomes the client's response (`response_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFormat {
    /// The result is the body (KrakenD).
    Krakend,
    /// An API Gateway proxy response to unwrap; `infer` for payload 2.0's rule that a JSON result
    /// without `statusCode` is a 200 body.
    Apigw { infer: bool },
}

/// How function errors and AWS API errors become client statuses, per backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPolicy {
    /// `X-Amz-Function-Error: Handled`.
    pub handled_status: u16,
    /// `X-Amz-Function-Error: Unhandled`.
    pub unhandled_status: u16,
    /// The function ran out of time (`Task timed out`, `Sandbox.Timedout`).
    pub timeout_status: u16,
    /// The function's `errorType` → status; checked first.
    pub error_types: Vec<(String, u16)>,
    /// An AWS API error type (`ResourceConflictException`) → status; checked first.
    pub aws_error_types: Vec<(String, u16)>,
}

impl Default for ErrorPolicy {
    fn default() -> Self {
        ErrorPolicy {
            handled_status: 502,
            unhandled_status: 502,
            timeout_status: 504,
            error_types: Vec::new(),
            aws_error_types: Vec::new(),
        }
    }
}

fn lookup(table: &[(String, u16)], key: &str) -> Option<u16> {
    table.iter().find(|(k, _)| k == key).map(|(_, s)| *s)
}

impl ErrorPolicy {
    /// KrakenD's own answers: a function error (handled, unhandled, or a timeout inside the
    /// function) is the function's data, 200 with its error object as the body.
    pub fn krakend() -> ErrorPolicy {
        ErrorPolicy {
            handled_status: 200,
            unhandled_status: 200,
            timeout_status: 200,
            ..ErrorPolicy::default()
        }
    }

    /// The status for a function error, from its kind and error object.
    pub fn function_status(&self, kind: &str, body: &[u8]) -> u16 {
        let error: Option<Value> = serde_json::from_slice(body).ok();
        let field = |name: &str| {
            error
                .as_ref()
                .and_then(|e| e.get(name))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let error_type = field("errorType");
        if let Some(status) = lookup(&self.error_types, error_type) {
            return status;
        }
        if error_type == "Sandbox.Timedout" || field("errorMessage").contains("Task timed out") {
            return self.timeout_status;
        }
        if kind.eq_ignore_ascii_case("Handled") {
            self.handled_status
        } else {
            self.unhandled_status
        }
    }
}

/// The callout's answer as Envoy hands it over. `status` is `None` when the callout produced
/// no headers at all (the connection was reset before a response).
pub struct LambdaReply<'a> {
    pub status: Option<u16>,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl LambdaReply<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What one Invoke attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx without `X-Amz-Function-Error`.
    Success {
        status: u16,
        body: Vec<u8>,
        executed_version: Option<String>,
        request_id: Option<String>,
        log_tail: Option<String>,
    },
    /// The function ran and failed (`X-Amz-Function-Error: Handled|Unhandled`).
    FunctionError {
        kind: String,
        body: Vec<u8>,
        executed_version: Option<String>,
        request_id: Option<String>,
        log_tail: Option<String>,
    },
    /// The Lambda API refused or failed the call.
    ApiError(ApiError),
    /// Envoy could not connect to the Lambda cluster (or it has no healthy host).
    Unreachable,
    /// The connection was reset before a complete response.
    Reset,
    /// No answer within the time left.
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub error_type: String,
    pub message: String,
    pub request_id: Option<String>,
    /// `Retry-After` in seconds, when AWS gave one.
    pub retry_after: Option<u64>,
}

/// The longest `Retry-After` taken from an answer (a day).
const MAX_RETRY_AFTER_SECS: u64 = 24 * 3600;

/// Longest AWS error message relayed to a client.
const MAX_MESSAGE_LEN: usize = 300;

/// Classifies one callout reply.
pub fn classify(reply: &LambdaReply) -> Outcome {
    let Some(status) = reply.status else {
        return Outcome::Reset;
    };
    let request_id = reply.header("x-amzn-requestid").map(str::to_string);
    let executed_version = reply.header("x-amz-executed-version").map(str::to_string);
    if (200..300).contains(&status) {
        let log_tail = reply.header("x-amz-log-result").map(decode_log);
        return match reply.header("x-amz-function-error") {
            Some(kind) => Outcome::FunctionError {
                kind: kind.to_string(),
                body: reply.body.to_vec(),
                executed_version,
                request_id,
                log_tail,
            },
            None => Outcome::Success {
                status,
                body: reply.body.to_vec(),
                executed_version,
                request_id,
                log_tail,
            },
        };
    }
    // Envoy's own replies (no upstream answer) carry none of AWS's headers.
    let from_aws = request_id.is_some() || reply.header("x-amzn-errortype").is_some();
    if !from_aws {
        if let Some(outcome) = envoy_failure(status, &String::from_utf8_lossy(reply.body)) {
            return outcome;
        }
    }
    Outcome::ApiError(api_error(status, reply, request_id))
}

/// Envoy's local reply for an attempt that got no answer from upstream, read by its text:
/// `upstream request timeout`, `no healthy upstream`, or `upstream connect error or
/// disconnect/reset before headers. reset reason: <reason>[, transport failure reason: ...]`.
/// Only the reset reason tells whether the request may have reached AWS.
fn envoy_failure(status: u16, text: &str) -> Option<Outcome> {
    if status == 504 && text.starts_with("upstream request timeout") {
        return Some(Outcome::Timeout);
    }
    if let Some((_, reason)) = text.split_once("reset reason: ") {
        let reason = reason.split(',').next().unwrap_or(reason).trim();
        return Some(if nothing_sent(reason) {
            Outcome::Unreachable
        } else {
            Outcome::Reset
        });
    }
    let unreachable = text.starts_with("no healthy upstream")
        || text.starts_with("no cluster")
        || (status == 503 && text.is_empty());
    unreachable.then_some(Outcome::Unreachable)
}

/// Envoy's reset reasons after which the request cannot have reached the upstream: no
/// connection (refused, timed out), no room (circuit breaker overflow), or a stream the peer
/// refused before processing (HTTP/2 `REFUSED_STREAM`). Every other reason (`connection
/// termination`, `remote reset`, `protocol error`, `local reset`, a premature close...) may come
/// after the request was sent.
pub fn nothing_sent(reason: &str) -> bool {
    reason.ends_with("connection failure")
        || reason == "connection timeout"
        || reason == "overflow"
        || reason.ends_with("refused stream reset")
}

fn api_error(status: u16, reply: &LambdaReply, request_id: Option<String>) -> ApiError {
    let json: Option<Value> = serde_json::from_slice(reply.body).ok();
    let field = |names: &[&str]| -> Option<String> {
        let object = json.as_ref()?.as_object()?;
        names
            .iter()
            .find_map(|n| object.get(*n)?.as_str().map(str::to_string))
    };
    let text = String::from_utf8_lossy(reply.body);
    let error_type = reply
        .header("x-amzn-errortype")
        .map(str::to_string)
        .or_else(|| field(&["__type", "code", "Code"]))
        .or_else(|| xml_element(&text, "Code"))
        .map(|t| clean_type(&t))
        .unwrap_or_else(|| default_type(status).to_string());
    let message = field(&["message", "Message", "errorMessage"])
        .or_else(|| xml_element(&text, "Message"))
        .unwrap_or_default();
    // Relayed to the client and waited for: no more than a day, whatever the peer says.
    let retry_after = reply
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| s.min(MAX_RETRY_AFTER_SECS));
    ApiError {
        status,
        error_type,
        message,
        request_id,
        retry_after,
    }
}

/// `X-Amz-Log-Result`: the base64 of the last 4 KB of the function's log.
fn decode_log(encoded: &str) -> String {
    match base64::engine::general_purpose::STANDARD.decode(encoded.trim()) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => format!("(undecodable log result: {} bytes)", encoded.len()),
    }
}

/// AWS refused the gateway's own credentials or permissions: not the client's doing.
pub fn is_auth_error(e: &ApiError) -> bool {
    matches!(e.status, 401 | 403)
        || matches!(
            e.error_type.as_str(),
            "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "SignatureDoesNotMatch"
                | "InvalidClientTokenId"
                | "ExpiredToken"
                | "ExpiredTokenException"
                | "MissingAuthenticationToken"
        )
}

/// `ResourceNotFoundException:http://internal.amazon.com/...` or `ns#Type` → the bare type.
fn clean_type(raw: &str) -> String {
    let t = raw.split(':').next().unwrap_or(raw);
    t.rsplit('#').next().unwrap_or(t).trim().to_string()
}

fn default_type(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        403 => "AccessDenied",
        404 => "NotFound",
        413 => "RequestTooLarge",
        429 => "TooManyRequestsException",
        s if s >= 500 => "ServiceException",
        _ => "LambdaError",
    }
}

fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(&format!("</{name}>"))?;
    Some(text[start..start + len].trim().to_string())
}

/// The first line of an AWS message, shortened, with every secret removed. AWS's signature
/// errors quote the canonical request, which carries the session token: never relay that part.
pub fn sanitize_message<'s>(message: &str, secrets: impl IntoIterator<Item = &'s str>) -> String {
    let mut line = message
        .split(['\n', '\r'])
        .next()
        .unwrap_or_default()
        .to_string();
    for secret in secrets {
        if !secret.is_empty() {
            line = line.replace(secret, "[redacted]");
        }
    }
    if line.len() > MAX_MESSAGE_LEN {
        let mut cut = MAX_MESSAGE_LEN;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line
}

/// What the filter sends to the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientResponse {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

const JSON: &str = "application/json";

impl ClientResponse {
    /// A JSON error raised by the filter itself: `{"error": code, "message": ...}`. Codes come
    /// from the catalogue ([`ClientError`]).
    fn error(status: u16, code: &str, message: &str) -> ClientResponse {
        let body = serde_json::json!({"error": code, "message": message});
        ClientResponse {
            status,
            headers: vec![("content-type".to_string(), JSON.to_string())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Maps a final outcome to the client's response, by the backend's response format and error
/// policy.
pub fn to_client<'s>(
    outcome: &Outcome,
    format: ResponseFormat,
    policy: &ErrorPolicy,
    secrets: impl IntoIterator<Item = &'s str>,
) -> ClientResponse {
    to_client_noting(outcome, format, policy, secrets).0
}

/// [`to_client`], and why a success could not be answered as it is: its result is not a valid
/// API Gateway proxy response (the client gets a 502 `malformed_proxy_response`).
pub fn to_client_noting<'s>(
    outcome: &Outcome,
    format: ResponseFormat,
    policy: &ErrorPolicy,
    secrets: impl IntoIterator<Item = &'s str>,
) -> (ClientResponse, Option<String>) {
    let response = match outcome {
        Outcome::Success {
            status: 200,
            body,
            request_id,
            ..
        } if matches!(format, ResponseFormat::Apigw { .. }) => {
            let infer = matches!(format, ResponseFormat::Apigw { infer: true });
            match proxy::unwrap(body, infer) {
                Ok(mut response) => {
                    if !response
                        .headers
                        .iter()
                        .any(|(k, _)| k == "x-amzn-requestid")
                    {
                        push_opt(&mut response.headers, "x-amzn-requestid", request_id);
                    }
                    response
                }
                Err(e) => {
                    let why = format!(
                        "the function's result is not a valid API Gateway proxy response: {e}"
                    );
                    let response = ClientError::MalformedProxyResponse.with_message(&why);
                    return (response, Some(why));
                }
            }
        }
        Outcome::Success {
            status,
            body,
            executed_version,
            request_id,
            ..
        } => ClientResponse {
            status: *status,
            headers: success_headers(!body.is_empty(), executed_version, request_id),
            body: body.clone(),
        },
        Outcome::FunctionError {
            kind,
            body,
            executed_version,
            request_id,
            ..
        } => {
            let mut headers = vec![
                ("content-type".to_string(), JSON.to_string()),
                ("x-amz-function-error".to_string(), kind.clone()),
            ];
            push_opt(&mut headers, "x-amz-executed-version", executed_version);
            push_opt(&mut headers, "x-amzn-requestid", request_id);
            ClientResponse {
                status: policy.function_status(kind, body),
                headers,
                body: body.clone(),
            }
        }
        Outcome::ApiError(e) => api_error_to_client(e, policy, secrets),
        Outcome::Unreachable => ClientError::LambdaUnreachable.response(),
        Outcome::Reset => ClientError::LambdaConnectionReset.response(),
        Outcome::Timeout => timeout(),
    };
    (response, None)
}

/// The headers of a successful result (KrakenD format): JSON when there is a body, and the
/// version and request id Lambda reported.
pub fn success_headers(
    has_body: bool,
    executed_version: &Option<String>,
    request_id: &Option<String>,
) -> Vec<(String, String)> {
    let mut headers = Vec::with_capacity(3);
    if has_body {
        headers.push(("content-type".to_string(), JSON.to_string()));
    }
    push_opt(&mut headers, "x-amz-executed-version", executed_version);
    push_opt(&mut headers, "x-amzn-requestid", request_id);
    headers
}

/// The answer when the endpoint timeout ran out.
pub fn timeout() -> ClientResponse {
    ClientError::LambdaTimeout.response()
}

/// AWS errors are rebuilt, never relayed verbatim: a type, a sanitised first line, the request id.
fn api_error_to_client<'s>(
    e: &ApiError,
    policy: &ErrorPolicy,
    secrets: impl IntoIterator<Item = &'s str>,
) -> ClientResponse {
    let (status, error, message) =
        if let Some(status) = lookup(&policy.aws_error_types, &e.error_type) {
            (
                status,
                e.error_type.as_str(),
                sanitize_message(&e.message, secrets),
            )
        } else if is_auth_error(e) {
            (
                ClientError::LambdaAccessDenied.status(),
                ClientError::LambdaAccessDenied.code(),
                ClientError::LambdaAccessDenied.message().to_string(),
            )
        } else {
            (
                e.status,
                e.error_type.as_str(),
                sanitize_message(&e.message, secrets),
            )
        };
    let body = serde_json::json!({"error": error, "message": message, "request_id": e.request_id});
    let mut headers = vec![("content-type".to_string(), JSON.to_string())];
    push_opt(&mut headers, "x-amzn-requestid", &e.request_id);
    if status == 429 {
        push_opt(
            &mut headers,
            "retry-after",
            &e.retry_after.map(|s| s.to_string()),
        );
    }
    ClientResponse {
        status,
        headers,
        body: body.to_string().into_bytes(),
    }
}

fn push_opt(headers: &mut Vec<(String, String)>, name: &str, value: &Option<String>) {
    if let Some(v) = value {
        headers.push((name.to_string(), v.clone()));
    }
}

#[cfg(test)]
mod tests;
