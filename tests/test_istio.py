"""The Istio manifests and the OCI image. No Istio runs here: the Wasm filter configuration each
manifest gives Envoy is loaded by the real Envoy (validate mode, which runs the plugin's
configuration), and the image is read back with skopeo, an independent OCI tool."""

import hashlib
import io
import json
import subprocess
import sys
import tarfile

import pytest
import yaml

from stack import BIN, ROOT, WASM, http_listener

ISTIO = ROOT / "envoy" / "istio"


def docs(name):
    return [d for d in yaml.safe_load_all((ISTIO / name).read_text()) if d]


def validate_in_envoy(wasm_typed_config, tmp_path, first_routes=(), clusters=()):
    """Runs Envoy's validate mode on a bootstrap whose HTTP filter is this Wasm config."""
    config = json.loads(json.dumps(wasm_typed_config))
    config["config"]["vm_config"]["code"] = {"local": {"filename": str(WASM)}}
    routes = list(first_routes) + [{"match": {"prefix": "/"}, "direct_response": {"status": 404}}]
    bootstrap = {"static_resources": {"listeners": [
        http_listener("l", 10000, [{"name": "lambda-wasm", "typed_config": config}], routes)],
        "clusters": list(clusters)}}
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(bootstrap))
    r = subprocess.run([str(BIN / "envoy"), "--mode", "validate", "-c", str(path), "--base-id", "4343"],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


@pytest.mark.parametrize("name", ["envoyfilter-gateway.yaml", "envoyfilter-sidecar.yaml"])
def test_envoyfilter_delivers_a_filter_envoy_accepts(name, tmp_path):
    envoy_filter = next(d for d in docs(name) if d["kind"] == "EnvoyFilter")
    patches = envoy_filter["spec"]["configPatches"]
    extension = next(p for p in patches if p["applyTo"] == "EXTENSION_CONFIG")["patch"]["value"]
    http_filter = next(p for p in patches if p["applyTo"] == "HTTP_FILTER")
    # The HTTP filter goes in just before the router and takes its config from the extension.
    assert http_filter["patch"]["operation"] == "INSERT_BEFORE"
    assert http_filter["match"]["listener"]["filterChain"]["filter"]["subFilter"]["name"] == "envoy.filters.http.router"
    assert http_filter["patch"]["value"]["name"] == extension["name"]
    wasm = extension["typed_config"]
    assert wasm["config"]["allow_on_headers_stop_iteration"] is True
    assert wasm["config"]["vm_config"]["code"]["remote"]["http_uri"]["uri"].startswith("oci://")
    # The in-place patches (gateway): the route first in the virtual host, and its signing cluster.
    routes = [p["patch"]["value"] for p in patches if p["applyTo"] == "HTTP_ROUTE"]
    clusters = [p["patch"]["value"] for p in patches if p["applyTo"] == "CLUSTER"]
    assert all(p["patch"]["operation"] == "INSERT_FIRST" for p in patches if p["applyTo"] == "HTTP_ROUTE")
    endpoints = json.loads(wasm["config"]["configuration"]["value"])["endpoints"]
    in_place = [e["backend"][0]["extra_config"]["backend/lambda"] for e in endpoints
                if e["backend"][0]["extra_config"]["backend/lambda"].get("mode") == "in_place"]
    for block in in_place:
        [route] = [r for r in routes if r["route"]["cluster"] == block["cluster"]]
        assert route["match"]["filter_state"] == [
            {"key": "wasm.lambda_wasm.cluster", "string_match": {"exact": block["cluster"]}}]
        [cluster] = [c for c in clusters if c["name"] == block["cluster"]]
        signer = cluster["typed_extension_protocol_options"][
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["http_filters"][0]["typed_config"]
        assert signer["service_name"] == "lambda" and signer["region"] == block["region"]
    code, out = validate_in_envoy(wasm, tmp_path, routes, clusters)
    assert code == 0, out[-2000:]
    assert f"configured {len(endpoints)} Lambda endpoint(s)" in out


def test_wasmplugin_config_is_accepted_and_needs_no_body(tmp_path):
    plugin = docs("wasmplugin.yaml")[0]
    assert plugin["kind"] == "WasmPlugin" and "allow_on_headers_stop_iteration" not in json.dumps(plugin)
    config = plugin["spec"]["pluginConfig"]
    # Without the flag no body reaches the filter: every endpoint must take its payload from the path.
    for endpoint in config["endpoints"]:
        assert endpoint.get("method", "GET") == "GET"
        block = endpoint["backend"][0]["extra_config"]["backend/lambda"]
        assert block.get("event_format", "krakend") == "krakend"
    wasm = {"@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {"root_id": plugin["spec"]["pluginName"], "vm_config": {"runtime": "envoy.wasm.runtime.v8"},
                       "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                         "value": json.dumps(config)}}}
    code, out = validate_in_envoy(wasm, tmp_path)
    assert code == 0, out[-2000:]
    assert "configured 1 Lambda endpoint(s)" in out


def test_service_entry_originates_tls_to_lambda():
    entry, rule, _ = docs("lambda-serviceentry.yaml")
    assert entry["spec"]["hosts"] == ["lambda.us-east-1.amazonaws.com"]
    assert entry["spec"]["ports"][0]["targetPort"] == 443
    tls = rule["spec"]["trafficPolicy"]["portLevelSettings"][0]["tls"]
    assert tls["mode"] == "SIMPLE" and tls["sni"] == "lambda.us-east-1.amazonaws.com"
    # The filter's cluster is that ServiceEntry's Istio cluster name.
    assert docs("wasmplugin.yaml")[0]["spec"]["pluginConfig"]["cluster"] == "outbound|80||lambda.us-east-1.amazonaws.com"


def build_image(out, tag="0.1.0"):
    r = subprocess.run([sys.executable, str(ISTIO / "build_image.py"), str(WASM), str(out), tag],
                       capture_output=True, text=True, check=True)
    return r.stdout.split()[-1]


def test_oci_image_holds_the_module_and_builds_reproducibly(tmp_path):
    digest = build_image(tmp_path / "a")
    assert build_image(tmp_path / "b") == digest  # same bytes in, same image out
    inspect = json.loads(subprocess.run(["skopeo", "inspect", "--raw", f"oci:{tmp_path / 'a'}:0.1.0"],
                                        capture_output=True, text=True, check=True).stdout)
    assert [layer["mediaType"] for layer in inspect["layers"]] == ["application/vnd.oci.image.layer.v1.tar+gzip"]
    out = tmp_path / "copied"
    subprocess.run(["skopeo", "copy", "-q", f"oci:{tmp_path / 'a'}:0.1.0", f"dir:{out}"], check=True)
    layer = out / inspect["layers"][0]["digest"].split(":")[1]
    with tarfile.open(fileobj=io.BytesIO(layer.read_bytes()), mode="r:gz") as tar:
        assert tar.getnames() == ["plugin.wasm"]
        module = tar.extractfile("plugin.wasm").read()
    assert module == WASM.read_bytes()
    assert inspect["annotations"]["io.lambda-wasm.module.sha256"] == hashlib.sha256(module).hexdigest()
