"""The Istio manifests in the real Envoy. No Istio runs here, so each test builds the Envoy
configuration istiod and istio-agent would give the proxy, from the manifests' own patch values:
the route configuration of a Gateway server port 80 with a host-specific VirtualService, or a
sidecar's shared outbound port-80 listener with a second service; the EXTENSION_CONFIG delivered by
ECDS (from a file here, with the module as a local file, as istio-agent rewrites it); the patches
applied as istiod applies them. The Lambda API is moto with signature checking on; the EKS Pod
Identity agent and IMDSv2 are the stand-ins of credential_standins.py, handing out moto's
temporary credentials. tests/test_istio_schemas.py checks the same manifests against Istio's own
schemas and go-control-plane; the OCI image is checked with skopeo."""

import copy
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time

import pytest
import requests
import yaml

from credential_standins import ContainerAgent, CredentialAuthority, Imds
from stack import BIN, ROOT, ROUTER, WASM, Envoy, cluster, free_port, wait_until
from standin import Standin
from sts_standin import loopback_sts, rotate_token

ISTIO = ROOT / "envoy" / "istio"
ECDS_TYPE = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
TOKEN = "eks-pod-identity-token-for-test"


def docs(name):
    return [d for d in yaml.safe_load_all((ISTIO / name).read_text()) if d]


def envoy_filter(name, namespace=None):
    [doc] = [d for d in docs(name) if d["kind"] == "EnvoyFilter"
             and (namespace is None or d["metadata"]["namespace"] == namespace)]
    return doc


def patch_values(doc, apply_to, operation=None):
    return [copy.deepcopy(p["patch"]["value"]) for p in doc["spec"]["configPatches"]
            if p["applyTo"] == apply_to and (operation is None or p["patch"]["operation"] == operation)]


def plugin_config(doc):
    [ext] = patch_values(doc, "EXTENSION_CONFIG")
    return json.loads(ext["typed_config"]["config"]["configuration"]["value"])


def static_cluster(value, port):
    """A patched cluster pointed at a loopback port, everything else kept (no TLS here)."""
    value = copy.deepcopy(value)
    value.pop("transport_socket", None)
    value.update(type="STATIC", load_assignment=cluster(value["name"], port)["load_assignment"])
    value.pop("dns_lookup_family", None)
    return value


def ecds_file(tmp_path, extension, name="ecds.json"):
    """The EXTENSION_CONFIG as istio-agent forwards it: the image pulled, `remote` made `local`."""
    extension = copy.deepcopy(extension)
    if extension["typed_config"]["@type"].endswith("wasm.v3.Wasm"):
        code = extension["typed_config"]["config"]["vm_config"]["code"]
        assert code["remote"]["http_uri"]["uri"].startswith("oci://")
        extension["typed_config"]["config"]["vm_config"]["code"] = {"local": {"filename": str(WASM)}}
    path = tmp_path / name
    tmp = tmp_path / (name + ".tmp")
    tmp.write_text(json.dumps({"resources": [{"@type": ECDS_TYPE, **extension}]}))
    tmp.rename(path)  # Envoy watches the file for a move onto it
    return path


def from_file(http_filter, path):
    """The HTTP filter patch with its ADS config source replaced by the ECDS file."""
    http_filter = copy.deepcopy(http_filter)
    source = http_filter["config_discovery"]["config_source"]
    assert source.pop("ads") == {}
    source["path_config_source"] = {"path": str(path)}
    return http_filter


def listener(name, port, http_filters, route_config, buffer_limit=None):
    out = {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
           "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
               "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
               "stat_prefix": name, "route_config": route_config,
               "http_filters": list(http_filters) + [ROUTER]}}]}]}
    if buffer_limit:
        out["per_connection_buffer_limit_bytes"] = buffer_limit
    return out


def pod_identity(tmp_path, namespace, agent_port, token_file):
    """pod-identity-token.yaml's listener and clusters for one workload, with the listener on a free
    port and the agent at the stand-in; the SDS file of its ConfigMap names the token file here."""
    doc = envoy_filter("pod-identity-token.yaml", namespace)
    [config_map] = [d for d in docs("pod-identity-token.yaml")
                    if d["kind"] == "ConfigMap" and d["metadata"]["namespace"] == namespace]
    [(sds_name, sds_text)] = config_map["data"].items()
    sds = yaml.safe_load(sds_text)
    secret = sds["resources"][0]["generic_secret"]["secret"]
    assert secret["filename"].endswith("/eks-pod-identity-token")
    secret["filename"] = str(token_file)
    (tmp_path / sds_name).write_text(json.dumps(sds))
    [lis] = patch_values(doc, "LISTENER", "ADD")
    port = free_port()
    lis["address"]["socket_address"]["port_value"] = port
    hcm = lis["filter_chains"][0]["filters"][0]["typed_config"]
    source = hcm["http_filters"][0]["typed_config"]["credential"]["typed_config"]["credential"]["sds_config"]
    assert source["path_config_source"]["path"].endswith("/" + sds_name)
    source["path_config_source"]["path"] = str(tmp_path / sds_name)
    clusters = {c["name"]: c for c in patch_values(doc, "CLUSTER", "ADD")}
    injector = clusters.pop("lambda-wasm-pod-identity-token")
    [agent] = clusters.values()
    return [lis], [static_cluster(injector, port), static_cluster(agent, agent_port)]


def start(config, envoys, tmp_path, env=None):
    lp = config["static_resources"]["listeners"][-1]["address"]["socket_address"]["port_value"]
    e = Envoy(config, lp, config["admin"]["address"]["socket_address"]["port_value"], env=env,
              log_dir=tmp_path / f"envoy-{len(envoys)}")
    e.dir.mkdir(parents=True, exist_ok=True)
    envoys.append(e)
    return e.start()


def bootstrap(listeners, clusters):
    return {"node": {"id": "router~10.0.0.1~istio-ingressgateway-0.istio-system~istio-system.svc.cluster.local",
                     "cluster": "istio-ingressgateway.istio-system"},
            "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": free_port()}}},
            "static_resources": {"listeners": listeners, "clusters": clusters}}


@pytest.fixture
def envoys():
    started = []
    yield started
    for e in started:
        e.stop()


@pytest.fixture
def pod_identity_agent(moto, servers, tmp_path):
    """The EKS Pod Identity agent (stand-in) and the pod's token file."""
    agent = ContainerAgent(CredentialAuthority(moto, 900), TOKEN)
    servers.append(agent)
    token_file = tmp_path / "eks-pod-identity-token"
    token_file.write_text(TOKEN)
    return agent, token_file


# --- the ingress gateway: envoyfilter-gateway.yaml + pod-identity-token.yaml -----------------------

def gateway_config(tmp_path, moto, agent, token_file, app_port, with_lambda_vhost=True):
    """What the gateway proxy gets for a Gateway server port 80 (listener on targetPort 8080, route
    configuration http.8080) and a VirtualService for orders.example.com only, as istiod 1.28 builds
    it (pilot/pkg/networking/core/gateway.go: one virtual host per host, exact domains, port ignored
    in host matching), with envoyfilter-gateway.yaml's patches applied."""
    doc = envoy_filter("envoyfilter-gateway.yaml")
    [extension] = patch_values(doc, "EXTENSION_CONFIG", "ADD")
    [http_filter] = patch_values(doc, "HTTP_FILTER", "INSERT_BEFORE")
    [merge] = patch_values(doc, "LISTENER", "MERGE")
    [vhost] = patch_values(doc, "VIRTUAL_HOST", "ADD")
    [in_place] = patch_values(doc, "CLUSTER", "ADD")
    route_config = {"name": "http.8080", "validate_clusters": False, "ignore_port_in_host_matching": True,
                    "virtual_hosts": [{"name": "orders.example.com:80", "domains": ["orders.example.com"],
                                       "routes": [{"name": "vs-orders", "match": {"prefix": "/"},
                                                   "route": {"cluster": "outbound|80||app.default.svc.cluster.local"}}]}]}
    if with_lambda_vhost:
        route_config["virtual_hosts"].append(vhost)
    port = free_port()
    main = listener("0.0.0.0_8080", port, [from_file(http_filter, ecds_file(tmp_path, extension))], route_config,
                    buffer_limit=merge["per_connection_buffer_limit_bytes"])
    identity_listeners, identity_clusters = pod_identity(tmp_path, "istio-system", agent.port, token_file)
    clusters = [static_cluster(in_place, moto.port),
                cluster(plugin_config(doc)["cluster"], moto.port),
                cluster("outbound|80||app.default.svc.cluster.local", app_port)] + identity_clusters
    # Envoy's own signer (in-place) reads the Pod Identity variables from istio-proxy's environment.
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://127.0.0.1:{agent.port}/v1/credentials",
           "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file)}
    return bootstrap(identity_listeners + [main], clusters), env


def retry_until_ok(send, timeout=10):
    """Envoy's signer fetches its credentials once it starts: the first requests may find none yet."""
    deadline = time.monotonic() + timeout
    while True:
        r = send()
        if r.status_code == 200 or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def test_gateway_serves_callouts_and_in_place_on_a_host_specific_virtual_host(
        moto, pod_identity_agent, servers, envoys, tmp_path):
    agent, token_file = pod_identity_agent
    app = Standin(echo=True).start()
    servers.append(app)
    config, env = gateway_config(tmp_path, moto, agent, token_file, app.port)
    envoy = start(config, envoys, tmp_path, env)
    host = {"host": "orders.example.com"}
    # Callout, EKS Pod Identity through the token-injecting listener (the filter never sees the token).
    r = requests.get(envoy.url + "/orders/42", headers=host)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "42"}
    assert any(q["path"] == "/v1/credentials" and q["headers"].get("authorization") == TOKEN for q in agent.requests)
    # A POST body reaches the filter (allow_on_headers_stop_iteration kept), as an API Gateway event.
    r = requests.post(envoy.url + "/orders", headers=host, data=b'{"item": 7}')
    assert r.status_code == 200, r.text
    # In place: the rewritten request leaves the orders.example.com virtual host for the Lambda
    # host's, and Envoy's signer signs it with the Pod Identity credentials it reads from the file.
    before = moto.invoked_paths()
    body = b'{"upload": "' + b"x" * (2 * 1024 * 1024) + b'"}'  # above Envoy's 1 MiB default buffer
    r = retry_until_ok(lambda: requests.post(envoy.url + "/uploads", headers=host, data=body))
    assert r.status_code == 200, r.text[:500]
    assert r.content == body
    assert "/2015-03-31/functions/uploads/invocations" in moto.invoked_paths()[len(before):]
    # A `signing: envoy` callout: the filter sends it unsigned to the same cluster, whose signer
    # signs it with the same Pod Identity credentials.
    r = retry_until_ok(lambda: requests.get(envoy.url + "/reports/7", headers=host))
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "7"}
    assert moto.invoked_paths()[-1] == "/2015-03-31/functions/reports/invocations"
    # The gateway's own routes are untouched, and a client naming the Lambda host itself finds no
    # route: only the filter's filter state leads to the signing cluster.
    assert requests.get(envoy.url + "/catalog", headers=host).json()["path"] == "/catalog"
    invoked = len(moto.invoked_paths())
    r = requests.post(envoy.url + "/2015-03-31/functions/uploads/invocations",
                      headers={"host": "lambda.us-east-1.amazonaws.com"}, data=b"{}")
    assert r.status_code == 404
    assert len(moto.invoked_paths()) == invoked
    # kubelet rotates the token (a new file moved into place) and the agent takes only the new one:
    # the injecting listener sends the new token without any reload of its own configuration.
    injector = config["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
    rotated = token_file.with_name("new-token")
    rotated.write_text("rotated-" + TOKEN)
    rotated.rename(token_file)
    agent.token = "rotated-" + TOKEN
    deadline = time.monotonic() + 5
    while requests.get(f"http://127.0.0.1:{injector}/v1/credentials").status_code != 200:
        assert time.monotonic() < deadline, "the rotated token was not picked up"
        time.sleep(0.1)


def test_gateway_envoy_signing_with_irsa_follows_the_rotated_token(
        moto, pod_identity_agent, servers, envoys, tmp_path):
    """IRSA on the gateway: the webhook's AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE in
    istio-proxy's environment, read by Envoy's own credential chain for the Envoy-signed cluster
    (`signing: envoy` callouts and in-place requests). Envoy's STS cluster reaches the STS stand-in
    through the DNS stand-in (sts_standin.py); kubelet rotates the token and STS refuses the old
    one, so requests keep working only if Envoy reads the new token."""
    agent, token_file = pod_identity_agent
    sts, dns, tokens = loopback_sts(moto, servers, tmp_path)
    config, _ = gateway_config(tmp_path, moto, agent, token_file, free_port())
    config["typed_dns_resolver_config"] = dns.resolver_config()
    env = {"AWS_ROLE_ARN": moto.role_arn, "AWS_WEB_IDENTITY_TOKEN_FILE": str(tokens / "token"),
           "AWS_ROLE_SESSION_NAME": "istio-gateway"}
    envoy = start(config, envoys, tmp_path, env)
    host = {"host": "orders.example.com"}
    for round_ in range(2):
        r = retry_until_ok(lambda: requests.get(envoy.url + "/reports/9", headers=host))
        assert r.status_code == 200, r.text
        assert r.json() == {"id": "9"}
        r = requests.post(envoy.url + "/uploads", headers=host, data=b'{"round": %d}' % round_)
        assert r.status_code == 200, r.text
        if round_ == 0:
            rotated = rotate_token(sts, tokens, "token-2", 2)
            wait_until(lambda: any(t > rotated and key for t, _, key in sts.calls), what="an STS call after rotation")
    assert all(key for _, _, key in sts.calls), [token for _, token, key in sts.calls if not key]
    assert {token for t, token, _ in sts.calls if t > rotated} == {"token-2"}


def test_without_the_lambda_virtual_host_in_place_finds_no_route(moto, pod_identity_agent, servers, envoys, tmp_path):
    """The failure the VIRTUAL_HOST patch prevents: with host-specific virtual hosts only, the
    rewritten request matches none and the filter answers 500 lambda_route_missing."""
    agent, token_file = pod_identity_agent
    config, env = gateway_config(tmp_path, moto, agent, token_file, free_port(), with_lambda_vhost=False)
    envoy = start(config, envoys, tmp_path, env)
    r = requests.post(envoy.url + "/uploads", headers={"host": "orders.example.com"}, data=b"{}")
    assert r.status_code == 500
    assert "lambda_route_missing" in r.text


def test_gateway_with_instance_profile_credentials(moto, servers, envoys, tmp_path):
    """The node's instance profile (IMDSv2) through lambda-serviceentry.yaml's ServiceEntry, whose
    Istio cluster is outbound|80||<host>: the credentials block its comment gives."""
    [entry] = [d for d in docs("lambda-serviceentry.yaml") if d["metadata"]["name"] == "instance-metadata"]
    assert entry["spec"]["endpoints"] == [{"address": "169.254.169.254"}]
    imds_cluster = f"outbound|{entry['spec']['ports'][0]['number']}||{entry['spec']['hosts'][0]}"
    credentials = {"chain": ["instance_metadata"], "instance_metadata": {"cluster": imds_cluster}}
    assert json.dumps(credentials)[1:-1] in " ".join(
        line.lstrip("# ") for line in (ISTIO / "lambda-serviceentry.yaml").read_text().splitlines())
    imds = Imds(CredentialAuthority(moto, 900))
    servers.append(imds)
    doc = envoy_filter("envoyfilter-gateway.yaml")
    [extension] = patch_values(doc, "EXTENSION_CONFIG")
    config = plugin_config(doc)
    config["credentials"] = credentials
    extension["typed_config"]["config"]["configuration"]["value"] = json.dumps(config)
    [http_filter] = patch_values(doc, "HTTP_FILTER")
    port = free_port()
    route_config = {"virtual_hosts": [{"name": "orders.example.com:80", "domains": ["orders.example.com"],
                                       "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 404}}]}]}
    main = listener("0.0.0.0_8080", port, [from_file(http_filter, ecds_file(tmp_path, extension))], route_config)
    envoy = start(bootstrap([main], [cluster(config["cluster"], moto.port), cluster(imds_cluster, imds.port)]),
                  envoys, tmp_path)
    r = requests.get(envoy.url + "/orders/7", headers={"host": "orders.example.com"})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "7"}
    assert [q["method"] for q in imds.requests][:1] == ["PUT"]  # IMDSv2: session token first


# --- the sidecar: envoyfilter-sidecar.yaml + pod-identity-token.yaml -----------------------------

def sidecar_vhost(service, port=80):
    """A sidecar's outbound virtual host for a Kubernetes service, named and with domains as istiod
    1.28 builds them (pilot/pkg/networking/core/httproute.go)."""
    fqdn = f"{service}.orders.svc.cluster.local"
    short = [fqdn, f"{service}.orders.svc", f"{service}.orders", service]
    return {"name": f"{fqdn}:{port}", "domains": short + [f"{h}:{port}" for h in short],
            "routes": [{"name": "default", "match": {"prefix": "/"},
                        "route": {"cluster": f"outbound|{port}||{fqdn}"}}]}


def apply_vhost_merges(doc, route_config):
    """EnvoyFilter VIRTUAL_HOST MERGE patches, matched as istiod matches them (route configuration
    named after the port for sidecars, then the virtual host name) and merged (maps merge by key)."""
    applied = 0
    for p in doc["spec"]["configPatches"]:
        if p["applyTo"] != "VIRTUAL_HOST" or p["patch"]["operation"] != "MERGE":
            continue
        match = p["match"]["routeConfiguration"]
        assert p["match"]["context"] == "SIDECAR_OUTBOUND"
        if str(match["portNumber"]) != route_config["name"]:
            continue
        for vhost in route_config["virtual_hosts"]:
            if vhost["name"] == match["vhost"]["name"]:
                for key, value in p["patch"]["value"].items():
                    assert isinstance(value, dict)
                    vhost.setdefault(key, {}).update(copy.deepcopy(value))
                applied += 1
    return applied


def test_sidecar_filter_takes_only_the_lambda_service(moto, pod_identity_agent, servers, envoys, tmp_path):
    agent, token_file = pod_identity_agent
    inventory = Standin(echo=True).start()
    servers.append(inventory)
    doc = envoy_filter("envoyfilter-sidecar.yaml")
    [service] = [d for d in docs("envoyfilter-sidecar.yaml") if d["kind"] == "Service"]
    assert "selector" not in service["spec"] and service["spec"]["ports"][0]["name"] == "http"
    name, port = service["metadata"]["name"], service["spec"]["ports"][0]["port"]
    [extension] = patch_values(doc, "EXTENSION_CONFIG", "ADD")
    [http_filter] = patch_values(doc, "HTTP_FILTER", "INSERT_BEFORE")
    assert http_filter["disabled"] is True
    # The shared outbound port-80 listener: the lambda Service and another service, inventory.
    route_config = {"name": str(port), "validate_clusters": False,
                    "virtual_hosts": [sidecar_vhost("inventory"), sidecar_vhost(name, port)]}
    assert apply_vhost_merges(doc, route_config) == 1
    ecds = ecds_file(tmp_path, extension)
    main = listener("0.0.0.0_80", free_port(), [from_file(http_filter, ecds)], route_config)
    identity_listeners, identity_clusters = pod_identity(tmp_path, "orders", agent.port, token_file)
    lambda_service = cluster(f"outbound|80||{name}.orders.svc.cluster.local", 9)
    lambda_service["load_assignment"]["endpoints"] = []  # a Service without endpoints
    clusters = [cluster(plugin_config(doc)["cluster"], moto.port), lambda_service,
                cluster("outbound|80||inventory.orders.svc.cluster.local", inventory.port)] + identity_clusters
    envoy = start(bootstrap(identity_listeners + [main], clusters), envoys, tmp_path)
    invoked = len(moto.invoked_paths())
    # Another service's request with an endpoint's shape passes untouched, body and all.
    for method, body in (("GET", b""), ("POST", b'{"n": 1}')):
        r = requests.request(method, envoy.url + "/orders/42", headers={"host": "inventory"}, data=body)
        assert r.status_code == 200, r.text
        seen = r.json()
        assert (seen["method"], seen["path"], seen["body"]) == (method, "/orders/42", body.decode())
    assert len(moto.invoked_paths()) == invoked
    # The lambda Service, by any of its names: the filter invokes the function.
    for host in (name, f"{name}.orders.svc.cluster.local", f"{name}.orders.svc.cluster.local:80"):
        r = requests.get(envoy.url + "/orders/42", headers={"host": host})
        assert r.status_code == 200, (host, r.text)
        assert r.json() == {"id": "42"}
    assert len(moto.invoked_paths()) == invoked + 3
    assert all(q["headers"].get("authorization") == TOKEN for q in agent.requests)
    # When istio-agent cannot pull the image it sends an RBAC deny-all filter under the same name
    # (FAIL_CLOSED): the HTTP filter accepts that type, the lambda Service is refused, and the
    # other service still is not touched.
    deny = {"name": extension["name"], "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        "rules": {}, "rules_stat_prefix": "wasm-default-deny"}}
    ecds_file(tmp_path, deny)
    deadline = time.monotonic() + 10
    while requests.get(envoy.url + "/orders/42", headers={"host": name}).status_code != 403:
        assert time.monotonic() < deadline, envoy.log()[-2000:]
        time.sleep(0.1)
    assert requests.get(envoy.url + "/orders/42", headers={"host": "inventory"}).status_code == 200


# --- the alternative: alternatives/wasmplugin.yaml ------------------------------------------------

def test_wasmplugin_config_is_accepted_and_needs_no_body(tmp_path):
    [plugin] = docs("alternatives/wasmplugin.yaml")
    assert plugin["kind"] == "WasmPlugin" and "allow_on_headers_stop_iteration" not in json.dumps(plugin)
    config = plugin["spec"]["pluginConfig"]
    # Without the flag no body reaches the filter: every endpoint must take its payload from the path.
    for endpoint in config["endpoints"]:
        assert endpoint.get("method", "GET") == "GET"
        block = endpoint["backend"][0]["extra_config"]["backend/lambda"]
        assert block.get("event_format", "krakend") == "krakend" and block.get("mode", "callout") == "callout"
    # The same listener, credentials and Lambda cluster as the EnvoyFilter variant.
    gateway = envoy_filter("envoyfilter-gateway.yaml")
    [http_filter] = [p for p in gateway["spec"]["configPatches"] if p["applyTo"] == "HTTP_FILTER"]
    assert plugin["spec"]["match"] == [{"mode": "CLIENT", "ports": [{"number": http_filter["match"]["listener"]["portNumber"]}]}]
    assert config["credentials"] == plugin_config(gateway)["credentials"]
    assert config["cluster"] == plugin_config(gateway)["cluster"]
    wasm = {"@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {"root_id": plugin["spec"]["pluginName"],
                       "vm_config": {"runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": str(WASM)}}},
                       "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                         "value": json.dumps(config)}}}
    route_config = {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
        {"match": {"prefix": "/"}, "direct_response": {"status": 404}}]}]}
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(bootstrap([listener("l", free_port(), [{"name": "lambda-wasm", "typed_config": wasm}],
                                                   route_config)], [])))
    r = subprocess.run([str(BIN / "envoy"), "--mode", "validate", "-c", str(path), "--base-id", str(4300 + os.getpid() % 600)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    assert "configured 1 Lambda endpoint(s)" in r.stdout + r.stderr


# --- what `kubectl apply -f envoy/istio/` installs, and the pods' side ------------------------------

def test_applying_the_directory_installs_one_filter_per_workload():
    """kubectl apply -f DIR reads the directory's own .yaml/.yml/.json files, not subdirectories:
    that is the EnvoyFilter variant; the WasmPlugin variant lives in alternatives/."""
    top = [(p.name, d) for p in sorted(ISTIO.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    installers = {}
    for name, d in top:
        assert {"apiVersion", "kind"} <= set(d) and d["metadata"].get("namespace"), name
        assert d["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "lambda-wasm", (name, d["kind"])
        wasm = d["kind"] == "WasmPlugin" or (d["kind"] == "EnvoyFilter" and any(
            p["applyTo"] == "HTTP_FILTER" for p in d["spec"]["configPatches"]))
        if wasm:
            key = (d["metadata"]["namespace"], json.dumps(d["spec"].get("workloadSelector") or d["spec"].get("selector"),
                                                           sort_keys=True))
            installers.setdefault(key, []).append(f"{name}:{d['metadata']['name']}")
    assert all(len(v) == 1 for v in installers.values()), installers
    assert len(installers) == 2  # the ingress gateway and the orders-client sidecars
    [plugin] = docs("alternatives/wasmplugin.yaml")
    gateway = envoy_filter("envoyfilter-gateway.yaml")
    assert plugin["spec"]["selector"]["matchLabels"] == gateway["spec"]["workloadSelector"]["labels"]
    variants = {plugin["metadata"]["labels"]["lambda-wasm/variant"], gateway["metadata"]["labels"]["lambda-wasm/variant"]}
    assert len(variants) == 2
    assert "ALTERNATIVE" in (ISTIO / "alternatives" / "wasmplugin.yaml").read_text().splitlines()[0]


def test_pods_mount_what_the_pod_identity_filters_read():
    """The gateway's Helm values and the sidecar workload's patch mount the projected token and the
    ConfigMap exactly where pod-identity-token.yaml's SDS file and ConfigMap expect them."""
    values = yaml.safe_load((ISTIO / "pod-setup" / "gateway-helm-values.yaml").read_text())
    patch = yaml.safe_load((ISTIO / "pod-setup" / "orders-client-patch.yaml").read_text())
    annotations = patch["spec"]["template"]["metadata"]["annotations"]
    sidecar_volumes = json.loads(annotations["sidecar.istio.io/userVolume"])
    sidecar_mounts = json.loads(annotations["sidecar.istio.io/userVolumeMount"])
    setups = {"istio-system": ({v["name"]: v for v in values["volumes"]}, {m["name"]: m for m in values["volumeMounts"]}),
              "orders": (sidecar_volumes, sidecar_mounts)}
    for namespace, (volumes, mounts) in setups.items():
        [config_map] = [d for d in docs("pod-identity-token.yaml")
                        if d["kind"] == "ConfigMap" and d["metadata"]["namespace"] == namespace]
        [(sds_name, sds_text)] = config_map["data"].items()
        token_path = yaml.safe_load(sds_text)["resources"][0]["generic_secret"]["secret"]["filename"]
        [lis] = patch_values(envoy_filter("pod-identity-token.yaml", namespace), "LISTENER")
        hcm = lis["filter_chains"][0]["filters"][0]["typed_config"]
        sds_path = hcm["http_filters"][0]["typed_config"]["credential"]["typed_config"]["credential"][
            "sds_config"]["path_config_source"]["path"]
        [cm_volume] = [n for n, v in volumes.items() if v.get("configMap", {}).get("name") == config_map["metadata"]["name"]]
        assert mounts[cm_volume]["mountPath"] + "/" + sds_name == sds_path, namespace
        [token_volume] = [n for n, v in volumes.items() if "projected" in v]
        [source] = volumes[token_volume]["projected"]["sources"]
        assert source["serviceAccountToken"]["audience"] == "pods.eks.amazonaws.com"
        assert mounts[token_volume]["mountPath"] + "/" + source["serviceAccountToken"]["path"] == token_path, namespace
    # Envoy's own signer (in-place endpoints) reads the same token file.
    [config_map] = [d for d in docs("pod-identity-token.yaml") if d["kind"] == "ConfigMap"][:1]
    token_path = yaml.safe_load(next(iter(config_map["data"].values())))["resources"][0]["generic_secret"]["secret"]["filename"]
    assert values["env"]["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] == token_path
    assert values["env"]["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == \
        plugin_config(envoy_filter("envoyfilter-gateway.yaml"))["credentials"]["container"]["uri"]


def tls_contexts(node):
    if isinstance(node, dict):
        if str(node.get("@type", "")).endswith("tls.v3.UpstreamTlsContext"):
            yield node
        for v in node.values():
            yield from tls_contexts(v)
    elif isinstance(node, list):
        for v in node:
            yield from tls_contexts(v)


def test_tls_clusters_check_the_host_name():
    """Every TLS cluster that carries credentials or Invokes checks the certificate's host name
    (SAN) as well as its chain: envoy/credentials.yaml's sts and Lambda clusters, the gateway's
    in-place cluster, the DestinationRule's TLS origination."""
    sources = [yaml.safe_load((ROOT / "envoy" / "credentials.yaml").read_text())] + \
        [d for n in ("envoyfilter-gateway.yaml",) for d in docs(n)]
    contexts = [c for s in sources for c in tls_contexts(s)]
    assert len(contexts) >= 3
    for tls in contexts:
        validation = tls["common_tls_context"]["validation_context"]
        assert validation["match_typed_subject_alt_names"] == [{"san_type": "DNS", "matcher": {"exact": tls["sni"]}}]
    credentials_clusters = {c["name"] for c in yaml.safe_load((ROOT / "envoy" / "credentials.yaml").read_text())[
        "static_resources"]["clusters"] if "transport_socket" in c}
    assert {"sts", "lambda_us_east_1"} <= credentials_clusters
    [rule] = [d for d in docs("lambda-serviceentry.yaml") if d["kind"] == "DestinationRule"]
    for setting in rule["spec"]["trafficPolicy"]["portLevelSettings"]:
        assert setting["tls"]["subjectAltNames"] == [setting["tls"]["sni"]] == rule["spec"]["host"].split()


# --- the OCI image --------------------------------------------------------------------------------

def skopeo_raw(ref):
    return subprocess.run(["skopeo", "inspect", "--raw", ref], capture_output=True, check=True).stdout


def test_make_image_prints_the_manifest_digest_istio_checks(tmp_path):
    """`make image` (its build step skipped: the module is already built) prints the sha256 to put
    in the manifests; it is the digest of the manifest skopeo reads, which is what istio-agent
    compares (pkg/wasm: the image's manifest digest, hex), and a copy with --preserve-digests, as a
    push, keeps it."""
    r = subprocess.run(["make", "-s", "-o", "build", "image"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    [line] = [l for l in r.stdout.splitlines() if l.startswith("sha256 for WasmPlugin")]
    printed = line.rsplit(" ", 1)[1]
    assert re.fullmatch(r"[a-f0-9]{64}", printed), line  # what WasmPlugin's sha256 pattern takes
    tag = re.search(r"built oci:target/oci:(\S+),", r.stdout).group(1)
    raw = skopeo_raw(f"oci:{ROOT / 'target' / 'oci'}:{tag}")
    assert hashlib.sha256(raw).hexdigest() == printed
    manifest = json.loads(raw)
    assert manifest["annotations"]["module.wasm.image/variant"] == "compat"
    assert printed != hashlib.sha256(WASM.read_bytes()).hexdigest()
    pushed = tmp_path / "pushed"
    subprocess.run(["skopeo", "copy", "-q", "--preserve-digests", f"oci:{ROOT / 'target' / 'oci'}:{tag}",
                    f"oci:{pushed}:{tag}"], check=True)
    digest = subprocess.run(["skopeo", "inspect", "--format", "{{.Digest}}", f"oci:{pushed}:{tag}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert digest == "sha256:" + printed


def build_image(out, tag="0.1.0"):
    r = subprocess.run([sys.executable, str(ISTIO / "build_image.py"), str(WASM), str(out), tag],
                       capture_output=True, text=True, check=True)
    return r.stdout.split()[-1]


def test_oci_image_holds_the_module_and_builds_reproducibly(tmp_path):
    digest = build_image(tmp_path / "a")
    assert build_image(tmp_path / "b") == digest  # same bytes in, same image out
    inspect = json.loads(skopeo_raw(f"oci:{tmp_path / 'a'}:0.1.0"))
    assert [layer["mediaType"] for layer in inspect["layers"]] == ["application/vnd.oci.image.layer.v1.tar+gzip"]
    out = tmp_path / "copied"
    subprocess.run(["skopeo", "copy", "-q", f"oci:{tmp_path / 'a'}:0.1.0", f"dir:{out}"], check=True)
    layer = out / inspect["layers"][0]["digest"].split(":")[1]
    with tarfile.open(fileobj=io.BytesIO(layer.read_bytes()), mode="r:gz") as tar:
        assert tar.getnames() == ["plugin.wasm"]  # the compat variant's file name
        module = tar.extractfile("plugin.wasm").read()
    assert module == WASM.read_bytes()
    # No annotation carries the module's own hash: the only sha256 to use is the manifest's.
    assert hashlib.sha256(module).hexdigest() not in json.dumps(inspect)
