//! AWS credentials: what they are, how long they last, when to refresh them, and how VMs share
//! them. Fetching them over HTTP is in [`fetch`].

use serde_json::{json, Value};
use std::fmt;
use std::time::{Duration, SystemTime};
use thiserror::Error;

pub mod fetch;

/// Credentials are refreshed this long before they expire, unless configured otherwise.
pub const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);
/// Credentials this close to expiry are not used to sign.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(5);
/// After a failed fetch, the next attempt waits this long.
pub const RETRY_FETCH_AFTER: Duration = Duration::from_secs(1);

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CredentialsError {
    #[error("{0} is set but {1} is not")]
    Incomplete(&'static str, &'static str),
}

impl Credentials {
    /// Strings that must never appear in a log line or a response.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.secret_access_key.as_str()).chain(self.session_token.as_deref())
    }

    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, read through `env`.
    /// `Ok(None)` when neither key is set.
    pub fn from_env(
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Credentials>, CredentialsError> {
        let get = |k: &str| env(k).filter(|v| !v.is_empty());
        match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret_access_key)) => Ok(Some(Credentials {
                access_key_id,
                secret_access_key,
                session_token: get("AWS_SESSION_TOKEN"),
            })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(CredentialsError::Incomplete(
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
            )),
            (None, Some(_)) => Err(CredentialsError::Incomplete(
                "AWS_SECRET_ACCESS_KEY",
                "AWS_ACCESS_KEY_ID",
            )),
        }
    }
}

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
    retry_at: Option<SystemTime>,
}

impl Cache {
    pub fn new(refresh_before: Duration) -> Cache {
        Cache {
            current: None,
            refresh_before,
            retry_at: None,
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

    /// Whether to start a fetch now: none held, or expiry within `refresh_before`, and not in the
    /// pause after a failed fetch.
    pub fn wants_refresh(&self, now: SystemTime) -> bool {
        if self.retry_at.is_some_and(|t| now < t) {
            return false;
        }
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
            self.retry_at = None;
        }
        better
    }

    pub fn failed(&mut self, now: SystemTime) {
        self.retry_at = Some(now + RETRY_FETCH_AFTER);
    }

    /// AWS rejected these keys: stop using them (if they are still the ones held).
    pub fn reject(&mut self, access_key_id: &str) -> bool {
        let held = self
            .current
            .as_ref()
            .is_some_and(|c| c.credentials.access_key_id == access_key_id);
        if held {
            self.current = None;
            self.retry_at = None;
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
