//! One Invoke, from the matched request to the client's response: which function, what payload,
//! the signed callout, and what to do with each reply (answer, or retry after a backoff).

use crate::config::{Endpoint, FunctionSource};
use crate::credentials::Credentials;
use crate::event;
use crate::function::{FunctionName, FunctionNameError};
use crate::response::{self, ClientResponse, LambdaReply, Outcome};
use crate::retry;
use crate::route::Captures;
use crate::sign::{self, SignError, Unsigned, LAMBDA_SERVICE};
use std::time::{Duration, SystemTime};
use thiserror::Error;

pub const USER_AGENT: &str = concat!("lambda-wasm/", env!("CARGO_PKG_VERSION"));

/// A request the filter refuses before anything is sent to AWS.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("invalid function name {0:?}: {1}")]
    InvalidFunctionName(String, FunctionNameError),
}

impl RequestError {
    pub fn to_client(&self) -> ClientResponse {
        match self {
            RequestError::InvalidFunctionName(..) => {
                ClientResponse::error(400, "invalid_function_name", &self.to_string())
            }
        }
    }
}

/// The function a request names, validated.
pub fn function_for(
    endpoint: &Endpoint,
    captures: &Captures,
) -> Result<FunctionName, RequestError> {
    match &endpoint.lambda.function {
        FunctionSource::Fixed(name) => Ok(name.clone()),
        FunctionSource::Param { index } => {
            let value = captures
                .values
                .get(*index)
                .map(String::as_str)
                .unwrap_or("");
            FunctionName::parse(value)
                .map_err(|e| RequestError::InvalidFunctionName(value.to_string(), e))
        }
    }
}

/// Whether the payload needs the request body (KrakenD: every backend method but GET).
pub fn needs_body(endpoint: &Endpoint) -> bool {
    !endpoint.lambda.payload_from_params
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
    /// Retries made so far.
    pub retries: u32,
    pub deadline: SystemTime,
}

impl Invocation {
    /// Starts an invocation for a matched request. `body` is the request body (ignored for GET
    /// backends, whose payload is the placeholders).
    pub fn new(
        index: usize,
        endpoint: &Endpoint,
        captures: &Captures,
        body: Vec<u8>,
        now: SystemTime,
    ) -> Result<Invocation, RequestError> {
        let function = function_for(endpoint, captures)?;
        let payload = if endpoint.lambda.payload_from_params {
            event::from_params(endpoint.path.params(), &captures.values)
        } else {
            body
        };
        let path = format!(
            "{}/2015-03-31/functions/{}/invocations",
            endpoint.lambda.path_prefix,
            function.path_segment()
        );
        Ok(Invocation {
            endpoint: index,
            function,
            path,
            payload,
            retries: 0,
            deadline: now.checked_add(endpoint.timeout).unwrap_or(now),
        })
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

/// Builds and signs the next attempt. Nothing from the client's request is copied.
pub fn callout(
    invocation: &Invocation,
    endpoint: &Endpoint,
    credentials: &Credentials,
    now: SystemTime,
) -> Result<Callout, CalloutError> {
    let timeout = invocation.time_left(now);
    if timeout.is_zero() {
        return Err(CalloutError::NoTimeLeft);
    }
    let host = endpoint.lambda.host.as_str();
    let signed_part = [("host", host), ("x-amz-invocation-type", "RequestResponse")];
    let unsigned = Unsigned {
        method: "POST",
        path_and_query: &invocation.path,
        headers: &signed_part,
        body: &invocation.payload,
    };
    let signature = sign::sign(
        &unsigned,
        credentials,
        &endpoint.lambda.region,
        LAMBDA_SERVICE,
        now,
    )?;
    let mut headers = Vec::with_capacity(8);
    headers.push((":method".to_string(), "POST".to_string()));
    headers.push((":path".to_string(), invocation.path.clone()));
    headers.push((":authority".to_string(), host.to_string()));
    headers.push((
        "x-amz-invocation-type".to_string(),
        "RequestResponse".to_string(),
    ));
    headers.push(("user-agent".to_string(), USER_AGENT.to_string()));
    headers.extend(signature);
    Ok(Callout { headers, timeout })
}

/// What the shell does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Answer the client. `failure` is a one-line cause for the log when the answer is an error.
    Respond {
        response: ClientResponse,
        failure: Option<String>,
    },
    /// Wait, then send another attempt.
    RetryAfter(Duration),
}

/// Decides what follows one reply. `random` is uniform in [0, 1), for the backoff jitter.
pub fn after_reply(
    invocation: &mut Invocation,
    endpoint: &Endpoint,
    reply: &LambdaReply,
    credentials: Option<&Credentials>,
    now: SystemTime,
    random: f64,
) -> Step {
    let outcome = response::classify(reply);
    after_outcome(invocation, endpoint, outcome, credentials, now, random)
}

pub fn after_outcome(
    invocation: &mut Invocation,
    endpoint: &Endpoint,
    outcome: Outcome,
    credentials: Option<&Credentials>,
    now: SystemTime,
    random: f64,
) -> Step {
    let time_left = invocation.time_left(now);
    if let Some(delay) = retry::decide(
        &outcome,
        invocation.retries,
        endpoint.lambda.max_retries,
        time_left,
        random,
    ) {
        invocation.retries += 1;
        return Step::RetryAfter(delay);
    }
    let secrets: Vec<&str> = credentials.into_iter().flat_map(|c| c.secrets()).collect();
    let response = response::to_client(&outcome, secrets.iter().copied());
    let failure = describe_failure(&outcome, invocation.retries, &secrets);
    Step::Respond { response, failure }
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
    Step::Respond {
        response: response::to_client(&Outcome::Timeout, []),
        failure: Some(format!("timed out (after {} retries)", invocation.retries)),
    }
}

/// The answer when no credentials are available: refuse, never send unsigned.
pub fn no_credentials() -> ClientResponse {
    ClientResponse::error(
        503,
        "credentials_unavailable",
        "no AWS credentials are available to sign the Lambda request",
    )
}

#[cfg(test)]
mod tests;
