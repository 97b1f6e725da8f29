//! Runs `sign::sign` and `sign::sign_cached` against the official AWS SigV4 test suite, read from
//! the `aws-sigv4` crate package in the cargo registry (a dev-dependency, located with `cargo
//! metadata`; nothing is copied here). The filter has its own signer and does not link the crate.
//!
//! Applicable cases are those that sign the way Lambda requests are signed: normalized paths,
//! double URI encoding, headers (not query) signing, no `x-amz-content-sha256`, and a session token
//! that is itself signed. Every other case is skipped with its reason, and the run fails if fewer
//! cases apply than expected, so it cannot pass by skipping everything.

use lambda_wasm::credentials::{parse_time, Credentials};
use lambda_wasm::sign::{sign, sign_cached, KeyCache, Unsigned};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const EXPECTED_APPLICABLE: usize = 26;

fn suite_dir() -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "aws-sigv4")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("aws-sigv4 is a dev-dependency");
    Path::new(manifest)
        .parent()
        .unwrap()
        .join("aws-signing-test-suite/v4")
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// `request.txt`: request line, headers (folded continuation lines joined), blank line, body.
fn parse_request(text: &str) -> Request {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let method = request_line.split(' ').next().unwrap().to_string();
    let path = request_line[method.len() + 1..request_line.rfind(" HTTP/").unwrap()].to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let last = headers.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else {
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_string(), value.to_string()));
        }
    }
    Request {
        method,
        path,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn skip_reason(case: &Path, context: &Value, request: &Request) -> Option<&'static str> {
    if context["normalize"] == false {
        return Some("S3-style: no path normalization");
    }
    if context["sign_body"] == true {
        return Some("signs x-amz-content-sha256, which Lambda does not use");
    }
    if context["omit_session_token"] == true {
        return Some("adds the session token after signing; Lambda requests sign it");
    }
    let path = request.path.split('?').next().unwrap_or_default();
    if path
        .bytes()
        .any(|b| b == b' ' || b == b'%' || !b.is_ascii())
    {
        return Some("expects the path signed single-encoded (S3 style); Lambda double-encodes");
    }
    if !case.join("header-signed-request.txt").exists() {
        return Some("no header-signed result");
    }
    None
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn official_sigv4_suite() {
    let dir = suite_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("context.json").exists())
        .collect();
    cases.sort();
    let mut passed = Vec::new();
    let mut skipped = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let context: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("context.json")).unwrap())
                .unwrap();
        let request = parse_request(&std::fs::read_to_string(case.join("request.txt")).unwrap());
        if let Some(reason) = skip_reason(case, &context, &request) {
            skipped.push(format!("{name}: {reason}"));
            continue;
        }
        let creds = &context["credentials"];
        let credentials = Credentials {
            access_key_id: creds["access_key_id"].as_str().unwrap().to_string(),
            secret_access_key: creds["secret_access_key"].as_str().unwrap().to_string(),
            session_token: creds["token"].as_str().map(str::to_string),
        };
        let header_refs: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let unsigned = Unsigned {
            method: &request.method,
            path_and_query: &request.path,
            headers: &header_refs,
            body: &request.body,
        };
        let (region, service) = (
            context["region"].as_str().unwrap(),
            context["service"].as_str().unwrap(),
        );
        let time = parse_time(context["timestamp"].as_str().unwrap()).expect("suite timestamp");
        let added = sign(&unsigned, &credentials, region, service, time)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let cached = sign_cached(
            &mut KeyCache::default(),
            &unsigned,
            &credentials,
            region,
            service,
            time,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(cached, added, "{name}: cached");
        let expected = parse_request(
            &std::fs::read_to_string(case.join("header-signed-request.txt")).unwrap(),
        );
        for name_ in ["authorization", "x-amz-date", "x-amz-security-token"] {
            assert_eq!(
                header(&added, name_),
                header(&expected.headers, name_),
                "{name}: {name_}"
            );
        }
        passed.push(name);
    }
    eprintln!(
        "SigV4 suite: {} cases passed, {} skipped:\n  {}",
        passed.len(),
        skipped.len(),
        skipped.join("\n  ")
    );
    assert_eq!(passed.len(), EXPECTED_APPLICABLE, "applicable: {passed:?}");
}
