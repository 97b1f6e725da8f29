//! What Lambda (or Envoy, on Lambda's behalf) answered, and what the client gets.

use serde_json::Value;

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
    },
    /// The function ran and failed (`X-Amz-Function-Error: Handled|Unhandled`).
    FunctionError {
        kind: String,
        body: Vec<u8>,
        executed_version: Option<String>,
        request_id: Option<String>,
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
}

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
        return match reply.header("x-amz-function-error") {
            Some(kind) => Outcome::FunctionError {
                kind: kind.to_string(),
                body: reply.body.to_vec(),
                executed_version,
                request_id,
            },
            None => Outcome::Success {
                status,
                body: reply.body.to_vec(),
                executed_version,
                request_id,
            },
        };
    }
    // Envoy's own replies (no upstream answer) carry none of AWS's headers.
    let from_aws = request_id.is_some() || reply.header("x-amzn-errortype").is_some();
    if !from_aws {
        let text = String::from_utf8_lossy(reply.body);
        match status {
            504 if text.starts_with("upstream request timeout") => return Outcome::Timeout,
            503 if text.starts_with("upstream connect error")
                || text.starts_with("no healthy upstream")
                || text.starts_with("no cluster")
                || text.is_empty() =>
            {
                return Outcome::Unreachable
            }
            503 | 502 if text.contains("reset") => return Outcome::Reset,
            _ => {}
        }
    }
    Outcome::ApiError(api_error(status, reply, request_id))
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
    ApiError {
        status,
        error_type,
        message,
        request_id,
    }
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

const JSON: &str = "application/json";

impl ClientResponse {
    /// A JSON error raised by the filter itself: `{"error": code, "message": ...}`.
    pub fn error(status: u16, code: &str, message: &str) -> ClientResponse {
        let body = serde_json::json!({"error": code, "message": message});
        ClientResponse {
            status,
            headers: vec![("content-type", JSON.to_string())],
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

/// Maps a final outcome to the client's response.
pub fn to_client<'s>(
    outcome: &Outcome,
    secrets: impl IntoIterator<Item = &'s str>,
) -> ClientResponse {
    match outcome {
        Outcome::Success {
            status,
            body,
            executed_version,
            request_id,
        } => {
            let mut headers = vec![("content-type", JSON.to_string())];
            push_opt(&mut headers, "x-amz-executed-version", executed_version);
            push_opt(&mut headers, "x-amzn-requestid", request_id);
            ClientResponse {
                status: *status,
                headers,
                body: body.clone(),
            }
        }
        Outcome::FunctionError {
            kind,
            body,
            executed_version,
            request_id,
        } => {
            let mut headers = vec![
                ("content-type", JSON.to_string()),
                ("x-amz-function-error", kind.clone()),
            ];
            push_opt(&mut headers, "x-amz-executed-version", executed_version);
            push_opt(&mut headers, "x-amzn-requestid", request_id);
            ClientResponse {
                status: 502,
                headers,
                body: body.clone(),
            }
        }
        Outcome::ApiError(e) => {
            let body = serde_json::json!({
                "error": e.error_type,
                "message": sanitize_message(&e.message, secrets),
                "request_id": e.request_id,
            });
            let mut headers = vec![("content-type", JSON.to_string())];
            push_opt(&mut headers, "x-amzn-requestid", &e.request_id);
            ClientResponse {
                status: e.status,
                headers,
                body: body.to_string().into_bytes(),
            }
        }
        Outcome::Unreachable => ClientResponse::error(
            503,
            "lambda_unreachable",
            "the Lambda endpoint could not be reached",
        ),
        Outcome::Reset => ClientResponse::error(
            502,
            "lambda_connection_reset",
            "the connection to the Lambda endpoint was reset before a complete response",
        ),
        Outcome::Timeout => ClientResponse::error(
            504,
            "lambda_timeout",
            "the Lambda invocation did not complete within the endpoint timeout",
        ),
    }
}

fn push_opt(headers: &mut Vec<(&'static str, String)>, name: &'static str, value: &Option<String>) {
    if let Some(v) = value {
        headers.push((name, v.clone()));
    }
}

#[cfg(test)]
mod tests;
