"""InvokeWithResponseStream in the real Envoy (`response_stream: true`). moto does not implement
it, so a stand-in plays Lambda's endpoint and sends AWS event-stream frames built by
eventstream_frames.py, the encoder whose bytes botocore's own decoder reads back
(test_eventstream_frames.py). In place, the stand-in also checks Envoy's SigV4 with botocore."""

import http.client
import time
from pathlib import Path

import pytest
import requests

from conftest import lambda_endpoint, plugin
from eventstream_frames import http_prelude, invoke_complete, payload_chunk
from function_url_standin import signature_valid
from stack import QuietHandler, free_port, in_place_route, serve, signing_cluster

KEY = {"access_key_id": "AKIDSTREAM", "secret_access_key": "stream-secret"}
MB = 1024 * 1024


class StreamingLambda:
    """Answers `POST .../response-streaming-invocations` with the scenario named by the function:
    `events` (five SSE events 0.3 s apart), `big-<MB>` (that many MB in 64 KB chunks),
    `late-error`, `early-error`, `prelude`. Records each request and when each chunk was sent."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests, self.sent_at = [], []
        owner = self

        class Handler(QuietHandler):

            def do_POST(self):
                body = self.read_body()
                headers = self.lower_headers()
                signed = signature_valid("POST", headers.get("host", ""), self.path, headers, body,
                                         KEY["access_key_id"], KEY["secret_access_key"], "us-east-1")
                owner.requests.append({"path": self.path, "headers": headers, "signed": signed})
                name = self.path.split("/functions/")[1].split("/")[0]
                content_type = "text/event-stream"
                frames = []
                if name == "events":
                    frames = [(payload_chunk(f"data: event {i}\n\n".encode()), 0.3) for i in range(5)]
                elif name.startswith("big-"):
                    piece = payload_chunk(b"x" * 65536)
                    frames = [(piece, 0)] * (int(name[4:]) * 16)
                elif name == "late-error":
                    frames = [(payload_chunk(b"partial "), 0.1)]
                elif name == "prelude":
                    content_type = "application/vnd.awslambda.http-integration-response"
                    start = http_prelude(201, {"Content-Type": "text/plain"}, ["session=1"])
                    frames = [(payload_chunk(start[:10]), 0), (payload_chunk(start[10:] + b"hello"), 0)]
                end = (invoke_complete(error_code="Unhandled", error_details='{"errorType":"Boom"}')
                       if name in ("late-error", "early-error") else invoke_complete())
                self.send_response(200)
                self.send_header("x-amzn-requestid", "req-stream")
                self.send_header("content-type", content_type)
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                try:
                    for data, pause in frames + [(end, 0)]:
                        owner.sent_at.append(time.monotonic())
                        self.write_chunk(data)
                        time.sleep(pause)
                    self.write_chunk(b"")
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = serve(Handler, self.port)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def streaming(servers):
    lam = StreamingLambda()
    servers.append(lam)
    return lam


def stream_endpoint(path, function, mode, timeout="30s"):
    block = {"function_name": function, "response_stream": True, "mode": mode}
    if mode == "in_place":
        block["cluster"] = "signed"
    # In place the endpoint timeout is the route's: it bounds the whole stream.
    return lambda_endpoint(path, block, method="POST", timeout=timeout)


def start(start_envoy, lam, *endpoints):
    return start_envoy(plugin(KEY, *endpoints), lam.port,
                       clusters=[signing_cluster("signed", lam.port, "us-east-1", KEY)],
                       first_routes=[in_place_route("signed")])


def rss_kb(envoy):
    status = Path(f"/proc/{envoy.proc.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def test_in_place_events_reach_the_client_as_they_are_produced(start_envoy, streaming):
    envoy = start(start_envoy, streaming, stream_endpoint("/events", "events", "in_place"))
    conn = http.client.HTTPConnection("127.0.0.1", envoy.listener_port, timeout=10)
    conn.request("POST", "/events", body=b"{}")
    r = conn.getresponse()
    assert r.status == 200
    assert r.getheader("content-type") == "text/event-stream"
    assert r.getheader("x-amzn-requestid") == "req-stream"
    first = r.read1(1 << 16)
    first_at = time.monotonic()
    rest = r.read()
    conn.close()
    assert first.startswith(b"data: event 0"), first
    assert first_at < streaming.sent_at[-1], "the first event before the last was produced"
    assert first + rest == b"".join(f"data: event {i}\n\n".encode() for i in range(5))
    seen = streaming.requests[-1]
    assert seen["path"] == "/2021-11-15/functions/events/response-streaming-invocations"
    assert seen["signed"], "botocore recomputed Envoy's signature"


def test_a_stream_far_larger_than_the_buffers_passes_with_bounded_memory(start_envoy, streaming):
    envoy = start(start_envoy, streaming, stream_endpoint("/big", "big-200", "in_place"))
    requests.post(envoy.url + "/big", data=b"{}")  # warm up the VM
    before = rss_kb(envoy)
    received = 0
    with requests.post(envoy.url + "/big", data=b"{}", stream=True, timeout=60) as r:
        assert r.status_code == 200
        for piece in r.iter_content(chunk_size=1 << 20):
            received += len(piece)
    grown_mb = (rss_kb(envoy) - before) / 1024
    assert received == 200 * MB
    assert grown_mb < 64, f"Envoy grew {grown_mb:.0f} MB for a 200 MB stream"


def test_errors_before_the_first_byte_are_mapped_after_it_the_response_ends(start_envoy, streaming):
    envoy = start(start_envoy, streaming, stream_endpoint("/early", "early-error", "in_place"),
                  stream_endpoint("/late", "late-error", "in_place"))
    r = requests.post(envoy.url + "/early", data=b"{}")
    assert r.status_code == 502, r.text
    assert r.json() == {"errorType": "Boom"}
    assert r.headers["x-amz-function-error"] == "Unhandled"
    # A clean end would be a lie: the client sees the response broken off.
    r = requests.post(envoy.url + "/late", data=b"{}", stream=True, timeout=10)
    assert r.status_code == 200
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        b"".join(r.iter_content(chunk_size=None))
    assert "the streamed answer failed after 8 bytes" in envoy.log()


def test_a_function_url_style_prelude_becomes_status_and_headers(start_envoy, streaming):
    envoy = start(start_envoy, streaming, stream_endpoint("/prelude", "prelude", "in_place"))
    r = requests.post(envoy.url + "/prelude", data=b"{}")
    assert (r.status_code, r.content) == (201, b"hello")
    assert r.headers["content-type"] == "text/plain"
    assert r.headers["set-cookie"] == "session=1"


def test_callout_mode_decodes_the_whole_stream(start_envoy, streaming):
    envoy = start(start_envoy, streaming, stream_endpoint("/whole", "events", "callout"),
                  stream_endpoint("/whole-error", "early-error", "callout"))
    r = requests.post(envoy.url + "/whole", data=b"{}")
    assert r.status_code == 200, r.text
    assert r.content == b"".join(f"data: event {i}\n\n".encode() for i in range(5))
    r = requests.post(envoy.url + "/whole-error", data=b"{}")
    assert (r.status_code, r.json()) == (502, {"errorType": "Boom"})
