//! When to try an Invoke again, and how long to wait first.
//!
//! Retried: throttling (429), Lambda service errors (5xx) and transport failures (unreachable,
//! reset) — failures where the function did not produce a result. Never retried: a function
//! error, a 4xx, or a timeout (the endpoint's whole budget is spent by then).

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

/// What to do after a failed attempt: `Some(delay)` to try again, `None` to give up.
/// `retries_done` counts the retries already made; `time_left` is what remains of the timeout.
pub fn decide(
    outcome: &Outcome,
    retries_done: u32,
    max_retries: u32,
    time_left: Duration,
    random: f64,
) -> Option<Duration> {
    if !is_retryable(outcome) || retries_done >= max_retries {
        return None;
    }
    let delay = backoff(retries_done, is_throttle(outcome), random);
    (delay + MIN_ATTEMPT_TIME <= time_left).then_some(delay)
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
mod tests {
    use super::*;
    use crate::response::ApiError;

    fn api(status: u16) -> Outcome {
        Outcome::ApiError(ApiError {
            status,
            error_type: String::new(),
            message: String::new(),
            request_id: None,
        })
    }

    const LOTS: Duration = Duration::from_secs(60);

    #[test]
    fn retries_only_what_never_ran_the_function() {
        for o in [
            api(429),
            api(500),
            api(502),
            api(503),
            Outcome::Unreachable,
            Outcome::Reset,
        ] {
            assert!(decide(&o, 0, 1, LOTS, 0.5).is_some(), "{o:?}");
        }
        let function_error = Outcome::FunctionError {
            kind: "Unhandled".into(),
            body: vec![],
            executed_version: None,
            request_id: None,
        };
        for o in [
            api(400),
            api(403),
            api(404),
            api(413),
            api(501),
            Outcome::Timeout,
            function_error,
        ] {
            assert_eq!(decide(&o, 0, 3, LOTS, 0.5), None, "{o:?}");
        }
    }

    #[test]
    fn stops_after_max_retries() {
        assert!(decide(&api(500), 0, 2, LOTS, 0.0).is_some());
        assert!(decide(&api(500), 1, 2, LOTS, 0.0).is_some());
        assert_eq!(decide(&api(500), 2, 2, LOTS, 0.0), None);
        assert_eq!(decide(&api(500), 0, 0, LOTS, 0.0), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_throttles_wait_longer() {
        assert_eq!(backoff(0, false, 0.0), Duration::from_millis(15));
        assert_eq!(backoff(2, false, 0.0), Duration::from_millis(60));
        assert!(backoff(2, false, 0.999) < Duration::from_millis(120));
        assert_eq!(backoff(0, true, 0.0), Duration::from_millis(250));
        assert_eq!(
            backoff(40, true, 0.999),
            MAX_DELAY.mul_f64(0.5 + 0.5 * 0.999)
        );
    }

    #[test]
    fn never_waits_past_the_deadline() {
        // A throttle backoff of at least 250 ms does not fit in 200 ms.
        assert_eq!(
            decide(&api(429), 0, 3, Duration::from_millis(200), 0.0),
            None
        );
        assert!(decide(&api(500), 0, 3, Duration::from_millis(200), 0.0).is_some());
    }

    #[test]
    fn jitter_is_uniform_enough() {
        let mut j = Jitter::new(42);
        let samples: Vec<f64> = (0..10_000).map(|_| j.sample()).collect();
        assert!(samples.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }
}
