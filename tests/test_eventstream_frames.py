"""The event-stream frames the stand-in Lambda sends, checked with botocore's own decoder.

The fixtures under tests/data/eventstream/ are decoded here by botocore and in src/eventstream/tests.rs
by the filter's decoder, against the same expected.json: both decoders agree on the same bytes.
"""

import base64
import json
import random

import botocore.session
import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from botocore.exceptions import EventStreamError
from botocore.parsers import create_parser

import eventstream_frames as ef

EXPECTED = json.loads((ef.FIXTURES / "expected.json").read_text())


def _messages(data, rng=None):
    """botocore's EventStreamBuffer over data, fed in random splits."""
    buf, out, i = EventStreamBuffer(), [], 0
    while i < len(data):
        n = rng.randint(1, 40) if rng else len(data)
        buf.add_data(data[i:i + n])
        i += n
        out.extend(buf)
    return out


def _header_json(value):
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value


class _Raw:
    def __init__(self, data):
        self.data = data

    def stream(self):
        for i in range(0, len(self.data), 7):
            yield self.data[i:i + 7]

    def close(self):
        pass


def _botocore_events(data):
    """The event stream boto3's InvokeWithResponseStream returns: botocore's rest-json parser with Lambda's own
    API model, given the body as the HTTP response's stream."""
    model = botocore.session.get_session().get_service_model("lambda")
    operation = model.operation_model("InvokeWithResponseStream")
    response = {"status_code": 200, "headers": {"content-type": "application/vnd.amazon.eventstream"},
                "body": _Raw(data), "context": {"operation_name": operation.name}}
    return create_parser(model.metadata["protocol"]).parse(response, operation.output_shape)["EventStream"]


def test_fixtures_are_what_the_encoder_writes():
    streams, expected = ef.fixtures()
    assert sorted(p.name for p in ef.FIXTURES.glob("*.bin")) == sorted(streams)
    for name, data in streams.items():
        assert (ef.FIXTURES / name).read_bytes() == data, f"{name}: run python tests/eventstream_frames.py"
    assert (ef.FIXTURES / "expected.json").read_text() == ef.expected_json_text(expected)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_botocore_decodes_the_fixture_frames(name):
    data = (ef.FIXTURES / name).read_bytes()
    for rng in (None, random.Random(name)):
        messages = _messages(data, rng)
        assert len(messages) == len(EXPECTED[name]["messages"])
        for got, want in zip(messages, EXPECTED[name]["messages"]):
            assert [[n, _header_json(v)] for n, v in got.headers.items()] == [[n, v] for n, _, v in want["headers"]]
            assert got.payload == base64.b64decode(want["payload"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_botocore_reads_the_fixture_as_lambda_events(name):
    data = (ef.FIXTURES / name).read_bytes()
    want = EXPECTED[name]["events"]
    if "exception" in want[-1]:
        # botocore names an exception from :exception-type only when the API models it (Lambda's event stream
        # models none), else from :error-code and :error-message, as for `error` messages; both end the stream.
        last = {n: v for n, _, v in EXPECTED[name]["messages"][-1]["headers"]}
        botocore_view = {"kind": last.get(":error-code", ""), "message": last.get(":error-message", "")}
        want = want[:-1] + [{"exception": botocore_view}]
    got = []
    stream = iter(_botocore_events(data))
    while True:
        try:
            got.append(next(stream))
        except StopIteration:
            break
        except EventStreamError as e:
            got.append({"exception": {"kind": e.response["Error"]["Code"], "message": e.response["Error"]["Message"]}})
            break
    normalized = []
    for event in got:
        if "PayloadChunk" in event:
            normalized.append({"chunk": base64.b64encode(event["PayloadChunk"].get("Payload", b"")).decode()})
        elif "InvokeComplete" in event:
            normalized.append({"complete": {k: event["InvokeComplete"].get(k)
                                            for k in ("ErrorCode", "ErrorDetails", "LogResult")}})
        else:
            normalized.append(event)
    assert normalized == want


def test_helpers_build_what_botocore_reads():
    body = ef.http_prelude(200, {"content-type": "text/plain"}, ["a=1"]) + b"hi"
    data = ef.lambda_stream([body[:5], body[5:]], error_code="Unhandled", log_result="bG9n")
    events = list(_botocore_events(data))
    assert b"".join(e["PayloadChunk"]["Payload"] for e in events[:-1]) == body
    assert events[-1] == {"InvokeComplete": {"ErrorCode": "Unhandled", "LogResult": "bG9n"}}
    prelude, rest = body.split(b"\0" * 8, 1)
    assert json.loads(prelude) == {"statusCode": 200, "headers": {"content-type": "text/plain"}, "cookies": ["a=1"]}
    assert rest == b"hi"
    for frame, kind in ((ef.exception("TooManyRequestsException", "slow down"), ""),
                        (ef.error("InternalFailure", "oops"), "InternalFailure")):
        with pytest.raises(EventStreamError) as e:
            list(_botocore_events(ef.payload_chunk(b"x") + frame))
        assert e.value.response["Error"]["Code"] == kind


@pytest.mark.parametrize("where", [0, 5, 8, 20, -1])
def test_botocore_rejects_what_breaks_a_crc(where):
    data = bytearray(ef.payload_chunk(b"some output"))
    data[where] ^= 0x01
    with pytest.raises(ChecksumMismatch):
        _messages(bytes(data))
