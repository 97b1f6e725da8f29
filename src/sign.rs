//! SigV4 request signing (header form), through the `aws-sigv4` crate.

use crate::clock::Utc;
use crate::keys::Credentials;
use aws_sigv4::http_request::{sign as sigv4_sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
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
    let identity = aws_credential_types::Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.clone(),
        credentials.session_token.clone(),
        None,
        "lambda-wasm",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SignError::Params(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.path_and_query,
        request.headers.iter().copied(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| SignError::Sign(e.to_string()))?;
    let (instructions, _signature) = sigv4_sign(signable, &params)
        .map_err(|e| SignError::Sign(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect())
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
    key: Vec<u8>,
}

const KEY_CACHE_SIZE: usize = 8;

impl KeyCache {
    fn key(
        &mut self,
        credentials: &Credentials,
        utc: &Utc,
        time: SystemTime,
        region: &str,
        service: &str,
    ) -> &[u8] {
        let date = utc.date();
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
                let key =
                    v4::generate_signing_key(&credentials.secret_access_key, time, region, service);
                self.derived += 1;
                self.entries.push(CachedKey {
                    access_key_id: credentials.access_key_id.clone(),
                    secret_access_key: credentials.secret_access_key.clone(),
                    date,
                    region: region.to_string(),
                    service: service.to_string(),
                    key: key.as_ref().to_vec(),
                });
                self.entries.len() - 1
            }
        };
        &self.entries[index].key
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The canonical URI of an already-encoded path, encoded once more (SigV4 for every service but
/// S3). `None` when the path would need normalising, which the generic signer handles.
fn canonical_uri(path: &str) -> Option<String> {
    if !path.starts_with('/')
        || path.split('/').skip(1).any(|seg| seg == "." || seg == "..")
        || path.contains("//")
    {
        return None;
    }
    let mut out = String::with_capacity(path.len() + 16);
    for &b in path.as_bytes() {
        if is_unreserved(b) || b == b'/' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Some(out)
}

/// The canonical query of an already-encoded query string (pairs sorted). `None` when it holds
/// anything but encoded pairs.
fn canonical_query(query: &str) -> Option<String> {
    if query.is_empty() {
        return Some(String::new());
    }
    if !query
        .bytes()
        .all(|b| is_unreserved(b) || matches!(b, b'%' | b'=' | b'&'))
    {
        return None;
    }
    let mut pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    pairs.sort_unstable();
    Some(
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&"),
    )
}

/// Signs like [`sign`], but with the signing key from `cache` and the canonical request built
/// directly for the requests this filter sends (an encoded path, encoded query pairs, distinct
/// lower-case headers). Anything else goes through [`sign`].
pub fn sign_cached(
    cache: &mut KeyCache,
    request: &Unsigned<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, SignError> {
    let (path, query) = request
        .path_and_query
        .split_once('?')
        .unwrap_or((request.path_and_query, ""));
    let distinct = request.headers.iter().enumerate().all(|(i, (n, _))| {
        n.bytes().all(|b| !b.is_ascii_uppercase())
            && request.headers[..i].iter().all(|(m, _)| m != n)
    });
    let (Some(uri), Some(query), true) = (canonical_uri(path), canonical_query(query), distinct)
    else {
        return sign(request, credentials, region, service, time);
    };
    let utc = Utc::from_time(time);
    let amz_date = utc.amz_date();
    let mut headers: Vec<(&str, &str)> = request.headers.to_vec();
    headers.push(("x-amz-date", &amz_date));
    if let Some(token) = &credentials.session_token {
        headers.push(("x-amz-security-token", token));
    }
    headers.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut canonical = String::with_capacity(512);
    canonical.push_str(request.method);
    canonical.push('\n');
    canonical.push_str(&uri);
    canonical.push('\n');
    canonical.push_str(&query);
    canonical.push('\n');
    for (name, value) in &headers {
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(&value.split_whitespace().collect::<Vec<_>>().join(" "));
        canonical.push('\n');
    }
    canonical.push('\n');
    let signed_headers = headers
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(";");
    canonical.push_str(&signed_headers);
    canonical.push('\n');
    canonical.push_str(&hex(&Sha256::digest(request.body)));
    let scope = format!("{}/{region}/{service}/aws4_request", utc.date());
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = cache.key(credentials, &utc, time, region, service);
    let signature = v4::calculate_signature(key, string_to_sign.as_bytes());
    let mut out = vec![
        ("x-amz-date".to_string(), amz_date.clone()),
        (
            "authorization".to_string(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                credentials.access_key_id
            ),
        ),
    ];
    if let Some(token) = &credentials.session_token {
        out.push(("x-amz-security-token".to_string(), token.clone()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
