"""The demo's streaming function: moto implements no InvokeWithResponseStream, so this small
server answers `POST /2021-11-15/functions/{name}/response-streaming-invocations` as Lambda does,
with an AWS event stream (application/vnd.amazon.eventstream) of PayloadChunk events — five
server-sent events half a second apart — and an InvokeComplete. Frames are encoded by
tests/eventstream_frames.py, whose bytes botocore's decoder checks."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from eventstream_frames import invoke_complete, payload_chunk  # noqa: E402
from stack import QuietHandler, serve  # noqa: E402


class StreamingFunction:
    def __init__(self, port, events=5, gap=0.5):
        self.port = port

        class Handler(QuietHandler):

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                self.send_response(200)
                self.send_header("x-amzn-requestid", "demo-stream")
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                frames = [payload_chunk(f"data: tick {i}\n\n".encode()) for i in range(events)]
                try:
                    for frame in frames + [invoke_complete()]:
                        self.write_chunk(frame)
                        self.wfile.flush()
                        time.sleep(gap)
                    self.write_chunk(b"")
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.handler = Handler

    def start(self):
        self.server = serve(self.handler, self.port)
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
