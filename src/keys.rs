//! AWS access keys: what they are, how they are read from the environment, and which of their
//! parts are secret. A leaf: signing and fetching both build on it.

use std::fmt;
use thiserror::Error;

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
    /// A part is empty or holds a character no HTTP header may carry (a CR/LF, a space, a
    /// control byte): such keys would make Envoy refuse every signed request.
    #[error("the {0} is empty or contains characters that are not printable ASCII")]
    Malformed(&'static str),
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

impl Credentials {
    /// Checks that every part can travel in an HTTP header: printable ASCII, no spaces, not
    /// empty. The error names the part, never its value.
    pub fn validate(&self) -> Result<(), CredentialsError> {
        let clean = |v: &str| !v.is_empty() && v.bytes().all(|b| (0x21..0x7f).contains(&b));
        if !clean(&self.access_key_id) {
            return Err(CredentialsError::Malformed("access key id"));
        }
        if !clean(&self.secret_access_key) {
            return Err(CredentialsError::Malformed("secret access key"));
        }
        if self.session_token.as_deref().is_some_and(|t| !clean(t)) {
            return Err(CredentialsError::Malformed("session token"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
