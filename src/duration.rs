//! KrakenD duration strings (`500ms`, `3s`, `1m30s`), parsed as Go's `time.ParseDuration` does.

use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("invalid duration {0:?}: expected a number followed by a unit (ns, us, ms, s, m, h), e.g. \"3s\"")]
    Invalid(String),
    #[error("duration {0:?} must be positive")]
    NotPositive(String),
    #[error("duration {0:?} is too large")]
    Overflow(String),
}

/// Parses a Go-style duration: one or more `<decimal><unit>` terms. Only positive durations are accepted.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let invalid = || DurationError::Invalid(text.to_string());
    let (negative, mut rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Err(DurationError::NotPositive(text.to_string()));
    }
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number = &rest[..num_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(invalid()),
        };
        total_nanos += value * nanos_per_unit;
        rest = &rest[unit_len..];
    }
    if negative || total_nanos < 1.0 {
        return Err(DurationError::NotPositive(text.to_string()));
    }
    if total_nanos > u64::MAX as f64 {
        return Err(DurationError::Overflow(text.to_string()));
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

#[cfg(test)]
mod tests;
