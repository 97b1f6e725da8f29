//! KrakenD endpoint patterns (`/users/{id}/orders`) and request matching.
//!
//! Each `{placeholder}` captures exactly one path segment, percent-decoded. Static segments are
//! compared after percent-decoding too, and the query string never takes part in matching.

use percent_encoding::percent_decode_str;
use std::borrow::Cow;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PatternError {
    #[error("must start with '/'")]
    NoLeadingSlash,
    #[error("segment {0:?} mixes text and a placeholder; a placeholder must be a whole segment like {{name}}")]
    MixedSegment(String),
    #[error("placeholder {0:?} must be named with letters, digits, '-' or '_'")]
    BadPlaceholder(String),
    #[error("placeholder {{{0}}} appears twice")]
    DuplicatePlaceholder(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Static(String),
    Param(usize),
}

/// A compiled endpoint path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    segments: Vec<Segment>,
    params: Vec<String>,
}

/// Placeholder values captured from one request path, in pattern order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captures {
    /// Percent-decoded values (lossy where a value is not UTF-8: see `bad`).
    pub values: Vec<String>,
    /// The first placeholder whose value cannot be used: empty, or not UTF-8 once decoded.
    /// The path still has the endpoint's shape, so the endpoint answers it (with a 400).
    pub bad: Option<(usize, BadValue)>,
}

/// Why a placeholder's value cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadValue {
    Empty,
    NotUtf8,
}

/// How a request path relates to a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The path has the pattern's shape.
    Exact(Captures),
    /// The path is the pattern's with one trailing slash: KrakenD's router redirects it to
    /// `location` (the path without the slash, query string kept).
    TrailingSlash { location: String },
}

/// How specific a pattern's match is: static segments beat placeholders, earliest segment first,
/// as KrakenD's router (httprouter) resolves `/users/me` before `/users/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Specificity(Vec<bool>);

fn valid_param_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Pattern {
    pub fn parse(source: &str) -> Result<Pattern, PatternError> {
        let body = source
            .strip_prefix('/')
            .ok_or(PatternError::NoLeadingSlash)?;
        let mut segments = Vec::new();
        let mut params: Vec<String> = Vec::new();
        for raw in body.split('/') {
            if let Some(inner) = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                if !valid_param_name(inner) {
                    return Err(PatternError::BadPlaceholder(raw.to_string()));
                }
                if params.iter().any(|p| p == inner) {
                    return Err(PatternError::DuplicatePlaceholder(inner.to_string()));
                }
                segments.push(Segment::Param(params.len()));
                params.push(inner.to_string());
            } else if raw.contains('{') || raw.contains('}') {
                return Err(PatternError::MixedSegment(raw.to_string()));
            } else {
                let decoded = percent_decode_str(raw).decode_utf8_lossy().into_owned();
                segments.push(Segment::Static(decoded));
            }
        }
        Ok(Pattern {
            source: source.to_string(),
            segments,
            params,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Placeholder names in the order they appear.
    pub fn params(&self) -> &[String] {
        &self.params
    }

    pub fn specificity(&self) -> Specificity {
        Specificity(
            self.segments
                .iter()
                .map(|s| matches!(s, Segment::Static(_)))
                .collect(),
        )
    }

    /// Matches a request `:path` (query string allowed, ignored) with the pattern's shape.
    pub fn matches(&self, request_path: &str) -> Option<Captures> {
        let path = RequestPath::split(request_path)?;
        self.shape(&path.segments)
    }

    /// The captures when the raw segments have the pattern's shape: every static segment equal
    /// once decoded, and one segment per placeholder (whatever its value).
    fn shape(&self, parts: &[&str]) -> Option<Captures> {
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut captures = Captures {
            values: vec![String::new(); self.params.len()],
            bad: None,
        };
        for (segment, raw) in self.segments.iter().zip(parts) {
            let decoded: Cow<'_, [u8]> = percent_decode_str(raw).into();
            match segment {
                Segment::Static(text) => {
                    if decoded.as_ref() != text.as_bytes() {
                        return None;
                    }
                }
                Segment::Param(index) => {
                    let problem = match std::str::from_utf8(&decoded) {
                        _ if decoded.is_empty() => Some(BadValue::Empty),
                        Ok(_) => None,
                        Err(_) => Some(BadValue::NotUtf8),
                    };
                    if let (Some(problem), None) = (problem, captures.bad) {
                        captures.bad = Some((*index, problem));
                    }
                    if let Some(value) = captures.values.get_mut(*index) {
                        *value = String::from_utf8_lossy(&decoded).into_owned();
                    }
                }
            }
        }
        Some(captures)
    }

    /// How `path` relates to this pattern, if at all.
    fn relate(&self, path: &RequestPath) -> Option<Match> {
        if let Some(captures) = self.shape(&path.segments) {
            return Some(Match::Exact(captures));
        }
        let (last, rest) = path.segments.split_last()?;
        if !last.is_empty() || rest.is_empty() {
            return None;
        }
        let captures = self.shape(rest)?;
        if captures.bad.is_some() {
            return None;
        }
        let trimmed = path.raw.strip_suffix('/').unwrap_or(path.raw);
        Some(Match::TrailingSlash {
            location: format!("{trimmed}{}", path.query),
        })
    }
}

/// A request path split on `/` before any decoding (so `%2F` stays inside its segment); query
/// string and fragment dropped from matching.
struct RequestPath<'a> {
    raw: &'a str,
    /// `?...` as received, or empty.
    query: &'a str,
    segments: Vec<&'a str>,
}

impl<'a> RequestPath<'a> {
    fn split(request_path: &'a str) -> Option<RequestPath<'a>> {
        let end = request_path.find(['?', '#']).unwrap_or(request_path.len());
        let (raw, rest) = request_path.split_at(end);
        let query = if rest.starts_with('?') { rest } else { "" };
        let segments = raw.strip_prefix('/')?.split('/').collect();
        Some(RequestPath {
            raw,
            query,
            segments,
        })
    }
}

/// Picks the pattern serving `method` + `path` among `(method, pattern)` candidates: the most
/// specific pattern with the path's shape wins; a trailing-slash redirect only when no pattern
/// has the shape. Returns the candidate's position.
pub fn find<'p>(
    candidates: impl Iterator<Item = (&'p str, &'p Pattern)>,
    method: &str,
    path: &str,
) -> Option<(usize, Match)> {
    let path = RequestPath::split(path)?;
    candidates
        .enumerate()
        .filter(|(_, (m, _))| *m == method)
        .filter_map(|(i, (_, pattern))| {
            let found = pattern.relate(&path)?;
            let exact = matches!(found, Match::Exact(_));
            Some((i, found, (exact, pattern.specificity())))
        })
        .max_by(|a, b| a.2.cmp(&b.2).then(b.0.cmp(&a.0)))
        .map(|(i, found, _)| (i, found))
}

#[cfg(test)]
mod tests;
