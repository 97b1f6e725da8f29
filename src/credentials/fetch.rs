//! Fetching credentials over HTTP, as a state machine the shell drives: each step is one HTTP
//! request (sent through an Envoy cluster) and each answer moves it on. No host calls here.
//!
//! - container (ECS task role, EKS Pod Identity): `GET` the credentials URI, with the
//!   authorization token when one is given;
//! - EC2 instance metadata, IMDSv2 only: `PUT` a session token, `GET` the role name, `GET` the
//!   role's credentials;
//! - STS `AssumeRoleWithWebIdentity` (unsigned) and `AssumeRole` (signed with the base
//!   credentials), whose XML answers carry temporary credentials.

use super::{parse_time, Credentials, Expiring};
use crate::sign;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use std::time::{Duration, SystemTime};
use thiserror::Error;

/// An HTTP endpoint reached through an Envoy cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub cluster: String,
    /// `:authority`, and for STS the signed host.
    pub authority: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub upstream: Upstream,
    pub path: String,
    /// Sent as `Authorization` (EKS Pod Identity, ECS full URI with a token).
    pub authorization: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsRole {
    pub upstream: Upstream,
    pub region: String,
    pub role_arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
    pub duration: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// Keys that never expire (the `credentials` block or the environment).
    Fixed(Credentials),
    Container(Container),
    InstanceMetadata(Upstream),
    WebIdentity {
        role: StsRole,
        token: String,
    },
}

/// Where credentials come from: a base source, optionally with `AssumeRole` on top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub base: Base,
    pub assume_role: Option<StsRole>,
}

impl Provider {
    /// Whether credentials come from the network (and so expire and are refreshed).
    pub fn is_dynamic(&self) -> bool {
        self.assume_role.is_some() || !matches!(self.base, Base::Fixed(_))
    }

    /// The one-word name of the source, for logs.
    pub fn describe(&self) -> String {
        let base = match &self.base {
            Base::Fixed(_) => "static keys",
            Base::Container(_) => "container credentials",
            Base::InstanceMetadata(_) => "EC2 instance metadata (IMDSv2)",
            Base::WebIdentity { .. } => "STS AssumeRoleWithWebIdentity",
        };
        match &self.assume_role {
            Some(role) => format!("STS AssumeRole {} on {base}", role.role_arn),
            None => base.to_string(),
        }
    }
}

/// One HTTP request of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("{source_name} answered HTTP {status}{detail}")]
    Status {
        source_name: &'static str,
        status: u16,
        detail: String,
    },
    #[error("{0} did not answer (unreachable, reset or timed out)")]
    NoAnswer(&'static str),
    #[error("{0} answered something that is not credentials: {1}")]
    Malformed(&'static str, &'static str),
    #[error("cannot sign the STS request: {0}")]
    Sign(String),
    #[error("Envoy refused the callout to cluster {0:?}: is the cluster defined?")]
    Callout(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    Container,
    ImdsToken,
    ImdsRole { token: String },
    ImdsCredentials { token: String },
    WebIdentity,
    AssumeRole { base: Credentials },
}

/// What a fetch needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Send(HttpRequest),
    Done(Result<Expiring, FetchError>),
}

/// A fetch in progress.
#[derive(Debug, Clone)]
pub struct Fetch {
    provider: Provider,
    stage: Stage,
}

/// IMDS session token lifetime asked for (6 h, the SDKs' default).
const IMDS_TOKEN_TTL: &str = "21600";

const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, FORM)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

fn request(
    upstream: &Upstream,
    method: &str,
    path: &str,
    extra: Vec<(String, String)>,
    body: Vec<u8>,
) -> HttpRequest {
    let mut headers = vec![
        (":method".to_string(), method.to_string()),
        (":path".to_string(), path.to_string()),
        (":authority".to_string(), upstream.authority.clone()),
    ];
    headers.extend(extra);
    HttpRequest {
        cluster: upstream.cluster.clone(),
        headers,
        body,
    }
}

impl Fetch {
    /// Starts a fetch; `Done` at once when there is nothing to fetch.
    pub fn start(provider: &Provider, now: SystemTime) -> (Fetch, Next) {
        let stage = match &provider.base {
            Base::Fixed(base) => Stage::AssumeRole { base: base.clone() },
            Base::Container(_) => Stage::Container,
            Base::InstanceMetadata(_) => Stage::ImdsToken,
            Base::WebIdentity { .. } => Stage::WebIdentity,
        };
        let mut fetch = Fetch {
            provider: provider.clone(),
            stage,
        };
        let next = match (&fetch.stage, &provider.base) {
            (Stage::AssumeRole { base }, Base::Fixed(_)) if provider.assume_role.is_none() => {
                Next::Done(Ok(Expiring {
                    credentials: base.clone(),
                    expires: None,
                }))
            }
            _ => fetch.request(now),
        };
        (fetch, next)
    }

    fn request(&mut self, now: SystemTime) -> Next {
        match (&self.stage, &self.provider.base) {
            (Stage::Container, Base::Container(c)) => {
                let auth = c
                    .authorization
                    .iter()
                    .map(|t| ("authorization".to_string(), t.clone()))
                    .collect();
                Next::Send(request(&c.upstream, "GET", &c.path, auth, vec![]))
            }
            (Stage::ImdsToken, Base::InstanceMetadata(u)) => Next::Send(request(
                u,
                "PUT",
                "/latest/api/token",
                vec![(
                    "x-aws-ec2-metadata-token-ttl-seconds".into(),
                    IMDS_TOKEN_TTL.into(),
                )],
                vec![],
            )),
            (Stage::ImdsRole { token }, Base::InstanceMetadata(u)) => Next::Send(request(
                u,
                "GET",
                "/latest/meta-data/iam/security-credentials/",
                vec![("x-aws-ec2-metadata-token".into(), token.clone())],
                vec![],
            )),
            (Stage::WebIdentity, Base::WebIdentity { role, token }) => {
                let mut pairs = vec![
                    ("Action", "AssumeRoleWithWebIdentity"),
                    ("Version", "2011-06-15"),
                    ("RoleArn", role.role_arn.as_str()),
                    ("RoleSessionName", role.session_name.as_str()),
                    ("WebIdentityToken", token.as_str()),
                ];
                let duration = role.duration.map(|d| d.as_secs().to_string());
                if let Some(d) = &duration {
                    pairs.push(("DurationSeconds", d));
                }
                Next::Send(request(
                    &role.upstream,
                    "POST",
                    "/",
                    vec![(
                        "content-type".into(),
                        "application/x-www-form-urlencoded; charset=utf-8".into(),
                    )],
                    form(&pairs),
                ))
            }
            (Stage::AssumeRole { base }, _) => match &self.provider.assume_role {
                Some(role) => match assume_role_request(role, base, now) {
                    Ok(r) => Next::Send(r),
                    Err(e) => Next::Done(Err(e)),
                },
                None => Next::Done(Err(FetchError::Malformed(
                    "credentials",
                    "no AssumeRole configured",
                ))),
            },
            _ => Next::Done(Err(FetchError::Malformed(
                "credentials",
                "inconsistent fetch state",
            ))),
        }
    }

    fn source_name(&self) -> &'static str {
        match self.stage {
            Stage::Container => "the container credentials endpoint",
            Stage::ImdsToken | Stage::ImdsRole { .. } | Stage::ImdsCredentials { .. } => {
                "EC2 instance metadata"
            }
            Stage::WebIdentity => "STS AssumeRoleWithWebIdentity",
            Stage::AssumeRole { .. } => "STS AssumeRole",
        }
    }

    /// The callout could not be sent or got no answer.
    pub fn on_failure(&self) -> Next {
        Next::Done(Err(FetchError::NoAnswer(self.source_name())))
    }

    /// Feeds the answer to the last request. `status` is `None` when no response came back.
    pub fn on_response(&mut self, status: Option<u16>, body: &[u8], now: SystemTime) -> Next {
        let name = self.source_name();
        let Some(status) = status else {
            return self.on_failure();
        };
        if !(200..300).contains(&status) {
            return Next::Done(Err(FetchError::Status {
                source_name: name,
                status,
                detail: error_detail(body),
            }));
        }
        let got = match &self.stage {
            Stage::ImdsToken => {
                let token = String::from_utf8_lossy(body).trim().to_string();
                if token.is_empty() {
                    return Next::Done(Err(FetchError::Malformed(name, "an empty session token")));
                }
                self.stage = Stage::ImdsRole { token };
                return self.request(now);
            }
            Stage::ImdsRole { token } => {
                let text = String::from_utf8_lossy(body);
                let role = text.lines().next().unwrap_or("").trim();
                if role.is_empty() || role.contains('/') {
                    return Next::Done(Err(FetchError::Malformed(
                        name,
                        "no instance profile role",
                    )));
                }
                let path = format!(
                    "/latest/meta-data/iam/security-credentials/{}",
                    utf8_percent_encode(role, FORM)
                );
                let token = token.clone();
                self.stage = Stage::ImdsCredentials {
                    token: token.clone(),
                };
                let Base::InstanceMetadata(u) = &self.provider.base else {
                    return Next::Done(Err(FetchError::Malformed(
                        name,
                        "inconsistent fetch state",
                    )));
                };
                return Next::Send(request(
                    u,
                    "GET",
                    &path,
                    vec![("x-aws-ec2-metadata-token".into(), token)],
                    vec![],
                ));
            }
            Stage::Container | Stage::ImdsCredentials { .. } => parse_json_credentials(body, name),
            Stage::WebIdentity | Stage::AssumeRole { .. } => parse_sts_credentials(body, name),
        };
        match got {
            Err(e) => Next::Done(Err(e)),
            Ok(got) => match (&self.stage, &self.provider.assume_role) {
                (Stage::AssumeRole { .. }, _) | (_, None) => Next::Done(Ok(got)),
                (_, Some(_)) => {
                    self.stage = Stage::AssumeRole {
                        base: got.credentials,
                    };
                    self.request(now)
                }
            },
        }
    }
}

fn assume_role_request(
    role: &StsRole,
    base: &Credentials,
    now: SystemTime,
) -> Result<HttpRequest, FetchError> {
    let mut pairs = vec![
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", role.role_arn.as_str()),
        ("RoleSessionName", role.session_name.as_str()),
    ];
    if let Some(id) = &role.external_id {
        pairs.push(("ExternalId", id));
    }
    let duration = role.duration.map(|d| d.as_secs().to_string());
    if let Some(d) = &duration {
        pairs.push(("DurationSeconds", d));
    }
    let body = form(&pairs);
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let signed = [
        ("host", role.upstream.authority.as_str()),
        ("content-type", content_type),
    ];
    let unsigned = sign::Unsigned {
        method: "POST",
        path_and_query: "/",
        headers: &signed,
        body: &body,
    };
    let signature = sign::sign(&unsigned, base, &role.region, "sts", now)
        .map_err(|e| FetchError::Sign(e.to_string()))?;
    let mut extra = vec![("content-type".to_string(), content_type.to_string())];
    extra.extend(signature);
    Ok(request(&role.upstream, "POST", "/", extra, body))
}

/// A short, secret-free description of an error answer (an error code, never the body).
fn error_detail(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Some(code) = xml_value(&text, "Code") {
        return format!(" ({code})");
    }
    let code = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        v.get("Code")
            .or_else(|| v.get("code"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    code.map(|c| format!(" ({c})")).unwrap_or_default()
}

/// Container and IMDS answers: `{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}`.
fn parse_json_credentials(body: &[u8], name: &'static str) -> Result<Expiring, FetchError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| FetchError::Malformed(name, "not JSON"))?;
    if let Some(code) = v.get("Code").and_then(Value::as_str) {
        if code != "Success" {
            return Err(FetchError::Status {
                source_name: name,
                status: 200,
                detail: format!(" ({code})"),
            });
        }
    }
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let (Some(access_key_id), Some(secret_access_key)) =
        (field("AccessKeyId"), field("SecretAccessKey"))
    else {
        return Err(FetchError::Malformed(
            name,
            "no AccessKeyId or SecretAccessKey",
        ));
    };
    let expires = match field("Expiration") {
        Some(t) => {
            Some(parse_time(&t).ok_or(FetchError::Malformed(name, "an unreadable Expiration"))?)
        }
        None => None,
    };
    Ok(Expiring {
        credentials: Credentials {
            access_key_id,
            secret_access_key,
            session_token: field("Token"),
        },
        expires,
    })
}

/// STS answers: `<Credentials><AccessKeyId>…</AccessKeyId>…<Expiration>…</Expiration></Credentials>`.
fn parse_sts_credentials(body: &[u8], name: &'static str) -> Result<Expiring, FetchError> {
    let text = String::from_utf8_lossy(body);
    let block = xml_value(&text, "Credentials")
        .ok_or(FetchError::Malformed(name, "no Credentials element"))?;
    let get = |k: &str| xml_value(&block, k).filter(|s| !s.is_empty());
    let (Some(access_key_id), Some(secret_access_key), Some(expiration)) = (
        get("AccessKeyId"),
        get("SecretAccessKey"),
        get("Expiration"),
    ) else {
        return Err(FetchError::Malformed(name, "incomplete Credentials"));
    };
    Ok(Expiring {
        credentials: Credentials {
            access_key_id,
            secret_access_key,
            session_token: get("SessionToken"),
        },
        expires: Some(
            parse_time(&expiration)
                .ok_or(FetchError::Malformed(name, "an unreadable Expiration"))?,
        ),
    })
}

/// The text of the first `<name>` element, XML entities decoded.
fn xml_value(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(&format!("</{name}>"))?;
    Some(
        text[start..start + len]
            .trim()
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests;
