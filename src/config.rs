//! The plugin configuration: KrakenD endpoints with a `backend/lambda` block, plus the keys this
//! filter adds (`cluster`, `credentials`). A whole `krakend.json` loads: KrakenD keys that mean
//! nothing inside Envoy are ignored with one warning each, and endpoints without a Lambda backend
//! are skipped with a warning (Envoy's own routes serve them).

use crate::credentials::fetch::Provider;
use crate::credentials::CredentialsError;
use crate::duration::{self, DurationError};
use crate::event::{EventFormat, EventOptions};
use crate::function::{AllowList, BadPattern, FunctionName, FunctionNameError};
use crate::manipulate::{Flatmap, ManipulateError, Manipulation};
use crate::response::{ErrorPolicy, ResponseFormat};
use crate::route::{self, Match, Pattern, PatternError};
use serde_json::{Map, Value};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;
use thiserror::Error;

/// Lambda's payload limits: 6 MB synchronous, 1 MB asynchronous.
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
pub const MAX_EVENT_PAYLOAD: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationType {
    RequestResponse,
    /// Asynchronous: Lambda queues the event and answers 202.
    Event,
    /// Checks parameters and permissions only: 204.
    DryRun,
}

impl InvocationType {
    pub fn parse(text: &str) -> Option<InvocationType> {
        match text {
            "RequestResponse" => Some(InvocationType::RequestResponse),
            "Event" => Some(InvocationType::Event),
            "DryRun" => Some(InvocationType::DryRun),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InvocationType::RequestResponse => "RequestResponse",
            InvocationType::Event => "Event",
            InvocationType::DryRun => "DryRun",
        }
    }

    pub fn max_payload(self) -> usize {
        match self {
            InvocationType::Event => MAX_EVENT_PAYLOAD,
            InvocationType::RequestResponse | InvocationType::DryRun => MAX_SYNC_PAYLOAD,
        }
    }
}

/// KrakenD's default endpoint timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_CLUSTER: &str = "lambda";
/// Longest endpoint timeout accepted (Lambda itself stops a function after 15 minutes).
/// Envoy's timers count whole milliseconds, and read zero as "no timeout".
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// `max_retries: -1` means "the service default", which is 3 in the AWS SDKs.
pub const SDK_DEFAULT_RETRIES: u32 = 3;
/// Retries beyond this are refused: they cannot fit in any sensible endpoint timeout.
pub const MAX_RETRIES_LIMIT: u32 = 10;

pub const NAMESPACE: &str = "backend/lambda";
const PROXY_NAMESPACE: &str = "proxy";
const PROXY_NAMESPACE_LONG: &str = "github.com/devopsfaith/krakend/proxy";
pub const LEGACY_NAMESPACE: &str = "github.com/devopsfaith/krakend-lambda";

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// KrakenD service-level keys that have no meaning inside Envoy.
const KRAKEND_SERVICE_KEYS: &[&str] = &[
    "version",
    "name",
    "port",
    "host",
    "listen_ip",
    "cache_ttl",
    "extra_config",
    "plugin",
    "tls",
    "client_tls",
    "disable_rest",
    "debug_endpoint",
    "echo_endpoint",
    "sequential_start",
    "async_agent",
    "read_timeout",
    "write_timeout",
    "idle_timeout",
    "read_header_timeout",
    "max_header_bytes",
    "dialer_timeout",
    "dialer_keep_alive",
    "dialer_fallback_delay",
    "disable_compression",
    "disable_keep_alives",
    "max_idle_connections",
    "max_idle_connections_per_host",
    "idle_connection_timeout",
    "response_header_timeout",
    "expect_continue_timeout",
    "disable_strict_rest",
    "use_h2c",
    "allow_insecure_connections",
    "dns_cache_ttl",
];
/// KrakenD endpoint keys with no meaning here (the entity is returned as the function gave it).
const KRAKEND_ENDPOINT_KEYS: &[&str] = &[
    "cache_ttl",
    "concurrent_calls",
    "input_headers",
    "input_query_strings",
    "headers_to_pass",
    "querystring_params",
];
/// KrakenD backend keys with no meaning for a Lambda backend.
const KRAKEND_BACKEND_KEYS: &[&str] = &[
    "encoding",
    "sd",
    "sd_scheme",
    "disable_host_sanitize",
    "input_headers",
    "input_query_strings",
    "concurrent_calls",
];
/// Backend keys KrakenD requires on every backend but never uses for Lambda: accepted silently.
const KRAKEND_DUMMY_BACKEND_KEYS: &[&str] = &["host", "url_pattern"];
const LAMBDA_KEYS: &[&str] = &[
    "function_name",
    "function_param_name",
    "function_header_name",
    "functions",
    "allowed_functions",
    "qualifier",
    "qualifier_header_name",
    "invocation_type",
    "log_type",
    "client_context",
    "errors",
    "event_format",
    "response_format",
    "event_headers",
    "binary_media_types",
    "region",
    "endpoint",
    "max_retries",
    "cluster",
    "mode",
    "signing",
    "credentials",
    "tenant_id",
    "function_url",
    "response_stream",
];

/// One configured Lambda endpoint, ready to serve.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub path: Pattern,
    pub method: String,
    pub timeout: Duration,
    /// Every backend, in configuration order (shadows included); never empty.
    pub backends: Vec<Rc<Backend>>,
    /// The first backend (the only one on a one-backend endpoint).
    pub primary: Rc<Backend>,
    /// The endpoint's `extra_config.proxy.flatmap_filter`: for merged answers.
    pub flatmap: Option<Flatmap>,
    pub output: Output,
}

/// One Lambda backend of an endpoint: what to invoke, and what KrakenD does with its answer.
#[derive(Debug, Clone)]
pub struct Backend {
    pub lambda: Lambda,
    pub manipulation: Manipulation,
}

/// How the endpoint's answer is written (`output_encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The function's bytes as they are (one backend without manipulation, `json` or `no-op`):
    /// not re-encoded as KrakenD would.
    Passthrough,
    /// KrakenD's `json`: the answer decoded, manipulated, merged and encoded as Go does.
    Json,
    /// `json-collection`: the answer's `collection` member, else `[]`.
    JsonCollection,
    /// `string`: the answer's `content` member if it is a string, else an empty body.
    String,
}

impl Endpoint {
    /// How logs and errors name this endpoint: `GET /call-a-lambda/{lambda}`.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.path.as_str())
    }

    /// Backends whose answers count (not shadows).
    pub fn answering(&self) -> usize {
        self.backends
            .iter()
            .filter(|b| !b.manipulation.is_shadow())
            .count()
    }
}

/// Where the function to invoke comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionSource {
    Fixed(FunctionName),
    /// The value of the placeholder at `index` in the endpoint's pattern.
    Param {
        index: usize,
    },
    /// A request header (lower-case name), set by an earlier filter; `default` when it is absent.
    Header {
        name: String,
        default: Option<FunctionName>,
    },
    /// A weighted choice per request (canary, A/B).
    Weighted(Vec<(FunctionName, u32)>),
}

impl FunctionSource {
    /// Whether the request decides which function runs.
    pub fn from_request(&self) -> bool {
        matches!(
            self,
            FunctionSource::Param { .. } | FunctionSource::Header { .. }
        )
    }
}

#[derive(Debug, Clone)]
pub struct Lambda {
    pub function: FunctionSource,
    /// Only these may be invoked when the request names the function.
    pub allowed: Option<AllowList>,
    /// `?Qualifier=`: a version or alias.
    pub qualifier: Option<String>,
    /// A request header (lower-case name) that gives the qualifier.
    pub qualifier_header: Option<String>,
    /// `X-Amz-Tenant-Id`, for functions in tenant-isolation mode.
    pub tenant: Option<TenantSource>,
    /// A Function URL target instead of Invoke: the request is forwarded to it in place.
    pub url: Option<FunctionUrl>,
    /// `InvokeWithResponseStream` instead of `Invoke` (`response_stream: true`).
    pub stream: bool,
    pub invocation_type: InvocationType,
    /// `X-Amz-Log-Type: Tail`: the function's log tail goes to Envoy's debug log.
    pub log_tail: bool,
    /// `X-Amz-Client-Context`, already base64-encoded.
    pub client_context: Option<String>,
    pub errors: ErrorPolicy,
    pub event_format: EventFormat,
    /// Headers and binary types for API Gateway events.
    pub event: EventOptions,
    pub response_format: ResponseFormat,
    pub region: String,
    /// The `:authority` of the callout and the signed `host`.
    pub host: String,
    /// A path prefix from `endpoint` (empty for the AWS endpoint).
    pub path_prefix: String,
    pub max_retries: u32,
    pub cluster: String,
    pub mode: Mode,
    /// KrakenD picks the payload by the backend's method: GET sends the placeholders.
    pub payload_from_params: bool,
    pub signing: Signing,
    /// The filter's credentials for this backend: an index in [`Config::sources`].
    pub source: usize,
}

impl Lambda {
    /// Whether the filter signs this backend's Invokes (a callout with `signing: filter`).
    pub fn signed_by_filter(&self) -> bool {
        self.mode == Mode::Callout && self.signing == Signing::Filter
    }
}

/// A Function URL target (`function_url`): the client's request goes to the URL in place, with
/// a header allow-list; `host` of the [`Lambda`] is the URL's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionUrl {
    /// `iam`: the cluster's `aws_request_signing` signs (service `lambda`); `none`: unsigned.
    pub iam: bool,
    /// A path prefix removed from the client's path before forwarding.
    pub strip_prefix: Option<String>,
    /// Request headers forwarded beyond the default allow-list (lower-case).
    pub forward_headers: Vec<String>,
    /// Whether the client's `cookie` header is forwarded.
    pub forward_cookies: bool,
}

/// Where a request's tenant id comes from (`tenant_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantSource {
    /// A request header (lower-case name), e.g. set by `jwt_authn` from a claim. `required`:
    /// a request without it is refused (a tenant-isolated function needs one).
    Header {
        name: String,
        required: bool,
    },
    /// The value of the endpoint placeholder at `index`.
    Param {
        index: usize,
    },
    Fixed(String),
}

/// Lambda's `TenantId`: 1 to 256 of `[a-zA-Z0-9._:/=+-@ ]` (the Invoke API model).
pub fn valid_tenant_id(id: &str) -> bool {
    (1..=256).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/=+-@ ".contains(&b))
}

/// Who signs a callout (`signing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// The filter, with its credentials (the backend's own `credentials`, else the top-level).
    Filter,
    /// Envoy's `aws_request_signing`, an upstream filter of the backend's cluster: the callout
    /// leaves the VM unsigned.
    Envoy,
}

/// How an Invoke reaches Lambda (`mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The filter signs the Invoke and sends it as an HTTP callout; the client's request stays
    /// in Envoy until the answer is mapped.
    Callout,
    /// The filter rewrites the client's request into the Invoke (its body is the payload) and
    /// Envoy's router sends it to the cluster, where Envoy's native `aws_request_signing` (an
    /// upstream filter of that cluster) signs it; the answer is mapped on its way back.
    InPlace,
}

/// The filter state key (`wasm.` + property) an in-place request carries: its cluster's name,
/// for a route's `filter_state` match. Clients cannot set filter state.
pub const IN_PLACE_ROUTE_KEY: &str = "lambda_wasm.cluster";

#[derive(Debug, Clone)]
pub struct Config {
    /// Held by reference: an invocation keeps its endpoint, whatever happens to the list.
    pub endpoints: Vec<Rc<Endpoint>>,
    /// Where the filter's credentials come from: the top-level block first, then each distinct
    /// backend `credentials` block. A filter-signed backend signs with `sources[lambda.source]`;
    /// a source without a provider refuses its requests rather than send them unsigned.
    pub sources: Vec<Source>,
    /// Things that were ignored, to log once at load.
    pub warnings: Vec<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum Problem {
    #[error("the configuration is not valid JSON: {0}")]
    Json(String),
    #[error("unknown key")]
    UnknownKey,
    #[error("expected {0}")]
    WrongType(&'static str),
    #[error("is required")]
    Missing,
    #[error("found {0}: set only one of function_name, function_param_name, functions and function_header_name (function_name may accompany function_header_name as its default)")]
    FunctionSources(String),
    #[error("set function_name, function_param_name, functions or function_header_name")]
    NoFunctionField,
    #[error("applies only where the request names the function (function_param_name, function_header_name)")]
    NotRequestDriven,
    #[error("{0}")]
    AllowPattern(BadPattern),
    #[error("invalid qualifier {0:?}: {1}")]
    Qualifier(String, FunctionNameError),
    #[error("qualifier {0:?} conflicts with the qualifier {1:?} in the function name")]
    QualifierConflict(String, String),
    #[error("must be one of {0}")]
    OneOf(&'static str),
    #[error("applies only to invocation_type RequestResponse")]
    SyncOnly,
    #[error("must be a JSON object with only the keys client, custom and env, each an object (the shape Lambda runtimes expect)")]
    ClientContextShape,
    #[error("is {0} bytes once base64-encoded; Lambda takes at most {1}")]
    ClientContextSize(usize, usize),
    #[error("must be an HTTP status from 100 to 599")]
    Status,
    #[error("event_headers and binary_media_types apply to event_format apigw_v1 or apigw_v2")]
    ApigwOnly,
    #[error("{0:?} is not a media type (type/subtype, `type/*` or `*/*`)")]
    MediaType(String),
    #[error("weights must be whole numbers and at least one above 0")]
    Weights,
    #[error("invalid header name {0:?}")]
    HeaderName(String),
    #[error("invalid function name {0:?}: {1}")]
    FunctionName(String, FunctionNameError),
    #[error("{0:?} names no placeholder of the endpoint; KrakenD upper-cases the first letter, so use one of: {1}. To pick the function without a placeholder (a canary, a header set by a script or another filter), use functions (weighted targets) or function_header_name")]
    UnknownParam(String, String),
    #[error("{0}")]
    Duration(DurationError),
    #[error("must be at most 1h, got {0:?}")]
    TimeoutTooLong(String),
    #[error("must be at least 1ms (Envoy's timers count whole milliseconds), got {0:?}")]
    TimeoutTooShort(String),
    #[error("invalid endpoint path: {0}")]
    Pattern(PatternError),
    #[error("unsupported method {0:?} (use one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS)")]
    Method(String),
    #[error("no region: set region, or AWS_REGION / AWS_DEFAULT_REGION in the VM's environment")]
    NoRegion,
    #[error("invalid region {0:?}")]
    Region(String),
    #[error("invalid endpoint URL {0:?}: expected http(s)://host[:port][/path]")]
    EndpointUrl(String),
    #[error("must be -1 (the AWS SDK default of {SDK_DEFAULT_RETRIES}) or 0 to {MAX_RETRIES_LIMIT}, got {0}")]
    MaxRetries(String),
    #[error("{0} of the endpoint's {1} backends are not Lambda backends: an endpoint here aggregates Lambda backends only; serve the other backends from their own endpoint (an Envoy route), or make each a backend/lambda")]
    MixedBackends(usize, usize),
    #[error("KrakenD's sequential proxy (each backend fed the previous one's answer) is not supported: remove it, or chain the functions inside Lambda (Step Functions)")]
    Sequential,
    #[error("{0:?} is not an output encoding this filter renders (use json, json-collection, string, negotiate or no-op): it answers JSON only")]
    OutputEncoding(String),
    #[error("no-op passes one backend's answer through as it is: it takes exactly one backend, without response manipulation")]
    NoOpAggregation,
    #[error("in_place streams Lambda's answer to the client as it comes: it takes exactly one backend, without response manipulation or another output encoding (use mode callout)")]
    InPlaceManipulation,
    #[error("{0}: response manipulation and aggregation need the function's JSON result (invocation_type RequestResponse, response_format krakend)")]
    ManipulationNeedsResult(&'static str),
    #[error("{0}")]
    Manipulation(ManipulateError),
    #[error("every backend of the endpoint is a shadow: at least one must answer")]
    AllShadows,
    #[error("InvokeWithResponseStream is synchronous: invocation_type must be RequestResponse, and manipulation or aggregation needs a whole answer")]
    StreamSync,
    #[error("has no meaning with function_url (the request itself goes to the Function URL; the function sees payload 2.0)")]
    NotWithFunctionUrl,
    #[error("expected {{\"url\": \"https://<id>.lambda-url.<region>.on.aws\", \"auth\": \"iam\"|\"none\", \"strip_prefix\", \"forward_headers\", \"forward_cookies\"}}")]
    FunctionUrl,
    #[error("expected one of {{\"header\": name[, \"required\": bool]}}, {{\"param\": placeholder}} or {{\"value\": id}} (a tenant id is 1 to 256 of letters, digits and ._:/=+-@ and space)")]
    TenantId,
    #[error("the same method and path are already configured by an earlier endpoint")]
    DuplicateEndpoint,
    #[error("must not be empty")]
    Empty,
    #[error("{0}")]
    Credentials(CredentialsError),
    #[error("unknown credential source {0:?} (use static, environment, web_identity, container, instance_metadata)")]
    UnknownSource(String),
    #[error(
        "no base credentials to assume the role with: every source of the chain is unavailable"
    )]
    NoBaseCredentials,
    #[error("needs role_arn and token (or AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN in the VM's environment)")]
    WebIdentityIncomplete,
    #[error("invalid role ARN {0:?}")]
    RoleArn(String),
    #[error("STS takes a duration from 15m to 12h, got {0:?}")]
    StsDuration(String),
    #[error("in_place sends the request body itself as the payload: it needs event_format raw, or krakend with a backend method other than GET (this payload is built by the filter; use mode callout)")]
    InPlaceNeedsBody,
    #[error("in_place requests are retried by the Envoy route's retry_policy, not by the filter: set max_retries to 0, or use mode callout")]
    InPlaceRetries,
    #[error("cluster {0:?} serves backends the filter signs and backends Envoy signs (in_place, or signing: envoy): a cluster with aws_request_signing would sign the filter's callouts again; give them different clusters")]
    ClusterModes(String),
    #[error("a backend signed by Envoy (signing: envoy, or in_place) has no use for its own credentials: Envoy's aws_request_signing on its cluster chooses them (credential_provider)")]
    EnvoySignsCredentials,
}

/// One place credentials come from, and how early they are refreshed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub provider: Option<Provider>,
    pub refresh_before: Duration,
}

impl Config {
    /// The top-level credentials' provider.
    pub fn credentials(&self) -> Option<&Provider> {
        self.sources.first().and_then(|s| s.provider.as_ref())
    }

    /// Whether a backend signed by the filter uses the top-level credentials.
    pub fn signs_with_top_level(&self) -> bool {
        self.endpoints
            .iter()
            .flat_map(|e| e.backends.iter())
            .any(|b| b.lambda.signed_by_filter() && b.lambda.source == 0)
    }

    /// The endpoint serving `method` + `path`, and how the path matched its pattern.
    pub fn route(&self, method: &str, path: &str) -> Option<(&Rc<Endpoint>, Match)> {
        let candidates = self.endpoints.iter().map(|e| (e.method.as_str(), &e.path));
        let (index, found) = route::find(candidates, method, path)?;
        Some((self.endpoints.get(index)?, found))
    }
}

/// A configuration error: which endpoint, which key, what is wrong.
#[derive(Debug, Error, PartialEq, Eq)]
pub struct ConfigError {
    pub endpoint: Option<String>,
    pub key: String,
    pub problem: Problem,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(endpoint) = &self.endpoint {
            write!(f, "endpoint {endpoint}: ")?;
        }
        if self.key.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "key `{}`: {}", self.key, self.problem)
        }
    }
}

/// Reads keys of one JSON object, remembering where it is for error messages.
struct Ctx<'a> {
    endpoint: Option<String>,
    prefix: String,
    warnings: &'a mut Vec<String>,
}

impl Ctx<'_> {
    fn key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    fn err(&self, key: &str, problem: Problem) -> ConfigError {
        ConfigError {
            endpoint: self.endpoint.clone(),
            key: self.key(key),
            problem,
        }
    }

    fn warn_ignored(&mut self, key: &str) {
        let place = match &self.endpoint {
            Some(e) => format!("endpoint {e}: "),
            None => String::new(),
        };
        self.warnings.push(format!(
            "{place}KrakenD key `{}` has no effect in Envoy and is ignored",
            self.key(key)
        ));
    }

    /// Fails on keys that are neither `known` nor `ignored`; warns once for each `ignored` key.
    fn check_keys(
        &mut self,
        object: &Map<String, Value>,
        known: &[&str],
        ignored: &[&str],
        silent: &[&str],
    ) -> Result<(), ConfigError> {
        for key in object.keys() {
            if known.contains(&key.as_str()) || silent.contains(&key.as_str()) || is_comment(key) {
                continue;
            }
            if ignored.contains(&key.as_str()) {
                self.warn_ignored(key);
            } else {
                return Err(self.err(key, Problem::UnknownKey));
            }
        }
        Ok(())
    }

    fn string<'v>(
        &self,
        object: &'v Map<String, Value>,
        key: &str,
    ) -> Result<Option<&'v str>, ConfigError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.err(key, Problem::WrongType("a string"))),
        }
    }

    fn duration(
        &self,
        object: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<Duration>, ConfigError> {
        match self.string(object, key)? {
            None => Ok(None),
            Some(s) => match duration::parse(s) {
                Ok(d) if d > MAX_TIMEOUT => {
                    Err(self.err(key, Problem::TimeoutTooLong(s.to_string())))
                }
                Ok(d) => Ok(Some(d)),
                Err(e) => Err(self.err(key, Problem::Duration(e))),
            },
        }
    }

    /// A `timeout`: a duration from 1ms to 1h.
    fn timeout(&self, object: &Map<String, Value>) -> Result<Option<Duration>, ConfigError> {
        let timeout = self.duration(object, "timeout")?;
        if timeout.is_some_and(|t| t < MIN_TIMEOUT) {
            let text = self.string(object, "timeout")?.unwrap_or_default();
            return Err(self.err("timeout", Problem::TimeoutTooShort(text.to_string())));
        }
        Ok(timeout)
    }
}

/// KrakenD's schema takes keys starting with `@`, `$`, `_` or `#` as comments, at every level.
pub(crate) fn is_comment(key: &str) -> bool {
    key.starts_with(['@', '$', '_', '#'])
}

fn as_object<'v>(
    value: &'v Value,
    ctx: &Ctx,
    key: &str,
) -> Result<&'v Map<String, Value>, ConfigError> {
    value
        .as_object()
        .ok_or_else(|| ctx.err(key, Problem::WrongType("an object")))
}

/// Parses the plugin configuration. `env` reads the VM's environment (AWS_REGION, credentials).
pub fn parse(bytes: &[u8], env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| ConfigError {
        endpoint: None,
        key: String::new(),
        problem: Problem::Json(e.to_string()),
    })?;
    let mut warnings = Vec::new();
    let mut ctx = Ctx {
        endpoint: None,
        prefix: String::new(),
        warnings: &mut warnings,
    };
    let top = root.as_object().ok_or_else(|| ConfigError {
        endpoint: None,
        key: String::new(),
        problem: Problem::WrongType("a JSON object at the top level"),
    })?;
    ctx.check_keys(
        top,
        &[
            "cluster",
            "credentials",
            "endpoints",
            "timeout",
            "output_encoding",
        ],
        KRAKEND_SERVICE_KEYS,
        &["$schema"],
    )?;
    let cluster = match ctx.string(top, "cluster")? {
        Some("") => return Err(ctx.err("cluster", Problem::Empty)),
        Some(c) => c.to_string(),
        None => DEFAULT_CLUSTER.to_string(),
    };
    let default_timeout = ctx.timeout(top)?.unwrap_or(DEFAULT_TIMEOUT);
    let default_output = ctx.string(top, "output_encoding")?.map(str::to_string);
    let credentials = credentials::parse(top.get("credentials"), &mut ctx, env)?;
    let mut sources = vec![Source {
        provider: credentials.provider,
        refresh_before: credentials.refresh_before,
    }];
    let defaults = Defaults {
        cluster: &cluster,
        timeout: default_timeout,
        output: default_output.as_deref(),
        env,
    };

    let list = match top.get("endpoints") {
        None => &[][..],
        Some(Value::Array(list)) => &list[..],
        Some(_) => return Err(ctx.err("endpoints", Problem::WrongType("an array"))),
    };
    let mut endpoints: Vec<Rc<Endpoint>> = Vec::new();
    for (i, value) in list.iter().enumerate() {
        let mut ectx = Ctx {
            endpoint: None,
            prefix: format!("endpoints[{i}]"),
            warnings: &mut warnings,
        };
        if let Some(endpoint) = parse_endpoint(value, &mut ectx, &defaults, &mut sources)? {
            if endpoints
                .iter()
                .any(|e| e.method == endpoint.method && e.path.as_str() == endpoint.path.as_str())
            {
                return Err(ectx.err("endpoint", Problem::DuplicateEndpoint));
            }
            if endpoints.iter().any(|e| {
                e.backends.iter().chain(endpoint.backends.iter()).any(|a| {
                    endpoint.backends.iter().any(|b| {
                        a.lambda.cluster == b.lambda.cluster
                            && a.lambda.signed_by_filter() != b.lambda.signed_by_filter()
                    })
                })
            }) {
                return Err(ectx.err(
                    "backend",
                    Problem::ClusterModes(endpoint.primary.lambda.cluster.clone()),
                ));
            }
            endpoints.push(Rc::new(endpoint));
        }
    }
    if endpoints.is_empty() {
        warnings.push("no endpoint has a Lambda backend: every request passes through".to_string());
    }
    let top_level_used = endpoints
        .iter()
        .flat_map(|e| e.backends.iter())
        .any(|b| b.lambda.signed_by_filter() && b.lambda.source == 0);
    if !endpoints.is_empty() && !top_level_used {
        // Envoy's aws_request_signing (or a backend's own block) signs every request: no
        // top-level credentials to look for.
        if top.get("credentials").is_some() {
            warnings.push(
                "key `credentials` is not used: no backend is signed by the filter with them \
                 (in_place and signing: envoy backends are signed by Envoy's \
                 aws_request_signing on their cluster)"
                    .to_string(),
            );
        }
        if let Some(top) = sources.first_mut() {
            top.provider = None;
        }
    }
    Ok(Config {
        endpoints,
        sources,
        warnings,
    })
}

struct Defaults<'a> {
    cluster: &'a str,
    timeout: Duration,
    /// The service's `output_encoding`, the endpoints' default.
    output: Option<&'a str>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

/// A backend's Lambda block and where it was: in `extra_config` under either namespace, or (as
/// the CE v1.4 document prints it) the legacy namespace on the backend object itself.
#[inline(never)]
fn lambda_block(backend: &Map<String, Value>) -> Option<(String, &Value)> {
    let extra = backend.get("extra_config").and_then(Value::as_object);
    let in_extra = [NAMESPACE, LEGACY_NAMESPACE].into_iter().find_map(|ns| {
        extra
            .and_then(|e| e.get(ns))
            .map(|v| (format!("extra_config.{ns}"), v))
    });
    in_extra.or_else(|| {
        backend
            .get(LEGACY_NAMESPACE)
            .map(|v| (LEGACY_NAMESPACE.to_string(), v))
    })
}

#[inline(never)]
fn parse_endpoint(
    value: &Value,
    ctx: &mut Ctx,
    defaults: &Defaults,
    sources: &mut Vec<Source>,
) -> Result<Option<Endpoint>, ConfigError> {
    let object = as_object(value, ctx, "")?;
    let raw_path = ctx
        .string(object, "endpoint")?
        .ok_or_else(|| ctx.err("endpoint", Problem::Missing))?;
    // KrakenD adds a missing leading slash.
    let path_text = if raw_path.starts_with('/') {
        raw_path.to_string()
    } else {
        format!("/{raw_path}")
    };
    let method = ctx
        .string(object, "method")?
        .unwrap_or("GET")
        .to_ascii_uppercase();
    ctx.endpoint = Some(format!("{method} {path_text}"));
    if !METHODS.contains(&method.as_str()) {
        return Err(ctx.err("method", Problem::Method(method)));
    }
    let path = Pattern::parse(&path_text).map_err(|e| ctx.err("endpoint", Problem::Pattern(e)))?;
    let backends = match object.get("backend") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(list)) => &list[..],
        Some(_) => return Err(ctx.err("backend", Problem::WrongType("an array"))),
    };
    let lambda_count = backends
        .iter()
        .filter(|b| b.as_object().and_then(lambda_block).is_some())
        .count();
    if lambda_count == 0 {
        let label = ctx.endpoint.clone().unwrap_or_default();
        ctx.warnings.push(format!(
            "endpoint {label}: no backend/lambda backend; skipped (Envoy's own routes serve it)"
        ));
        return Ok(None);
    }
    if lambda_count != backends.len() {
        return Err(ctx.err(
            "backend",
            Problem::MixedBackends(backends.len() - lambda_count, backends.len()),
        ));
    }
    ctx.check_keys(
        object,
        &[
            "endpoint",
            "method",
            "backend",
            "timeout",
            "output_encoding",
            "extra_config",
        ],
        KRAKEND_ENDPOINT_KEYS,
        &[],
    )?;
    let timeout = ctx.timeout(object)?.unwrap_or(defaults.timeout);
    let flatmap = endpoint_extra(object, ctx)?;
    let mut parsed = Vec::with_capacity(backends.len());
    for (i, value) in backends.iter().enumerate() {
        parsed.push(Rc::new(parse_backend(
            value,
            ctx,
            &format!("backend[{i}]"),
            &path,
            &method,
            defaults,
            sources,
        )?));
    }
    let Some(primary) = parsed.first().cloned() else {
        return Ok(None);
    };
    let mut endpoint = Endpoint {
        path,
        method,
        timeout,
        backends: parsed,
        primary,
        flatmap,
        output: Output::Json,
    };
    endpoint.output = output(object, ctx, defaults, &endpoint)?;
    check_combination(&endpoint, ctx)?;
    Ok(Some(endpoint))
}

/// The endpoint's `extra_config`: `proxy.flatmap_filter` is read, `proxy.sequential` refused,
/// everything else ignored with a warning.
#[inline(never)]
fn endpoint_extra(
    object: &Map<String, Value>,
    ctx: &mut Ctx,
) -> Result<Option<Flatmap>, ConfigError> {
    let Some(extra) = object.get("extra_config").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let extra = as_object(extra, ctx, "extra_config")?;
    for (ns, value) in extra {
        if ns == PROXY_NAMESPACE || ns == PROXY_NAMESPACE_LONG {
            let proxy = as_object(value, ctx, &format!("extra_config.{ns}"))?;
            if proxy.get("sequential").and_then(Value::as_bool) == Some(true) {
                return Err(ctx.err(
                    &format!("extra_config.{ns}.sequential"),
                    Problem::Sequential,
                ));
            }
            for key in proxy.keys() {
                if key != "flatmap_filter" && key != "sequential" && !is_comment(key) {
                    ctx.warn_ignored(&format!("extra_config.{ns}.{key}"));
                }
            }
        } else if !is_comment(ns) {
            ctx.warn_ignored(&format!("extra_config.{ns}"));
        }
    }
    Flatmap::from_endpoint(object).map_err(|e| ctx.err("extra_config", Problem::Manipulation(e)))
}

#[inline(never)]
fn parse_backend(
    value: &Value,
    ctx: &mut Ctx,
    backend_key: &str,
    path: &Pattern,
    method: &str,
    defaults: &Defaults,
    sources: &mut Vec<Source>,
) -> Result<Backend, ConfigError> {
    let backend = as_object(value, ctx, backend_key)?;
    let mut bctx = Ctx {
        endpoint: ctx.endpoint.clone(),
        prefix: ctx.key(backend_key),
        warnings: ctx.warnings,
    };
    bctx.check_keys(
        backend,
        &[
            "method",
            "extra_config",
            "target",
            "allow",
            "deny",
            "mapping",
            "group",
            "is_collection",
            LEGACY_NAMESPACE,
        ],
        KRAKEND_BACKEND_KEYS,
        KRAKEND_DUMMY_BACKEND_KEYS,
    )?;
    let backend_method = bctx
        .string(backend, "method")?
        .map(str::to_ascii_uppercase)
        .unwrap_or_else(|| method.to_string());
    if let Some(extra) = backend.get("extra_config").and_then(Value::as_object) {
        for ns in extra.keys() {
            let known = [
                NAMESPACE,
                LEGACY_NAMESPACE,
                PROXY_NAMESPACE,
                PROXY_NAMESPACE_LONG,
            ];
            if !known.contains(&ns.as_str()) && !is_comment(ns) {
                bctx.warn_ignored(&format!("extra_config.{ns}"));
            }
        }
    }
    if backend.get("is_collection").and_then(Value::as_bool) == Some(true) {
        bctx.warn_ignored("is_collection");
    }
    let manipulation =
        Manipulation::from_backend(backend).map_err(|e| bctx.err("", Problem::Manipulation(e)))?;
    let (block_key, block) =
        lambda_block(backend).ok_or_else(|| bctx.err("extra_config", Problem::Missing))?;
    if block_key == LEGACY_NAMESPACE {
        let label = bctx.endpoint.clone().unwrap_or_default();
        bctx.warnings.push(format!(
            "endpoint {label}: {LEGACY_NAMESPACE} is directly on the backend, as KrakenD CE 1.4's \
             document prints it; KrakenD itself reads it from extra_config: used here, move it \
             there"
        ));
    }
    let block = as_object(block, &bctx, &block_key)?;
    let mut lctx = Ctx {
        endpoint: bctx.endpoint.clone(),
        prefix: bctx.key(&block_key),
        warnings: bctx.warnings,
    };
    lctx.check_keys(block, LAMBDA_KEYS, &[], &[])?;
    let lambda = lambda::parse(block, &mut lctx, path, &backend_method, defaults, sources)?;
    Ok(Backend {
        lambda,
        manipulation,
    })
}

/// The endpoint's `output_encoding` (else the service's), as this filter renders it.
#[inline(never)]
fn output(
    object: &Map<String, Value>,
    ctx: &mut Ctx,
    defaults: &Defaults,
    endpoint: &Endpoint,
) -> Result<Output, ConfigError> {
    let mut answering = endpoint
        .backends
        .iter()
        .filter(|b| !b.manipulation.is_shadow());
    let single = match (answering.next(), answering.next()) {
        (Some(only), None) => only.manipulation.is_identity(),
        _ => false,
    };
    let value = ctx.string(object, "output_encoding")?.or(defaults.output);
    Ok(match value.unwrap_or("json") {
        "json" if single => Output::Passthrough,
        "json" => Output::Json,
        "negotiate" => {
            let label = ctx.endpoint.clone().unwrap_or_default();
            ctx.warnings.push(format!(
                "endpoint {label}: output_encoding negotiate renders JSON here whatever the Accept \
                 header (no XML or YAML)"
            ));
            if single {
                Output::Passthrough
            } else {
                Output::Json
            }
        }
        "no-op" if single && endpoint.backends.len() == 1 => Output::Passthrough,
        "no-op" => return Err(ctx.err("output_encoding", Problem::NoOpAggregation)),
        "json-collection" => Output::JsonCollection,
        "string" => Output::String,
        other => {
            return Err(ctx.err(
                "output_encoding",
                Problem::OutputEncoding(other.to_string()),
            ))
        }
    })
}

/// What cannot go together on one endpoint.
#[inline(never)]
fn check_combination(endpoint: &Endpoint, ctx: &Ctx) -> Result<(), ConfigError> {
    if endpoint.answering() == 0 {
        return Err(ctx.err("backend", Problem::AllShadows));
    }
    let reshaped = endpoint.output != Output::Passthrough;
    for (i, backend) in endpoint.backends.iter().enumerate() {
        let lambda = &backend.lambda;
        let key = format!("backend[{i}]");
        if lambda.mode == Mode::InPlace && (reshaped || endpoint.backends.len() > 1) {
            return Err(ctx.err(&key, Problem::InPlaceManipulation));
        }
        if reshaped && lambda.invocation_type != InvocationType::RequestResponse {
            return Err(ctx.err(&key, Problem::ManipulationNeedsResult("invocation_type")));
        }
        if reshaped && lambda.response_format != ResponseFormat::Krakend {
            return Err(ctx.err(&key, Problem::ManipulationNeedsResult("response_format")));
        }
    }
    Ok(())
}

/// `http(s)://host[:port][/path]` → (`host[:port]`, `/path` without a trailing slash).
fn parse_endpoint_url(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let valid_authority = !authority.is_empty()
        && authority.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        });
    let valid_path = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_' | b'~'));
    if !valid_authority || !valid_path || authority.starts_with(':') {
        return None;
    }
    if let Some((_, port)) = authority
        .rsplit_once(':')
        .filter(|_| !authority.ends_with(']'))
    {
        if port.parse::<u16>().is_err() {
            return None;
        }
    }
    Some((
        authority.to_string(),
        path.trim_end_matches('/').to_string(),
    ))
}

mod credentials;
mod lambda;

#[cfg(test)]
mod tests;
