use super::*;
use crate::eventstream::lambda_frame as message;

fn chunk(data: &[u8]) -> Vec<u8> {
    message(
        &[(":message-type", "event"), (":event-type", "PayloadChunk")],
        data,
    )
}

fn complete(json: &str) -> Vec<u8> {
    message(
        &[
            (":message-type", "event"),
            (":event-type", "InvokeComplete"),
        ],
        json.as_bytes(),
    )
}

fn lambda_headers() -> Vec<(String, String)> {
    vec![
        (":status".into(), "200".into()),
        ("content-type".into(), "text/event-stream".into()),
        ("x-amzn-requestid".into(), "req-s".into()),
        ("x-amz-executed-version".into(), "3".into()),
    ]
}

/// Feeds `stream` in pieces of `size` bytes; the bytes sent to the client and the pieces.
fn run(mapper: &mut StreamMapper, stream: &[u8], size: usize) -> (Vec<u8>, Vec<Piece>) {
    let mut sent = Vec::new();
    let mut pieces = Vec::new();
    let parts: Vec<&[u8]> = stream.chunks(size.max(1)).collect();
    for (i, part) in parts.iter().enumerate() {
        let piece = mapper.push(part, i + 1 == parts.len());
        if let Piece::Send { body, .. } = &piece {
            sent.extend_from_slice(body);
        }
        pieces.push(piece);
    }
    (sent, pieces)
}

#[test]
fn chunks_go_on_as_they_are_decoded_whatever_the_split() {
    let stream = [chunk(b"data: 1\n\n"), chunk(b"data: 2\n\n"), complete("{}")].concat();
    for size in 1..stream.len() {
        let mut mapper = StreamMapper::new(&lambda_headers(), ResponseFormat::Krakend);
        let (sent, pieces) = run(&mut mapper, &stream, size);
        assert_eq!(sent, b"data: 1\n\ndata: 2\n\n", "split {size}");
        let first = pieces.iter().find_map(|p| match p {
            Piece::Send { headers, .. } => Some(headers.clone()),
            _ => None,
        });
        let headers = first.flatten().expect("headers with the first bytes");
        assert!(headers.contains(&("content-type".into(), "text/event-stream".into())));
        assert!(headers.contains(&("x-amzn-requestid".into(), "req-s".into())));
    }
}

#[test]
fn an_error_before_the_first_byte_is_mapped_after_it_resets() {
    let early = complete(r#"{"ErrorCode":"Unhandled","ErrorDetails":"{\"errorType\":\"Boom\"}"}"#);
    let mut mapper = StreamMapper::new(&lambda_headers(), ResponseFormat::Krakend);
    match mapper.push(&early, true) {
        Piece::FailEarly(Outcome::FunctionError { kind, body, .. }) => {
            assert_eq!(kind, "Unhandled");
            assert_eq!(body, br#"{"errorType":"Boom"}"#.to_vec());
        }
        other => panic!("{other:?}"),
    }
    let mut mapper = StreamMapper::new(&lambda_headers(), ResponseFormat::Krakend);
    assert!(matches!(
        mapper.push(&chunk(b"abc"), false),
        Piece::Send { .. }
    ));
    assert_eq!(
        mapper.push(&complete(r#"{"ErrorCode":"Unhandled"}"#), true),
        Piece::FailLate {
            cause: "function error (Unhandled)".into(),
            sent: 3
        }
    );
    // A corrupt frame after bytes were sent ends the response too.
    let mut mapper = StreamMapper::new(&lambda_headers(), ResponseFormat::Krakend);
    assert!(matches!(
        mapper.push(&chunk(b"abc"), false),
        Piece::Send { .. }
    ));
    let mut bad = chunk(b"def");
    if let Some(last) = bad.last_mut() {
        *last ^= 1;
    }
    assert!(matches!(mapper.push(&bad, false), Piece::FailLate { .. }));
    // A stream that stops before InvokeComplete, before any byte: a 502 outcome.
    let mut mapper = StreamMapper::new(&lambda_headers(), ResponseFormat::Krakend);
    assert!(matches!(
        mapper.push(&chunk(b"")[..10], true),
        Piece::FailEarly(Outcome::ApiError(ApiError { status: 502, .. }))
    ));
}

#[test]
fn an_http_prelude_becomes_the_status_and_headers() {
    let prelude =
        br#"{"statusCode":201,"headers":{"Content-Type":"text/plain"},"cookies":["a=1"]}"#;
    let output = [&prelude[..], &[0u8; 8], b"hello ", b"world"].concat();
    let stream = [chunk(&output[..20]), chunk(&output[20..]), complete("{}")].concat();
    for size in 1..stream.len() {
        let mut mapper =
            StreamMapper::new(&lambda_headers(), ResponseFormat::Apigw { infer: true });
        let (sent, pieces) = run(&mut mapper, &stream, size);
        assert_eq!(sent, b"hello world", "split {size}");
        let headers = pieces
            .iter()
            .find_map(|p| match p {
                Piece::Send {
                    headers: Some(h), ..
                } => Some(h.clone()),
                _ => None,
            })
            .expect("headers");
        assert_eq!(headers[0], (":status".into(), "201".into()));
        assert!(headers.contains(&("content-type".into(), "text/plain".into())));
        assert!(headers.contains(&("set-cookie".into(), "a=1".into())));
        let held_before = pieces.iter().take_while(|p| **p == Piece::Hold).count();
        let sends_before_headers = pieces
            .iter()
            .take_while(|p| {
                !matches!(
                    p,
                    Piece::Send {
                        headers: Some(_),
                        ..
                    }
                )
            })
            .filter(|p| matches!(p, Piece::Send { .. }))
            .count();
        assert_eq!(
            sends_before_headers, 0,
            "nothing goes out before the prelude ({held_before})"
        );
    }
}

#[test]
fn callout_mode_decodes_the_whole_stream() {
    let success = |body: Vec<u8>| Outcome::Success {
        status: 200,
        body,
        executed_version: Some("1".into()),
        request_id: Some("r".into()),
        log_tail: None,
    };
    let stream = [
        chunk(br#"{"a":"#),
        chunk(b"1}"),
        complete(r#"{"LogResult":"bG9nIHRhaWw="}"#),
    ]
    .concat();
    match whole_outcome(success(stream), ResponseFormat::Krakend) {
        Outcome::Success { body, log_tail, .. } => {
            assert_eq!(body, br#"{"a":1}"#.to_vec());
            assert_eq!(log_tail.as_deref(), Some("log tail"));
        }
        other => panic!("{other:?}"),
    }
    let failed = [
        chunk(b"x"),
        complete(r#"{"ErrorCode":"Handled","ErrorDetails":"nope"}"#),
    ]
    .concat();
    assert!(matches!(
        whole_outcome(success(failed), ResponseFormat::Krakend),
        Outcome::FunctionError { .. }
    ));
    let prelude = [&br#"{"statusCode":202}"#[..], &[0u8; 8], b"hi"].concat();
    let proxied = [chunk(&prelude), complete("{}")].concat();
    let Outcome::Success { body, .. } =
        whole_outcome(success(proxied), ResponseFormat::Apigw { infer: true })
    else {
        panic!("success")
    };
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["statusCode"], 202);
    assert_eq!(v["body"], "aGk=");
    assert!(matches!(
        whole_outcome(success(b"not a stream".to_vec()), ResponseFormat::Krakend),
        Outcome::ApiError(ApiError { status: 502, .. })
    ));
}

#[test]
fn memory_stays_bounded_on_a_long_stream() {
    let piece = chunk(&[b'x'; 1024]);
    let mut mapper = StreamMapper::new(&lambda_headers(), ResponseFormat::Krakend);
    let mut sent = 0usize;
    for _ in 0..20_000 {
        // 20 MB in 1 KB chunks, each split across two pushes.
        let (a, b) = piece.split_at(500);
        for part in [a, b] {
            if let Piece::Send { body, .. } = mapper.push(part, false) {
                sent += body.len();
            }
            assert!(mapper.decoder.buffered() <= piece.len());
        }
    }
    assert!(matches!(
        mapper.push(&complete("{}"), true),
        Piece::Send { .. }
    ));
    assert_eq!(sent, 20_000 * 1024);
}
