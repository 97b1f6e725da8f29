//! Three rungs under the filter on a GET (see Cargo.toml): M, a minimal callout filter; M1
//! (`job-calls`), M reading what any filter doing this job must read (the request's headers, the
//! answer's headers); M2 (`host-calls`), the same making every host call the filter makes.
//! Benchmark only: it invokes the benchmark's function unsigned and answers whatever the fake
//! Lambda returns.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel, MapType, MetricType};
use std::time::Duration;

/// The path the filter sends the benchmark's Invoke to (its function ARN, percent-encoded).
const INVOKE_PATH: &str =
    "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Abench/invocations";
/// The callout's timeout: the filter's default.
const TIMEOUT: Duration = Duration::from_secs(2);

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { metrics: [0; 4] }) });
}}

struct Root {
    /// invocations, request_bytes, latency, response_bytes: as the filter defines them.
    metrics: [u32; 4],
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let names = [
            (MetricType::Counter, "invocations"),
            (MetricType::Histogram, "request_bytes"),
            (MetricType::Histogram, "latency_ms"),
            (MetricType::Histogram, "response_bytes"),
        ];
        for (slot, (kind, name)) in self.metrics.iter_mut().zip(names) {
            let name = format!("lambda_wasm.{name}.function.bench");
            *slot = hostcalls::define_metric(kind, &name).unwrap_or(0);
        }
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            metrics: self.metrics,
        }))
    }
}

struct Stream {
    metrics: [u32; 4],
}

impl Context for Stream {
    fn on_http_call_response(&mut self, _: u32, _: usize, body_size: usize, _: usize) {
        let (status, headers) = if cfg!(feature = "job-calls") {
            self.reply_headers()
        } else {
            (
                200,
                vec![("content-type".to_string(), "application/json".to_string())],
            )
        };
        let body = hostcalls::get_buffer(
            proxy_wasm::types::BufferType::HttpCallResponseBody,
            0,
            body_size,
        )
        .ok()
        .flatten()
        .unwrap_or_default();
        if cfg!(feature = "host-calls") {
            let _ = hostcalls::get_current_time();
            let _ = hostcalls::record_metric(self.metrics[2], 1);
            let _ = hostcalls::record_metric(self.metrics[3], body.len() as u64);
        }
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let _ = hostcalls::send_http_response(status, pairs, Some(&body));
    }
}

impl Stream {
    /// The callout's status and the headers the filter passes on, read as the filter reads them:
    /// the whole map at once.
    fn reply_headers(&self) -> (u32, Vec<(String, String)>) {
        let map = hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders).unwrap_or_default();
        let mut status = 502;
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        for (name, value) in map {
            let value = String::from_utf8_lossy(&value).into_owned();
            match name.as_str() {
                ":status" => status = value.parse().unwrap_or(502),
                "x-amz-executed-version" | "x-amzn-requestid" => headers.push((name, value)),
                _ => {}
            }
        }
        (status, headers)
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        // M reads the one header it routes on; M1 and M2 read the whole map, as the filter does
        // (its method and path among them) for KrakenD's payload.
        let path = if cfg!(feature = "job-calls") {
            hostcalls::get_map_bytes(MapType::HttpRequestHeaders)
                .unwrap_or_default()
                .into_iter()
                .find(|(name, _)| name == ":path")
                .map(|(_, value)| value)
        } else {
            hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, ":path")
                .ok()
                .flatten()
        }
        .unwrap_or_default();
        let Some(id) = path.strip_prefix(b"/bench/") else {
            return Action::Continue;
        };
        if cfg!(feature = "host-calls") {
            let _ = hostcalls::get_current_time();
        }
        let mut body = Vec::with_capacity(id.len() + 10);
        body.extend_from_slice(b"{\"id\":\"");
        body.extend_from_slice(id);
        body.extend_from_slice(b"\"}\n");
        let mut headers = vec![
            (":method", "POST"),
            (":path", INVOKE_PATH),
            (":authority", "lambda.us-east-1.amazonaws.com"),
            ("x-amz-invocation-type", "RequestResponse"),
        ];
        if cfg!(feature = "host-calls") {
            headers.push(("user-agent", "lambda-wasm/0.1.0"));
        }
        let sent = hostcalls::dispatch_http_call("lambda", headers, Some(&body), vec![], TIMEOUT);
        if cfg!(feature = "host-calls") {
            let _ = hostcalls::increment_metric(self.metrics[0], 1);
            let _ = hostcalls::record_metric(self.metrics[1], body.len() as u64);
        }
        if sent.is_err() {
            let _ = hostcalls::send_http_response(502, vec![], None);
        }
        Action::Pause
    }
}
