//! When a credentials fetch may start, decided once per Envoy: the record every VM of the
//! plugin reads and writes through shared data. It holds the fetch lease (one VM fetches at a
//! time), the earliest time of the next attempt, and how many attempts in a row failed or
//! brought keys not worth keeping. Failures back off exponentially with jitter, so a broken
//! source is asked about once per backoff step by the whole Envoy, not once per tick per VM.

use std::time::{Duration, SystemTime};

/// How long one VM may hold the fetch lease before another may fetch (a fetch's HTTP steps
/// each time out well before).
pub const LEASE: Duration = Duration::from_secs(15);
/// The first backoff step after a failed fetch.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The shared schedule. Times are milliseconds since the epoch (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schedule {
    pub lease_until: u64,
    pub next_attempt: u64,
    pub failures: u32,
}

pub fn millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub fn from_millis(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

/// The wait after `failures` failed attempts in a row (1 s, 2 s, 4 s ... up to 30 s), scaled by
/// a jitter factor in [0.5, 1) from `random` in [0, 1).
pub fn backoff(failures: u32, random: f64) -> Duration {
    let steps = failures.saturating_sub(1).min(16);
    let ceiling = FIRST_BACKOFF.saturating_mul(1 << steps).min(MAX_BACKOFF);
    ceiling.mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0))
}

impl Schedule {
    /// Reads the shared record; anything unreadable is an empty schedule.
    pub fn decode(bytes: &[u8]) -> Schedule {
        let text = String::from_utf8_lossy(bytes);
        let mut parts = text.split(' ').map(|p| p.parse::<u64>().ok());
        match (parts.next(), parts.next(), parts.next()) {
            (Some(Some(lease_until)), Some(Some(next_attempt)), Some(Some(failures))) => Schedule {
                lease_until,
                next_attempt,
                failures: u32::try_from(failures).unwrap_or(u32::MAX),
            },
            _ => Schedule::default(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{} {} {}",
            self.lease_until, self.next_attempt, self.failures
        )
        .into_bytes()
    }

    /// Whether a VM may start a fetch at `now`: no lease held, no backoff running.
    pub fn may_start(&self, now: SystemTime) -> bool {
        let now = millis(now);
        self.lease_until <= now && self.next_attempt <= now
    }

    /// When the next attempt may start, if a backoff is running at `now`.
    pub fn backing_off(&self, now: SystemTime) -> Option<SystemTime> {
        (self.next_attempt > millis(now)).then(|| from_millis(self.next_attempt))
    }

    /// The record once a VM takes the lease at `now`.
    pub fn leased(self, now: SystemTime) -> Schedule {
        Schedule {
            lease_until: millis(now + LEASE),
            ..self
        }
    }

    /// The record after a fetch that brought good keys: lease released, backoff cleared.
    pub fn succeeded(self) -> Schedule {
        Schedule::default()
    }

    /// The record after a failed (or useless) attempt at `now`: lease released, next attempt
    /// after the backoff.
    pub fn failed(self, now: SystemTime, random: f64) -> Schedule {
        let failures = self.failures.saturating_add(1);
        Schedule {
            lease_until: 0,
            next_attempt: millis(now + backoff(failures, random)),
            failures,
        }
    }

    /// The record when AWS rejected the shared keys: fetch again at once unless a backoff runs.
    pub fn rejected(self, now: SystemTime) -> Schedule {
        match self.backing_off(now) {
            Some(_) => self,
            None => Schedule {
                next_attempt: 0,
                ..self
            },
        }
    }
}

#[cfg(test)]
mod tests;
