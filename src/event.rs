//! The Invoke payload, built exactly as KrakenD's `backend/lambda` builds it.
//!
//! - backend method GET: a JSON object of every endpoint placeholder, keys fully lower-cased,
//!   values as strings; nothing from the query string, the headers or the body. The bytes are what
//!   Go's `json.Encoder` writes: keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped, and a
//!   trailing newline.
//! - every other method: the request body, unchanged.

use std::collections::BTreeMap;

/// Builds the GET payload from the pattern's placeholder names and the captured values.
pub fn from_params(names: &[String], values: &[String]) -> Vec<u8> {
    let object: BTreeMap<String, &str> = names
        .iter()
        .zip(values)
        .map(|(name, value)| (name.to_lowercase(), value.as_str()))
        .collect();
    // Serialising a map of strings cannot fail; fall back to an empty object rather than panic.
    let json = serde_json::to_string(&object).unwrap_or_else(|_| "{}".to_string());
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            _ => out.push(c),
        }
    }
    out.push('\n');
    out.into_bytes()
}

#[cfg(test)]
mod tests;
