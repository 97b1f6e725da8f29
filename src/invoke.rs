//! One Invoke, from the matched request to the client's response: which function, what payload,
//! the signed callout or the in-place rewrite, and what to do with each reply (answer, or retry
//! after a backoff).

use crate::config::{Backend, Endpoint, Lambda};
use crate::credentials::Credentials;
use crate::function::{encode_label, FunctionName};
use crate::response::{self, ClientError, ClientResponse, LambdaReply, Outcome};
use crate::retry;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

mod callout;
mod in_place;
mod payload;
mod request;
mod stream;

pub use callout::{callout, unsigned_callout, whole_millis, Callout, CalloutError, USER_AGENT};
pub use in_place::{
    in_place_outcome, in_place_passage, rewrite, url_passage, url_rewrite, Passage,
};
pub use request::{
    check_size, needs_body, needs_meta, target_for, tenant_for, wanted_headers, Request,
    RequestError, RequestMeta, TRACE_HEADERS,
};
pub use stream::{whole_outcome, Piece, StreamMapper};

const MAX_TRACE_HEADER_LEN: usize = 512;
/// How close to its timeout an attempt that ended without headers counts as timed out: Envoy's
/// timers count whole milliseconds and the clock the VM reads may lag behind the one that fired.
const TIMER_SLACK: Duration = Duration::from_millis(50);

/// An Invoke in progress.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The endpoint it serves.
    pub endpoint: Rc<Endpoint>,
    /// The endpoint's backend it invokes.
    pub backend: Rc<Backend>,
    pub function: FunctionName,
    /// The Invoke path, percent-encoded.
    pub path: String,
    pub payload: Vec<u8>,
    /// Tracing headers from the client, passed on unsigned.
    pub trace_headers: Vec<(String, String)>,
    /// `X-Amz-Tenant-Id` (signed), for tenant-isolated functions.
    pub tenant: Option<String>,
    /// The access key that signed the last attempt.
    pub signed_with: Option<String>,
    /// When the last attempt was sent.
    pub sent_at: Option<SystemTime>,
    /// The timeout the last callout was given.
    pub attempt_timeout: Option<Duration>,
    /// Whether the one retry with fresh credentials has been used.
    pub credentials_retried: bool,
    /// Retries made so far.
    pub retries: u32,
    /// The endpoint timeout, counted from the request's arrival: every attempt and every wait
    /// fits before it.
    pub deadline: SystemTime,
}

impl Invocation {
    /// Starts an invocation for a matched request. `body` is the request body (ignored for GET
    /// backends, whose payload is the placeholders). `random` in [0, 1) picks weighted targets.
    /// `arrived` is when the request's headers arrived: the endpoint timeout runs from then.
    pub fn new(
        endpoint: &Rc<Endpoint>,
        backend: &Rc<Backend>,
        request: &Request,
        body: Vec<u8>,
        arrived: SystemTime,
        random: f64,
    ) -> Result<Invocation, RequestError> {
        let lambda = &backend.lambda;
        let (function, qualifier) = target_for(endpoint, lambda, request, random)?;
        let tenant = tenant_for(lambda, request)?;
        let payload = payload::build(endpoint, lambda, request, body);
        check_size(lambda, payload.len())?;
        let mut invocation = Invocation::start(
            endpoint, backend, request, function, qualifier, payload, arrived,
        );
        invocation.tenant = tenant;
        Ok(invocation)
    }

    fn start(
        endpoint: &Rc<Endpoint>,
        backend: &Rc<Backend>,
        request: &Request,
        function: FunctionName,
        qualifier: Option<String>,
        payload: Vec<u8>,
        now: SystemTime,
    ) -> Invocation {
        let (api, action) = if backend.lambda.stream {
            ("/2021-11-15/functions/", "/response-streaming-invocations")
        } else {
            ("/2015-03-31/functions/", "/invocations")
        };
        let prefix = &backend.lambda.path_prefix;
        let mut path = String::with_capacity(prefix.len() + 64 + 3 * function.as_str().len());
        path.push_str(prefix);
        path.push_str(api);
        function.push_path_segment(&mut path);
        path.push_str(action);
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
            endpoint: Rc::clone(endpoint),
            backend: Rc::clone(backend),
            function,
            path,
            payload,
            trace_headers,
            tenant: None,
            signed_with: None,
            sent_at: None,
            attempt_timeout: None,
            credentials_retried: false,
            retries: 0,
            deadline: now.checked_add(endpoint.timeout).unwrap_or(now),
        }
    }

    /// The backend's Lambda block.
    pub fn lambda(&self) -> &Lambda {
        &self.backend.lambda
    }

    pub fn time_left(&self, now: SystemTime) -> Duration {
        self.deadline.duration_since(now).unwrap_or(Duration::ZERO)
    }

    /// Notes an attempt sent at `now` with this callout timeout.
    pub fn sent(&mut self, now: SystemTime, timeout: Duration) {
        self.sent_at = Some(now);
        self.attempt_timeout = Some(timeout);
    }

    /// What the reply to the last attempt came to. A reply without headers is a timeout when
    /// the attempt's timeout had run out (Envoy resets a callout whose timer fires after the
    /// headers, the same way as a broken connection), a reset otherwise.
    pub fn classify(&self, reply: &LambdaReply, now: SystemTime) -> Outcome {
        let outcome = response::classify(reply);
        let timed_out = match (self.sent_at, self.attempt_timeout) {
            (Some(sent), Some(timeout)) => now
                .duration_since(sent)
                .is_ok_and(|waited| waited + TIMER_SLACK >= timeout),
            _ => false,
        };
        match outcome {
            Outcome::Reset if reply.status.is_none() && timed_out => Outcome::Timeout,
            other => other,
        }
    }
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
    reply: &LambdaReply,
    signer: Signer,
    now: SystemTime,
    random: f64,
) -> Step {
    let outcome = invocation.classify(reply, now);
    after_outcome(invocation, outcome, signer, now, random)
}

pub fn after_outcome(
    invocation: &mut Invocation,
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
    let backend = Rc::clone(&invocation.backend);
    let lambda = &backend.lambda;
    let time_left = invocation.time_left(now);
    if let Some(delay) = retry::decide(
        &outcome,
        invocation.retries,
        lambda.max_retries,
        lambda.invocation_type,
        time_left,
        random,
    ) {
        invocation.retries += 1;
        return Step::RetryAfter(delay);
    }
    let secrets: Vec<&str> = credentials.into_iter().flat_map(|c| c.secrets()).collect();
    let (response, malformed) = response::to_client_noting(
        &outcome,
        lambda.response_format,
        &lambda.errors,
        secrets.iter().copied(),
    );
    // A success whose result is not a valid proxy response is a failure too.
    let mut failure = describe_failure(&outcome, invocation.retries, &secrets).or_else(|| {
        let request_id = match &outcome {
            Outcome::Success { request_id, .. } => request_id.as_deref(),
            _ => None,
        };
        malformed.map(|why| format!("{why} request_id={}", request_id.unwrap_or("-")))
    });
    if let (Outcome::ApiError(e), Some(line)) = (&outcome, failure.as_mut()) {
        if response::is_auth_error(e) && !lambda.signed_by_filter() {
            // The filter cannot read the cluster's signer: say what must match.
            line.push_str(&format!(
                " (signed by Envoy's aws_request_signing on cluster {:?}: its service_name must be \
                 lambda, its region {}, and its credential_provider must reach keys allowed to invoke)",
                lambda.cluster, lambda.region
            ));
        }
    }
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
pub fn no_credentials(cause: &str) -> Step {
    Step::fail(
        ClientError::CredentialsUnavailable.response(),
        format!("credentials unavailable: {cause}"),
    )
}

/// An answer for what should not happen; `cause` goes to the log, not to the client.
pub fn internal(cause: &str) -> Step {
    Step::fail(ClientError::InternalError.response(), cause)
}

#[cfg(test)]
mod tests;
