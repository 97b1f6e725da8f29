//! AWS credentials: what they are, how long they last, when to refresh them, and how VMs share
//! them. Fetching them over HTTP is in [`fetch`].

use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

pub mod fetch;
pub mod schedule;

/// What a fetch brought, for the refresh schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worth {
    /// Valid beyond `refresh_before`.
    Good,
    /// Usable, but expiring within `refresh_before`: the source is asked again, with backoff.
    ShortLived,
    /// Already expired or within the expiry margin (a source whose clock is behind, or stale
    /// keys): as good as a failure.
    Useless,
}

/// Credentials are refreshed this long before they expire, unless configured otherwise.
pub const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);
/// Credentials this close to expiry are not used to sign.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

pub use crate::keys::{Credentials, CredentialsError};

/// Credentials and when they stop working (`None`: never).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiring {
    pub credentials: Credentials,
    pub expires: Option<SystemTime>,
}

impl Expiring {
    /// The record VMs share through proxy-wasm shared data.
    pub fn to_shared(&self) -> Vec<u8> {
        let expires_ms = self
            .expires
            .and_then(|e| e.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64);
        json!({
            "access_key_id": self.credentials.access_key_id,
            "secret_access_key": self.credentials.secret_access_key,
            "session_token": self.credentials.session_token,
            "expires_ms": expires_ms,
        })
        .to_string()
        .into_bytes()
    }

    pub fn from_shared(bytes: &[u8]) -> Option<Expiring> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Expiring {
            credentials: Credentials {
                access_key_id: text("access_key_id")?,
                secret_access_key: text("secret_access_key")?,
                session_token: text("session_token"),
            },
            expires: v
                .get("expires_ms")
                .and_then(Value::as_u64)
                .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms)),
        })
    }

    fn usable_at(&self, now: SystemTime) -> bool {
        self.expires.is_none_or(|e| now + EXPIRY_MARGIN < e)
    }
}

/// The credentials a VM signs with, and when to fetch new ones.
#[derive(Debug, Clone)]
pub struct Cache {
    current: Option<Expiring>,
    refresh_before: Duration,
}

impl Cache {
    pub fn new(refresh_before: Duration) -> Cache {
        Cache {
            current: None,
            refresh_before,
        }
    }

    /// Credentials to sign with now, if any are valid.
    pub fn usable(&self, now: SystemTime) -> Option<&Credentials> {
        self.current
            .as_ref()
            .filter(|c| c.usable_at(now))
            .map(|c| &c.credentials)
    }

    pub fn current(&self) -> Option<&Expiring> {
        self.current.as_ref()
    }

    /// Whether new credentials are wanted: none held, or expiry within `refresh_before`. When a
    /// fetch may start is the [`schedule`]'s business.
    pub fn wants_refresh(&self, now: SystemTime) -> bool {
        match &self.current {
            None => true,
            Some(c) => c.expires.is_some_and(|e| now + self.refresh_before >= e),
        }
    }

    /// Takes `got` if it lasts longer than what is held (another VM may have shared older ones).
    pub fn offer(&mut self, got: Expiring) -> bool {
        let better = match (&self.current, got.expires) {
            (None, _) => true,
            (Some(held), Some(new)) => held.expires.is_some_and(|old| new > old),
            (Some(held), None) => held.expires.is_some() || held.credentials != got.credentials,
        };
        if better {
            self.current = Some(got);
        }
        better
    }

    /// What fetched credentials are worth at `now`.
    pub fn assess(&self, got: &Expiring, now: SystemTime) -> Worth {
        match got.expires {
            _ if !got.usable_at(now) => Worth::Useless,
            Some(e) if now + self.refresh_before >= e => Worth::ShortLived,
            _ => Worth::Good,
        }
    }

    /// AWS rejected these keys: stop using them (if they are still the ones held).
    pub fn reject(&mut self, access_key_id: &str) -> bool {
        let held = self
            .current
            .as_ref()
            .is_some_and(|c| c.credentials.access_key_id == access_key_id);
        if held {
            self.current = None;
        }
        held
    }
}

/// AWS error types that mean "these credentials are expired or unknown": refresh and retry once.
pub fn is_rejected_credentials(error_type: &str) -> bool {
    matches!(
        error_type,
        "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "RequestExpired"
    )
}

pub use crate::clock::parse_time;

#[cfg(test)]
mod tests;
