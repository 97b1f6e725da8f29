//! An endpoint's answer from its backends' results: one backend's answer as it is, or KrakenD's
//! way — each answer decoded, manipulated by its backend's keys, merged with the others in
//! arrival order, and rendered by the endpoint's output encoding.

use crate::config::{Backend, Endpoint, Output};
use crate::function::FunctionName;
use crate::manipulate::{self, Merger};
use crate::response::{ClientError, ClientResponse, ErrorPolicy, Outcome};

/// What a backend's Lambda answered when it succeeded, as merging needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Success {
    pub body: Vec<u8>,
    pub executed_version: Option<String>,
    pub request_id: Option<String>,
}

/// What a backend's outcome gives a merge: a success's result or, where the error policy answers
/// a function error with a 2xx (as `"errors": "krakend"` does), the error object, which KrakenD
/// never tells from data.
pub fn merge_input(outcome: &Outcome, policy: &ErrorPolicy) -> Option<Success> {
    let (body, executed_version, request_id) = match outcome {
        Outcome::Success {
            body,
            executed_version,
            request_id,
            ..
        } => (body, executed_version, request_id),
        Outcome::FunctionError {
            kind,
            body,
            executed_version,
            request_id,
            ..
        } if is_success_status(policy.function_status(kind, body)) => {
            (body, executed_version, request_id)
        }
        _ => return None,
    };
    Some(Success {
        body: body.clone(),
        executed_version: executed_version.clone(),
        request_id: request_id.clone(),
    })
}

/// A 2xx: what the client takes as an answer.
pub fn is_success_status(status: u16) -> bool {
    (200..300).contains(&status)
}

/// One backend's concluded Invoke, handed over to compose the answer.
#[derive(Debug, Clone)]
pub struct Part<'a> {
    pub backend: &'a Backend,
    /// The function it invoked, for the log.
    pub function: &'a FunctionName,
    /// The answer the error policy gives on its own (used when nothing can be merged).
    pub response: ClientResponse,
    pub success: Option<Success>,
    /// Arrival order among the endpoint's parts.
    pub arrived: usize,
}

/// The endpoint's answer and, for the log, each backend result that could not be used.
#[derive(Debug, Clone)]
pub struct Composed {
    pub response: ClientResponse,
    pub problems: Vec<String>,
}

const JSON_UTF8: &str = "application/json; charset=utf-8";
const TEXT_UTF8: &str = "text/plain; charset=utf-8";
pub const COMPLETED_HEADER: &str = "x-krakend-completed";

/// Composes the answer from every answering (non-shadow) backend's part, in configuration order.
/// A part's own response is moved into the answer where it is the answer, never copied.
pub fn compose(endpoint: &Endpoint, mut parts: Vec<Part>) -> Composed {
    let mut problems = Vec::new();
    if endpoint.output == Output::Passthrough && !parts.is_empty() {
        return Composed {
            response: parts.swap_remove(0).response,
            problems,
        };
    }
    // Arrival numbers are distinct and an endpoint has few backends: taking the earliest left, one
    // at a time, orders them without the standard library's sort (~5 KB of Wasm).
    let mut waiting: Vec<&Part> = parts.iter().collect();
    let mut by_arrival: Vec<&Part> = Vec::with_capacity(waiting.len());
    while let Some((i, _)) = waiting.iter().enumerate().min_by_key(|(_, p)| p.arrived) {
        by_arrival.push(waiting.swap_remove(i));
    }
    let mut merger = Merger::new(parts.len());
    let mut answered: Vec<&Success> = Vec::new();
    let mut undecodable: Vec<usize> = Vec::new();
    for part in by_arrival {
        match &part.success {
            Some(success) => match manipulate::decode_backend(&success.body) {
                Ok(data) => {
                    merger.answer(part.backend.manipulation.format(data));
                    answered.push(success);
                }
                Err(e) => {
                    problems.push(format!(
                        "function {}: the result of backend {} is not a JSON object KrakenD \
                         would accept: {e} request_id={}",
                        part.function,
                        position(endpoint, part.backend),
                        success.request_id.as_deref().unwrap_or("-")
                    ));
                    undecodable.push(part.arrived);
                    merger.failure();
                }
            },
            None => merger.failure(),
        }
    }
    let merged = merger.finish(endpoint.flatmap.as_ref());
    let Some(answer) = merged.answer else {
        // Nothing to merge: the first backend (in configuration order) that failed answers.
        let first = parts
            .iter()
            .position(|p| p.success.is_none() || undecodable.contains(&p.arrived));
        let response = match first {
            Some(i) if parts[i].success.is_some() => ClientError::InvalidLambdaResult.response(),
            Some(i) => parts.swap_remove(i).response,
            None => ClientError::InternalError.response(),
        };
        return Composed { response, problems };
    };
    let (body, content_type) = match endpoint.output {
        Output::JsonCollection => (manipulate::encode_json_collection(&answer.data), JSON_UTF8),
        Output::String => (manipulate::encode_string(&answer.data), TEXT_UTF8),
        Output::Json | Output::Passthrough => (manipulate::encode_json(&answer.data), JSON_UTF8),
    };
    let mut headers = vec![
        ("content-type".to_string(), content_type.to_string()),
        (
            COMPLETED_HEADER.to_string(),
            answer.completed_header().to_string(),
        ),
    ];
    if let Some(from) = answer.headers_from.and_then(|i| answered.get(i)) {
        let lambda_headers = [
            ("x-amz-executed-version", &from.executed_version),
            ("x-amzn-requestid", &from.request_id),
        ];
        for (name, value) in lambda_headers {
            if let Some(v) = value {
                headers.push((name.to_string(), v.clone()));
            }
        }
    }
    Composed {
        response: ClientResponse {
            status: 200,
            headers,
            body,
        },
        problems,
    }
}

fn position(endpoint: &Endpoint, backend: &Backend) -> usize {
    endpoint
        .backends
        .iter()
        .position(|b| std::ptr::eq(b.as_ref(), backend))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
