//! The proxy-wasm shell: a small state machine that moves bytes between Envoy and the core.
//!
//! A request's first attempt is dispatched from its own HTTP context, so its reply comes back
//! there. A retry must wait for its backoff, which only the root context can do (`on_tick`):
//! the waiting invocation is handed to state shared by the VM's contexts, the root dispatches it
//! when due, and answers the client through `set_effective_context`.

use crate::config::{self, Config, Endpoint};
use crate::invoke::Request;
use crate::invoke::{self, CalloutError, Invocation, Step};
use crate::response::{ClientResponse, LambdaReply};
use crate::retry::Jitter;
use crate::route;
use log::{debug, error, info, warn};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
#[cfg(target_arch = "wasm32")]
use proxy_wasm::types::LogLevel;
use proxy_wasm::types::{Action, BufferType, ContextType, MapType};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

/// How often the root context looks for retries that are due, while any wait.
const TICK: Duration = Duration::from_millis(5);

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(root_context);
}}

/// The filter's root context, as registered with the proxy-wasm SDK.
pub fn root_context(_context_id: u32) -> Box<dyn RootContext> {
    Box::new(Root { shared: None })
}

/// A retry waiting for its backoff.
struct Waiting {
    due: SystemTime,
    context_id: u32,
    invocation: Invocation,
}

/// State shared by the root and the HTTP contexts of one VM (one thread: no locking).
struct Shared {
    config: Config,
    jitter: RefCell<Jitter>,
    waiting: RefCell<Vec<Waiting>>,
    /// Retries dispatched by the root: callout token → (HTTP context, invocation).
    in_flight: RefCell<HashMap<u32, (u32, Invocation)>>,
}

fn now() -> SystemTime {
    hostcalls::get_current_time().unwrap_or_else(|_| SystemTime::now())
}

fn endpoint_of<'c>(config: &'c Config, invocation: &Invocation) -> Option<&'c Endpoint> {
    config.endpoints.get(invocation.endpoint)
}

impl Shared {
    /// Signs and dispatches one attempt. On failure, the step that answers the client.
    fn dispatch(&self, invocation: &Invocation) -> Result<u32, Step> {
        let Some(endpoint) = endpoint_of(&self.config, invocation) else {
            return Err(internal("the endpoint of this invocation is gone"));
        };
        let Some(credentials) = self.config.credentials.as_ref() else {
            return Err(Step::fail(
                invoke::no_credentials(),
                "no AWS credentials: request refused, not sent unsigned",
            ));
        };
        let callout = match invoke::callout(invocation, endpoint, credentials, now()) {
            Ok(c) => c,
            Err(CalloutError::NoTimeLeft) => return Err(invoke::timed_out(invocation)),
            Err(CalloutError::Sign(e)) => {
                return Err(Step::fail(
                    ClientResponse::error(
                        500,
                        "signing_failed",
                        "the Lambda request could not be signed",
                    ),
                    format!("signing failed: {e}"),
                ))
            }
        };
        let headers: Vec<(&str, &str)> = callout
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        hostcalls::dispatch_http_call(
            &endpoint.lambda.cluster,
            headers,
            Some(&invocation.payload),
            vec![],
            callout.timeout,
        )
        .map_err(|status| {
            Step::fail(
                ClientResponse::error(500, "callout_failed", "Envoy refused the callout to the Lambda cluster"),
                format!(
                    "Envoy refused the callout to cluster {:?} ({status:?}): is the cluster defined?",
                    endpoint.lambda.cluster
                ),
            )
        })
    }

    /// Reads the reply to the callout being delivered and decides what follows.
    fn on_reply(&self, invocation: &mut Invocation, num_headers: usize, body_size: usize) -> Step {
        let headers: Vec<(String, String)> =
            hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                .collect();
        let status = headers
            .iter()
            .find(|(k, _)| k == ":status")
            .and_then(|(_, v)| v.parse::<u16>().ok());
        let status = if num_headers == 0 { None } else { status };
        let body = if body_size > 0 {
            hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
                .ok()
                .flatten()
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let Some(endpoint) = endpoint_of(&self.config, invocation) else {
            return internal("the endpoint of this invocation is gone");
        };
        let reply = LambdaReply {
            status,
            headers: &headers,
            body: &body,
        };
        let random = self.jitter.borrow_mut().sample();
        invoke::after_reply(
            invocation,
            endpoint,
            &reply,
            self.config.credentials.as_ref(),
            now(),
            random,
        )
    }

    /// Carries out a step for the HTTP context `context_id`. Returns `true` when the client
    /// has been answered.
    fn carry_out(&self, context_id: u32, invocation: Invocation, step: Step) -> bool {
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
                true
            }
            Step::RetryAfter(delay) => {
                debug!(
                    "{} retry {} in {delay:?}",
                    self.label(&invocation),
                    invocation.retries
                );
                self.waiting.borrow_mut().push(Waiting {
                    due: now() + delay,
                    context_id,
                    invocation,
                });
                let _ = hostcalls::set_tick_period(TICK);
                false
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
}

fn internal(cause: &str) -> Step {
    Step::fail(ClientResponse::error(500, "internal_error", cause), cause)
}

/// Answers the client of the current (effective) HTTP context.
fn respond(response: &ClientResponse) {
    let headers: Vec<(&str, &str)> = response
        .headers
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    if let Err(status) =
        hostcalls::send_http_response(response.status as u32, headers, Some(&response.body))
    {
        debug!("could not answer the client ({status:?}); it has gone away");
    }
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
        match config::parse(&bytes, &env) {
            Ok(config) => {
                for warning in &config.warnings {
                    warn!("{warning}");
                }
                if config.credentials.is_none() && !config.endpoints.is_empty() {
                    warn!("no AWS credentials (credentials block or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY): every Lambda request will be refused");
                }
                info!("configured {} Lambda endpoint(s)", config.endpoints.len());
                let seed = now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0x9E37_79B9_7F4A_7C15);
                self.shared = Some(Rc::new(Shared {
                    config,
                    jitter: RefCell::new(Jitter::new(seed)),
                    waiting: RefCell::new(Vec::new()),
                    in_flight: RefCell::new(HashMap::new()),
                }));
                true
            }
            Err(e) => {
                error!("invalid plugin configuration: {e}");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let now = now();
        let due: Vec<Waiting> = {
            let mut waiting = shared.waiting.borrow_mut();
            let (due, later): (Vec<Waiting>, Vec<Waiting>) =
                waiting.drain(..).partition(|w| w.due <= now);
            *waiting = later;
            due
        };
        for w in due {
            match shared.dispatch(&w.invocation) {
                Ok(token) => {
                    shared
                        .in_flight
                        .borrow_mut()
                        .insert(token, (w.context_id, w.invocation));
                }
                Err(step) => {
                    if hostcalls::set_effective_context(w.context_id).is_ok() {
                        shared.carry_out(w.context_id, w.invocation, step);
                    }
                }
            }
        }
        if shared.waiting.borrow().is_empty() {
            let _ = hostcalls::set_tick_period(Duration::ZERO);
        }
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
    /// Answered, or handed to the root for a retry.
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

impl Stream {
    fn start(&mut self, endpoint: usize, request: Request, body: Vec<u8>) -> Action {
        self.state = State::Done;
        let Some(ep) = self.shared.config.endpoints.get(endpoint) else {
            return Action::Continue;
        };
        let random = self.shared.jitter.borrow_mut().sample();
        let invocation = match Invocation::new(endpoint, ep, &request, body, now(), random) {
            Ok(i) => i,
            Err(e) => {
                info!("endpoint {} refused a request: {e}", ep.label());
                respond(&e.to_client());
                return Action::Pause;
            }
        };
        match self.shared.dispatch(&invocation) {
            Ok(_token) => self.state = State::Invoking(invocation),
            Err(step) => {
                self.shared.carry_out(self.id, invocation, step);
            }
        }
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
        let headers = invoke::wanted_headers(endpoint)
            .filter_map(|name| Some((name.to_string(), request_header(name)?)))
            .collect();
        let request = Request { captures, headers };
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
            other => {
                // Answered or invoking: hold the rest of the request back.
                self.state = other;
                Action::Pause
            }
        }
    }
}
