"""What Envoy's web identity provider (IRSA) needs to reach a local STS, for tests.

Envoy 1.40 builds the STS cluster itself (`sts_token_service_internal-<region>`: TLS to
sts.<region>.amazonaws.com:443, resolved by DNS) and refuses a static cluster of that name, so
the only way to point it at a local STS is the way it resolves and connects:

- `DnsStandin`: a small UDP DNS server answering every A query with one loopback address; the
  bootstrap's c-ares resolver is pointed at it (`dns_resolver_config`).
- `WebIdentitySts`: HTTPS on that loopback address, port 443 (so the test needs root, or skips),
  with a self-signed certificate (Envoy's internal cluster sets SNI and does not verify). It
  answers AssumeRoleWithWebIdentity in the JSON Envoy asks for, with real temporary credentials
  from moto's STS AssumeRole (moto checks every signature made with them), a short Expiration of its
  choosing (Envoy refreshes at Expiration), and only for the tokens it currently accepts: a token
  rotated out is refused with AWS's InvalidIdentityToken, so a signer that kept reading the old
  token would lose its keys.

Stand-ins, because nothing here serves DNS or STS over TLS on 443; the credentials are moto's."""

import datetime
import json
import os
import random
import socket
import ssl
import struct
import threading
import time
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from stack import REGION, QuietHandler


class DnsStandin:
    """Answers A queries with `address`, everything else with an empty NOERROR answer."""

    def __init__(self, address):
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.names = []
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while self.running:
            try:
                query, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            answer = self.answer(query)
            if answer:
                self.sock.sendto(answer, peer)

    def answer(self, query):
        if len(query) < 12:
            return None
        ident = query[:2]
        pos, labels = 12, []
        while pos < len(query) and query[pos] != 0:
            length = query[pos]
            labels.append(query[pos + 1:pos + 1 + length].decode("ascii", "replace"))
            pos += 1 + length
        qtype = struct.unpack("!H", query[pos + 1:pos + 3])[0] if pos + 3 <= len(query) else 0
        question = query[12:pos + 5]
        self.names.append(".".join(labels))
        header = ident + struct.pack("!HHHHH", 0x8180, 1, 1 if qtype == 1 else 0, 0, 0)
        if qtype != 1:
            return header + question
        record = struct.pack("!HHHLH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton(self.address)
        return header + question + record

    def resolver_config(self):
        """The bootstrap's `typed_dns_resolver_config`: c-ares asking only this server."""
        return {"name": "envoy.network.dns_resolver.cares", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig",
            "resolvers": [{"socket_address": {"address": "127.0.0.1", "port_value": self.port}}],
            "use_resolvers_as_fallback": False,
            "dns_resolver_options": {"no_default_search_domain": True}}}

    def stop(self):
        self.running = False
        self.sock.close()


def self_signed(directory, host):
    """A certificate and key for `host`, written to `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "sts.crt", directory / "sts.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class WebIdentitySts:
    """STS's AssumeRoleWithWebIdentity over HTTPS on `address`:443, for the tokens in `accepted`."""

    def __init__(self, moto, address, directory, lifetime=3):
        self.moto = moto
        self.lifetime = lifetime
        self.accepted = set()
        self.calls = []  # (monotonic time, token, answered access key id or None)
        self.lock = threading.Lock()
        self.sts = boto3.client("sts", endpoint_url=moto.url, region_name=REGION,
                                aws_access_key_id=moto.access_key_id, aws_secret_access_key=moto.secret_access_key)
        host = f"sts.{REGION}.amazonaws.com"
        cert, key = self_signed(directory, host)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server = ThreadingHTTPServer((address, 443), self._handler())
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(owner):
        class Handler(QuietHandler):
            def handle_any(self):
                self.read_body()
                query = parse_qs(urlsplit(self.path).query)
                token = query.get("WebIdentityToken", [""])[0]
                with owner.lock:
                    accepted = token in owner.accepted
                if query.get("Action") != ["AssumeRoleWithWebIdentity"] or not accepted:
                    owner.calls.append((time.monotonic(), token, None))
                    body = {"Error": {"Code": "InvalidIdentityToken", "Message": "token not accepted"}}
                    return self.answer(400, body)
                # moto answers an unsigned AssumeRoleWithWebIdentity with a 500 while it checks
                # signatures; the token is checked here, the role's keys come from AssumeRole.
                creds = owner.sts.assume_role(
                    RoleArn=query.get("RoleArn", [owner.moto.role_arn])[0],
                    RoleSessionName=query.get("RoleSessionName", ["irsa"])[0])["Credentials"]
                owner.calls.append((time.monotonic(), token, creds["AccessKeyId"]))
                result = {"AssumeRoleWithWebIdentityResponse": {"AssumeRoleWithWebIdentityResult": {
                    "Credentials": {"AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"],
                                    "SessionToken": creds["SessionToken"],
                                    "Expiration": int(time.time()) + owner.lifetime}}}}
                self.answer(200, result)

            def answer(self, status, document):
                out = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = handle_any
        return Handler

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def project_token(directory, token, generation):
    """Writes the token the way kubelet's projected volume does: a new timestamped directory, then
    `..data` swapped to it by a rename (the move Envoy's watched_directory sees); `token` is a
    symlink through `..data`."""
    version = directory / f"..2026_12_01_{generation:04d}"
    version.mkdir()
    (version / "token").write_text(token)
    os.symlink(version.name, directory / "..data_tmp")
    os.replace(directory / "..data_tmp", directory / "..data")
    if not (directory / "token").is_symlink():
        os.symlink("..data/token", directory / "token")


def loopback_sts(moto, servers, tmp_path, lifetime=2):
    """The STS stand-in on a random loopback address, the DNS stand-in naming it, and a projected
    token directory holding `token-1`, which STS accepts. Skips without root (port 443)."""
    address = f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    try:
        sts = WebIdentitySts(moto, address, tmp_path, lifetime=lifetime)
    except PermissionError:
        pytest.skip("the STS stand-in listens on port 443, where Envoy's STS cluster connects: needs root")
    dns = DnsStandin(address)
    servers.extend([sts, dns])
    tokens = tmp_path / "serviceaccount"
    tokens.mkdir()
    sts.accepted.add("token-1")
    project_token(tokens, "token-1", 1)
    return sts, dns, tokens


def rotate_token(sts, tokens, token, generation):
    """kubelet rotates the token; STS refuses the old one half a second later (so a reader of the
    old token loses its keys). Returns when the old token was refused from."""
    with sts.lock:
        old = set(sts.accepted)
        sts.accepted.add(token)
    project_token(tokens, token, generation)
    time.sleep(0.5)
    with sts.lock:
        sts.accepted -= old
    return time.monotonic()
