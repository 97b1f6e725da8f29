"""A stand-in for a Lambda Function URL (moto implements Function URL configs but serves no
invocations at them): it checks the SigV4 signature of every request with botocore, an
independent implementation, at the request's own X-Amz-Date, records what arrived, and answers
as a function's HTTP response would, optionally streamed chunk by chunk."""

import hashlib
import json
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from stack import QuietHandler, free_port, serve


def signature_valid(method, host, path, headers, body, key_id, secret, region):
    """Recomputes the signature of a received request with botocore; True when it matches."""
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 ") or key_id not in auth:
        return False
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    request = AWSRequest(method=method, url=f"http://{host}{path}", data=body,
                         headers={name: headers[name] for name in signed if name in headers})
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(key_id, secret), "lambda", region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    body_hash = headers.get("x-amz-content-sha256")
    return auth.endswith(f"Signature={expected}") and body_hash == hashlib.sha256(body).hexdigest()


class FunctionUrl:
    """Serves on 127.0.0.1: `check` = (key id, secret, region) to require SigV4, or None for
    auth NONE. Answers 200 with a JSON echo of the request, or streams `chunks` (bytes, sent
    `gap` seconds apart, chunked encoding) when given. `requests` records what arrived."""

    def __init__(self, check=None, chunks=None, gap=0.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests = []
        self.chunk_times = []
        owner = self

        class Handler(QuietHandler):

            def handle_any(self):
                body = self.read_body()
                headers = self.lower_headers()
                valid = check is None or signature_valid(self.command, headers.get("host", ""), self.path,
                                                         headers, body, *check)
                owner.requests.append({"method": self.command, "path": self.path, "headers": headers,
                                       "body": body, "signature_valid": valid})
                if not valid:
                    out = b'{"Message":"Forbidden"}'
                    self.send_response(403)
                    self.send_header("x-amzn-requestid", "req-403")
                    self.send_header("x-amzn-errortype", "AccessDeniedException")
                    self.send_header("content-length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                if chunks is not None:
                    self.send_response(200)
                    self.send_header("x-amzn-requestid", "req-stream")
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    for chunk in chunks:
                        owner.chunk_times.append(time.monotonic())
                        self.write_chunk(chunk)
                        time.sleep(gap)
                    self.write_chunk(b"")
                    return
                out = json.dumps({"method": self.command, "path": self.path,
                                  "body": body.decode("latin-1")}).encode()
                self.send_response(201)
                self.send_header("x-amzn-requestid", "req-url")
                self.send_header("content-type", "application/json")
                self.send_header("set-cookie", "session=abc; HttpOnly")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

        self.server = serve(Handler, self.port)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
