"""The published JSON Schema (envoy/lambda-wasm.schema.json) against every shipped example, and
against configurations the filter refuses. conftest.py also checks it accepts every config an
integration test starts Envoy with, so the schema is never stricter than the filter."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import SCHEMA, lambda_endpoint, plugin

ROOT = Path(__file__).resolve().parent.parent
CREDS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "not-a-real-secret"}


def shipped_configs():
    """(name, plugin configuration) for every example in envoy/."""
    found = [("examples/krakend.json", json.loads((ROOT / "envoy/examples/krakend.json").read_text()))]
    for path in sorted((ROOT / "envoy").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "WasmPlugin":
                found.append((path.name, doc["spec"]["pluginConfig"]))
            for value in _configuration_strings(doc):
                found.append((path.name, json.loads(value)))
    return found


def _configuration_strings(node):
    if isinstance(node, dict):
        conf = node.get("configuration")
        if isinstance(conf, dict) and "google.protobuf.StringValue" in conf.get("@type", ""):
            yield conf["value"]
        for v in node.values():
            yield from _configuration_strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _configuration_strings(v)


def test_every_shipped_example_is_valid():
    configs = shipped_configs()
    names = {name for name, _ in configs}
    assert {"examples/krakend.json", "envoy.yaml", "aws.yaml", "credentials.yaml", "wasmplugin.yaml",
            "envoyfilter-gateway.yaml", "envoyfilter-sidecar.yaml"} <= names, names
    for name, config in configs:
        try:
            jsonschema.validate(config, SCHEMA)
        except jsonschema.ValidationError as e:
            pytest.fail(f"{name}: {e.message}")


@pytest.mark.parametrize("config,where", [
    (plugin(CREDS, lambda_endpoint("/f", {"function_name": "f", "typo": 1})), "typo"),
    (plugin(CREDS, lambda_endpoint("/f/{fn}", {"function_name": "f", "function_param_name": "Fn"})), "oneOf"),
    (plugin(CREDS, lambda_endpoint("/f", {})), "oneOf"),
    (plugin(CREDS, lambda_endpoint("/f", {"function_name": "no spaces"})), "no spaces"),
    (plugin(CREDS, lambda_endpoint("/f", {"function_name": "f"}, timeout="3 seconds")), "3 seconds"),
    (plugin(CREDS, lambda_endpoint("/f", {"function_name": "f", "max_retries": -2})), "-2"),
    (plugin(CREDS, lambda_endpoint("/f", {"function_name": "f", "invocation_type": "Async"})), "Async"),
    (plugin(CREDS, lambda_endpoint("/f", {"function_name": "f", "errors": {"handled_status": 700}})), "700"),
    ({**plugin(CREDS, lambda_endpoint("/f", {"function_name": "f"})), "clusterr": "x"}, "clusterr"),
    ({"credentials": {"chain": ["vault"]}, "endpoints": []}, "vault"),
    ({"endpoints": [{"endpoint": "/f", "backend": [
        {"host": ["a"], "url_pattern": "/a"},
        lambda_endpoint("/f", {"function_name": "f"})["backend"][0]]}]}, "too long"),
], ids=["unknown-key", "two-function-fields", "no-function-field", "bad-name", "bad-duration", "bad-retries",
        "bad-invocation-type", "bad-status", "unknown-top-key", "unknown-source", "mixed-backends"])
def test_configs_the_filter_refuses_are_invalid(config, where):
    with pytest.raises(jsonschema.ValidationError) as e:
        jsonschema.validate(config, SCHEMA)
    assert where in str(e.value), str(e.value)[:500]
