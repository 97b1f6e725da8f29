"""Getting the filter into Envoy: remote loading by URL and sha256 with the real Envoy."""

import functools
import hashlib
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import lambda_endpoint, plugin
from stack import WASM, cluster, free_port

CREDS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "not-a-real-secret"}


@pytest.fixture
def wasm_server():
    """A plain static file server for the built .wasm (what an artifact store or CDN would be)."""
    port = free_port()
    fetched = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            fetched.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Handler, directory=str(WASM.parent)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield port, fetched
    server.shutdown()
    server.server_close()


def start_remote(start_envoy, port, sha256):
    envoy = start_envoy(plugin(CREDS, lambda_endpoint("/f", {"function_name": "f"})), free_port(),
                        clusters=[cluster("wasm_server", port)], wait=False)
    filters = envoy.config["static_resources"]["listeners"][-1]["filter_chains"][0]["filters"][0]["typed_config"]
    filters["http_filters"][0]["typed_config"]["config"]["vm_config"]["code"] = {"remote": {
        "http_uri": {"uri": f"http://127.0.0.1:{port}/{WASM.name}", "cluster": "wasm_server", "timeout": "5s"},
        "sha256": sha256}}
    return envoy.start()


def test_remote_wasm_with_the_right_sha256_is_loaded(start_envoy, wasm_server):
    port, fetched = wasm_server
    envoy = start_remote(start_envoy, port, hashlib.sha256(WASM.read_bytes()).hexdigest())
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 503 and r.json()["error"] == "lambda_unreachable"  # the filter answered
    assert requests.get(envoy.url + "/elsewhere").status_code == 404  # and passes the rest through
    assert "configured 1 Lambda endpoint(s)" in envoy.log()
    assert fetched == [f"/{WASM.name}"]


def test_remote_wasm_with_a_wrong_sha256_is_refused(start_envoy, wasm_server):
    port, fetched = wasm_server
    envoy = start_remote(start_envoy, port, "0" * 64)
    # Envoy fetched the module, refused it, and fails closed: no request gets past the filter.
    for path in ("/f", "/elsewhere"):
        r = requests.get(envoy.url + path)
        assert r.status_code == 503
        assert "lambda_unreachable" not in r.text
    assert fetched  # it was downloaded...
    assert "configured 1 Lambda endpoint(s)" not in envoy.log()  # ...and never run
