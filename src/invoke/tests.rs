use super::*;
use crate::config;
use crate::route;
use serde_json::json;

fn endpoints(list: serde_json::Value) -> Vec<Endpoint> {
    let v = json!({
        "credentials": {"access_key_id": "AKID", "secret_access_key": "SECRET", "session_token": "TOKEN"},
        "endpoints": list
    });
    config::parse(&serde_json::to_vec(&v).unwrap(), &|_| None)
        .unwrap()
        .endpoints
}

fn ep(path: &str, method: &str, lambda: serde_json::Value) -> serde_json::Value {
    json!({"endpoint": path, "method": method, "timeout": "3s",
           "backend": [{"host": ["x"], "url_pattern": "/x", "extra_config": {"backend/lambda": lambda}}]})
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

/// One GET /f endpoint with this `backend/lambda` block, and an invocation of it started at t0.
fn single(lambda: serde_json::Value) -> (Vec<Endpoint>, Invocation) {
    let eps = endpoints(json!([ep("/f", "GET", lambda)]));
    let (i, caps) = route::find(&eps, "GET", "/f").unwrap();
    let inv = Invocation::new(i, &eps[i], &caps, vec![], t0()).unwrap();
    (eps, inv)
}

#[test]
fn get_with_placeholders_builds_krakend_payload_and_encoded_path() {
    let eps = endpoints(json!([ep(
        "/u/{userId}/{lambda}",
        "GET",
        json!({"function_param_name": "Lambda", "region": "us-east-1", "endpoint": "http://127.0.0.1:4566"})
    )]));
    let (i, caps) = route::find(&eps, "GET", "/u/42/my-fn%3Av1?x=1").unwrap();
    let inv = Invocation::new(i, &eps[i], &caps, b"ignored".to_vec(), t0()).unwrap();
    assert_eq!(inv.function.as_str(), "my-fn:v1");
    assert_eq!(inv.path, "/2015-03-31/functions/my-fn%3Av1/invocations");
    assert_eq!(
        inv.payload,
        b"{\"lambda\":\"my-fn:v1\",\"userid\":\"42\"}\n"
    );
    assert_eq!(inv.deadline, t0() + Duration::from_secs(3));

    let c = callout(&inv, &eps[i], &creds(), t0() + Duration::from_secs(1)).unwrap();
    assert_eq!(c.timeout, Duration::from_secs(2));
    let get = |n: &str| {
        c.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get(":authority"), Some("127.0.0.1:4566"));
    assert_eq!(get(":method"), Some("POST"));
    assert_eq!(get("x-amz-invocation-type"), Some("RequestResponse"));
    assert_eq!(get("x-amz-security-token"), Some("TOKEN"));
    assert!(get("authorization")
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
        json!({"function_name": "arn:aws:lambda:us-east-1:123456789012:function:f", "region": "us-east-1"})
    )]));
    let (i, caps) = route::find(&eps, "POST", "/p").unwrap();
    assert!(needs_body(&eps[i]));
    let inv = Invocation::new(i, &eps[i], &caps, b"raw \x00 bytes".to_vec(), t0()).unwrap();
    assert_eq!(inv.payload, b"raw \x00 bytes");
    assert_eq!(inv.path, "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations");
}

#[test]
fn invalid_name_from_the_request_is_a_400() {
    let eps = endpoints(json!([ep(
        "/f/{fn}",
        "GET",
        json!({"function_param_name": "Fn", "region": "us-east-1"})
    )]));
    let (i, caps) = route::find(&eps, "GET", "/f/bad%20name").unwrap();
    let err = Invocation::new(i, &eps[i], &caps, vec![], t0()).unwrap_err();
    let r = err.to_client();
    assert_eq!(r.status, 400);
    let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(j["error"], "invalid_function_name");
}

#[test]
fn routing_picks_method_and_most_specific_pattern() {
    let eps = endpoints(json!([
        ep(
            "/users/{id}",
            "GET",
            json!({"function_name": "by-id", "region": "us-east-1"})
        ),
        ep(
            "/users/me",
            "GET",
            json!({"function_name": "me", "region": "us-east-1"})
        ),
        ep(
            "/users/{id}",
            "POST",
            json!({"function_name": "post", "region": "us-east-1"})
        ),
    ]));
    let name = |m: &str, p: &str| {
        route::find(&eps, m, p).map(|(i, c)| function_for(&eps[i], &c).unwrap().to_string())
    };
    assert_eq!(name("GET", "/users/me").as_deref(), Some("me"));
    assert_eq!(name("GET", "/users/7").as_deref(), Some("by-id"));
    assert_eq!(name("POST", "/users/me").as_deref(), Some("post"));
    assert_eq!(name("DELETE", "/users/me"), None);
    assert_eq!(name("GET", "/other"), None);
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
    after_reply(
        inv,
        e,
        &LambdaReply {
            status,
            headers: &headers,
            body: b"{\"message\":\"x\"}",
        },
        Some(&creds()),
        now,
        0.0,
    )
}

#[test]
fn retries_throttles_then_gives_up_with_the_last_error() {
    let (eps, mut inv) =
        single(json!({"function_name": "f", "region": "us-east-1", "max_retries": 2}));
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
    let Step::Respond { response, failure } =
        reply_step(&mut inv, &eps[0], Some(429), &throttle, t0())
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
fn no_retry_once_the_deadline_is_near() {
    let (eps, mut inv) =
        single(json!({"function_name": "f", "region": "us-east-1", "max_retries": 3}));
    let late = t0() + Duration::from_millis(2990);
    let Step::Respond { response, .. } = reply_step(&mut inv, &eps[0], Some(503), &[], late) else {
        panic!()
    };
    assert_eq!(response.status, 503);
    assert!(matches!(
        callout(&inv, &eps[0], &creds(), t0() + Duration::from_secs(4)),
        Err(CalloutError::NoTimeLeft)
    ));
    assert_eq!(
        timed_out(&inv),
        Step::Respond {
            response: response::to_client(&Outcome::Timeout, []),
            failure: Some("timed out (after 0 retries)".into()),
        }
    );
}

#[test]
fn success_has_no_failure_line() {
    let (eps, mut inv) = single(json!({"function_name": "f", "region": "us-east-1"}));
    let Step::Respond { response, failure } = reply_step(&mut inv, &eps[0], Some(200), &[], t0())
    else {
        panic!()
    };
    assert_eq!((response.status, failure), (200, None));
    assert_eq!(no_credentials().status, 503);
}
