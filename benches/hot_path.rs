//! The filter's per-request work, natively: route matching, payload building, signing, and
//! mapping the answer. `cargo bench --bench hot_path` (or `make bench`, which also runs the load
//! benchmark in the real Envoy).

#[path = "common/fixtures.rs"]
mod fixtures;

use criterion::{criterion_group, criterion_main, Criterion};
use fixtures::{credentials, endpoints, route};
use lambda_wasm::invoke::{self, Invocation, Request, Signer};
use lambda_wasm::response::LambdaReply;
use lambda_wasm::sign::KeyCache;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

fn bench(c: &mut Criterion) {
    let config = endpoints();
    let eps = &config.endpoints;
    let creds = credentials();
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
