//! What the per-request benchmarks share: a gateway configuration and its route lookup. Included
//! by benches/hot_path.rs (natively, criterion) and benches/steps (the same steps in Wasm, in V8).

use lambda_wasm::config::{self, Config};
use lambda_wasm::credentials::Credentials;
use lambda_wasm::route::{Captures, Match};
use serde_json::json;

pub const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// The static keys [`plugin`] carries.
pub fn credentials() -> Credentials {
    Credentials {
        access_key_id: ACCESS_KEY_ID.into(),
        secret_access_key: SECRET_ACCESS_KEY.into(),
        session_token: None,
    }
}

/// Twenty endpoints, the benchmarked ones last, as in a real gateway config.
pub fn endpoints() -> Config {
    config::parse(&serde_json::to_vec(&plugin()).unwrap(), &|_| None).unwrap()
}

/// The plugin configuration [`endpoints`] parses.
pub fn plugin() -> serde_json::Value {
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
    json!({"credentials": {"access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET_ACCESS_KEY},
           "endpoints": list})
}

/// The endpoint serving `method path` and its captures, as the engine finds them.
pub fn route(config: &Config, method: &str, path: &str) -> (usize, Captures) {
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
