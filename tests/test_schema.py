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
        lambda_endpoint("/f", {"function_name": "f"})["backend"][0]]}]}, "is not valid under any of the given schemas"),
    ({"endpoints": [{**lambda_endpoint("/f", {"function_name": "f"}), "output_encoding": "xml"}]}, "xml"),
    ({"endpoints": [{**lambda_endpoint("/f", {"function_name": "f"}),
                     "extra_config": {"proxy": {"sequential": True}}}]}, "False was expected"),
    (plugin(CREDS, lambda_endpoint("/f", {"function_name": "f", "errors": "kong"})), "kong"),
    ({"endpoints": [{"endpoint": "/f", "backend": [{**lambda_endpoint("/f", {"function_name": "f"})["backend"][0],
                                                     "allow": "a,b"}]}]}, "a,b"),
    ({"endpoints": [{"endpoint": "/f", "backend": [{**lambda_endpoint("/f", {"function_name": "f"})["backend"][0],
                                                     "extra_config": {"backend/lambda": {"function_name": "f", "region": "us-east-1"},
                                                                      "proxy": {"flatmap_filter": [{"type": "rename", "args": ["a"]}]}}}]}]},
     "rename"),
], ids=["unknown-key", "two-function-fields", "no-function-field", "bad-name", "bad-duration", "bad-retries",
        "bad-invocation-type", "bad-status", "unknown-top-key", "unknown-source", "mixed-backends", "xml-output",
        "sequential", "unknown-error-preset", "allow-not-a-list", "unknown-flatmap-op"])
def test_configs_the_filter_refuses_are_invalid(config, where):
    with pytest.raises(jsonschema.ValidationError) as e:
        jsonschema.validate(config, SCHEMA)
    assert where in str(e.value), str(e.value)[:500]


def test_duration_patterns_are_generated():
    """The bounded durations' patterns are compiled from the filter's bounds by duration_patterns.py."""
    from duration_patterns import patterns

    stale = [name for name, p in patterns().items() if SCHEMA["$defs"][name]["pattern"] != p]
    assert not stale, f"$defs {stale}: run `python3 tests/duration_patterns.py --write`"


# The filter's verdicts at every bound it enforces, recorded by `cargo test --test schema_bounds`.
BOUNDS = ROOT / "target" / "schema-bounds.json"
RECORD = "run `cargo test --test schema_bounds` first (`make test` does): it records the filter's verdicts"


def _bound_cases():
    if not BOUNDS.exists():
        return [pytest.param(f"{BOUNDS.relative_to(ROOT)} is missing: {RECORD}", id="no-verdicts")]
    # Only the cases' own file is compared: `make test` runs cargo test (which rewrites the verdicts)
    # before pytest, and src/ changes all the time without touching the parser.
    if (ROOT / "tests" / "schema_bounds.rs").stat().st_mtime > BOUNDS.stat().st_mtime:
        return [pytest.param(f"{BOUNDS.relative_to(ROOT)} is older than tests/schema_bounds.rs: {RECORD}",
                             id="stale-verdicts")]
    return [pytest.param(case, id=case["id"]) for case in json.loads(BOUNDS.read_text())["cases"]]


@pytest.mark.parametrize("case", _bound_cases())
def test_schema_agrees_with_the_filter_at_every_bound(case):
    if isinstance(case, str):
        pytest.fail(case)
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(case["config"]), key=lambda e: e.path)
    schema_accepts = not errors
    filter_accepts = case["filter_accepts"]
    verdicts = (f"schema {'accepts' if schema_accepts else 'refuses'}"
                f"{'' if schema_accepts else ' (' + errors[0].message[:300] + ')'}, "
                f"filter {'accepts' if filter_accepts else 'refuses'}"
                f"{'' if filter_accepts else ' (' + case['filter_error'] + ')'}")
    if case["schema_gap"]:
        assert schema_accepts != filter_accepts, (
            f"the schema now agrees with the filter here ({verdicts}): drop the schema_gap of this case "
            "in tests/schema_bounds.rs and the caveat in the schema's description")
        pytest.xfail(f"the schema cannot express this bound: {case['schema_gap']}")
    assert schema_accepts == filter_accepts, verdicts
