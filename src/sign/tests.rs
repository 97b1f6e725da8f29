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

#[test]
fn the_cached_path_signs_exactly_like_aws_sigv4() {
    let mut cache = KeyCache::default();
    let paths = [
        "/2015-03-31/functions/f/invocations",
        "/2015-03-31/functions/my-fn%3Alive/invocations",
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af%3A%24LATEST/invocations",
        "/prefix/2015-03-31/functions/f/invocations?Qualifier=%24LATEST",
        "/2015-03-31/functions/f/invocations?Qualifier=live",
        "/",
        "/?b=2&a=1&a=0",
    ];
    let header_sets: [&[(&str, &str)]; 3] = [
        &[
            ("host", "lambda.us-east-1.amazonaws.com"),
            ("x-amz-invocation-type", "RequestResponse"),
        ],
        &[
            ("host", "127.0.0.1:4566"),
            ("x-amz-invocation-type", "Event"),
            ("x-amz-log-type", "Tail"),
            ("x-amz-client-context", "eyJjdXN0b20iOnt9fQ=="),
        ],
        &[
            ("host", "sts.amazonaws.com"),
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
        ],
    ];
    let mut compared = 0;
    for (i, path) in paths.iter().enumerate() {
        for headers in header_sets {
            for token in [None, Some("TOKEN/+=")] {
                for body in [&b""[..], b"{}", b"{\"a\": [1, 2]}\n"] {
                    let time = SystemTime::UNIX_EPOCH
                        + Duration::from_secs(1_700_000_000 + 86_400 * u64::from(i >= 4));
                    let req = Unsigned {
                        method: "POST",
                        path_and_query: path,
                        headers,
                        body,
                    };
                    let expected =
                        sign(&req, &creds(token), "us-east-1", LAMBDA_SERVICE, time).unwrap();
                    let got = sign_cached(
                        &mut cache,
                        &req,
                        &creds(token),
                        "us-east-1",
                        LAMBDA_SERVICE,
                        time,
                    )
                    .unwrap();
                    assert_eq!(got, expected, "{path} {headers:?} {token:?}");
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 7 * 3 * 2 * 3);
    // One key per day (the first four paths on one day, the rest on the next), not per request.
    assert_eq!(cache.derived, 2);
}

#[test]
fn paths_that_need_normalising_take_the_generic_path() {
    let mut cache = KeyCache::default();
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for path in ["/a/../b", "/a/./b", "//a", "/a/%7E/.."] {
        let headers = [("host", "h")];
        let req = Unsigned {
            method: "GET",
            path_and_query: path,
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            sign_cached(&mut cache, &req, &creds(None), "us-east-1", "service", time).unwrap(),
            sign(&req, &creds(None), "us-east-1", "service", time).unwrap(),
            "{path}"
        );
    }
    assert_eq!(cache.derived, 0, "the generic path derives its own key");
}
