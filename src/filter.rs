//! The proxy-wasm shell: a small state machine that moves bytes between Envoy and the core.
//!
//! A request's first attempt is dispatched from its own HTTP context, so its reply comes back
//! there. Anything that must wait — a retry's backoff, or credentials not fetched yet — is
//! handed to state shared by the VM's contexts; the root context dispatches it from `on_tick`
//! (or as soon as credentials arrive) and answers the client through `set_effective_context`.
//!
//! Credentials that come from the network are fetched by the root context (one fetch in flight
//! per VM, and one per Envoy thanks to a lease in shared data), cached, refreshed ahead of expiry
//! and shared with the other VMs through proxy-wasm shared data.

use crate::config::{self, Config, Endpoint, Mode, IN_PLACE_ROUTE_KEY};
use crate::credentials::fetch::{Base, Fetch, Next};
use crate::credentials::{Cache, Credentials, Expiring};
use crate::invoke::{self, CalloutError, Invocation, Passage, Request, Signer, Step};
use crate::metrics::{self, Counter, FunctionLabels, Histogram};
use crate::response::{self, ClientResponse, LambdaReply, Outcome};
use crate::retry::Jitter;
use crate::route;
use crate::sign::KeyCache;
use log::{debug, error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
#[cfg(target_arch = "wasm32")]
use proxy_wasm::types::LogLevel;
use proxy_wasm::types::{Action, BufferType, ContextType, MapType, MetricType};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

/// How often the root context looks for work while requests wait.
const FAST_TICK: Duration = Duration::from_millis(5);
/// How often it checks whether credentials need refreshing otherwise.
const SLOW_TICK: Duration = Duration::from_secs(1);
/// Time allowed for each HTTP request of a credentials fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one VM may hold the fetch lease before others may fetch.
const LEASE: Duration = Duration::from_secs(15);

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(root_context);
}}

/// The filter's root context, as registered with the proxy-wasm SDK.
pub fn root_context(_context_id: u32) -> Box<dyn RootContext> {
    Box::new(Root { shared: None })
}

/// An invocation waiting in the root's hands: for its backoff (`due`), or for credentials.
struct Waiting {
    due: Option<SystemTime>,
    context_id: u32,
    invocation: Invocation,
}

/// Credentials state of one VM.
struct CredentialState {
    cache: Cache,
    /// The fetch in flight: its callout token and state.
    fetch: Option<(u32, Fetch)>,
}

/// The VM's metrics: ids defined on first use, function labels bounded.
#[derive(Default)]
struct Metrics {
    ids: RefCell<HashMap<String, u32>>,
    labels: RefCell<FunctionLabels>,
    /// Per-function ids by function name and metric, found without building names; bounded.
    per_function: RefCell<HashMap<String, HashMap<&'static str, u32>>>,
}

impl Metrics {
    fn id(&self, name: String, kind: MetricType) -> Option<u32> {
        if let Some(id) = self.ids.borrow().get(&name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(kind, &name).ok()?;
        self.ids.borrow_mut().insert(name, id);
        Some(id)
    }

    fn label(&self, function: &str) -> String {
        self.labels.borrow_mut().label(function)
    }

    fn function_id(&self, metric: &'static str, kind: MetricType, function: &str) -> Option<u32> {
        if let Some(id) = self
            .per_function
            .borrow()
            .get(function)
            .and_then(|ids| ids.get(metric))
        {
            return Some(*id);
        }
        let id = self.id(metrics::per_function(metric, &self.label(function)), kind)?;
        let mut per_function = self.per_function.borrow_mut();
        if per_function.contains_key(function) || per_function.len() < metrics::MAX_FUNCTION_LABELS
        {
            per_function
                .entry(function.to_string())
                .or_default()
                .insert(metric, id);
        }
        Some(id)
    }

    fn count(&self, counter: Counter, function: &str) {
        if let Some(id) = self.function_id(counter.name(), MetricType::Counter, function) {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }

    fn record(&self, histogram: Histogram, function: &str, value: u64) {
        if let Some(id) = self.function_id(histogram.name(), MetricType::Histogram, function) {
            let _ = hostcalls::record_metric(id, value);
        }
    }

    fn count_named(&self, name: String) {
        if let Some(id) = self.id(name, MetricType::Counter) {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }
}

/// State shared by the root and the HTTP contexts of one VM (one thread: no locking).
struct Shared {
    metrics: Metrics,
    /// SigV4 signing keys, derived once a day.
    keys: RefCell<KeyCache>,
    config: Config,
    jitter: RefCell<Jitter>,
    waiting: RefCell<Vec<Waiting>>,
    /// Attempts dispatched by the root: callout token → (HTTP context, invocation).
    in_flight: RefCell<HashMap<u32, (u32, Invocation)>>,
    credentials: RefCell<CredentialState>,
    /// Shared-data key of these credentials (one per distinct provider).
    shared_key: String,
    tick: Cell<Duration>,
}

fn now() -> SystemTime {
    hostcalls::get_current_time().unwrap_or_else(|_| SystemTime::now())
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn endpoint_of<'c>(config: &'c Config, invocation: &Invocation) -> Option<&'c Endpoint> {
    config.endpoints.get(invocation.endpoint)
}

/// Why an attempt was not dispatched.
enum NotSent {
    /// Answer the client with this.
    Answer(Step),
    /// No valid credentials yet: wait for the fetch.
    NoCredentials,
}

/// A header map with its values as text (the SDK's `get_map` would panic on non-UTF-8 values).
fn header_map(map: MapType) -> Vec<(String, String)> {
    hostcalls::get_map_bytes(map)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

/// Reads the callout response being delivered: status (`None` without headers), headers, body.
fn callout_response(
    num_headers: usize,
    body_size: usize,
) -> (Option<u16>, Vec<(String, String)>, Vec<u8>) {
    let headers = header_map(MapType::HttpCallResponseHeaders);
    let status = headers
        .iter()
        .find(|(k, _)| k == ":status")
        .and_then(|(_, v)| v.parse::<u16>().ok())
        .filter(|_| num_headers > 0);
    let body = if body_size > 0 {
        hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
            .ok()
            .flatten()
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    (status, headers, body)
}

impl Shared {
    fn provider_name(&self) -> String {
        self.config
            .credentials
            .as_ref()
            .map(|p| p.describe())
            .unwrap_or_default()
    }

    fn refreshable(&self) -> bool {
        self.config
            .credentials
            .as_ref()
            .is_some_and(|p| p.is_dynamic())
    }

    /// Credentials to sign with now: this VM's, else fresher ones another VM shared.
    fn usable_credentials(&self, now: SystemTime) -> Option<Credentials> {
        let mut state = self.credentials.borrow_mut();
        if state.cache.usable(now).is_none() && self.refreshable() {
            if let Some(shared) = self.read_shared() {
                state.cache.offer(shared);
            }
        }
        state.cache.usable(now).cloned()
    }

    fn read_shared(&self) -> Option<Expiring> {
        let (bytes, _) = hostcalls::get_shared_data(&self.shared_key).ok()?;
        Expiring::from_shared(&bytes?)
    }

    /// Signs and dispatches one attempt.
    fn dispatch(&self, invocation: &mut Invocation) -> Result<u32, NotSent> {
        let Some(endpoint) = endpoint_of(&self.config, invocation) else {
            return Err(NotSent::Answer(internal(
                "the endpoint of this invocation is gone",
            )));
        };
        if self.config.credentials.is_none() {
            self.count_no_credentials();
            return Err(NotSent::Answer(Step::fail(
                invoke::no_credentials(),
                "no AWS credentials configured or found: request refused, not sent unsigned",
            )));
        }
        let now = now();
        let Some(credentials) = self.usable_credentials(now) else {
            return Err(NotSent::NoCredentials);
        };
        let callout = match invoke::callout(
            invocation,
            endpoint,
            &credentials,
            &mut self.keys.borrow_mut(),
            now,
        ) {
            Ok(c) => c,
            Err(CalloutError::NoTimeLeft) => {
                self.metrics
                    .count(Counter::Timeouts, invocation.function.as_str());
                return Err(NotSent::Answer(invoke::timed_out(invocation)));
            }
            Err(CalloutError::Sign(e)) => {
                return Err(NotSent::Answer(Step::fail(
                    ClientResponse::error(
                        500,
                        "signing_failed",
                        "the Lambda request could not be signed",
                    ),
                    format!("signing failed: {e}"),
                )))
            }
        };
        let headers: Vec<(&str, &str)> = callout
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let token = hostcalls::dispatch_http_call(
            &endpoint.lambda.cluster,
            headers,
            Some(&invocation.payload),
            vec![],
            callout.timeout,
        )
        .map_err(|status| {
            NotSent::Answer(Step::fail(
                ClientResponse::error(500, "callout_failed", "Envoy refused the callout to the Lambda cluster"),
                format!(
                    "Envoy refused the callout to cluster {:?} ({status:?}): is the cluster defined?",
                    endpoint.lambda.cluster
                ),
            ))
        })?;
        invocation.signed_with = Some(credentials.access_key_id);
        invocation.sent_at = Some(now);
        self.count_sent(invocation, invocation.payload.len());
        Ok(token)
    }

    /// Counts an invocation sent: by the callout, or on in place.
    fn count_sent(&self, invocation: &Invocation, bytes: usize) {
        let function = invocation.function.as_str();
        self.metrics.count(Counter::Invocations, function);
        self.metrics
            .record(Histogram::RequestBytes, function, bytes as u64);
    }

    /// Records what an attempt came to: latency, response size, outcome.
    fn observe(
        &self,
        invocation: &Invocation,
        outcome: &Outcome,
        body_len: usize,
        now: SystemTime,
    ) {
        let function = invocation.function.as_str();
        if let Some(sent) = invocation.sent_at {
            let ms = now
                .duration_since(sent)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            self.metrics.record(Histogram::LatencyMs, function, ms);
        }
        self.metrics
            .record(Histogram::ResponseBytes, function, body_len as u64);
        if let Some(counter) = metrics::counter_for(outcome) {
            self.metrics.count(counter, function);
        }
    }

    /// Reads the reply to the invocation's callout and decides what follows.
    fn on_reply(&self, invocation: &mut Invocation, num_headers: usize, body_size: usize) -> Step {
        let (status, headers, body) = callout_response(num_headers, body_size);
        let Some(endpoint) = endpoint_of(&self.config, invocation) else {
            return internal("the endpoint of this invocation is gone");
        };
        let reply = LambdaReply {
            status,
            headers: &headers,
            body: &body,
        };
        let outcome = response::classify(&reply);
        let state = self.credentials.borrow();
        let signer = Signer {
            credentials: state.cache.current().map(|c| &c.credentials),
            refreshable: self.refreshable(),
        };
        self.conclude(invocation, endpoint, outcome, body.len(), signer)
    }

    /// Records what an attempt came to and decides what follows (callout or in place).
    fn conclude(
        &self,
        invocation: &mut Invocation,
        endpoint: &Endpoint,
        outcome: Outcome,
        body_len: usize,
        signer: Signer,
    ) -> Step {
        let random = self.jitter.borrow_mut().sample();
        let now = now();
        self.observe(invocation, &outcome, body_len, now);
        invoke::after_outcome(invocation, endpoint, outcome, signer, now, random)
    }

    /// Carries out a step for the HTTP context `context_id` (the current effective context).
    fn carry_out(&self, context_id: u32, invocation: Invocation, step: Step) {
        match step {
            Step::Respond {
                response,
                failure,
                function_log,
            } => {
                if let Some(cause) = failure {
                    self.log_failure(&invocation, response.status, &cause);
                }
                if let Some(tail) = function_log {
                    debug!("{} log tail:\n{tail}", self.label(&invocation));
                }
                respond(&response);
            }
            Step::RetryAfter(delay) => {
                self.metrics
                    .count(Counter::Retries, invocation.function.as_str());
                debug!(
                    "{} retry {} in {delay:?}",
                    self.label(&invocation),
                    invocation.retries
                );
                self.wait(Some(now() + delay), context_id, invocation);
            }
            Step::RefreshCredentials => {
                self.metrics
                    .count(Counter::Retries, invocation.function.as_str());
                let key = invocation.signed_with.clone().unwrap_or_default();
                warn!(
                    "{}: AWS rejected the credentials as expired or unknown; refreshing them and retrying once",
                    self.label(&invocation)
                );
                self.reject_credentials(&key);
                self.wait(None, context_id, invocation);
            }
        }
    }

    fn wait(&self, due: Option<SystemTime>, context_id: u32, invocation: Invocation) {
        self.waiting.borrow_mut().push(Waiting {
            due,
            context_id,
            invocation,
        });
        self.set_tick(FAST_TICK);
    }

    fn set_tick(&self, period: Duration) {
        if self.tick.get() != period {
            self.tick.set(period);
            let _ = hostcalls::set_tick_period(period);
        }
    }

    /// Drops credentials AWS rejected, here and in shared data if they are the shared ones.
    fn reject_credentials(&self, access_key_id: &str) {
        self.credentials.borrow_mut().cache.reject(access_key_id);
        if let Ok((Some(bytes), cas)) = hostcalls::get_shared_data(&self.shared_key) {
            if Expiring::from_shared(&bytes)
                .is_some_and(|e| e.credentials.access_key_id == access_key_id)
            {
                let _ = hostcalls::set_shared_data(&self.shared_key, None, cas);
            }
        }
    }

    fn label(&self, invocation: &Invocation) -> String {
        let endpoint = endpoint_of(&self.config, invocation)
            .map(Endpoint::label)
            .unwrap_or_default();
        format!("endpoint {endpoint} function {}", invocation.function)
    }

    fn log_failure(&self, invocation: &Invocation, status: u16, cause: &str) {
        warn!("{} answered {status}: {cause}", self.label(invocation));
    }

    fn forget(&self, context_id: u32) {
        self.waiting
            .borrow_mut()
            .retain(|w| w.context_id != context_id);
        self.in_flight
            .borrow_mut()
            .retain(|_, (id, _)| *id != context_id);
    }

    /// Dispatches what is due; answers what can no longer be served.
    fn pump(&self) {
        let now = now();
        let ready: Vec<Waiting> = {
            let mut waiting = self.waiting.borrow_mut();
            let (ready, later): (Vec<Waiting>, Vec<Waiting>) = waiting
                .drain(..)
                .partition(|w| w.due.is_none_or(|due| due <= now));
            *waiting = later;
            ready
        };
        for mut w in ready {
            match self.dispatch(&mut w.invocation) {
                Ok(token) => {
                    self.in_flight
                        .borrow_mut()
                        .insert(token, (w.context_id, w.invocation));
                }
                Err(NotSent::NoCredentials) if w.invocation.time_left(now).is_zero() => {
                    self.count_no_credentials();
                    self.answer(
                        w.context_id,
                        w.invocation,
                        credentials_unavailable("no credentials before the endpoint timeout"),
                    );
                }
                Err(NotSent::NoCredentials) => {
                    self.waiting.borrow_mut().push(Waiting { due: None, ..w });
                }
                Err(NotSent::Answer(step)) => self.answer(w.context_id, w.invocation, step),
            }
        }
    }

    /// Answers a request from the root context.
    fn answer(&self, context_id: u32, invocation: Invocation, step: Step) {
        if hostcalls::set_effective_context(context_id).is_ok() {
            self.carry_out(context_id, invocation, step);
        }
    }

    /// Answers every request waiting for credentials: the source failed.
    fn fail_credential_waiters(&self, cause: &str) {
        let failed: Vec<Waiting> = {
            let mut waiting = self.waiting.borrow_mut();
            let (failed, rest): (Vec<Waiting>, Vec<Waiting>) =
                waiting.drain(..).partition(|w| w.due.is_none());
            *waiting = rest;
            failed
        };
        for w in failed {
            self.count_no_credentials();
            self.answer(w.context_id, w.invocation, credentials_unavailable(cause));
        }
    }

    /// Starts a credentials fetch when one is due and no VM is fetching already (network
    /// sources only: static keys are set at configure time).
    fn maybe_refresh(&self) {
        let Some(provider) = self.config.credentials.as_ref() else {
            return;
        };
        let now = now();
        {
            let mut state = self.credentials.borrow_mut();
            if state.fetch.is_some() {
                return;
            }
            if let Some(shared) = self.read_shared() {
                state.cache.offer(shared);
            }
            if !state.cache.wants_refresh(now) {
                return;
            }
        }
        if !self.take_lease(now) {
            return;
        }
        let (fetch, next) = Fetch::start(provider, now);
        self.advance_fetch(fetch, next);
    }

    /// One VM fetches at a time: a lease in shared data, taken with compare-and-swap.
    fn take_lease(&self, now: SystemTime) -> bool {
        let key = format!("{}.lease", self.shared_key);
        let (held_until, cas) = match hostcalls::get_shared_data(&key) {
            Ok((value, cas)) => (
                value
                    .and_then(|v| String::from_utf8(v).ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0),
                cas,
            ),
            Err(_) => (0, None),
        };
        if held_until > millis(now) {
            return false;
        }
        let until = (millis(now) + LEASE.as_millis() as u64).to_string();
        hostcalls::set_shared_data(&key, Some(until.as_bytes()), cas).is_ok()
    }

    fn release_lease(&self) {
        let key = format!("{}.lease", self.shared_key);
        let _ = hostcalls::set_shared_data(&key, Some(b"0"), None);
    }

    /// Sends the fetch's next request, or takes its result.
    fn advance_fetch(&self, fetch: Fetch, next: Next) {
        match next {
            Next::Send(request) => {
                let headers: Vec<(&str, &str)> = request
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let body = (!request.body.is_empty()).then_some(request.body.as_slice());
                match hostcalls::dispatch_http_call(
                    &request.cluster,
                    headers,
                    body,
                    vec![],
                    FETCH_TIMEOUT,
                ) {
                    Ok(token) => self.credentials.borrow_mut().fetch = Some((token, fetch)),
                    Err(status) => {
                        let cause =
                            crate::credentials::fetch::FetchError::Callout(request.cluster.clone());
                        debug!("credentials callout refused: {status:?}");
                        self.fetch_failed(&cause.to_string());
                    }
                }
            }
            Next::Done(Ok(got)) => {
                if self.refreshable() {
                    self.metrics
                        .count_named(metrics::plain("credential_refreshes"));
                }
                let provider = self.provider_name();
                match got.expires {
                    Some(expires) => info!(
                        "credentials from {provider}: refreshed, valid for {}s",
                        expires
                            .duration_since(now())
                            .map(|d| d.as_secs())
                            .unwrap_or(0)
                    ),
                    None => debug!("credentials from {provider}"),
                }
                if self.refreshable() {
                    let _ =
                        hostcalls::set_shared_data(&self.shared_key, Some(&got.to_shared()), None);
                    self.release_lease();
                }
                let mut state = self.credentials.borrow_mut();
                state.fetch = None;
                state.cache.offer(got);
                drop(state);
                self.pump();
            }
            Next::Done(Err(e)) => self.fetch_failed(&e.to_string()),
        }
    }

    fn count_no_credentials(&self) {
        self.metrics
            .count_named(metrics::per_reason("rejected", "credentials_unavailable"));
    }

    fn fetch_failed(&self, cause: &str) {
        self.metrics
            .count_named(metrics::plain("credential_failures"));
        let provider = self.provider_name();
        warn!("credentials from {provider} unavailable: {cause}");
        {
            let mut state = self.credentials.borrow_mut();
            state.fetch = None;
            state.cache.failed(now());
        }
        self.release_lease();
        if self.usable_credentials(now()).is_none() {
            self.fail_credential_waiters(cause);
        } else {
            self.pump();
        }
    }

    fn on_fetch_response(&self, token: u32, num_headers: usize, body_size: usize) -> bool {
        let fetch = {
            let mut state = self.credentials.borrow_mut();
            match state.fetch.take() {
                Some((t, fetch)) if t == token => Some(fetch),
                other => {
                    state.fetch = other;
                    None
                }
            }
        };
        let Some(mut fetch) = fetch else { return false };
        let (status, _, body) = callout_response(num_headers, body_size);
        let next = fetch.on_response(status, &body, now());
        self.advance_fetch(fetch, next);
        true
    }

    /// The tick period the VM needs now.
    fn desired_tick(&self) -> Duration {
        if !self.waiting.borrow().is_empty() {
            FAST_TICK
        } else if self.refreshable() {
            SLOW_TICK
        } else {
            Duration::ZERO
        }
    }
}

fn credentials_unavailable(cause: &str) -> Step {
    Step::fail(
        invoke::no_credentials(),
        format!("credentials unavailable: {cause}"),
    )
}

fn internal(cause: &str) -> Step {
    Step::fail(ClientResponse::error(500, "internal_error", cause), cause)
}

/// Answers the client of the current (effective) HTTP context.
fn respond(response: &ClientResponse) {
    let headers: Vec<(&str, &str)> = response
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Err(status) =
        hostcalls::send_http_response(response.status as u32, headers, Some(&response.body))
    {
        debug!("could not answer the client ({status:?}); it has gone away");
    }
}

/// A stable name for a provider's shared credentials (FNV-1a of its description).
/// The provider's `Debug` redacts static secrets, so they are hashed in too: two providers that
/// differ only in a base secret must not share credentials. Only the hash is ever shown.
fn shared_key(config: &Config) -> String {
    let secret = match config.credentials.as_ref().map(|p| &p.base) {
        Some(Base::Fixed(keys)) => keys.secret_access_key.as_str(),
        _ => "",
    };
    let text = format!("{:?}{secret}", config.credentials);
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("lambda-wasm.credentials.{hash:016x}")
}

struct Root {
    shared: Option<Rc<Shared>>,
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token: u32,
        num_headers: usize,
        body_size: usize,
        _: usize,
    ) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        if shared.on_fetch_response(token, num_headers, body_size) {
            return;
        }
        let Some((context_id, mut invocation)) = shared.in_flight.borrow_mut().remove(&token)
        else {
            return;
        };
        let step = shared.on_reply(&mut invocation, num_headers, body_size);
        if hostcalls::set_effective_context(context_id).is_err() {
            debug!("the request of a retried invocation has gone away");
            return;
        }
        shared.carry_out(context_id, invocation, step);
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        if bytes.iter().all(u8::is_ascii_whitespace) {
            error!("the plugin configuration is empty: refusing to start");
            return false;
        }
        let env = |key: &str| std::env::var(key).ok();
        let config = match config::parse(&bytes, &env) {
            Ok(config) => config,
            Err(e) => {
                error!("invalid plugin configuration: {e}");
                return false;
            }
        };
        for warning in &config.warnings {
            warn!("{warning}");
        }
        match &config.credentials {
            None if config.has_callouts() => {
                warn!("no AWS credentials (credentials block, environment, or a credential source): every Lambda request will be refused")
            }
            Some(provider) => info!("credentials from {}", provider.describe()),
            None => {}
        }
        info!("configured {} Lambda endpoint(s)", config.endpoints.len());
        let seed = millis(now()) ^ 0x9E37_79B9_7F4A_7C15;
        let shared = Rc::new(Shared {
            metrics: Metrics::default(),
            keys: RefCell::new(KeyCache::default()),
            shared_key: shared_key(&config),
            credentials: RefCell::new(CredentialState {
                cache: Cache::new(config.refresh_before),
                fetch: None,
            }),
            config,
            jitter: RefCell::new(Jitter::new(seed)),
            waiting: RefCell::new(Vec::new()),
            in_flight: RefCell::new(HashMap::new()),
            tick: Cell::new(Duration::ZERO),
        });
        // Static keys are ready at once; fetched ones are fetched on the first tick.
        if let Some(provider) = shared
            .config
            .credentials
            .as_ref()
            .filter(|p| !p.is_dynamic())
        {
            if let (_, Next::Done(Ok(got))) = Fetch::start(provider, now()) {
                shared.credentials.borrow_mut().cache.offer(got);
            }
        } else if shared.config.credentials.is_some() {
            shared.set_tick(FAST_TICK);
        }
        self.shared = Some(shared);
        true
    }

    fn on_tick(&mut self) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        if shared.refreshable() {
            shared.maybe_refresh();
        }
        shared.pump();
        shared.set_tick(shared.desired_tick());
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let shared = self.shared.clone()?;
        Some(Box::new(Stream {
            id: context_id,
            shared,
            state: State::Idle,
        }))
    }
}

enum State {
    /// Not (yet) a Lambda request.
    Idle,
    /// A Lambda request whose body is still arriving.
    CollectingBody { endpoint: usize, request: Request },
    /// The first attempt is in flight from this context.
    Invoking(Invocation),
    /// Rewritten in place and on its way through Envoy's router; `streamed` body bytes so far.
    Forwarded {
        invocation: Invocation,
        streamed: usize,
    },
    /// The in-place response, read whole before it is mapped.
    Mapping {
        invocation: Invocation,
        status: u16,
        headers: Vec<(String, String)>,
    },
    /// Answered, or handed to the root.
    Done,
}

struct Stream {
    id: u32,
    shared: Rc<Shared>,
    state: State,
}

fn request_header(name: &str) -> Option<String> {
    hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name)
        .ok()
        .flatten()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
}

fn property(path: Vec<&str>) -> Option<String> {
    hostcalls::get_property(path)
        .ok()
        .flatten()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// `10.0.0.1:5678` or `[::1]:5678` → the address alone.
fn without_port(address: &str) -> &str {
    if let Some(v6) = address.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => address,
    }
}

impl Stream {
    /// The whole request, for API Gateway events.
    fn request_meta(&self, method: String, path: String) -> invoke::RequestMeta {
        let headers = header_map(MapType::HttpRequestHeaders);
        let request_id = headers
            .iter()
            .find(|(k, _)| k == "x-request-id")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| {
                format!(
                    "{:016x}",
                    (self.shared.jitter.borrow_mut().sample() * 2f64.powi(53)) as u64
                )
            });
        let source = property(vec!["source", "address"]).unwrap_or_default();
        invoke::RequestMeta {
            method,
            path,
            headers,
            source_ip: without_port(&source).to_string(),
            protocol: property(vec!["request", "protocol"])
                .unwrap_or_else(|| "HTTP/1.1".to_string()),
            request_id,
            time: now(),
        }
    }

    fn start(&mut self, endpoint: usize, request: Request, body: Vec<u8>) -> Action {
        self.state = State::Done;
        let Some(ep) = self.shared.config.endpoints.get(endpoint) else {
            return Action::Continue;
        };
        let random = self.shared.jitter.borrow_mut().sample();
        let mut invocation = match Invocation::new(endpoint, ep, &request, body, now(), random) {
            Ok(i) => i,
            Err(e) => return self.refuse(ep, &e),
        };
        match self.shared.dispatch(&mut invocation) {
            Ok(_token) => self.state = State::Invoking(invocation),
            Err(NotSent::Answer(step)) => self.shared.carry_out(self.id, invocation, step),
            Err(NotSent::NoCredentials) => self.shared.wait(None, self.id, invocation),
        }
        Action::Pause
    }

    /// Turns the request into the Invoke in place ([`Mode::InPlace`]) and lets it go on.
    fn forward(&mut self, endpoint: usize, request: Request, end_of_stream: bool) -> Action {
        self.state = State::Done;
        let Some(ep) = self.shared.config.endpoints.get(endpoint) else {
            return Action::Continue;
        };
        let random = self.shared.jitter.borrow_mut().sample();
        let now = now();
        let (mut invocation, headers) = match invoke::rewrite(endpoint, ep, &request, now, random) {
            Ok(rewritten) => rewritten,
            Err(e) => return self.refuse(ep, &e),
        };
        // New headers make Envoy choose the route again when the router asks for it; the route
        // to the signing cluster matches this filter state. Neither may fail half-way: the
        // client's own request must never go on to the signing cluster.
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let marked = hostcalls::set_map(MapType::HttpRequestHeaders, pairs).and_then(|()| {
            hostcalls::set_property(vec![IN_PLACE_ROUTE_KEY], Some(ep.lambda.cluster.as_bytes()))
        });
        if let Err(status) = marked {
            let step = internal(&format!("Envoy refused the in-place rewrite ({status:?})"));
            self.shared.carry_out(self.id, invocation, step);
            return Action::Pause;
        }
        invocation.sent_at = Some(now);
        if end_of_stream {
            self.shared.count_sent(&invocation, 0);
        }
        self.state = State::Forwarded {
            invocation,
            streamed: 0,
        };
        Action::Continue
    }

    fn refuse(&self, endpoint: &Endpoint, e: &invoke::RequestError) -> Action {
        info!("endpoint {} refused a request: {e}", endpoint.label());
        self.shared
            .metrics
            .count_named(metrics::per_reason("rejected", e.code()));
        respond(&e.to_client());
        Action::Pause
    }

    /// Maps a whole in-place response (`body` empty when it had none) and answers with it.
    fn map_whole(
        &mut self,
        mut invocation: Invocation,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Action {
        self.state = State::Done;
        let Some(endpoint) = endpoint_of(&self.shared.config, &invocation) else {
            return Action::Continue;
        };
        let details = property(vec!["response", "code_details"]).unwrap_or_default();
        let routed_to = property(vec!["xds", "cluster_name"]);
        let reply = LambdaReply {
            status: Some(status),
            headers,
            body,
        };
        let step = match invoke::in_place_outcome(endpoint, &reply, &details, routed_to.as_deref())
        {
            // Envoy's signer signed it: no credentials of the filter's to refresh or redact.
            Ok(outcome) => {
                let signer = Signer {
                    credentials: None,
                    refreshable: false,
                };
                self.shared
                    .conclude(&mut invocation, endpoint, outcome, body.len(), signer)
            }
            Err(step) => step,
        };
        self.shared.carry_out(self.id, invocation, step);
        Action::Pause
    }
}

impl Context for Stream {
    fn on_http_call_response(
        &mut self,
        _token: u32,
        num_headers: usize,
        body_size: usize,
        _: usize,
    ) {
        let State::Invoking(mut invocation) = std::mem::replace(&mut self.state, State::Done)
        else {
            return;
        };
        let step = self
            .shared
            .on_reply(&mut invocation, num_headers, body_size);
        self.shared.carry_out(self.id, invocation, step);
    }

    fn on_done(&mut self) -> bool {
        self.shared.forget(self.id);
        true
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let (Some(method), Some(path)) = (request_header(":method"), request_header(":path"))
        else {
            return Action::Continue;
        };
        let endpoints = &self.shared.config.endpoints;
        let Some((index, captures)) = route::find(endpoints, &method, &path) else {
            return Action::Continue;
        };
        let Some(endpoint) = endpoints.get(index) else {
            return Action::Continue;
        };
        let in_place = endpoint.lambda.mode == Mode::InPlace;
        let headers = invoke::wanted_headers(endpoint)
            .filter_map(|name| Some((name.to_string(), request_header(name)?)))
            .collect();
        let meta = invoke::needs_meta(endpoint).then(|| self.request_meta(method, path));
        let request = Request {
            captures,
            headers,
            meta,
        };
        if in_place {
            return self.forward(index, request, end_of_stream);
        }
        if invoke::needs_body(endpoint) && !end_of_stream {
            self.state = State::CollectingBody {
                endpoint: index,
                request,
            };
            return Action::Pause;
        }
        self.start(index, request, Vec::new())
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match std::mem::replace(&mut self.state, State::Done) {
            State::CollectingBody { endpoint, request } => {
                if !end_of_stream {
                    self.state = State::CollectingBody { endpoint, request };
                    return Action::Pause;
                }
                let body = hostcalls::get_buffer(BufferType::HttpRequestBody, 0, body_size)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                self.start(endpoint, request, body)
            }
            State::Idle => {
                self.state = State::Idle;
                Action::Continue
            }
            State::Forwarded {
                invocation,
                streamed,
            } => {
                // The body streams on to Lambda; only its size is checked here.
                let streamed = streamed + body_size;
                if let Some(ep) = endpoint_of(&self.shared.config, &invocation) {
                    if let Err(e) = invoke::check_size(ep, streamed) {
                        return self.refuse(ep, &e);
                    }
                }
                if end_of_stream {
                    self.shared.count_sent(&invocation, streamed);
                }
                self.state = State::Forwarded {
                    invocation,
                    streamed,
                };
                Action::Continue
            }
            other => {
                // Answered or invoking: hold the rest of the request back.
                self.state = other;
                Action::Pause
            }
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let State::Forwarded { invocation, .. } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Action::Continue;
        };
        let headers = header_map(MapType::HttpResponseHeaders);
        let status = headers
            .iter()
            .find(|(k, _)| k == ":status")
            .and_then(|(_, v)| v.parse::<u16>().ok())
            .unwrap_or(502);
        let Some(endpoint) = endpoint_of(&self.shared.config, &invocation) else {
            return Action::Continue;
        };
        match invoke::in_place_passage(endpoint, status, &headers) {
            Passage::Stream {
                headers: mapped,
                outcome,
                length,
            } => {
                self.shared.observe(&invocation, &outcome, length, now());
                if let Outcome::Success {
                    log_tail: Some(tail),
                    ..
                } = &outcome
                {
                    debug!("{} log tail:\n{tail}", self.shared.label(&invocation));
                }
                let pairs: Vec<(&str, &str)> = mapped
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                // Lambda's own headers (a log tail among them) never reach the client as they are.
                if let Err(status) = hostcalls::set_map(MapType::HttpResponseHeaders, pairs) {
                    let step =
                        internal(&format!("Envoy refused the response headers ({status:?})"));
                    self.shared.carry_out(self.id, invocation, step);
                    return Action::Pause;
                }
                Action::Continue
            }
            Passage::Whole if end_of_stream => self.map_whole(invocation, status, &headers, &[]),
            Passage::Whole => {
                self.state = State::Mapping {
                    invocation,
                    status,
                    headers,
                };
                Action::Pause
            }
        }
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Mapping {
                invocation,
                status,
                headers,
            } => {
                if !end_of_stream {
                    self.state = State::Mapping {
                        invocation,
                        status,
                        headers,
                    };
                    return Action::Pause;
                }
                let body = hostcalls::get_buffer(BufferType::HttpResponseBody, 0, body_size)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                self.map_whole(invocation, status, &headers, &body)
            }
            other => {
                self.state = other;
                Action::Continue
            }
        }
    }
}

#[cfg(test)]
mod tests;
