use super::*;
use std::time::Duration;

fn creds(token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: token.map(str::to_string),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn signs_an_invoke_request_with_and_without_token() {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let headers = [
        ("host", "lambda.us-east-1.amazonaws.com"),
        ("x-amz-invocation-type", "RequestResponse"),
        ("content-type", "application/json"),
    ];
    let req = Unsigned {
        method: "POST",
        path_and_query: "/2015-03-31/functions/f%3Av1/invocations",
        headers: &headers,
        body: b"{}",
    };
    let plain = sign(&req, &creds(None), "us-east-1", LAMBDA_SERVICE, time).unwrap();
    let auth = header(&plain, "authorization").unwrap();
    assert!(auth.starts_with(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-invocation-type, Signature="
    ), "{auth}");
    assert_eq!(header(&plain, "x-amz-date"), Some("20150830T123600Z"));
    assert_eq!(header(&plain, "x-amz-security-token"), None);

    let with_token = sign(
        &req,
        &creds(Some("TOKEN")),
        "us-east-1",
        LAMBDA_SERVICE,
        time,
    )
    .unwrap();
    assert_eq!(header(&with_token, "x-amz-security-token"), Some("TOKEN"));
    assert!(header(&with_token, "authorization")
        .unwrap()
        .contains("x-amz-security-token"));
    // A different body gives a different signature.
    let other = Unsigned {
        body: b"{\"a\":1}",
        ..req
    };
    let other = sign(&other, &creds(None), "us-east-1", LAMBDA_SERVICE, time).unwrap();
    assert_ne!(
        header(&other, "authorization"),
        header(&plain, "authorization")
    );
}
