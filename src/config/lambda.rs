//! The `backend/lambda` block: KrakenD's keys plus the Invoke options, exposure controls and
//! error policy this filter adds.

use super::{
    as_object, credentials, parse_endpoint_url, valid_tenant_id, ConfigError, Ctx, Defaults,
    FunctionSource, FunctionUrl, Lambda, Mode, Problem, Signing, Source, TenantSource,
    MAX_RETRIES_LIMIT, SDK_DEFAULT_RETRIES,
};
use crate::config::InvocationType;
use crate::event::{EventFormat, EventOptions};
use crate::function::{self, krakend_param_key, AllowList, FunctionName};
use crate::http;
use crate::response::{ErrorPolicy, ResponseFormat};
use crate::route::Pattern;
use base64::Engine;
use serde_json::{Map, Value};

/// Lambda's limit on `X-Amz-Client-Context` (base64 bytes).
pub const MAX_CLIENT_CONTEXT: usize = 3583;

#[inline(never)]
pub(super) fn parse(
    block: &Map<String, Value>,
    ctx: &mut Ctx,
    path: &Pattern,
    backend_method: &str,
    defaults: &Defaults,
    sources: &mut Vec<Source>,
) -> Result<Lambda, ConfigError> {
    let url = function_url(block, ctx)?;
    let function = match &url {
        Some((_, host)) => url_function(ctx, host)?,
        None => function_source(block, ctx, path)?,
    };
    let allowed = match block.get("allowed_functions") {
        None | Some(Value::Null) => None,
        Some(value) => {
            if !function.from_request() {
                return Err(ctx.err("allowed_functions", Problem::NotRequestDriven));
            }
            let patterns = string_list(value, ctx, "allowed_functions")?;
            Some(
                AllowList::new(patterns)
                    .map_err(|e| ctx.err("allowed_functions", Problem::AllowPattern(e)))?,
            )
        }
    };
    if function.from_request() && allowed.is_none() {
        let label = ctx.endpoint.clone().unwrap_or_default();
        ctx.warnings.push(format!(
            "endpoint {label}: the request names the function and there is no allowed_functions: \
             any function these credentials may invoke can be reached"
        ));
    }
    let qualifier = match ctx.string(block, "qualifier")? {
        None => None,
        Some(q) => {
            function::validate_qualifier(q)
                .map_err(|e| ctx.err("qualifier", Problem::Qualifier(q.to_string(), e)))?;
            for name in fixed_names(&function) {
                if let Some(own) = name.qualifier().filter(|own| *own != q) {
                    return Err(ctx.err(
                        "qualifier",
                        Problem::QualifierConflict(q.to_string(), own.to_string()),
                    ));
                }
            }
            Some(q.to_string())
        }
    };
    let qualifier_header = header_name(block, ctx, "qualifier_header_name")?;
    let tenant = tenant_source(block, ctx, path)?;
    let invocation_type = match ctx.string(block, "invocation_type")? {
        None => InvocationType::RequestResponse,
        Some(t) => InvocationType::parse(t).ok_or_else(|| {
            ctx.err(
                "invocation_type",
                Problem::OneOf("RequestResponse, Event, DryRun"),
            )
        })?,
    };
    let log_tail = match ctx.string(block, "log_type")? {
        None | Some("None") => false,
        Some("Tail") => true,
        Some(_) => return Err(ctx.err("log_type", Problem::OneOf("None, Tail"))),
    };
    let synchronous = invocation_type == InvocationType::RequestResponse;
    if log_tail && !synchronous {
        return Err(ctx.err("log_type", Problem::SyncOnly));
    }
    let client_context = match block.get("client_context") {
        None | Some(Value::Null) => None,
        Some(value) => {
            if !synchronous {
                return Err(ctx.err("client_context", Problem::SyncOnly));
            }
            Some(client_context(value, ctx)?)
        }
    };
    let errors = error_policy(block, ctx)?;
    let event_format = match ctx.string(block, "event_format")? {
        None => EventFormat::Krakend,
        Some(f) => EventFormat::parse(f).ok_or_else(|| {
            ctx.err(
                "event_format",
                Problem::OneOf("krakend, apigw_v1, apigw_v2, raw"),
            )
        })?,
    };
    let response_format = match ctx.string(block, "response_format")? {
        None if event_format.is_apigw() => ResponseFormat::Apigw {
            infer: event_format == EventFormat::ApigwV2,
        },
        None | Some("krakend") => ResponseFormat::Krakend,
        Some("apigw") => ResponseFormat::Apigw {
            infer: event_format == EventFormat::ApigwV2,
        },
        Some(_) => return Err(ctx.err("response_format", Problem::OneOf("krakend, apigw"))),
    };
    let event = event_options(block, ctx)?;
    if (event.allow_headers.is_some()
        || !event.deny_headers.is_empty()
        || event.binary_media_types.is_some())
        && !event_format.is_apigw()
    {
        return Err(ctx.err("event_format", Problem::ApigwOnly));
    }

    // `<id>.lambda-url.<region>.on.aws` names its region.
    let url_region = url.as_ref().and_then(|(_, host)| {
        let mut labels = host.split('.');
        match (labels.next(), labels.next(), labels.next()) {
            (Some(_), Some("lambda-url"), Some(region)) => Some(region.to_string()),
            _ => None,
        }
    });
    let region = match ctx.string(block, "region")? {
        Some(r) => r.to_string(),
        None if url_region.is_some() => url_region.unwrap_or_default(),
        None => (defaults.env)("AWS_REGION")
            .filter(|r| !r.is_empty())
            .or_else(|| (defaults.env)("AWS_DEFAULT_REGION").filter(|r| !r.is_empty()))
            .ok_or_else(|| ctx.err("region", Problem::NoRegion))?,
    };
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ctx.err("region", Problem::Region(region)));
    }
    let (host, path_prefix) = match (ctx.string(block, "endpoint")?, &url) {
        (_, Some((_, host))) => (host.clone(), String::new()),
        (None, None) => (format!("lambda.{region}.amazonaws.com"), String::new()),
        (Some(url), None) => parse_endpoint_url(url)
            .ok_or_else(|| ctx.err("endpoint", Problem::EndpointUrl(url.to_string())))?,
    };
    let max_retries = match block.get("max_retries") {
        None | Some(Value::Null) => 0,
        Some(v) => match v.as_i64() {
            Some(-1) => SDK_DEFAULT_RETRIES,
            Some(n) if (0..=MAX_RETRIES_LIMIT as i64).contains(&n) => n as u32,
            _ => return Err(ctx.err("max_retries", Problem::MaxRetries(v.to_string()))),
        },
    };
    let cluster = match ctx.string(block, "cluster")? {
        Some("") => return Err(ctx.err("cluster", Problem::Empty)),
        Some(c) => c.to_string(),
        None => defaults.cluster.to_string(),
    };
    let payload_from_params = backend_method == "GET";
    let mode = match ctx.string(block, "mode")? {
        // A Function URL is always reached in place: the request itself goes there.
        None if url.is_some() => Mode::InPlace,
        Some("callout") if url.is_some() => {
            return Err(ctx.err("mode", Problem::NotWithFunctionUrl))
        }
        None | Some("callout") => Mode::Callout,
        Some("in_place") => Mode::InPlace,
        Some(_) => return Err(ctx.err("mode", Problem::OneOf("callout, in_place"))),
    };
    if mode == Mode::InPlace && url.is_none() {
        let body_is_payload = match event_format {
            EventFormat::Raw => true,
            EventFormat::Krakend => !payload_from_params,
            EventFormat::ApigwV1 | EventFormat::ApigwV2 => false,
        };
        if !body_is_payload {
            return Err(ctx.err("mode", Problem::InPlaceNeedsBody));
        }
        if max_retries > 0 {
            return Err(ctx.err("max_retries", Problem::InPlaceRetries));
        }
    }
    let stream = match block.get("response_stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ctx.err("response_stream", Problem::WrongType("a boolean"))),
    };
    if stream && (url.is_some() || invocation_type != InvocationType::RequestResponse) {
        return Err(ctx.err("response_stream", Problem::StreamSync));
    }
    let signing = match ctx.string(block, "signing")? {
        None | Some("filter") => Signing::Filter,
        Some("envoy") => Signing::Envoy,
        Some(_) => return Err(ctx.err("signing", Problem::OneOf("filter, envoy"))),
    };
    let source = match block.get("credentials").filter(|v| !v.is_null()) {
        None => 0,
        Some(_) if signing == Signing::Envoy || mode == Mode::InPlace => {
            return Err(ctx.err("credentials", Problem::EnvoySignsCredentials))
        }
        Some(value) => {
            let parsed = credentials::parse(Some(value), ctx, defaults.env)?;
            let source = Source {
                provider: parsed.provider,
                refresh_before: parsed.refresh_before,
            };
            match sources.iter().position(|s| *s == source) {
                Some(i) if i > 0 => i,
                _ => {
                    sources.push(source);
                    sources.len() - 1
                }
            }
        }
    };
    Ok(Lambda {
        function,
        allowed,
        qualifier,
        qualifier_header,
        tenant,
        url: url.map(|(u, _)| u),
        stream,
        invocation_type,
        log_tail,
        client_context,
        errors,
        event_format,
        event,
        response_format,
        region,
        host,
        path_prefix,
        max_retries,
        cluster,
        mode,
        payload_from_params,
        signing,
        source,
    })
}

#[inline(never)]
fn function_source(
    block: &Map<String, Value>,
    ctx: &Ctx,
    path: &Pattern,
) -> Result<FunctionSource, ConfigError> {
    let present: Vec<&str> = [
        "function_name",
        "function_param_name",
        "functions",
        "function_header_name",
    ]
    .into_iter()
    .filter(|k| block.get(*k).is_some_and(|v| !v.is_null()))
    .collect();
    let fixed = |key: &str| -> Result<Option<FunctionName>, ConfigError> {
        match ctx.string(block, key)? {
            None => Ok(None),
            Some(name) => FunctionName::parse(name)
                .map(Some)
                .map_err(|e| ctx.err(key, Problem::FunctionName(name.to_string(), e))),
        }
    };
    match present.as_slice() {
        [] => Err(ctx.err("function_name", Problem::NoFunctionField)),
        ["function_name"] => Ok(FunctionSource::Fixed(
            fixed("function_name")?.ok_or_else(|| ctx.err("function_name", Problem::Missing))?,
        )),
        ["function_param_name"] => {
            let param = ctx
                .string(block, "function_param_name")?
                .unwrap_or_default();
            let index = path
                .params()
                .iter()
                .position(|p| krakend_param_key(p) == param)
                .ok_or_else(|| {
                    let choices: Vec<String> =
                        path.params().iter().map(|p| krakend_param_key(p)).collect();
                    let choices = if choices.is_empty() {
                        "(the endpoint has no placeholders)".to_string()
                    } else {
                        choices.join(", ")
                    };
                    ctx.err(
                        "function_param_name",
                        Problem::UnknownParam(param.to_string(), choices),
                    )
                })?;
            Ok(FunctionSource::Param { index })
        }
        ["functions"] => weighted(block.get("functions").unwrap_or(&Value::Null), ctx),
        ["function_name", "function_header_name"] | ["function_header_name"] => {
            Ok(FunctionSource::Header {
                name: header_name(block, ctx, "function_header_name")?
                    .ok_or_else(|| ctx.err("function_header_name", Problem::Missing))?,
                default: fixed("function_name")?,
            })
        }
        several => Err(ctx.err(several[1], Problem::FunctionSources(several.join(" and ")))),
    }
}

#[inline(never)]
fn weighted(value: &Value, ctx: &Ctx) -> Result<FunctionSource, ConfigError> {
    let list = value.as_array().filter(|l| !l.is_empty()).ok_or_else(|| {
        ctx.err(
            "functions",
            Problem::WrongType("a non-empty array of {\"name\", \"weight\"} objects"),
        )
    })?;
    let mut targets = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let key = format!("functions[{i}]");
        let object = as_object(item, ctx, &key)?;
        if let Some(unknown) = object
            .keys()
            .find(|k| *k != "name" && *k != "weight" && !super::is_comment(k))
        {
            return Err(ctx.err(&format!("{key}.{unknown}"), Problem::UnknownKey));
        }
        let name_key = format!("{key}.name");
        let name = ctx
            .string(object, "name")
            .map_err(|_| ctx.err(&name_key, Problem::WrongType("a string")))?
            .ok_or_else(|| ctx.err(&name_key, Problem::Missing))?;
        let name = FunctionName::parse(name)
            .map_err(|e| ctx.err(&name_key, Problem::FunctionName(name.to_string(), e)))?;
        let weight = match object.get("weight") {
            None => 1,
            Some(w) => w
                .as_u64()
                .and_then(|w| u32::try_from(w).ok())
                .ok_or_else(|| ctx.err(&format!("{key}.weight"), Problem::Weights))?,
        };
        targets.push((name, weight));
    }
    if targets.iter().all(|(_, w)| *w == 0) {
        return Err(ctx.err("functions", Problem::Weights));
    }
    Ok(FunctionSource::Weighted(targets))
}

#[inline(never)]
fn fixed_names(source: &FunctionSource) -> Vec<&FunctionName> {
    match source {
        FunctionSource::Fixed(name) => vec![name],
        FunctionSource::Header { default, .. } => default.iter().collect(),
        FunctionSource::Weighted(targets) => targets.iter().map(|(n, _)| n).collect(),
        FunctionSource::Param { .. } => vec![],
    }
}

#[inline(never)]
fn string_list(value: &Value, ctx: &Ctx, key: &str) -> Result<Vec<String>, ConfigError> {
    value
        .as_array()
        .and_then(|l| {
            l.iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| ctx.err(key, Problem::WrongType("an array of strings")))
}

/// Keys that make no sense with `function_url`.
const NOT_WITH_URL: &[&str] = &[
    "function_name",
    "function_param_name",
    "functions",
    "function_header_name",
    "allowed_functions",
    "qualifier",
    "qualifier_header_name",
    "invocation_type",
    "log_type",
    "client_context",
    "event_format",
    "response_format",
    "event_headers",
    "binary_media_types",
    "tenant_id",
    "endpoint",
];

/// `function_url`: the URL (and its host), its auth, and what of the request is forwarded.
#[inline(never)]
fn function_url(
    block: &Map<String, Value>,
    ctx: &Ctx,
) -> Result<Option<(FunctionUrl, String)>, ConfigError> {
    let Some(value) = block.get("function_url").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    if let Some(key) = NOT_WITH_URL
        .iter()
        .find(|k| block.get(**k).is_some_and(|v| !v.is_null()))
    {
        return Err(ctx.err(key, Problem::NotWithFunctionUrl));
    }
    let object = as_object(value, ctx, "function_url")?;
    let bad = || ctx.err("function_url", Problem::FunctionUrl);
    let known = [
        "url",
        "auth",
        "strip_prefix",
        "forward_headers",
        "forward_cookies",
    ];
    if object
        .keys()
        .any(|k| !known.contains(&k.as_str()) && !super::is_comment(k))
    {
        return Err(bad());
    }
    let url = object.get("url").and_then(Value::as_str).ok_or_else(bad)?;
    let (host, path) = parse_endpoint_url(url).ok_or_else(bad)?;
    if !path.is_empty() {
        return Err(bad());
    }
    let iam = match object.get("auth").and_then(Value::as_str) {
        Some("iam") | None => true,
        Some("none") => false,
        Some(_) => return Err(bad()),
    };
    let strip_prefix = match object.get("strip_prefix") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.starts_with('/') && !p.ends_with('/') => Some(p.clone()),
        Some(_) => return Err(bad()),
    };
    let forward_headers = match object.get("forward_headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => string_list(v, ctx, "function_url.forward_headers")?
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
    };
    let forward_cookies = match object.get("forward_cookies") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad()),
    };
    Ok(Some((
        FunctionUrl {
            iam,
            strip_prefix,
            forward_headers,
            forward_cookies,
        },
        host,
    )))
}

/// The name metrics and logs give a Function URL target: its URL id (the host's first label).
#[inline(never)]
fn url_function(ctx: &Ctx, host: &str) -> Result<FunctionSource, ConfigError> {
    let id = host.split(['.', ':']).next().unwrap_or(host);
    FunctionName::parse(id)
        .map(FunctionSource::Fixed)
        .map_err(|e| ctx.err("function_url", Problem::FunctionName(id.to_string(), e)))
}

/// `tenant_id`: `{"header": "x-tenant"}` (optional `"required": false`), `{"param": "Tenant"}`
/// (KrakenD's capitalised placeholder key) or `{"value": "blue"}`.
#[inline(never)]
fn tenant_source(
    block: &Map<String, Value>,
    ctx: &Ctx,
    path: &Pattern,
) -> Result<Option<TenantSource>, ConfigError> {
    let Some(value) = block.get("tenant_id").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let object = as_object(value, ctx, "tenant_id")?;
    let bad = || ctx.err("tenant_id", Problem::TenantId);
    let keys: Vec<&str> = object
        .keys()
        .map(String::as_str)
        .filter(|k| !super::is_comment(k))
        .collect();
    let required = match object.get("required") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad()),
    };
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    match keys.as_slice() {
        ["header"] | ["header", "required"] | ["required", "header"] => {
            let name = header_name(object, ctx, "header")?.ok_or_else(bad)?;
            Ok(Some(TenantSource::Header { name, required }))
        }
        ["param"] => {
            let param = text("param").ok_or_else(bad)?;
            let index = path
                .params()
                .iter()
                .position(|p| krakend_param_key(p) == param)
                .ok_or_else(bad)?;
            Ok(Some(TenantSource::Param { index }))
        }
        ["value"] => match text("value") {
            Some(id) if valid_tenant_id(id) => Ok(Some(TenantSource::Fixed(id.to_string()))),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// A request header name, lower-cased.
#[inline(never)]
fn header_name(
    block: &Map<String, Value>,
    ctx: &Ctx,
    key: &str,
) -> Result<Option<String>, ConfigError> {
    match ctx.string(block, key)? {
        None => Ok(None),
        Some(h) => {
            if http::is_token(h) {
                Ok(Some(h.to_ascii_lowercase()))
            } else {
                Err(ctx.err(key, Problem::HeaderName(h.to_string())))
            }
        }
    }
}

/// Lambda hands the client context to the runtime as `{client, custom, env}`; anything else has
/// crashed runtimes (KrakenD's removed default did), so the shape is checked here.
#[inline(never)]
fn client_context(value: &Value, ctx: &Ctx) -> Result<String, ConfigError> {
    let object = value
        .as_object()
        .ok_or_else(|| ctx.err("client_context", Problem::ClientContextShape))?;
    let shaped = object
        .iter()
        .all(|(k, v)| matches!(k.as_str(), "client" | "custom" | "env") && v.is_object());
    if !shaped {
        return Err(ctx.err("client_context", Problem::ClientContextShape));
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(value.to_string());
    if encoded.len() > MAX_CLIENT_CONTEXT {
        return Err(ctx.err(
            "client_context",
            Problem::ClientContextSize(encoded.len(), MAX_CLIENT_CONTEXT),
        ));
    }
    Ok(encoded)
}

#[inline(never)]
fn error_policy(block: &Map<String, Value>, ctx: &Ctx) -> Result<ErrorPolicy, ConfigError> {
    let mut policy = ErrorPolicy::default();
    let Some(value) = block.get("errors").filter(|v| !v.is_null()) else {
        return Ok(policy);
    };
    match value.as_str() {
        // KrakenD's status codes: a function error is data, answered 200 with its error object.
        Some("krakend") => return Ok(ErrorPolicy::krakend()),
        Some(_) => return Err(ctx.err("errors", Problem::OneOf("krakend, or an object"))),
        None => {}
    }
    let object = as_object(value, ctx, "errors")?;
    let status = |v: &Value, key: &str| -> Result<u16, ConfigError> {
        v.as_u64()
            .filter(|s| (100..=599).contains(s))
            .map(|s| s as u16)
            .ok_or_else(|| ctx.err(key, Problem::Status))
    };
    let table = |v: &Value, key: &str| -> Result<Vec<(String, u16)>, ConfigError> {
        let map = as_object(v, ctx, key)?;
        map.iter()
            .map(|(k, v)| Ok((k.clone(), status(v, &format!("{key}.{k}"))?)))
            .collect()
    };
    for (key, v) in object {
        let full = format!("errors.{key}");
        match key.as_str() {
            k if super::is_comment(k) => {}
            "handled_status" => policy.handled_status = status(v, &full)?,
            "unhandled_status" => policy.unhandled_status = status(v, &full)?,
            "timeout_status" => policy.timeout_status = status(v, &full)?,
            "error_types" => policy.error_types = table(v, &full)?,
            "aws_error_types" => policy.aws_error_types = table(v, &full)?,
            _ => return Err(ctx.err(&full, Problem::UnknownKey)),
        }
    }
    Ok(policy)
}

#[inline(never)]
fn event_options(block: &Map<String, Value>, ctx: &Ctx) -> Result<EventOptions, ConfigError> {
    let mut options = EventOptions::default();
    if let Some(value) = block.get("event_headers").filter(|v| !v.is_null()) {
        let object = as_object(value, ctx, "event_headers")?;
        for (key, v) in object.iter().filter(|(k, _)| !super::is_comment(k)) {
            let full = format!("event_headers.{key}");
            let names: Vec<String> = string_list(v, ctx, &full)?
                .into_iter()
                .map(|n| n.to_ascii_lowercase())
                .collect();
            match key.as_str() {
                "allow" => options.allow_headers = Some(names),
                "deny" => options.deny_headers = names,
                _ => return Err(ctx.err(&full, Problem::UnknownKey)),
            }
        }
    }
    if let Some(value) = block.get("binary_media_types").filter(|v| !v.is_null()) {
        let types = string_list(value, ctx, "binary_media_types")?;
        if let Some(bad) = types.iter().find(|t| !t.contains('/')) {
            return Err(ctx.err("binary_media_types", Problem::MediaType(bad.clone())));
        }
        options.binary_media_types = Some(types);
    }
    Ok(options)
}
