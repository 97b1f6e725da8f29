//! Lambda's streamed answers: the AWS event stream (`application/vnd.amazon.eventstream`) that
//! `InvokeWithResponseStream` returns, and the HTTP prelude of functions written for streaming
//! Function URLs. Plain Rust, no host calls.
//!
//! Layers, each usable alone:
//! - [`FrameDecoder`]: binary frames → [`Message`]s, fed arbitrary chunks, CRCs checked, at most
//!   one incomplete frame buffered.
//! - [`interpret`] / [`ResponseStreamDecoder`]: messages → Lambda [`Event`]s; [`decode_all`] for a
//!   whole buffered stream (callout mode).
//! - [`PreludeSplitter`]: the function's output → [`HttpPrelude`] + body bytes.
//!
//! Frame format (AWS "Event stream encoding", e.g.
//! <https://docs.aws.amazon.com/lexv2/latest/dg/event-stream-encoding.html>, and botocore's
//! `botocore/eventstream.py`): 4-byte total length, 4-byte headers length, CRC-32 of those 8
//! bytes, headers, payload, CRC-32 of everything before it; all big-endian, CRC-32 as zlib's.

use crate::http::{is_field_value, is_token};
use serde_json::{Map, Value};
use thiserror::Error;

/// Bytes before the headers: total length, headers length, prelude CRC.
const PRELUDE_LEN: usize = 12;
/// Prelude plus message CRC: the smallest frame.
const MIN_FRAME: usize = 16;
/// A frame larger than this is rejected by [`FrameDecoder::default`]. Lambda's chunks are small;
/// the AWS SDKs cap payloads at 16 MiB (smithy-rs) or 24 MiB (botocore).
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;
/// A buffer grown past this by a large frame is freed once the frame is decoded.
const KEEP_CAPACITY: usize = 64 * 1024;
/// The delimiter between the JSON prelude and the body: eight NUL bytes (`DELIMITER_LEN = 8` in
/// `HttpResponseStream.js` of aws-lambda-nodejs-runtime-interface-client).
pub const HTTP_PRELUDE_DELIMITER: [u8; 8] = [0; 8];
/// The largest JSON prelude [`PreludeSplitter::default`] accepts.
pub const DEFAULT_MAX_HTTP_PRELUDE: usize = 64 * 1024;
/// The content type a function's output has when it carries an [`HttpPrelude`]
/// (`METADATA_PRELUDE_CONTENT_TYPE` in `HttpResponseStream.js`); `InvokeWithResponseStream`
/// returns it as its `Content-Type` header (`ResponseStreamContentType` in the API model).
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str =
    "application/vnd.awslambda.http-integration-response";

/// What was wrong with an event stream.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventStreamError {
    #[error(
        "event-stream prelude CRC mismatch: frame says {expected:#010x}, computed {computed:#010x}"
    )]
    PreludeCrc { expected: u32, computed: u32 },
    #[error(
        "event-stream message CRC mismatch: frame says {expected:#010x}, computed {computed:#010x}"
    )]
    MessageCrc { expected: u32, computed: u32 },
    #[error("event-stream frame length {0} is below the 16-byte minimum")]
    FrameTooShort(u32),
    #[error("event-stream frame length {total} exceeds the {max}-byte limit")]
    FrameTooLarge { total: u32, max: usize },
    #[error("event-stream headers length {headers} does not fit in a frame of {total} bytes")]
    HeadersTooLong { headers: u32, total: u32 },
    #[error("malformed event-stream header: {0}")]
    MalformedHeader(&'static str),
    #[error("event-stream header value type {0} is unknown")]
    UnknownHeaderType(u8),
    #[error("event-stream header {0:?} appears twice")]
    DuplicateHeader(String),
    #[error("event stream ended inside a frame ({0} bytes of it received)")]
    Truncated(usize),
    #[error("event-stream message has no {0} header")]
    MissingHeader(&'static str),
    #[error("event-stream :message-type {0:?} is unknown")]
    UnknownMessageType(String),
    #[error("InvokeComplete payload is not the expected JSON: {0}")]
    BadComplete(String),
    #[error("event stream ended without InvokeComplete")]
    NoComplete,
    #[error("event-stream data after the stream's last event")]
    AfterEnd,
    #[error("Lambda's event stream reported {kind}: {message}")]
    Exception { kind: String, message: String },
}

/// CRC-32 (IEEE 802.3, reflected polynomial `0xEDB88320`), the value of zlib's `crc32`.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !data
        .iter()
        .fold(!0u32, |c, &b| TABLE[usize::from((c as u8) ^ b)] ^ (c >> 8))
}

/// A header value, by its wire type (0-9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Vec<u8>),
    String(String),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

/// One decoded frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// In wire order; names are unique.
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Vec<u8>,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// A string-typed header's value.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        match self.header(name) {
            Some(HeaderValue::String(s)) => Some(s),
            _ => None,
        }
    }
}

/// Incremental frame decoder: [`push`](Self::push) any split of the stream. Complete frames in a
/// chunk are decoded in place; only an incomplete frame is copied, so the buffer never holds
/// more than one frame (and never more than the frame limit). After an error it stays failed.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Length of the frame being buffered; 0 while its prelude is incomplete.
    want: usize,
    max_frame: usize,
    failed: Option<EventStreamError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl FrameDecoder {
    /// A decoder rejecting frames longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            want: 0,
            max_frame,
            failed: None,
        }
    }

    /// Decodes the frames `chunk` completes into `out`. On error, the messages decoded before the
    /// bad frame are in `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Message>) -> Result<(), EventStreamError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.push_frames(chunk, out);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
            self.buf = Vec::new();
            self.want = 0;
        }
        result
    }

    fn push_frames(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<Message>,
    ) -> Result<(), EventStreamError> {
        while !input.is_empty() {
            if self.buf.is_empty() {
                if let Some(prelude) = input.first_chunk::<PRELUDE_LEN>() {
                    let (total, headers) = check_prelude(prelude, self.max_frame)?;
                    if let Some((frame, rest)) = input.split_at_checked(total) {
                        out.push(decode_frame(frame, headers)?);
                        input = rest;
                        continue;
                    }
                }
            }
            let want = if self.want == 0 {
                PRELUDE_LEN
            } else {
                self.want
            };
            let take = want.saturating_sub(self.buf.len()).min(input.len());
            let (head, rest) = input.split_at(take);
            self.buf.extend_from_slice(head);
            input = rest;
            if self.want == 0 {
                if let Some(prelude) = self.buf.first_chunk::<PRELUDE_LEN>() {
                    self.want = check_prelude(prelude, self.max_frame)?.0;
                    self.buf
                        .reserve_exact(self.want.saturating_sub(PRELUDE_LEN));
                }
            } else if self.buf.len() == self.want {
                let headers = headers_len(&self.buf);
                out.push(decode_frame(&self.buf, headers)?);
                self.want = 0;
                if self.buf.capacity() > KEEP_CAPACITY {
                    self.buf = Vec::new();
                } else {
                    self.buf.clear();
                }
            }
        }
        Ok(())
    }

    /// Call at the end of the stream: an error if it stopped inside a frame.
    pub fn finish(&self) -> Result<(), EventStreamError> {
        match &self.failed {
            Some(err) => Err(err.clone()),
            None if !self.buf.is_empty() => Err(EventStreamError::Truncated(self.buf.len())),
            None => Ok(()),
        }
    }

    /// Bytes of an incomplete frame held.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes allocated for the incomplete frame.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..)
        .and_then(|b| b.first_chunk::<4>())
        .map_or(0, |b| u32::from_be_bytes(*b))
}

fn headers_len(frame: &[u8]) -> usize {
    be32(frame, 4) as usize
}

/// Checks a prelude: its CRC, then the lengths. Returns (total length, headers length).
fn check_prelude(
    prelude: &[u8; PRELUDE_LEN],
    max_frame: usize,
) -> Result<(usize, usize), EventStreamError> {
    let (lengths, crc) = prelude.split_at(8);
    let (expected, computed) = (be32(crc, 0), crc32(lengths));
    if expected != computed {
        return Err(EventStreamError::PreludeCrc { expected, computed });
    }
    let (total, headers) = (be32(prelude, 0), be32(prelude, 4));
    if (total as usize) < MIN_FRAME {
        return Err(EventStreamError::FrameTooShort(total));
    }
    if total as usize > max_frame {
        return Err(EventStreamError::FrameTooLarge {
            total,
            max: max_frame,
        });
    }
    if headers as usize > total as usize - MIN_FRAME {
        return Err(EventStreamError::HeadersTooLong { headers, total });
    }
    Ok((total as usize, headers as usize))
}

/// Decodes one whole frame whose prelude [`check_prelude`] accepted.
fn decode_frame(frame: &[u8], headers_len: usize) -> Result<Message, EventStreamError> {
    let truncated = EventStreamError::MalformedHeader("truncated");
    let (body, crc) = frame.split_last_chunk::<4>().ok_or(truncated.clone())?;
    let (expected, computed) = (u32::from_be_bytes(*crc), crc32(body));
    if expected != computed {
        return Err(EventStreamError::MessageCrc { expected, computed });
    }
    let data = body.get(PRELUDE_LEN..).unwrap_or_default();
    let (mut headers, payload) = data.split_at_checked(headers_len).ok_or(truncated)?;
    let mut message = Message {
        headers: Vec::new(),
        payload: payload.to_vec(),
    };
    while !headers.is_empty() {
        let name_len = take::<1>(&mut headers)?[0];
        let name = utf8(
            take_slice(&mut headers, usize::from(name_len))?,
            "name is not UTF-8",
        )?;
        let value = match take::<1>(&mut headers)?[0] {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(take(&mut headers)?)),
            3 => HeaderValue::Short(i16::from_be_bytes(take(&mut headers)?)),
            4 => HeaderValue::Int(i32::from_be_bytes(take(&mut headers)?)),
            5 => HeaderValue::Long(i64::from_be_bytes(take(&mut headers)?)),
            kind @ (6 | 7) => {
                let len = usize::from(u16::from_be_bytes(take(&mut headers)?));
                let bytes = take_slice(&mut headers, len)?;
                if kind == 6 {
                    HeaderValue::Bytes(bytes.to_vec())
                } else {
                    HeaderValue::String(utf8(bytes, "string value is not UTF-8")?)
                }
            }
            8 => HeaderValue::Timestamp(i64::from_be_bytes(take(&mut headers)?)),
            9 => HeaderValue::Uuid(take(&mut headers)?),
            kind => return Err(EventStreamError::UnknownHeaderType(kind)),
        };
        if message.header(&name).is_some() {
            return Err(EventStreamError::DuplicateHeader(name));
        }
        message.headers.push((name, value));
    }
    Ok(message)
}

fn take_slice<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], EventStreamError> {
    let (head, rest) = data
        .split_at_checked(n)
        .ok_or(EventStreamError::MalformedHeader("truncated"))?;
    *data = rest;
    Ok(head)
}

fn take<const N: usize>(data: &mut &[u8]) -> Result<[u8; N], EventStreamError> {
    let (head, rest) = data
        .split_first_chunk::<N>()
        .ok_or(EventStreamError::MalformedHeader("truncated"))?;
    *data = rest;
    Ok(*head)
}

fn utf8(bytes: &[u8], what: &'static str) -> Result<String, EventStreamError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| EventStreamError::MalformedHeader(what))
}

/// `InvokeComplete`: the stream's last event (`InvokeWithResponseStreamCompleteEvent` in the
/// Lambda API model, botocore `data/lambda/2015-03-31/service-2.json`; its payload is the JSON
/// of these members).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Complete {
    /// `ErrorCode`: set when the function failed (e.g. `Unhandled`), possibly after chunks.
    pub error_code: Option<String>,
    /// `ErrorDetails`.
    pub error_details: Option<String>,
    /// `LogResult`: the last 4 KB of the execution log, base64 (with `X-Amz-Log-Type: Tail`).
    pub log_result: Option<String>,
}

impl Complete {
    /// From the event's JSON payload; an empty payload has no members. Unknown members are
    /// ignored, null ones absent.
    fn parse(payload: &[u8]) -> Result<Complete, EventStreamError> {
        let bad = EventStreamError::BadComplete;
        let map = match payload.is_empty() {
            true => Map::new(),
            false => match serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))? {
                Value::Object(map) => map,
                _ => return Err(bad("not a JSON object".into())),
            },
        };
        let member = |name: &str| match map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(format!("{name} is not a string"))),
        };
        Ok(Complete {
            error_code: member("ErrorCode")?,
            error_details: member("ErrorDetails")?,
            log_result: member("LogResult")?,
        })
    }
}

/// What a Lambda event-stream message means (`InvokeWithResponseStreamResponseEvent`: members
/// `PayloadChunk` and `InvokeComplete`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `PayloadChunk` (`InvokeResponseStreamUpdate`): its payload is the function's output bytes.
    Chunk(Vec<u8>),
    Complete(Complete),
    /// `:message-type` `exception` (kind from `:exception-type`, message from the JSON payload's
    /// `message`/`Message`) or `error` (`:error-code`, `:error-message`), as botocore's
    /// `BaseEventStreamParser._do_error_parse` reads them. Ends the stream.
    Exception {
        kind: String,
        message: String,
    },
}

/// Reads a message as Lambda's. Events of other types (e.g. `initial-response`) are `None`,
/// as the SDKs skip union members they do not know.
pub fn interpret(message: Message) -> Result<Option<Event>, EventStreamError> {
    let text = |name| message.header_str(name).unwrap_or_default().to_string();
    match message.header_str(":message-type") {
        None => Err(EventStreamError::MissingHeader(":message-type")),
        Some("event") => match message.header_str(":event-type") {
            None => Err(EventStreamError::MissingHeader(":event-type")),
            Some("PayloadChunk") => Ok(Some(Event::Chunk(message.payload))),
            Some("InvokeComplete") => Ok(Some(Event::Complete(Complete::parse(&message.payload)?))),
            Some(_) => Ok(None),
        },
        Some("exception") => {
            let kind = message
                .header_str(":exception-type")
                .or(message.header_str(":error-code"))
                .unwrap_or_default()
                .to_string();
            let json = serde_json::from_slice::<Value>(&message.payload).ok();
            let from_json = json
                .as_ref()
                .and_then(|j| j.get("message").or(j.get("Message")))
                .and_then(Value::as_str);
            let message = match from_json {
                Some(m) => m.to_string(),
                None if message.header(":error-message").is_some() => text(":error-message"),
                None => String::from_utf8_lossy(&message.payload).into_owned(),
            };
            Ok(Some(Event::Exception { kind, message }))
        }
        Some("error") => Ok(Some(Event::Exception {
            kind: text(":error-code"),
            message: text(":error-message"),
        })),
        Some(other) => Err(EventStreamError::UnknownMessageType(other.to_string())),
    }
}

/// An `InvokeWithResponseStream` body → [`Event`]s, incrementally. The stream ends with
/// [`Event::Complete`] or [`Event::Exception`]; frames after it are an error.
#[derive(Debug, Default)]
pub struct ResponseStreamDecoder {
    frames: FrameDecoder,
    ended: bool,
}

impl ResponseStreamDecoder {
    pub fn new(max_frame: usize) -> Self {
        ResponseStreamDecoder {
            frames: FrameDecoder::new(max_frame),
            ended: false,
        }
    }

    /// Appends the events `chunk` completes to `out`. On error, the events before it are in `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), EventStreamError> {
        let mut messages = Vec::new();
        let decoded = self.frames.push(chunk, &mut messages);
        for message in messages {
            if self.ended {
                return Err(EventStreamError::AfterEnd);
            }
            if let Some(event) = interpret(message)? {
                self.ended = matches!(event, Event::Complete(_) | Event::Exception { .. });
                out.push(event);
            }
        }
        decoded
    }

    /// Call at the end of the body: an error if it stopped inside a frame or before the last event.
    pub fn finish(&self) -> Result<(), EventStreamError> {
        self.frames.finish()?;
        if self.ended {
            Ok(())
        } else {
            Err(EventStreamError::NoComplete)
        }
    }

    /// Whether the last event (complete or exception) was decoded.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Bytes of an incomplete frame held.
    pub fn buffered(&self) -> usize {
        self.frames.buffered()
    }
}

/// Decodes a whole `InvokeWithResponseStream` body (callout mode): the concatenated chunks and
/// `InvokeComplete`. An exception message is [`EventStreamError::Exception`].
pub fn decode_all(bytes: &[u8]) -> Result<(Vec<u8>, Complete), EventStreamError> {
    let mut decoder = ResponseStreamDecoder::default();
    let (mut body, mut events, mut complete) = (Vec::new(), Vec::new(), None);
    // In pieces, so that decoded chunks do not all exist twice.
    for piece in bytes.chunks(64 * 1024) {
        decoder.push(piece, &mut events)?;
        for event in events.drain(..) {
            match event {
                Event::Chunk(chunk) => body.extend_from_slice(&chunk),
                Event::Complete(info) => complete = Some(info),
                Event::Exception { kind, message } => {
                    return Err(EventStreamError::Exception { kind, message })
                }
            }
        }
    }
    decoder.finish()?;
    complete
        .map(|info| (body, info))
        .ok_or(EventStreamError::NoComplete)
}

/// What was wrong with a function's HTTP prelude.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PreludeError {
    #[error("streaming response prelude exceeds {0} bytes without the 8-NUL delimiter")]
    TooLarge(usize),
    #[error("streaming response prelude is followed by a NUL byte but not by the 8-NUL delimiter")]
    BadDelimiter,
    #[error("streaming response prelude is not the expected JSON: {0}")]
    Json(String),
    #[error("streaming response prelude statusCode {0} is not an HTTP status (100-599)")]
    Status(String),
    #[error("streaming response prelude header {0:?} has an invalid name or value")]
    InvalidHeader(String),
    #[error("the function's output ended before its prelude's 8-NUL delimiter")]
    Incomplete,
}

/// The status and headers a function sends before its body with `awslambda.HttpResponseStream`
/// (a `JSON.stringify` of `{statusCode, headers, cookies}`, then [`HTTP_PRELUDE_DELIMITER`]; the
/// Rust runtime's `MetadataPrelude` has the same fields, `headers` values may be arrays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPrelude {
    /// `statusCode`, 200 when absent.
    pub status: u16,
    /// `headers`, one pair per value.
    pub headers: Vec<(String, String)>,
    /// `cookies`: `Set-Cookie` values.
    pub cookies: Vec<String>,
}

/// Splits a function's output into its [`HttpPrelude`] and body, fed incrementally. Holds at
/// most the prelude (bounded) and the delimiter; body bytes are returned as slices of the input.
#[derive(Debug)]
pub struct PreludeSplitter {
    buf: Vec<u8>,
    /// Prefix of `buf` known to hold no NUL.
    scanned: usize,
    max: usize,
    state: Result<bool, PreludeError>,
}

impl Default for PreludeSplitter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_HTTP_PRELUDE)
    }
}

impl PreludeSplitter {
    /// A splitter rejecting JSON preludes longer than `max_prelude` bytes.
    pub fn new(max_prelude: usize) -> Self {
        PreludeSplitter {
            buf: Vec::new(),
            scanned: 0,
            max: max_prelude,
            state: Ok(false),
        }
    }

    /// Feeds the next output bytes. Returns the prelude once, on the chunk that completes it, and
    /// the body bytes in `chunk` (all of it once the prelude is past).
    pub fn push<'a>(
        &mut self,
        chunk: &'a [u8],
    ) -> Result<(Option<HttpPrelude>, &'a [u8]), PreludeError> {
        match &self.state {
            Ok(true) => return Ok((None, chunk)),
            Err(err) => return Err(err.clone()),
            Ok(false) => {}
        }
        let result = self.split(chunk);
        match &result {
            Ok((Some(_), _)) => {
                self.state = Ok(true);
                self.buf = Vec::new();
            }
            Err(err) => {
                self.state = Err(err.clone());
                self.buf = Vec::new();
            }
            Ok((None, _)) => {}
        }
        result
    }

    fn split<'a>(
        &mut self,
        chunk: &'a [u8],
    ) -> Result<(Option<HttpPrelude>, &'a [u8]), PreludeError> {
        let old = self.buf.len();
        let room = (self.max + HTTP_PRELUDE_DELIMITER.len()).saturating_sub(old);
        self.buf
            .extend_from_slice(chunk.get(..room).unwrap_or(chunk));
        let unscanned = self.buf.get(self.scanned..).unwrap_or_default();
        let Some(at) = unscanned
            .iter()
            .position(|&b| b == 0)
            .map(|p| p + self.scanned)
        else {
            self.scanned = self.buf.len();
            return match self.buf.len() > self.max {
                true => Err(PreludeError::TooLarge(self.max)),
                false => Ok((None, &[])),
            };
        };
        self.scanned = at;
        if at > self.max {
            return Err(PreludeError::TooLarge(self.max));
        }
        let end = at + HTTP_PRELUDE_DELIMITER.len();
        match self.buf.get(at..end) {
            None => Ok((None, &[])),
            Some(d) if d != HTTP_PRELUDE_DELIMITER => Err(PreludeError::BadDelimiter),
            Some(_) => {
                let prelude = parse_prelude(self.buf.get(..at).unwrap_or_default())?;
                Ok((
                    Some(prelude),
                    chunk.get(end.saturating_sub(old)..).unwrap_or_default(),
                ))
            }
        }
    }

    /// Call at the end of the output: an error if the prelude never ended.
    pub fn finish(&self) -> Result<(), PreludeError> {
        match &self.state {
            Ok(true) => Ok(()),
            Ok(false) => Err(PreludeError::Incomplete),
            Err(err) => Err(err.clone()),
        }
    }

    /// Whether the prelude was parsed (every later byte is body).
    pub fn prelude_done(&self) -> bool {
        self.state == Ok(true)
    }

    /// Bytes of prelude held.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

fn parse_prelude(json: &[u8]) -> Result<HttpPrelude, PreludeError> {
    let bad = |what: &str| PreludeError::Json(format!("{what} has the wrong type"));
    let mut map =
        match serde_json::from_slice(json).map_err(|e| PreludeError::Json(e.to_string()))? {
            Value::Object(map) => map,
            _ => return Err(bad("the prelude")),
        };
    let status = match map.get("statusCode") {
        None | Some(Value::Null) => 200,
        Some(v) => match v.as_u64().and_then(|s| u16::try_from(s).ok()) {
            Some(s @ 100..=599) => s,
            _ => return Err(PreludeError::Status(v.to_string())),
        },
    };
    let mut headers = Vec::new();
    let header_map = match map.remove("headers") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(h)) => h,
        Some(_) => return Err(bad("headers")),
    };
    for (name, value) in header_map {
        let values = match value {
            Value::Array(values) => values,
            one => vec![one],
        };
        for value in values {
            let value = match value {
                Value::Null => continue,
                Value::String(s) => s,
                Value::Number(_) | Value::Bool(_) => value.to_string(),
                _ => return Err(PreludeError::InvalidHeader(name)),
            };
            if !is_token(&name) || !is_field_value(&value) {
                return Err(PreludeError::InvalidHeader(name));
            }
            headers.push((name.clone(), value));
        }
    }
    let cookies = match map.remove("cookies") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(cookies)) => cookies,
        Some(_) => return Err(bad("cookies")),
    };
    let cookies = cookies
        .into_iter()
        .map(|c| match c {
            Value::String(c) if is_field_value(&c) => Ok(c),
            _ => Err(PreludeError::InvalidHeader("set-cookie".into())),
        })
        .collect::<Result<_, _>>()?;
    Ok(HttpPrelude {
        status,
        headers,
        cookies,
    })
}

/// A frame as Lambda sends its events (string headers only), for other modules' tests.
#[cfg(test)]
pub(crate) fn lambda_frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut encoded = Vec::new();
    for (name, value) in headers {
        encoded.push(name.len() as u8);
        encoded.extend_from_slice(name.as_bytes());
        encoded.push(7);
        encoded.extend_from_slice(&(value.len() as u16).to_be_bytes());
        encoded.extend_from_slice(value.as_bytes());
    }
    let total = (16 + encoded.len() + payload.len()) as u32;
    let mut frame = total.to_be_bytes().to_vec();
    frame.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&frame);
    frame.extend_from_slice(&prelude_crc.to_be_bytes());
    frame.extend_from_slice(&encoded);
    frame.extend_from_slice(payload);
    let crc = crc32(&frame);
    frame.extend_from_slice(&crc.to_be_bytes());
    frame
}

#[cfg(test)]
mod tests;
