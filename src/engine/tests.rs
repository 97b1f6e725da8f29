//! The engine against a simulated Envoy: faults, timing, credentials shared by several VMs.

use super::sim::{container_keys, envoy_reset, no_headers, ok, status, Sim};
use super::*;
use serde_json::{json, Value};

const LAMBDA: &str = "lambda";
const CREDS: &str = "creds";

fn backend(block: Value) -> Value {
    let mut lambda = json!({"region": "us-east-1"});
    if let (Some(l), Some(b)) = (lambda.as_object_mut(), block.as_object()) {
        l.extend(b.clone());
    }
    json!([{"host": ["x"], "url_pattern": "/x", "extra_config": {"backend/lambda": lambda}}])
}

fn endpoint(path: &str, method: &str, timeout: &str, block: Value) -> Value {
    json!({"endpoint": path, "method": method, "timeout": timeout, "backend": backend(block)})
}

fn endpoints() -> Value {
    json!([
        endpoint(
            "/call-a-lambda/{lambda}",
            "GET",
            "2s",
            json!({"function_param_name": "Lambda", "max_retries": 2,
                        "allowed_functions": ["echo", "other"]})
        ),
        endpoint(
            "/users/{id}/{lambda}",
            "GET",
            "2s",
            json!({"function_param_name": "Lambda"})
        ),
        endpoint(
            "/event",
            "POST",
            "2s",
            json!({"function_name": "ev", "invocation_type": "Event", "max_retries": 2})
        ),
        endpoint(
            "/sync",
            "POST",
            "2s",
            json!({"function_name": "sync", "max_retries": 2})
        ),
        endpoint("/short", "GET", "1ms", json!({"function_name": "short"})),
    ])
}

/// A VM signing with static keys.
fn static_config() -> Value {
    json!({"credentials": {"access_key_id": "AKID", "secret_access_key": "SECRET"},
           "endpoints": endpoints()})
}

/// VMs fetching container credentials through cluster `creds`.
fn container_config(refresh_before: &str) -> Value {
    json!({"credentials": {"chain": ["container"], "refresh_before": refresh_before,
                           "container": {"uri": "http://169.254.170.23/v1/credentials",
                                         "cluster": CREDS}},
           "endpoints": endpoints()})
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn code(response: &ClientResponse) -> String {
    serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default()
}

/// The stream's one answer: status and error code.
fn answered(sim: &Sim, context: u32) -> (u16, String) {
    let (response, _) = sim.answer(context).expect("answered");
    (response.status, code(&response))
}

// --- requests that are the filter's ---------------------------------------------------------

#[test]
fn paths_with_an_endpoints_shape_never_pass_through() {
    let mut sim = Sim::new(&static_config(), 1);
    for (path, status, error) in [
        ("/call-a-lambda/%FF", 400, "invalid_function_name"),
        ("/call-a-lambda/echo%FF", 400, "invalid_function_name"),
        ("/call-a-lambda/%C0%AF", 400, "invalid_function_name"),
        ("/call-a-lambda/", 400, "invalid_function_name"),
        ("/call-a-lambda/nope", 404, "function_not_allowed"),
        ("/users/%FF%FE/echo", 400, "invalid_path_parameter"),
        ("/users//echo", 400, "invalid_path_parameter"),
    ] {
        let (context, flow) = sim.request(0, "GET", path, &[], None);
        assert_eq!(flow, Flow::Pause, "{path}");
        assert_eq!(
            answered(&sim, context),
            (status, error.to_string()),
            "{path}"
        );
    }
    assert!(sim.calls_to(LAMBDA).is_empty(), "nothing reached AWS");
    assert_eq!(
        sim.metric("lambda_wasm.rejected.reason.invalid_path_parameter"),
        2
    );
    // Other paths are Envoy's.
    for path in ["/call-a-lambda", "/other", "/call-a-lambda/a/b", "/users/1"] {
        assert_eq!(
            sim.request(0, "GET", path, &[], None).1,
            Flow::Continue,
            "{path}"
        );
    }
}

#[test]
fn a_trailing_slash_is_redirected_as_krakend_does() {
    let mut sim = Sim::new(&static_config(), 1);
    let (context, flow) = sim.request(0, "GET", "/call-a-lambda/echo/?x=1", &[], None);
    assert_eq!(flow, Flow::Pause);
    let (response, _) = sim.answer(context).expect("answered");
    assert_eq!(response.status, 301);
    assert_eq!(response.header("location"), Some("/call-a-lambda/echo?x=1"));
    let (context, _) = sim.request(0, "POST", "/sync/", &[], Some(b"{}"));
    assert_eq!(sim.answer(context).map(|(r, _)| r.status), Some(307));
    assert!(sim.calls_to(LAMBDA).is_empty());
}

// --- failures, classified by what may have reached AWS ---------------------------------------

#[test]
fn a_refused_connection_is_retried_for_every_invocation_type() {
    let mut sim = Sim::new(&static_config(), 1);
    let (sync, _) = sim.request(0, "GET", "/call-a-lambda/echo", &[], None);
    let (event, _) = sim.request(0, "POST", "/event", &[], Some(b"{}"));
    for _ in 0..3 {
        sim.serve(|_| {
            Some(envoy_reset(
                "remote connection failure, transport failure reason: delayed connect error: 111",
            ))
        });
        sim.advance(ms(500));
    }
    assert_eq!(answered(&sim, sync), (503, "lambda_unreachable".into()));
    assert_eq!(answered(&sim, event), (503, "lambda_unreachable".into()));
    assert_eq!(sim.calls_to(LAMBDA).len(), 6, "1 + max_retries each");
    assert_eq!(sim.metric("lambda_wasm.retries.function.ev"), 2);
}

#[test]
fn a_reset_after_sending_is_a_502_and_an_event_is_never_sent_twice() {
    for reply in [
        envoy_reset("connection termination"),
        envoy_reset("remote reset"),
        envoy_reset("protocol error"),
        envoy_reset("local reset"),
        no_headers(),
    ] {
        let mut sim = Sim::new(&static_config(), 1);
        let (event, _) = sim.request(0, "POST", "/event", &[], Some(b"{}"));
        let (sync, _) = sim.request(0, "POST", "/sync", &[], Some(b"{}"));
        for _ in 0..3 {
            let r = reply.clone();
            sim.serve(move |_| Some(r.clone()));
            sim.advance(ms(300));
        }
        assert_eq!(
            answered(&sim, event),
            (502, "lambda_connection_reset".into())
        );
        assert_eq!(
            answered(&sim, sync),
            (502, "lambda_connection_reset".into())
        );
        let sent = |f: &str| {
            sim.calls_to(LAMBDA)
                .iter()
                .filter(|c| c.header(":path").is_some_and(|p| p.contains(f)))
                .count()
        };
        assert_eq!(sent("/functions/ev/"), 1, "{reply:?}");
        assert!(
            sim.calls_to(LAMBDA).iter().all(|c| c.body == b"{}"),
            "the body, every time"
        );
        assert_eq!(sent("/functions/sync/"), 3, "{reply:?}");
        assert_eq!(sim.metric("lambda_wasm.transport_errors.function.ev"), 1);
    }
}

#[test]
fn a_reply_cut_off_by_the_timeout_is_a_timeout() {
    let mut sim = Sim::new(&static_config(), 1);
    let (context, _) = sim.request(0, "POST", "/sync", &[], Some(b"{}"));
    let call = sim.open_calls().remove(0);
    assert_eq!(call.timeout, ms(2000));
    // Lambda sent headers, then nothing: Envoy ends the callout when its timer fires.
    sim.advance(ms(2000));
    sim.reply(call.token, no_headers());
    assert_eq!(answered(&sim, context), (504, "lambda_timeout".into()));
    assert_eq!(sim.metric("lambda_wasm.timeouts.function.sync"), 1);
    assert_eq!(sim.metric("lambda_wasm.transport_errors.function.sync"), 0);
    assert_eq!(sim.calls_to(LAMBDA).len(), 1, "no time left to retry");
}

#[test]
fn sub_millisecond_budgets_become_a_whole_millisecond() {
    let mut sim = Sim::new(&static_config(), 1);
    let (context, _) = sim.request(0, "GET", "/short", &[], None);
    let call = sim.open_calls().remove(0);
    assert_eq!(
        call.timeout,
        ms(1),
        "never 0, which Envoy reads as no timeout"
    );
    sim.advance(ms(1));
    sim.reply(call.token, no_headers());
    assert_eq!(answered(&sim, context), (504, "lambda_timeout".into()));
}

/// A POST to `path` whose headers arrive now, its 2-byte body still to come.
fn post_awaiting_body(sim: &mut Sim, context: u32, path: &str) {
    let mut world = sim.world.borrow_mut();
    world.current = context;
    let stream = world.streams.entry(context).or_default();
    stream.request_headers = vec![
        (":method".into(), "POST".into()),
        (":path".into(), path.into()),
    ];
    stream.request_body = b"{}".to_vec();
    drop(world);
    assert_eq!(sim.vms[0].on_request_headers(context, false), Flow::Pause);
}

/// The body of a [`post_awaiting_body`] ends now.
fn body_ends(sim: &mut Sim, context: u32) -> Flow {
    sim.world.borrow_mut().current = context;
    sim.vms[0].on_request_body(context, 2, true)
}

#[test]
fn a_body_that_does_not_arrive_in_time_is_a_408() {
    let mut sim = Sim::new(&static_config(), 1);
    let context = 7;
    post_awaiting_body(&mut sim, context, "/sync");
    sim.advance(ms(1990));
    assert!(sim.answer(context).is_none());
    sim.advance(ms(40));
    assert_eq!(answered(&sim, context), (408, "request_timeout".into()));
    // The rest of the body, if it comes, is held back and never invoked.
    assert_eq!(body_ends(&mut sim, context), Flow::Pause);
    assert!(sim.calls_to(LAMBDA).is_empty());
}

#[test]
fn a_body_complete_after_the_deadline_but_before_the_tick_is_a_408() {
    // The timer looks every 20 ms; a body ending in between, past the endpoint timeout, is late
    // all the same.
    let mut sim = Sim::new(&static_config(), 1);
    sim.advance(ms(5));
    let context = 7;
    post_awaiting_body(&mut sim, context, "/sync");
    sim.advance(ms(2003));
    assert!(sim.answer(context).is_none(), "no tick since the deadline");
    assert_eq!(body_ends(&mut sim, context), Flow::Pause);
    assert_eq!(answered(&sim, context), (408, "request_timeout".into()));
    assert!(sim.calls_to(LAMBDA).is_empty());
}

#[test]
fn a_body_past_the_merge_deadline_of_merged_backends_is_a_408() {
    // Past 85% of the timeout none of the merged backends could be invoked: nothing is sent, the
    // shadow included.
    let mut sim = Sim::new(&aggregated_config(), 1);
    let context = 7;
    post_awaiting_body(&mut sim, context, "/agg");
    sim.advance(ms(1650));
    assert!(sim.answer(context).is_none());
    sim.advance(ms(100));
    assert_eq!(answered(&sim, context), (408, "request_timeout".into()));
    assert!(sim.open_calls().is_empty());
}

#[test]
fn a_slow_upload_leaves_the_invoke_only_what_remains_of_the_timeout() {
    // The endpoint's budget counts from the request's arrival, the upload included.
    let mut sim = Sim::new(&static_config(), 1);
    let context = 9;
    post_awaiting_body(&mut sim, context, "/sync");
    sim.advance(ms(1500));
    assert_eq!(body_ends(&mut sim, context), Flow::Pause);
    let calls = sim.calls_to(LAMBDA);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].timeout, ms(500), "2 s endpoint, 1.5 s of upload");
}

#[test]
fn a_malformed_proxy_response_is_logged_as_a_failure() {
    let config = json!({"credentials": {"access_key_id": "AKID", "secret_access_key": "SECRET"},
        "endpoints": [endpoint("/p", "GET", "2s",
            json!({"function_name": "fn", "event_format": "apigw_v2"}))]});
    let mut sim = Sim::new(&config, 1);
    let (context, _) = sim.request(0, "GET", "/p", &[], None);
    sim.serve(|_| Some(ok("{\"statusCode\": \"soon\"}")));
    assert_eq!(
        answered(&sim, context),
        (502, "malformed_proxy_response".into())
    );
    assert_eq!(
        sim.logs_containing("function fn answered 502: the function's result is not a valid API Gateway proxy response: statusCode must be a number from 100 to 599 request_id=req-1"),
        1
    );
    // A valid proxy response that says 502 is the function's own answer, not a failure, even
    // when its body reads like the filter's error.
    let (context, _) = sim.request(0, "GET", "/p", &[], None);
    let relayed = json!({"statusCode": 502, "body": json!({"error": "malformed_proxy_response",
                                                           "message": "relayed"}).to_string()});
    sim.serve(|_| Some(ok(&relayed.to_string())));
    assert_eq!(sim.answer(context).map(|(r, _)| r.status), Some(502));
    assert_eq!(sim.logs_containing("answered 502"), 1);
}

#[test]
fn a_stream_that_goes_away_is_forgotten_and_its_reply_dropped() {
    let mut sim = Sim::new(&static_config(), 1);
    let (context, _) = sim.request(0, "POST", "/sync", &[], Some(b"{}"));
    sim.done(0, context);
    sim.serve(|_| Some(ok("{}")));
    assert!(sim.answer(context).is_none());
    assert!(sim.vms[0].streams.is_empty() && sim.vms[0].flights.is_empty());
}

// --- credentials ------------------------------------------------------------------------------

/// Runs the first fetch (keys valid for `valid_for`) and returns the sim.
fn fetched(vms: usize, refresh_before: &str, valid_for: Duration) -> Sim {
    let mut sim = Sim::new(&container_config(refresh_before), vms);
    sim.advance(ms(1000));
    let now = sim.now();
    sim.serve(|c| (c.cluster == CREDS).then(|| container_keys("K1", now, valid_for)));
    assert_eq!(sim.calls_to(CREDS).len(), 1, "one fetch for every VM");
    sim
}

#[test]
fn requests_sign_with_valid_keys_while_a_refresh_runs() {
    let mut sim = fetched(2, "5m", Duration::from_secs(400));
    // Refresh due (expiry within 5m): a fetch starts and is left hanging.
    sim.advance(Duration::from_secs(101));
    assert_eq!(sim.calls_to(CREDS).len(), 2);
    for vm in 0..2 {
        let (context, _) = sim.request(vm, "POST", "/sync", &[], Some(b"{}"));
        let call = sim
            .open_calls()
            .into_iter()
            .find(|c| c.cluster == LAMBDA)
            .expect("sent at once");
        assert!(call
            .header("authorization")
            .is_some_and(|a| a.contains("K1/")));
        sim.reply(call.token, ok("{}"));
        assert_eq!(answered(&sim, context).0, 200);
    }
}

#[test]
fn a_failing_refresh_backs_off_per_envoy_while_the_old_keys_serve() {
    let mut sim = fetched(4, "5m", Duration::from_secs(3600));
    // From 5 minutes before expiry the source fails, every time.
    sim.advance(Duration::from_secs(3300));
    let before = sim.calls_to(CREDS).len();
    let mut answers = Vec::new();
    for _ in 0..120 {
        sim.serve(|c| (c.cluster == CREDS).then(|| status(500)));
        let (context, _) = sim.request(0, "POST", "/sync", &[], Some(b"{}"));
        sim.serve(|c| (c.cluster == LAMBDA).then(|| ok("{}")));
        answers.push(answered(&sim, context).0);
        sim.advance(ms(1000));
    }
    assert!(
        answers.iter().all(|s| *s == 200),
        "the old keys kept serving"
    );
    let attempts: Vec<SystemTime> = sim.calls_to(CREDS)[before..].iter().map(|c| c.at).collect();
    // 1 s, 2 s, 4 s, 8 s, 16 s, then 30 s (each 50–100 %): about 8 in two minutes, whatever
    // the number of VMs.
    assert!(
        (5..=10).contains(&attempts.len()),
        "{} attempts",
        attempts.len()
    );
    let gaps: Vec<u64> = attempts
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).map(|d| d.as_secs()).unwrap_or(0))
        .collect();
    assert!(gaps.iter().all(|g| *g <= 31), "{gaps:?}");
    assert!(gaps.last().is_some_and(|g| *g >= 8), "{gaps:?}");
    let failed_fetches = sim.calls_to(CREDS).len() as u64 - 1;
    assert_eq!(
        sim.metric("lambda_wasm.credential_failures"),
        failed_fetches
    );
    assert_eq!(
        sim.metric("lambda_wasm.rejected.reason.credentials_unavailable"),
        0
    );
}

#[test]
fn a_source_handing_out_expired_keys_is_asked_with_backoff_not_flooded() {
    let mut sim = Sim::new(&container_config("5m"), 2);
    let mut contexts = Vec::new();
    for _ in 0..20 {
        let now = sim.now();
        // Keys that expired a minute ago (a source whose clock is behind).
        sim.serve(|c| {
            (c.cluster == CREDS)
                .then(|| container_keys("OLD", now - Duration::from_secs(60), Duration::ZERO))
        });
        contexts.push(sim.request(1, "POST", "/sync", &[], Some(b"{}")).0);
        sim.advance(ms(200));
    }
    sim.advance(ms(2000));
    let fetches = sim.calls_to(CREDS).len();
    assert!((2..=4).contains(&fetches), "{fetches} fetches in 4 s");
    assert!(sim.calls_to(LAMBDA).is_empty(), "expired keys never sign");
    for context in contexts {
        assert_eq!(
            answered(&sim, context),
            (503, "credentials_unavailable".into())
        );
    }
    // The source's failure is logged once per attempt, by the VM that made it.
    let answered_fetches = sim.calls_to(CREDS).iter().filter(|c| c.answered).count();
    assert_eq!(sim.logs_containing("failed, next in"), answered_fetches);
}

#[test]
fn keys_expiring_within_refresh_before_are_used_and_asked_for_again_with_backoff() {
    let mut sim = Sim::new(&container_config("5m"), 1);
    for _ in 0..40 {
        let now = sim.now();
        sim.serve(|c| {
            (c.cluster == CREDS).then(|| container_keys("SHORT", now, Duration::from_secs(120)))
        });
        sim.advance(ms(100));
    }
    let fetches = sim.calls_to(CREDS).len();
    assert!((2..=4).contains(&fetches), "{fetches} fetches in 4 s");
    let (context, _) = sim.request(0, "POST", "/sync", &[], Some(b"{}"));
    sim.serve(|c| (c.cluster == LAMBDA).then(|| ok("{}")));
    assert_eq!(answered(&sim, context).0, 200, "usable keys sign");
}

#[test]
fn keys_a_header_cannot_carry_are_a_credentials_failure() {
    let mut sim = Sim::new(&container_config("5m"), 1);
    let (context, _) = sim.request(0, "POST", "/sync", &[], Some(b"{}"));
    sim.advance(ms(10));
    let now = sim.now();
    sim.serve(|c| {
        (c.cluster == CREDS).then(|| container_keys("AK\r\nID", now, Duration::from_secs(3600)))
    });
    assert_eq!(
        answered(&sim, context),
        (503, "credentials_unavailable".into())
    );
    assert_eq!(sim.metric("lambda_wasm.credential_failures"), 1);
    assert!(sim.calls_to(LAMBDA).is_empty());
    let logs = format!("{:?}", sim.world.borrow().logs);
    assert!(
        logs.contains("access key id") && !logs.contains("secret-of-"),
        "{logs}"
    );
}

#[test]
fn requests_without_keys_wait_for_the_fetch_within_their_timeout() {
    let mut sim = Sim::new(&container_config("5m"), 1);
    let (early, _) = sim.request(0, "POST", "/sync", &[], Some(b"{}"));
    sim.advance(ms(800));
    assert!(sim.answer(early).is_none(), "waits");
    let now = sim.now();
    sim.serve(|c| {
        (c.cluster == CREDS).then(|| container_keys("K", now, Duration::from_secs(3600)))
    });
    sim.serve(|c| (c.cluster == LAMBDA).then(|| ok("{}")));
    assert_eq!(answered(&sim, early).0, 200);

    // A source that never answers: the request gives up at its timeout, never sends unsigned.
    let mut sim = Sim::new(&container_config("5m"), 1);
    let (late, _) = sim.request(0, "POST", "/sync", &[], Some(b"{}"));
    sim.advance(ms(2100));
    assert_eq!(
        answered(&sim, late),
        (503, "credentials_unavailable".into())
    );
    let (_, at) = sim.answer(late).unwrap_or_else(|| unreachable!());
    assert!(at <= super::sim::t0() + ms(2010));
    assert!(sim.calls_to(LAMBDA).is_empty());
}

#[test]
fn rejected_keys_are_dropped_for_every_vm_and_fetched_again_once() {
    let mut sim = fetched(2, "5m", Duration::from_secs(3600));
    sim.advance(Duration::from_secs(60));
    let (context, _) = sim.request(1, "POST", "/sync", &[], Some(b"{}"));
    let expired = Reply {
        status: Some(403),
        headers: vec![
            (":status".into(), "403".into()),
            ("x-amzn-requestid".into(), "r".into()),
            ("x-amzn-errortype".into(), "ExpiredTokenException".into()),
        ],
        body: b"{\"message\":\"expired\"}".to_vec(),
    };
    sim.serve(|c| (c.cluster == LAMBDA).then(|| expired.clone()));
    sim.advance(ms(5));
    let now = sim.now();
    sim.serve(|c| {
        (c.cluster == CREDS).then(|| container_keys("K2", now, Duration::from_secs(3600)))
    });
    let retry = sim
        .open_calls()
        .into_iter()
        .find(|c| c.cluster == LAMBDA)
        .expect("retried");
    assert!(retry
        .header("authorization")
        .is_some_and(|a| a.contains("K2/")));
    sim.reply(retry.token, ok("{}"));
    assert_eq!(answered(&sim, context).0, 200);
    // The other VM takes K2 from shared data on its next tick.
    sim.advance(ms(1000));
    let (other, _) = sim.request(0, "POST", "/sync", &[], Some(b"{}"));
    let call = sim
        .open_calls()
        .into_iter()
        .find(|c| c.cluster == LAMBDA)
        .expect("sent");
    assert!(call
        .header("authorization")
        .is_some_and(|a| a.contains("K2/")));
    sim.reply(call.token, ok("{}"));
    assert_eq!(answered(&sim, other).0, 200);
    assert_eq!(sim.calls_to(CREDS).len(), 2);
}

#[test]
fn load_time_messages_are_logged_once_per_envoy() {
    let mut config = static_config();
    config["endpoints"][0]["concurrent_calls"] = json!(3);
    let sim = Sim::new(&config, 4);
    assert_eq!(sim.logs_containing("concurrent_calls"), 1);
    assert_eq!(sim.logs_containing("configured 5 Lambda endpoint(s)"), 1);
}

#[test]
fn shared_credentials_are_keyed_by_the_secret_too_without_showing_it() {
    let config = |secret: &str| {
        let v = json!({
            "credentials": {"access_key_id": "AKID", "secret_access_key": secret,
                            "assume_role": {"role_arn": "arn:aws:iam::123456789012:role/r"}},
            "endpoints": []
        });
        crate::config::parse(&serde_json::to_vec(&v).unwrap_or_default(), &|_| None)
            .map(|c| c.credentials().cloned())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let key = |secret: &str| keyring::shared_key_for(config(secret).as_ref());
    assert_eq!(key("secret-one"), key("secret-one"));
    assert_ne!(key("secret-one"), key("secret-two"));
    assert!(!key("secret-one").contains("secret"));
}

/// Random scenarios: requests, faults, credential sources that fail or lie, time passing, clients
/// leaving, several VMs. Whatever happens, every request is answered exactly once, nothing is
/// sent unsigned, and an `Event` is sent again only after a failure that cannot have reached AWS.
#[test]
fn property_every_request_is_answered_once_whatever_the_faults() {
    let mut g = crate::testkit::Gen::new(2026);
    for scenario in 0..300 {
        let config = if g.chance(0.5) {
            static_config()
        } else {
            container_config(if g.chance(0.5) { "5m" } else { "30s" })
        };
        let vms = 1 + g.below(3);
        let mut sim = Sim::new(&config, vms);
        let mut open: Vec<u32> = Vec::new();
        let mut gone: Vec<u32> = Vec::new();
        let mut event_calls_after_a_possible_accept = 0;
        let mut event_accepted_maybe = false;
        let mut event_requested = false;
        for _ in 0..25 {
            match g.below(5) {
                0 | 1 => {
                    let (method, path) = *g.pick(&[
                        ("GET", "/call-a-lambda/echo"),
                        ("GET", "/call-a-lambda/%FF"),
                        ("GET", "/users/1/other"),
                        ("POST", "/event"),
                        ("POST", "/sync"),
                        ("GET", "/short"),
                        ("GET", "/call-a-lambda/echo/"),
                        ("GET", "/elsewhere"),
                    ]);
                    // One Event request per scenario, so its attempts can be told apart.
                    if path == "/event" && std::mem::replace(&mut event_requested, true) {
                        continue;
                    }
                    let body = (method == "POST").then_some(&b"{}"[..]);
                    let (context, flow) = sim.request(g.below(vms), method, path, &[], body);
                    if flow == Flow::Pause {
                        open.push(context);
                    }
                }
                2 => sim.advance(ms(g.below(2500) as u64)),
                3 => {
                    let now = sim.now();
                    let pick = g.below(9);
                    let mut replies = Vec::new();
                    for call in sim.open_calls() {
                        let late = call.at + call.timeout <= now;
                        let reply = match (call.cluster.as_str(), pick) {
                            (_, _) if late => no_headers(),
                            (CREDS, 0) => status(500),
                            (CREDS, 1) => {
                                container_keys("OLD", now - Duration::from_secs(90), Duration::ZERO)
                            }
                            (CREDS, 2) => container_keys("B\nAD", now, Duration::from_secs(600)),
                            (CREDS, _) => {
                                container_keys("K", now, Duration::from_secs(60 + 60 * pick as u64))
                            }
                            (_, 0) => envoy_reset("remote connection failure"),
                            (_, 1) => envoy_reset("connection termination"),
                            (_, 2) => no_headers(),
                            (_, 3) => status(429),
                            (_, _) => ok("{}"),
                        };
                        if call
                            .header(":path")
                            .is_some_and(|p| p.contains("/functions/ev/"))
                        {
                            if event_accepted_maybe {
                                event_calls_after_a_possible_accept += 1;
                            }
                            let unreachable = matches!(
                                crate::response::classify(&reply.as_lambda()),
                                crate::response::Outcome::Unreachable
                            ) || (reply.status == Some(429));
                            event_accepted_maybe |= !unreachable;
                        }
                        replies.push((call.token, reply));
                    }
                    for (token, reply) in replies {
                        sim.reply(token, reply);
                    }
                }
                _ => {
                    if let Some(&context) = open.get(g.below(open.len().max(1))) {
                        if g.chance(0.3) {
                            for vm in 0..vms {
                                sim.done(vm, context);
                            }
                            gone.push(context);
                        }
                    }
                }
            }
        }
        // Let everything finish: Envoy's timers end what is still open.
        for _ in 0..5 {
            sim.advance(ms(2500));
            let calls = sim.open_calls();
            for call in calls {
                sim.reply(call.token, no_headers());
            }
        }
        for context in open.iter().filter(|c| !gone.contains(c)) {
            assert!(
                sim.answer(*context).is_some(),
                "scenario {scenario}: {context} never answered"
            );
        }
        assert!(
            sim.calls_to(LAMBDA)
                .iter()
                .all(|c| c.header("authorization").is_some()),
            "scenario {scenario}: unsigned"
        );
        assert_eq!(
            event_calls_after_a_possible_accept, 0,
            "scenario {scenario}"
        );
    }
}

#[test]
fn a_callout_envoy_refuses_is_a_500_naming_no_secret() {
    let mut sim = Sim::new(&static_config(), 1);
    sim.world
        .borrow_mut()
        .unknown_clusters
        .push(LAMBDA.to_string());
    let (context, _) = sim.request(0, "POST", "/sync", &[], Some(b"{}"));
    assert_eq!(answered(&sim, context), (500, "callout_failed".into()));
    assert_eq!(sim.logs_containing("is the cluster defined?"), 1);
    assert_eq!(sim.logs_containing("SECRET"), 0);
}

#[test]
fn in_place_answers_are_classified_like_callouts() {
    let config = json!({"endpoints": [endpoint("/in", "POST", "2s",
        json!({"function_name": "f", "mode": "in_place", "cluster": "signed"}))]});
    for (reason, status, error) in [
        ("connection termination", 502, "lambda_connection_reset"),
        ("remote connection failure", 503, "lambda_unreachable"),
    ] {
        let mut sim = Sim::new(&config, 1);
        let (context, flow) = sim.request(0, "POST", "/in", &[("content-length", "2")], None);
        assert_eq!(
            flow,
            Flow::Continue,
            "the request itself goes on, rewritten"
        );
        {
            let world = sim.world.borrow();
            let stream = &world.streams[&context];
            let path = stream.request_headers.iter().find(|(k, _)| k == ":path");
            assert_eq!(
                path.map(|(_, v)| v.as_str()),
                Some("/2015-03-31/functions/f/invocations")
            );
            assert_eq!(stream.filter_state[0].1, b"signed");
        }
        let reply = envoy_reset(reason);
        {
            let mut world = sim.world.borrow_mut();
            world.current = context;
            let stream = world.streams.entry(context).or_default();
            stream.response_headers = reply.headers.clone();
            stream.response_body = reply.body.clone();
        }
        assert_eq!(sim.vms[0].on_response_headers(context, false), Flow::Pause);
        assert_eq!(
            sim.vms[0].on_response_body(context, reply.body.len(), true),
            Flow::Pause
        );
        assert_eq!(
            answered(&sim, context),
            (status, error.to_string()),
            "{reason}"
        );
    }
}

fn aggregated_config() -> Value {
    let lambda = |function: &str| json!({"function_name": function, "region": "us-east-1"});
    json!({"credentials": {"access_key_id": "AKID", "secret_access_key": "SECRET"},
    "endpoints": [{"endpoint": "/agg", "method": "POST", "timeout": "2s", "backend": [
        {"host": ["x"], "url_pattern": "/x", "group": "a", "extra_config": {"backend/lambda": lambda("a")}},
        {"host": ["x"], "url_pattern": "/x", "group": "b", "extra_config": {"backend/lambda": lambda("b")}},
        {"host": ["x"], "url_pattern": "/x", "extra_config": {"backend/lambda": lambda("s"),
                                                              "proxy": {"shadow": true}}}
    ]}]})
}

fn to(function: &str) -> impl Fn(&super::sim::Call) -> bool + '_ {
    move |c| {
        c.header(":path")
            .is_some_and(|p| p.contains(&format!("/functions/{function}/")))
    }
}

#[test]
fn aggregated_backends_are_invoked_at_once_and_merged() {
    let mut sim = Sim::new(&aggregated_config(), 1);
    let (context, _) = sim.request(0, "POST", "/agg", &[], Some(b"{\"x\":1}"));
    let calls = sim.open_calls();
    assert_eq!(
        calls.len(),
        3,
        "every backend, the shadow too, before any answer"
    );
    assert!(
        calls.iter().all(|c| c.body == b"{\"x\":1}"),
        "the body goes to each"
    );
    sim.serve(|c| to("b")(c).then(|| ok("{\"y\":2}")));
    assert!(sim.answer(context).is_none());
    sim.serve(|c| to("a")(c).then(|| ok("{\"x\":1}")));
    let (response, _) = sim.answer(context).expect("answered without the shadow");
    assert_eq!(response.body, br#"{"a":{"x":1},"b":{"y":2}}"#.to_vec());
    assert_eq!(response.header("x-krakend-completed"), Some("true"));
    // The shadow's answer, when it comes, changes nothing.
    sim.serve(|_| Some(status(500)));
    assert_eq!(sim.world.borrow().streams[&context].answers.len(), 1);
}

#[test]
fn with_one_answering_backend_and_a_shadow_failures_are_logged_as_the_answer() {
    let lambda = |function: &str| json!({"function_name": function, "region": "us-east-1"});
    let config = json!({"credentials": {"access_key_id": "AKID", "secret_access_key": "SECRET"},
    "endpoints": [{"endpoint": "/s", "method": "GET", "timeout": "2s", "backend": [
        {"host": ["x"], "url_pattern": "/x", "extra_config": {"backend/lambda": lambda("main")}},
        {"host": ["x"], "url_pattern": "/x", "extra_config": {"backend/lambda": lambda("sh"),
                                                              "proxy": {"shadow": true}}}
    ]}]});
    let mut sim = Sim::new(&config, 1);
    let (context, _) = sim.request(0, "GET", "/s", &[], None);
    sim.serve(|c| to("sh")(c).then(|| status(500)));
    sim.serve(|c| to("main")(c).then(|| status(404)));
    assert_eq!(sim.answer(context).map(|(r, _)| r.status), Some(404));
    assert_eq!(sim.logs_containing("function main answered 404: "), 1);
    assert_eq!(
        sim.logs_containing("function sh: shadow backend failed (500, not answered): "),
        1
    );
    assert_eq!(sim.logs_containing("backend failed (4"), 0);
}

/// Lambda's answer for a function that threw: 200, `X-Amz-Function-Error`, the error object.
fn function_error(body: &str) -> Reply {
    let mut reply = ok(body);
    reply
        .headers
        .push(("x-amz-function-error".to_string(), "Unhandled".to_string()));
    reply
}

#[test]
fn with_errors_krakend_a_function_error_is_merged_as_data() {
    // KrakenD's Lambda backend never reads X-Amz-Function-Error: the error object is the
    // backend's data, grouped, manipulated and merged as any other.
    let lambda = |function: &str| json!({"function_name": function, "region": "us-east-1", "errors": "krakend"});
    let config = json!({"credentials": {"access_key_id": "AKID", "secret_access_key": "SECRET"},
    "endpoints": [
        {"endpoint": "/two", "method": "GET", "timeout": "2s", "backend": [
            {"host": ["x"], "url_pattern": "/x", "group": "a", "extra_config": {"backend/lambda": lambda("a")}},
            {"host": ["x"], "url_pattern": "/x", "group": "b", "extra_config": {"backend/lambda": lambda("b")}}]},
        {"endpoint": "/aws", "method": "GET", "timeout": "2s", "backend": [
            {"host": ["x"], "url_pattern": "/x", "group": "a", "extra_config": {"backend/lambda":
                {"function_name": "a", "region": "us-east-1",
                 "errors": {"aws_error_types": {"ResourceConflictException": 200}}}}},
            {"host": ["x"], "url_pattern": "/x", "group": "b", "extra_config": {"backend/lambda": lambda("b")}}]},
        {"endpoint": "/one", "method": "GET", "timeout": "2s", "backend": [
            {"host": ["x"], "url_pattern": "/x", "group": "g", "deny": ["stackTrace"],
             "extra_config": {"backend/lambda": lambda("a")}}]}]});
    let mut sim = Sim::new(&config, 1);
    let thrown = r#"{"errorMessage":"boom","errorType":"E","stackTrace":[]}"#;
    let (context, _) = sim.request(0, "GET", "/two", &[], None);
    sim.serve(|c| to("a")(c).then(|| function_error(thrown)));
    sim.serve(|c| to("b")(c).then(|| ok("{\"y\":2}")));
    let (response, _) = sim.answer(context).expect("answered");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.body,
        br#"{"a":{"errorMessage":"boom","errorType":"E","stackTrace":[]},"b":{"y":2}}"#.to_vec()
    );
    assert_eq!(response.header("x-krakend-completed"), Some("true"));
    assert_eq!(
        sim.logs_containing(
            "function a: merged as data (200 by its error policy): function error (Unhandled)"
        ),
        1
    );

    // Only a function error is data: an AWS error its policy answers with a 2xx is left out.
    let (context, _) = sim.request(0, "GET", "/aws", &[], None);
    sim.serve(|c| {
        to("a")(c).then(|| {
            let mut reply = status(409);
            reply.headers.push((
                "x-amzn-errortype".into(),
                "ResourceConflictException".into(),
            ));
            reply
        })
    });
    sim.serve(|c| to("b")(c).then(|| ok("{\"y\":2}")));
    let (response, _) = sim.answer(context).expect("answered");
    assert_eq!(response.body, br#"{"b":{"y":2}}"#.to_vec());
    assert_eq!(response.header("x-krakend-completed"), Some("false"));
    assert_eq!(
        sim.logs_containing("function a: backend failed (200 by its error policy)"),
        1
    );
    assert_eq!(
        sim.logs_containing("merged as data"),
        1,
        "the function error's line only"
    );

    let (context, _) = sim.request(0, "GET", "/one", &[], None);
    sim.serve(|_| Some(function_error(thrown)));
    let (response, _) = sim.answer(context).expect("answered");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.body,
        br#"{"g":{"errorMessage":"boom","errorType":"E"}}"#.to_vec()
    );
    assert_eq!(response.header("x-amz-function-error"), None);
}

#[test]
fn a_backend_late_past_the_merge_deadline_makes_a_partial_answer() {
    let mut sim = Sim::new(&aggregated_config(), 1);
    let (context, _) = sim.request(0, "POST", "/agg", &[], Some(b"{}"));
    let slow = sim
        .open_calls()
        .into_iter()
        .find(|c| to("b")(c))
        .expect("b sent");
    assert_eq!(slow.timeout, ms(1700), "85% of the endpoint timeout");
    sim.serve(|c| to("a")(c).then(|| ok("{\"x\":1}")));
    sim.advance(ms(1700));
    sim.reply(slow.token, no_headers());
    let (response, at) = sim.answer(context).expect("answered");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, br#"{"a":{"x":1}}"#.to_vec());
    assert_eq!(response.header("x-krakend-completed"), Some("false"));
    assert_eq!(at, super::sim::t0() + ms(1700));
    assert_eq!(sim.metric("lambda_wasm.timeouts.function.b"), 1);
    assert_eq!(sim.logs_containing("function b: backend failed (504"), 1);
}

#[test]
fn when_every_backend_fails_the_first_ones_error_answers() {
    let mut sim = Sim::new(&aggregated_config(), 1);
    let (context, _) = sim.request(0, "POST", "/agg", &[], Some(b"{}"));
    sim.serve(|c| to("b")(c).then(|| envoy_reset("connection termination")));
    sim.serve(|c| to("a")(c).then(|| envoy_reset("remote connection failure")));
    assert_eq!(answered(&sim, context), (503, "lambda_unreachable".into()));
}

#[test]
fn envoy_signed_callouts_leave_the_vm_unsigned_and_are_not_retried_on_rejected_keys() {
    let config = json!({"endpoints": [endpoint("/e", "POST", "2s",
        json!({"function_name": "f", "signing": "envoy", "cluster": "lambda_signed"}))]});
    let mut sim = Sim::new(&config, 1);
    assert_eq!(sim.logs_containing("no AWS credentials"), 0, "none needed");
    let (context, _) = sim.request(
        0,
        "POST",
        "/e",
        &[("traceparent", "00-a-b-01")],
        Some(b"{\"a\":1}"),
    );
    let call = sim.open_calls().remove(0);
    assert_eq!(call.cluster, "lambda_signed");
    assert!(call.header("authorization").is_none() && call.header("x-amz-date").is_none());
    assert_eq!(
        call.header(":path"),
        Some("/2015-03-31/functions/f/invocations")
    );
    assert_eq!(call.header("traceparent"), Some("00-a-b-01"));
    assert_eq!(call.body, b"{\"a\":1}");
    let rejected = Reply {
        status: Some(403),
        headers: vec![
            (":status".into(), "403".into()),
            ("x-amzn-requestid".into(), "r".into()),
            (
                "x-amzn-errortype".into(),
                "InvalidSignatureException".into(),
            ),
        ],
        body: b"{\"message\":\"Credential should be scoped to a valid region\"}".to_vec(),
    };
    sim.reply(call.token, rejected);
    assert_eq!(
        answered(&sim, context),
        (502, "lambda_access_denied".into())
    );
    assert_eq!(
        sim.calls_to("lambda_signed").len(),
        1,
        "Envoy's signer refreshes, not the filter"
    );
    assert_eq!(
        sim.logs_containing("its service_name must be lambda, its region us-east-1"),
        1
    );
}

#[test]
fn a_backend_with_its_own_credentials_has_its_own_keyring() {
    let own = json!({"chain": ["container"], "container": {"uri": "http://169.254.170.23/other", "cluster": "creds2"}});
    let config = json!({"credentials": {"access_key_id": "TOP", "secret_access_key": "S"},
        "endpoints": [endpoint("/top", "POST", "2s", json!({"function_name": "t"})),
                      endpoint("/own", "POST", "2s", json!({"function_name": "o", "credentials": own}))]});
    let mut sim = Sim::new(&config, 2);
    let (top, _) = sim.request(0, "POST", "/top", &[], Some(b"{}"));
    let (own_request, _) = sim.request(1, "POST", "/own", &[], Some(b"{}"));
    let sent = sim.calls_to(LAMBDA);
    assert_eq!(
        sent.len(),
        1,
        "the top-level keys sign at once; the backend's wait for its fetch"
    );
    assert!(sent[0]
        .header("authorization")
        .is_some_and(|a| a.contains("TOP/")));
    sim.advance(ms(10));
    let now = sim.now();
    sim.serve(|c| {
        (c.cluster == "creds2").then(|| container_keys("OWN", now, Duration::from_secs(3600)))
    });
    sim.serve(|c| (c.cluster == LAMBDA).then(|| ok("{}")));
    assert_eq!(answered(&sim, top).0, 200);
    assert_eq!(answered(&sim, own_request).0, 200);
    let own_call = sim
        .calls_to(LAMBDA)
        .into_iter()
        .find(to("o"))
        .expect("sent");
    assert!(own_call
        .header("authorization")
        .is_some_and(|a| a.contains("OWN/")));
    // Shared with the other VM like the top-level credentials: no second fetch.
    let (again, _) = sim.request(0, "POST", "/own", &[], Some(b"{}"));
    sim.serve(|c| (c.cluster == LAMBDA).then(|| ok("{}")));
    assert_eq!(answered(&sim, again).0, 200);
    assert_eq!(sim.calls_to("creds2").len(), 1);
}

/// An event-stream frame of Lambda's.
fn frame(event: &str, payload: &[u8]) -> Vec<u8> {
    crate::eventstream::lambda_frame(
        &[(":message-type", "event"), (":event-type", event)],
        payload,
    )
}

#[test]
fn in_place_streams_are_decoded_chunk_by_chunk_and_reset_on_a_late_error() {
    let config = json!({"endpoints": [endpoint("/s", "POST", "2s",
        json!({"function_name": "f", "mode": "in_place", "cluster": "signed", "response_stream": true}))]});
    for late_error in [false, true] {
        let mut sim = Sim::new(&config, 1);
        let (context, _) = sim.request(0, "POST", "/s", &[("content-length", "2")], None);
        {
            let world = sim.world.borrow();
            let path = world.streams[&context]
                .request_headers
                .iter()
                .find(|(k, _)| k == ":path")
                .map(|(_, v)| v.clone());
            assert_eq!(
                path.as_deref(),
                Some("/2021-11-15/functions/f/response-streaming-invocations")
            );
        }
        let set = |sim: &Sim, headers: Vec<(String, String)>, body: Vec<u8>| {
            let mut world = sim.world.borrow_mut();
            world.current = context;
            let stream = world.streams.entry(context).or_default();
            if !headers.is_empty() {
                stream.response_headers = headers;
            }
            stream.response_body.extend(body);
        };
        set(
            &sim,
            vec![
                (":status".into(), "200".into()),
                ("x-amzn-requestid".into(), "r".into()),
                ("content-type".into(), "text/plain".into()),
            ],
            vec![],
        );
        assert_eq!(
            sim.vms[0].on_response_headers(context, false),
            Flow::Pause,
            "held for the first bytes"
        );
        let first = frame("PayloadChunk", b"hello ");
        // Half a frame: nothing to send yet, Envoy keeps it.
        set(&sim, vec![], first[..10].to_vec());
        assert_eq!(sim.vms[0].on_response_body(context, 10, false), Flow::Pause);
        set(&sim, vec![], first[10..].to_vec());
        assert_eq!(
            sim.vms[0].on_response_body(context, first.len(), false),
            Flow::Continue
        );
        let end = if late_error {
            frame("InvokeComplete", br#"{"ErrorCode":"Unhandled"}"#)
        } else {
            [
                frame("PayloadChunk", b"world"),
                frame("InvokeComplete", b"{}"),
            ]
            .concat()
        };
        set(&sim, vec![], end.clone());
        sim.vms[0].on_response_body(context, end.len(), true);
        let world = sim.world.borrow();
        let stream = &world.streams[&context];
        assert!(
            stream.answers.is_empty(),
            "never a local reply after bytes were sent"
        );
        if late_error {
            assert_eq!(stream.sent_body, b"hello ".to_vec());
            assert!(stream.reset);
        } else {
            assert_eq!(stream.sent_body, b"hello world".to_vec());
            assert!(!stream.reset);
            assert!(stream
                .response_headers
                .contains(&("content-type".into(), "text/plain".into())));
        }
    }
}

#[test]
fn an_early_in_place_answer_lets_the_rest_of_the_upload_go_on() {
    let config = json!({"endpoints": [endpoint("/up", "POST", "2s",
        json!({"function_name": "f", "mode": "in_place", "cluster": "signed"}))]});
    let mut sim = Sim::new(&config, 1);
    let context = 9;
    {
        let mut world = sim.world.borrow_mut();
        world.current = context;
        let stream = world.streams.entry(context).or_default();
        stream.request_headers = vec![
            (":method".into(), "POST".into()),
            (":path".into(), "/up".into()),
        ];
        stream.response_headers = ok("{}").headers;
    }
    assert_eq!(
        sim.vms[0].on_request_headers(context, false),
        Flow::Continue
    );
    assert_eq!(
        sim.vms[0].on_request_body(context, 10, false),
        Flow::Continue
    );
    // Lambda answers before the upload ends: the answer and the upload both go on.
    assert_eq!(
        sim.vms[0].on_response_headers(context, false),
        Flow::Continue
    );
    assert_eq!(
        sim.vms[0].on_request_body(context, 10, true),
        Flow::Continue
    );
    assert_eq!(
        sim.vms[0].on_response_body(context, 2, true),
        Flow::Continue
    );
    assert!(sim.answer(context).is_none());
}

/// The host calls `run` makes the second time, once metric ids are defined and caches filled,
/// and what that run returned.
fn warm_host_calls<T>(sim: &mut Sim, run: impl Fn(&mut Sim) -> T) -> (Vec<&'static str>, T) {
    run(sim);
    sim.world.borrow_mut().host_calls.clear();
    let out = run(sim);
    let calls = sim.world.borrow().host_calls.clone();
    (calls, out)
}

#[test]
fn a_get_costs_few_host_calls() {
    // The hot path's calls into Envoy, each a crossing out of the VM: a KrakenD GET with static
    // keys, from the request's headers to the client's answer. Metrics are defined once, then
    // only added to; the clock is read once per callback.
    let mut sim = Sim::new(&static_config(), 1);
    let (calls, context) = warm_host_calls(&mut sim, |sim| {
        let (context, _) = sim.request(0, "GET", "/call-a-lambda/echo", &[], None);
        let token = sim.open_calls()[0].token;
        sim.reply(token, ok("{}"));
        context
    });
    assert_eq!(answered(&sim, context).0, 200);
    // The request's headers (method and path among them); the clock at arrival; the callout;
    // two metrics (invocations, request bytes); the answer; the clock; two histograms (latency,
    // response bytes); the client's answer. Measured in Envoy (BENCHMARKS.md, the rungs M and M2),
    // a crossing costs about half a µs of a GET's ~65: worth keeping few, not worth the metrics.
    let expected = [
        "request_headers",
        "now",
        "dispatch",
        "add_metric",
        "add_metric",
        "callout_reply",
        "now",
        "add_metric",
        "add_metric",
        "respond",
    ];
    assert_eq!(calls, expected);
}

#[test]
fn an_in_place_post_costs_few_host_calls() {
    // In place, as for a GET: each host call is a crossing out of the VM and back.
    let config = json!({"endpoints": [endpoint("/in", "POST", "2s",
        json!({"function_name": "f", "mode": "in_place", "cluster": "signed"}))]});
    let mut sim = Sim::new(&config, 1);
    let (calls, ()) = warm_host_calls(&mut sim, |sim| {
        let body = Some(b"{}".as_slice());
        let (context, flow) = sim.request(0, "POST", "/in", &[("content-length", "2")], body);
        assert_eq!(flow, Flow::Continue, "the request goes on, rewritten");
        let reply = ok("{\"ok\":true}");
        {
            let mut world = sim.world.borrow_mut();
            world.current = context;
            let stream = world.streams.entry(context).or_default();
            stream.response_headers = reply.headers.clone();
            stream.response_body = reply.body.clone();
        }
        assert_eq!(sim.vms[0].on_request_body(context, 2, true), Flow::Continue);
        sim.vms[0].on_response_headers(context, false);
        sim.vms[0].on_response_body(context, reply.body.len(), true);
    });
    // The request's headers; the clock, once; the rewrite and the route mark; at the body's end
    // two metrics; the answer's headers; the clock; two histograms; the mapped headers.
    let expected = [
        "request_headers",
        "now",
        "set_request_headers",
        "set_filter_state",
        "add_metric",
        "add_metric",
        "response_headers",
        "now",
        "add_metric",
        "add_metric",
        "set_response_headers",
    ];
    assert_eq!(calls, expected);
}
