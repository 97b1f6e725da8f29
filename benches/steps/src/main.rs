//! The GET hot path step by step (see Cargo.toml): each step run many times on one request, the
//! mean printed as `step<TAB>microseconds`. The engine's whole GET runs against a host that
//! answers at once and does nothing else: what the filter's own code costs, without Envoy.

#[path = "../../common/fixtures.rs"]
mod fixtures;

use fixtures::{credentials, endpoints, plugin, route};
use lambda_wasm::engine::{Engine, Host, Level, MetricKind, Refused, Reply};
use lambda_wasm::invoke::{self, Invocation, Request, Signer};
use lambda_wasm::response::{ClientResponse, LambdaReply};
use lambda_wasm::sign::KeyCache;
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

const ANSWER: &[u8] = br#"{"ok":true,"id":"42"}"#;

fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_316_645)
}

fn answer_headers() -> Vec<(String, String)> {
    [
        (":status", "200"),
        ("x-amzn-requestid", "c0ffee"),
        ("x-amz-executed-version", "$LATEST"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Envoy reduced to answering: every callout, and every in-place request, gets the same 200 at
/// once. The request is `method path`.
struct Answering {
    token: Cell<u32>,
    request: Cell<(&'static str, &'static str)>,
}

impl Host for Answering {
    fn now(&self) -> SystemTime {
        at()
    }
    fn log(&self, _: Level, _: &str) {}
    fn dispatch(
        &self,
        _: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
        _: Duration,
    ) -> Result<u32, Refused> {
        black_box((headers, body));
        self.token.set(self.token.get() + 1);
        Ok(self.token.get())
    }
    fn callout_reply(&self, _: usize, _: usize) -> Reply {
        Reply {
            status: Some(200),
            headers: answer_headers(),
            body: ANSWER.to_vec(),
        }
    }
    fn set_tick(&self, _: Duration) {}
    fn shared_get(&self, _: &str) -> Option<(Vec<u8>, u32)> {
        None
    }
    fn shared_set(&self, _: &str, _: &[u8], _: Option<u32>) -> bool {
        true
    }
    fn define_metric(&self, _: MetricKind, _: &str) -> Option<u32> {
        Some(1)
    }
    fn add_metric(&self, _: MetricKind, _: u32, _: u64) {}
    fn request_headers(&self) -> Vec<(String, String)> {
        let (method, path) = self.request.get();
        vec![
            (":method".to_string(), method.to_string()),
            (":path".to_string(), path.to_string()),
            ("content-length".to_string(), "65536".to_string()),
        ]
    }
    fn property(&self, _: &[&str]) -> Option<String> {
        None
    }
    fn request_body(&self, _: usize) -> Vec<u8> {
        Vec::new()
    }
    fn response_headers(&self) -> Vec<(String, String)> {
        let mut headers = answer_headers();
        headers.push(("content-length".to_string(), ANSWER.len().to_string()));
        headers
    }
    fn response_body(&self, _: usize, _: usize) -> Vec<u8> {
        Vec::new()
    }
    fn set_response_body(&self, _: usize, _: &[u8]) -> Result<(), Refused> {
        Ok(())
    }
    fn reset_response(&self) {}
    fn set_request_headers(&self, _: &[(String, String)]) -> Result<(), Refused> {
        Ok(())
    }
    fn set_filter_state(&self, _: &str, _: &[u8]) -> Result<(), Refused> {
        Ok(())
    }
    fn set_response_headers(&self, _: &[(String, String)]) -> Result<(), Refused> {
        Ok(())
    }
    fn respond(&self, _: u32, response: &ClientResponse) -> bool {
        black_box(response);
        true
    }
}

/// Runs `f` `n` times after a warm-up of a tenth of that, and prints its mean.
fn step<T>(name: &str, n: u32, mut f: impl FnMut() -> T) {
    for _ in 0..n / 10 {
        black_box(f());
    }
    let start = Instant::now();
    for _ in 0..n {
        black_box(f());
    }
    println!(
        "{name}\t{:.3}",
        start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
}

fn main() {
    let config = endpoints();
    let eps = &config.endpoints;
    let creds = credentials();
    let (index, captures) = route(&config, "GET", "/bench/42");
    let request = Request {
        captures,
        headers: vec![],
        meta: None,
    };
    let endpoint = &eps[index];
    let invocation =
        Invocation::new(endpoint, &endpoint.primary, &request, vec![], at(), 0.5).unwrap();
    let headers = answer_headers();
    let reply = LambdaReply {
        status: Some(200),
        headers: &headers,
        body: ANSWER,
    };
    let signer = Signer {
        credentials: Some(&creds),
        refreshable: false,
    };
    let n = 100_000;

    step("route (20 endpoints)", n, || {
        config.route("GET", black_box("/bench/42")).is_some()
    });
    step("payload (Invocation::new)", n, || {
        Invocation::new(
            endpoint,
            &endpoint.primary,
            black_box(&request),
            vec![],
            at(),
            0.5,
        )
    });
    let mut keys = KeyCache::default();
    step("callout headers + SigV4", n / 4, || {
        invoke::callout(black_box(&invocation), &creds, &mut keys, at())
    });
    let small = [7u8; 64];
    step("SHA-256 of 64 bytes", n, || {
        Sha256::digest(black_box(&small))
    });
    let block = vec![7u8; 64 * 1024];
    step("SHA-256 of 64 KB", 1000, || {
        Sha256::digest(black_box(&block))
    });
    step("answer (classify + map)", n, || {
        let mut attempt = invocation.clone();
        invoke::after_reply(&mut attempt, black_box(&reply), signer, at(), 0.5)
    });
    let bytes = serde_json::to_vec(&plugin()).unwrap();
    let host = Answering {
        token: Cell::new(0),
        request: Cell::new(("GET", "/bench/42")),
    };
    let Ok(mut engine) = Engine::configure(host, &bytes, &|_| None) else {
        panic!("the benchmark's configuration was refused")
    };
    let mut context = 1;
    step("engine: a whole GET", n / 4, || {
        context += 1;
        engine.on_request_headers(context, true);
        let token = engine.host().token.get();
        engine.on_callout(token, 3, ANSWER.len());
        engine.on_done(context);
    });
    // In place, a 64 KB upload in four pieces: the rewrite, the pieces passing, the answer's
    // headers mapped and its body passing.
    engine.host().request.set(("POST", "/post"));
    step("engine: a whole in-place POST", n / 4, || {
        context += 1;
        engine.on_request_headers(context, false);
        for last in [false, false, false, true] {
            engine.on_request_body(context, 16 * 1024, last);
        }
        engine.on_response_headers(context, false);
        engine.on_response_body(context, ANSWER.len(), true);
        engine.on_done(context);
    });
}
