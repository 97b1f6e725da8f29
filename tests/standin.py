"""A scripted HTTP server standing in for the Lambda API (or for an application upstream) in the
few cases no real server here can produce: throttling (429), function errors, slow answers,
connection resets, and an origin that echoes what it receives. Each test says why it uses it."""

import json
import socket
import struct
import threading
import time

from stack import QuietHandler, free_port, serve


# Transport faults a Reply can play instead of answering (`mode=`). Each is bounded in time.
CLOSE_AFTER_REQUEST = "close_after_request"  # read the whole request, then close (FIN) without answering
RST_AFTER_REQUEST = "rst_after_request"      # read the whole request, then SO_LINGER 0 + close: a TCP RST
STALL_AFTER_REQUEST = "stall_after_request"  # read the whole request, send nothing, keep the socket open
STALL_AFTER_HEADERS = "stall_after_headers"  # send status + headers (content-length of the body), then nothing
HALF_BODY = "half_body"                      # send status + headers + half the body, then close (FIN)
MODES = (CLOSE_AFTER_REQUEST, RST_AFTER_REQUEST, STALL_AFTER_REQUEST, STALL_AFTER_HEADERS, HALF_BODY)


class Reply:
    """One scripted answer. `mode` (one of MODES) plays a transport fault instead; the stalling
    modes hold the socket open for at most `stall` seconds (or until the stand-in stops)."""

    def __init__(self, status=200, headers=None, body=b"", delay=0.0, reset=False, mode=None, stall=5.0):
        if mode is not None and mode not in MODES:
            raise ValueError(f"unknown Reply mode {mode!r}")
        self.status = status
        self.headers = headers or {}
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.delay = delay
        self.reset = reset
        self.mode = mode
        self.stall = stall


class Standin:
    """Answers each request with the next scripted Reply (the last one repeats), or echoes the
    request as JSON when `echo` is set. Records every request it receives."""

    def __init__(self, replies=None, echo=False):
        self.replies = list(replies or [])
        self.echo = echo
        self.requests = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        standin = self

        class Handler(QuietHandler):

            def handle_any(self):
                body = self.read_body()
                record = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                          "body": body, "time": time.monotonic()}
                with standin.lock:
                    standin.requests.append(record)
                    index = len(standin.requests) - 1
                if standin.echo:
                    out = json.dumps({**record, "body": body.decode("latin-1")}).encode()
                    reply = Reply(200, {"content-type": "application/json"}, out)
                else:
                    reply = standin.replies[min(index, len(standin.replies) - 1)]
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.reset:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if reply.mode == CLOSE_AFTER_REQUEST:
                    self.close_connection = True  # the server closes the socket (FIN), nothing sent
                    return
                if reply.mode == RST_AFTER_REQUEST:
                    self.close_connection = True
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.rfile.close()  # drop the reader's reference so close() really closes: RST
                    self.connection.close()
                    return
                if reply.mode == STALL_AFTER_REQUEST:
                    self.close_connection = True
                    standin.stopping.wait(reply.stall)
                    return
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                if reply.mode == STALL_AFTER_HEADERS:
                    self.wfile.flush()
                    self.close_connection = True
                    standin.stopping.wait(reply.stall)
                    return
                if reply.mode == HALF_BODY:
                    self.wfile.write(reply.body[: len(reply.body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

        self.handler = Handler

    def start(self):
        self.server = serve(self.handler, self.port)
        return self

    def stop(self):
        self.stopping.set()  # ends any stall
        self.server.shutdown()
        self.server.server_close()
