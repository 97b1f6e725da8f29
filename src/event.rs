//! The Invoke payload, in the format the backend chose (`event_format`):
//!
//! - `krakend` (default), exactly as KrakenD's `backend/lambda` builds it: backend method GET
//!   sends a JSON object of every endpoint placeholder, keys fully lower-cased, values as strings,
//!   nothing from the query string, the headers or the body — the bytes Go's `json.Encoder`
//!   writes (keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped, a trailing newline); every
//!   other method sends the request body unchanged.
//! - `apigw_v1` / `apigw_v2`: API Gateway proxy events ([`apigw`]).
//! - `raw`: the request body as it is, whatever the method.

use base64::Engine;
use serde_json::{Map, Value};
use std::time::SystemTime;

pub mod apigw;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    Krakend,
    ApigwV1,
    ApigwV2,
    Raw,
}

impl EventFormat {
    pub fn parse(text: &str) -> Option<EventFormat> {
        match text {
            "krakend" => Some(EventFormat::Krakend),
            "apigw_v1" => Some(EventFormat::ApigwV1),
            "apigw_v2" => Some(EventFormat::ApigwV2),
            "raw" => Some(EventFormat::Raw),
            _ => None,
        }
    }

    /// Whether the event describes the whole HTTP request (headers, query, source...).
    pub fn is_apigw(self) -> bool {
        matches!(self, EventFormat::ApigwV1 | EventFormat::ApigwV2)
    }
}

/// Request headers that carry the client's credentials: never in an event unless allowed.
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-amz-security-token",
];
/// Hop-by-hop and Envoy-internal headers: never in an event.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
];

/// Which request headers an API Gateway event shows, and which bodies are binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventOptions {
    /// Only these headers (lower-case names, `prefix*` globs), credentials included if listed.
    pub allow_headers: Option<Vec<String>>,
    pub deny_headers: Vec<String>,
    /// Content types whose bodies are base64-encoded (`image/*`, `*/*`); `None`: everything that
    /// is not text.
    pub binary_media_types: Option<Vec<String>>,
}

fn header_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

impl EventOptions {
    /// Whether a request header goes into the event.
    pub fn shows_header(&self, name: &str) -> bool {
        if name.starts_with(':') || name.starts_with("x-envoy-") || HOP_BY_HOP.contains(&name) {
            return false;
        }
        if self.deny_headers.iter().any(|p| header_matches(p, name)) {
            return false;
        }
        match &self.allow_headers {
            Some(allow) => allow.iter().any(|p| header_matches(p, name)),
            None => !CREDENTIAL_HEADERS.contains(&name),
        }
    }

    fn is_binary(&self, content_type: Option<&str>, body: &[u8]) -> bool {
        let mime = content_type
            .map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .filter(|m| !m.is_empty());
        let binary = match (&self.binary_media_types, &mime) {
            (Some(types), Some(mime)) => types.iter().any(|t| media_type_matches(t, mime)),
            (Some(_), None) => false,
            (None, Some(mime)) => !is_text(mime),
            (None, None) => false,
        };
        // Never lose bytes: a body that is not UTF-8 is base64 whatever the type says.
        binary || std::str::from_utf8(body).is_err()
    }
}

fn media_type_matches(pattern: &str, mime: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    pattern == "*/*"
        || pattern == mime
        || pattern
            .strip_suffix("/*")
            .is_some_and(|major| mime.split('/').next() == Some(major))
}

fn is_text(mime: &str) -> bool {
    mime.starts_with("text/")
        || matches!(
            mime,
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
                | "application/graphql"
                | "application/yaml"
        )
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
}

/// A request body as an event carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    None,
    Text(String),
    Base64(String),
}

/// What an API Gateway event is built from.
#[derive(Debug, Clone)]
pub struct HttpInput<'a> {
    pub method: &'a str,
    /// The endpoint's pattern (`/users/{id}`): API Gateway's resource / route.
    pub pattern: &'a str,
    /// `:path` as received (query string included).
    pub path: &'a str,
    /// Request headers the event shows, lower-case names, in order, repeats kept.
    pub headers: Vec<(String, String)>,
    /// Placeholder names and values.
    pub params: Vec<(String, String)>,
    pub host: &'a str,
    pub protocol: &'a str,
    pub source_ip: &'a str,
    pub request_id: &'a str,
    pub time: SystemTime,
}

impl HttpInput<'_> {
    fn user_agent(&self) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == "user-agent")
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

/// Encodes a request body for an event: text as it is, binary as base64.
pub fn encode_body(body: &[u8], content_type: Option<&str>, options: &EventOptions) -> Body {
    if body.is_empty() {
        Body::None
    } else if options.is_binary(content_type, body) {
        Body::Base64(base64::engine::general_purpose::STANDARD.encode(body))
    } else {
        Body::Text(String::from_utf8_lossy(body).into_owned())
    }
}

/// A JSON object from key-value pairs, a later key replacing an earlier one.
///
/// Inserted one by one rather than collected: `BTreeMap`'s `FromIterator` sorts its input first,
/// and each pair type it is used with adds the standard library's stable sort (~2.5 KB) to the
/// module again.
pub fn object(pairs: impl IntoIterator<Item = (String, Value)>) -> Map<String, Value> {
    let mut object = Map::new();
    for (key, value) in pairs {
        object.insert(key, value);
    }
    object
}

/// Builds the GET payload from the pattern's placeholder names and the captured values: the JSON
/// object KrakenD's Go writes (keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped), then a
/// newline.
pub fn from_params(names: &[String], values: &[String]) -> Vec<u8> {
    // Sorted by name, a later name replacing an equal earlier one, as Go's map would be: a few
    // placeholders, so a sorted vector rather than a BTreeMap (its code, instantiated for this
    // pair type alone, weighed ~4.5 KB of the module).
    let mut object: Vec<(String, &str)> = Vec::with_capacity(names.len());
    for (name, value) in names.iter().zip(values) {
        // KrakenD lower-cases the names (Go's strings.ToLower); placeholder names are ASCII
        // (`route::Pattern` refuses others), so the ASCII lower-casing is the same.
        if let Some(slot) = sorted_slot(&mut object, name.to_ascii_lowercase(), "") {
            *slot = value.as_str();
        }
    }
    let mut out = Vec::with_capacity(16 + values.iter().map(|v| v.len() + 16).sum::<usize>());
    out.push(b'{');
    for (i, (name, value)) in object.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        crate::manipulate::write_go_string(&mut out, name);
        out.push(b':');
        crate::manipulate::write_go_string(&mut out, value);
    }
    out.extend_from_slice(b"}\n");
    out
}

/// The value under `key` in a vector kept sorted by key, inserted as `empty` when absent.
pub(crate) fn sorted_slot<V>(
    pairs: &mut Vec<(String, V)>,
    key: String,
    empty: V,
) -> Option<&mut V> {
    let at = match pairs.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
        Ok(at) => at,
        Err(at) => {
            pairs.insert(at, (key, empty));
            at
        }
    };
    pairs.get_mut(at).map(|(_, value)| value)
}

#[cfg(test)]
mod tests;
