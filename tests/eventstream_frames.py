"""AWS event-stream frames (`application/vnd.amazon.eventstream`) as Lambda's InvokeWithResponseStream
sends them, for the stand-in Lambda and for the fixtures under tests/data/eventstream/.

Frame: total length, headers length, CRC-32 of those 8 bytes, headers, payload, CRC-32 of everything
before it (big-endian; zlib's CRC-32). Header: name length (1 byte), name, value type, value. Decoded by
botocore's `botocore.eventstream.EventStreamBuffer` (checked in test_eventstream_frames.py) and by the
filter's `src/eventstream.rs` (which reads the same fixtures).

`python tests/eventstream_frames.py` rewrites the fixtures.
"""

import base64
import json
import struct
import zlib
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "data" / "eventstream"

# Value type codes, as in botocore's EventStreamHeaderParser._HEADER_TYPE_MAP.
_TYPES = {"byte": (2, "!b"), "short": (3, "!h"), "int": (4, "!i"), "long": (5, "!q"), "timestamp": (8, "!q")}


def header(name, kind, value):
    """One encoded header; kind is bool, byte, short, int, long, bytes, string, timestamp or uuid."""
    raw = name.encode()
    out = struct.pack("!B", len(raw)) + raw
    if kind == "bool":
        return out + bytes([0 if value else 1])
    if kind in _TYPES:
        code, fmt = _TYPES[kind]
        return out + bytes([code]) + struct.pack(fmt, value)
    if kind in ("bytes", "string"):
        data = value.encode() if kind == "string" else bytes(value)
        return out + bytes([6 if kind == "bytes" else 7]) + struct.pack("!H", len(data)) + data
    if kind == "uuid":
        assert len(value) == 16
        return out + bytes([9]) + bytes(value)
    raise ValueError(f"unknown header type {kind}")


def frame(headers, payload=b""):
    """A frame from (name, kind, value) headers and payload bytes."""
    hdrs = b"".join(header(*h) for h in headers)
    prelude = struct.pack("!II", 12 + len(hdrs) + len(payload) + 4, len(hdrs))
    head = prelude + struct.pack("!I", zlib.crc32(prelude))
    body = head + hdrs + payload
    return body + struct.pack("!I", zlib.crc32(body))


def event(event_type, payload, content_type, extra=()):
    return frame([(":event-type", "string", event_type), (":content-type", "string", content_type),
                  (":message-type", "string", "event"), *extra], payload)


def payload_chunk(data, extra=()):
    """`PayloadChunk`: the payload is the function's output bytes."""
    return event("PayloadChunk", bytes(data), "application/octet-stream", extra)


def invoke_complete(error_code=None, error_details=None, log_result=None):
    """`InvokeComplete`: JSON with the optional ErrorCode, ErrorDetails and LogResult members."""
    members = {"ErrorCode": error_code, "ErrorDetails": error_details, "LogResult": log_result}
    body = json.dumps({k: v for k, v in members.items() if v is not None}).encode()
    return event("InvokeComplete", body, "application/json")


def exception(kind, message):
    """A modeled-exception message: `:exception-type` and a JSON payload with `message`."""
    return frame([(":exception-type", "string", kind), (":content-type", "string", "application/json"),
                  (":message-type", "string", "exception")], json.dumps({"message": message}).encode())


def error(code, message):
    """An `error` message: `:error-code` and `:error-message` headers, no payload."""
    return frame([(":error-code", "string", code), (":error-message", "string", message),
                  (":message-type", "string", "error")])


def http_prelude(status=200, headers=None, cookies=None):
    """What `awslambda.HttpResponseStream.from` writes before the body: JSON, then 8 NUL bytes."""
    meta = {"statusCode": status, "headers": headers or {}}
    if cookies is not None:
        meta["cookies"] = cookies
    return json.dumps(meta, separators=(",", ":")).encode() + b"\0" * 8


def lambda_stream(chunks, **complete):
    """A whole InvokeWithResponseStream body: one PayloadChunk per chunk, then InvokeComplete."""
    return b"".join(payload_chunk(c) for c in chunks) + invoke_complete(**complete)


# ---- fixtures: the same bytes decoded by botocore (Python test) and by src/eventstream.rs (Rust test)

_UUID = bytes(range(0x10, 0x20))
_TYPED = [("flag-true", "bool", True), ("flag-false", "bool", False), ("a-byte", "byte", -7),
          ("a-short", "short", -1234), ("an-int", "int", 123456789), ("a-long", "long", -(2 ** 40)),
          ("some-bytes", "bytes", b"\x00\xffbin"), ("a-time", "timestamp", 1700000000123),
          ("an-id", "uuid", _UUID)]
_PRELUDE = http_prelude(201, {"content-type": "text/event-stream", "x-multi": ["a", "b"]}, ["id=1; Path=/"])
_BINARY = bytes(range(256)) + b"\0" * 9


def _fixture_messages():
    """name -> list of (headers, payload) messages; the stream file is their frames, concatenated."""
    def ev(event_type, payload, content_type, extra=()):
        return ([(":event-type", "string", event_type), (":content-type", "string", content_type),
                 (":message-type", "string", "event"), *extra], payload)

    complete = json.dumps({"ErrorCode": "Unhandled", "ErrorDetails": "boom",
                           "LogResult": base64.b64encode(b"START RequestId\nEND\n").decode()}).encode()
    return {
        "stream.bin": [
            ev("initial-response", b"{}", "application/json"),
            ev("PayloadChunk", _PRELUDE[:20], "application/octet-stream", _TYPED),
            ev("PayloadChunk", _PRELUDE[20:] + b"data: one\n\n", "application/octet-stream"),
            ev("PayloadChunk", b"", "application/octet-stream"),
            ev("PayloadChunk", _BINARY, "application/octet-stream"),
            ev("InvokeComplete", complete, "application/json"),
        ],
        "complete.bin": [
            ev("PayloadChunk", b"hello ", "application/octet-stream"),
            ev("PayloadChunk", b"world", "application/octet-stream"),
            ev("InvokeComplete", b"{}", "application/json"),
        ],
        "exception.bin": [
            ev("PayloadChunk", b"partial", "application/octet-stream"),
            ([(":exception-type", "string", "ServiceException"), (":content-type", "string", "application/json"),
              (":message-type", "string", "exception")], json.dumps({"message": "stream failed"}).encode()),
        ],
        "error.bin": [
            ([(":error-code", "string", "InternalFailure"), (":error-message", "string", "try again"),
              (":message-type", "string", "error")], b""),
        ],
    }


def _json_value(kind, value):
    if kind in ("bytes", "uuid"):
        return base64.b64encode(bytes(value)).decode()
    return value


def fixtures():
    """(name -> stream bytes, expected.json document) as the encoder produces them now."""
    streams, expected = {}, {}
    for name, messages in _fixture_messages().items():
        streams[name] = b"".join(frame(h, p) for h, p in messages)
        events, body, complete, failure = [], b"", None, None
        for headers, payload in messages:
            h = {n: v for n, _, v in headers}
            if h[":message-type"] == "event" and h[":event-type"] == "PayloadChunk":
                events.append({"chunk": base64.b64encode(payload).decode()})
                body += payload
            elif h[":message-type"] == "event" and h[":event-type"] == "InvokeComplete":
                complete = {"ErrorCode": None, "ErrorDetails": None, "LogResult": None, **json.loads(payload)}
                events.append({"complete": complete})
            elif h[":message-type"] == "exception":
                failure = {"kind": h[":exception-type"], "message": json.loads(payload)["message"]}
                events.append({"exception": failure})
            elif h[":message-type"] == "error":
                failure = {"kind": h[":error-code"], "message": h[":error-message"]}
                events.append({"exception": failure})
        doc = {
            "messages": [{"headers": [[n, k, _json_value(k, v)] for n, k, v in headers],
                          "payload": base64.b64encode(payload).decode()} for headers, payload in messages],
            "events": events,
        }
        if failure is None:
            doc["decode_all"] = {"body": base64.b64encode(body).decode(), "complete": complete}
        else:
            doc["decode_all"] = {"exception": failure}
        expected[name] = doc
    return streams, expected


def expected_json_text(expected):
    return json.dumps(expected, indent=1, sort_keys=True) + "\n"


def write_fixtures():
    streams, expected = fixtures()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name, data in streams.items():
        (FIXTURES / name).write_bytes(data)
    (FIXTURES / "expected.json").write_text(expected_json_text(expected))


if __name__ == "__main__":
    write_fixtures()
    print(f"wrote {FIXTURES}")
