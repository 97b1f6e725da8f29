"""Stand-ins for the credential sources that cannot run here: the ECS / EKS Pod Identity container
agent and EC2 instance metadata (IMDSv2). They are kept honest:

- the credentials they hand out are real temporary credentials from moto's STS, so moto checks
  every signature made with them (session token included);
- each issue rotates: every fetch gets a new key with an expiry of its own;
- a token is required (the container agent's Authorization header, IMDSv2's session token);
- the ExpiryGate in front of moto refuses any key used after the expiry it was issued with,
  with AWS's 403 ExpiredTokenException, so a filter that ignored Expiration would fail.
"""

import json
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone

import boto3
import requests

from stack import REGION, QuietHandler, free_port, serve


class CredentialAuthority:
    """Issues moto STS credentials with a lifetime of our choosing and remembers their expiry."""

    def __init__(self, moto, lifetime):
        self.moto = moto
        self.lifetime = lifetime
        self.expiry = {}
        self.revoked = set()
        self.issued = 0
        self.lock = threading.Lock()
        self.sts = boto3.client("sts", endpoint_url=moto.url, region_name=REGION,
                                aws_access_key_id=moto.access_key_id, aws_secret_access_key=moto.secret_access_key)

    def issue(self, lifetime=None):
        """New keys valid for `lifetime` seconds (default: the authority's; negative: already expired)."""
        lifetime = self.lifetime if lifetime is None else lifetime
        creds = self.sts.assume_role(RoleArn=self.moto.role_arn, RoleSessionName=f"standin-{secrets.token_hex(4)}")["Credentials"]
        expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=lifetime)
        with self.lock:
            self.expiry[creds["AccessKeyId"]] = expires
            self.issued += 1
        return {"AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"],
                "Token": creds["SessionToken"], "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def rejects(self, access_key_id):
        with self.lock:
            expires = self.expiry.get(access_key_id)
            return access_key_id in self.revoked or (expires is not None and datetime.now(timezone.utc) >= expires)

    def revoke_all(self):
        with self.lock:
            self.revoked.update(self.expiry)


class _Server:
    def __init__(self, handler_factory):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests = []
        self.up = True
        self.delay = 0.0
        self.server = serve(handler_factory(self), self.port)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def _handler(owner, route):
    class Handler(QuietHandler):

        def handle_any(self):
            body = self.read_body()
            owner.requests.append({"method": self.command, "path": self.path,
                                   "headers": self.lower_headers(), "time": time.monotonic()})
            if owner.delay:
                time.sleep(owner.delay)
            if not owner.up:
                status, headers, out = 500, {}, b"down"
            else:
                status, headers, out = route(self.command, self.path, self.lower_headers(), body)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_PUT = do_POST = handle_any

    return Handler


class ContainerAgent(_Server):
    """The ECS / EKS Pod Identity agent: GET path, Authorization must equal the token."""

    def __init__(self, authority, token, path="/v1/credentials"):
        self.authority, self.token, self.path = authority, token, path

        def route(method, path, headers, body):
            if method != "GET" or path != self.path:
                return 404, {}, b"not found"
            if headers.get("authorization") != self.token:
                return 401, {}, json.dumps({"Code": "Unauthorized"}).encode()
            return 200, {"content-type": "application/json"}, json.dumps(self.authority.issue()).encode()

        super().__init__(lambda owner: _handler(owner, route))

    @property
    def issued(self):
        return sum(1 for r in self.requests if r["method"] == "GET")


class Imds(_Server):
    """IMDSv2: PUT a session token (TTL header required), then GETs carrying it; v1 GETs get 401."""

    def __init__(self, authority, role="lambda-wasm-instance-role"):
        self.authority, self.role, self.tokens = authority, role, set()

        def route(method, path, headers, body):
            if method == "PUT" and path == "/latest/api/token":
                if "x-aws-ec2-metadata-token-ttl-seconds" not in headers:
                    return 400, {}, b"missing TTL"
                token = secrets.token_urlsafe(24)
                self.tokens.add(token)
                return 200, {}, token.encode()
            if headers.get("x-aws-ec2-metadata-token") not in self.tokens:
                return 401, {}, b"unauthorized"
            if path == "/latest/meta-data/iam/security-credentials/":
                return 200, {}, self.role.encode()
            if path == f"/latest/meta-data/iam/security-credentials/{self.role}":
                creds = {"Code": "Success", "Type": "AWS-HMAC", **self.authority.issue()}
                return 200, {}, json.dumps(creds).encode()
            return 404, {}, b"not found"

        super().__init__(lambda owner: _handler(owner, route))


class ExpiryGate(_Server):
    """In front of moto's Lambda API: refuses keys the authority says are expired or revoked
    (403 ExpiredTokenException, as AWS does), forwards everything else unchanged."""

    def __init__(self, authority, moto):
        self.rejected = 0

        def route(method, path, headers, body):
            auth = headers.get("authorization", "")
            key = auth.split("Credential=")[1].split("/")[0] if "Credential=" in auth else ""
            if authority.rejects(key):
                self.rejected += 1
                return 403, {"x-amzn-RequestId": secrets.token_hex(8), "x-amzn-ErrorType": "ExpiredTokenException",
                             "content-type": "application/json"}, \
                    json.dumps({"message": "The security token included in the request is expired"}).encode()
            return _forward(moto, method, path, headers, body)

        super().__init__(lambda owner: _handler(owner, route))


def _forward(moto, method, path, headers, body):
    """Sends a request on to moto unchanged; its answer with Lambda's own headers."""
    r = requests.request(method, moto.url + path, data=body, headers=headers, timeout=10)
    keep = {k: v for k, v in r.headers.items() if k.lower() in ("content-type", "x-amzn-requestid", "x-amzn-errortype")}
    return r.status_code, keep, r.content


class Fault:
    """What a FaultyContainerAgent does with one fetch: wait `delay` seconds, then answer `status`
    (non-200: an error body, no keys), with keys valid for `lifetime` seconds (None: the
    authority's; negative: already expired), with CR/LF injected into the field `poison`
    ("AccessKeyId", "SecretAccessKey" or "Token") when set."""

    def __init__(self, delay=0.0, status=200, lifetime=None, poison=None):
        self.delay, self.status, self.lifetime, self.poison = delay, status, lifetime, poison


class FaultyContainerAgent(_Server):
    """The container agent of ContainerAgent (GET path, Authorization must equal the token) whose
    every fetch is scripted: `plan(n)` gives the Fault for the n-th fetch (0-based). Fetches are
    recorded in `requests` with their arrival time; `fetch_times` lists them."""

    def __init__(self, authority, token, plan, path="/v1/credentials"):
        self.authority, self.token, self.path, self.plan = authority, token, path, plan
        self.count_lock = threading.Lock()
        self.fetches = 0

        def route(method, path, headers, body):
            if method != "GET" or path != self.path:
                return 404, {}, b"not found"
            if headers.get("authorization") != self.token:
                return 401, {}, json.dumps({"Code": "Unauthorized"}).encode()
            with self.count_lock:
                n = self.fetches
                self.fetches += 1
            fault = self.plan(n) or Fault()
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status != 200:
                return fault.status, {"content-type": "application/json"}, \
                    json.dumps({"Code": "InternalError", "Message": "scripted failure"}).encode()
            creds = self.authority.issue(fault.lifetime)
            if fault.poison:
                creds[fault.poison] = creds[fault.poison][:8] + "\r\nX-Injected: 1\r\n" + creds[fault.poison][8:]
            return 200, {"content-type": "application/json"}, json.dumps(creds).encode()

        super().__init__(lambda owner: _handler(owner, route))

    @property
    def fetch_times(self):
        return [r["time"] for r in self.requests if r["method"] == "GET" and r["path"] == self.path]


class KeyRecorder(_Server):
    """In front of moto's Lambda API: records which access key signed each Invoke (never the
    secret), forwards everything unchanged. moto itself checks every signature."""

    def __init__(self, moto):
        self.keys = []

        def route(method, path, headers, body):
            auth = headers.get("authorization", "")
            self.keys.append(auth.split("Credential=")[1].split("/")[0] if "Credential=" in auth else "")
            return _forward(moto, method, path, headers, body)

        super().__init__(lambda owner: _handler(owner, route))
