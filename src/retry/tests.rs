use super::*;
use crate::config::InvocationType;
use crate::response::ApiError;

const RR: InvocationType = InvocationType::RequestResponse;

fn api(status: u16) -> Outcome {
    Outcome::ApiError(ApiError {
        status,
        error_type: String::new(),
        message: String::new(),
        request_id: None,
        retry_after: None,
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
        assert!(decide(&o, 0, 1, RR, LOTS, 0.5).is_some(), "{o:?}");
    }
    let function_error = Outcome::FunctionError {
        kind: "Unhandled".into(),
        body: vec![],
        executed_version: None,
        request_id: None,
        log_tail: None,
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
        assert_eq!(decide(&o, 0, 3, RR, LOTS, 0.5), None, "{o:?}");
    }
}

#[test]
fn stops_after_max_retries() {
    assert!(decide(&api(500), 0, 2, RR, LOTS, 0.0).is_some());
    assert!(decide(&api(500), 1, 2, RR, LOTS, 0.0).is_some());
    assert_eq!(decide(&api(500), 2, 2, RR, LOTS, 0.0), None);
    assert_eq!(decide(&api(500), 0, 0, RR, LOTS, 0.0), None);
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
        decide(&api(429), 0, 3, RR, Duration::from_millis(200), 0.0),
        None
    );
    assert!(decide(&api(500), 0, 3, RR, Duration::from_millis(200), 0.0).is_some());
}

#[test]
fn jitter_is_uniform_enough() {
    let mut j = Jitter::new(42);
    let samples: Vec<f64> = (0..10_000).map(|_| j.sample()).collect();
    assert!(samples.iter().all(|x| (0.0..1.0).contains(x)));
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    assert!((mean - 0.5).abs() < 0.02, "{mean}");
}

#[test]
fn any_retry_after_a_peer_sends_is_handled_without_overflow() {
    let throttle = |seconds| {
        Outcome::ApiError(crate::response::ApiError {
            status: 429,
            error_type: "TooManyRequestsException".into(),
            message: String::new(),
            request_id: None,
            retry_after: Some(seconds),
        })
    };
    for seconds in [u64::MAX, u64::MAX / 2, 1 << 40, 86_400] {
        assert_eq!(
            decide(&throttle(seconds), 0, 3, RR, Duration::from_secs(5), 0.5),
            None
        );
    }
}
