//! `InvokeWithResponseStream` answers (`response_stream: true`): an AWS event stream whose
//! `PayloadChunk` events carry the function's output and whose `InvokeComplete` may report an
//! error. In place they are decoded as they arrive and only the output goes on
//! ([`StreamMapper`]); in callout mode the whole stream is decoded first ([`whole_outcome`]).
//! With `response_format: apigw` the output starts with the Function URL style prelude (status,
//! headers, cookies, then 8 NUL bytes), which becomes the client's status and headers.

use crate::eventstream::{
    decode_all, Complete, Event, EventStreamError, HttpPrelude, PreludeSplitter,
    ResponseStreamDecoder, DEFAULT_MAX_FRAME, HTTP_INTEGRATION_CONTENT_TYPE,
};
use crate::response::{self, ApiError, Outcome, ResponseFormat};
use base64::Engine;

/// A stream that broke: AWS's stream itself (a corrupt frame, an exception) or the function
/// (an error reported in `InvokeComplete`).
fn broken(e: &EventStreamError) -> Outcome {
    match e {
        EventStreamError::Exception { kind, message } => Outcome::ApiError(ApiError {
            status: 500,
            error_type: kind.clone(),
            message: message.clone(),
            request_id: None,
            retry_after: None,
        }),
        other => Outcome::ApiError(ApiError {
            status: 502,
            error_type: "InvalidEventStream".to_string(),
            message: other.to_string(),
            request_id: None,
            retry_after: None,
        }),
    }
}

/// The function error an `InvokeComplete` reports, as an Invoke's would be.
fn function_error(complete: &Complete, request_id: Option<String>) -> Option<Outcome> {
    let kind = complete.error_code.clone()?;
    let details = complete.error_details.clone().unwrap_or_default();
    // Lambda's details are the function's error object when it is JSON; keep it as the body.
    let body = if serde_json::from_slice::<serde_json::Value>(details.as_bytes()).is_ok() {
        details.into_bytes()
    } else {
        serde_json::json!({"errorType": kind, "errorMessage": details})
            .to_string()
            .into_bytes()
    };
    Some(Outcome::FunctionError {
        kind,
        body,
        executed_version: None,
        request_id,
        log_tail: log_tail(complete),
    })
}

fn log_tail(complete: &Complete) -> Option<String> {
    let encoded = complete.log_result.as_deref()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// A prelude as the API Gateway proxy response the `apigw` response format unwraps.
fn as_proxy_response(prelude: &HttpPrelude, body: &[u8]) -> Vec<u8> {
    let headers = crate::event::object(
        prelude
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))),
    );
    serde_json::json!({
        "statusCode": prelude.status,
        "headers": headers,
        "cookies": prelude.cookies,
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true,
    })
    .to_string()
    .into_bytes()
}

/// Callout mode: what a whole `InvokeWithResponseStream` answer came to, as an Invoke's
/// outcome (the function's output as the body; its reported error as a function error).
pub fn whole_outcome(outcome: Outcome, format: ResponseFormat) -> Outcome {
    let Outcome::Success {
        status,
        body,
        executed_version,
        request_id,
        ..
    } = outcome
    else {
        return outcome;
    };
    let (output, complete) = match decode_all(&body) {
        Ok(decoded) => decoded,
        Err(e) => return broken(&e),
    };
    if let Some(error) = function_error(&complete, request_id.clone()) {
        return error;
    }
    let body = match format {
        ResponseFormat::Apigw { .. } => {
            let mut splitter = PreludeSplitter::default();
            let split = splitter
                .push(&output)
                .map(|(prelude, rest)| (prelude, rest.to_vec()));
            match (split, splitter.finish()) {
                (Ok((Some(prelude), rest)), Ok(())) => as_proxy_response(&prelude, &rest),
                // No prelude: the output is the proxy response itself (or plain data).
                _ => output,
            }
        }
        ResponseFormat::Krakend => output,
    };
    Outcome::Success {
        status,
        body,
        executed_version,
        request_id,
        log_tail: log_tail(&complete),
    }
}

/// What the next piece of an in-place stream comes to.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// Nothing for the client yet (an incomplete frame, a prelude still arriving): hold it.
    Hold,
    /// Send these bytes (possibly none), after setting these response headers the first time.
    Send {
        headers: Option<Vec<(String, String)>>,
        body: Vec<u8>,
        /// The function's log tail, when the stream reported it.
        log_tail: Option<String>,
    },
    /// The stream failed before the client got anything: answer with this outcome instead.
    FailEarly(Outcome),
    /// The stream failed after the client got `sent` bytes: end the response (reset), log it.
    FailLate { cause: String, sent: usize },
}

/// Decodes an in-place `InvokeWithResponseStream` answer as it arrives, holding at most one
/// frame (and a bounded prelude).
#[derive(Debug)]
pub struct StreamMapper {
    decoder: ResponseStreamDecoder,
    prelude: Option<PreludeSplitter>,
    /// The response headers the client gets when there is no prelude.
    headers: Vec<(String, String)>,
    request_id: Option<String>,
    started: bool,
    sent: usize,
}

impl StreamMapper {
    /// `headers`: Lambda's response headers (its `content-type` is the function's stream
    /// content type); `format`: whether a prelude gives the status and headers.
    pub fn new(headers: &[(String, String)], format: ResponseFormat) -> StreamMapper {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let request_id = header("x-amzn-requestid");
        // A function written for streaming Function URLs announces its prelude this way.
        let integration =
            header("content-type").is_some_and(|t| t.starts_with(HTTP_INTEGRATION_CONTENT_TYPE));
        let content_type = header("content-type")
            .filter(|t| {
                !t.starts_with("application/vnd.amazon.eventstream")
                    && !t.starts_with(HTTP_INTEGRATION_CONTENT_TYPE)
            })
            .unwrap_or_else(|| "application/octet-stream".to_string());
        let mut mapped = vec![
            (":status".to_string(), "200".to_string()),
            ("content-type".to_string(), content_type),
        ];
        mapped.extend(response::success_headers(
            false,
            &header("x-amz-executed-version"),
            &request_id,
        ));
        StreamMapper {
            decoder: ResponseStreamDecoder::new(DEFAULT_MAX_FRAME),
            prelude: (integration || matches!(format, ResponseFormat::Apigw { .. }))
                .then(PreludeSplitter::default),
            headers: mapped,
            request_id,
            started: false,
            sent: 0,
        }
    }

    /// Feeds the next bytes of Lambda's answer (`end`: the last ones).
    pub fn push(&mut self, chunk: &[u8], end: bool) -> Piece {
        let mut events = Vec::new();
        let decoded = self.decoder.push(chunk, &mut events);
        let mut output = Vec::new();
        let mut failure = decoded.err();
        let mut log = None;
        for event in events {
            match event {
                Event::Chunk(bytes) => output.extend_from_slice(&bytes),
                Event::Complete(complete) => {
                    log = log_tail(&complete);
                    if let Some(error) = function_error(&complete, self.request_id.clone()) {
                        return self.fail(error, &output);
                    }
                }
                Event::Exception { kind, message } => {
                    failure = Some(EventStreamError::Exception { kind, message });
                }
            }
        }
        if failure.is_none() && end {
            failure = self.decoder.finish().err();
        }
        if let Some(e) = failure {
            return self.fail(broken(&e), &output);
        }
        let mut headers = None;
        let body = match self.prelude.as_mut() {
            None => output,
            Some(splitter) => match splitter.push(&output) {
                Ok((Some(prelude), rest)) => {
                    headers = Some(prelude_headers(&prelude, &self.request_id));
                    rest.to_vec()
                }
                Ok((None, rest)) => rest.to_vec(),
                Err(e) => return self.fail(invalid_prelude(&e.to_string()), &[]),
            },
        };
        if let (Some(splitter), true) = (self.prelude.as_ref(), end) {
            if let Err(e) = splitter.finish() {
                return self.fail(invalid_prelude(&e.to_string()), &[]);
            }
        }
        let ready = self.started
            || end
            || self
                .prelude
                .as_ref()
                .map_or(!body.is_empty(), |p| p.prelude_done());
        if !ready {
            return Piece::Hold;
        }
        if !self.started && headers.is_none() && self.prelude.is_none() {
            headers = Some(self.headers.clone());
        }
        self.started = true;
        self.sent += body.len();
        Piece::Send {
            headers,
            body,
            log_tail: log,
        }
    }

    /// Whether the client has been sent anything (headers included).
    pub fn started(&self) -> bool {
        self.started
    }

    fn fail(&mut self, outcome: Outcome, pending: &[u8]) -> Piece {
        if self.started {
            let cause = match &outcome {
                Outcome::FunctionError { kind, .. } => format!("function error ({kind})"),
                Outcome::ApiError(e) => format!("{}: {}", e.error_type, e.message),
                _ => "the stream broke".to_string(),
            };
            return Piece::FailLate {
                cause,
                sent: self.sent + pending.len(),
            };
        }
        Piece::FailEarly(outcome)
    }
}

fn invalid_prelude(message: &str) -> Outcome {
    Outcome::ApiError(ApiError {
        status: 502,
        error_type: "InvalidStreamingPrelude".to_string(),
        message: message.to_string(),
        request_id: None,
        retry_after: None,
    })
}

/// The client's response headers from a function's prelude: its status, headers and cookies
/// (`set-cookie`), plus Lambda's request id.
fn prelude_headers(prelude: &HttpPrelude, request_id: &Option<String>) -> Vec<(String, String)> {
    let mut headers = vec![(":status".to_string(), prelude.status.to_string())];
    headers.extend(
        prelude
            .headers
            .iter()
            .filter(|(k, _)| !k.starts_with(':') && k != "content-length")
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone())),
    );
    headers.extend(
        prelude
            .cookies
            .iter()
            .map(|c| ("set-cookie".to_string(), c.clone())),
    );
    if let Some(id) = request_id {
        headers.push(("x-amzn-requestid".to_string(), id.clone()));
    }
    headers
}

#[cfg(test)]
mod tests;
