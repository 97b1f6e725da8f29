//! Every bound the filter enforces on its configuration, checked at its edges (below the minimum, at
//! it, at the maximum, above it) with the real parser, `lambda_wasm::config::parse`.
//!
//! The cases and the filter's verdicts go to `target/schema-bounds.json`, where tests/test_schema.py
//! validates each configuration against the published schema (envoy/lambda-wasm.schema.json) and fails
//! where the schema's verdict differs: the two sides must agree on every bound.
//!
//! A case may carry `schema_gap`: a bound the schema cannot express (the reason is given); pytest expects the
//!   schema's verdict to differ, and fails if it stops differing.

use serde_json::{json, Value};
use std::path::Path;

const NO_INTEGER_TYPE: &str =
    "JSON Schema cannot tell 2.0 from 2: `integer` accepts both, the filter only whole-number literals";
const NO_SUM: &str =
    "a pattern cannot add duration terms up: the schema takes h, m and s in order only";
const NO_SIZE: &str = "JSON Schema cannot measure the encoded size of an object";

struct Case {
    id: String,
    config: Value,
    accept: bool,
    schema_gap: Option<&'static str>,
}

#[derive(Default)]
struct Cases(Vec<Case>);

impl Cases {
    fn add(&mut self, id: impl Into<String>, config: Value, accept: bool) -> &mut Case {
        self.0.push(Case {
            id: id.into(),
            config,
            accept,
            schema_gap: None,
        });
        self.0.last_mut().unwrap()
    }
}

fn config(block: Value, endpoint: Value, top: Value) -> Value {
    let mut lambda = json!({"region": "us-east-1", "function_name": "f"});
    merge(&mut lambda, block);
    let mut ep = json!({"endpoint": "/f/{fn}", "method": "GET", "backend": [{
        "host": ["ignored"], "url_pattern": "/ignored",
        "extra_config": {"backend/lambda": lambda}}]});
    merge(&mut ep, endpoint);
    let mut root = json!({
        "credentials": {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "not-a-real-secret"},
        "endpoints": [ep]});
    merge(&mut root, top);
    root
}

/// Sets the keys of `patch` in `target`, recursively; a null removes the key.
fn merge(target: &mut Value, patch: Value) {
    let (Some(t), Value::Object(p)) = (target.as_object_mut(), patch) else {
        return;
    };
    for (k, v) in p {
        match (t.get_mut(&k), v) {
            (_, Value::Null) => {
                t.remove(&k);
            }
            (Some(existing @ Value::Object(_)), v @ Value::Object(_)) => merge(existing, v),
            (_, v) => {
                t.insert(k, v);
            }
        }
    }
}

fn block(b: Value) -> Value {
    config(b, json!({}), json!({}))
}

fn header_sourced(b: Value) -> Value {
    let mut with_header = json!({"function_name": null, "function_header_name": "x-fn"});
    merge(&mut with_header, b);
    block(with_header)
}

fn credentials(c: Value) -> Value {
    config(json!({}), json!({}), json!({"credentials": c}))
}

fn assume_role(role: Value) -> Value {
    let mut r = json!({"role_arn": "arn:aws:iam::123456789012:role/invoker"});
    merge(&mut r, role);
    credentials(json!({"assume_role": r}))
}

fn web_identity(w: Value) -> Value {
    let mut r = json!({"role_arn": "arn:aws:iam::123456789012:role/invoker", "token": "t"});
    merge(&mut r, w);
    config(
        json!({}),
        json!({}),
        json!({"credentials": {"chain": ["web_identity"], "web_identity": r}}),
    )
}

fn durations(cases: &mut Cases) {
    // Endpoint timeout and the top-level default: 1ms to 1h.
    let below_1ms = ["999us", "999999ns", "0.999ms", "500us", "0.000999s"];
    let from_1ms_to_1h = [
        "1ms",
        "1000us",
        "1000µs",
        "1000000ns",
        "0.001s",
        "+1ms",
        "3s",
        "1.5s",
        "1m30s",
        "1m30.5s",
        "0h0m0.001s",
        "1h",
        "60m",
        "3600s",
        "3600000ms",
        "1h0m0s",
        "59m59.999999999s",
        "0.5h",
    ];
    let above_1h = [
        "3600.000000001s",
        "1h0m0.000000001s",
        "60m0.000000001s",
        "3600000000001ns",
        "61m",
        "2h",
        "1h1s",
        "1.0001h",
    ];
    for (key, make) in [
        (
            "timeout",
            (|t: &str| config(json!({}), json!({"timeout": t}), json!({}))) as fn(&str) -> Value,
        ),
        ("top.timeout", |t: &str| {
            config(json!({}), json!({}), json!({"timeout": t}))
        }),
    ] {
        for t in below_1ms {
            cases.add(format!("{key}={t}"), make(t), false);
        }
        for t in ["0s", "0.5ns", "-1s"] {
            cases.add(format!("{key}={t}"), make(t), false);
        }
        for t in from_1ms_to_1h {
            cases.add(format!("{key}={t}"), make(t), true);
        }
        for t in above_1h {
            cases.add(format!("{key}={t}"), make(t), false);
        }
    }
    cases
        .add(
            "timeout=30m30m",
            config(json!({}), json!({"timeout": "30m30m"}), json!({})),
            true,
        )
        .schema_gap = Some(NO_SUM);

    // credentials.refresh_before: above 0, at most 1h.
    for (t, accept) in [
        ("0s", false),
        ("0.5ns", false),
        ("1ns", true),
        ("0.000000001s", true),
        ("999us", true),
        ("5m", true),
        ("1h", true),
        ("3600s", true),
        ("1h0m0.000000001s", false),
        ("61m", false),
    ] {
        cases.add(
            format!("refresh_before={t}"),
            credentials(json!({"access_key_id": "AKIDEXAMPLE", "secret_access_key": "x", "refresh_before": t})),
            accept,
        );
    }

    // STS durations: whole seconds from 900 to 43200.
    for (t, accept) in [
        ("1m", false),
        ("14m59s", false),
        ("14m59.999999999s", false),
        ("899999999999ns", false),
        ("15m", true),
        ("900s", true),
        ("0.25h", true),
        ("0h15m", true),
        ("1h", true),
        ("12h", true),
        ("720m", true),
        ("43200s", true),
        ("12h0m0.999999999s", true),
        ("43200999ms", true),
        ("43200999999999ns", true),
        ("12h1s", false),
        ("720m1s", false),
        ("43201s", false),
        ("43201000ms", false),
        ("13h", false),
    ] {
        cases.add(
            format!("assume_role.duration={t}"),
            assume_role(json!({"duration": t})),
            accept,
        );
    }
    cases
        .add(
            "assume_role.duration=12h999ms",
            assume_role(json!({"duration": "12h999ms"})),
            true,
        )
        .schema_gap = Some(NO_SUM);
    for (t, accept) in [
        ("14m59s", false),
        ("15m", true),
        ("12h0.999999999s", true),
        ("12h1s", false),
    ] {
        cases.add(
            format!("web_identity.duration={t}"),
            web_identity(json!({"duration": t})),
            accept,
        );
    }
}

fn numbers(cases: &mut Cases) {
    for (n, accept) in [
        (json!(-2), false),
        (json!(-1), true),
        (json!(0), true),
        (json!(10), true),
        (json!(11), false),
    ] {
        cases.add(
            format!("max_retries={n}"),
            block(json!({"max_retries": n})),
            accept,
        );
    }
    cases
        .add("max_retries=2.0", block(json!({"max_retries": 2.0})), false)
        .schema_gap = Some(NO_INTEGER_TYPE);

    for key in [
        "handled_status",
        "unhandled_status",
        "timeout_status",
        "error_types",
        "aws_error_types",
    ] {
        for (status, accept) in [(99, false), (100, true), (599, true), (600, false)] {
            let errors = if key.ends_with("_types") {
                json!({key: {"SomeError": status}})
            } else {
                json!({key: status})
            };
            cases.add(
                format!("errors.{key}={status}"),
                block(json!({"errors": errors})),
                accept,
            );
        }
    }
    cases
        .add(
            "errors.handled_status=500.0",
            block(json!({"errors": {"handled_status": 500.0}})),
            false,
        )
        .schema_gap = Some(NO_INTEGER_TYPE);

    let weighted = |list: Value| block(json!({"function_name": null, "functions": list}));
    for (id, list, accept) in [
        ("all-zero", json!([{"name": "f", "weight": 0}]), false),
        (
            "zero-and-one",
            json!([{"name": "f", "weight": 0}, {"name": "g", "weight": 1}]),
            true,
        ),
        (
            "zero-and-default",
            json!([{"name": "f", "weight": 0}, {"name": "g"}]),
            true,
        ),
        ("default", json!([{"name": "f"}]), true),
        (
            "negative",
            json!([{"name": "f", "weight": -1}, {"name": "g"}]),
            false,
        ),
        (
            "u32-max",
            json!([{"name": "f", "weight": 4294967295u64}]),
            true,
        ),
        (
            "u32-max+1",
            json!([{"name": "f", "weight": 4294967296u64}]),
            false,
        ),
        ("empty", json!([]), false),
    ] {
        cases.add(format!("functions.weight:{id}"), weighted(list), accept);
    }
    cases
        .add(
            "functions.weight:1.0",
            weighted(json!([{"name": "f", "weight": 1.0}])),
            false,
        )
        .schema_gap = Some(NO_INTEGER_TYPE);
}

fn strings(cases: &mut Cases) {
    let name = |n: usize| "n".repeat(n);
    let qualifier = |n: usize| "q".repeat(n);
    let arn = |dashes: usize| {
        format!(
            "arn:aws{}:lambda:us-east-1:123456789012:function:{}:{}",
            "-".repeat(dashes),
            name(64),
            qualifier(128)
        )
    };
    assert_eq!(arn(16).len(), 256);
    for (id, f, accept) in [
        ("name-64", name(64), true),
        ("name-65", name(65), false),
        ("qualifier-128", format!("f:{}", qualifier(128)), true),
        ("qualifier-129", format!("f:{}", qualifier(129)), false),
        ("arn-256", arn(16), true),
        ("arn-257", arn(17), false),
        ("empty", String::new(), false),
        ("dots", "..".to_string(), false),
        ("dots-qualified", "function:.:live".to_string(), false),
        ("dots-and-letters", "a..".to_string(), true),
        ("latest", "f:$LATEST".to_string(), true),
        ("latest-published", "f:$LATEST.PUBLISHED".to_string(), true),
        (
            "partial-arn",
            "us-gov-west-1:123456789012:function:f".to_string(),
            true,
        ),
        (
            "account-11-digits",
            "12345678901:function:f".to_string(),
            false,
        ),
    ] {
        cases.add(
            format!("function_name:{id}"),
            block(json!({"function_name": f})),
            accept,
        );
    }
    for (id, f, accept) in [("name-64", name(64), true), ("name-65", name(65), false)] {
        cases.add(
            format!("functions.name:{id}"),
            block(json!({"function_name": null, "functions": [{"name": f}]})),
            accept,
        );
    }
    for (id, q, accept) in [
        ("128", qualifier(128), true),
        ("129", qualifier(129), false),
        ("empty", String::new(), false),
        ("latest", "$LATEST".to_string(), true),
        ("dot", "v.1".to_string(), false),
    ] {
        cases.add(
            format!("qualifier:{id}"),
            block(json!({"qualifier": q})),
            accept,
        );
    }
    for key in ["function_header_name", "qualifier_header_name"] {
        for (id, h, accept) in [
            ("empty", "", false),
            ("token", "X-Fn_1.~!", true),
            ("space", "x fn", false),
            ("colon", "x:fn", false),
        ] {
            cases.add(
                format!("{key}:{id}"),
                header_sourced(json!({key: h})),
                accept,
            );
        }
    }
    for (id, list, accept) in [
        ("glob", json!(["fn-*", "*:live", "$LATEST"]), true),
        ("star", json!(["*"]), true),
        ("empty-pattern", json!([""]), false),
        ("slash", json!(["fn/x"]), false),
        ("none", json!([]), true),
    ] {
        cases.add(
            format!("allowed_functions:{id}"),
            header_sourced(json!({"allowed_functions": list})),
            accept,
        );
    }

    // X-Amz-Client-Context: at most 3583 bytes of base64, so 2685 bytes of compact JSON.
    let context =
        |bytes: usize| json!({"custom": {"k": "x".repeat(bytes - r#"{"custom":{"k":""}}"#.len())}});
    assert_eq!(context(2685).to_string().len(), 2685);
    cases.add(
        "client_context:2685-bytes",
        block(json!({"client_context": context(2685)})),
        true,
    );
    cases
        .add(
            "client_context:2686-bytes",
            block(json!({"client_context": context(2686)})),
            false,
        )
        .schema_gap = Some(NO_SIZE);
    cases.add(
        "client_context:other-key",
        block(json!({"client_context": {"user": {}}})),
        false,
    );

    for (id, url, accept) in [
        ("port-65535", "http://localhost:65535", true),
        ("port-65536", "http://localhost:65536", false),
        ("port-0", "http://localhost:0", true),
        ("port-leading-zeros", "http://localhost:0065535/x", true),
        ("port-empty", "http://localhost:", false),
        ("port-letters", "localhost:http", false),
        ("ipv6", "http://[::1]:4566/prefix/", true),
        ("ipv6-no-port", "http://[::1]", true),
        ("leading-colon", "http://:80", false),
        ("empty-host", "http://", false),
    ] {
        cases.add(
            format!("endpoint:{id}"),
            block(json!({"endpoint": url})),
            accept,
        );
    }
    for (id, url, accept) in [
        ("port-65535", "https://sts.local:65535", true),
        ("port-65536", "https://sts.local:65536", false),
    ] {
        cases.add(
            format!("assume_role.endpoint:{id}"),
            assume_role(json!({"endpoint": url})),
            accept,
        );
    }
    for (id, arn, accept) in [
        ("bare", "arn:", true),
        ("space", "arn:aws:iam::1:role/a b", false),
        ("not-arn", "role/a", false),
    ] {
        cases.add(
            format!("assume_role.role_arn:{id}"),
            assume_role(json!({"role_arn": arn})),
            accept,
        );
    }
    for (id, region, accept) in [
        ("empty", "", false),
        ("upper", "US-EAST-1", false),
        ("ok", "eu-west-3", true),
    ] {
        cases.add(
            format!("region:{id}"),
            block(json!({"region": region})),
            accept,
        );
    }
    let apigw = |extra: Value| {
        let mut b = json!({"event_format": "apigw_v1"});
        merge(&mut b, extra);
        block(b)
    };
    for (id, types, accept) in [
        (
            "subtype",
            json!(["image/png", "*/*", "application/*"]),
            true,
        ),
        ("two-slashes", json!(["a/b/c"]), true),
        ("no-slash", json!(["text"]), false),
    ] {
        cases.add(
            format!("binary_media_types:{id}"),
            apigw(json!({"binary_media_types": types})),
            accept,
        );
    }
    cases.add(
        "event_headers:empty-name",
        apigw(json!({"event_headers": {"allow": [""]}})),
        true,
    );
    for (m, accept) in [("Get", true), ("options", true), ("FETCH", false)] {
        cases.add(
            format!("method:{m}"),
            config(json!({}), json!({"method": m}), json!({})),
            accept,
        );
    }
}

#[test]
fn schema_bounds() {
    let mut cases = Cases::default();
    durations(&mut cases);
    numbers(&mut cases);
    strings(&mut cases);

    let env = |_: &str| -> Option<String> { None };
    let mut records = Vec::new();
    let mut wrong = Vec::new();
    for case in &cases.0 {
        let bytes = serde_json::to_vec(&case.config).unwrap();
        let verdict = lambda_wasm::config::parse(&bytes, &env).map_err(|e| e.to_string());
        let accepted = verdict.is_ok();
        let error = verdict.err();
        if accepted != case.accept {
            let line = format!(
                "{}: expected the filter to {}, it {} ({})",
                case.id,
                if case.accept { "accept" } else { "refuse" },
                if accepted { "accepted" } else { "refused" },
                error.as_deref().unwrap_or("no error"),
            );
            wrong.push(line);
        }
        records.push(json!({
            "id": case.id,
            "config": case.config,
            "expect_accept": case.accept,
            "filter_accepts": accepted,
            "filter_error": error,
            "schema_gap": case.schema_gap,
        }));
    }
    let ids: std::collections::HashSet<_> = cases.0.iter().map(|c| &c.id).collect();
    assert_eq!(ids.len(), cases.0.len(), "case ids must be unique");

    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/schema-bounds.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let text = serde_json::to_string_pretty(&json!({
        "about": "written by tests/schema_bounds.rs, read by tests/test_schema.py",
        "cases": records,
    }))
    .unwrap();
    std::fs::write(&out, text).unwrap();

    assert!(
        wrong.is_empty(),
        "the filter does not enforce these bounds as the cases (and the schema) say:\n{}",
        wrong.join("\n")
    );
}
