"""Plugin configurations in the real Envoy: KrakenD files load, bad ones are refused at load."""

import json
from pathlib import Path

import pytest
import requests

from conftest import lambda_endpoint, plugin

EXAMPLES = Path(__file__).resolve().parent.parent / "envoy" / "examples"
CREDS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "not-a-real-secret"}


def test_a_whole_krakend_json_loads_with_one_warning_per_ignored_key(start_envoy, standin):
    config = json.loads((EXAMPLES / "krakend.json").read_text())
    config["credentials"] = CREDS
    origin = standin(echo=True)
    envoy = start_envoy(config, origin.port, upstream_port=origin.port)
    log = envoy.log()
    for key in ["version", "name", "port", "cache_ttl", "extra_config",
                "endpoints[2].input_headers", "endpoints[2].backend[0].encoding"]:
        assert f"KrakenD key `{key}` has no effect in Envoy and is ignored" in log, key
    # output_encoding is read (json: the default), not ignored.
    assert "`output_encoding`" not in log
    assert "endpoint GET /v1/products: no backend/lambda backend; skipped" in log
    assert "configured 5 Lambda endpoint(s)" in log
    # The HTTP-only endpoint is served by Envoy's own route.
    assert requests.get(envoy.url + "/v1/products").json()["path"] == "/v1/products"


@pytest.mark.parametrize("config,expected", [
    ("{not json", "the configuration is not valid JSON"),
    (plugin(CREDS, lambda_endpoint("/f", {"function_name": "f", "typo": 1})),
     "endpoint GET /f: key `endpoints[0].backend[0].extra_config.backend/lambda.typo`: unknown key"),
    (plugin(CREDS, lambda_endpoint("/f/{fn}", {"function_name": "f", "function_param_name": "Fn"})),
     "endpoint GET /f/{fn}: key `endpoints[0].backend[0].extra_config.backend/lambda.function_param_name`: found function_name and function_param_name: set only one of"),
    (plugin(CREDS, lambda_endpoint("/f", {})),
     "endpoint GET /f: key `endpoints[0].backend[0].extra_config.backend/lambda.function_name`: set function_name, function_param_name, functions or function_header_name"),
    (plugin(CREDS, lambda_endpoint("/f", {"function_name": "no spaces allowed"})),
     "key `endpoints[0].backend[0].extra_config.backend/lambda.function_name`: invalid function name \"no spaces allowed\""),
    (plugin(CREDS, lambda_endpoint("/f", {"function_name": "f"}, timeout="3 seconds")),
     "endpoint GET /f: key `endpoints[0].timeout`: invalid duration \"3 seconds\""),
    (plugin(CREDS, lambda_endpoint("/f/{lambda}", {"function_param_name": "lambda"})),
     "\"lambda\" names no placeholder of the endpoint; KrakenD upper-cases the first letter, so use one of: Lambda"),
], ids=["json", "unknown-key", "both-function-fields", "no-function-field", "bad-name", "bad-duration", "param-case"])
def test_bad_config_is_refused_at_load(start_envoy, config, expected):
    envoy = start_envoy(config if isinstance(config, dict) else {}, 1, wait=False)
    if isinstance(config, str):
        envoy.config["static_resources"]["listeners"][-1]["filter_chains"][0]["filters"][0]["typed_config"][
            "http_filters"][0]["typed_config"]["config"]["configuration"]["value"] = config
    code = envoy.run_to_exit()
    log = envoy.log()
    assert code != 0, "Envoy must refuse the plugin, not run without it"
    assert "invalid plugin configuration" in log
    assert expected in log, log[-2000:]


def test_no_region_anywhere_is_refused(start_envoy):
    config = plugin(CREDS, lambda_endpoint("/f", {"function_name": "f"}))
    del config["endpoints"][0]["backend"][0]["extra_config"]["backend/lambda"]["region"]
    envoy = start_envoy(config, 1, wait=False)
    assert envoy.run_to_exit() != 0
    assert "key `endpoints[0].backend[0].extra_config.backend/lambda.region`: no region" in envoy.log()
