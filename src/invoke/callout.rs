//! The Invoke as an HTTP callout: its request line and headers (shared with the in-place
//! rewrite), signed with SigV4 inside the VM.

use super::Invocation;
use crate::config::Lambda;
use crate::credentials::Credentials;
#[cfg_attr(feature = "bench-unsigned-floor", allow(unused_imports))]
use crate::sign::{self, KeyCache, SignError, Unsigned, LAMBDA_SERVICE};
use std::time::{Duration, SystemTime};
use thiserror::Error;

pub const USER_AGENT: &str = concat!("lambda-wasm/", env!("CARGO_PKG_VERSION"));

/// One signed HTTP callout, ready for `dispatch_http_call`.
#[derive(Debug, Clone)]
pub struct Callout {
    pub headers: Vec<(String, String)>,
    /// Whole milliseconds, at least one: Envoy reads a zero timeout as "none".
    pub timeout: Duration,
}

#[derive(Debug, Error)]
pub enum CalloutError {
    #[error("no time left for another attempt")]
    NoTimeLeft,
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// `d` rounded up to whole milliseconds, at least one: Envoy's timeouts are milliseconds and
/// read 0 as "no timeout", so a sub-millisecond budget would never fire.
pub fn whole_millis(d: Duration) -> Duration {
    let millis = d.as_nanos().div_ceil(1_000_000).max(1);
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
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

/// Builds and signs the next attempt. Nothing from the client's request is copied.
pub fn callout(
    invocation: &Invocation,
    credentials: &Credentials,
    keys: &mut KeyCache,
    now: SystemTime,
) -> Result<Callout, CalloutError> {
    let time_left = invocation.time_left(now);
    if time_left.is_zero() {
        return Err(CalloutError::NoTimeLeft);
    }
    let lambda = invocation.lambda();
    let host = lambda.host.as_str();
    let mut signed_part = Vec::with_capacity(5);
    signed_part.push(("host", host));
    signed_part.extend(invoke_options(lambda));
    if let Some(tenant) = &invocation.tenant {
        signed_part.push(("x-amz-tenant-id", tenant));
    }
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
        &lambda.region,
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
    Ok(Callout {
        headers,
        timeout: whole_millis(time_left),
    })
}

/// The next attempt unsigned, for a cluster whose `aws_request_signing` signs it (`signing:
/// envoy`). The same request line, options and trace headers as a signed callout.
pub fn unsigned_callout(invocation: &Invocation, now: SystemTime) -> Result<Callout, CalloutError> {
    let time_left = invocation.time_left(now);
    if time_left.is_zero() {
        return Err(CalloutError::NoTimeLeft);
    }
    let mut headers = invoke_headers(invocation, invocation.lambda());
    headers.extend(invocation.trace_headers.iter().cloned());
    Ok(Callout {
        headers,
        timeout: whole_millis(time_left),
    })
}

/// The Invoke's request line and headers, as the callout and the in-place rewrite both send
/// them: `POST` to the Invoke path on the Lambda host, its options, this filter's user agent.
pub(super) fn invoke_headers(invocation: &Invocation, lambda: &Lambda) -> Vec<(String, String)> {
    let mut headers = Vec::with_capacity(14);
    headers.push((":method".to_string(), "POST".to_string()));
    headers.push((":path".to_string(), invocation.path.clone()));
    headers.push((":authority".to_string(), lambda.host.clone()));
    for (name, value) in invoke_options(lambda) {
        headers.push((name.to_string(), value.to_string()));
    }
    if let Some(tenant) = &invocation.tenant {
        headers.push(("x-amz-tenant-id".to_string(), tenant.clone()));
    }
    headers.push(("user-agent".to_string(), USER_AGENT.to_string()));
    headers
}
