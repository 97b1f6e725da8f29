//! UTC calendar conversions for the formats AWS uses, without a date crate.

use std::time::{Duration, SystemTime};

/// A UTC calendar time, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `n` in decimal, zero-padded to `width` digits (more when it needs them; a sign when negative).
fn push_digits(out: &mut String, n: i64, width: usize) {
    if n < 0 {
        out.push('-');
    }
    let mut digits = [b'0'; 20];
    let mut rest = n.unsigned_abs();
    let mut used = 0;
    while (rest > 0 || used < width) && used < digits.len() {
        digits[used] = b'0' + (rest % 10) as u8;
        rest /= 10;
        used += 1;
    }
    out.extend(digits[..used].iter().rev().map(|&d| char::from(d)));
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Utc {
    pub fn from_time(t: SystemTime) -> Utc {
        let secs = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        Utc {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// `20261122` (SigV4's date).
    pub fn date(&self) -> String {
        let mut out = String::with_capacity(16);
        self.push_date(&mut out);
        out
    }

    /// `20261122T030405Z` (SigV4's `X-Amz-Date`).
    pub fn amz_date(&self) -> String {
        let mut out = String::with_capacity(16);
        self.push_date(&mut out);
        out.push('T');
        for n in [self.hour, self.minute, self.second] {
            push_digits(&mut out, i64::from(n), 2);
        }
        out.push('Z');
        out
    }

    /// Digits written by hand: `format!` with padding costs a signature about a microsecond in
    /// Wasm.
    fn push_date(&self, out: &mut String) {
        push_digits(out, self.year, 4);
        push_digits(out, i64::from(self.month), 2);
        push_digits(out, i64::from(self.day), 2);
    }

    /// `22/Nov/2026:03:04:05 +0000` (API Gateway's request time).
    pub fn clf(&self) -> String {
        format!(
            "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
            self.day,
            MONTHS[(self.month as usize).saturating_sub(1) % 12],
            self.year,
            self.hour,
            self.minute,
            self.second
        )
    }
}

/// ISO 8601 / RFC 3339 UTC times as AWS writes them: `2026-11-22T04:00:00Z`, with optional
/// fractional seconds and `+00:00`.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    let t = text.trim();
    let b = t.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    if !matches!(rest, "Z" | "z" | "+00:00" | "") {
        return None;
    }
    let secs = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

#[cfg(test)]
mod tests;
