//! The top-level `credentials` block: static keys, or a provider chain with optional AssumeRole.
//!
//! ```json
//! "credentials": {
//!   "chain": ["static", "environment", "web_identity", "container", "instance_metadata"],
//!   "container": {"cluster": "container_credentials"},
//!   "instance_metadata": {"cluster": "imds"},
//!   "assume_role": {"role_arn": "arn:aws:iam::123456789012:role/invoker", "cluster": "sts"},
//!   "refresh_before": "5m"
//! }
//! ```

use super::{as_object, parse_endpoint_url, ConfigError, Ctx, Problem};
use crate::credentials::fetch::{Base, Container, Provider, StsRole, Upstream};
use crate::credentials::{Credentials, DEFAULT_REFRESH_BEFORE};
use serde_json::{Map, Value};
use std::time::Duration;

pub const SOURCES: &[&str] = &[
    "static",
    "environment",
    "web_identity",
    "container",
    "instance_metadata",
];
const ECS_HOST: &str = "169.254.170.2";
const IMDS_HOST: &str = "169.254.169.254";
const DEFAULT_SESSION_NAME: &str = "lambda-wasm";
const WEB_IDENTITY_KEYS: &[&str] = &[
    "role_arn",
    "role_session_name",
    "token",
    "duration",
    "cluster",
    "region",
    "endpoint",
];
const ASSUME_ROLE_KEYS: &[&str] = &[
    "role_arn",
    "role_session_name",
    "external_id",
    "duration",
    "cluster",
    "region",
    "endpoint",
];

/// The parsed block: where credentials come from (`None`: nowhere, so refuse) and how early to
/// refresh them.
pub struct Parsed {
    pub provider: Option<Provider>,
    pub refresh_before: Duration,
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

#[inline(never)]
fn env_value(env: Env, key: &str) -> Option<String> {
    env(key).filter(|v| !v.is_empty())
}

#[inline(never)]
pub(super) fn parse(value: Option<&Value>, ctx: &mut Ctx, env: Env) -> Result<Parsed, ConfigError> {
    let empty = Map::new();
    let object = match value {
        None | Some(Value::Null) => &empty,
        Some(v) => as_object(v, ctx, "credentials")?,
    };
    let mut cctx = Ctx {
        endpoint: ctx.endpoint.clone(),
        prefix: ctx.key("credentials"),
        warnings: ctx.warnings,
    };
    cctx.check_keys(
        object,
        &[
            "access_key_id",
            "secret_access_key",
            "session_token",
            "chain",
            "container",
            "instance_metadata",
            "web_identity",
            "assume_role",
            "refresh_before",
        ],
        &[],
        &[],
    )?;
    let refresh_before = cctx
        .duration(object, "refresh_before")?
        .unwrap_or(DEFAULT_REFRESH_BEFORE);
    let chain: Vec<String> = match object.get("chain") {
        None | Some(Value::Null) => SOURCES.iter().map(|s| s.to_string()).collect(),
        Some(v) => {
            let list = v
                .as_array()
                .and_then(|l| {
                    l.iter()
                        .map(|s| s.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| cctx.err("chain", Problem::WrongType("an array of source names")))?;
            if let Some(bad) = list.iter().find(|s| !SOURCES.contains(&s.as_str())) {
                return Err(cctx.err("chain", Problem::UnknownSource(bad.clone())));
            }
            list
        }
    };
    let mut base = None;
    for source in &chain {
        base = match source.as_str() {
            "static" => static_keys(object, &cctx)?.map(Base::Fixed),
            "environment" => Credentials::from_env(env)
                .map_err(|e| cctx.err("", Problem::Credentials(e)))?
                .map(Base::Fixed),
            "web_identity" => web_identity(object.get("web_identity"), &cctx, env)?,
            "container" => container(object.get("container"), &cctx, env)?,
            "instance_metadata" => instance_metadata(object.get("instance_metadata"), &cctx, env)?,
            _ => None,
        };
        if base.is_some() {
            break;
        }
    }
    let assume_role = match object.get("assume_role") {
        None | Some(Value::Null) => None,
        Some(v) => Some(sts_role(v, &cctx, "assume_role", env, true)?),
    };
    if base.is_none() && assume_role.is_some() {
        return Err(cctx.err("assume_role", Problem::NoBaseCredentials));
    }
    Ok(Parsed {
        provider: base.map(|base| Provider { base, assume_role }),
        refresh_before,
    })
}

#[inline(never)]
fn static_keys(object: &Map<String, Value>, ctx: &Ctx) -> Result<Option<Credentials>, ConfigError> {
    let key = ctx.string(object, "access_key_id")?;
    let secret = ctx.string(object, "secret_access_key")?;
    let (key, secret) = match (key, secret) {
        (None, None) => return Ok(None),
        (Some(_), None) => return Err(ctx.err("secret_access_key", Problem::Missing)),
        (None, Some(_)) => return Err(ctx.err("access_key_id", Problem::Missing)),
        (Some(""), _) => return Err(ctx.err("access_key_id", Problem::Empty)),
        (_, Some("")) => return Err(ctx.err("secret_access_key", Problem::Empty)),
        (Some(k), Some(s)) => (k, s),
    };
    Ok(Some(Credentials {
        access_key_id: key.to_string(),
        secret_access_key: secret.to_string(),
        session_token: ctx
            .string(object, "session_token")?
            .filter(|t| !t.is_empty())
            .map(str::to_string),
    }))
}

/// A sub-object's context (`credentials.container`), with its keys checked.
#[inline(never)]
fn sub<'v>(
    value: Option<&'v Value>,
    ctx: &Ctx,
    key: &str,
    known: &[&str],
) -> Result<Option<&'v Map<String, Value>>, ConfigError> {
    let Some(v) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let object = as_object(v, ctx, key)?;
    if let Some(unknown) = object
        .keys()
        .find(|k| !known.contains(&k.as_str()) && !super::is_comment(k))
    {
        return Err(ctx.err(&format!("{key}.{unknown}"), Problem::UnknownKey));
    }
    Ok(Some(object))
}

#[inline(never)]
fn sub_string(
    object: Option<&Map<String, Value>>,
    ctx: &Ctx,
    parent: &str,
    key: &str,
) -> Result<Option<String>, ConfigError> {
    match object.and_then(|o| o.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(ctx.err(&format!("{parent}.{key}"), Problem::Empty)),
        Some(_) => Err(ctx.err(&format!("{parent}.{key}"), Problem::WrongType("a string"))),
    }
}

#[inline(never)]
fn cluster_of(
    object: Option<&Map<String, Value>>,
    ctx: &Ctx,
    parent: &str,
    default: &str,
) -> Result<String, ConfigError> {
    Ok(sub_string(object, ctx, parent, "cluster")?.unwrap_or_else(|| default.to_string()))
}

/// `http://host[:port]/path` → (authority, path).
#[inline(never)]
fn split_uri(uri: &str, ctx: &Ctx, key: &str) -> Result<(String, String), ConfigError> {
    let (authority, path) = parse_endpoint_url(uri)
        .ok_or_else(|| ctx.err(key, Problem::EndpointUrl(uri.to_string())))?;
    Ok((
        authority,
        if path.is_empty() {
            "/".to_string()
        } else {
            path
        },
    ))
}

#[inline(never)]
fn container(value: Option<&Value>, ctx: &Ctx, env: Env) -> Result<Option<Base>, ConfigError> {
    let object = sub(
        value,
        ctx,
        "container",
        &["cluster", "uri", "authorization_token"],
    )?;
    let (uri_key, uri) = match sub_string(object, ctx, "container", "uri")? {
        Some(uri) => ("container.uri", uri),
        None => match (
            env_value(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            env_value(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        ) {
            (Some(relative), _) => (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                format!("http://{ECS_HOST}{relative}"),
            ),
            (None, Some(full)) => ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full),
            (None, None) => return Ok(None),
        },
    };
    let (authority, path) = split_uri(&uri, ctx, uri_key)?;
    Ok(Some(Base::Container(Container {
        upstream: Upstream {
            cluster: cluster_of(object, ctx, "container", "container_credentials")?,
            authority,
        },
        path,
        authorization: sub_string(object, ctx, "container", "authorization_token")?
            .or_else(|| env_value(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN")),
    })))
}

#[inline(never)]
fn instance_metadata(
    value: Option<&Value>,
    ctx: &Ctx,
    env: Env,
) -> Result<Option<Base>, ConfigError> {
    let object = sub(value, ctx, "instance_metadata", &["cluster", "enabled"])?;
    let enabled = match object.and_then(|o| o.get("enabled")) {
        None | Some(Value::Null) => !env_value(env, "AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ctx.err(
                "instance_metadata.enabled",
                Problem::WrongType("true or false"),
            ))
        }
    };
    if !enabled {
        return Ok(None);
    }
    Ok(Some(Base::InstanceMetadata(Upstream {
        cluster: cluster_of(object, ctx, "instance_metadata", "imds")?,
        authority: IMDS_HOST.to_string(),
    })))
}

#[inline(never)]
fn web_identity(value: Option<&Value>, ctx: &Ctx, env: Env) -> Result<Option<Base>, ConfigError> {
    let object = sub(value, ctx, "web_identity", WEB_IDENTITY_KEYS)?;
    let token = sub_string(object, ctx, "web_identity", "token")?
        .or_else(|| env_value(env, "AWS_WEB_IDENTITY_TOKEN"));
    let role_arn = sub_string(object, ctx, "web_identity", "role_arn")?
        .or_else(|| env_value(env, "AWS_ROLE_ARN"));
    let (Some(token), Some(_)) = (token, role_arn) else {
        if object.is_some() {
            return Err(ctx.err("web_identity", Problem::WebIdentityIncomplete));
        }
        return Ok(None);
    };
    let role = sts_role(
        value.unwrap_or(&Value::Null),
        ctx,
        "web_identity",
        env,
        false,
    )?;
    Ok(Some(Base::WebIdentity { role, token }))
}

/// `assume_role` or `web_identity`: role, session name, duration and the STS endpoint.
#[inline(never)]
fn sts_role(
    value: &Value,
    ctx: &Ctx,
    key: &str,
    env: Env,
    assume: bool,
) -> Result<StsRole, ConfigError> {
    let known = if assume {
        ASSUME_ROLE_KEYS
    } else {
        WEB_IDENTITY_KEYS
    };
    let object = sub(Some(value), ctx, key, known)?;
    let role_arn = match sub_string(object, ctx, key, "role_arn")? {
        Some(arn) => arn,
        None if !assume => env_value(env, "AWS_ROLE_ARN")
            .ok_or_else(|| ctx.err(&format!("{key}.role_arn"), Problem::Missing))?,
        None => return Err(ctx.err(&format!("{key}.role_arn"), Problem::Missing)),
    };
    if !role_arn.starts_with("arn:") || role_arn.contains(char::is_whitespace) {
        return Err(ctx.err(&format!("{key}.role_arn"), Problem::RoleArn(role_arn)));
    }
    let session_name = sub_string(object, ctx, key, "role_session_name")?
        .or_else(|| env_value(env, "AWS_ROLE_SESSION_NAME"))
        .unwrap_or_else(|| DEFAULT_SESSION_NAME.to_string());
    let duration = match sub_string(object, ctx, key, "duration")? {
        None => None,
        Some(text) => {
            let d = crate::duration::parse(&text)
                .map_err(|e| ctx.err(&format!("{key}.duration"), Problem::Duration(e)))?;
            if !(900..=43_200).contains(&d.as_secs()) {
                return Err(ctx.err(&format!("{key}.duration"), Problem::StsDuration(text)));
            }
            Some(d)
        }
    };
    let region = sub_string(object, ctx, key, "region")?
        .or_else(|| env_value(env, "AWS_REGION"))
        .or_else(|| env_value(env, "AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".to_string());
    let authority = match sub_string(object, ctx, key, "endpoint")? {
        Some(url) => split_uri(&url, ctx, &format!("{key}.endpoint"))?.0,
        None => format!("sts.{region}.amazonaws.com"),
    };
    Ok(StsRole {
        upstream: Upstream {
            cluster: cluster_of(object, ctx, key, "sts")?,
            authority,
        },
        region,
        role_arn,
        session_name,
        external_id: if assume {
            sub_string(object, ctx, key, "external_id")?
        } else {
            None
        },
        duration,
    })
}
