//! The engine: everything a VM decides about its requests, without a single proxy-wasm call.
//!
//! It reaches Envoy through [`Host`] (callouts, the tick, shared data, the clock, metrics,
//! logs, and the headers and bodies of the stream being served). The proxy-wasm shell
//! implements that trait and hands each callback to the engine; the unit tests implement it
//! with a simulated host (virtual time, scripted callout answers, several VMs sharing data).
//!
//! What it decides: which requests are the filter's, when an Invoke is sent, retried or given up,
//! when a request waits for credentials and when it is answered without them, when credentials
//! are fetched (one VM per Envoy at a time, with backoff after failures) and how VMs share them.
//! One client request may have several Invokes in flight ([`Slot`]s); it is answered when every
//! one of them has concluded.

use crate::aggregate::{self, Part, Success};
use crate::config::{self, Config, Endpoint, Mode, Output, IN_PLACE_ROUTE_KEY};
use crate::invoke::{
    self, Callout, CalloutError, Invocation, Passage, Piece, Request, RequestError, Signer, Step,
    StreamMapper,
};
use crate::manipulate;
use crate::metrics::{self, Counter, Histogram};
use crate::response::{self, ClientError, ClientResponse, LambdaReply, Outcome};
use crate::retry::Jitter;
use crate::route::Match;
use crate::sign::KeyCache;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

mod fastmap;
mod keyring;
mod stats;

use fastmap::FastMap;
use keyring::{FetchEvent, Keyring};
use stats::Stats;

/// Response headers a local reply sets itself.
const HOP_BY_HOP: [&str; 4] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
];

/// How often the engine looks for work while Invokes wait (a backoff, or credentials).
pub const FAST_TICK: Duration = Duration::from_millis(5);
/// How often it looks while request bodies arrive (their endpoint timeout).
pub const BODY_TICK: Duration = Duration::from_millis(20);
/// How often it checks whether credentials need refreshing otherwise.
pub const SLOW_TICK: Duration = Duration::from_secs(1);

/// Log levels the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Histogram,
}

/// A host call Envoy refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// A callout's answer as Envoy delivers it: `status` is `None` when it had no headers.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn as_lambda(&self) -> LambdaReply<'_> {
        LambdaReply {
            status: self.status,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// What the engine needs from Envoy. Stream calls act on the stream whose callback is running.
pub trait Host {
    fn now(&self) -> SystemTime;
    fn log(&self, level: Level, message: &str);
    /// Sends an HTTP callout; its answer comes back through [`Engine::on_callout`].
    fn dispatch(
        &self,
        cluster: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<u32, Refused>;
    /// The answer of the callout being delivered.
    fn callout_reply(&self, num_headers: usize, body_size: usize) -> Reply;
    fn set_tick(&self, period: Duration);
    /// A shared-data value and its compare-and-swap version.
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Stores a value if `cas` is still the version (`None`: unconditionally); false otherwise.
    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool;
    fn define_metric(&self, kind: MetricKind, name: &str) -> Option<u32>;
    fn add_metric(&self, kind: MetricKind, id: u32, value: u64);
    fn request_headers(&self) -> Vec<(String, String)>;
    fn property(&self, path: &[&str]) -> Option<String>;
    fn request_body(&self, size: usize) -> Vec<u8>;
    fn response_headers(&self) -> Vec<(String, String)>;
    /// `size` bytes of the response body being delivered, from `start`.
    fn response_body(&self, start: usize, size: usize) -> Vec<u8>;
    /// Replaces the first `size` bytes of the response body being delivered with `body`.
    fn set_response_body(&self, size: usize, body: &[u8]) -> Result<(), Refused>;
    /// Ends the response abruptly (a reset), when an error comes after bytes were sent.
    fn reset_response(&self);
    fn set_request_headers(&self, headers: &[(String, String)]) -> Result<(), Refused>;
    fn set_filter_state(&self, key: &str, value: &[u8]) -> Result<(), Refused>;
    fn set_response_headers(&self, headers: &[(String, String)]) -> Result<(), Refused>;
    /// Answers stream `context`, from any callback. False when the stream has gone.
    fn respond(&self, context: u32, response: &ClientResponse) -> bool;
}

/// What the shell tells Envoy about the stream after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Pause,
}

/// One Invoke of a client request (one per backend of its endpoint), and where it stands.
#[derive(Debug)]
pub struct Slot {
    pub invocation: Invocation,
    pub state: SlotState,
    /// A shadow backend: invoked, its answer ignored.
    pub shadow: bool,
}

#[derive(Debug)]
pub enum SlotState {
    /// To be sent at `due` (`None`: as soon as there are credentials).
    Waiting {
        due: Option<SystemTime>,
    },
    InFlight {
        token: u32,
    },
    /// Concluded: the answer the error policy gives, the Lambda success if it was one, and
    /// the order it arrived in among the request's slots.
    Done {
        response: ClientResponse,
        success: Option<Success>,
        arrived: usize,
    },
}

/// A stream the filter has taken.
enum Stream {
    /// The body is still arriving; the endpoint timeout runs from `arrived`.
    Collecting {
        endpoint: Rc<Endpoint>,
        request: Request,
        arrived: SystemTime,
    },
    /// Invokes under way; `answered` once the client has its answer (shadows may still run).
    Invoking { slots: Vec<Slot>, answered: bool },
    /// Rewritten in place and on its way through Envoy's router; `streamed` body bytes so far.
    Forwarded {
        invocation: Invocation,
        streamed: usize,
    },
    /// An in-place `InvokeWithResponseStream` answer, decoded as it arrives; `held`: bytes
    /// Envoy buffers for it while nothing could be sent yet.
    Streaming {
        invocation: Invocation,
        mapper: Box<StreamMapper>,
        held: usize,
    },
    /// The in-place response, read whole before it is mapped.
    Mapping {
        invocation: Invocation,
        status: u16,
        headers: Vec<(String, String)>,
    },
    /// Answered: the rest of the stream is not the filter's business.
    Done,
    /// In place, Lambda's answer passes through: the rest of the request body (if the answer
    /// came early) and of the answer go on untouched.
    Passed,
}

/// A VM's engine.
pub struct Engine<H: Host> {
    host: H,
    config: Rc<Config>,
    keys: KeyCache,
    jitter: Jitter,
    stats: Stats,
    /// One per credentials source of the configuration ([`Config::sources`]).
    keyrings: Vec<Keyring>,
    streams: FastMap<u32, Stream>,
    /// Callout token → the stream and slot it serves.
    flights: FastMap<u32, (u32, usize)>,
    tick: Duration,
}

/// Why a configuration was refused.
#[derive(Debug)]
pub enum ConfigureError {
    Empty,
    Invalid(config::ConfigError),
}

impl std::fmt::Display for ConfigureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigureError::Empty => write!(f, "the plugin configuration is empty"),
            ConfigureError::Invalid(e) => write!(f, "invalid plugin configuration: {e}"),
        }
    }
}

/// A stable 64-bit FNV-1a hash (shared-data keys; never shown with what it hashes).
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl<H: Host> Engine<H> {
    /// Loads the plugin configuration. Load-time messages are logged once per Envoy: by the
    /// first VM that loads this configuration.
    pub fn configure(
        host: H,
        bytes: &[u8],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Engine<H>, ConfigureError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ConfigureError::Empty);
        }
        let config = config::parse(bytes, env).map_err(ConfigureError::Invalid)?;
        let now = host.now();
        let loaded_key = format!("lambda-wasm.loaded.{:016x}", fnv(bytes));
        if host.shared_get(&loaded_key).is_none() && host.shared_set(&loaded_key, b"1", None) {
            for warning in &config.warnings {
                host.log(Level::Warn, warning);
            }
            match config.credentials() {
                None if config.signs_with_top_level() => host.log(
                    Level::Warn,
                    "no AWS credentials (credentials block, environment, or a credential \
                     source): every Lambda request signed by the filter will be refused",
                ),
                Some(provider) => host.log(
                    Level::Info,
                    &format!("credentials from {}", provider.describe()),
                ),
                None => {}
            }
            for source in config.sources.iter().skip(1) {
                if let Some(provider) = &source.provider {
                    host.log(
                        Level::Info,
                        &format!("backend credentials from {}", provider.describe()),
                    );
                }
            }
            host.log(
                Level::Info,
                &format!("configured {} Lambda endpoint(s)", config.endpoints.len()),
            );
        }
        let keyrings: Vec<Keyring> = config
            .sources
            .iter()
            .map(|source| Keyring::new(source, now))
            .collect();
        for keyring in &keyrings {
            keyring.prepare(&host);
        }
        let seed = keyring::seed(now);
        let mut engine = Engine {
            host,
            config: Rc::new(config),
            keys: KeyCache::default(),
            jitter: Jitter::new(seed),
            stats: Stats::default(),
            keyrings,
            streams: FastMap::default(),
            flights: FastMap::default(),
            tick: Duration::ZERO,
        };
        engine.retick();
        Ok(engine)
    }

    pub fn host(&self) -> &H {
        &self.host
    }

    // --- the stream's callbacks ---------------------------------------------------------------

    /// A request's headers: is it the filter's, and what happens to it.
    pub fn on_request_headers(&mut self, context: u32, end_of_stream: bool) -> Flow {
        // One host call for the request's headers, pseudo-headers included: each call that
        // returns data crosses out of the VM and back in twice (Envoy allocates its answer in the
        // VM's memory), so `:method` and `:path` are picked from the map, as is what the
        // endpoint wants from it.
        let all = self.host.request_headers();
        let pseudo = |name: &str| all.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let (Some(method), Some(path)) = (pseudo(":method"), pseudo(":path")) else {
            return Flow::Continue;
        };
        let config = Rc::clone(&self.config);
        let Some((endpoint, found)) = config.route(&method, &path) else {
            return Flow::Continue;
        };
        let captures = match found {
            Match::Exact(captures) => captures,
            Match::TrailingSlash { location } => {
                self.redirect(context, &method, &location);
                return Flow::Pause;
            }
        };
        if endpoint.primary.lambda.url.is_some() {
            let now = self.host.now();
            let rewritten = invoke::url_rewrite(endpoint, &method, &path, &all, now);
            return self.forward(context, endpoint, rewritten, end_of_stream, now);
        }
        let headers = invoke::wanted_headers(endpoint)
            .filter_map(|name| {
                let (_, value) = all.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?;
                Some((name.to_string(), value.clone()))
            })
            .collect();
        let meta = invoke::needs_meta(endpoint).then(|| self.request_meta(method, path, all));
        let request = Request {
            captures,
            headers,
            meta,
        };
        let arrived = self.host.now();
        if endpoint.primary.lambda.mode == Mode::InPlace {
            let random = self.jitter.sample();
            let rewritten = invoke::rewrite(endpoint, &request, arrived, random);
            return self.forward(context, endpoint, rewritten, end_of_stream, arrived);
        }
        if invoke::needs_body(endpoint) && !end_of_stream {
            self.streams.insert(
                context,
                Stream::Collecting {
                    endpoint: Rc::clone(endpoint),
                    request,
                    arrived,
                },
            );
            self.retick();
            return Flow::Pause;
        }
        self.start(context, endpoint, &request, Vec::new(), arrived, arrived);
        Flow::Pause
    }

    pub fn on_request_body(&mut self, context: u32, body_size: usize, end_of_stream: bool) -> Flow {
        match self.streams.get_mut(&context) {
            None => return Flow::Continue,
            Some(Stream::Forwarded {
                invocation,
                streamed,
            }) => {
                // The body streams on to Lambda; only its size is checked here.
                *streamed += body_size;
                let (endpoint, streamed) = (Rc::clone(&invocation.endpoint), *streamed);
                if let Err(e) = invoke::check_size(invocation.lambda(), streamed) {
                    self.refuse(context, &endpoint, &e);
                    return Flow::Pause;
                }
                if end_of_stream {
                    let function = invocation.function.to_string();
                    self.count_sent(&function, streamed);
                }
                return Flow::Continue;
            }
            Some(Stream::Collecting { .. }) if end_of_stream => {}
            // The request went on in place: whatever Lambda answers, its body goes on too.
            Some(Stream::Passed | Stream::Mapping { .. } | Stream::Streaming { .. }) => {
                return Flow::Continue
            }
            // Still arriving, answered or invoking: hold the body back.
            Some(_) => return Flow::Pause,
        }
        // The budget is counted from the request's arrival: a body complete only after the
        // endpoint timeout is a 408, not an Invoke, and the Invoke gets what remains of it.
        let now = self.host.now();
        self.expire_bodies(now, Some(context));
        if !matches!(self.streams.get(&context), Some(Stream::Collecting { .. })) {
            return Flow::Pause;
        }
        if let Some(Stream::Collecting {
            endpoint,
            request,
            arrived,
        }) = self.streams.remove(&context)
        {
            let body = self.host.request_body(body_size);
            self.start(context, &endpoint, &request, body, arrived, now);
        }
        Flow::Pause
    }

    pub fn on_response_headers(&mut self, context: u32, end_of_stream: bool) -> Flow {
        let Some(Stream::Forwarded { invocation, .. }) = self.streams.remove(&context) else {
            return Flow::Continue;
        };
        self.streams.insert(context, Stream::Done);
        let headers = self.host.response_headers();
        let status = headers
            .iter()
            .find(|(k, _)| k == ":status")
            .and_then(|(_, v)| v.parse::<u16>().ok())
            .unwrap_or(502);
        let streams = invocation.lambda().stream
            && status == 200
            && headers.iter().any(|(k, _)| k == "x-amzn-requestid");
        if streams {
            let now = self.host.now();
            let function = invocation.function.to_string();
            // A streamed success: counted as no failure, its size unknown yet.
            self.observe(&function, invocation.sent_at, None, 0, now);
            let mapper = Box::new(StreamMapper::new(
                &headers,
                invocation.lambda().response_format,
            ));
            let streaming = Stream::Streaming {
                invocation,
                mapper,
                held: 0,
            };
            self.streams.insert(context, streaming);
            if end_of_stream {
                return self.on_response_body(context, 0, true);
            }
            // Held until the first bytes for the client: an early error can still be mapped.
            return Flow::Pause;
        }
        let passage = if invocation.lambda().url.is_some() {
            invoke::url_passage(status, &headers)
        } else {
            invoke::in_place_passage(&invocation.endpoint, status, &headers)
        };
        match passage {
            Passage::Through { outcome, length } => {
                let now = self.host.now();
                self.observe_outcome(&invocation, &outcome, length, now);
                self.streams.insert(context, Stream::Passed);
                Flow::Continue
            }
            Passage::Stream {
                headers: mapped,
                outcome,
                length,
            } => {
                let now = self.host.now();
                self.observe_outcome(&invocation, &outcome, length, now);
                if let Outcome::Success {
                    log_tail: Some(tail),
                    ..
                } = &outcome
                {
                    self.log_tail(&invocation, tail);
                }
                // Lambda's own headers (a log tail among them) never reach the client as they are.
                if let Err(e) = self.host.set_response_headers(&mapped) {
                    let step =
                        invoke::internal(&format!("Envoy refused the response headers ({e:?})"));
                    self.answer(context, &invocation, step);
                    return Flow::Pause;
                }
                self.streams.insert(context, Stream::Passed);
                Flow::Continue
            }
            Passage::Whole if end_of_stream => {
                self.map_whole(context, invocation, status, &headers, &[]);
                Flow::Pause
            }
            Passage::Whole => {
                let mapping = Stream::Mapping {
                    invocation,
                    status,
                    headers,
                };
                self.streams.insert(context, mapping);
                Flow::Pause
            }
        }
    }

    pub fn on_response_body(
        &mut self,
        context: u32,
        body_size: usize,
        end_of_stream: bool,
    ) -> Flow {
        if let Some(Stream::Streaming { held, mapper, .. }) = self.streams.get_mut(&context) {
            let chunk = self
                .host
                .response_body(*held, body_size.saturating_sub(*held));
            let piece = mapper.push(&chunk, end_of_stream);
            return self.stream_piece(context, piece, body_size);
        }
        match self.streams.get(&context) {
            Some(Stream::Mapping { .. }) if end_of_stream => {}
            Some(Stream::Mapping { .. }) => return Flow::Pause,
            _ => return Flow::Continue,
        }
        if let Some(Stream::Mapping {
            invocation,
            status,
            headers,
        }) = self.streams.remove(&context)
        {
            let body = self.host.response_body(0, body_size);
            self.map_whole(context, invocation, status, &headers, &body);
        }
        Flow::Pause
    }

    /// The stream is gone: forget it (a reply still in flight for it is dropped on arrival).
    pub fn on_done(&mut self, context: u32) {
        if self.streams.remove(&context).is_some() {
            self.flights.retain(|_, (c, _)| *c != context);
            self.retick();
        }
    }

    // --- the root's callbacks -----------------------------------------------------------------

    /// A callout's answer: an Invoke's or a credentials fetch's.
    pub fn on_callout(&mut self, token: u32, num_headers: usize, body_size: usize) {
        if let Some(source) = self.keyrings.iter().position(|k| k.owns(token)) {
            let reply = self.host.callout_reply(num_headers, body_size);
            let now = self.host.now();
            let random = self.jitter.sample();
            let event = self
                .keyrings
                .get_mut(source)
                .and_then(|k| k.on_reply(&self.host, token, &reply, now, random));
            self.after_fetch(source, event);
            return;
        }
        let Some((context, index)) = self.flights.remove(&token) else {
            return;
        };
        let reply = self.host.callout_reply(num_headers, body_size);
        let now = self.host.now();
        let random = self.jitter.sample();
        let Some(Stream::Invoking { slots, .. }) = self.streams.get_mut(&context) else {
            return;
        };
        let Some(slot) = slots.get_mut(index) else {
            return;
        };
        let mut outcome = slot.invocation.classify(&reply.as_lambda(), now);
        if slot.invocation.lambda().stream {
            outcome = invoke::whole_outcome(outcome, slot.invocation.lambda().response_format);
        }
        let merged = slot.invocation.endpoint.output != Output::Passthrough;
        let success = merged
            .then(|| aggregate::merge_input(&outcome, &slot.invocation.lambda().errors))
            .flatten();
        let observed = (
            slot.invocation.function.to_string(),
            slot.invocation.sent_at,
        );
        let signer = match self.keyrings.get(slot.invocation.lambda().source) {
            Some(keyring) if slot.invocation.lambda().signed_by_filter() => keyring.signer(),
            // Envoy's signer signed it: no credentials of the filter's to refresh or redact.
            _ => Signer {
                credentials: None,
                refreshable: false,
            },
        };
        let counter = metrics::counter_for(&outcome);
        let step = invoke::after_outcome(&mut slot.invocation, outcome, signer, now, random);
        self.observe(&observed.0, observed.1, counter, reply.body.len(), now);
        self.settle_with(context, index, step, success, now);
    }

    /// The timer: fetch credentials when due, send what waits, give up what ran out of time.
    pub fn on_tick(&mut self) {
        let now = self.host.now();
        let random = self.jitter.sample();
        for source in 0..self.keyrings.len() {
            let event = self
                .keyrings
                .get_mut(source)
                .and_then(|k| k.maybe_refresh(&self.host, now, random));
            self.after_fetch(source, event);
        }
        self.expire_bodies(now, None);
        self.pump();
        self.retick();
    }

    // --- deciding -------------------------------------------------------------------------------

    fn request_meta(
        &mut self,
        method: String,
        path: String,
        headers: Vec<(String, String)>,
    ) -> invoke::RequestMeta {
        let request_id = headers
            .iter()
            .find(|(k, _)| k == "x-request-id")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| format!("{:016x}", (self.jitter.sample() * 2f64.powi(53)) as u64));
        let source = self
            .host
            .property(&["source", "address"])
            .unwrap_or_default();
        invoke::RequestMeta {
            method,
            path,
            headers,
            source_ip: without_port(&source).to_string(),
            protocol: self
                .host
                .property(&["request", "protocol"])
                .unwrap_or_else(|| "HTTP/1.1".to_string()),
            request_id,
            time: self.host.now(),
        }
    }

    /// KrakenD's router answer to a path with one trailing slash: 301 for GET, 307 otherwise.
    fn redirect(&mut self, context: u32, method: &str, location: &str) {
        let status = if method == "GET" { 301 } else { 307 };
        let response = ClientResponse {
            status,
            headers: vec![("location".to_string(), location.to_string())],
            body: Vec::new(),
        };
        self.streams.insert(context, Stream::Done);
        self.host.respond(context, &response);
    }

    fn refuse(&mut self, context: u32, endpoint: &Endpoint, e: &RequestError) {
        self.host.log(
            Level::Info,
            &format!("endpoint {} refused a request: {e}", endpoint.label()),
        );
        self.stats
            .count_named(&self.host, &metrics::per_reason("rejected", e.code()));
        self.streams.insert(context, Stream::Done);
        self.host.respond(context, &e.to_client());
    }

    /// Starts the Invokes of a matched request whose body (if any) has arrived. `arrived` starts
    /// the endpoint's budget; `now` is when they go out: the arrival itself for a request without
    /// a body (one clock read saved), the body's end otherwise, so that an upload's time is taken
    /// from the budget.
    fn start(
        &mut self,
        context: u32,
        endpoint: &Rc<Endpoint>,
        request: &Request,
        mut body: Vec<u8>,
        arrived: SystemTime,
        now: SystemTime,
    ) {
        // With several answering backends KrakenD merges what arrives within 85% of the
        // endpoint timeout; a lone backend has all of it.
        let merge_deadline = merge_budget(endpoint).and_then(|b| arrived.checked_add(b));
        let mut slots = Vec::with_capacity(endpoint.backends.len());
        for (i, backend) in endpoint.backends.iter().enumerate() {
            let random = self.jitter.sample();
            // The last backend takes the body itself; the others a copy.
            let body = if i + 1 == endpoint.backends.len() {
                std::mem::take(&mut body)
            } else {
                body.clone()
            };
            let mut invocation =
                match Invocation::new(endpoint, backend, request, body, arrived, random) {
                    Ok(i) => i,
                    Err(e) => return self.refuse(context, endpoint, &e),
                };
            let shadow = backend.manipulation.is_shadow();
            if let Some(merge) = merge_deadline.filter(|_| !shadow) {
                invocation.deadline = invocation.deadline.min(merge);
            }
            slots.push(Slot {
                invocation,
                state: SlotState::Waiting { due: None },
                shadow,
            });
        }
        let count = slots.len();
        let invoking = Stream::Invoking {
            slots,
            answered: false,
        };
        self.streams.insert(context, invoking);
        for index in 0..count {
            self.send(context, index, now);
        }
        self.retick();
    }

    /// Turns the request into the Invoke in place ([`Mode::InPlace`]) and lets it go on.
    fn forward(
        &mut self,
        context: u32,
        endpoint: &Rc<Endpoint>,
        rewritten: Result<(Invocation, Vec<(String, String)>), RequestError>,
        end_of_stream: bool,
        now: SystemTime,
    ) -> Flow {
        let (mut invocation, headers) = match rewritten {
            Ok(rewritten) => rewritten,
            Err(e) => {
                self.refuse(context, endpoint, &e);
                return Flow::Pause;
            }
        };
        // New headers make Envoy choose the route again; the route to the signing cluster
        // matches this filter state. Neither may fail half-way: the client's own request must
        // never go on to the signing cluster.
        let marked = self.host.set_request_headers(&headers).and_then(|()| {
            self.host.set_filter_state(
                IN_PLACE_ROUTE_KEY,
                endpoint.primary.lambda.cluster.as_bytes(),
            )
        });
        if let Err(e) = marked {
            let step = invoke::internal(&format!("Envoy refused the in-place rewrite ({e:?})"));
            self.answer(context, &invocation, step);
            return Flow::Pause;
        }
        invocation.sent(now, endpoint.timeout);
        if end_of_stream {
            self.count_sent(&invocation.function.to_string(), 0);
        }
        let forwarded = Stream::Forwarded {
            invocation,
            streamed: 0,
        };
        self.streams.insert(context, forwarded);
        Flow::Continue
    }

    /// Carries out what the next piece of a streamed answer comes to.
    fn stream_piece(&mut self, context: u32, piece: Piece, body_size: usize) -> Flow {
        match piece {
            Piece::Hold => {
                if let Some(Stream::Streaming { held, .. }) = self.streams.get_mut(&context) {
                    *held = body_size;
                }
                Flow::Pause
            }
            Piece::Send {
                headers,
                body,
                log_tail,
            } => {
                let Some(Stream::Streaming {
                    invocation, held, ..
                }) = self.streams.get_mut(&context)
                else {
                    return Flow::Continue;
                };
                *held = 0;
                let invocation = invocation.clone();
                if let Some(tail) = log_tail {
                    self.log_tail(&invocation, &tail);
                }
                let replaced = match headers {
                    Some(headers) => self.host.set_response_headers(&headers),
                    None => Ok(()),
                }
                .and_then(|()| self.host.set_response_body(body_size, &body));
                if let Err(e) = replaced {
                    self.host.log(
                        Level::Warn,
                        &format!(
                            "{}: Envoy refused the streamed body ({e:?})",
                            label(&invocation)
                        ),
                    );
                    self.streams.insert(context, Stream::Done);
                    self.host.reset_response();
                    return Flow::Pause;
                }
                Flow::Continue
            }
            Piece::FailEarly(outcome) => {
                let Some(Stream::Streaming { mut invocation, .. }) = self.streams.remove(&context)
                else {
                    return Flow::Pause;
                };
                let now = self.host.now();
                let function = invocation.function.to_string();
                self.observe(&function, None, metrics::counter_for(&outcome), 0, now);
                let signer = Signer {
                    credentials: None,
                    refreshable: false,
                };
                let random = self.jitter.sample();
                let step = invoke::after_outcome(&mut invocation, outcome, signer, now, random);
                self.answer(context, &invocation, step);
                Flow::Pause
            }
            Piece::FailLate { cause, sent } => {
                let Some(Stream::Streaming { invocation, .. }) =
                    self.streams.insert(context, Stream::Done)
                else {
                    return Flow::Pause;
                };
                let function = invocation.function.to_string();
                self.stats
                    .count(&self.host, Counter::FunctionErrors, &function);
                self.host.log(
                    Level::Warn,
                    &format!(
                        "{}: the streamed answer failed after {sent} bytes reached the client \
                         ({cause}); the response is reset",
                        label(&invocation)
                    ),
                );
                self.host.reset_response();
                Flow::Pause
            }
        }
    }

    /// Maps a whole in-place response (`body` empty when it had none) and answers with it.
    fn map_whole(
        &mut self,
        context: u32,
        mut invocation: Invocation,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) {
        let details = self
            .host
            .property(&["response", "code_details"])
            .unwrap_or_default();
        let routed_to = self.host.property(&["xds", "cluster_name"]);
        let reply = LambdaReply {
            status: Some(status),
            headers,
            body,
        };
        let endpoint = Rc::clone(&invocation.endpoint);
        let now = self.host.now();
        let step = match invoke::in_place_outcome(&endpoint, &reply, &details, routed_to.as_deref())
        {
            // A Function URL's own answer (not AWS refusing the signature) goes on as it is.
            Ok(outcome)
                if invocation.lambda().url.is_some()
                    && !matches!(&outcome, Outcome::ApiError(e) if response::is_auth_error(e)) =>
            {
                self.observe_outcome(&invocation, &outcome, body.len(), now);
                self.streams.insert(context, Stream::Done);
                let response = ClientResponse {
                    status,
                    headers: headers
                        .iter()
                        .filter(|(k, _)| !k.starts_with(':') && !HOP_BY_HOP.contains(&k.as_str()))
                        .cloned()
                        .collect(),
                    body: body.to_vec(),
                };
                self.host.respond(context, &response);
                return;
            }
            // Envoy's signer signed it: no credentials of the filter's to refresh or redact.
            Ok(outcome) => {
                self.observe_outcome(&invocation, &outcome, body.len(), now);
                let signer = Signer {
                    credentials: None,
                    refreshable: false,
                };
                let random = self.jitter.sample();
                invoke::after_outcome(&mut invocation, outcome, signer, now, random)
            }
            Err(step) => step,
        };
        self.answer(context, &invocation, step);
    }

    /// Signs and sends slot `index` of stream `context`, or leaves it waiting for credentials,
    /// or concludes it when it cannot be sent.
    fn send(&mut self, context: u32, index: usize, now: SystemTime) {
        let Some(Stream::Invoking { slots, .. }) = self.streams.get_mut(&context) else {
            return;
        };
        let Some(slot) = slots.get_mut(index) else {
            return;
        };
        let invocation = &mut slot.invocation;
        let prepared = prepare(
            &mut self.keyrings,
            &mut self.keys,
            &mut self.stats,
            &self.host,
            invocation,
            now,
        );
        let step = match prepared {
            Prepared::Wait => {
                slot.state = SlotState::Waiting { due: None };
                return;
            }
            Prepared::Answer(step) => step,
            Prepared::Send(callout, signed_with) => {
                let cluster = &invocation.lambda().cluster;
                match self.host.dispatch(
                    cluster,
                    &callout.headers,
                    Some(&invocation.payload),
                    callout.timeout,
                ) {
                    Ok(token) => {
                        invocation.signed_with = signed_with;
                        invocation.sent(now, callout.timeout);
                        slot.state = SlotState::InFlight { token };
                        self.flights.insert(token, (context, index));
                        let (function, bytes) =
                            (invocation.function.to_string(), invocation.payload.len());
                        self.count_sent(&function, bytes);
                        return;
                    }
                    Err(e) => Step::fail(
                        ClientError::CalloutFailed.response(),
                        format!(
                            "Envoy refused the callout to cluster {cluster:?} ({}): is the \
                             cluster defined?",
                            e.0
                        ),
                    ),
                }
            }
        };
        self.settle(context, index, step, now);
    }

    /// Carries out what an Invoke's step says: conclude the slot, or make it wait.
    fn settle(&mut self, context: u32, index: usize, step: Step, now: SystemTime) {
        self.settle_with(context, index, step, None, now);
    }

    /// [`settle`](Self::settle), with the Lambda success the step answers (for merging).
    fn settle_with(
        &mut self,
        context: u32,
        index: usize,
        step: Step,
        success: Option<Success>,
        now: SystemTime,
    ) {
        let Some(Stream::Invoking { slots, .. }) = self.streams.get_mut(&context) else {
            return;
        };
        let arrived = slots
            .iter()
            .filter(|s| matches!(s.state, SlotState::Done { .. }))
            .count();
        let Some(slot) = slots.get_mut(index) else {
            return;
        };
        let function = slot.invocation.function.to_string();
        match step {
            Step::Respond {
                response,
                failure,
                function_log,
            } => {
                let label = label(&slot.invocation);
                let status = response.status;
                // A function error the error policy answers with a 2xx is data all the same
                // (`merge_input` keeps nothing else that failed).
                let as_data = success.is_some() && aggregate::is_success_status(status);
                slot.state = SlotState::Done {
                    response,
                    success: success.filter(|_| failure.is_none() || as_data),
                    arrived,
                };
                if let Some(cause) = failure {
                    // A shadow's answer is never the client's; with one answering backend,
                    // that backend's answer is.
                    let merged = slot.invocation.endpoint.answering() > 1;
                    let line = if slot.shadow {
                        format!("{label}: shadow backend failed ({status}, not answered): {cause}")
                    } else if merged && as_data {
                        format!("{label}: merged as data ({status} by its error policy): {cause}")
                    } else if merged {
                        // One backend of several: what the client gets is decided by the merge.
                        format!("{label}: backend failed ({status} by its error policy): {cause}")
                    } else {
                        format!("{label} answered {status}: {cause}")
                    };
                    self.host.log(Level::Warn, &line);
                }
                if let Some(tail) = function_log {
                    self.host
                        .log(Level::Debug, &format!("{label} log tail:\n{tail}"));
                }
                self.conclude(context);
            }
            Step::RetryAfter(delay) => {
                self.stats.count(&self.host, Counter::Retries, &function);
                self.host.log(
                    Level::Debug,
                    &format!(
                        "{} retry {} in {delay:?}",
                        label(&slot.invocation),
                        slot.invocation.retries
                    ),
                );
                slot.state = SlotState::Waiting {
                    due: Some(now + delay),
                };
                self.retick();
            }
            Step::RefreshCredentials => {
                self.stats.count(&self.host, Counter::Retries, &function);
                self.host.log(
                    Level::Warn,
                    &format!(
                        "{}: AWS rejected the credentials as expired or unknown; refreshing them \
                         and retrying once",
                        label(&slot.invocation)
                    ),
                );
                let key = slot.invocation.signed_with.clone().unwrap_or_default();
                let source = slot.invocation.lambda().source;
                slot.state = SlotState::Waiting { due: None };
                if let Some(keyring) = self.keyrings.get_mut(source) {
                    keyring.reject(&self.host, &key, now);
                }
                self.retick();
            }
        }
    }

    /// Answers the client once every answering Invoke of its request has concluded; forgets the
    /// request once its shadows have too.
    fn conclude(&mut self, context: u32) {
        let Some(Stream::Invoking { slots, answered }) = self.streams.get_mut(&context) else {
            return;
        };
        let done = |s: &Slot| matches!(s.state, SlotState::Done { .. });
        if !*answered && slots.iter().filter(|s| !s.shadow).all(done) {
            *answered = true;
            let endpoint = slots.first().map(|s| Rc::clone(&s.invocation.endpoint));
            // The answered slots hand their results over: they are not read again.
            let parts: Vec<Part> = slots
                .iter_mut()
                .filter(|s| !s.shadow)
                .filter_map(|s| match &mut s.state {
                    SlotState::Done {
                        response,
                        success,
                        arrived,
                    } => Some(Part {
                        backend: &s.invocation.backend,
                        function: &s.invocation.function,
                        response: std::mem::take(response),
                        success: success.take(),
                        arrived: *arrived,
                    }),
                    _ => None,
                })
                .collect();
            if let Some(endpoint) = endpoint {
                let composed = aggregate::compose(&endpoint, parts);
                for problem in &composed.problems {
                    self.host.log(
                        Level::Warn,
                        &format!("endpoint {} {problem}", endpoint.label()),
                    );
                }
                for _ in &composed.problems {
                    self.stats
                        .count_named(&self.host, &metrics::plain("invalid_results"));
                }
                self.host.respond(context, &composed.response);
            }
        }
        if let Some(Stream::Invoking { slots, .. }) = self.streams.get(&context) {
            if slots.iter().all(done) {
                self.streams.insert(context, Stream::Done);
            }
        }
    }

    /// Answers an in-place stream (or one refused before any Invoke) with the step's response.
    fn answer(&mut self, context: u32, invocation: &Invocation, step: Step) {
        self.streams.insert(context, Stream::Done);
        if let Step::Respond {
            response,
            failure,
            function_log,
        } = step
        {
            if let Some(cause) = failure {
                self.host.log(
                    Level::Warn,
                    &format!(
                        "{} answered {}: {cause}",
                        label(invocation),
                        response.status
                    ),
                );
            }
            if let Some(tail) = function_log {
                self.log_tail(invocation, &tail);
            }
            self.host.respond(context, &response);
        }
    }

    /// Sends every waiting Invoke that is due and has what it needs; gives up those out of time.
    fn pump(&mut self) {
        let now = self.host.now();
        let due = self.slots_where(
            |s| matches!(s.state, SlotState::Waiting { due } if due.is_none_or(|d| d <= now)),
        );
        for (context, index) in due {
            let gave_up = self.slot(context, index).is_some_and(|s| {
                matches!(s.state, SlotState::Waiting { due: None })
                    && s.invocation.time_left(now).is_zero()
            });
            if gave_up {
                self.stats.count_named(
                    &self.host,
                    &metrics::per_reason("rejected", ClientError::CredentialsUnavailable.code()),
                );
                let step = invoke::no_credentials("no credentials before the endpoint timeout");
                self.settle(context, index, step, now);
            } else {
                self.send(context, index, now);
            }
        }
    }

    /// Every slot (stream, index) of the Invokes under way that `keep` selects.
    fn slots_where(&self, keep: impl Fn(&Slot) -> bool) -> Vec<(u32, usize)> {
        let mut found = Vec::new();
        for (context, stream) in &self.streams {
            if let Stream::Invoking { slots, .. } = stream {
                let selected = slots.iter().enumerate().filter(|(_, s)| keep(s));
                found.extend(selected.map(|(i, _)| (*context, i)));
            }
        }
        found
    }

    fn slot(&self, context: u32, index: usize) -> Option<&Slot> {
        match self.streams.get(&context) {
            Some(Stream::Invoking { slots, .. }) => slots.get(index),
            _ => None,
        }
    }

    /// Answers requests (all, or `only` that one) whose body did not arrive within their
    /// endpoint timeout.
    fn expire_bodies(&mut self, now: SystemTime, only: Option<u32>) {
        let late: Vec<(u32, String)> = self
            .streams
            .iter()
            .filter(|(context, _)| only.is_none_or(|c| c == **context))
            .filter_map(|(context, stream)| match stream {
                Stream::Collecting {
                    endpoint, arrived, ..
                } if arrived
                    .checked_add(body_budget(endpoint))
                    .is_none_or(|d| d <= now) =>
                {
                    Some((*context, endpoint.label()))
                }
                _ => None,
            })
            .collect();
        for (context, label) in late {
            self.host.log(
                Level::Info,
                &format!(
                    "endpoint {label} answered 408: the request body did not arrive in time to \
                     invoke (within the endpoint timeout, or the merge deadline where backends \
                     are merged)"
                ),
            );
            self.stats.count_named(
                &self.host,
                &metrics::per_reason("rejected", ClientError::RequestTimeout.code()),
            );
            self.streams.insert(context, Stream::Done);
            self.host
                .respond(context, &ClientError::RequestTimeout.response());
        }
    }

    /// What a credentials fetch came to: waiting Invokes go, or learn there are no credentials.
    fn after_fetch(&mut self, source: usize, event: Option<FetchEvent>) {
        match event {
            None => {}
            Some(FetchEvent::Refreshed) => {
                self.stats
                    .count_named(&self.host, &metrics::plain("credential_refreshes"));
                self.pump();
            }
            Some(FetchEvent::Failed { cause, usable }) => {
                self.stats
                    .count_named(&self.host, &metrics::plain("credential_failures"));
                if usable {
                    self.pump();
                } else {
                    self.fail_credential_waiters(source, &cause);
                }
            }
        }
        self.retick();
    }

    /// Answers every Invoke waiting for credentials of `source`: it failed and none are valid.
    fn fail_credential_waiters(&mut self, source: usize, cause: &str) {
        let now = self.host.now();
        let waiting = self.slots_where(|s| {
            matches!(s.state, SlotState::Waiting { due: None })
                && s.invocation.lambda().source == source
        });
        for (context, index) in waiting {
            self.stats.count_named(
                &self.host,
                &metrics::per_reason("rejected", ClientError::CredentialsUnavailable.code()),
            );
            self.settle(context, index, invoke::no_credentials(cause), now);
        }
    }

    /// Sets the tick the VM needs now.
    fn retick(&mut self) {
        let mut waiting = false;
        let mut collecting = false;
        for stream in self.streams.values() {
            match stream {
                Stream::Invoking { slots, .. } => {
                    waiting |= slots
                        .iter()
                        .any(|s| matches!(s.state, SlotState::Waiting { .. }))
                }
                Stream::Collecting { .. } => collecting = true,
                _ => {}
            }
        }
        let period = if waiting {
            FAST_TICK
        } else if collecting {
            BODY_TICK
        } else if self.keyrings.iter().any(Keyring::refreshable) {
            SLOW_TICK
        } else {
            Duration::ZERO
        };
        if period != self.tick {
            self.tick = period;
            self.host.set_tick(period);
        }
    }

    // --- recording ------------------------------------------------------------------------------

    /// Counts an invocation sent: by the callout, or on in place.
    fn count_sent(&mut self, function: &str, bytes: usize) {
        self.stats.count(&self.host, Counter::Invocations, function);
        self.stats
            .record(&self.host, Histogram::RequestBytes, function, bytes as u64);
    }

    /// Records what an attempt came to: latency, response size, outcome.
    fn observe(
        &mut self,
        function: &str,
        sent_at: Option<SystemTime>,
        counter: Option<Counter>,
        body_len: usize,
        now: SystemTime,
    ) {
        if let Some(sent) = sent_at {
            let ms = now
                .duration_since(sent)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            self.stats
                .record(&self.host, Histogram::LatencyMs, function, ms);
        }
        self.stats.record(
            &self.host,
            Histogram::ResponseBytes,
            function,
            body_len as u64,
        );
        if let Some(counter) = counter {
            self.stats.count(&self.host, counter, function);
        }
    }

    /// [`observe`](Self::observe) for an attempt whose invocation is at hand.
    fn observe_outcome(
        &mut self,
        invocation: &Invocation,
        outcome: &Outcome,
        body_len: usize,
        now: SystemTime,
    ) {
        let function = invocation.function.to_string();
        let counter = metrics::counter_for(outcome);
        self.observe(&function, invocation.sent_at, counter, body_len, now);
    }

    fn log_tail(&self, invocation: &Invocation, tail: &str) {
        self.host.log(
            Level::Debug,
            &format!("{} log tail:\n{tail}", label(invocation)),
        );
    }
}

/// What an attempt needs before it can be sent.
enum Prepared {
    /// The callout, and the access key that signed it (`None`: Envoy signs it).
    Send(Callout, Option<String>),
    /// No valid credentials yet: wait for a fetch.
    Wait,
    Answer(Step),
}

/// Signs the next attempt with its backend's credentials, or prepares it unsigned for Envoy's
/// signer; says when it must wait for credentials or cannot be sent.
fn prepare(
    keyrings: &mut [Keyring],
    keys: &mut KeyCache,
    stats: &mut Stats,
    host: &impl Host,
    invocation: &Invocation,
    now: SystemTime,
) -> Prepared {
    let refused = |stats: &mut Stats, cause: &str| {
        stats.count_named(
            host,
            &metrics::per_reason("rejected", ClientError::CredentialsUnavailable.code()),
        );
        Prepared::Answer(invoke::no_credentials(cause))
    };
    let signed = if invocation.lambda().signed_by_filter() {
        let Some(keyring) = keyrings.get_mut(invocation.lambda().source) else {
            return Prepared::Answer(invoke::internal("the backend's credentials are missing"));
        };
        if !keyring.has_provider() {
            return refused(
                stats,
                "no AWS credentials configured or found: request refused, not sent unsigned",
            );
        }
        match keyring.usable(host, now) {
            Some(credentials) => Some(credentials),
            None => {
                return match keyring.unavailable_until(host, now) {
                    // A backoff runs past this request's deadline: answer now, not later.
                    Some(next) if next >= invocation.deadline => refused(
                        stats,
                        &format!(
                            "the source is failing ({}); next attempt after this request's \
                             deadline",
                            keyring.last_failure()
                        ),
                    ),
                    _ => Prepared::Wait,
                };
            }
        }
    } else {
        None
    };
    let callout = match &signed {
        Some(credentials) => invoke::callout(invocation, credentials, keys, now),
        None => invoke::unsigned_callout(invocation, now),
    };
    match callout {
        Ok(callout) => Prepared::Send(callout, signed.map(|c| c.access_key_id)),
        Err(CalloutError::NoTimeLeft) => {
            stats.count(host, Counter::Timeouts, invocation.function.as_str());
            Prepared::Answer(invoke::timed_out(invocation))
        }
        Err(CalloutError::Sign(e)) => Prepared::Answer(Step::fail(
            ClientError::SigningFailed.response(),
            format!("signing failed: {e}"),
        )),
    }
}

/// With several answering backends, KrakenD's merge budget (85% of the endpoint timeout); a
/// lone backend has none but the endpoint's.
fn merge_budget(endpoint: &Endpoint) -> Option<Duration> {
    (endpoint.answering() > 1).then(|| manipulate::merge_timeout(endpoint.timeout))
}

/// How long after its arrival a request's body may complete: past the merge budget (or the
/// endpoint timeout) none of its backends could be invoked.
fn body_budget(endpoint: &Endpoint) -> Duration {
    merge_budget(endpoint).unwrap_or(endpoint.timeout)
}

fn label(invocation: &Invocation) -> String {
    let tenant = invocation
        .tenant
        .as_deref()
        .map(|t| format!(" tenant {t:?}"))
        .unwrap_or_default();
    format!(
        "endpoint {} function {}{tenant}",
        invocation.endpoint.label(),
        invocation.function
    )
}

/// `10.0.0.1:5678` or `[::1]:5678` → the address alone.
pub fn without_port(address: &str) -> &str {
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

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
