//! SigV4 request signing (header form), on `sha2` alone: the canonical request, the string to
//! sign, HMAC-SHA256 and the derived key, as the `aws-sigv4` crate computes them with its default
//! settings (the unit tests compare the two on many requests; the official AWS suite runs in
//! tests/sigv4_suite.rs). The crate is not linked into the filter: it and its dependencies
//! (`http`, the smithy runtime, `tracing`) were a quarter of the module (about 175 KB).

use crate::clock::Utc;
use crate::http::{is_field_value, is_token};
use crate::keys::Credentials;
use sha2::{Digest, Sha256};
use std::time::SystemTime;
use thiserror::Error;

/// The signing name of the Lambda API.
pub const LAMBDA_SERVICE: &str = "lambda";

#[derive(Debug, Error)]
pub enum SignError {
    #[error("cannot build signing parameters: {0}")]
    Params(String),
    #[error("cannot sign the request: {0}")]
    Sign(String),
}

/// What is signed. `path_and_query` is already percent-encoded, as sent on the wire; `headers`
/// must include `host` with exactly the value the request will carry.
pub struct Unsigned<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Signs the request and returns the headers to add (`authorization`, `x-amz-date`, and
/// `x-amz-security-token` when the credentials carry a session token).
pub fn sign(
    request: &Unsigned<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, SignError> {
    let canonical = Canonical::new(request, credentials, time)?;
    let key = Mac::new(&signing_key(
        &credentials.secret_access_key,
        canonical.scope_date(),
        region,
        service,
    ));
    Ok(canonical.finish(&key, credentials, region, service))
}

/// Signing keys derived once per day instead of once per request (the key depends only on the
/// secret, the date, the region and the service). A few entries: one per region and service used.
#[derive(Debug, Default)]
pub struct KeyCache {
    entries: Vec<CachedKey>,
    /// How many keys were derived (for tests and curiosity).
    pub derived: u64,
}

#[derive(Debug)]
struct CachedKey {
    access_key_id: String,
    secret_access_key: String,
    date: String,
    region: String,
    service: String,
    key: Mac,
}

const KEY_CACHE_SIZE: usize = 8;

impl KeyCache {
    fn key(&mut self, credentials: &Credentials, date: &str, region: &str, service: &str) -> &Mac {
        let found = self.entries.iter().position(|e| {
            e.access_key_id == credentials.access_key_id
                && e.secret_access_key == credentials.secret_access_key
                && e.date == date
                && e.region == region
                && e.service == service
        });
        let index = match found {
            Some(i) => i,
            None => {
                // A new day, region, service or key: derive once and keep it.
                self.entries.retain(|e| e.date == date);
                if self.entries.len() >= KEY_CACHE_SIZE {
                    self.entries.remove(0);
                }
                let key = signing_key(&credentials.secret_access_key, date, region, service);
                self.derived += 1;
                self.entries.push(CachedKey {
                    access_key_id: credentials.access_key_id.clone(),
                    secret_access_key: credentials.secret_access_key.clone(),
                    date: date.to_string(),
                    region: region.to_string(),
                    service: service.to_string(),
                    key: Mac::new(&key),
                });
                self.entries.len() - 1
            }
        };
        &self.entries[index].key
    }
}

/// Signs like [`sign`] (the same headers, byte for byte), with the signing key from `cache`.
pub fn sign_cached(
    cache: &mut KeyCache,
    request: &Unsigned<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, SignError> {
    let canonical = Canonical::new(request, credentials, time)?;
    let key = cache.key(credentials, canonical.scope_date(), region, service);
    Ok(canonical.finish(key, credentials, region, service))
}

/// HMAC-SHA256 (RFC 2104) with one key: the hash states after the key's inner and outer pads,
/// kept with a cached signing key so that a signature hashes two blocks fewer.
struct Mac {
    inner: Sha256,
    outer: Sha256,
}

impl std::fmt::Debug for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mac(..)")
    }
}

impl Mac {
    fn new(key: &[u8]) -> Mac {
        let mut block = [0u8; 64];
        if key.len() > block.len() {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let mut inner = Sha256::new();
        inner.update(block.map(|b| b ^ 0x36));
        let mut outer = Sha256::new();
        outer.update(block.map(|b| b ^ 0x5c));
        Mac { inner, outer }
    }

    /// The MAC of the concatenated `parts`.
    fn of(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        for part in parts {
            inner.update(part);
        }
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

/// HMAC-SHA256 (RFC 2104) of the concatenated `parts`.
fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    Mac::new(key).of(parts)
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut first = Vec::with_capacity(4 + secret.len());
    first.extend_from_slice(b"AWS4");
    first.extend_from_slice(secret.as_bytes());
    let k = hmac(&first, &[date.as_bytes()]);
    let k = hmac(&k, &[region.as_bytes()]);
    let k = hmac(&k, &[service.as_bytes()]);
    hmac(&k, &[b"aws4_request"])
}

/// Appends the lower-case hex of `bytes` (a digest: 32 bytes), a slice at a time: a `char` pushed
/// at a time costs an encoding and a capacity check each, which shows in Wasm.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for chunk in bytes.chunks(32) {
        let mut hex = [0u8; 64];
        for (pair, b) in hex.chunks_exact_mut(2).zip(chunk) {
            pair[0] = DIGITS[(b >> 4) as usize];
            pair[1] = DIGITS[(b & 15) as usize];
        }
        out.push_str(std::str::from_utf8(&hex[..chunk.len() * 2]).unwrap_or_default());
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends `bytes` percent-encoded: everything but the unreserved characters (and `/` when
/// `keep_slash`), upper-case hex, as the SDKs encode URI labels and query parameters.
fn push_encoded(out: &mut String, bytes: &[u8], keep_slash: bool) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let kept = |b: u8| is_unreserved(b) || (keep_slash && b == b'/');
    let mut rest = bytes;
    while !rest.is_empty() {
        // A run kept as it is (ASCII, so valid UTF-8 on its own), then one byte escaped.
        let run = rest.iter().take_while(|&&b| kept(b)).count();
        out.push_str(std::str::from_utf8(&rest[..run]).unwrap_or_default());
        if let Some(&b) = rest.get(run) {
            let escaped = [b'%', DIGITS[(b >> 4) as usize], DIGITS[(b & 15) as usize]];
            out.push_str(std::str::from_utf8(&escaped).unwrap_or_default());
            rest = &rest[run + 1..];
        } else {
            rest = &[];
        }
    }
}

fn invalid(what: &str) -> SignError {
    SignError::Sign(what.to_string())
}

/// Splits the request target like the `http` crate's URI parser (which `aws-sigv4` uses): an
/// origin-form path, an optional query, a fragment dropped; the characters it refuses refused.
fn split_target(target: &str) -> Result<(&str, &str), SignError> {
    if !target.starts_with('/') || target.len() > usize::from(u16::MAX - 1) {
        return Err(invalid("invalid uri"));
    }
    let target = target.split_once('#').map_or(target, |(t, _)| t);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path_ok = path
        .bytes()
        .all(|b| b > b' ' && b != 0x7f && !matches!(b, b'<' | b'>' | b'`'));
    let query_ok = query
        .bytes()
        .all(|b| b > b' ' && b != 0x7f && !matches!(b, b'"' | b'<' | b'>'));
    if path_ok && query_ok {
        Ok((path, query))
    } else {
        Err(invalid("invalid uri character"))
    }
}

/// RFC 3986 §5.2.4 dot-segment removal, as `aws-sigv4` normalises paths (empty segments are
/// dropped too). Borrowed when there is nothing to do.
fn normalize_path(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.contains('.') && !path.contains("//") {
        return path.into();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    let trailing = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|end| path.ends_with(end));
    if out.is_empty() || (trailing && !out.ends_with('/')) {
        out.push('/');
    }
    out.into()
}

/// `application/x-www-form-urlencoded` decoding of one query component: `+` is a space, `%XX`
/// a byte (a malformed escape stays as it is), then UTF-8 with replacement characters.
fn form_decode(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.bytes().any(|b| b == b'+' || b == b'%') {
        return text.into();
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned().into()
}

/// Insertion sort: the lists signed are a few items long, and `slice::sort*` would bring a
/// general sort (several KB of Wasm, loops V8 compiles at load) for each item type.
fn sort_small<T>(items: &mut [T], less: impl Fn(&T, &T) -> bool) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && less(&items[j], &items[j - 1]) {
            items.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// The canonical query: pairs decoded, re-encoded, sorted, joined.
fn canonical_query(query: &str, out: &mut String) {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let encode = |s: &str| {
                let mut e = String::with_capacity(s.len());
                push_encoded(&mut e, form_decode(s).as_bytes(), false);
                e
            };
            (encode(k), encode(v))
        })
        .collect();
    sort_small(&mut pairs, |a, b| a < b);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

/// A header value as SigV4 canonicalises it: outer spaces trimmed, runs of spaces collapsed
/// (only spaces: tabs are kept).
fn push_trimmed(out: &mut String, value: &str) {
    for (i, word) in value.split(' ').filter(|w| !w.is_empty()).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

/// One header value by lower-case name (borrowed when the name already is), and whether the
/// signer set it. A repeated name is several entries, in order.
type Header<'a> = (std::borrow::Cow<'a, str>, &'a str, bool);

/// Adds a header value (one the signer sets replaces the request's), refusing bytes no header may
/// carry.
fn add_header<'a>(
    headers: &mut Vec<Header<'a>>,
    name: std::borrow::Cow<'a, str>,
    value: &'a str,
    ours: bool,
) -> Result<(), SignError> {
    if !is_field_value(value) {
        return Err(invalid("invalid header value"));
    }
    if ours {
        headers.retain(|(n, _, _)| *n != name);
    }
    headers.push((name, value, ours));
    Ok(())
}

/// `name` in lower case, borrowed when it already is.
fn lower(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        name.to_ascii_lowercase().into()
    } else {
        name.into()
    }
}

/// Headers that are never signed: computed here, or changed on the way by proxies.
const UNSIGNED_HEADERS: [&str; 4] = [
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "transfer-encoding",
];

/// The signed part of a request, once built: what the signature needs.
struct Canonical {
    /// `20261122T030405Z`; its first eight characters are the scope's date.
    amz_date: String,
    signed_headers: String,
    hash: [u8; 32],
}

impl Canonical {
    fn new(
        request: &Unsigned<'_>,
        credentials: &Credentials,
        time: SystemTime,
    ) -> Result<Canonical, SignError> {
        let (path, query) = split_target(request.path_and_query)?;
        let amz_date = Utc::from_time(time).amz_date();
        // Names lower-cased and checked; a repeated name keeps its values in order. The date and
        // the session token replace any the request carries, and are signed as they are (the
        // request's own values are trimmed).
        let mut headers: Vec<Header<'_>> = Vec::with_capacity(request.headers.len() + 2);
        for (name, value) in request.headers {
            if !is_token(name) {
                return Err(invalid("invalid header name"));
            }
            add_header(&mut headers, lower(name), value, false)?;
        }
        add_header(&mut headers, "x-amz-date".into(), &amz_date, true)?;
        if let Some(token) = &credentials.session_token {
            add_header(&mut headers, "x-amz-security-token".into(), token, true)?;
        }
        if !headers.iter().any(|(n, _, _)| n == "host") {
            return Err(SignError::Params("no host header".to_string()));
        }
        headers.retain(|(n, _, _)| !UNSIGNED_HEADERS.contains(&n.as_ref()));
        // Stable: a repeated name keeps its values in order.
        sort_small(&mut headers, |a, b| a.0 < b.0);

        let mut canonical = String::with_capacity(512);
        canonical.push_str(request.method);
        canonical.push('\n');
        push_encoded(&mut canonical, normalize_path(path).as_bytes(), true);
        canonical.push('\n');
        canonical_query(query, &mut canonical);
        canonical.push('\n');
        let mut signed_headers = String::with_capacity(64);
        for (i, (name, value, ours)) in headers.iter().enumerate() {
            let repeated = i > 0 && headers[i - 1].0 == *name;
            if repeated {
                canonical.push(',');
            } else {
                if i > 0 {
                    canonical.push('\n');
                    signed_headers.push(';');
                }
                canonical.push_str(name);
                canonical.push(':');
                signed_headers.push_str(name);
            }
            if *ours {
                canonical.push_str(value);
            } else {
                push_trimmed(&mut canonical, value);
            }
        }
        canonical.push_str("\n\n");
        canonical.push_str(&signed_headers);
        canonical.push('\n');
        push_hex(&mut canonical, &Sha256::digest(request.body));
        Ok(Canonical {
            amz_date,
            signed_headers,
            hash: Sha256::digest(canonical.as_bytes()).into(),
        })
    }

    fn scope_date(&self) -> &str {
        self.amz_date.get(..8).unwrap_or_default()
    }

    /// The headers to add, signed with `key`.
    fn finish(
        self,
        key: &Mac,
        credentials: &Credentials,
        region: &str,
        service: &str,
    ) -> Vec<(String, String)> {
        let mut scope = String::with_capacity(64);
        for part in [self.scope_date(), region, service, "aws4_request"] {
            if !scope.is_empty() {
                scope.push('/');
            }
            scope.push_str(part);
        }
        let mut hash = String::with_capacity(64);
        push_hex(&mut hash, &self.hash);
        let string_to_sign: [&[u8]; 6] = [
            b"AWS4-HMAC-SHA256\n",
            self.amz_date.as_bytes(),
            b"\n",
            scope.as_bytes(),
            b"\n",
            hash.as_bytes(),
        ];
        let signature = key.of(&string_to_sign);
        let mut authorization = String::with_capacity(256);
        for part in [
            "AWS4-HMAC-SHA256 Credential=",
            &credentials.access_key_id,
            "/",
            &scope,
            ", SignedHeaders=",
            &self.signed_headers,
            ", Signature=",
        ] {
            authorization.push_str(part);
        }
        push_hex(&mut authorization, &signature);
        let mut out = Vec::with_capacity(3);
        out.push(("x-amz-date".to_string(), self.amz_date));
        out.push(("authorization".to_string(), authorization));
        if let Some(token) = &credentials.session_token {
            out.push(("x-amz-security-token".to_string(), token.clone()));
        }
        out
    }
}

#[cfg(test)]
mod tests;
