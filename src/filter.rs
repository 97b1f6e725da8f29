//! The proxy-wasm shell: Envoy's side of [`Host`], and the root and HTTP contexts that hand
//! each callback to the VM's [`Engine`]. No decision is made here.

use crate::engine::{Engine, Flow, Host, Level, MetricKind, Refused, Reply};
use crate::response::ClientResponse;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
#[cfg(target_arch = "wasm32")]
use proxy_wasm::types::LogLevel;
use proxy_wasm::types::{Action, BufferType, ContextType, MapType, MetricType, Status, StreamType};

/// The two host calls whose SDK wrappers panic on statuses they do not expect.
mod abi {
    use proxy_wasm::types::{BufferType, Status, StreamType};

    #[link(wasm_import_module = "env")]
    extern "C" {
        pub fn proxy_set_buffer_bytes(
            buffer_type: BufferType,
            start: usize,
            size: usize,
            buffer_data: *const u8,
            buffer_size: usize,
        ) -> Status;
        pub fn proxy_close_stream(stream_type: StreamType) -> Status;
    }
}
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(root_context);
}}

/// The filter's root context, as registered with the proxy-wasm SDK.
pub fn root_context(context_id: u32) -> Box<dyn RootContext> {
    Box::new(Root {
        id: context_id,
        engine: None,
    })
}

/// Envoy, as the engine sees it.
#[derive(Default)]
pub struct Envoy {
    /// The context Envoy makes host calls for: the one whose callback is running, until
    /// `respond` moves it to another stream. Kept to skip setting it to what it already is (a
    /// crossing out of the VM per request).
    current: Cell<u32>,
}

fn pairs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// A header map with its values as text (the SDK's `get_map` would panic on non-UTF-8 values).
fn header_map(map: MapType) -> Vec<(String, String)> {
    hostcalls::get_map_bytes(map)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let text = String::from_utf8(v)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            (k, text)
        })
        .collect()
}

fn buffer(kind: BufferType, size: usize) -> Vec<u8> {
    if size == 0 {
        return Vec::new();
    }
    hostcalls::get_buffer(kind, 0, size)
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn refused(status: proxy_wasm::types::Status) -> Refused {
    Refused(format!("{status:?}"))
}

impl Host for Envoy {
    fn now(&self) -> SystemTime {
        hostcalls::get_current_time().unwrap_or_else(|_| SystemTime::now())
    }

    fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Debug => proxy_wasm::types::LogLevel::Debug,
            Level::Info => proxy_wasm::types::LogLevel::Info,
            Level::Warn => proxy_wasm::types::LogLevel::Warn,
            Level::Error => proxy_wasm::types::LogLevel::Error,
        };
        let _ = hostcalls::log(level, message);
    }

    fn dispatch(
        &self,
        cluster: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<u32, Refused> {
        hostcalls::dispatch_http_call(cluster, pairs(headers), body, vec![], timeout)
            .map_err(refused)
    }

    fn callout_reply(&self, num_headers: usize, body_size: usize) -> Reply {
        let headers = header_map(MapType::HttpCallResponseHeaders);
        let status = headers
            .iter()
            .find(|(k, _)| k == ":status")
            .and_then(|(_, v)| v.parse::<u16>().ok())
            .filter(|_| num_headers > 0);
        Reply {
            status,
            headers,
            body: buffer(BufferType::HttpCallResponseBody, body_size),
        }
    }

    fn set_tick(&self, period: Duration) {
        let _ = hostcalls::set_tick_period(period);
    }

    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        match hostcalls::get_shared_data(key) {
            Ok((Some(value), cas)) => Some((value, cas.unwrap_or(0))),
            _ => None,
        }
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        hostcalls::set_shared_data(key, Some(value), cas).is_ok()
    }

    fn define_metric(&self, kind: MetricKind, name: &str) -> Option<u32> {
        let kind = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Histogram => MetricType::Histogram,
        };
        hostcalls::define_metric(kind, name).ok()
    }

    fn add_metric(&self, kind: MetricKind, id: u32, value: u64) {
        let _ = match kind {
            MetricKind::Counter => {
                hostcalls::increment_metric(id, i64::try_from(value).unwrap_or(i64::MAX))
            }
            MetricKind::Histogram => hostcalls::record_metric(id, value),
        };
    }

    fn request_headers(&self) -> Vec<(String, String)> {
        header_map(MapType::HttpRequestHeaders)
    }

    fn property(&self, path: &[&str]) -> Option<String> {
        hostcalls::get_property(path.to_vec())
            .ok()
            .flatten()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    fn request_body(&self, size: usize) -> Vec<u8> {
        buffer(BufferType::HttpRequestBody, size)
    }

    fn response_headers(&self) -> Vec<(String, String)> {
        header_map(MapType::HttpResponseHeaders)
    }

    fn response_body(&self, start: usize, size: usize) -> Vec<u8> {
        if size == 0 {
            return Vec::new();
        }
        hostcalls::get_buffer(BufferType::HttpResponseBody, start, size)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn set_response_body(&self, size: usize, body: &[u8]) -> Result<(), Refused> {
        // The SDK's set_buffer panics on a status it does not expect: call the ABI directly.
        let status = unsafe {
            abi::proxy_set_buffer_bytes(
                BufferType::HttpResponseBody,
                0,
                size,
                body.as_ptr(),
                body.len(),
            )
        };
        match status {
            Status::Ok => Ok(()),
            other => Err(refused(other)),
        }
    }

    fn reset_response(&self) {
        // As above: the SDK's reset_http_response panics on an unexpected status.
        let _ = unsafe { abi::proxy_close_stream(StreamType::HttpResponse) };
    }

    fn set_request_headers(&self, headers: &[(String, String)]) -> Result<(), Refused> {
        hostcalls::set_map(MapType::HttpRequestHeaders, pairs(headers)).map_err(refused)
    }

    fn set_filter_state(&self, key: &str, value: &[u8]) -> Result<(), Refused> {
        hostcalls::set_property(vec![key], Some(value)).map_err(refused)
    }

    fn set_response_headers(&self, headers: &[(String, String)]) -> Result<(), Refused> {
        hostcalls::set_map(MapType::HttpResponseHeaders, pairs(headers)).map_err(refused)
    }

    fn respond(&self, context: u32, response: &ClientResponse) -> bool {
        if self.current.get() != context {
            if hostcalls::set_effective_context(context).is_err() {
                return false;
            }
            self.current.set(context);
        }
        let status = u32::from(response.status);
        hostcalls::send_http_response(status, pairs(&response.headers), Some(&response.body))
            .is_ok()
    }
}

type Shared = Rc<RefCell<Engine<Envoy>>>;

/// Runs `f` on the engine in a callback of context `context`. Envoy defers what could call back
/// into the VM (callout failures, local replies), so the engine is never borrowed twice; if it
/// were, the callback is dropped with a log line rather than a panic that would kill the VM.
fn with<T>(
    engine: &Shared,
    context: u32,
    otherwise: T,
    f: impl FnOnce(&mut Engine<Envoy>) -> T,
) -> T {
    match engine.try_borrow_mut() {
        Ok(mut engine) => {
            engine.host().current.set(context);
            f(&mut engine)
        }
        Err(_) => {
            Envoy::default().log(Level::Error, "re-entrant callback ignored");
            otherwise
        }
    }
}

fn action(flow: Flow) -> Action {
    match flow {
        Flow::Continue => Action::Continue,
        Flow::Pause => Action::Pause,
    }
}

struct Root {
    id: u32,
    engine: Option<Shared>,
}

impl Context for Root {
    fn on_http_call_response(&mut self, token: u32, headers: usize, body: usize, _: usize) {
        if let Some(engine) = &self.engine {
            with(engine, self.id, (), |e| e.on_callout(token, headers, body));
        }
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = buffer(BufferType::PluginConfiguration, usize::MAX);
        let env = |key: &str| std::env::var(key).ok();
        let envoy = Envoy {
            current: Cell::new(self.id),
        };
        match Engine::configure(envoy, &bytes, &env) {
            Ok(engine) => {
                self.engine = Some(Rc::new(RefCell::new(engine)));
                true
            }
            Err(e) => {
                Envoy::default().log(Level::Error, &format!("{e}: refusing to start"));
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if let Some(engine) = &self.engine {
            with(engine, self.id, (), Engine::on_tick);
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let engine = Rc::clone(self.engine.as_ref()?);
        Some(Box::new(Stream {
            id: context_id,
            engine,
        }))
    }
}

struct Stream {
    id: u32,
    engine: Shared,
}

impl Context for Stream {
    fn on_http_call_response(&mut self, token: u32, headers: usize, body: usize, _: usize) {
        with(&self.engine, self.id, (), |e| {
            e.on_callout(token, headers, body)
        });
    }

    fn on_done(&mut self) -> bool {
        let id = self.id;
        with(&self.engine, id, (), |e| e.on_done(id));
        true
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        let id = self.id;
        action(with(&self.engine, id, Flow::Continue, |e| {
            e.on_request_headers(id, end_of_stream)
        }))
    }

    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        let id = self.id;
        action(with(&self.engine, id, Flow::Pause, |e| {
            e.on_request_body(id, size, end_of_stream)
        }))
    }

    fn on_http_response_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        let id = self.id;
        action(with(&self.engine, id, Flow::Continue, |e| {
            e.on_response_headers(id, end_of_stream)
        }))
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        let id = self.id;
        action(with(&self.engine, id, Flow::Continue, |e| {
            e.on_response_body(id, size, end_of_stream)
        }))
    }
}
