import json
import sys
from pathlib import Path

import jsonschema
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "envoy"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import WASM, Envoy, Moto, cluster, envoy_config, free_port  # noqa: E402
from standin import Standin  # noqa: E402


SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "envoy" / "lambda-wasm.schema.json").read_text())


def pytest_sessionstart(session):
    if not WASM.exists():
        pytest.exit(f"{WASM} is missing: run `make build` (or `make test`) first", returncode=2)


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """One moto for the session: signature checking on, echo functions created."""
    m = Moto(log_dir=tmp_path_factory.mktemp("moto")).start()
    m.functions = {"echo": m.create_function("echo", alias="live")}
    m.enable_auth()
    yield m
    m.stop()


@pytest.fixture
def start_envoy(tmp_path):
    """Starts the real Envoy with the filter. Stops every Envoy the test started."""
    started = []

    def start(plugin, lambda_port=None, clusters=None, env=None, upstream_port=None, wait=True, env_keys=(),
              concurrency=1, extra_listeners=(), first_routes=(), bootstrap=None):
        if wait:
            # Every configuration a test expects Envoy to run must pass the published schema.
            jsonschema.validate(plugin, SCHEMA)
        lp, ap = free_port(), free_port()
        all_clusters = list(clusters or [])
        if lambda_port is not None:
            all_clusters.append(cluster("lambda", lambda_port))
        if upstream_port is not None:
            all_clusters.append(cluster("app", upstream_port))
        config = envoy_config(lp, ap, plugin, all_clusters, env_keys=env_keys,
                              upstream_cluster="app" if upstream_port else None, extra_listeners=extra_listeners,
                              first_routes=first_routes)
        config.update(bootstrap or {})
        e = Envoy(config, lp, ap, env=env, log_dir=tmp_path / f"envoy-{len(started)}", concurrency=concurrency)
        e.dir.mkdir(parents=True, exist_ok=True)
        started.append(e)
        return e.start() if wait else e

    yield start
    for e in started:
        e.stop()


@pytest.fixture
def servers():
    """Servers a test starts itself (credential stand-ins, gates): stopped after the test."""
    started = []
    yield started
    for s in started:
        s.stop()


@pytest.fixture
def standin():
    servers = []

    def make(replies=None, echo=False):
        s = Standin(replies, echo).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


def lambda_endpoint(path, block, method="GET", timeout=None, backend_method=None):
    endpoint = {"endpoint": path, "method": method,
                "backend": [{"host": ["ignore"], "url_pattern": "/ignore",
                             "extra_config": {"backend/lambda": {"region": "us-east-1", **block}}}]}
    if timeout:
        endpoint["timeout"] = timeout
    if backend_method:
        endpoint["backend"][0]["method"] = backend_method
    return endpoint


def plugin(moto_or_creds, *endpoints, **top):
    creds = moto_or_creds
    if hasattr(moto_or_creds, "access_key_id"):
        creds = {"access_key_id": moto_or_creds.access_key_id,
                 "secret_access_key": moto_or_creds.secret_access_key}
    config = {"endpoints": list(endpoints), **top}
    if creds is not None:
        config["credentials"] = creds
    return config
