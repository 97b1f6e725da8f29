use super::*;

fn t0() -> SystemTime {
    parse_time("2026-11-22T03:00:00Z").unwrap()
}

fn upstream(cluster: &str, authority: &str) -> Upstream {
    Upstream {
        cluster: cluster.into(),
        authority: authority.into(),
    }
}

fn header<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn sent(next: Next) -> HttpRequest {
    match next {
        Next::Send(r) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn done(next: Next) -> Result<Expiring, FetchError> {
    match next {
        Next::Done(r) => r,
        other => panic!("expected a result, got {other:?}"),
    }
}

const CONTAINER_JSON: &str = r#"{"AccessKeyId":"ASIACONTAINER","SecretAccessKey":"container-secret","Token":"container-token","Expiration":"2026-11-22T04:00:00Z","RoleArn":"arn:aws:iam::1:role/task"}"#;

fn sts_xml(action: &str, key: &str) -> String {
    format!(
        "<{action}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{action}Result><Credentials>\
         <AccessKeyId>{key}</AccessKeyId><SecretAccessKey>sts/secret+value=</SecretAccessKey>\
         <SessionToken>FwoGZXIvYXdzE&amp;token</SessionToken><Expiration>2026-11-22T04:00:00.000Z</Expiration>\
         </Credentials></{action}Result></{action}Response>"
    )
}

#[test]
fn container_credentials_with_a_token() {
    let provider = Provider {
        base: Base::Container(Container {
            upstream: upstream("container_credentials", "169.254.170.23"),
            path: "/v1/credentials".into(),
            authorization: Some("pod-identity-token".into()),
        }),
        assume_role: None,
    };
    assert!(provider.is_dynamic());
    let (mut fetch, next) = Fetch::start(&provider, t0());
    let r = sent(next);
    assert_eq!(r.cluster, "container_credentials");
    assert_eq!(header(&r, ":method"), Some("GET"));
    assert_eq!(header(&r, ":path"), Some("/v1/credentials"));
    assert_eq!(header(&r, ":authority"), Some("169.254.170.23"));
    assert_eq!(header(&r, "authorization"), Some("pod-identity-token"));
    let got = done(fetch.on_response(Some(200), CONTAINER_JSON.as_bytes(), t0())).unwrap();
    assert_eq!(got.credentials.access_key_id, "ASIACONTAINER");
    assert_eq!(
        got.credentials.session_token.as_deref(),
        Some("container-token")
    );
    assert_eq!(got.expires, parse_time("2026-11-22T04:00:00Z"));
}

#[test]
fn instance_metadata_is_imdsv2_three_steps() {
    let provider = Provider {
        base: Base::InstanceMetadata(upstream("imds", "169.254.169.254")),
        assume_role: None,
    };
    let (mut fetch, next) = Fetch::start(&provider, t0());
    let r = sent(next);
    assert_eq!(
        (header(&r, ":method"), header(&r, ":path")),
        (Some("PUT"), Some("/latest/api/token"))
    );
    assert_eq!(
        header(&r, "x-aws-ec2-metadata-token-ttl-seconds"),
        Some("21600")
    );
    let r = sent(fetch.on_response(Some(200), b"imds-session-token", t0()));
    assert_eq!(
        header(&r, ":path"),
        Some("/latest/meta-data/iam/security-credentials/")
    );
    assert_eq!(
        header(&r, "x-aws-ec2-metadata-token"),
        Some("imds-session-token")
    );
    let r = sent(fetch.on_response(Some(200), b"my-instance-role\n", t0()));
    assert_eq!(
        header(&r, ":path"),
        Some("/latest/meta-data/iam/security-credentials/my-instance-role")
    );
    assert_eq!(
        header(&r, "x-aws-ec2-metadata-token"),
        Some("imds-session-token")
    );
    let body = CONTAINER_JSON.replace("{", "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",");
    let got = done(fetch.on_response(Some(200), body.as_bytes(), t0())).unwrap();
    assert_eq!(got.credentials.secret_access_key, "container-secret");
}

#[test]
fn imds_failures_are_reported_without_secrets() {
    let provider = Provider {
        base: Base::InstanceMetadata(upstream("imds", "169.254.169.254")),
        assume_role: None,
    };
    let (mut fetch, _) = Fetch::start(&provider, t0());
    let err = done(fetch.on_response(Some(401), b"", t0())).unwrap_err();
    assert_eq!(err.to_string(), "EC2 instance metadata answered HTTP 401");
    let (mut fetch, _) = Fetch::start(&provider, t0());
    assert_eq!(
        done(fetch.on_response(None, b"", t0())).unwrap_err(),
        FetchError::NoAnswer("EC2 instance metadata")
    );
    let (mut fetch, _) = Fetch::start(&provider, t0());
    sent(fetch.on_response(Some(200), b"tok", t0()));
    sent(fetch.on_response(Some(200), b"role", t0()));
    let err = done(fetch.on_response(
        Some(200),
        br#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"secret stuff"}"#,
        t0(),
    ))
    .unwrap_err();
    assert!(
        err.to_string().contains("AssumeRoleUnauthorizedAccess")
            && !err.to_string().contains("secret stuff")
    );
}

#[test]
fn assume_role_on_static_keys_is_signed_with_them() {
    let base = Credentials {
        access_key_id: "AKIDBASE".into(),
        secret_access_key: "base-secret".into(),
        session_token: None,
    };
    let provider = Provider {
        base: Base::Fixed(base),
        assume_role: Some(StsRole {
            upstream: upstream("sts", "sts.eu-west-1.amazonaws.com"),
            region: "eu-west-1".into(),
            role_arn: "arn:aws:iam::123456789012:role/invoker".into(),
            session_name: "lambda-wasm".into(),
            external_id: Some("ext id".into()),
            duration: Some(Duration::from_secs(900)),
        }),
    };
    assert!(provider.is_dynamic());
    let (mut fetch, next) = Fetch::start(&provider, t0());
    let r = sent(next);
    assert_eq!(
        (header(&r, ":method"), header(&r, ":path")),
        (Some("POST"), Some("/"))
    );
    assert_eq!(r.cluster, "sts");
    let body = String::from_utf8(r.body.clone()).unwrap();
    assert_eq!(body, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Finvoker&RoleSessionName=lambda-wasm&ExternalId=ext%20id&DurationSeconds=900");
    let auth = header(&r, "authorization").unwrap();
    assert!(
        auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDBASE/20261122/eu-west-1/sts/aws4_request"
        ),
        "{auth}"
    );
    let got = done(fetch.on_response(
        Some(200),
        sts_xml("AssumeRole", "ASIAROLE").as_bytes(),
        t0(),
    ))
    .unwrap();
    assert_eq!(got.credentials.access_key_id, "ASIAROLE");
    assert_eq!(got.credentials.secret_access_key, "sts/secret+value=");
    assert_eq!(
        got.credentials.session_token.as_deref(),
        Some("FwoGZXIvYXdzE&token")
    );
    assert_eq!(got.expires, parse_time("2026-11-22T04:00:00Z"));
}

#[test]
fn assume_role_chains_after_a_fetched_base() {
    let provider = Provider {
        base: Base::Container(Container {
            upstream: upstream("ecs", "169.254.170.2"),
            path: "/v2/credentials/abc".into(),
            authorization: None,
        }),
        assume_role: Some(StsRole {
            upstream: upstream("sts", "127.0.0.1:5000"),
            region: "us-east-1".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            session_name: "s".into(),
            external_id: None,
            duration: None,
        }),
    };
    let (mut fetch, next) = Fetch::start(&provider, t0());
    assert_eq!(header(&sent(next), "authorization"), None);
    let r = sent(fetch.on_response(Some(200), CONTAINER_JSON.as_bytes(), t0()));
    assert!(header(&r, "authorization")
        .unwrap()
        .contains("Credential=ASIACONTAINER/"));
    assert_eq!(header(&r, "x-amz-security-token"), Some("container-token"));
    let got = done(fetch.on_response(
        Some(200),
        sts_xml("AssumeRole", "ASIAROLE").as_bytes(),
        t0(),
    ))
    .unwrap();
    assert_eq!(got.credentials.access_key_id, "ASIAROLE");
    // STS errors name the code only.
    let (mut fetch, _) = Fetch::start(&provider, t0());
    sent(fetch.on_response(Some(200), CONTAINER_JSON.as_bytes(), t0()));
    let err = done(fetch.on_response(Some(403), b"<ErrorResponse><Error><Code>AccessDenied</Code><Message>User x is not authorized</Message></Error></ErrorResponse>", t0())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "STS AssumeRole answered HTTP 403 (AccessDenied)"
    );
}

#[test]
fn web_identity_is_unsigned_and_carries_the_token() {
    let provider = Provider {
        base: Base::WebIdentity {
            role: StsRole {
                upstream: upstream("sts", "sts.us-east-1.amazonaws.com"),
                region: "us-east-1".into(),
                role_arn: "arn:aws:iam::123456789012:role/web".into(),
                session_name: "pod".into(),
                external_id: None,
                duration: None,
            },
            token: "eyJhbGciOi.jwt.sig".into(),
        },
        assume_role: None,
    };
    let (mut fetch, next) = Fetch::start(&provider, t0());
    let r = sent(next);
    assert_eq!(header(&r, "authorization"), None);
    let body = String::from_utf8(r.body.clone()).unwrap();
    assert!(body.starts_with("Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn="));
    assert!(body.ends_with("&WebIdentityToken=eyJhbGciOi.jwt.sig"));
    let got = done(fetch.on_response(
        Some(200),
        sts_xml("AssumeRoleWithWebIdentity", "ASIAWEB").as_bytes(),
        t0(),
    ))
    .unwrap();
    assert_eq!(got.credentials.access_key_id, "ASIAWEB");
}

#[test]
fn static_keys_need_no_fetch() {
    let keys = Credentials {
        access_key_id: "AKID".into(),
        secret_access_key: "S".into(),
        session_token: None,
    };
    let provider = Provider {
        base: Base::Fixed(keys.clone()),
        assume_role: None,
    };
    assert!(!provider.is_dynamic());
    let (_, next) = Fetch::start(&provider, t0());
    assert_eq!(
        done(next).unwrap(),
        Expiring {
            credentials: keys,
            expires: None
        }
    );
}

#[test]
fn malformed_answers_are_errors() {
    assert!(parse_json_credentials(b"not json", "x").is_err());
    assert!(parse_json_credentials(br#"{"AccessKeyId":"A"}"#, "x").is_err());
    assert!(parse_json_credentials(
        br#"{"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"tomorrow"}"#,
        "x"
    )
    .is_err());
    assert!(parse_sts_credentials(b"<xml/>", "x").is_err());
}
