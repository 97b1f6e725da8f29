use super::*;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::json;

// ---- a small encoder, independent of the decoder

fn encode_header(out: &mut Vec<u8>, name: &str, value: &HeaderValue) {
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    match value {
        HeaderValue::Bool(b) => out.push(if *b { 0 } else { 1 }),
        HeaderValue::Byte(v) => out.extend([2, *v as u8]),
        HeaderValue::Short(v) => {
            out.push(3);
            out.extend(v.to_be_bytes())
        }
        HeaderValue::Int(v) => {
            out.push(4);
            out.extend(v.to_be_bytes())
        }
        HeaderValue::Long(v) => {
            out.push(5);
            out.extend(v.to_be_bytes())
        }
        HeaderValue::Bytes(v) => {
            out.push(6);
            out.extend((v.len() as u16).to_be_bytes());
            out.extend(v)
        }
        HeaderValue::String(v) => {
            out.push(7);
            out.extend((v.len() as u16).to_be_bytes());
            out.extend(v.as_bytes())
        }
        HeaderValue::Timestamp(v) => {
            out.push(8);
            out.extend(v.to_be_bytes())
        }
        HeaderValue::Uuid(v) => {
            out.push(9);
            out.extend(v)
        }
    }
}

/// A frame from raw header bytes: for malformed headers with valid CRCs.
fn raw_frame(headers: &[u8], payload: &[u8]) -> Vec<u8> {
    let total = (16 + headers.len() + payload.len()) as u32;
    let mut out = Vec::new();
    out.extend(total.to_be_bytes());
    out.extend((headers.len() as u32).to_be_bytes());
    out.extend(crc32(&out.clone()).to_be_bytes());
    out.extend(headers);
    out.extend(payload);
    out.extend(crc32(&out.clone()).to_be_bytes());
    out
}

fn frame(headers: &[(&str, HeaderValue)], payload: &[u8]) -> Vec<u8> {
    let mut raw = Vec::new();
    for (name, value) in headers {
        encode_header(&mut raw, name, value);
    }
    raw_frame(&raw, payload)
}

fn s(v: &str) -> HeaderValue {
    HeaderValue::String(v.into())
}

fn event(kind: &str, payload: &[u8]) -> Vec<u8> {
    frame(
        &[(":event-type", s(kind)), (":message-type", s("event"))],
        payload,
    )
}

fn chunk(data: &[u8]) -> Vec<u8> {
    event("PayloadChunk", data)
}

fn complete(json: &str) -> Vec<u8> {
    event("InvokeComplete", json.as_bytes())
}

fn exception(kind: &str, message: &str) -> Vec<u8> {
    let payload = json!({ "message": message }).to_string();
    frame(
        &[
            (":exception-type", s(kind)),
            (":message-type", s("exception")),
        ],
        payload.as_bytes(),
    )
}

fn all_messages(data: &[u8]) -> Result<Vec<Message>, EventStreamError> {
    let mut decoder = FrameDecoder::default();
    let mut out = Vec::new();
    decoder.push(data, &mut out)?;
    decoder.finish()?;
    Ok(out)
}

fn typed_headers() -> Vec<(&'static str, HeaderValue)> {
    vec![
        ("t", HeaderValue::Bool(true)),
        ("f", HeaderValue::Bool(false)),
        ("byte", HeaderValue::Byte(-7)),
        ("short", HeaderValue::Short(-1234)),
        ("int", HeaderValue::Int(123_456_789)),
        ("long", HeaderValue::Long(-(1 << 40))),
        ("bytes", HeaderValue::Bytes(vec![0, 255, 1])),
        ("string", s("héllo")),
        ("time", HeaderValue::Timestamp(1_700_000_000_123)),
        ("uuid", HeaderValue::Uuid([7; 16])),
    ]
}

fn owned(headers: &[(&str, HeaderValue)]) -> Vec<(String, HeaderValue)> {
    headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .collect()
}

// ---- CRC

#[test]
fn crc32_matches_zlib() {
    assert_eq!(crc32(b""), 0);
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(
        crc32(b"The quick brown fox jumps over the lazy dog"),
        0x414F_A339
    );
}

// ---- frames

#[test]
fn round_trips_every_header_type() {
    let headers = typed_headers();
    let data = frame(&headers, b"payload \x00\xff");
    let messages = all_messages(&data).unwrap();
    assert_eq!(
        messages,
        vec![Message {
            headers: owned(&headers),
            payload: b"payload \x00\xff".to_vec()
        }]
    );
    assert_eq!(messages[0].header_str("string"), Some("héllo"));
    assert_eq!(messages[0].header_str("int"), None);
    assert_eq!(
        messages[0].header("uuid"),
        Some(&HeaderValue::Uuid([7; 16]))
    );
}

#[test]
fn empty_frame_is_sixteen_bytes() {
    let data = frame(&[], b"");
    assert_eq!(data.len(), 16);
    assert_eq!(all_messages(&data).unwrap(), vec![Message::default()]);
}

fn sample_stream() -> (Vec<u8>, Vec<Message>) {
    let mut data = Vec::new();
    let mut want = Vec::new();
    let payloads: [&[u8]; 4] = [b"first", b"", b"\x00\x00\x00\x10 binary", &[b'x'; 300]];
    for (i, payload) in payloads.iter().enumerate() {
        let headers = if i == 2 {
            typed_headers()
        } else {
            vec![(":event-type", s("PayloadChunk"))]
        };
        data.extend(frame(&headers, payload));
        want.push(Message {
            headers: owned(&headers),
            payload: payload.to_vec(),
        });
    }
    (data, want)
}

#[test]
fn splits_at_every_byte_position() {
    let (data, want) = sample_stream();
    for cut in 0..=data.len() {
        let mut decoder = FrameDecoder::default();
        let mut out = Vec::new();
        decoder.push(&data[..cut], &mut out).unwrap();
        decoder.push(&data[cut..], &mut out).unwrap();
        decoder.finish().unwrap();
        assert_eq!(out, want, "cut at {cut}");
    }
}

#[test]
fn splits_at_every_pair_of_positions_and_byte_by_byte() {
    let (data, want) = sample_stream();
    for a in (0..=data.len()).step_by(3) {
        for b in a..=data.len() {
            let mut decoder = FrameDecoder::default();
            let mut out = Vec::new();
            for piece in [&data[..a], &data[a..b], &data[b..]] {
                decoder.push(piece, &mut out).unwrap();
                assert!(decoder.buffered() <= 400);
            }
            decoder.finish().unwrap();
            assert_eq!(out, want, "cuts at {a}, {b}");
        }
    }
    let mut decoder = FrameDecoder::default();
    let mut out = Vec::new();
    for byte in &data {
        decoder.push(std::slice::from_ref(byte), &mut out).unwrap();
    }
    decoder.finish().unwrap();
    assert_eq!(out, want);
}

#[test]
fn whole_frames_in_a_chunk_are_not_buffered() {
    let (data, want) = sample_stream();
    let mut decoder = FrameDecoder::default();
    let mut out = Vec::new();
    decoder.push(&data, &mut out).unwrap();
    assert_eq!(out, want);
    assert_eq!((decoder.buffered(), decoder.buffer_capacity()), (0, 0));
}

#[test]
fn corrupt_prelude_crc() {
    let good = chunk(b"data");
    for at in 0..12 {
        let mut data = good.clone();
        data[at] ^= 0x20;
        let err = all_messages(&data).unwrap_err();
        assert!(
            matches!(err, EventStreamError::PreludeCrc { .. }),
            "byte {at}: {err}"
        );
    }
    // Detected from the prelude alone, before the frame's other bytes arrive.
    let mut data = good.clone();
    data[2] ^= 1;
    let mut decoder = FrameDecoder::default();
    let err = decoder.push(&data[..12], &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("prelude CRC mismatch"), "{err}");
}

#[test]
fn corrupt_message_crc_keeps_earlier_messages_and_sticks() {
    let mut data = chunk(b"ok");
    let second = chunk(b"will be corrupted");
    let start = data.len();
    data.extend(&second);
    data.extend(chunk(b"after"));
    for at in start + 12..start + second.len() {
        let mut bad = data.clone();
        bad[at] ^= 0x01;
        let mut decoder = FrameDecoder::default();
        let mut out = Vec::new();
        let err = decoder.push(&bad, &mut out).unwrap_err();
        assert!(
            matches!(err, EventStreamError::MessageCrc { .. }),
            "byte {at}: {err}"
        );
        assert_eq!(out.len(), 1, "the good first frame is delivered");
        assert_eq!(decoder.push(&chunk(b"x"), &mut out).unwrap_err(), err);
        assert_eq!(decoder.finish().unwrap_err(), err);
        assert_eq!(decoder.buffered(), 0);
    }
}

#[test]
fn truncated_stream() {
    let (data, _) = sample_stream();
    for cut in 1..data.len() {
        let mut decoder = FrameDecoder::default();
        let mut out = Vec::new();
        decoder.push(&data[..cut], &mut out).unwrap();
        match decoder.finish() {
            Ok(()) => assert_eq!(out.iter().map(frame_len).sum::<usize>(), cut),
            Err(err) => assert!(
                matches!(err, EventStreamError::Truncated(n) if n > 0),
                "{err}"
            ),
        }
    }
}

fn frame_len(m: &Message) -> usize {
    let headers: Vec<_> = m
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    frame(&headers, &m.payload).len()
}

fn prelude_only(total: u32, headers: u32) -> Vec<u8> {
    let mut data = Vec::new();
    data.extend(total.to_be_bytes());
    data.extend(headers.to_be_bytes());
    data.extend(crc32(&data.clone()).to_be_bytes());
    data
}

#[test]
fn oversized_short_and_inconsistent_frames() {
    let big = chunk(&vec![b'z'; 2000]);
    let mut decoder = FrameDecoder::new(1024);
    let err = decoder.push(&big[..12], &mut Vec::new()).unwrap_err();
    assert_eq!(
        err,
        EventStreamError::FrameTooLarge {
            total: big.len() as u32,
            max: 1024
        }
    );
    assert!(decoder.buffer_capacity() < 1024);

    let huge = prelude_only(u32::MAX, 0);
    let err = FrameDecoder::default()
        .push(&huge, &mut Vec::new())
        .unwrap_err();
    assert!(matches!(err, EventStreamError::FrameTooLarge { .. }));

    for total in [0, 1, 12, 15] {
        let err = FrameDecoder::default()
            .push(&prelude_only(total, 0), &mut Vec::new())
            .unwrap_err();
        assert_eq!(err, EventStreamError::FrameTooShort(total));
    }
    let err = FrameDecoder::default()
        .push(&prelude_only(20, 5), &mut Vec::new())
        .unwrap_err();
    assert_eq!(
        err,
        EventStreamError::HeadersTooLong {
            headers: 5,
            total: 20
        }
    );
    let err = FrameDecoder::default()
        .push(&prelude_only(20, u32::MAX), &mut Vec::new())
        .unwrap_err();
    assert!(matches!(err, EventStreamError::HeadersTooLong { .. }));
}

#[test]
fn malformed_headers() {
    let cases: Vec<(Vec<u8>, EventStreamError)> = vec![
        (vec![1, b'a', 10], EventStreamError::UnknownHeaderType(10)),
        (
            vec![5, b'a'],
            EventStreamError::MalformedHeader("truncated"),
        ),
        (
            vec![1, b'a'],
            EventStreamError::MalformedHeader("truncated"),
        ),
        (
            vec![1, b'a', 4, 0, 0],
            EventStreamError::MalformedHeader("truncated"),
        ),
        (
            vec![1, b'a', 7, 0, 9, b'x'],
            EventStreamError::MalformedHeader("truncated"),
        ),
        (
            vec![1, b'a', 9, 1, 2, 3],
            EventStreamError::MalformedHeader("truncated"),
        ),
        (
            vec![1, 0xff, 0],
            EventStreamError::MalformedHeader("name is not UTF-8"),
        ),
        (
            vec![1, b'a', 7, 0, 1, 0xc3],
            EventStreamError::MalformedHeader("string value is not UTF-8"),
        ),
        (
            vec![1, b'a', 0, 1, b'a', 1],
            EventStreamError::DuplicateHeader("a".into()),
        ),
    ];
    for (headers, want) in cases {
        assert_eq!(
            all_messages(&raw_frame(&headers, b"p")).unwrap_err(),
            want,
            "{headers:?}"
        );
    }
    // A zero-length name and byte array are valid.
    let m = all_messages(&raw_frame(&[0, 6, 0, 0], b"")).unwrap();
    assert_eq!(
        m[0].headers,
        vec![(String::new(), HeaderValue::Bytes(vec![]))]
    );
}

#[test]
fn bounded_memory_for_a_50_mb_stream_in_1_kb_chunks() {
    // Frames of unequal sizes, so that 1 KB chunks cut them everywhere.
    let mut segment = Vec::new();
    let mut largest = 0;
    for size in [40_000usize, 7, 33_333, 1500, 0, 65_000] {
        let f = chunk(&vec![b'a' + (size % 26) as u8; size]);
        largest = largest.max(f.len());
        segment.extend(f);
    }
    let frames_per_segment = 6;
    let target = 50 * 1024 * 1024;
    let segments = target / segment.len() + 1;
    let mut stream = ResponseStreamDecoder::default();
    let (mut events, mut body_bytes, mut chunks) = (Vec::new(), 0usize, 0usize);
    let mut max_buffered = 0;
    let total = segments * segment.len();
    let mut pos = 0;
    let mut piece = Vec::with_capacity(1024);
    while pos < total {
        piece.clear();
        while piece.len() < 1024 && pos < total {
            let at = pos % segment.len();
            let n = (1024 - piece.len())
                .min(segment.len() - at)
                .min(total - pos);
            piece.extend_from_slice(&segment[at..at + n]);
            pos += n;
        }
        stream.push(&piece, &mut events).unwrap();
        max_buffered = max_buffered.max(stream.buffered());
        assert!(
            stream.frames.buffer_capacity() <= largest,
            "{}",
            stream.frames.buffer_capacity()
        );
        for e in events.drain(..) {
            let Event::Chunk(c) = e else {
                panic!("unexpected {e:?}")
            };
            body_bytes += c.len();
            chunks += 1;
        }
    }
    stream.push(&complete("{}"), &mut events).unwrap();
    stream.finish().unwrap();
    assert!(total >= target);
    assert_eq!(chunks, segments * frames_per_segment);
    assert_eq!(body_bytes, segments * (40_000 + 7 + 33_333 + 1500 + 65_000));
    assert!(max_buffered < largest, "{max_buffered} vs {largest}");
    assert!(
        max_buffered > 60_000,
        "large frames were buffered across chunks"
    );
}

// ---- Lambda events

#[test]
fn interprets_lambda_messages() {
    let m = |data: Vec<u8>| all_messages(&data).unwrap().remove(0);
    assert_eq!(
        interpret(m(chunk(b"abc"))).unwrap(),
        Some(Event::Chunk(b"abc".to_vec()))
    );
    assert_eq!(
        interpret(m(complete(
            r#"{"ErrorCode":"Unhandled","ErrorDetails":"x","LogResult":"bG9n"}"#
        )))
        .unwrap(),
        Some(Event::Complete(Complete {
            error_code: Some("Unhandled".into()),
            error_details: Some("x".into()),
            log_result: Some("bG9n".into()),
        }))
    );
    for empty in ["", "{}", r#"{"ErrorCode":null,"Other":1}"#] {
        assert_eq!(
            interpret(m(complete(empty))).unwrap(),
            Some(Event::Complete(Complete::default()))
        );
    }
    assert!(matches!(
        interpret(m(complete("nope"))),
        Err(EventStreamError::BadComplete(_))
    ));
    assert!(matches!(
        interpret(m(complete(r#"{"ErrorCode":5}"#))),
        Err(EventStreamError::BadComplete(_))
    ));
    assert_eq!(
        interpret(m(complete("[1]"))).unwrap_err(),
        EventStreamError::BadComplete("not a JSON object".into())
    );
    assert_eq!(
        interpret(m(event("initial-response", b"{}"))).unwrap(),
        None
    );
    assert_eq!(
        interpret(m(exception("ServiceException", "down"))).unwrap(),
        Some(Event::Exception {
            kind: "ServiceException".into(),
            message: "down".into()
        })
    );
    let upper = frame(
        &[
            (":exception-type", s("X")),
            (":message-type", s("exception")),
        ],
        br#"{"Message":"Upper"}"#,
    );
    assert_eq!(
        interpret(m(upper)).unwrap(),
        Some(Event::Exception {
            kind: "X".into(),
            message: "Upper".into()
        })
    );
    let text = frame(&[(":message-type", s("exception"))], b"plain text");
    assert_eq!(
        interpret(m(text)).unwrap(),
        Some(Event::Exception {
            kind: String::new(),
            message: "plain text".into()
        })
    );
    let error = frame(
        &[
            (":error-code", s("InternalFailure")),
            (":error-message", s("oops")),
            (":message-type", s("error")),
        ],
        b"",
    );
    assert_eq!(
        interpret(m(error)).unwrap(),
        Some(Event::Exception {
            kind: "InternalFailure".into(),
            message: "oops".into()
        })
    );
    assert_eq!(
        interpret(m(frame(&[(":event-type", s("PayloadChunk"))], b""))).unwrap_err(),
        EventStreamError::MissingHeader(":message-type")
    );
    assert_eq!(
        interpret(m(frame(&[(":message-type", s("event"))], b""))).unwrap_err(),
        EventStreamError::MissingHeader(":event-type")
    );
    assert_eq!(
        interpret(m(frame(&[(":message-type", s("weird"))], b""))).unwrap_err(),
        EventStreamError::UnknownMessageType("weird".into())
    );
    // A non-string :message-type is not a message type.
    let typed = frame(&[(":message-type", HeaderValue::Int(1))], b"");
    assert_eq!(
        interpret(m(typed)).unwrap_err(),
        EventStreamError::MissingHeader(":message-type")
    );
}

#[test]
fn invoke_complete_with_error_code_after_chunks() {
    let mut data = chunk(b"partial ");
    data.extend(chunk(b"output"));
    data.extend(complete(
        r#"{"ErrorCode":"Unhandled","ErrorDetails":"{\"errorMessage\":\"boom\"}"}"#,
    ));
    let (body, info) = decode_all(&data).unwrap();
    assert_eq!(body, b"partial output");
    assert_eq!(info.error_code.as_deref(), Some("Unhandled"));
    assert_eq!(
        info.error_details.as_deref(),
        Some(r#"{"errorMessage":"boom"}"#)
    );
    assert_eq!(info.log_result, None);

    let mut stream = ResponseStreamDecoder::default();
    let mut events = Vec::new();
    for b in &data {
        stream.push(std::slice::from_ref(b), &mut events).unwrap();
    }
    stream.finish().unwrap();
    assert!(stream.is_ended());
    assert_eq!(events.len(), 3);
    assert!(
        matches!(&events[2], Event::Complete(c) if c.error_code.as_deref() == Some("Unhandled"))
    );
}

#[test]
fn exception_frames_end_the_stream() {
    let mut data = chunk(b"some");
    data.extend(exception("ServiceException", "stream failed"));
    assert_eq!(
        decode_all(&data).unwrap_err(),
        EventStreamError::Exception {
            kind: "ServiceException".into(),
            message: "stream failed".into()
        }
    );
    let mut stream = ResponseStreamDecoder::default();
    let mut events = Vec::new();
    stream.push(&data, &mut events).unwrap();
    assert!(stream.is_ended());
    stream.finish().unwrap();
    assert_eq!(events.len(), 2);
    let err = EventStreamError::Exception {
        kind: "K".into(),
        message: "m".into(),
    };
    assert_eq!(err.to_string(), "Lambda's event stream reported K: m");
}

#[test]
fn decode_all_errors() {
    let mut no_end = chunk(b"a");
    no_end.extend(event("initial-response", b""));
    assert_eq!(
        decode_all(&no_end).unwrap_err(),
        EventStreamError::NoComplete
    );
    assert_eq!(decode_all(b"").unwrap_err(), EventStreamError::NoComplete);

    let mut full = chunk(b"a");
    full.extend(complete("{}"));
    let err = decode_all(&full[..full.len() - 1]).unwrap_err();
    assert!(matches!(err, EventStreamError::Truncated(_)), "{err}");

    let mut after = full.clone();
    after.extend(chunk(b"late"));
    assert_eq!(decode_all(&after).unwrap_err(), EventStreamError::AfterEnd);
    let mut trailing = full.clone();
    trailing.extend(&chunk(b"late")[..5]);
    assert!(matches!(
        decode_all(&trailing),
        Err(EventStreamError::Truncated(5))
    ));

    let mut corrupt = full.clone();
    corrupt[20] ^= 1;
    assert!(matches!(
        decode_all(&corrupt),
        Err(EventStreamError::MessageCrc { .. })
    ));

    // Larger than decode_all's 64 KiB pieces.
    let big = vec![b'q'; 200_000];
    let mut data = chunk(&big[..100_000]);
    data.extend(chunk(&big[100_000..]));
    data.extend(complete(r#"{"LogResult":"bG9n"}"#));
    let (body, info) = decode_all(&data).unwrap();
    assert_eq!((body, info.log_result.as_deref()), (big, Some("bG9n")));
}

// ---- fixtures shared with botocore (tests/test_eventstream_frames.py)

fn fixture(name: &str) -> &'static [u8] {
    match name {
        "stream.bin" => include_bytes!("../../tests/data/eventstream/stream.bin"),
        "complete.bin" => include_bytes!("../../tests/data/eventstream/complete.bin"),
        "exception.bin" => include_bytes!("../../tests/data/eventstream/exception.bin"),
        "error.bin" => include_bytes!("../../tests/data/eventstream/error.bin"),
        other => panic!("fixture {other} is not included"),
    }
}

fn header_json(value: &HeaderValue) -> (&'static str, Value) {
    match value {
        HeaderValue::Bool(b) => ("bool", json!(b)),
        HeaderValue::Byte(v) => ("byte", json!(v)),
        HeaderValue::Short(v) => ("short", json!(v)),
        HeaderValue::Int(v) => ("int", json!(v)),
        HeaderValue::Long(v) => ("long", json!(v)),
        HeaderValue::Bytes(v) => ("bytes", json!(B64.encode(v))),
        HeaderValue::String(v) => ("string", json!(v)),
        HeaderValue::Timestamp(v) => ("timestamp", json!(v)),
        HeaderValue::Uuid(v) => ("uuid", json!(B64.encode(v))),
    }
}

fn complete_json(c: &Complete) -> Value {
    json!({ "ErrorCode": c.error_code, "ErrorDetails": c.error_details, "LogResult": c.log_result })
}

#[test]
fn decodes_the_fixtures_botocore_decodes() {
    let expected: Value =
        serde_json::from_str(include_str!("../../tests/data/eventstream/expected.json")).unwrap();
    let expected = expected.as_object().unwrap();
    assert_eq!(expected.len(), 4);
    for (name, want) in expected {
        let data = fixture(name);
        // Frames, whole and split everywhere.
        let messages: Vec<Value> = all_messages(data)
            .unwrap()
            .iter()
            .map(|m| {
                let headers: Vec<Value> = m
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        let (kind, value) = header_json(v);
                        json!([n, kind, value])
                    })
                    .collect();
                json!({ "headers": headers, "payload": B64.encode(&m.payload) })
            })
            .collect();
        assert_eq!(Value::from(messages), want["messages"], "{name}");
        for cut in 0..=data.len() {
            let mut decoder = FrameDecoder::default();
            let mut out = Vec::new();
            decoder.push(&data[..cut], &mut out).unwrap();
            decoder.push(&data[cut..], &mut out).unwrap();
            decoder.finish().unwrap();
            assert_eq!(out, all_messages(data).unwrap());
        }
        // Lambda events.
        let mut stream = ResponseStreamDecoder::default();
        let mut events = Vec::new();
        stream.push(data, &mut events).unwrap();
        stream.finish().unwrap();
        let events: Vec<Value> = events
            .iter()
            .map(|e| match e {
                Event::Chunk(c) => json!({ "chunk": B64.encode(c) }),
                Event::Complete(c) => json!({ "complete": complete_json(c) }),
                Event::Exception { kind, message } => {
                    json!({ "exception": { "kind": kind, "message": message } })
                }
            })
            .collect();
        assert_eq!(Value::from(events), want["events"], "{name}");
        // Callout mode.
        let got = match decode_all(data) {
            Ok((body, c)) => json!({ "body": B64.encode(body), "complete": complete_json(&c) }),
            Err(EventStreamError::Exception { kind, message }) => {
                json!({ "exception": { "kind": kind, "message": message } })
            }
            Err(err) => panic!("{name}: {err}"),
        };
        assert_eq!(got, want["decode_all"], "{name}");
    }
}

#[test]
fn fixture_body_carries_an_http_prelude() {
    let (body, info) = decode_all(fixture("stream.bin")).unwrap();
    assert_eq!(info.error_code.as_deref(), Some("Unhandled"));
    assert_eq!(
        B64.decode(info.log_result.unwrap()).unwrap(),
        b"START RequestId\nEND\n"
    );
    let mut splitter = PreludeSplitter::default();
    let (prelude, rest) = splitter.push(&body).unwrap();
    let prelude = prelude.unwrap();
    assert_eq!(prelude.status, 201);
    assert_eq!(
        prelude.headers,
        vec![
            ("content-type".to_string(), "text/event-stream".to_string()),
            ("x-multi".into(), "a".into()),
            ("x-multi".into(), "b".into()),
        ]
    );
    assert_eq!(prelude.cookies, vec!["id=1; Path=/".to_string()]);
    assert!(rest.starts_with(b"data: one\n\n"));
    assert!(rest.ends_with(&[0; 9]));
}

// ---- HTTP prelude

fn split_all(
    splitter: &mut PreludeSplitter,
    pieces: &[&[u8]],
) -> Result<(Option<HttpPrelude>, Vec<u8>), PreludeError> {
    let (mut prelude, mut body) = (None, Vec::new());
    for piece in pieces {
        let (p, b) = splitter.push(piece)?;
        if p.is_some() {
            assert!(prelude.is_none(), "prelude yielded twice");
            prelude = p;
        }
        body.extend_from_slice(b);
    }
    Ok((prelude, body))
}

#[test]
fn prelude_split_at_every_position() {
    let json = br#"{"statusCode":404,"headers":{"Content-Type":"application/json","x-n":5,"x-b":true,"x-null":null},"cookies":["a=1","b=2; Secure"]}"#;
    let body = b"\x00\x00{\"not\":\"found\"}\x00\x00\x00\x00\x00\x00\x00\x00end";
    let mut data = json.to_vec();
    data.extend([0; 8]);
    data.extend(body);
    let want = HttpPrelude {
        status: 404,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("x-b".into(), "true".into()),
            ("x-n".into(), "5".into()),
        ],
        cookies: vec!["a=1".into(), "b=2; Secure".into()],
    };
    for cut in 0..=data.len() {
        let mut splitter = PreludeSplitter::default();
        let (prelude, got) = split_all(&mut splitter, &[&data[..cut], &data[cut..]]).unwrap();
        assert_eq!(prelude.as_ref(), Some(&want), "cut {cut}");
        assert_eq!(got, body, "cut {cut}");
        assert!(splitter.prelude_done());
        splitter.finish().unwrap();
        assert_eq!(splitter.buffered(), 0);
    }
    let mut splitter = PreludeSplitter::default();
    let pieces: Vec<&[u8]> = data.chunks(1).collect();
    let (prelude, got) = split_all(&mut splitter, &pieces).unwrap();
    assert_eq!((prelude, got), (Some(want), body.to_vec()));
    // Later chunks pass through untouched, as slices of the input.
    let later = b"more \x00 bytes";
    assert_eq!(splitter.push(later).unwrap(), (None, &later[..]));
}

#[test]
fn prelude_defaults_and_empty_body() {
    let mut splitter = PreludeSplitter::default();
    let (prelude, body) = splitter.push(b"{}\0\0\0\0\0\0\0\0").unwrap();
    assert_eq!(
        prelude,
        Some(HttpPrelude {
            status: 200,
            headers: vec![],
            cookies: vec![]
        })
    );
    assert_eq!(body, b"");
    let mut splitter = PreludeSplitter::default();
    let (prelude, _) = splitter
        .push(br#"{"statusCode":200,"headers":{"a":["1",2]},"cookies":null}"#)
        .unwrap();
    assert_eq!(prelude, None);
    assert_eq!(splitter.finish().unwrap_err(), PreludeError::Incomplete);
    let (prelude, _) = splitter.push(&[0; 8]).unwrap();
    assert_eq!(
        prelude.unwrap().headers,
        vec![("a".into(), "1".into()), ("a".into(), "2".into())]
    );
}

#[test]
fn prelude_errors() {
    let err = |data: &[u8]| PreludeSplitter::default().push(data).unwrap_err();
    assert!(matches!(
        err(b"not json\0\0\0\0\0\0\0\0"),
        PreludeError::Json(_)
    ));
    assert!(matches!(err(b"\0\0\0\0\0\0\0\0"), PreludeError::Json(_)));
    let with = |json: &str| [json.as_bytes(), &[0; 8]].concat();
    for status in ["99", "600", "70000", "-1", "200.5", "\"200\"", "true"] {
        let json = format!(r#"{{"statusCode":{status}}}"#);
        assert_eq!(
            err(&with(&json)),
            PreludeError::Status(status.into()),
            "{json}"
        );
    }
    assert!(matches!(err(&with("[]")), PreludeError::Json(_)));
    assert!(matches!(
        err(&with(r#"{"headers":[]}"#)),
        PreludeError::Json(_)
    ));
    assert!(matches!(
        err(&with(r#"{"cookies":"a=1"}"#)),
        PreludeError::Json(_)
    ));
    assert_eq!(
        err(&with(r#"{"cookies":[1]}"#)),
        PreludeError::InvalidHeader("set-cookie".into())
    );
    assert_eq!(
        err(&with(r#"{"headers":{"x":"a\r\nb: c"}}"#)),
        PreludeError::InvalidHeader("x".into())
    );
    assert_eq!(
        err(&with(r#"{"headers":{"bad name":"v"}}"#)),
        PreludeError::InvalidHeader("bad name".into())
    );
    assert_eq!(
        err(&with(r#"{"headers":{"":"v"}}"#)),
        PreludeError::InvalidHeader(String::new())
    );
    assert_eq!(
        err(&with(r#"{"headers":{"x":{"a":1}}}"#)),
        PreludeError::InvalidHeader("x".into())
    );
    assert_eq!(
        err(&with(r#"{"cookies":["a=1\n"]}"#)),
        PreludeError::InvalidHeader("set-cookie".into())
    );
    assert_eq!(err(b"{}\0\0\0x\0\0\0\0"), PreludeError::BadDelimiter);

    // Bounded: a prelude larger than the limit fails without buffering more than limit + 8 bytes.
    let mut splitter = PreludeSplitter::new(100);
    let e = split_all(&mut splitter, &[&[b' '; 60], &[b' '; 60]]).unwrap_err();
    assert_eq!(e, PreludeError::TooLarge(100));
    assert_eq!(splitter.push(b"{}").unwrap_err(), e);
    assert_eq!(splitter.finish().unwrap_err(), e);
    let mut splitter = PreludeSplitter::new(100);
    assert_eq!(
        splitter.push(&[b' '; 1_000_000]).unwrap_err(),
        PreludeError::TooLarge(100)
    );
    let mut splitter = PreludeSplitter::new(100);
    let mut data = vec![b' '; 101];
    data.extend([0; 8]);
    assert_eq!(
        splitter.push(&data).unwrap_err(),
        PreludeError::TooLarge(100)
    );
    // Exactly at the limit is fine, even with a large chunk.
    let mut splitter = PreludeSplitter::new(100);
    let mut data = b"{}".to_vec();
    data.extend([b' '; 98]);
    data.extend([0; 8]);
    data.extend(vec![b'b'; 1_000_000]);
    let (prelude, body) = splitter.push(&data).unwrap();
    assert_eq!((prelude.unwrap().status, body.len()), (200, 1_000_000));
    // Prelude bytes held while waiting: never more than limit + 8.
    let mut splitter = PreludeSplitter::new(100);
    for _ in 0..100 {
        splitter.push(b" ").unwrap();
        assert!(splitter.buffered() <= 108);
    }
}
