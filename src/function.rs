//! Lambda function names: validation against the Invoke API's `FunctionName` grammar, KrakenD's
//! parameter-name capitalisation, and the percent-encoding of the name in the Invoke path.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::fmt;
use thiserror::Error;

/// Invoke's `FunctionName` length limit (whole string, ARN included).
pub const MAX_LEN: usize = 256;
/// A bare function name (no ARN parts) is limited to 64 characters.
pub const MAX_NAME_LEN: usize = 64;
/// A version or alias qualifier.
pub const MAX_QUALIFIER_LEN: usize = 128;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FunctionNameError {
    #[error("function name is empty")]
    Empty,
    #[error("function name is {0} characters long; the limit is {MAX_LEN}")]
    TooLong(usize),
    #[error("function name part is {0} characters long; the limit is {MAX_NAME_LEN}")]
    NameTooLong(usize),
    #[error("qualifier is {0} characters long; the limit is {MAX_QUALIFIER_LEN}")]
    QualifierTooLong(usize),
    #[error("not a valid Lambda function name, name:qualifier, partial ARN or function ARN")]
    Grammar,
}

/// A function identifier that passed validation, as it will be sent to Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionName {
    text: String,
    qualifier: Option<String>,
}

impl FunctionName {
    pub fn parse(text: &str) -> Result<FunctionName, FunctionNameError> {
        let qualifier = validate(text)?.map(str::to_string);
        Ok(FunctionName {
            text: text.to_string(),
            qualifier,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The version or alias the name itself carries (`my-function:live` → `live`).
    pub fn qualifier(&self) -> Option<&str> {
        self.qualifier.as_deref()
    }

    /// The name as a path segment of the Invoke URI, percent-encoded as the AWS SDKs encode
    /// URI labels: everything but RFC 3986 unreserved characters (so `:` becomes `%3A`).
    pub fn path_segment(&self) -> String {
        encode_label(&self.text)
    }

    /// [`path_segment`](Self::path_segment), appended to `out`.
    pub fn push_path_segment(&self, out: &mut String) {
        out.extend(utf8_percent_encode(&self.text, URI_LABEL));
    }
}

/// Percent-encodes a URI path label or query value as the AWS SDKs do.
pub fn encode_label(text: &str) -> String {
    utf8_percent_encode(text, URI_LABEL).collect()
}

impl fmt::Display for FunctionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const URI_LABEL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// KrakenD (lura) keys request parameters with the first letter upper-cased, so `{lambda}` is
/// referred to as `Lambda` by `function_param_name`.
pub fn krakend_param_key(placeholder: &str) -> String {
    let mut chars = placeholder.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Lambda's name characters. A name of dots only is refused: in the Invoke path it would be a
/// `.` or `..` segment and change which resource the request names.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && !s.bytes().all(|b| b == b'.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_qualifier(s: &str) -> bool {
    s == "$LATEST"
        || s == "$LATEST.PUBLISHED"
        || (!s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')))
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_partition(s: &str) -> bool {
    s.is_empty()
        || s.strip_prefix("aws")
            .is_some_and(|r| r.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-'))
}

/// `(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}`
fn is_region(s: &str) -> bool {
    let s = s.strip_prefix("eusc-").unwrap_or(s);
    let b = s.as_bytes();
    if b.len() < 2 || !b[..2].iter().all(u8::is_ascii_lowercase) {
        return false;
    }
    let mut rest = &s[2..];
    if let Some(r) = rest.strip_prefix("-gov") {
        if region_tail(r) {
            return true;
        }
    }
    if let Some(r) = rest.strip_prefix("-iso") {
        let r2 = r
            .strip_prefix(|c: char| c.is_ascii_lowercase())
            .unwrap_or(r);
        if region_tail(r2) || region_tail(r) {
            return true;
        }
    }
    rest = rest.strip_prefix('-').unwrap_or("");
    region_tail_body(rest)
}

/// `-[a-z]+-\d`
fn region_tail(s: &str) -> bool {
    s.strip_prefix('-').is_some_and(region_tail_body)
}

/// `[a-z]+-\d`
fn region_tail_body(s: &str) -> bool {
    match s.rsplit_once('-') {
        Some((word, digit)) => {
            !word.is_empty()
                && word.bytes().all(|b| b.is_ascii_lowercase())
                && digit.len() == 1
                && digit.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// One reading of a name: the function-name part and the qualifier, if any.
struct Reading<'a> {
    name: &'a str,
    qualifier: Option<&'a str>,
}

/// Readings of `tokens` (the name split on ':') as
/// `(region:)?(account:)?(function:)?name(:qualifier)?`, one for each way the optional parts fit,
/// in the order a regex engine would find them.
fn readings<'a>(tokens: &[&'a str]) -> Vec<Reading<'a>> {
    let optional: [fn(&str) -> bool; 3] = [is_region, is_account, |t| t == "function"];
    let mut found = Vec::new();
    // Greedy, as a regex engine tries optional groups: region first, present before absent.
    for choice in (0u8..8).rev() {
        let mut i = 0;
        let mut fits = true;
        for (bit, check) in optional.iter().enumerate() {
            if choice & (0b100 >> bit) != 0 {
                if tokens.get(i).is_none_or(|t| !check(t)) {
                    fits = false;
                    break;
                }
                i += 1;
            }
        }
        if !fits {
            continue;
        }
        match tokens[i..] {
            [name] if is_name(name) => found.push(Reading {
                name,
                qualifier: None,
            }),
            [name, qualifier] if is_name(name) && is_qualifier(qualifier) => found.push(Reading {
                name,
                qualifier: Some(qualifier),
            }),
            _ => {}
        }
    }
    found
}

fn check_lengths(reading: &Reading) -> Result<(), FunctionNameError> {
    if reading.name.len() > MAX_NAME_LEN {
        return Err(FunctionNameError::NameTooLong(reading.name.len()));
    }
    match reading.qualifier {
        Some(q) if q.len() > MAX_QUALIFIER_LEN => Err(FunctionNameError::QualifierTooLong(q.len())),
        _ => Ok(()),
    }
}

/// Validates a name; returns the qualifier it carries, if any.
fn validate(text: &str) -> Result<Option<&str>, FunctionNameError> {
    if text.is_empty() {
        return Err(FunctionNameError::Empty);
    }
    if text.len() > MAX_LEN {
        return Err(FunctionNameError::TooLong(text.len()));
    }
    let tokens: Vec<&str> = text.split(':').collect();
    // `arn:partition:lambda:` is followed by the same optional parts as a partial ARN.
    let tail = if tokens.len() >= 3
        && tokens[0] == "arn"
        && is_partition(tokens[1])
        && tokens[2] == "lambda"
    {
        &tokens[3..]
    } else {
        &tokens[..]
    };
    let mut first_error = FunctionNameError::Grammar;
    for (i, reading) in readings(tail).iter().enumerate() {
        match check_lengths(reading) {
            Ok(()) => return Ok(reading.qualifier),
            Err(e) if i == 0 => first_error = e,
            Err(_) => {}
        }
    }
    Err(first_error)
}

/// Validates a version or alias given on its own (`qualifier`, or a qualifier header).
pub fn validate_qualifier(text: &str) -> Result<(), FunctionNameError> {
    if text.len() > MAX_QUALIFIER_LEN {
        return Err(FunctionNameError::QualifierTooLong(text.len()));
    }
    let valid = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'$' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(FunctionNameError::Grammar)
    }
}

/// `allowed_functions`: exact names and `*` globs (`*` matches any run of characters, `:` included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(Vec<String>);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("pattern {0:?} may hold only function-name characters, ':', '$' and '*'")]
pub struct BadPattern(pub String);

impl AllowList {
    pub fn new(patterns: Vec<String>) -> Result<AllowList, BadPattern> {
        for p in &patterns {
            let ok = !p.is_empty()
                && p.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'-' | b'_' | b'.' | b':' | b'$' | b'*')
                });
            if !ok {
                return Err(BadPattern(p.clone()));
            }
        }
        Ok(AllowList(patterns))
    }

    pub fn allows(&self, id: &str) -> bool {
        self.0.iter().any(|p| glob(p.as_bytes(), id.as_bytes()))
    }
}

/// `*`-only glob match, iterative with one backtrack point (linear in practice).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// A weighted list of targets (canary / A-B). `random` is uniform in [0, 1).
pub fn choose_weighted(targets: &[(FunctionName, u32)], random: f64) -> Option<&FunctionName> {
    let total: u64 = targets.iter().map(|(_, w)| u64::from(*w)).sum();
    if total == 0 {
        return None;
    }
    let mut point = (random.clamp(0.0, 1.0) * total as f64) as u64;
    for (name, weight) in targets {
        if point < u64::from(*weight) {
            return Some(name);
        }
        point -= u64::from(*weight);
    }
    targets.iter().rev().find(|(_, w)| *w > 0).map(|(n, _)| n)
}

#[cfg(test)]
mod tests;
