use super::*;
use crate::config::{self, MAX_EVENT_PAYLOAD, MAX_SYNC_PAYLOAD};
use crate::route::{self, Match};
use crate::sign::KeyCache;
use serde_json::json;

fn endpoints(list: serde_json::Value) -> Vec<Rc<Endpoint>> {
    let v = json!({
        "credentials": {"access_key_id": "AKID", "secret_access_key": "SECRET", "session_token": "TOKEN"},
        "endpoints": list
    });
    config::parse(&serde_json::to_vec(&v).unwrap(), &|_| None)
        .unwrap()
        .endpoints
}

fn ep(path: &str, method: &str, lambda: serde_json::Value) -> serde_json::Value {
    let mut block = json!({"region": "us-east-1"});
    block
        .as_object_mut()
        .unwrap()
        .extend(lambda.as_object().unwrap().clone());
    json!({"endpoint": path, "method": method, "timeout": "3s",
           "backend": [{"host": ["x"], "url_pattern": "/x", "extra_config": {"backend/lambda": block}}]})
}

fn creds() -> Credentials {
    Credentials {
        access_key_id: "AKID".into(),
        secret_access_key: "SECRET".into(),
        session_token: Some("TOKEN".into()),
    }
}

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// The endpoint with this path's shape and its captures (no redirects).
fn find(eps: &[Rc<Endpoint>], method: &str, path: &str) -> Option<(usize, route::Captures)> {
    match route::find(
        eps.iter().map(|e| (e.method.as_str(), &e.path)),
        method,
        path,
    )? {
        (i, Match::Exact(captures)) => Some((i, captures)),
        _ => None,
    }
}

/// Routes `method path` and reads the request as the shell does: the headers the endpoint wants.
fn routed(
    eps: &[Rc<Endpoint>],
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (usize, Request) {
    let (i, captures) = find(eps, method, path).expect("routed");
    let wanted: Vec<&str> = wanted_headers(&eps[i]).collect();
    let headers = headers
        .iter()
        .filter(|(n, _)| wanted.contains(n))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let request = Request {
        captures,
        headers,
        meta: None,
    };
    (i, request)
}

/// Routes `method path` with these request headers and starts the invocation.
fn start(
    eps: &[Rc<Endpoint>],
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Invocation, RequestError> {
    let (i, request) = routed(eps, method, path, headers);
    Invocation::new(&eps[i], &eps[i].primary, &request, body.to_vec(), t0(), 0.5)
}

/// One GET /f endpoint with this `backend/lambda` block, and an invocation of it started at t0.
fn single(lambda: serde_json::Value) -> (Vec<Rc<Endpoint>>, Invocation) {
    let eps = endpoints(json!([ep("/f", "GET", lambda)]));
    let inv = start(&eps, "GET", "/f", &[], b"").unwrap();
    (eps, inv)
}

fn header<'a>(c: &'a Callout, name: &str) -> Option<&'a str> {
    c.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn get_with_placeholders_builds_krakend_payload_and_encoded_path() {
    let eps = endpoints(json!([ep(
        "/u/{userId}/{lambda}",
        "GET",
        json!({"function_param_name": "Lambda", "endpoint": "http://127.0.0.1:4566"})
    )]));
    let inv = start(&eps, "GET", "/u/42/my-fn%3Av1?x=1", &[], b"ignored").unwrap();
    assert_eq!(inv.function.as_str(), "my-fn:v1");
    assert_eq!(inv.path, "/2015-03-31/functions/my-fn%3Av1/invocations");
    assert_eq!(
        inv.payload,
        b"{\"lambda\":\"my-fn:v1\",\"userid\":\"42\"}\n"
    );
    assert_eq!(inv.deadline, t0() + Duration::from_secs(3));

    let c = callout(
        &inv,
        &creds(),
        &mut KeyCache::default(),
        t0() + Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(c.timeout, Duration::from_secs(2));
    assert_eq!(header(&c, ":authority"), Some("127.0.0.1:4566"));
    assert_eq!(header(&c, ":method"), Some("POST"));
    assert_eq!(header(&c, "x-amz-invocation-type"), Some("RequestResponse"));
    assert_eq!(header(&c, "x-amz-security-token"), Some("TOKEN"));
    assert!(header(&c, "authorization")
        .unwrap()
        .contains("/us-east-1/lambda/aws4_request"));
    // Nothing but what the callout needs.
    let names: Vec<&str> = c.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            ":method",
            ":path",
            ":authority",
            "x-amz-invocation-type",
            "user-agent",
            "x-amz-date",
            "authorization",
            "x-amz-security-token"
        ]
    );
}

#[test]
fn post_sends_the_body_unchanged() {
    let eps = endpoints(json!([ep(
        "/p",
        "POST",
        json!({"function_name": "arn:aws:lambda:us-east-1:123456789012:function:f"})
    )]));
    assert!(needs_body(&eps[0]));
    let inv = start(&eps, "POST", "/p", &[], b"raw \x00 bytes").unwrap();
    assert_eq!(inv.payload, b"raw \x00 bytes");
    assert_eq!(
        inv.path,
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations"
    );
}

#[test]
fn invalid_name_from_the_request_is_a_400() {
    let eps = endpoints(json!([ep(
        "/f/{fn}",
        "GET",
        json!({"function_param_name": "Fn"})
    )]));
    let err = start(&eps, "GET", "/f/bad%20name", &[], b"").unwrap_err();
    let r = err.to_client();
    assert_eq!(r.status, 400);
    let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(j["error"], "invalid_function_name");
}

#[test]
fn routing_picks_method_and_most_specific_pattern() {
    let eps = endpoints(json!([
        ep("/users/{id}", "GET", json!({"function_name": "by-id"})),
        ep("/users/me", "GET", json!({"function_name": "me"})),
        ep("/users/{id}", "POST", json!({"function_name": "post"})),
    ]));
    let name = |m: &str, p: &str| {
        find(&eps, m, p).map(|(i, captures)| {
            let request = Request {
                captures,
                headers: vec![],
                meta: None,
            };
            target_for(&eps[i], &eps[i].primary.lambda, &request, 0.0)
                .unwrap()
                .0
                .to_string()
        })
    };
    assert_eq!(name("GET", "/users/me").as_deref(), Some("me"));
    assert_eq!(name("GET", "/users/7").as_deref(), Some("by-id"));
    assert_eq!(name("POST", "/users/me").as_deref(), Some("post"));
    assert_eq!(name("DELETE", "/users/me"), None);
    assert_eq!(name("GET", "/other"), None);
}

#[test]
fn qualifier_goes_in_the_query_unless_the_name_carries_it() {
    let (_, inv) = single(json!({"function_name": "f", "qualifier": "$LATEST"}));
    assert_eq!(
        inv.path,
        "/2015-03-31/functions/f/invocations?Qualifier=%24LATEST"
    );
    let (_, inv) = single(json!({"function_name": "f:live", "qualifier": "live"}));
    assert_eq!(inv.path, "/2015-03-31/functions/f%3Alive/invocations");

    let eps = endpoints(json!([ep(
        "/f/{fn}",
        "GET",
        json!({"function_param_name": "Fn", "qualifier": "live", "allowed_functions": ["f", "f:*"]})
    )]));
    assert_eq!(
        start(&eps, "GET", "/f/f%3Aother", &[], b"").unwrap_err(),
        RequestError::QualifierConflict("live".into(), "f:other".into())
    );
    assert!(start(&eps, "GET", "/f/f%3Alive", &[], b"").is_ok());
}

#[test]
fn function_and_qualifier_from_headers_are_validated_and_allow_listed() {
    let eps = endpoints(json!([ep(
        "/h",
        "GET",
        json!({
            "function_header_name": "X-Lambda-Function", "function_name": "fallback",
            "qualifier_header_name": "x-lambda-qualifier",
            "allowed_functions": ["orders-*", "users:blue", "users:green"]
        })
    )]));
    let names: Vec<&str> = wanted_headers(&eps[0]).collect();
    assert_eq!(
        names,
        [
            "x-lambda-function",
            "x-lambda-qualifier",
            "traceparent",
            "tracestate",
            "x-amzn-trace-id"
        ]
    );

    let inv = start(
        &eps,
        "GET",
        "/h",
        &[("x-lambda-function", "orders-v2")],
        b"",
    )
    .unwrap();
    assert_eq!(inv.path, "/2015-03-31/functions/orders-v2/invocations");
    // Absent header: the configured default, which the allow-list does not constrain.
    let inv = start(&eps, "GET", "/h", &[], b"").unwrap();
    assert_eq!(inv.function.as_str(), "fallback");
    let inv = start(
        &eps,
        "GET",
        "/h",
        &[
            ("x-lambda-function", "users"),
            ("x-lambda-qualifier", "blue"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(
        inv.path,
        "/2015-03-31/functions/users/invocations?Qualifier=blue"
    );

    let refused = |headers: &[(&str, &str)]| start(&eps, "GET", "/h", headers, b"").unwrap_err();
    assert_eq!(
        refused(&[("x-lambda-function", "billing")]),
        RequestError::NotAllowed("billing".into())
    );
    assert_eq!(
        refused(&[
            ("x-lambda-function", "users"),
            ("x-lambda-qualifier", "red")
        ]),
        RequestError::NotAllowed("users:red".into())
    );
    assert!(matches!(
        refused(&[("x-lambda-function", "bad name")]),
        RequestError::InvalidFunctionName(..)
    ));
    assert!(matches!(
        refused(&[
            ("x-lambda-function", "orders-1"),
            ("x-lambda-qualifier", "a:b")
        ]),
        RequestError::InvalidQualifier(..)
    ));
    assert_eq!(
        refused(&[("x-lambda-function", "billing")])
            .to_client()
            .status,
        404
    );

    let eps = endpoints(json!([ep(
        "/h",
        "GET",
        json!({"function_header_name": "x-fn"})
    )]));
    let err = start(&eps, "GET", "/h", &[], b"").unwrap_err();
    assert_eq!(err, RequestError::MissingFunctionHeader("x-fn".into()));
    assert_eq!(err.to_client().status, 400);
}

#[test]
fn weighted_targets_are_picked_per_request() {
    let eps = endpoints(json!([ep(
        "/c",
        "GET",
        json!({
            "functions": [{"name": "fn:3", "weight": 20}, {"name": "fn:2", "weight": 80}]
        })
    )]));
    let (i, captures) = find(&eps, "GET", "/c").unwrap();
    let request = Request {
        captures,
        headers: vec![],
        meta: None,
    };
    let pick = |r: f64| {
        Invocation::new(&eps[i], &eps[i].primary, &request, vec![], t0(), r)
            .unwrap()
            .path
    };
    assert_eq!(pick(0.1), "/2015-03-31/functions/fn%3A3/invocations");
    assert_eq!(pick(0.5), "/2015-03-31/functions/fn%3A2/invocations");
}

#[test]
fn invoke_options_become_signed_headers() {
    let (_eps, inv) = single(json!({"function_name": "f", "log_type": "Tail",
                                   "client_context": {"custom": {"tenant": "a"}}}));
    let c = callout(&inv, &creds(), &mut KeyCache::default(), t0()).unwrap();
    assert_eq!(header(&c, "x-amz-log-type"), Some("Tail"));
    assert_eq!(
        header(&c, "x-amz-client-context"),
        Some("eyJjdXN0b20iOnsidGVuYW50IjoiYSJ9fQ==")
    );
    let signed = header(&c, "authorization").unwrap();
    assert!(signed.contains("SignedHeaders=host;x-amz-client-context;x-amz-date;x-amz-invocation-type;x-amz-log-type;x-amz-security-token"), "{signed}");

    let (_eps, inv) = single(json!({"function_name": "f", "invocation_type": "Event"}));
    let c = callout(&inv, &creds(), &mut KeyCache::default(), t0()).unwrap();
    assert_eq!(header(&c, "x-amz-invocation-type"), Some("Event"));
}

#[test]
fn trace_headers_are_passed_on_unsigned_and_nothing_else() {
    let eps = endpoints(json!([ep("/f", "GET", json!({"function_name": "f"}))]));
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let inv = start(
        &eps,
        "GET",
        "/f",
        &[
            ("traceparent", traceparent),
            (
                "x-amzn-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793",
            ),
            ("tracestate", "bad\u{7f}value"),
        ],
        b"",
    )
    .unwrap();
    let c = callout(&inv, &creds(), &mut KeyCache::default(), t0()).unwrap();
    assert_eq!(header(&c, "traceparent"), Some(traceparent));
    assert!(header(&c, "x-amzn-trace-id").is_some());
    assert_eq!(
        header(&c, "tracestate"),
        None,
        "a control character drops the header"
    );
    assert!(!header(&c, "authorization").unwrap().contains("traceparent"));
}

#[test]
fn payload_limits_are_checked_before_invoking() {
    let eps = endpoints(json!([
        ep("/sync", "POST", json!({"function_name": "f"})),
        ep(
            "/event",
            "POST",
            json!({"function_name": "f", "invocation_type": "Event"})
        ),
    ]));
    assert!(start(&eps, "POST", "/sync", &[], &vec![b'x'; MAX_SYNC_PAYLOAD]).is_ok());
    let err = start(
        &eps,
        "POST",
        "/sync",
        &[],
        &vec![b'x'; MAX_SYNC_PAYLOAD + 1],
    )
    .unwrap_err();
    assert_eq!(err.to_client().status, 413);
    assert!(start(&eps, "POST", "/event", &[], &vec![b'x'; MAX_EVENT_PAYLOAD]).is_ok());
    assert_eq!(
        start(
            &eps,
            "POST",
            "/event",
            &[],
            &vec![b'x'; MAX_EVENT_PAYLOAD + 1]
        )
        .unwrap_err(),
        RequestError::PayloadTooLarge(MAX_EVENT_PAYLOAD + 1, "Event", MAX_EVENT_PAYLOAD)
    );
}

fn reply_step(
    inv: &mut Invocation,
    e: &Endpoint,
    status: Option<u16>,
    headers: &[(&str, &str)],
    now: SystemTime,
) -> Step {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let _ = e;
    after_reply(
        inv,
        &LambdaReply {
            status,
            headers: &headers,
            body: b"{\"message\":\"x\"}",
        },
        Signer {
            credentials: Some(&creds()),
            refreshable: true,
        },
        now,
        0.0,
    )
}

#[test]
fn retries_throttles_then_gives_up_with_the_last_error() {
    let (eps, mut inv) = single(json!({"function_name": "f", "max_retries": 2}));
    let throttle = [
        ("x-amzn-requestid", "r"),
        ("x-amzn-errortype", "TooManyRequestsException"),
    ];
    assert_eq!(
        reply_step(&mut inv, &eps[0], Some(429), &throttle, t0()),
        Step::RetryAfter(Duration::from_millis(250))
    );
    assert_eq!(
        reply_step(&mut inv, &eps[0], Some(429), &throttle, t0()),
        Step::RetryAfter(Duration::from_millis(500))
    );
    let Step::Respond {
        response, failure, ..
    } = reply_step(&mut inv, &eps[0], Some(429), &throttle, t0())
    else {
        panic!()
    };
    assert_eq!(response.status, 429);
    assert_eq!(
        failure.unwrap(),
        "Lambda API error 429 TooManyRequestsException request_id=r: x (after 2 retries)"
    );
}

#[test]
fn retry_after_is_honoured_and_relayed() {
    let (eps, mut inv) = single(json!({"function_name": "f", "max_retries": 1}));
    let throttle = [("x-amzn-requestid", "r"), ("retry-after", "2")];
    assert_eq!(
        reply_step(&mut inv, &eps[0], Some(429), &throttle, t0()),
        Step::RetryAfter(Duration::from_secs(2))
    );
    let Step::Respond { response, .. } = reply_step(&mut inv, &eps[0], Some(429), &throttle, t0())
    else {
        panic!()
    };
    assert_eq!(response.header("retry-after"), Some("2"));
    // A Retry-After beyond the deadline ends the retries at once.
    let (eps, mut inv) = single(json!({"function_name": "f", "max_retries": 3}));
    let late = [("x-amzn-requestid", "r"), ("retry-after", "5")];
    assert!(matches!(
        reply_step(&mut inv, &eps[0], Some(429), &late, t0()),
        Step::Respond { .. }
    ));
}

#[test]
fn event_invocations_retry_only_what_aws_surely_did_not_accept() {
    let (eps, mut inv) =
        single(json!({"function_name": "f", "invocation_type": "Event", "max_retries": 3}));
    let aws = [("x-amzn-requestid", "r")];
    assert!(matches!(
        reply_step(&mut inv, &eps[0], Some(500), &aws, t0()),
        Step::Respond { .. }
    ));
    assert!(matches!(
        reply_step(&mut inv, &eps[0], None, &[], t0()),
        Step::Respond { .. }
    ));
    assert!(matches!(
        reply_step(&mut inv, &eps[0], Some(429), &aws, t0()),
        Step::RetryAfter(_)
    ));
    // Connection refused: the event was never sent.
    let step = after_outcome(
        &mut inv,
        Outcome::Unreachable,
        Signer {
            credentials: Some(&creds()),
            refreshable: true,
        },
        t0(),
        0.0,
    );
    assert!(matches!(step, Step::RetryAfter(_)));
}

#[test]
fn no_retry_once_the_deadline_is_near() {
    let (eps, mut inv) = single(json!({"function_name": "f", "max_retries": 3}));
    let late = t0() + Duration::from_millis(2990);
    let Step::Respond { response, .. } = reply_step(&mut inv, &eps[0], Some(503), &[], late) else {
        panic!()
    };
    assert_eq!(response.status, 503);
    assert!(matches!(
        callout(
            &inv,
            &creds(),
            &mut KeyCache::default(),
            t0() + Duration::from_secs(4)
        ),
        Err(CalloutError::NoTimeLeft)
    ));
    assert_eq!(
        timed_out(&inv),
        Step::fail(response::timeout(), "timed out (after 0 retries)")
    );
}

#[test]
fn success_has_no_failure_line_and_carries_the_log_tail() {
    let (eps, mut inv) = single(json!({"function_name": "f"}));
    let tail = [("x-amz-log-result", "U1RBUlQgUmVxdWVzdElkOiAxMjM=")];
    let Step::Respond {
        response,
        failure,
        function_log,
    } = reply_step(&mut inv, &eps[0], Some(200), &tail, t0())
    else {
        panic!()
    };
    assert_eq!((response.status, failure), (200, None));
    assert_eq!(function_log.as_deref(), Some("START RequestId: 123"));
    assert!(response.header("x-amz-log-result").is_none());
    let Step::Respond { response, .. } = no_credentials("cause") else {
        panic!("an answer")
    };
    assert_eq!(response.status, 503);
}

#[test]
fn rejected_credentials_are_refreshed_once() {
    let (eps, mut inv) = single(json!({"function_name": "f", "max_retries": 2}));
    let expired = [
        ("x-amzn-requestid", "r"),
        ("x-amzn-errortype", "ExpiredTokenException"),
    ];
    assert_eq!(
        reply_step(&mut inv, &eps[0], Some(403), &expired, t0()),
        Step::RefreshCredentials
    );
    let Step::Respond {
        response, failure, ..
    } = reply_step(&mut inv, &eps[0], Some(403), &expired, t0())
    else {
        panic!("only one refresh");
    };
    assert_eq!(response.status, 502);
    assert!(failure.unwrap().contains("ExpiredTokenException"));
    // Static keys cannot be refreshed: the rejection is final at once.
    let (_eps, mut inv) = single(json!({"function_name": "f"}));
    let headers: Vec<(String, String)> = expired
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let reply = LambdaReply {
        status: Some(403),
        headers: &headers,
        body: b"{}",
    };
    let step = after_reply(
        &mut inv,
        &reply,
        Signer {
            credentials: Some(&creds()),
            refreshable: false,
        },
        t0(),
        0.0,
    );
    assert!(matches!(step, Step::Respond { .. }));
}

fn in_place_eps() -> Vec<Rc<Endpoint>> {
    endpoints(json!([
        ep(
            "/fn/{name}",
            "POST",
            json!({"function_param_name": "Name", "mode": "in_place",
            "qualifier_header_name": "x-qualifier", "log_type": "Tail",
            "endpoint": "http://127.0.0.1:9001/prefix"})
        ),
        ep(
            "/event",
            "POST",
            json!({"function_name": "f", "mode": "in_place", "invocation_type": "Event"})
        ),
        ep(
            "/apigw",
            "POST",
            json!({"function_name": "f", "mode": "in_place", "event_format": "raw",
            "response_format": "apigw"})
        ),
    ]))
}

fn rewrite_of(
    eps: &[Rc<Endpoint>],
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(Invocation, Vec<(String, String)>), RequestError> {
    let (i, request) = routed(eps, "POST", path, headers);
    rewrite(&eps[i], &request, t0(), 0.5)
}

#[test]
fn in_place_rewrite_replaces_every_header() {
    let eps = in_place_eps();
    let (invocation, headers) = rewrite_of(
        &eps,
        "/fn/my-fn",
        &[
            (":scheme", "https"),
            ("content-length", "12"),
            ("x-forwarded-proto", "https"),
            ("x-qualifier", "live"),
            ("traceparent", "00-abc-def-01"),
            ("authorization", "Bearer client-secret"),
            ("cookie", "s=1"),
        ],
    )
    .unwrap();
    let expected: Vec<(String, String)> = [
        (":method", "POST"),
        (
            ":path",
            "/prefix/2015-03-31/functions/my-fn/invocations?Qualifier=live",
        ),
        (":authority", "127.0.0.1:9001"),
        ("x-amz-invocation-type", "RequestResponse"),
        ("x-amz-log-type", "Tail"),
        ("user-agent", USER_AGENT),
        (":scheme", "https"),
        ("content-length", "12"),
        ("x-forwarded-proto", "https"),
        ("x-envoy-upstream-rq-timeout-ms", "3000"),
        ("traceparent", "00-abc-def-01"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(headers, expected);
    assert_eq!(invocation.function.as_str(), "my-fn");
    assert!(invocation.payload.is_empty());
    assert_eq!(invocation.deadline, t0() + Duration::from_secs(3));
}

#[test]
fn in_place_refuses_before_sending() {
    let eps = in_place_eps();
    assert!(matches!(
        rewrite_of(&eps, "/fn/bad%20name", &[]),
        Err(RequestError::InvalidFunctionName(..))
    ));
    let too_big = (MAX_EVENT_PAYLOAD + 1).to_string();
    assert!(matches!(
        rewrite_of(&eps, "/event", &[("content-length", &too_big)]),
        Err(RequestError::PayloadTooLarge(_, "Event", MAX_EVENT_PAYLOAD))
    ));
    assert!(check_size(&eps[1].primary.lambda, MAX_EVENT_PAYLOAD).is_ok());
    assert!(check_size(&eps[1].primary.lambda, MAX_EVENT_PAYLOAD + 1).is_err());
    assert!(check_size(&eps[0].primary.lambda, MAX_SYNC_PAYLOAD).is_ok());
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn in_place_success_streams_with_mapped_headers() {
    let eps = in_place_eps();
    let lambda = pairs(&[
        (":status", "200"),
        ("content-type", "application/json"),
        ("content-length", "11"),
        ("x-amzn-requestid", "req-1"),
        ("x-amz-executed-version", "7"),
        ("x-amzn-remapped-date", "now"),
    ]);
    let Passage::Stream {
        headers,
        outcome,
        length,
    } = in_place_passage(&eps[0], 200, &lambda)
    else {
        panic!("a success streams through");
    };
    assert_eq!(length, 11);
    assert_eq!(
        headers,
        pairs(&[
            (":status", "200"),
            ("content-type", "application/json"),
            ("x-amz-executed-version", "7"),
            ("x-amzn-requestid", "req-1"),
            ("content-length", "11"),
        ])
    );
    assert!(matches!(outcome, Outcome::Success { .. }));
    // An empty asynchronous answer: no content type.
    let accepted = pairs(&[
        (":status", "202"),
        ("content-length", "0"),
        ("x-amzn-requestid", "r"),
    ]);
    let Passage::Stream { headers, .. } = in_place_passage(&eps[1], 202, &accepted) else {
        panic!("202 streams");
    };
    assert_eq!(
        headers,
        pairs(&[
            (":status", "202"),
            ("x-amzn-requestid", "r"),
            ("content-length", "0")
        ])
    );
}

#[test]
fn in_place_answers_to_map_are_read_whole() {
    let eps = in_place_eps();
    let whole = |ep: &Endpoint, headers: &[(&str, &str)], status| {
        in_place_passage(ep, status, &pairs(headers)) == Passage::Whole
    };
    let function_error = [
        ("x-amzn-requestid", "r"),
        ("x-amz-function-error", "Unhandled"),
    ];
    assert!(whole(&eps[0], &function_error, 200));
    assert!(whole(&eps[0], &[("x-amzn-requestid", "r")], 429));
    // No Lambda request id: Envoy's own reply, or not Lambda at all.
    assert!(whole(&eps[0], &[("content-type", "text/plain")], 200));
    // API Gateway responses are unwrapped.
    assert!(whole(&eps[2], &[("x-amzn-requestid", "r")], 200));
}

#[test]
fn in_place_outcome_checks_the_route() {
    let eps = in_place_eps();
    let headers = pairs(&[
        ("x-amzn-requestid", "r"),
        ("x-amz-function-error", "Handled"),
    ]);
    let reply = LambdaReply {
        status: Some(200),
        headers: &headers,
        body: b"{}",
    };
    let outcome = in_place_outcome(&eps[0], &reply, "via_upstream", Some("lambda")).unwrap();
    assert!(matches!(outcome, Outcome::FunctionError { .. }));
    for (routed_to, details, went) in [
        (Some("app"), "via_upstream", "went to cluster \"app\""),
        (None, "route_not_found", "went nowhere (route_not_found)"),
    ] {
        let Err(Step::Respond {
            response, failure, ..
        }) = in_place_outcome(&eps[0], &reply, details, routed_to)
        else {
            panic!("a request routed elsewhere is not Lambda's answer");
        };
        assert_eq!(response.status, 500);
        let cause = failure.unwrap();
        assert!(cause.contains(went), "{cause}");
        assert!(
            cause.contains("filter state wasm.lambda_wasm.cluster = \"lambda\""),
            "{cause}"
        );
    }
}

#[test]
fn tenant_ids_are_taken_validated_signed_and_sent() {
    let eps = endpoints(json!([
        ep(
            "/h",
            "GET",
            json!({"function_name": "f", "tenant_id": {"header": "x-tenant"}})
        ),
        ep(
            "/o",
            "GET",
            json!({"function_name": "f", "tenant_id": {"header": "x-tenant", "required": false}})
        ),
        ep(
            "/t/{tenant}",
            "GET",
            json!({"function_name": "f", "tenant_id": {"param": "Tenant"}})
        ),
        ep(
            "/v",
            "GET",
            json!({"function_name": "f", "tenant_id": {"value": "blue"}})
        ),
    ]));
    let inv = start(&eps, "GET", "/h", &[("x-tenant", "green:eu/1")], b"").unwrap();
    assert_eq!(inv.tenant.as_deref(), Some("green:eu/1"));
    let c = callout(&inv, &creds(), &mut KeyCache::default(), t0()).unwrap();
    assert_eq!(header(&c, "x-amz-tenant-id"), Some("green:eu/1"));
    let auth = header(&c, "authorization").unwrap();
    assert!(auth.contains("x-amz-tenant-id"), "signed: {auth}");
    assert_eq!(
        start(&eps, "GET", "/h", &[], b"").unwrap_err(),
        RequestError::MissingTenantId("x-tenant".into())
    );
    for bad in ["", "a\tb", "é", &"x".repeat(257)] {
        let err = start(&eps, "GET", "/h", &[("x-tenant", bad)], b"").unwrap_err();
        assert_eq!(err, RequestError::InvalidTenantId, "{bad:?}");
        assert_eq!(err.to_client().status, 400);
    }
    assert_eq!(start(&eps, "GET", "/o", &[], b"").unwrap().tenant, None);
    assert_eq!(
        start(&eps, "GET", "/t/acme", &[], b"")
            .unwrap()
            .tenant
            .as_deref(),
        Some("acme")
    );
    assert_eq!(
        start(&eps, "GET", "/t/a%09b", &[], b"").unwrap_err(),
        RequestError::InvalidTenantId
    );
    assert_eq!(
        start(&eps, "GET", "/v", &[], b"")
            .unwrap()
            .tenant
            .as_deref(),
        Some("blue")
    );
}

#[test]
fn tenant_id_configs_are_checked_at_load() {
    let bad = |tenant: serde_json::Value| {
        let v = json!({"credentials": {"access_key_id": "A", "secret_access_key": "S"},
                       "endpoints": [ep("/t/{id}", "GET", json!({"function_name": "f", "tenant_id": tenant}))]});
        config::parse(&serde_json::to_vec(&v).unwrap(), &|_| None).is_err()
    };
    assert!(bad(json!({"param": "Nope"})));
    assert!(bad(json!({"value": "no\ttabs"})));
    assert!(bad(json!({"header": "x", "value": "y"})));
    assert!(bad(json!("x-tenant")));
    assert!(!bad(json!({"param": "Id"})));
    assert!(!bad(
        json!({"header": "X-Tenant", "required": false, "@c": 1})
    ));
}
