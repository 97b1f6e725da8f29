//! The filter's per-request work, natively: route matching, payload building, signing, and
//! mapping the answer. `cargo bench --bench hot_path` (or `make bench`, which also runs the load
//! benchmark in the real Envoy).

use criterion::{criterion_group, criterion_main, Criterion};
use lambda_wasm::config::{self, Config};
use lambda_wasm::credentials::Credentials;
use lambda_wasm::invoke::{self, Invocation, Request, Signer};
use lambda_wasm::response::LambdaReply;
use lambda_wasm::route::{Captures, Match};
use lambda_wasm::sign::KeyCache;
use serde_json::json;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

/// Twenty endpoints, the benchmarked ones last, as in a real gateway config.
fn endpoints() -> Config {
    let mut list: Vec<serde_json::Value> = (0..18)
        .map(|i| {
            json!({"endpoint": format!("/service{i}/{{id}}/items"), "backend": [{"host": ["x"], "url_pattern": "/x",
                "extra_config": {"backend/lambda": {"function_name": format!("fn{i}"), "region": "us-east-1"}}}]})
        })
        .collect();
    list.push(
        json!({"endpoint": "/bench/{id}", "backend": [{"host": ["x"], "url_pattern": "/x",
        "extra_config": {"backend/lambda": {"function_name": "bench", "region": "us-east-1"}}}]}),
    );
    list.push(
        json!({"endpoint": "/post", "method": "POST", "backend": [{"host": ["x"], "url_pattern": "/x",
        "extra_config": {"backend/lambda": {"function_name": "bench", "region": "us-east-1",
                                            "mode": "in_place", "cluster": "lambda_signed"}}}]}),
    );
    let config = json!({"credentials": {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
                        "endpoints": list});
    config::parse(&serde_json::to_vec(&config).unwrap(), &|_| None).unwrap()
}

/// The endpoint serving `method path` and its captures, as the engine finds them.
fn route(config: &Config, method: &str, path: &str) -> (usize, Captures) {
    let (endpoint, found) = config.route(method, path).unwrap();
    let Match::Exact(captures) = found else {
        panic!("redirected")
    };
    let index = config
        .endpoints
        .iter()
        .position(|e| std::rc::Rc::ptr_eq(e, endpoint))
        .unwrap();
    (index, captures)
}

fn bench(c: &mut Criterion) {
    let config = endpoints();
    let eps = &config.endpoints;
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: None,
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_316_645);
    let (index, captures) = route(&config, "GET", "/bench/42");
    let request = Request {
        captures,
        headers: vec![],
        meta: None,
    };
    let invocation =
        Invocation::new(&eps[index], &eps[index].primary, &request, vec![], now, 0.5).unwrap();
    let reply_headers = vec![
        (":status".to_string(), "200".to_string()),
        ("x-amzn-requestid".to_string(), "c0ffee".to_string()),
        ("x-amz-executed-version".to_string(), "$LATEST".to_string()),
    ];
    let body = br#"{"ok":true,"id":"42"}"#;

    c.bench_function("route::find (20 endpoints)", |b| {
        b.iter(|| {
            black_box(&config)
                .route("GET", black_box("/bench/42?x=1"))
                .is_some()
        })
    });
    c.bench_function("Invocation::new (KrakenD GET payload)", |b| {
        b.iter(|| {
            Invocation::new(
                &eps[index],
                &eps[index].primary,
                black_box(&request),
                vec![],
                now,
                0.5,
            )
        })
    });
    c.bench_function("invoke::callout (SigV4)", |b| {
        let mut keys = KeyCache::default();
        b.iter(|| invoke::callout(black_box(&invocation), &creds, &mut keys, now))
    });
    let reply = LambdaReply {
        status: Some(200),
        headers: &reply_headers,
        body,
    };
    let signer = Signer {
        credentials: Some(&creds),
        refreshable: false,
    };
    c.bench_function("after_reply (classify + map the answer)", |b| {
        b.iter(|| {
            let mut inv = invocation.clone();
            invoke::after_reply(&mut inv, black_box(&reply), signer, now, 0.5)
        })
    });
    let (post, post_captures) = route(&config, "POST", "/post");
    let post_request = Request {
        captures: post_captures,
        headers: vec![
            ("content-length".to_string(), "65536".to_string()),
            (":scheme".to_string(), "http".to_string()),
            ("x-forwarded-proto".to_string(), "http".to_string()),
        ],
        meta: None,
    };
    let lambda_headers = [
        reply_headers.clone(),
        vec![("content-length".to_string(), "21".to_string())],
    ]
    .concat();
    c.bench_function("in place: rewrite + map the answer's headers", |b| {
        b.iter(|| {
            let rewritten = invoke::rewrite(&eps[post], black_box(&post_request), now, 0.5);
            let passage = invoke::in_place_passage(&eps[post], 200, black_box(&lambda_headers));
            (rewritten, passage)
        })
    });
    let mut keys = KeyCache::default();
    c.bench_function("whole hot path", |b| {
        b.iter(|| {
            let (index, captures) = route(&config, "GET", black_box("/bench/42"));
            let request = Request {
                captures,
                headers: vec![],
                meta: None,
            };
            let mut inv =
                Invocation::new(&eps[index], &eps[index].primary, &request, vec![], now, 0.5)
                    .unwrap();
            let callout = invoke::callout(&inv, &creds, &mut keys, now).unwrap();
            black_box(callout);
            invoke::after_reply(&mut inv, &reply, signer, now, 0.5)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
