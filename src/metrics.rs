//! Metric names and labels. Envoy exposes the filter's metrics as `wasmcustom.lambda_wasm.*` in
//! `/stats` and `/stats/prometheus`. Per-function metrics carry the function in the name
//! (`lambda_wasm.invocations.function.my-fn`), which `stats_config.stats_tags` turns into a
//! `function` label ([`STATS_TAGS`]). Labels are bounded: a VM gives its own label to the first
//! [`MAX_FUNCTION_LABELS`] functions it sees and counts the rest as `other`.

use crate::response::Outcome;

pub const PREFIX: &str = "lambda_wasm";
pub const MAX_FUNCTION_LABELS: usize = 100;
pub const OTHER: &str = "other";

/// The `stats_tags` regexes that make labels of the names below (for Envoy's bootstrap).
pub const STATS_TAGS: [(&str, &str); 2] = [
    (
        "function",
        r"^wasmcustom\.lambda_wasm\.\w+(\.function\.([^.]+))$",
    ),
    (
        "reason",
        r"^wasmcustom\.lambda_wasm\.\w+(\.reason\.([^.]+))$",
    ),
];

/// Counters kept per function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Invoke requests sent (every attempt).
    Invocations,
    /// Answers with `X-Amz-Function-Error`.
    FunctionErrors,
    /// Lambda API errors 4xx (throttles aside).
    AwsErrors4xx,
    /// Lambda API errors 5xx.
    AwsErrors5xx,
    /// Lambda API 429s.
    Throttles,
    /// The endpoint was unreachable or the connection reset.
    TransportErrors,
    /// No answer within the endpoint timeout.
    Timeouts,
    /// Attempts after the first.
    Retries,
}

impl Counter {
    pub fn name(self) -> &'static str {
        match self {
            Counter::Invocations => "invocations",
            Counter::FunctionErrors => "function_errors",
            Counter::AwsErrors4xx => "aws_errors_4xx",
            Counter::AwsErrors5xx => "aws_errors_5xx",
            Counter::Throttles => "throttles",
            Counter::TransportErrors => "transport_errors",
            Counter::Timeouts => "timeouts",
            Counter::Retries => "retries",
        }
    }
}

/// Histograms kept per function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Histogram {
    /// Milliseconds from sending an attempt to its answer.
    LatencyMs,
    /// Invoke payload size.
    RequestBytes,
    /// Size of Lambda's answer.
    ResponseBytes,
}

impl Histogram {
    pub fn name(self) -> &'static str {
        match self {
            Histogram::LatencyMs => "latency_ms",
            Histogram::RequestBytes => "request_bytes",
            Histogram::ResponseBytes => "response_bytes",
        }
    }
}

/// The per-function counter an outcome adds to, if any.
pub fn counter_for(outcome: &Outcome) -> Option<Counter> {
    match outcome {
        Outcome::Success { .. } => None,
        Outcome::FunctionError { .. } => Some(Counter::FunctionErrors),
        Outcome::ApiError(e) if e.status == 429 => Some(Counter::Throttles),
        Outcome::ApiError(e) if e.status >= 500 => Some(Counter::AwsErrors5xx),
        Outcome::ApiError(_) => Some(Counter::AwsErrors4xx),
        Outcome::Unreachable | Outcome::Reset => Some(Counter::TransportErrors),
        Outcome::Timeout => Some(Counter::Timeouts),
    }
}

/// A metric name with a function label: `lambda_wasm.<metric>.function.<label>`.
pub fn per_function(metric: &str, label: &str) -> String {
    format!("{PREFIX}.{metric}.function.{label}")
}

/// A metric name with a reason label: `lambda_wasm.<metric>.reason.<reason>`.
pub fn per_reason(metric: &str, reason: &str) -> String {
    format!("{PREFIX}.{metric}.reason.{}", sanitize(reason))
}

/// A metric without labels: `lambda_wasm.<metric>`.
pub fn plain(metric: &str) -> String {
    format!("{PREFIX}.{metric}")
}

/// Label values may not contain `.` (Envoy's name separator): anything but `[A-Za-z0-9_:$-]` is `_`.
pub fn sanitize(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '$') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The bounded set of function labels one VM hands out. Asked only when a metric id is first
/// defined, so a sorted vector (a std `HashSet` brought SipHash and a random seed into the module).
#[derive(Debug, Default)]
pub struct FunctionLabels {
    seen: Vec<String>,
}

impl FunctionLabels {
    pub fn label(&mut self, function: &str) -> String {
        let label = sanitize(function);
        match self.seen.binary_search(&label) {
            Ok(_) => label,
            Err(at) if self.seen.len() < MAX_FUNCTION_LABELS => {
                self.seen.insert(at, label.clone());
                label
            }
            Err(_) => OTHER.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
