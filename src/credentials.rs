//! AWS credentials: the static `credentials` block or the VM's environment.

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

#[cfg(test)]
mod tests;
