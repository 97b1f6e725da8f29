"""The Istio manifests against Istio's own definitions, not just against the Envoy here:

- every Istio object is validated with the JSON-schema validator against the CRD schemas of
  istio/api 1.28.0 (tests/data/istio-1.28-crds.yaml, cut down from that release's
  kubernetes/customresourcedefinitions.gen.yaml);
- every field an EnvoyFilter patch sets, at any depth and through every `@type`, must exist in the
  go-control-plane that Istio 1.28.0 builds istiod with (tests/data/istio-1.28-envoy-fields.json,
  decoded from the descriptors in that go-control-plane's generated code): istiod drops unknown
  fields silently, so a field it does not know would vanish from the proxy's configuration;
- every `@type` must be one istiod 1.28.0 registers (pkg/config/xds/filter_types.gen.go);
- every patch matches proxy.proxyVersion, which admits 1.28 and later only, and 1.28 is the floor:
  the fields the manifests rely on are missing from the go-control-plane of 1.27, 1.26 and 1.25.
"""

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ISTIO = ROOT / "envoy" / "istio"
DATA = Path(__file__).resolve().parent / "data"
CRDS = yaml.safe_load((DATA / "istio-1.28-crds.yaml").read_text())
FIELDS = json.loads((DATA / "istio-1.28-envoy-fields.json").read_text())
PLACEHOLDER = "REPLACE-WITH-MANIFEST-DIGEST"

# What istiod unmarshals each applyTo's patch value into (istio 1.28.0, pkg/config/xds/xds.go).
ROOTS = {
    "LISTENER": "envoy.config.listener.v3.Listener",
    "FILTER_CHAIN": "envoy.config.listener.v3.FilterChain",
    "NETWORK_FILTER": "envoy.config.listener.v3.Filter",
    "HTTP_FILTER": "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter",
    "ROUTE_CONFIGURATION": "envoy.config.route.v3.RouteConfiguration",
    "VIRTUAL_HOST": "envoy.config.route.v3.VirtualHost",
    "HTTP_ROUTE": "envoy.config.route.v3.Route",
    "CLUSTER": "envoy.config.cluster.v3.Cluster",
    "EXTENSION_CONFIG": "envoy.config.core.v3.TypedExtensionConfig",
}
# Well-known types, as protobuf's JSON mapping writes them.
SCALAR_WRAPPERS = {"google.protobuf.BoolValue": bool, "google.protobuf.UInt32Value": int,
                   "google.protobuf.UInt64Value": int, "google.protobuf.Int32Value": int,
                   "google.protobuf.StringValue": str, "google.protobuf.Duration": str}
SCALARS = {"bool": bool, "string": str, "bytes": str, "uint32": int, "int32": int, "uint64": (int, str),
           "int64": (int, str), "double": (int, float), "float": (int, float)}


def manifest_docs():
    """(file relative to envoy/istio, document) for every YAML document shipped under envoy/istio."""
    for path in sorted(ISTIO.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield str(path.relative_to(ISTIO)), doc


def istio_objects():
    return [(name, doc) for name, doc in manifest_docs()
            if doc.get("apiVersion", "").split("/")[0].endswith("istio.io")]


def envoy_filters():
    return [(name, doc) for name, doc in istio_objects() if doc["kind"] == "EnvoyFilter"]


def patches():
    return [(f"{name}:{doc['metadata']['namespace']}/{doc['metadata']['name']}#{i}", p)
            for name, doc in envoy_filters() for i, p in enumerate(doc["spec"]["configPatches"])]


def with_digest(doc, digest):
    """The object as the README says to apply it: the image's manifest digest filled in."""
    return json.loads(json.dumps(doc).replace(PLACEHOLDER, digest))


# --- Istio's CRD schemas ---------------------------------------------------------------------

@pytest.mark.parametrize("name,doc", istio_objects(),
                         ids=[f"{n}:{d['kind']}/{d['metadata']['name']}" for n, d in istio_objects()])
def test_istio_objects_match_the_istio_1_28_crd_schemas(name, doc):
    schema = CRDS.get(doc["kind"], {}).get(doc["apiVersion"])
    assert schema, f"{name}: no 1.28 schema for {doc['apiVersion']} {doc['kind']} in tests/data/istio-1.28-crds.yaml"
    jsonschema.validate(with_digest(doc, "ab" * 32)["spec"], schema)


def test_the_crd_schemas_catch_what_kubectl_would_refuse():
    """The cut-down schemas still refuse: an unknown field, a wrong enum, a digest with `sha256:`,
    and the shipped placeholder (so a WasmPlugin applied before its digest is filled in fails at
    `kubectl apply`, instead of failing every request)."""
    [(_, plugin)] = [(n, d) for n, d in istio_objects() if d["kind"] == "WasmPlugin"]
    schema = CRDS["WasmPlugin"][plugin["apiVersion"]]
    good = with_digest(plugin, "ab" * 32)["spec"]
    bad = [dict(good, sha256="sha256:" + "ab" * 32), dict(good, sha256=PLACEHOLDER), dict(good, fail_open=True),
           dict(good, failStrategy="FAIL_CLOSED")]
    for spec in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(spec, schema)
    _, envoy_filter = envoy_filters()[0]
    spec = copy.deepcopy(envoy_filter["spec"])
    spec["configPatches"][0]["match"]["proxyVersion"] = "^1\\.28"  # belongs under match.proxy
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, CRDS["EnvoyFilter"][envoy_filter["apiVersion"]])


# --- go-control-plane of Istio 1.28.0 ----------------------------------------------------------

def walk(message, value, path, table, used, problems):
    """Checks `value` (protobuf JSON, proto field names) against `message` in the field table."""
    if message == "google.protobuf.Any":
        if value == {}:  # an empty Any (FilterConfig.config: {} enables a filter disabled by default)
            return
        url = value.get("@type", "")
        type_name = url.rpartition("/")[2]
        used.add("@type " + type_name)
        rest = {k: v for k, v in value.items() if k != "@type"}
        if type_name in SCALAR_WRAPPERS:
            if set(rest) != {"value"} or not isinstance(rest["value"], SCALAR_WRAPPERS[type_name]):
                problems.append(f"{path}: {type_name} takes {{'@type', 'value'}}")
            return
        walk(type_name, rest, path + f"<{type_name}>", table, used, problems)
        return
    if message in SCALAR_WRAPPERS:
        if not isinstance(value, SCALAR_WRAPPERS[message]):
            problems.append(f"{path}: {message} is written as a {SCALAR_WRAPPERS[message].__name__}")
        return
    if message == "google.protobuf.Struct":
        return
    fields = table["messages"].get(message)
    if fields is None:
        problems.append(f"{path}: message {message} is not in the field table")
        return
    if not isinstance(value, dict):
        problems.append(f"{path}: {message} must be an object")
        return
    for key, item in value.items():
        field = fields.get(key)
        if field is None:
            problems.append(f"{path}.{key}: {message} has no field {key!r} in go-control-plane {table['commit'][:12]}")
            continue
        used.add(f"{message}.{key}")
        where = f"{path}.{key}"
        if field["type"] == "map":
            for k, v in item.items():
                if field["value"] in SCALARS:
                    continue
                walk(field["value"], v, f"{where}[{k}]", table, used, problems)
            continue
        items = item if field.get("repeated") else [item]
        if field.get("repeated") and not isinstance(item, list):
            problems.append(f"{where}: repeated field, must be a list")
            continue
        for i, element in enumerate(items):
            at = f"{where}[{i}]" if field.get("repeated") else where
            if field["type"] == "message":
                walk(field["type_name"], element, at, table, used, problems)
            elif field["type"] == "enum":
                if element not in table["enums"].get(field["type_name"], ()):
                    problems.append(f"{at}: {element!r} is not a value of {field['type_name']}")
            elif not isinstance(element, SCALARS[field["type"]]):
                problems.append(f"{at}: {field['type']} expected, got {element!r}")


def check_patches(table):
    used, problems = set(), []
    for name, patch in patches():
        value = patch["patch"].get("value")
        if value is not None:
            walk(ROOTS[patch["applyTo"]], value, name, table, used, problems)
    return used, problems


def test_every_patched_field_exists_in_istio_1_28_go_control_plane():
    used, problems = check_patches(FIELDS)
    assert not problems, "\n".join(problems)
    # The walk reached the fields that matter (and the table is not vacuous).
    for field in ["envoy.extensions.wasm.v3.PluginConfig.allow_on_headers_stop_iteration",
                  "envoy.extensions.wasm.v3.PluginConfig.failure_policy",
                  "envoy.config.route.v3.RouteMatch.filter_state",
                  "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter.disabled",
                  "envoy.config.route.v3.FilterConfig.config",
                  "envoy.config.core.v3.ConfigSource.initial_fetch_timeout",
                  "envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext.match_typed_subject_alt_names"]:
        assert field in used, field
    assert "envoy.extensions.wasm.v3.PluginConfig.fail_open" not in used  # deprecated: failure_policy


def test_every_type_is_registered_in_istiod_1_28():
    used, _ = check_patches(FIELDS)
    packages = set(FIELDS["istiod_registered_packages"])
    types = {u.split(" ", 1)[1] for u in used if u.startswith("@type ")}
    unknown = [t for t in types if not t.startswith("google.protobuf.") and t.rpartition(".")[0] not in packages]
    assert not unknown, unknown
    # HTTP_FILTER config discovery accepts both what istio-agent hands over: the Wasm filter, and
    # the RBAC filter it substitutes when the image cannot be pulled (refused otherwise).
    for name, patch in patches():
        discovery = patch["patch"].get("value", {}).get("config_discovery")
        if patch["applyTo"] == "HTTP_FILTER" and discovery:
            assert discovery["type_urls"] == ["type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                                              "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"], name
            assert discovery["config_source"]["initial_fetch_timeout"] == "0s", name


def test_a_field_unknown_to_istio_1_28_is_caught():
    doctored = copy.deepcopy(FIELDS)
    del doctored["messages"]["envoy.extensions.wasm.v3.PluginConfig"]["allow_on_headers_stop_iteration"]
    _, problems = check_patches(doctored)
    assert any("allow_on_headers_stop_iteration" in p for p in problems), problems


VERSION_FLOOR = {"admitted": ["1.28.0", "1.28.10", "1.29.3", "1.30.0-beta.1", "1.31.0", "1.99.1"],
                 "refused": ["1.27.3", "1.25.0", "1.2.8", "1.9.0", "1.280.0", "2.0.0", ""]}


def test_every_patch_is_for_istio_1_28_or_later():
    for name, patch in patches():
        regex = patch.get("match", {}).get("proxy", {}).get("proxyVersion")
        assert regex, f"{name}: no match.proxy.proxyVersion"
        # istiod matches it with Go's regexp.MatchString: a search, as re.search (the syntax used
        # here means the same in both).
        for version in VERSION_FLOOR["admitted"]:
            assert re.search(regex, version), (name, version)
        for version in VERSION_FLOOR["refused"]:
            assert not re.search(regex, version), (name, version)


def test_istio_1_28_is_the_floor():
    """Fields the manifests rely on are missing from the go-control-plane of each older release."""
    used, _ = check_patches(FIELDS)
    for release, info in FIELDS["missing_in_older_istio"].items():
        assert set(info["fields"]) & used, release
    assert "envoy.extensions.wasm.v3.PluginConfig.allow_on_headers_stop_iteration" in \
        FIELDS["missing_in_older_istio"]["1.27.0"]["fields"]
    assert "envoy.config.route.v3.RouteMatch.filter_state" in FIELDS["missing_in_older_istio"]["1.25.0"]["fields"]
