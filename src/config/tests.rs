use super::*;
use crate::credentials::fetch::{Base, Provider};
use crate::event::EventFormat;
use crate::response::ResponseFormat;
use serde_json::json;

fn no_env(_: &str) -> Option<String> {
    None
}

fn with_creds(mut v: Value) -> Vec<u8> {
    v.as_object_mut()
        .unwrap()
        .entry("credentials")
        .or_insert(json!({
            "access_key_id": "AKID", "secret_access_key": "SECRET"
        }));
    serde_json::to_vec(&v).unwrap()
}

fn endpoint(path: &str, lambda: Value) -> Value {
    json!({
        "endpoint": path,
        "backend": [{"host": ["ignore"], "url_pattern": "/ignore",
                     "extra_config": {"backend/lambda": lambda}}]
    })
}

fn load(v: Value) -> Result<Config, ConfigError> {
    parse(&with_creds(v), &no_env)
}

fn load_err(v: Value) -> ConfigError {
    load(v).expect_err("config should be refused")
}

#[test]
fn loads_the_issue_example() {
    let config = load(json!({
        "cluster": "lambda",
        "endpoints": [{
            "endpoint": "/call-a-lambda/{lambda}",
            "method": "GET",
            "timeout": "3s",
            "backend": [{
                "host": ["ignore"], "url_pattern": "/ignore",
                "extra_config": {"backend/lambda": {
                    "function_param_name": "Lambda", "region": "us-east-1",
                    "max_retries": 1, "endpoint": "http://127.0.0.1:4566"
                }}
            }]
        }]
    }))
    .unwrap();
    // The only warning: the path names the function and nothing limits which.
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    assert!(config.warnings[0].contains("there is no allowed_functions"));
    let e = &config.endpoints[0];
    assert_eq!(e.label(), "GET /call-a-lambda/{lambda}");
    assert_eq!(e.timeout, Duration::from_secs(3));
    assert_eq!(
        e.primary.lambda.function,
        FunctionSource::Param { index: 0 }
    );
    assert_eq!(e.primary.lambda.host, "127.0.0.1:4566");
    assert_eq!(e.primary.lambda.path_prefix, "");
    assert_eq!(e.primary.lambda.max_retries, 1);
    assert_eq!(e.primary.lambda.cluster, "lambda");
    assert!(e.primary.lambda.payload_from_params);
    let Some(Provider {
        base: Base::Fixed(keys),
        assume_role: None,
    }) = config.credentials().cloned()
    else {
        panic!("static keys expected");
    };
    assert_eq!(keys.access_key_id, "AKID");
}

#[test]
fn defaults_follow_krakend() {
    let config = load(json!({"endpoints": [endpoint("/f", json!({"function_name": "f", "region": "eu-west-1"}))]})).unwrap();
    let e = &config.endpoints[0];
    assert_eq!(e.method, "GET");
    assert_eq!(e.timeout, DEFAULT_TIMEOUT);
    assert_eq!(e.primary.lambda.max_retries, 0);
    assert_eq!(e.primary.lambda.cluster, DEFAULT_CLUSTER);
    assert_eq!(e.primary.lambda.host, "lambda.eu-west-1.amazonaws.com");

    let config = load(json!({"timeout": "500ms", "cluster": "aws",
        "endpoints": [endpoint("f", json!({"function_name": "f", "region": "eu-west-1", "max_retries": -1, "cluster": "other"}))]})).unwrap();
    let e = &config.endpoints[0];
    assert_eq!(e.path.as_str(), "/f");
    assert_eq!(e.timeout, Duration::from_millis(500));
    assert_eq!(e.primary.lambda.max_retries, SDK_DEFAULT_RETRIES);
    assert_eq!(e.primary.lambda.cluster, "other");
}

#[test]
fn backend_method_decides_the_payload() {
    let mut ep = endpoint("/f", json!({"function_name": "f", "region": "us-east-1"}));
    ep["method"] = json!("post");
    let config = load(json!({"endpoints": [ep.clone()]})).unwrap();
    assert_eq!(config.endpoints[0].method, "POST");
    assert!(!config.endpoints[0].primary.lambda.payload_from_params);
    ep["backend"][0]["method"] = json!("GET");
    let config = load(json!({"endpoints": [ep]})).unwrap();
    assert!(config.endpoints[0].primary.lambda.payload_from_params);
}

#[test]
fn accepts_the_legacy_namespace() {
    let ep = json!({"endpoint": "/f", "backend": [{"host": ["x"], "url_pattern": "/x",
        "extra_config": {"github.com/devopsfaith/krakend-lambda": {"function_name": "f", "region": "us-east-1"}}}]});
    assert_eq!(load(json!({"endpoints": [ep]})).unwrap().endpoints.len(), 1);
}

#[test]
fn a_whole_krakend_json_loads_with_warnings() {
    let config = load(json!({
        "$schema": "https://www.krakend.io/schema/krakend.json",
        "version": 3, "name": "gw", "port": 8080, "timeout": "3s", "cache_ttl": "300s",
        "extra_config": {"telemetry/logging": {"level": "DEBUG"}},
        "endpoints": [
            {"endpoint": "/http", "backend": [{"host": ["http://a"], "url_pattern": "/x"}]},
            {"endpoint": "/l/{lambda}", "@comment": "a lambda", "input_headers": ["*"],
             "backend": [{"host": ["ignore"], "url_pattern": "/ignore", "allow": ["a"],
                          "extra_config": {"backend/lambda": {"function_param_name": "Lambda", "region": "us-east-1"},
                                           "qos/circuit-breaker": {}}}]}
        ]
    }))
    .unwrap();
    assert_eq!(config.endpoints.len(), 1);
    let w = config.warnings.join("\n");
    for expected in [
        "`version`",
        "`name`",
        "`port`",
        "`cache_ttl`",
        "`extra_config`",
        "endpoint GET /http: no backend/lambda backend; skipped",
        "endpoint GET /l/{lambda}: KrakenD key `endpoints[1].input_headers`",
        "`endpoints[1].backend[0].extra_config.qos/circuit-breaker`",
        "endpoint GET /l/{lambda}: the request names the function and there is no allowed_functions",
    ] {
        assert!(w.contains(expected), "missing {expected:?} in\n{w}");
    }
    assert_eq!(config.warnings.len(), 9, "{w}");
    assert!(
        !config.endpoints[0].primary.manipulation.is_identity(),
        "allow is read"
    );
    assert!(!w.contains("$schema") && !w.contains("@comment") && !w.contains("url_pattern"));
}

#[test]
fn errors_name_the_endpoint_and_the_key() {
    let e = load_err(
        json!({"endpoints": [endpoint("/f", json!({"function_name": "f", "region": "us-east-1", "typo": 1}))]}),
    );
    assert_eq!(e.problem, Problem::UnknownKey);
    assert_eq!(e.to_string(), "endpoint GET /f: key `endpoints[0].backend[0].extra_config.backend/lambda.typo`: unknown key");

    let e = load_err(
        json!({"endpoints": [endpoint("/f/{lambda}", json!({"function_name": "f", "function_param_name": "Lambda", "region": "us-east-1"}))]}),
    );
    assert_eq!(
        e.problem,
        Problem::FunctionSources("function_name and function_param_name".into())
    );
    assert_eq!(e.endpoint.as_deref(), Some("GET /f/{lambda}"));

    let e = load_err(json!({"endpoints": [endpoint("/f", json!({"region": "us-east-1"}))]}));
    assert_eq!(e.problem, Problem::NoFunctionField);

    let e = load_err(
        json!({"endpoints": [endpoint("/f", json!({"function_name": "bad name", "region": "us-east-1"}))]}),
    );
    assert!(matches!(
        e.problem,
        Problem::FunctionName(_, FunctionNameError::Grammar)
    ));
    assert!(e.to_string().contains("function_name"));

    let e = load_err(
        json!({"endpoints": [endpoint("/f/{lambda}", json!({"function_param_name": "lambda", "region": "us-east-1"}))]}),
    );
    assert_eq!(
        e.problem,
        Problem::UnknownParam("lambda".into(), "Lambda".into())
    );

    let mut ep = endpoint("/f", json!({"function_name": "f", "region": "us-east-1"}));
    ep["timeout"] = json!("3 seconds");
    let e = load_err(json!({"endpoints": [ep]}));
    assert_eq!(e.key, "endpoints[0].timeout");
    assert!(matches!(e.problem, Problem::Duration(_)));

    let e = load_err(json!({"timeout": "2h", "endpoints": []}));
    assert_eq!(
        (e.key.as_str(), e.problem),
        ("timeout", Problem::TimeoutTooLong("2h".into()))
    );

    let e = load_err(json!({"timeout": 3, "endpoints": []}));
    assert_eq!(
        (e.key.as_str(), e.problem),
        ("timeout", Problem::WrongType("a string"))
    );

    let e = load_err(json!({"endpoints": [], "clusterr": "x"}));
    assert_eq!(
        (e.key.as_str(), e.problem),
        ("clusterr", Problem::UnknownKey)
    );
}

#[test]
fn refuses_bad_values() {
    let bad = |lambda: Value| load_err(json!({"endpoints": [endpoint("/f/{x}", lambda)]})).problem;
    assert!(matches!(
        bad(json!({"function_name": "f", "region": "us-east-1", "max_retries": -2})),
        Problem::MaxRetries(_)
    ));
    assert!(matches!(
        bad(json!({"function_name": "f", "region": "us-east-1", "max_retries": 1.5})),
        Problem::MaxRetries(_)
    ));
    assert!(matches!(
        bad(json!({"function_name": "f", "region": "us-east-1", "max_retries": "1"})),
        Problem::MaxRetries(_)
    ));
    assert!(matches!(
        bad(json!({"function_name": "f", "region": "US EAST"})),
        Problem::Region(_)
    ));
    assert!(matches!(
        bad(json!({"function_name": "f", "region": "us-east-1", "endpoint": "http://a b"})),
        Problem::EndpointUrl(_)
    ));
    assert!(matches!(
        bad(json!({"function_name": "f", "region": "us-east-1", "endpoint": "http://h:99999"})),
        Problem::EndpointUrl(_)
    ));
    assert_eq!(bad(json!({"function_name": "f"})), Problem::NoRegion);
    assert_eq!(
        bad(json!({"function_name": "f", "region": "us-east-1", "cluster": ""})),
        Problem::Empty
    );

    let e = load_err(json!({"endpoints": [{"endpoint": "/f", "backend": [
        {"host": ["a"], "url_pattern": "/a"},
        {"host": ["x"], "url_pattern": "/x", "extra_config": {"backend/lambda": {"function_name": "f", "region": "us-east-1"}}}]}]}));
    assert_eq!(e.problem, Problem::MixedBackends(1, 2));

    let e = load_err(
        json!({"endpoints": [endpoint("/a-{x}", json!({"function_name": "f", "region": "us-east-1"}))]}),
    );
    assert!(matches!(e.problem, Problem::Pattern(_)));

    let ep = endpoint("/f", json!({"function_name": "f", "region": "us-east-1"}));
    let e = load_err(json!({"endpoints": [ep.clone(), ep]}));
    assert_eq!(
        (e.key.as_str(), e.problem),
        ("endpoints[1].endpoint", Problem::DuplicateEndpoint)
    );

    let mut ep = endpoint("/f", json!({"function_name": "f", "region": "us-east-1"}));
    ep["method"] = json!("CONNECT");
    assert!(matches!(
        load_err(json!({"endpoints": [ep]})).problem,
        Problem::Method(_)
    ));

    let e = parse(b"{not json", &no_env).unwrap_err();
    assert!(matches!(e.problem, Problem::Json(_)));
    let e = parse(b"[]", &no_env).unwrap_err();
    assert!(matches!(e.problem, Problem::WrongType(_)));
}

#[test]
fn region_and_credentials_fall_back_to_the_environment() {
    let env = |k: &str| match k {
        "AWS_DEFAULT_REGION" => Some("eu-central-1".to_string()),
        "AWS_ACCESS_KEY_ID" => Some("ENVKEY".to_string()),
        "AWS_SECRET_ACCESS_KEY" => Some("ENVSECRET".to_string()),
        _ => None,
    };
    let cfg = json!({"endpoints": [endpoint("/f", json!({"function_name": "f"}))]});
    let config = parse(&serde_json::to_vec(&cfg).unwrap(), &env).unwrap();
    assert_eq!(config.endpoints[0].primary.lambda.region, "eu-central-1");
    assert_eq!(
        config.endpoints[0].primary.lambda.host,
        "lambda.eu-central-1.amazonaws.com"
    );
    let Some(Provider {
        base: Base::Fixed(keys),
        ..
    }) = config.credentials().cloned()
    else {
        panic!("environment keys expected");
    };
    assert_eq!(keys.access_key_id, "ENVKEY");

    // Nothing else configured: EC2 instance metadata, last in the SDKs' chain.
    let empty = serde_json::to_vec(&json!({"endpoints": []})).unwrap();
    let config = parse(&empty, &no_env).unwrap();
    assert!(matches!(
        config.credentials(),
        Some(Provider {
            base: Base::InstanceMetadata(_),
            ..
        })
    ));
    let disabled = |k: &str| (k == "AWS_EC2_METADATA_DISABLED").then(|| "true".to_string());
    assert!(parse(&empty, &disabled).unwrap().credentials().is_none());

    let half = |k: &str| (k == "AWS_ACCESS_KEY_ID").then(|| "K".to_string());
    let e = parse(b"{}", &half).unwrap_err();
    assert!(matches!(e.problem, Problem::Credentials(_)));

    let e = load_err(json!({"credentials": {"access_key_id": "A"}, "endpoints": []}));
    assert_eq!(
        (e.key.as_str(), e.problem),
        ("credentials.secret_access_key", Problem::Missing)
    );
    let e = load_err(
        json!({"credentials": {"access_key_id": "A", "secret_access_key": "S", "x": 1}, "endpoints": []}),
    );
    assert_eq!(
        (e.key.as_str(), e.problem),
        ("credentials.x", Problem::UnknownKey)
    );
}

#[test]
fn endpoint_urls() {
    assert_eq!(
        parse_endpoint_url("http://127.0.0.1:4566"),
        Some(("127.0.0.1:4566".into(), "".into()))
    );
    assert_eq!(
        parse_endpoint_url("https://vpce.example.com/"),
        Some(("vpce.example.com".into(), "".into()))
    );
    assert_eq!(
        parse_endpoint_url("localstack:4566/prefix/"),
        Some(("localstack:4566".into(), "/prefix".into()))
    );
    assert_eq!(
        parse_endpoint_url("http://[::1]:4566"),
        Some(("[::1]:4566".into(), "".into()))
    );
    assert_eq!(parse_endpoint_url("http://"), None);
    assert_eq!(parse_endpoint_url("http://h:x"), None);
    assert_eq!(parse_endpoint_url("http://h/p?q"), None);
}

#[test]
fn invoke_options_exposure_and_error_policy() {
    let config = load(json!({"endpoints": [endpoint("/f/{fn}", json!({
        "function_param_name": "Fn", "region": "us-east-1",
        "allowed_functions": ["orders-*"], "qualifier": "live",
        "log_type": "Tail", "client_context": {"custom": {"a": "b"}, "env": {}},
        "errors": {"unhandled_status": 500, "timeout_status": 503,
                   "error_types": {"NotFound": 404}, "aws_error_types": {"ResourceConflictException": 409}}
    }))]}))
    .unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let l = &config.endpoints[0].primary.lambda;
    assert!(l.allowed.as_ref().unwrap().allows("orders-1"));
    assert_eq!(l.qualifier.as_deref(), Some("live"));
    assert!(l.log_tail);
    assert_eq!(l.invocation_type, InvocationType::RequestResponse);
    assert_eq!(l.errors.unhandled_status, 500);
    assert_eq!(l.errors.handled_status, 502);
    assert_eq!(l.errors.timeout_status, 503);
    assert_eq!(l.errors.error_types, vec![("NotFound".to_string(), 404)]);
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(l.client_context.as_ref().unwrap())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&decoded).unwrap(),
        json!({"custom": {"a": "b"}, "env": {}})
    );

    let config = load(
        json!({"endpoints": [endpoint("/c", json!({"region": "us-east-1",
        "functions": [{"name": "fn:3", "weight": 20}, {"name": "fn:2", "weight": 80}]}))]}),
    )
    .unwrap();
    assert!(
        matches!(&config.endpoints[0].primary.lambda.function, FunctionSource::Weighted(t) if t.len() == 2)
    );

    let config = load(json!({"endpoints": [endpoint("/h", json!({"region": "us-east-1",
        "function_header_name": "X-Fn", "function_name": "default", "allowed_functions": ["*"]}))]})).unwrap();
    assert!(matches!(&config.endpoints[0].primary.lambda.function,
        FunctionSource::Header { name, default: Some(d) } if name == "x-fn" && d.as_str() == "default"));
}

#[test]
fn refuses_bad_invoke_options() {
    let bad = |lambda: Value| {
        let e = load_err(json!({"endpoints": [endpoint("/f/{fn}", lambda)]}));
        (
            e.key
                .rsplit("backend/lambda.")
                .next()
                .unwrap_or_default()
                .to_string(),
            e.problem,
        )
    };
    let r = json!("us-east-1");
    let (key, p) = bad(json!({"function_name": "f", "allowed_functions": ["f"], "region": r}));
    assert_eq!(
        (key.as_str(), p),
        ("allowed_functions", Problem::NotRequestDriven)
    );
    let (key, p) =
        bad(json!({"function_param_name": "Fn", "allowed_functions": ["a b"], "region": r}));
    assert_eq!(key, "allowed_functions");
    assert!(matches!(p, Problem::AllowPattern(_)));
    let (key, p) = bad(json!({"function_name": "f:blue", "qualifier": "green", "region": r}));
    assert_eq!(
        (key.as_str(), p),
        (
            "qualifier",
            Problem::QualifierConflict("green".into(), "blue".into())
        )
    );
    let (_, p) = bad(json!({"function_name": "f", "qualifier": "a.b", "region": r}));
    assert!(matches!(p, Problem::Qualifier(..)));
    let (key, p) = bad(json!({"function_name": "f", "invocation_type": "Async", "region": r}));
    assert_eq!(
        (key.as_str(), p),
        (
            "invocation_type",
            Problem::OneOf("RequestResponse, Event, DryRun")
        )
    );
    let (key, p) = bad(
        json!({"function_name": "f", "invocation_type": "Event", "log_type": "Tail", "region": r}),
    );
    assert_eq!((key.as_str(), p), ("log_type", Problem::SyncOnly));
    let (key, p) =
        bad(json!({"function_name": "f", "client_context": {"client": "KrakenD"}, "region": r}));
    assert_eq!(
        (key.as_str(), p),
        ("client_context", Problem::ClientContextShape)
    );
    let (key, p) = bad(
        json!({"function_name": "f", "client_context": {"custom": {"x": "y".repeat(3000)}}, "region": r}),
    );
    assert_eq!(key, "client_context");
    assert!(matches!(p, Problem::ClientContextSize(_, 3583)));
    let (key, p) =
        bad(json!({"function_name": "f", "errors": {"handled_status": 700}, "region": r}));
    assert_eq!(
        (key.as_str(), p),
        ("errors.handled_status", Problem::Status)
    );
    let (key, p) =
        bad(json!({"function_name": "f", "errors": {"error_types": {"X": "404"}}, "region": r}));
    assert_eq!((key.as_str(), p), ("errors.error_types.X", Problem::Status));
    let (key, p) = bad(json!({"function_name": "f", "errors": {"typo": 1}, "region": r}));
    assert_eq!((key.as_str(), p), ("errors.typo", Problem::UnknownKey));
    let (key, p) = bad(json!({"functions": [{"name": "a", "weight": 0}], "region": r}));
    assert_eq!((key.as_str(), p), ("functions", Problem::Weights));
    let (key, p) = bad(json!({"functions": [{"name": "a", "weight": -1}], "region": r}));
    assert_eq!((key.as_str(), p), ("functions[0].weight", Problem::Weights));
    let (key, _) = bad(json!({"functions": [{"name": "bad name"}], "region": r}));
    assert_eq!(key, "functions[0].name");
    let (key, p) = bad(json!({"functions": [{"name": "a", "w": 1}], "region": r}));
    assert_eq!((key.as_str(), p), ("functions[0].w", Problem::UnknownKey));
    let (key, p) = bad(json!({"functions": [{"name": "a"}], "function_name": "b", "region": r}));
    assert_eq!(
        (key.as_str(), p),
        (
            "functions",
            Problem::FunctionSources("function_name and functions".into())
        )
    );
    let (key, p) = bad(json!({"function_header_name": "bad header", "region": r}));
    assert_eq!(
        (key.as_str(), p),
        (
            "function_header_name",
            Problem::HeaderName("bad header".into())
        )
    );
}

fn provider_with(env: &dyn Fn(&str) -> Option<String>, credentials: Value) -> Option<Provider> {
    let cfg = json!({"credentials": credentials, "endpoints": []});
    parse(&serde_json::to_vec(&cfg).unwrap(), env)
        .unwrap()
        .credentials()
        .cloned()
}

#[test]
fn credential_chain_follows_the_sdk_order() {
    let ecs = |k: &str| match k {
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" => Some("/v2/credentials/abc".to_string()),
        "AWS_REGION" => Some("eu-west-1".to_string()),
        _ => None,
    };
    let Some(Provider {
        base: Base::Container(c),
        assume_role: None,
    }) = provider_with(&ecs, json!({}))
    else {
        panic!()
    };
    assert_eq!(
        (
            c.upstream.cluster.as_str(),
            c.upstream.authority.as_str(),
            c.path.as_str()
        ),
        (
            "container_credentials",
            "169.254.170.2",
            "/v2/credentials/abc"
        )
    );

    let pod = |k: &str| match k {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI" => {
            Some("http://169.254.170.23/v1/credentials".to_string())
        }
        "AWS_CONTAINER_AUTHORIZATION_TOKEN" => Some("tok".to_string()),
        "AWS_ACCESS_KEY_ID" => Some("ENV".to_string()),
        "AWS_SECRET_ACCESS_KEY" => Some("S".to_string()),
        _ => None,
    };
    // Environment keys come before the container in the default chain...
    assert!(matches!(
        provider_with(&pod, json!({})),
        Some(Provider {
            base: Base::Fixed(_),
            ..
        })
    ));
    // ...unless the chain says otherwise.
    let Some(Provider {
        base: Base::Container(c),
        ..
    }) = provider_with(
        &pod,
        json!({"chain": ["container"], "container": {"cluster": "pod_identity"}}),
    )
    else {
        panic!()
    };
    assert_eq!(
        (
            c.upstream.cluster.as_str(),
            c.upstream.authority.as_str(),
            c.path.as_str(),
            c.authorization.as_deref()
        ),
        (
            "pod_identity",
            "169.254.170.23",
            "/v1/credentials",
            Some("tok")
        )
    );

    let web = |k: &str| match k {
        "AWS_ROLE_ARN" => Some("arn:aws:iam::123456789012:role/web".to_string()),
        "AWS_WEB_IDENTITY_TOKEN" => Some("jwt".to_string()),
        _ => None,
    };
    let Some(Provider {
        base: Base::WebIdentity { role, token },
        ..
    }) = provider_with(&web, json!({}))
    else {
        panic!()
    };
    assert_eq!(
        (
            role.upstream.authority.as_str(),
            token.as_str(),
            role.session_name.as_str()
        ),
        ("sts.us-east-1.amazonaws.com", "jwt", "lambda-wasm")
    );

    let Some(Provider {
        base: Base::InstanceMetadata(u),
        assume_role: Some(role),
    }) = provider_with(
        &no_env,
        json!({
            "instance_metadata": {"cluster": "metadata"},
            "assume_role": {"role_arn": "arn:aws:iam::123456789012:role/invoker", "external_id": "x", "duration": "1h",
                            "endpoint": "http://127.0.0.1:5000", "cluster": "local_sts"}
        }),
    )
    else {
        panic!()
    };
    assert_eq!(
        (u.cluster.as_str(), u.authority.as_str()),
        ("metadata", "169.254.169.254")
    );
    assert_eq!(
        (
            role.upstream.cluster.as_str(),
            role.upstream.authority.as_str()
        ),
        ("local_sts", "127.0.0.1:5000")
    );
    assert_eq!(
        (role.duration, role.external_id.as_deref()),
        (Some(Duration::from_secs(3600)), Some("x"))
    );
}

#[test]
fn refuses_bad_credential_settings() {
    let err = |credentials: Value| load_err(json!({"credentials": credentials, "endpoints": []}));
    let e = err(json!({"chain": ["environment", "vault"]}));
    assert_eq!(
        (e.key.as_str(), e.problem),
        ("credentials.chain", Problem::UnknownSource("vault".into()))
    );
    let e = err(json!({"assume_role": {"role_arn": "arn:aws:iam::1:role/r", "duration": "5m"}}));
    assert_eq!(
        (e.key.as_str(), e.problem),
        (
            "credentials.assume_role.duration",
            Problem::StsDuration("5m".into())
        )
    );
    let e = err(json!({"assume_role": {"role_arn": "not an arn"}}));
    assert_eq!(e.key, "credentials.assume_role.role_arn");
    let e = err(json!({"assume_role": {}}));
    assert_eq!(
        (e.key.as_str(), e.problem),
        ("credentials.assume_role.role_arn", Problem::Missing)
    );
    let e = err(json!({"container": {"uri": "http://a b"}}));
    assert_eq!(e.key, "credentials.container.uri");
    let e = err(json!({"container": {"clustr": "x"}}));
    assert_eq!(
        (e.key.as_str(), e.problem),
        ("credentials.container.clustr", Problem::UnknownKey)
    );
    let e = err(json!({"web_identity": {"role_arn": "arn:aws:iam::1:role/r"}}));
    assert_eq!(
        (e.key.as_str(), e.problem),
        ("credentials.web_identity", Problem::WebIdentityIncomplete)
    );
    let e = err(json!({"refresh_before": "soon"}));
    assert_eq!(e.key, "credentials.refresh_before");
    let e = err(json!({"chain": ["static"], "assume_role": {"role_arn": "arn:aws:iam::1:role/r"}}));
    assert_eq!(
        (e.key.as_str(), e.problem),
        ("credentials.assume_role", Problem::NoBaseCredentials)
    );
}

#[test]
fn event_and_response_formats() {
    let lambda = |block: Value| {
        let mut b = json!({"function_name": "f", "region": "us-east-1"});
        b.as_object_mut()
            .unwrap()
            .extend(block.as_object().unwrap().clone());
        load(json!({"endpoints": [endpoint("/f", b)]}))
            .map(|c| c.endpoints[0].primary.lambda.clone())
    };
    let l = lambda(json!({})).unwrap();
    assert_eq!(
        (l.event_format, l.response_format),
        (EventFormat::Krakend, ResponseFormat::Krakend)
    );
    let l = lambda(json!({"event_format": "apigw_v2"})).unwrap();
    assert_eq!(l.response_format, ResponseFormat::Apigw { infer: true });
    let l = lambda(json!({"event_format": "apigw_v1", "event_headers": {"allow": ["Authorization", "x-*"], "deny": ["x-secret"]},
                          "binary_media_types": ["image/*"]})).unwrap();
    assert_eq!(l.response_format, ResponseFormat::Apigw { infer: false });
    assert_eq!(
        l.event.allow_headers,
        Some(vec!["authorization".to_string(), "x-*".to_string()])
    );
    assert_eq!(l.event.deny_headers, vec!["x-secret".to_string()]);
    let l = lambda(json!({"event_format": "apigw_v1", "response_format": "krakend"})).unwrap();
    assert_eq!(l.response_format, ResponseFormat::Krakend);
    let l = lambda(json!({"event_format": "raw", "response_format": "apigw"})).unwrap();
    assert_eq!(l.response_format, ResponseFormat::Apigw { infer: false });

    let problem = |block: Value| lambda(block).unwrap_err().problem;
    assert_eq!(
        problem(json!({"event_format": "v3"})),
        Problem::OneOf("krakend, apigw_v1, apigw_v2, raw")
    );
    assert_eq!(
        problem(json!({"response_format": "json"})),
        Problem::OneOf("krakend, apigw")
    );
    assert_eq!(
        problem(json!({"event_format": "apigw_v2", "event_headers": {"only": []}})),
        Problem::UnknownKey
    );
    assert_eq!(
        problem(json!({"event_format": "apigw_v2", "binary_media_types": ["png"]})),
        Problem::MediaType("png".into())
    );
    assert_eq!(
        problem(json!({"binary_media_types": ["image/*"]})),
        Problem::ApigwOnly
    );
}

#[test]
fn in_place_mode() {
    let post = |lambda: Value| {
        let mut e = endpoint("/orders", lambda);
        e["method"] = json!("POST");
        e
    };
    let config = load(json!({"endpoints": [
        post(json!({"function_name": "f", "region": "us-east-1", "mode": "in_place", "cluster": "signed"})),
        endpoint("/raw", json!({"function_name": "f", "region": "us-east-1", "mode": "in_place",
                                "cluster": "signed", "event_format": "raw"})),
        endpoint("/get", json!({"function_name": "f", "region": "us-east-1"})),
    ]}))
    .unwrap();
    let modes: Vec<Mode> = config
        .endpoints
        .iter()
        .map(|e| e.primary.lambda.mode)
        .collect();
    assert_eq!(modes, [Mode::InPlace, Mode::InPlace, Mode::Callout]);
    assert!(config.signs_with_top_level());
    assert!(config.credentials().is_some());

    // Only in-place endpoints: Envoy signs, the filter looks for no credentials.
    let config = load(json!({"endpoints": [
        post(json!({"function_name": "f", "region": "us-east-1", "mode": "in_place"})),
    ]}))
    .unwrap();
    assert!(!config.signs_with_top_level());
    assert!(config.credentials().is_none());
    assert!(config
        .warnings
        .iter()
        .any(|w| w.contains("`credentials` is not used")));

    let refused = [
        // KrakenD GET payloads are built from the placeholders: no request body to send on.
        (
            endpoint(
                "/get",
                json!({"function_name": "f", "region": "us-east-1", "mode": "in_place"}),
            ),
            "mode",
            Problem::InPlaceNeedsBody,
        ),
        (
            post(
                json!({"function_name": "f", "region": "us-east-1", "mode": "in_place",
                        "event_format": "apigw_v1"}),
            ),
            "mode",
            Problem::InPlaceNeedsBody,
        ),
        (
            post(
                json!({"function_name": "f", "region": "us-east-1", "mode": "in_place", "max_retries": 1}),
            ),
            "max_retries",
            Problem::InPlaceRetries,
        ),
        (
            post(json!({"function_name": "f", "region": "us-east-1", "mode": "inplace"})),
            "mode",
            Problem::OneOf("callout, in_place"),
        ),
    ];
    for (e, key, problem) in refused {
        let err = load_err(json!({ "endpoints": [e] }));
        assert_eq!(err.problem, problem);
        assert!(
            err.key.ends_with(&format!("backend/lambda.{key}")),
            "{}",
            err.key
        );
    }
    // One cluster cannot serve both: its signing filter would sign the callouts again.
    let err = load_err(json!({"endpoints": [
        endpoint("/get", json!({"function_name": "f", "region": "us-east-1"})),
        post(json!({"function_name": "f", "region": "us-east-1", "mode": "in_place"})),
    ]}));
    assert_eq!(err.problem, Problem::ClusterModes("lambda".into()));
    assert_eq!(err.endpoint.as_deref(), Some("POST /orders"));
}

#[test]
fn property_any_configuration_is_refused_or_loaded_never_a_panic() {
    let base = json!({
        "credentials": {"access_key_id": "AKID", "secret_access_key": "S",
                        "assume_role": {"role_arn": "arn:aws:iam::123456789012:role/r", "duration": "1h"}},
        "timeout": "3s",
        "endpoints": [
            {"endpoint": "/f/{lambda}", "method": "GET", "timeout": "2s", "backend": [{"host": ["x"], "url_pattern": "/x",
              "extra_config": {"backend/lambda": {"function_param_name": "Lambda", "region": "us-east-1",
                 "max_retries": 2, "allowed_functions": ["a*"], "errors": {"handled_status": 400},
                 "event_format": "apigw_v2", "event_headers": {"deny": ["x-a"]}}}}]},
            {"endpoint": "/g", "method": "POST", "backend": [{"host": ["x"], "url_pattern": "/x",
              "extra_config": {"backend/lambda": {"functions": [{"name": "a", "weight": 1}],
                 "region": "eu-west-1", "mode": "in_place", "cluster": "signed"}}}]}
        ]
    });
    let mut g = crate::testkit::Gen::new(7);
    let mut loaded = 0;
    for _ in 0..3000 {
        let mut config = base.clone();
        for _ in 0..=g.below(3) {
            g.mutate(&mut config);
        }
        let bytes = serde_json::to_vec(&config).unwrap();
        if let Ok(c) = parse(&bytes, &|_| None) {
            loaded += 1;
            assert!(c
                .endpoints
                .iter()
                .all(|e| e.timeout >= MIN_TIMEOUT && e.timeout <= MAX_TIMEOUT));
        }
    }
    assert!(
        loaded > 100,
        "the mutations still leave valid configurations ({loaded})"
    );
    for _ in 0..2000 {
        let _ = parse(&g.bytes(64), &|_| None);
    }
}

fn lambda_backend(function: &str) -> serde_json::Value {
    json!({"host": ["x"], "url_pattern": "/x",
           "extra_config": {"backend/lambda": {"function_name": function, "region": "us-east-1"}}})
}

#[test]
fn endpoints_aggregate_lambda_backends_with_krakend_manipulation() {
    let mut shadow = lambda_backend("s");
    shadow["extra_config"]["proxy"] = json!({"shadow": true});
    let mut grouped = lambda_backend("a");
    grouped["group"] = json!("a");
    let config = load(json!({"endpoints": [
        {"endpoint": "/agg", "backend": [grouped, lambda_backend("b"), shadow],
         "extra_config": {"proxy": {"flatmap_filter": [{"type": "del", "args": ["x"]}]},
                          "auth/validator": {}}}
    ]}))
    .unwrap();
    let e = &config.endpoints[0];
    assert_eq!(e.backends.len(), 3);
    assert_eq!(e.answering(), 2);
    assert_eq!(e.output, Output::Json);
    assert!(e.flatmap.is_some());
    assert!(config
        .warnings
        .join("\n")
        .contains("extra_config.auth/validator"));
    // One backend without manipulation: the bytes pass through; with any, KrakenD's JSON.
    let one = |backend: serde_json::Value, output: Option<&str>| {
        let mut ep = json!({"endpoint": "/one", "backend": [backend]});
        if let Some(o) = output {
            ep["output_encoding"] = json!(o);
        }
        load(json!({"endpoints": [ep]})).map(|c| c.endpoints[0].output)
    };
    assert_eq!(one(lambda_backend("f"), None).unwrap(), Output::Passthrough);
    assert_eq!(
        one(lambda_backend("f"), Some("no-op")).unwrap(),
        Output::Passthrough
    );
    assert_eq!(
        one(lambda_backend("f"), Some("string")).unwrap(),
        Output::String
    );
    assert_eq!(
        one(lambda_backend("f"), Some("json-collection")).unwrap(),
        Output::JsonCollection
    );
    let mut denied = lambda_backend("f");
    denied["deny"] = json!(["password_hash"]);
    assert_eq!(one(denied.clone(), None).unwrap(), Output::Json);
    assert_eq!(
        one(denied, Some("no-op")).unwrap_err().problem,
        Problem::NoOpAggregation
    );
    assert!(matches!(
        one(lambda_backend("f"), Some("xml")).unwrap_err().problem,
        Problem::OutputEncoding(_)
    ));
}

#[test]
fn what_cannot_be_aggregated_is_refused_naming_the_endpoint() {
    let refused = |endpoint: serde_json::Value| load_err(json!({"endpoints": [endpoint]}));
    let e = refused(json!({"endpoint": "/a", "output_encoding": "no-op",
                           "backend": [lambda_backend("a"), lambda_backend("b")]}));
    assert_eq!(e.problem, Problem::NoOpAggregation);
    assert!(
        e.to_string()
            .starts_with("endpoint GET /a: key `endpoints[0].output_encoding`"),
        "{e}"
    );
    let e = refused(
        json!({"endpoint": "/a", "extra_config": {"proxy": {"sequential": true}},
                           "backend": [lambda_backend("a"), lambda_backend("b")]}),
    );
    assert_eq!(e.problem, Problem::Sequential);
    let mut in_place = lambda_backend("a");
    in_place["extra_config"]["backend/lambda"]["mode"] = json!("in_place");
    in_place["deny"] = json!(["x"]);
    let e = refused(json!({"endpoint": "/a", "method": "POST", "backend": [in_place]}));
    assert_eq!(e.problem, Problem::InPlaceManipulation);
    let mut event = lambda_backend("a");
    event["extra_config"]["backend/lambda"]["invocation_type"] = json!("Event");
    let e = refused(json!({"endpoint": "/a", "backend": [event, lambda_backend("b")]}));
    assert_eq!(
        e.problem,
        Problem::ManipulationNeedsResult("invocation_type")
    );
    let mut shadow = lambda_backend("s");
    shadow["extra_config"]["proxy"] = json!({"shadow": true});
    assert_eq!(
        refused(json!({"endpoint": "/a", "backend": [shadow]})).problem,
        Problem::AllShadows
    );
    let mut bad = lambda_backend("a");
    bad["allow"] = json!("a,b");
    assert!(matches!(
        refused(json!({"endpoint": "/a", "backend": [bad]})).problem,
        Problem::Manipulation(_)
    ));
}

#[test]
fn comments_at_every_level_and_the_ce_1_4_form_load() {
    let config = load(json!({
        "_comment": "top", "#note": 1, "$schema": "x",
        "endpoints": [{"endpoint": "/f", "@c": 1, "_c": 2,
            "backend": [{"host": ["x"], "url_pattern": "/x", "#c": 3,
                "github.com/devopsfaith/krakend-lambda": {
                    "function_name": "f", "region": "us-east-1", "_why": "legacy",
                    "errors": {"@c": 1, "handled_status": 400}}}]}]
    }))
    .unwrap();
    assert_eq!(config.endpoints.len(), 1);
    assert_eq!(
        config.endpoints[0].primary.lambda.errors.handled_status,
        400
    );
    let w = config.warnings.join("\n");
    assert!(
        w.contains("KrakenD itself reads it from extra_config"),
        "{w}"
    );
    assert!(!w.contains("_comment") && !w.contains("#note"), "{w}");
}

#[test]
fn a_function_param_without_its_placeholder_points_to_the_alternatives() {
    let e = load_err(
        json!({"endpoints": [endpoint("/canary", json!({"function_param_name": "Lambda", "region": "us-east-1"}))]}),
    );
    let text = e.to_string();
    assert!(
        text.contains("functions") && text.contains("function_header_name"),
        "{text}"
    );
}

#[test]
fn the_krakend_error_preset_answers_function_errors_as_data() {
    let config = load(json!({"endpoints": [endpoint("/f", json!({"function_name": "f", "region": "us-east-1", "errors": "krakend"}))]})).unwrap();
    let policy = &config.endpoints[0].primary.lambda.errors;
    assert_eq!(
        (
            policy.handled_status,
            policy.unhandled_status,
            policy.timeout_status
        ),
        (200, 200, 200)
    );
    let e = load_err(
        json!({"endpoints": [endpoint("/f", json!({"function_name": "f", "region": "us-east-1", "errors": "kong"}))]}),
    );
    assert_eq!(e.problem, Problem::OneOf("krakend, or an object"));
}

#[test]
fn backends_choose_who_signs_and_may_bring_their_own_credentials() {
    let block = |extra: Value| {
        let mut b = json!({"function_name": "f", "region": "us-east-1"});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let role = |account: &str| {
        json!({"access_key_id": "BASE", "secret_access_key": "S",
        "assume_role": {"role_arn": format!("arn:aws:iam::{account}:role/invoker"), "external_id": "gw"}})
    };
    let config = load(json!({"endpoints": [
        endpoint("/a", block(json!({"credentials": role("222222222222")}))),
        endpoint("/b", block(json!({"credentials": role("222222222222"), "cluster": "other"}))),
        endpoint("/c", block(json!({"credentials": role("333333333333")}))),
        endpoint("/d", block(json!({"signing": "envoy", "cluster": "lambda_signed"}))),
        endpoint("/e", block(json!({}))),
    ]}))
    .unwrap();
    let sources: Vec<usize> = config
        .endpoints
        .iter()
        .map(|e| e.primary.lambda.source)
        .collect();
    assert_eq!(
        sources,
        vec![1, 1, 2, 0, 0],
        "equal blocks share one source"
    );
    assert_eq!(config.sources.len(), 3);
    assert!(config.sources[1]
        .provider
        .as_ref()
        .unwrap()
        .assume_role
        .is_some());
    assert_eq!(config.endpoints[3].primary.lambda.signing, Signing::Envoy);
    assert!(!config.endpoints[3].primary.lambda.signed_by_filter());
    assert!(
        config.signs_with_top_level(),
        "/e signs with the top-level keys"
    );

    let e = load_err(
        json!({"endpoints": [endpoint("/d", block(json!({"signing": "envoy", "credentials": role("1")})))]}),
    );
    assert_eq!(e.problem, Problem::EnvoySignsCredentials);
    let e = load_err(json!({"endpoints": [
        endpoint("/a", block(json!({}))),
        endpoint("/d", block(json!({"signing": "envoy"}))),
    ]}));
    assert!(matches!(e.problem, Problem::ClusterModes(_)), "{e}");
    let e = load_err(json!({"endpoints": [endpoint("/a", block(json!({"signing": "aws"})))]}));
    assert_eq!(e.problem, Problem::OneOf("filter, envoy"));
    let e = load_err(
        json!({"endpoints": [endpoint("/a", block(json!({"credentials": {"chain": ["vault"]}})))]}),
    );
    assert!(
        e.to_string().contains("backend/lambda.credentials.chain"),
        "{e}"
    );
}

#[test]
fn top_level_credentials_are_dropped_when_only_envoy_signs() {
    let config = load(
        json!({"endpoints": [endpoint("/d", json!({"function_name": "f", "region": "us-east-1",
                                                                  "signing": "envoy"}))]}),
    )
    .unwrap();
    assert!(config.credentials().is_none());
    assert!(!config.signs_with_top_level());
    assert!(config
        .warnings
        .join("\n")
        .contains("`credentials` is not used"));
}

#[test]
fn function_url_targets_load_in_place_and_refuse_invoke_keys() {
    let url = json!({"url": "https://abc123.lambda-url.eu-west-1.on.aws", "strip_prefix": "/api"});
    let config = load(
        json!({"endpoints": [endpoint("/api/{x}", json!({"function_url": url, "cluster": "u"}))]}),
    )
    .unwrap();
    let lambda = &config.endpoints[0].primary.lambda;
    assert_eq!(lambda.mode, Mode::InPlace);
    assert_eq!(lambda.region, "eu-west-1");
    assert_eq!(lambda.host, "abc123.lambda-url.eu-west-1.on.aws");
    assert!(lambda
        .url
        .as_ref()
        .is_some_and(|u| u.iam && u.strip_prefix.as_deref() == Some("/api")));
    let refused = |block: Value| load_err(json!({"endpoints": [endpoint("/f", block)]})).problem;
    assert_eq!(
        refused(json!({"function_url": url, "function_name": "f"})),
        Problem::NotWithFunctionUrl
    );
    assert_eq!(
        refused(json!({"function_url": url, "mode": "callout"})),
        Problem::NotWithFunctionUrl
    );
    assert_eq!(
        refused(json!({"function_url": {"url": "https://x.on.aws/path"}})),
        Problem::FunctionUrl
    );
    assert_eq!(
        refused(json!({"function_url": {"url": "https://x.on.aws", "auth": "basic"}})),
        Problem::FunctionUrl
    );
}
