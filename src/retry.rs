//! When to try an Invoke again, and how long to wait first.
//!
//! Retried: throttling (429), Lambda service errors (5xx) and transport failures (unreachable,
//! reset) — failures where the function did not produce a result. Never retried: a function
//! error, a 4xx, or a timeout (the endpoint's whole budget is spent by then).

use crate::config::InvocationType;
use crate::response::Outcome;
use std::time::Duration;

/// First backoff step for service errors and transport failures (the AWS SDKs' 30 ms).
pub const BASE_DELAY: Duration = Duration::from_millis(30);
/// First backoff step after a throttle (the AWS SDKs' 500 ms).
pub const THROTTLE_BASE_DELAY: Duration = Duration::from_millis(500);
pub const MAX_DELAY: Duration = Duration::from_secs(20);
/// A retry is only worth starting with at least this much of the endpoint timeout left after
/// the backoff.
pub const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(50);

pub fn is_retryable(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::ApiError(e) => e.status == 429 || (e.status >= 500 && e.status != 501),
        Outcome::Unreachable | Outcome::Reset => true,
        Outcome::Success { .. } | Outcome::FunctionError { .. } | Outcome::Timeout => false,
    }
}

fn is_throttle(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::ApiError(e) if e.status == 429)
}

/// Exponential backoff with jitter: `base·2^retry` scaled by a factor in [0.5, 1), where
/// `random` is uniform in [0, 1).
pub fn backoff(retry: u32, throttled: bool, random: f64) -> Duration {
    let base = if throttled {
        THROTTLE_BASE_DELAY
    } else {
        BASE_DELAY
    };
    let ceiling = base.saturating_mul(1u32 << retry.min(16)).min(MAX_DELAY);
    ceiling.mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0))
}

/// For an `Event` invocation, only failures where AWS surely did not queue the event: a throttle,
/// or no connection at all. After a 5xx or a reset the event may already be accepted, and a retry
/// would run the function twice.
fn event_safe(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Unreachable) || is_throttle(outcome)
}

/// What to do after a failed attempt: `Some(delay)` to try again, `None` to give up.
/// `retries_done` counts the retries already made; `time_left` is what remains of the endpoint
/// timeout, the total deadline of all attempts. A `Retry-After` from AWS is honoured.
pub fn decide(
    outcome: &Outcome,
    retries_done: u32,
    max_retries: u32,
    invocation_type: InvocationType,
    time_left: Duration,
    random: f64,
) -> Option<Duration> {
    if !is_retryable(outcome) || retries_done >= max_retries {
        return None;
    }
    if invocation_type == InvocationType::Event && !event_safe(outcome) {
        return None;
    }
    let mut delay = backoff(retries_done, is_throttle(outcome), random);
    if let Outcome::ApiError(e) = outcome {
        if let Some(seconds) = e.retry_after {
            delay = delay.max(Duration::from_secs(seconds));
        }
    }
    // Saturating: AWS's Retry-After is any number a peer sends, and a Duration overflow panics.
    (delay.saturating_add(MIN_ATTEMPT_TIME) <= time_left).then_some(delay)
}

/// A small deterministic generator for jitter (no OS randomness in the VM).
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Jitter {
        Jitter(seed | 1)
    }

    /// Uniform in [0, 1).
    pub fn sample(&mut self) -> f64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests;
