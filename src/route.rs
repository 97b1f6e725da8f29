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
    pub values: Vec<String>,
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

    /// Matches a request `:path` (query string allowed, ignored). Returns the placeholder values.
    pub fn matches(&self, request_path: &str) -> Option<Captures> {
        self.matches_segments(&split_path(request_path)?)
    }

    /// Matches a path already split by [`split_path`].
    fn matches_segments(&self, parts: &[Cow<'_, str>]) -> Option<Captures> {
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut values = vec![String::new(); self.params.len()];
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Static(text) => {
                    if part.as_ref() != text.as_str() {
                        return None;
                    }
                }
                Segment::Param(index) => {
                    if part.is_empty() {
                        return None;
                    }
                    values[*index] = part.to_string();
                }
            }
        }
        Some(Captures { values })
    }
}

/// A request path (query string and fragment dropped) as percent-decoded segments; `None` when
/// it does not start with `/` or decodes to invalid UTF-8.
fn split_path(request_path: &str) -> Option<Vec<Cow<'_, str>>> {
    let path = request_path
        .split(['?', '#'])
        .next()
        .unwrap_or(request_path);
    path.strip_prefix('/')?
        .split('/')
        .map(|raw| percent_decode_str(raw).decode_utf8().ok())
        .collect()
}

/// Picks the endpoint serving `method` + `path`: the most specific matching pattern wins.
pub fn find(
    endpoints: &[crate::config::Endpoint],
    method: &str,
    path: &str,
) -> Option<(usize, Captures)> {
    let parts = split_path(path)?;
    endpoints
        .iter()
        .enumerate()
        .filter(|(_, e)| e.method == method)
        .filter_map(|(i, e)| {
            e.path
                .matches_segments(&parts)
                .map(|c| (i, c, e.path.specificity()))
        })
        .max_by(|a, b| a.2.cmp(&b.2).then(b.0.cmp(&a.0)))
        .map(|(i, c, _)| (i, c))
}

#[cfg(test)]
mod tests;
