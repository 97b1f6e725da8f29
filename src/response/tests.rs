use super::*;

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn classify_of(status: Option<u16>, headers: &[(&str, &str)], body: &str) -> Outcome {
    let headers = h(headers);
    classify(&LambdaReply {
        status,
        headers: &headers,
        body: body.as_bytes(),
    })
}

fn json_of(r: &ClientResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

#[test]
fn success_keeps_body_and_version() {
    let o = classify_of(
        Some(200),
        &[
            ("X-Amz-Executed-Version", "$LATEST"),
            ("x-amzn-RequestId", "rid-1"),
        ],
        "{\"ok\":true}",
    );
    let r = to_client(&o, ResponseFormat::Krakend, &ErrorPolicy::default(), []);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"{\"ok\":true}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-amz-executed-version"), Some("$LATEST"));
    assert_eq!(r.header("x-amzn-requestid"), Some("rid-1"));
}

#[test]
fn function_error_is_a_502_with_the_error_object() {
    let body = "{\"errorMessage\":\"boom\",\"errorType\":\"Error\"}";
    let o = classify_of(Some(200), &[("x-amz-function-error", "Unhandled")], body);
    assert!(matches!(&o, Outcome::FunctionError { kind, .. } if kind == "Unhandled"));
    let r = to_client(&o, ResponseFormat::Krakend, &ErrorPolicy::default(), []);
    assert_eq!(r.status, 502);
    assert_eq!(r.body, body.as_bytes());
    assert_eq!(r.header("x-amz-function-error"), Some("Unhandled"));
}

#[test]
fn api_errors_keep_their_status_with_a_json_body() {
    let o = classify_of(
        Some(404),
        &[
            ("x-amzn-RequestId", "rid-2"),
            ("x-amzn-ErrorType", "ResourceNotFoundException:http://internal.amazon.com/"),
        ],
        "{\"Type\":\"User\",\"message\":\"Function not found: arn:aws:lambda:us-east-1:1:function:x\"}",
    );
    let r = to_client(&o, ResponseFormat::Krakend, &ErrorPolicy::default(), []);
    assert_eq!(r.status, 404);
    let j = json_of(&r);
    assert_eq!(j["error"], "ResourceNotFoundException");
    assert_eq!(
        j["message"],
        "Function not found: arn:aws:lambda:us-east-1:1:function:x"
    );
    assert_eq!(j["request_id"], "rid-2");
}

#[test]
fn xml_and_typed_json_errors_are_understood() {
    let o = classify_of(
        Some(403),
        &[("x-amzn-requestid", "r")],
        "<ErrorResponse><Error><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error></ErrorResponse>",
    );
    let Outcome::ApiError(e) = o else { panic!() };
    assert_eq!(e.error_type, "InvalidClientTokenId");
    assert_eq!(
        e.message,
        "The security token included in the request is invalid."
    );

    let o = classify_of(
        Some(429),
        &[("x-amzn-requestid", "r")],
        "{\"__type\":\"com.amazon#TooManyRequestsException\",\"message\":\"Rate exceeded\"}",
    );
    let Outcome::ApiError(e) = o else { panic!() };
    assert_eq!(e.error_type, "TooManyRequestsException");
}

#[test]
fn auth_errors_are_502s_that_keep_aws_details_out() {
    let message = "The request signature we calculated does not match the signature you provided. SECRETKEY\n\nThe Canonical String for this request should have been\n'POST\n/x\n\nx-amz-security-token:TOKEN123\n'";
    let o = classify_of(
        Some(403),
        &[
            ("x-amzn-requestid", "r"),
            ("x-amzn-errortype", "InvalidSignatureException"),
        ],
        &serde_json::json!({"message": message}).to_string(),
    );
    let r = to_client(
        &o,
        ResponseFormat::Krakend,
        &ErrorPolicy::default(),
        ["SECRETKEY", "TOKEN123"],
    );
    let text = String::from_utf8(r.body.clone()).unwrap();
    assert_eq!(r.status, 502);
    assert_eq!(json_of(&r)["error"], "lambda_access_denied");
    assert_eq!(json_of(&r)["request_id"], "r");
    for leaked in ["TOKEN123", "SECRETKEY", "Canonical", "InvalidSignature"] {
        assert!(!text.contains(leaked), "{text}");
    }
    // Where a message is relayed, secrets are still removed and only its first line kept.
    assert_eq!(
        sanitize_message(message, ["SECRETKEY", "TOKEN123"]),
        "The request signature we calculated does not match the signature you provided. [redacted]"
    );
}

#[test]
fn error_policy_maps_function_errors() {
    let policy = ErrorPolicy {
        error_types: vec![("NotFoundError".into(), 404)],
        handled_status: 500,
        ..ErrorPolicy::default()
    };
    let status = |kind: &str, body: serde_json::Value| {
        policy.function_status(kind, body.to_string().as_bytes())
    };
    assert_eq!(
        status(
            "Unhandled",
            serde_json::json!({"errorType": "NotFoundError", "errorMessage": "x"})
        ),
        404
    );
    assert_eq!(
        status("Unhandled", serde_json::json!({"errorType": "Error"})),
        502
    );
    assert_eq!(
        status("Handled", serde_json::json!({"errorType": "Error"})),
        500
    );
    assert_eq!(
        status(
            "Unhandled",
            serde_json::json!({"errorMessage": "2024-01-01T00:00:00.000Z abc Task timed out after 3.00 seconds"})
        ),
        504
    );
    assert_eq!(
        status(
            "Unhandled",
            serde_json::json!({"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: x Error: Task timed out after 3.00 seconds"})
        ),
        504
    );
    assert_eq!(policy.function_status("Unhandled", b"not json"), 502);
}

#[test]
fn error_policy_maps_aws_errors() {
    let aws = |status: u16, error_type: &str, extra: &[(&str, &str)]| {
        let mut headers = vec![("x-amzn-requestid", "r"), ("x-amzn-errortype", error_type)];
        headers.extend_from_slice(extra);
        classify_of(Some(status), &headers, "{\"message\":\"m\"}")
    };
    let default = ErrorPolicy::default();
    let r = to_client(
        &aws(429, "TooManyRequestsException", &[("Retry-After", "3")]),
        ResponseFormat::Krakend,
        &default,
        [],
    );
    assert_eq!((r.status, r.header("retry-after")), (429, Some("3")));
    assert_eq!(
        to_client(
            &aws(429, "TooManyRequestsException", &[]),
            ResponseFormat::Krakend,
            &default,
            []
        )
        .header("retry-after"),
        None
    );
    assert_eq!(
        to_client(
            &aws(413, "RequestTooLargeException", &[]),
            ResponseFormat::Krakend,
            &default,
            []
        )
        .status,
        413
    );
    assert_eq!(
        to_client(
            &aws(404, "ResourceNotFoundException", &[]),
            ResponseFormat::Krakend,
            &default,
            []
        )
        .status,
        404
    );
    assert_eq!(
        to_client(
            &aws(400, "AccessDeniedException", &[]),
            ResponseFormat::Krakend,
            &default,
            []
        )
        .status,
        502
    );
    assert_eq!(
        to_client(
            &aws(500, "ServiceException", &[]),
            ResponseFormat::Krakend,
            &default,
            []
        )
        .status,
        500
    );
    let policy = ErrorPolicy {
        aws_error_types: vec![("ResourceConflictException".into(), 503)],
        ..ErrorPolicy::default()
    };
    let r = to_client(
        &aws(409, "ResourceConflictException", &[]),
        ResponseFormat::Krakend,
        &policy,
        [],
    );
    assert_eq!(
        (r.status, json_of(&r)["error"].as_str()),
        (503, Some("ResourceConflictException"))
    );
}

#[test]
fn empty_success_bodies_carry_no_content_type() {
    let r = to_client(
        &classify_of(Some(202), &[("x-amzn-requestid", "r")], ""),
        ResponseFormat::Krakend,
        &ErrorPolicy::default(),
        [],
    );
    assert_eq!((r.status, r.header("content-type")), (202, None));
    let r = to_client(
        &classify_of(Some(204), &[], ""),
        ResponseFormat::Krakend,
        &ErrorPolicy::default(),
        [],
    );
    assert_eq!(r.status, 204);
}

#[test]
fn envoy_local_replies_are_transport_failures() {
    assert_eq!(
        classify_of(Some(503), &[("content-type", "text/plain")], "upstream connect error or disconnect/reset before headers. reset reason: connection failure"),
        Outcome::Unreachable
    );
    assert_eq!(
        classify_of(Some(503), &[], "no healthy upstream"),
        Outcome::Unreachable
    );
    assert_eq!(
        classify_of(Some(504), &[], "upstream request timeout"),
        Outcome::Timeout
    );
    assert_eq!(classify_of(None, &[], ""), Outcome::Reset);
    // The same statuses from AWS are API errors.
    assert!(matches!(
        classify_of(
            Some(503),
            &[("x-amzn-requestid", "r")],
            "{\"message\":\"busy\"}"
        ),
        Outcome::ApiError(ApiError { status: 503, .. })
    ));
    let r = to_client(
        &Outcome::Unreachable,
        ResponseFormat::Krakend,
        &ErrorPolicy::default(),
        [],
    );
    assert_eq!(
        (r.status, json_of(&r)["error"].as_str()),
        (503, Some("lambda_unreachable"))
    );
    assert_eq!(
        to_client(
            &Outcome::Timeout,
            ResponseFormat::Krakend,
            &ErrorPolicy::default(),
            []
        )
        .status,
        504
    );
    assert_eq!(
        to_client(
            &Outcome::Reset,
            ResponseFormat::Krakend,
            &ErrorPolicy::default(),
            []
        )
        .status,
        502
    );
}

#[test]
fn long_messages_are_cut_on_a_char_boundary() {
    let long = "é".repeat(400);
    let cut = sanitize_message(&long, []);
    assert!(cut.len() <= MAX_MESSAGE_LEN + '…'.len_utf8());
    assert!(cut.ends_with('…'));
}

fn proxy(result: serde_json::Value, infer: bool) -> ClientResponse {
    let o = classify_of(
        Some(200),
        &[("x-amzn-requestid", "rid")],
        &result.to_string(),
    );
    to_client(
        &o,
        ResponseFormat::Apigw { infer },
        &ErrorPolicy::default(),
        [],
    )
}

#[test]
fn proxy_responses_are_unwrapped() {
    let r = proxy(
        serde_json::json!({
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "X-One": "1", "X-Multi": "ignored", "Content-Length": "999", "Bad Name": "x", "X-Num": 7},
            "multiValueHeaders": {"x-multi": ["a", "b"]},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": "created",
            "isBase64Encoded": false
        }),
        false,
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.body, b"created");
    let h = |n: &str| {
        r.headers
            .iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(h("content-type"), ["text/plain"]);
    assert_eq!(h("x-one"), ["1"]);
    assert_eq!(h("x-num"), ["7"]);
    assert_eq!(h("x-multi"), ["a", "b"]);
    assert_eq!(h("set-cookie"), ["a=1; Path=/", "b=2"]);
    assert_eq!(h("content-length"), Vec::<&str>::new());
    assert_eq!(h("bad name"), Vec::<&str>::new());
    assert_eq!(h("x-amzn-requestid"), ["rid"]);

    let r = proxy(
        serde_json::json!({"statusCode": "200", "body": "aGVsbG8=", "isBase64Encoded": true,
                                     "headers": {"content-type": "application/octet-stream"}}),
        false,
    );
    assert_eq!((r.status, r.body.as_slice()), (200, b"hello".as_slice()));
    let r = proxy(serde_json::json!({"statusCode": 204}), false);
    assert_eq!(
        (r.status, r.body.len(), r.header("content-type")),
        (204, 0, None)
    );
    let r = proxy(
        serde_json::json!({"statusCode": 200, "body": "{\"a\":1}"}),
        false,
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn payload_2_infers_a_200_from_plain_json() {
    let r = proxy(serde_json::json!({"message": "hi"}), true);
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("application/json"))
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap(),
        serde_json::json!({"message": "hi"})
    );
    let r = proxy(serde_json::json!("just a string"), true);
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, b"\"just a string\"".as_slice())
    );
}

#[test]
fn malformed_proxy_responses_are_502s() {
    for (result, infer) in [
        (serde_json::json!({"message": "no status"}), false),
        (serde_json::json!({"statusCode": 99}), true),
        (serde_json::json!({"statusCode": "abc"}), true),
        (
            serde_json::json!({"statusCode": 200, "headers": ["x"]}),
            true,
        ),
        (
            serde_json::json!({"statusCode": 200, "body": {"not": "a string"}}),
            true,
        ),
        (
            serde_json::json!({"statusCode": 200, "cookies": "a=b"}),
            true,
        ),
        (
            serde_json::json!({"statusCode": 200, "body": "%%%", "isBase64Encoded": true}),
            true,
        ),
    ] {
        let r = proxy(result.clone(), infer);
        assert_eq!(r.status, 502, "{result}");
        assert_eq!(json_of(&r)["error"], "malformed_proxy_response");
    }
    let o = classify_of(Some(200), &[], "not json");
    assert_eq!(
        to_client(
            &o,
            ResponseFormat::Apigw { infer: true },
            &ErrorPolicy::default(),
            []
        )
        .status,
        502
    );
}

#[test]
fn property_any_reply_is_classified_and_mapped_without_leaking_a_secret() {
    let mut g = crate::testkit::Gen::new(9);
    let secret = "SECRET/KEY+xyz";
    let names = [
        "x-amzn-requestid",
        "x-amzn-errortype",
        "x-amz-function-error",
        "retry-after",
        "x-amz-log-result",
        "content-type",
        "x-amz-executed-version",
    ];
    for case in 0..3000 {
        let status = g.chance(0.9).then(|| {
            *g.pick(&[
                200u16, 202, 204, 400, 403, 404, 429, 500, 502, 503, 504, 599,
            ])
        });
        let headers: Vec<(String, String)> = (0..g.below(4))
            .map(|_| (g.pick(&names).to_string(), g.text(3)))
            .collect();
        let mut body = g.bytes(30);
        if g.chance(0.3) {
            body = format!(
                "{{\"message\":\"bad {secret} here\",\"__type\":\"{}\"}}",
                g.text(2)
            )
            .into_bytes();
        }
        let reply = LambdaReply {
            status,
            headers: &headers,
            body: &body,
        };
        let outcome = classify(&reply);
        for format in [
            ResponseFormat::Krakend,
            ResponseFormat::Apigw { infer: true },
        ] {
            let response = to_client(&outcome, format, &ErrorPolicy::default(), [secret]);
            assert!((100..=599).contains(&response.status), "case {case}");
            if !matches!(
                outcome,
                Outcome::Success { .. } | Outcome::FunctionError { .. }
            ) {
                let shown = String::from_utf8_lossy(&response.body);
                assert!(!shown.contains(secret), "case {case}: {shown}");
            }
        }
    }
}

#[test]
fn every_error_code_is_in_the_readme_with_its_status() {
    let readme = include_str!("../../README.md");
    let table_start = readme.find("### Errors").unwrap();
    let table = &readme[table_start..];
    let mut codes = std::collections::HashSet::new();
    for error in ClientError::ALL {
        assert!(codes.insert(error.code()), "{} twice", error.code());
        let row = format!("{} `{}`", error.status(), error.code());
        assert!(table.contains(&row), "README's error table lacks {row}");
        let response = error.response();
        assert_eq!(response.status, error.status());
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["error"], error.code());
    }
}

#[test]
fn retry_after_is_capped_at_a_day() {
    let headers = [(
        "retry-after".to_string(),
        "18446744073709551615".to_string(),
    )];
    let reply = LambdaReply {
        status: Some(429),
        headers: &headers,
        body: b"{}",
    };
    let Outcome::ApiError(e) = classify(&reply) else {
        panic!("an API error")
    };
    assert_eq!(e.retry_after, Some(86_400));
}
