//! SigV4 request signing (header form), through the `aws-sigv4` crate.

use crate::credentials::Credentials;
use aws_sigv4::http_request::{sign as sigv4_sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use std::time::SystemTime;
use thiserror::Error;

/// The signing name of the Lambda API.
pub const LAMBDA_SERVICE: &str = "lambda";

#[derive(Debug, Error)]
pub enum SignError {
    #[error("cannot build signing parameters: {0}")]
    Params(String),
    #[error("cannot sign the request: {0}")]
    Sign(String),
}

/// What is signed. `path_and_query` is already percent-encoded, as sent on the wire; `headers`
/// must include `host` with exactly the value the request will carry.
pub struct Unsigned<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Signs the request and returns the headers to add (`authorization`, `x-amz-date`, and
/// `x-amz-security-token` when the credentials carry a session token).
pub fn sign(
    request: &Unsigned<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, SignError> {
    let identity = aws_credential_types::Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.clone(),
        credentials.session_token.clone(),
        None,
        "lambda-wasm",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SignError::Params(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.path_and_query,
        request.headers.iter().copied(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| SignError::Sign(e.to_string()))?;
    let (instructions, _signature) = sigv4_sign(signable, &params)
        .map_err(|e| SignError::Sign(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect())
}

#[cfg(test)]
mod tests;
