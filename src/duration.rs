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

/// Digits after the point beyond this many are dropped: they are worth less than 10^-12 ns even
/// in hours, and keeping them would overflow the exact arithmetic below.
const MAX_FRACTION_DIGITS: u32 = 24;

/// Parses a Go-style duration: one or more `<decimal><unit>` terms. Only positive durations are
/// accepted. As Go's `time.ParseDuration` does, each term counts in whole nanoseconds, with digits
/// finer than a nanosecond dropped (`1.9ns` is 1 ns); the arithmetic is exact integer arithmetic.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let invalid = || DurationError::Invalid(text.to_string());
    let overflow = || DurationError::Overflow(text.to_string());
    let (negative, mut rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Err(DurationError::NotPositive(text.to_string()));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (whole, fraction) = match rest[..num_len].split_once('.') {
            Some((w, f)) => (w, f),
            None => (&rest[..num_len], ""),
        };
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(invalid());
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        let mut value: u128 = 0;
        for digit in whole.bytes() {
            value = value * 10 + u128::from(digit - b'0');
            if value > u128::from(u64::MAX) {
                return Err(overflow());
            }
        }
        let (mut numerator, mut scale) = (0u128, 1u128);
        for digit in fraction.bytes().take(MAX_FRACTION_DIGITS as usize) {
            numerator = numerator * 10 + u128::from(digit - b'0');
            scale *= 10;
        }
        total += value * unit + numerator * unit / scale;
        if total > u128::from(u64::MAX) {
            return Err(overflow());
        }
    }
    if negative || total == 0 {
        return Err(DurationError::NotPositive(text.to_string()));
    }
    u64::try_from(total)
        .map(Duration::from_nanos)
        .map_err(|_| overflow())
}

#[cfg(test)]
mod tests;
