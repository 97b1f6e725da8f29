"""KrakenD's response manipulation, aggregation and output encodings in the real Envoy.

What KrakenD does is reproduced by src/manipulate.rs (lura v2.9.1, krakend-lambda v2.0.3,
krakend/flatmap v1.1.1); each test cites the KrakenD source lines that module's docs give for
the behaviour. moto answers with the payload it is given (a POST body is the function's result,
a GET backend's result is the JSON object of the path placeholders), so most cases run on moto;
stand-ins (standin.py) play only what moto cannot: function errors, 5xx, throttles, slow answers
and a fixed arrival order.

Envoy starts once per group of cases (module-scoped). The behaviour tests start it without the
schema gate of conftest's start_envoy, so a lagging schema does not hide the filter's behaviour;
test_schema_accepts_every_configuration_served_here holds the schema to the same configurations.
"""

import re
import subprocess
import time

import jsonschema
import pytest
import requests

from conftest import SCHEMA
from stack import Envoy, cluster, envoy_config, free_port
from standin import Reply, Standin

REGION = "us-east-1"
DUMMY_URL = "http://127.0.0.1:1"
COMPLETED = "x-krakend-completed"


# ---------------------------------------------------------------------------------------------
# Configuration builders (also validated against the schema, with dummy URLs)


def creds_of(moto):
    return {"access_key_id": moto.access_key_id, "secret_access_key": moto.secret_access_key}


def backend(block, proxy=None, **keys):
    """A Lambda backend: `keys` are KrakenD backend keys (target, allow, deny, mapping, group),
    `proxy` the backend's extra_config.proxy."""
    b = {"host": ["ignore"], "url_pattern": "/ignore", **keys,
         "extra_config": {"backend/lambda": {"region": REGION, **block}}}
    if proxy is not None:
        b["extra_config"]["proxy"] = proxy
    return b


def endpoint(path, *backends, method="GET", flatmap=None, **keys):
    e = {"endpoint": path, "method": method, "backend": list(backends), **keys}
    if flatmap is not None:
        e["extra_config"] = {"proxy": {"flatmap_filter": flatmap}}
    return e


def service(creds, *endpoints, **top):
    return {"endpoints": list(endpoints), "credentials": creds, **top}


def moto_fn(url, name="echo", **more):
    return {"function_name": name, "endpoint": url, **more}


def standin_fn(name, url, function, **more):
    """A backend/lambda block pointing at the stand-in `name` (its own cluster)."""
    return {"function_name": function, "endpoint": url, "cluster": name, **more}


def op(kind, *args):
    return {"type": kind, "args": list(args)}


FLATMAP = [op("del", "users.*.pw", "more.*.pw"), op("append", "more", "users"), op("move", "meta.n", "count")]


def single_config(creds, moto_url):
    """One backend per endpoint, all on moto (POST: the body is the result)."""
    m = lambda **k: moto_fn(moto_url, **k)  # noqa: E731
    return service(
        creds,
        endpoint("/s/pass", backend(m()), method="POST"),
        endpoint("/s/deny", backend(m(), deny=["password_hash"]), method="POST"),
        endpoint("/s/target", backend(m(), target="data"), method="POST"),
        endpoint("/s/group", backend(m(), group="g"), method="POST"),
        endpoint("/s/allow", backend(m(), allow=["user.name", "items.name"]), method="POST"),
        endpoint("/s/allow-deny", backend(m(), allow=["a"], deny=["a"]), method="POST"),
        endpoint("/s/deny-nested", backend(m(), deny=["items.secret", "user.pw"]), method="POST"),
        endpoint("/s/order", backend(m(), target="data", allow=["id", "name"], mapping={"name": "title"},
                                     group="item"), method="POST"),
        endpoint("/s/flatmap", backend(m(), proxy={"flatmap_filter": FLATMAP}, target="data", group="g",
                                       allow=["zzz"], deny=["users"], mapping={"users": "people"}),
                 method="POST"),
        endpoint("/s/get/{id}", backend(m(), group="g")),
        endpoint("/s/json", backend(m()), method="POST", output_encoding="json"),
        endpoint("/s/noop", backend(m()), method="POST", output_encoding="no-op"),
        endpoint("/s/string", backend(m()), method="POST", output_encoding="string"),
        endpoint("/s/collection", backend(m()), method="POST", output_encoding="json-collection"),
        endpoint("/s/shadow", backend(m(), group="main"),
                 backend(m(name="echo:live"), proxy={"shadow": True}, group="shadow"), method="POST"),
    )


def aggregation_config(creds, moto_url):
    """Two moto backends per endpoint: `echo` and its alias `echo:live` (told apart in moto's log)."""
    a = moto_fn(moto_url)
    b = moto_fn(moto_url, name="echo:live")
    return service(
        creds,
        endpoint("/a/groups", backend(a, group="a"), backend(b, group="b"), method="POST"),
        endpoint("/a/targets", backend(a, target="x"), backend(b, target="y"), method="POST"),
        endpoint("/a/get/{id}", backend(a, group="a"), backend(b, group="b")),
        endpoint("/a/flat", backend(a, group="a"), backend(b, group="b"), method="POST",
                 flatmap=[op("del", "b"), op("move", "a", "first")]),
        endpoint("/a/plain", backend(a), backend(b), method="POST"),
    )


FE_ERROR = {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}
FE_LATE_ERROR = {"errorMessage": "boom-late", "errorType": "KeyError", "stackTrace": []}
JSON = {"content-type": "application/json"}


def ok(body, delay=0.0):
    return Reply(200, {"x-amzn-RequestId": "req-ok", **JSON}, body, delay=delay)


def function_error(body, delay=0.0):
    return Reply(200, {"x-amzn-RequestId": "req-fe", "X-Amz-Function-Error": "Unhandled", **JSON}, body, delay=delay)


THROTTLE = Reply(429, {"x-amzn-RequestId": "req-429", "x-amzn-ErrorType": "TooManyRequestsException", **JSON},
                 {"message": "Rate Exceeded."})

# Stand-in Lambda APIs for the failure cases: name → scripted replies (the last one repeats).
STANDINS = {
    "early": [ok({"k": "early", "e": 1})],
    "late": [ok({"k": "late", "l": 1}, delay=0.4)],
    "slow1": [ok({"s1": 1}, delay=1.0)],
    "slow2": [ok({"s2": 2}, delay=1.0)],
    "fe": [function_error(FE_ERROR)],
    "fe_late": [function_error(FE_LATE_ERROR, delay=0.3)],
    "svc500": [Reply(500, {"x-amzn-RequestId": "req-500", "x-amzn-ErrorType": "ServiceException", **JSON},
                     {"message": "internal"})],
    "slow": [ok({"slow": 1}, delay=3.0)],
    "thr_ok": [THROTTLE, ok({"r": 1})],
    "thr": [THROTTLE],
    "shadow_fe": [function_error(FE_ERROR)],
}


def failures_config(creds, moto_url, urls):
    """Endpoints mixing moto and the stand-ins; function names are unique per backend so that
    logs and per-function metrics name one case."""
    s = lambda name, fn, **k: standin_fn(name, urls[name], fn, **k)  # noqa: E731
    return service(
        creds,
        # Arrival order decides a shared key, whatever the configuration order.
        endpoint("/f/order-late-first", backend(s("late", "ord1-late")), backend(s("early", "ord1-early")),
                 timeout="3s"),
        endpoint("/f/order-early-first", backend(s("early", "ord2-early")), backend(s("late", "ord2-late")),
                 timeout="3s"),
        endpoint("/f/concurrent", backend(s("slow1", "conc-1")), backend(s("slow2", "conc-2")), timeout="3s"),
        endpoint("/f/partial-fe", backend(s("early", "pfe-ok")), backend(s("fe", "pfe-bad"))),
        endpoint("/f/partial-500", backend(s("early", "p500-ok")), backend(s("svc500", "p500-bad"))),
        endpoint("/f/partial-deadline", backend(s("early", "pdl-ok")), backend(s("slow", "pdl-slow")),
                 timeout="2s"),
        endpoint("/f/all-fail", backend(s("fe_late", "all-first")), backend(s("fe", "all-second")), timeout="3s"),
        endpoint("/f/all-timeout", backend(s("slow", "allto-1")), backend(s("slow", "allto-2")), timeout="1s"),
        endpoint("/f/retries", backend(s("thr_ok", "rt-one", max_retries=1)), backend(s("thr", "rt-none")),
                 timeout="4s"),
        endpoint("/f/flat-partial", backend(moto_fn(moto_url), group="a"), backend(s("fe", "fp-bad"), group="b"),
                 method="POST", flatmap=[op("move", "a", "first")]),
        endpoint("/f/shadow-fails", backend(moto_fn(moto_url), group="main"),
                 backend(s("shadow_fe", "shadow-bad"), proxy={"shadow": True}), method="POST"),
        endpoint("/f/krakend-errors", backend(s("fe", "kerr", errors="krakend"))),
        endpoint("/f/krakend-errors-merged", backend(s("fe", "kerr-a", errors="krakend"), group="a"),
                 backend(s("early", "kerr-b"), group="b")),
    )


COMMENTS = {"@comment": "at", "$note": "dollar", "_doc": "underscore", "#todo": "hash"}


def comments_config(creds, moto_url):
    b = backend(moto_fn(moto_url, **COMMENTS), **COMMENTS)
    return {**service(creds, endpoint("/l/comments/{id}", b, **COMMENTS)), **COMMENTS}


LEGACY = "github.com/devopsfaith/krakend-lambda"


def legacy_config(creds, moto_url):
    """KrakenD CE v1.4's documented form: the legacy namespace on the backend object itself."""
    b = {"host": ["ignore"], "url_pattern": "/ignore", LEGACY: {"region": REGION, **moto_fn(moto_url)}}
    return service(creds, endpoint("/l/legacy/{id}", b))


# ---------------------------------------------------------------------------------------------
# Envoy launchers


class Served:
    """A module-scoped Envoy. A refused configuration becomes a test failure (the filter refused
    what it should serve), not a fixture error."""

    def __init__(self, envoy, problem=None):
        self.envoy = envoy
        self.problem = problem

    def __call__(self):
        if self.problem:
            pytest.fail(f"Envoy did not serve the configuration: {self.problem}")
        return self.envoy


def refusal(log):
    """The filter's reason for refusing its configuration, from Envoy's log."""
    return next((line for line in log.splitlines() if "invalid plugin configuration" in line), None)


def launch(log_dir, config, clusters):
    lp, ap = free_port(), free_port()
    e = Envoy(envoy_config(lp, ap, config, clusters), lp, ap, log_dir=log_dir)
    e.dir.mkdir(parents=True, exist_ok=True)
    try:
        e.start()
    except (RuntimeError, TimeoutError) as err:
        return Served(e, refusal(e.log()) or str(err)[-1500:])
    return Served(e)


def run(start_envoy, config, lambda_port, clusters=None):
    """A function-scoped Envoy (conftest's start_envoy, without its schema gate)."""
    e = start_envoy(config, lambda_port, clusters=clusters, wait=False)
    e.dir.mkdir(parents=True, exist_ok=True)
    try:
        return e.start()
    except (RuntimeError, TimeoutError) as err:
        pytest.fail(f"Envoy did not serve the configuration: {refusal(e.log()) or str(err)[-1500:]}")


@pytest.fixture(scope="module")
def single(moto, tmp_path_factory):
    s = launch(tmp_path_factory.mktemp("single"), single_config(creds_of(moto), moto.url),
               [cluster("lambda", moto.port)])
    yield s
    s.envoy.stop()


@pytest.fixture(scope="module")
def aggregation(moto, tmp_path_factory):
    s = launch(tmp_path_factory.mktemp("aggregation"), aggregation_config(creds_of(moto), moto.url),
               [cluster("lambda", moto.port)])
    yield s
    s.envoy.stop()


@pytest.fixture(scope="module")
def failing(moto, tmp_path_factory):
    apis = {name: Standin(replies).start() for name, replies in STANDINS.items()}
    config = failures_config(creds_of(moto), moto.url, {n: a.url for n, a in apis.items()})
    clusters = [cluster("lambda", moto.port)] + [cluster(n, a.port) for n, a in apis.items()]
    s = launch(tmp_path_factory.mktemp("failing"), config, clusters)
    s.apis = apis
    yield s
    s.envoy.stop()
    for a in apis.values():
        a.stop()


def post(envoy, path, body):
    return requests.post(envoy.url + path, data=body, headers={"content-type": "application/json"}, timeout=10)


def completed(r):
    return r.headers.get(COMPLETED)


def is_json(r):
    return r.headers.get("content-type", "").startswith("application/json")


def log_line_with(envoy, *parts, cause=None):
    """The first Envoy log line naming every part (and matching `cause`, a regex), else None."""
    for line in envoy.log().splitlines():
        if all(p in line for p in parts) and (cause is None or re.search(cause, line, re.I)):
            return line
    return None


def wait_for(check, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


# ---------------------------------------------------------------------------------------------
# 1. One backend, no manipulation: the function's bytes as they are


def test_single_backend_without_manipulation_is_byte_exact(single):
    envoy = single()
    # Not re-encoded (KrakenD would: lura router/gin/render.go:104-111); see Manipulation::is_identity.
    for path in ["/s/pass", "/s/json", "/s/noop"]:
        for body in [b'{"b":1, "a":2}', b'{ "x": "<&>", "n": 1.0 }\n', b"[1, 2]"]:
            r = post(envoy, path, body)
            assert r.status_code == 200, (path, body, r.text)
            assert r.content == body, (path, body)
            assert COMPLETED not in r.headers, (path, r.headers)


# ---------------------------------------------------------------------------------------------
# 2. One backend with manipulation


def test_deny_reencodes_like_go_json_marshal(single):
    # deny: lura proxy/formatter.go:158-213; json.Marshal: lura router/gin/render.go:104-111,
    # gin render/json.go:66-74; numbers decoded as float64: krakend-lambda backend.go:87-90.
    body = ('{"user": "ann", "password_hash": "x", "note": "<a&b> \u00e9/\\u2028", "n": 1.0, '
            '"big": 12345678901234567890, "tiny": 0.0000001, "e": 1e21, "z": -0.0}').encode()
    r = post(single(), "/s/deny", body)
    assert r.status_code == 200, r.text
    assert r.content == ('{"big":12345678901234567000,"e":1e+21,"n":1,"note":"\\u003ca\\u0026b\\u003e \u00e9/\\u2028",'
                         '"tiny":1e-7,"user":"ann","z":-0}').encode()
    assert is_json(r), r.headers
    # X-Krakend-Completed: lura router/gin/endpoint.go:60-77.
    assert completed(r) == "true"


def test_target_extracts_and_missing_target_is_empty(single):
    envoy = single()
    # extractTarget: lura proxy/formatter.go:82-95.
    r = post(envoy, "/s/target", b'{"data": {"z": 1, "a": {"y": 2}}, "meta": 1}')
    assert (r.status_code, r.content, completed(r)) == (200, b'{"a":{"y":2},"z":1}', "true")
    # A missing part → {} (formatter.go:84-92); an empty answer is flagged incomplete (endpoint.go:60-77).
    r = post(envoy, "/s/target", b'{"meta": 1}')
    assert (r.status_code, r.content, completed(r)) == (200, b"{}", "false")


def test_allow_keeps_nested_paths_and_never_enters_arrays(single):
    envoy = single()
    # Allow list: lura proxy/formatter.go:97-156.
    r = post(envoy, "/s/allow", b'{"user": {"name": "a", "pw": "x"}, "items": [{"name": "i"}], "z": 0}')
    assert (r.status_code, r.content, completed(r)) == (200, b'{"user":{"name":"a"}}', "true")
    # allow wins when deny is set too: formatter.go:42-46.
    r = post(envoy, "/s/allow-deny", b'{"a": 1, "b": 2}')
    assert (r.status_code, r.content) == (200, b'{"a":1}')
    # deny never goes through arrays: formatter.go:196-213.
    r = post(envoy, "/s/deny-nested", b'{"items": [{"secret": 1}], "user": {"pw": 1, "name": "a"}}')
    assert (r.status_code, r.content) == (200, b'{"items":[{"secret":1}],"user":{"name":"a"}}')


def test_target_allow_mapping_group_run_in_krakends_order(single):
    # krakend-lambda backend.go:61,91-98 → lura proxy/formatter.go:36-80 (target, allow|deny,
    # mapping, group); mapping: formatter.go:47-51; group: formatter.go:76-78.
    r = post(single(), "/s/order", b'{"data": {"id": 1, "name": "n", "secret": "s"}, "x": 1}')
    assert (r.status_code, r.content, completed(r)) == (200, b'{"item":{"id":1,"title":"n"}}', "true")


def test_get_payload_is_manipulated_too(single):
    r = requests.get(single().url + "/s/get/7")
    assert (r.status_code, r.content, completed(r)) == (200, b'{"g":{"id":"7"}}', "true")


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"5"], ids=["array", "string", "number"])
def test_a_result_that_is_not_an_object_is_a_502(single, body):
    # json.Unmarshal into a map fails: krakend-lambda backend.go:87-90 (KrakenD fails the backend).
    r = post(single(), "/s/deny", body)
    assert r.status_code == 502, r.text
    assert r.json()["error"] == "invalid_lambda_result"


def test_a_null_result_is_go_nil_map(single):
    envoy = single()
    # null decodes to a nil map (backend.go:87-88), the filter and mapping skip it
    # (formatter.go:65,68): rendered `null`, flagged incomplete (endpoint.go:62).
    r = post(envoy, "/s/deny", b"null")
    assert (r.status_code, r.content, completed(r)) == (200, b"null", "false")
    # target on a nil map → {} (formatter.go:84-92).
    r = post(envoy, "/s/target", b"null")
    assert (r.status_code, r.content, completed(r)) == (200, b"{}", "false")
    # group makes it a null member (formatter.go:76-78): non-empty, so complete.
    r = post(envoy, "/s/group", b"null")
    assert (r.status_code, r.content, completed(r)) == (200, b'{"g":null}', "true")


# ---------------------------------------------------------------------------------------------
# 3. Backend flatmap_filter


def test_backend_flatmap_replaces_allow_deny_mapping(single):
    # lura proxy/formatter.go:241-274 (target, flatmap, group; allow/deny/mapping ignored),
    # :276-317 (reading it); krakend/flatmap tree.go:45-58 (append), :66-120 (move, here a
    # promotion whose emptied parent becomes null: node.go:125-145), node.go:46-80 (del with *).
    body = (b'{"data": {"users": [{"id": 1, "pw": "a"}, {"id": 2, "pw": "b"}], "more": [{"id": 3, "pw": "c"}],'
            b' "meta": {"n": 2}}}')
    r = post(single(), "/s/flatmap", body)
    assert r.status_code == 200, r.text
    assert r.content == b'{"g":{"count":2,"meta":null,"users":[{"id":1},{"id":2},{"id":3}]}}'
    assert completed(r) == "true"


# ---------------------------------------------------------------------------------------------
# 4. Aggregation


def test_two_backends_both_get_the_body_and_are_merged(moto, aggregation):
    envoy = aggregation()
    before = len(moto.invoked_paths())
    # Merge: lura proxy/merging.go:330,451-475. Each group holds what moto echoed: both
    # functions received the body.
    r = post(envoy, "/a/groups", b'{"k": 1, "s": "<"}')
    assert r.status_code == 200, r.text
    assert r.content == b'{"a":{"k":1,"s":"\\u003c"},"b":{"k":1,"s":"\\u003c"}}'
    assert is_json(r) and completed(r) == "true"
    assert sorted(moto.invoked_paths()[before:]) == ["/2015-03-31/functions/echo/invocations",
                                                     "/2015-03-31/functions/echo:live/invocations"]
    r = post(envoy, "/a/targets", b'{"x": {"one": 1}, "y": {"two": 2}}')
    assert (r.status_code, r.content, completed(r)) == (200, b'{"one":1,"two":2}', "true")
    r = requests.get(envoy.url + "/a/get/7")
    assert (r.status_code, r.content, completed(r)) == (200, b'{"a":{"id":"7"},"b":{"id":"7"}}', "true")


def test_endpoint_flatmap_runs_on_a_complete_merge(aggregation):
    # lura proxy/formatter.go:340-347 (on the merged answer), factory.go:81-82.
    r = post(aggregation(), "/a/flat", b'{"k": 1}')
    assert (r.status_code, r.content, completed(r)) == (200, b'{"first":{"k":1}}', "true")


def test_null_and_non_object_results_in_a_merge(aggregation):
    envoy = aggregation()
    # Without manipulation keys an aggregate is still decoded, merged and re-encoded.
    r = post(envoy, "/a/plain", b'{"k": 1, "a": [1.0]}')
    assert (r.status_code, r.content, completed(r)) == (200, b'{"a":[1],"k":1}', "true")
    # Two null answers merge into {} and make the answer incomplete (lura proxy/merging.go:455-458).
    r = post(envoy, "/a/plain", b"null")
    assert (r.status_code, r.content, completed(r)) == (200, b"{}", "false")
    # A non-object result fails its backend (krakend-lambda backend.go:87-90): both fail here,
    # so the first backend's error is the answer.
    r = post(envoy, "/a/plain", b"[1]")
    assert r.status_code == 502, r.text
    assert r.json()["error"] == "invalid_lambda_result"


def test_later_arrival_wins_a_shared_key(failing):
    # Stand-ins: moto answers at once, so it cannot fix which answer arrives last.
    # merging.go:330,451-475: arrival order, not configuration order, decides.
    envoy = failing()
    for path in ["/f/order-late-first", "/f/order-early-first"]:
        r = requests.get(envoy.url + path)
        assert r.status_code == 200, (path, r.text)
        assert r.content == b'{"e":1,"k":"late","l":1}', path
        assert completed(r) == "true", path


def test_backends_are_invoked_concurrently(failing):
    # Stand-ins: moto cannot delay an answer. lura proxy/merging.go (parallelMerge).
    envoy = failing()
    one, two = failing.apis["slow1"], failing.apis["slow2"]
    n1, n2 = len(one.requests), len(two.requests)
    started = time.monotonic()
    r = requests.get(envoy.url + "/f/concurrent")
    elapsed = time.monotonic() - started
    assert (r.status_code, r.content) == (200, b'{"s1":1,"s2":2}'), r.text
    assert elapsed < 1.7, elapsed  # two 1 s answers, not one after the other
    assert (len(one.requests), len(two.requests)) == (n1 + 1, n2 + 1)
    assert abs(one.requests[-1]["time"] - two.requests[-1]["time"]) < 0.5


@pytest.mark.parametrize("path,bad,stat,cause", [
    ("/f/partial-fe", "pfe-bad", "function_errors", "function error"),
    ("/f/partial-500", "p500-bad", "aws_errors_5xx", "500"),
], ids=["function-error", "service-500"])
def test_one_backend_failing_gives_a_partial_answer(failing, path, bad, stat, cause):
    # Stand-ins: moto cannot fail a function or answer a 500.
    # A failure makes the merge incomplete: merging.go:451-475, endpoint.go:60-77.
    envoy = failing()
    r = requests.get(envoy.url + path)
    assert r.status_code == 200, r.text
    assert r.content == b'{"e":1,"k":"early"}'
    assert completed(r) == "false"
    assert log_line_with(envoy, path, bad, cause=re.escape(cause)), envoy.log()[-3000:]
    assert envoy.stat(f"wasmcustom.lambda_wasm.{stat}.function.{bad}") == 1


def test_a_backend_beyond_the_merge_deadline_is_left_out(failing):
    # Stand-in: moto cannot delay an answer. The merge deadline is 85% of the endpoint timeout
    # (lura proxy/merging.go:29): 1.7 s of 2 s.
    envoy = failing()
    started = time.monotonic()
    r = requests.get(envoy.url + "/f/partial-deadline")
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    assert r.content == b'{"e":1,"k":"early"}'
    assert completed(r) == "false"
    assert 1.55 <= elapsed < 1.95, elapsed
    assert log_line_with(envoy, "/f/partial-deadline", "pdl-slow", cause=r"time|deadline"), envoy.log()[-3000:]
    assert envoy.stat("wasmcustom.lambda_wasm.timeouts.function.pdl-slow") == 1


def test_all_backends_failing_answers_the_first_backends_error(failing):
    # Stand-ins: moto cannot fail a function or be slow. KrakenD answers 500 with an empty body
    # here (transport/http/server/server.go:32-34); the filter answers the first backend's error,
    # in configuration order (the first backend's error arrives last here).
    envoy = failing()
    r = requests.get(envoy.url + "/f/all-fail")
    assert r.status_code == 502, r.text
    assert r.json() == FE_LATE_ERROR
    started = time.monotonic()
    r = requests.get(envoy.url + "/f/all-timeout")
    assert r.status_code == 504, r.text
    assert r.json()["error"] == "lambda_timeout"
    assert time.monotonic() - started < 1.5


def test_each_backend_retries_by_its_own_max_retries(failing):
    # Stand-ins: moto cannot throttle.
    envoy = failing()
    r = requests.get(envoy.url + "/f/retries")
    assert r.status_code == 200, r.text
    assert r.content == b'{"r":1}'
    assert completed(r) == "false"
    assert len(failing.apis["thr_ok"].requests) == 2  # max_retries 1: retried once, then answered
    assert len(failing.apis["thr"].requests) == 1  # max_retries 0: the throttle fails it


def test_endpoint_flatmap_is_skipped_on_a_partial_merge(failing):
    # Stand-in for the failing backend (moto cannot fail a function); moto echoes the other.
    # lura proxy/formatter.go:340-347 with factory.go:81-82: skipped when the merge errs.
    envoy = failing()
    before = len(failing.apis["fe"].requests)
    r = post(envoy, "/f/flat-partial", b'{"k": 1}')
    assert r.status_code == 200, r.text
    assert r.content == b'{"a":{"k":1}}'
    assert completed(r) == "false"
    assert failing.apis["fe"].requests[before]["body"] == b'{"k": 1}'  # the body went to both


# ---------------------------------------------------------------------------------------------
# 5. Shadow backends


def test_shadow_backend_is_invoked_and_its_answer_ignored(moto, single):
    # lura proxy/shadow.go:25-57,114-124; with one other backend, no merge.
    envoy = single()
    before = len(moto.invoked_paths())
    r = post(envoy, "/s/shadow", b'{"k": 1}')
    assert (r.status_code, r.content, completed(r)) == (200, b'{"main":{"k":1}}', "true")
    assert wait_for(lambda: sorted(moto.invoked_paths()[before:]) == [
        "/2015-03-31/functions/echo/invocations", "/2015-03-31/functions/echo:live/invocations"]), \
        moto.invoked_paths()[before:]


def test_a_failing_shadow_does_not_make_the_answer_partial(failing):
    # Stand-in: moto cannot fail a function, nor show what it received.
    envoy = failing()
    shadow = failing.apis["shadow_fe"]
    before = len(shadow.requests)
    r = post(envoy, "/f/shadow-fails", b'{"k": 2}')
    assert (r.status_code, r.content, completed(r)) == (200, b'{"main":{"k":2}}', "true")
    assert wait_for(lambda: len(shadow.requests) > before)
    assert shadow.requests[before]["body"] == b'{"k": 2}'


# ---------------------------------------------------------------------------------------------
# 6. Output encodings


def test_string_output_encoding(single):
    # encode_string: lura router/gin/render.go:84-102.
    envoy = single()
    r = post(envoy, "/s/string", b'{"content": "hello <b>", "x": 1}')
    assert (r.status_code, r.content) == (200, b"hello <b>"), r.text
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
    assert completed(r) == "true"
    r = post(envoy, "/s/string", b'{"content": 5}')
    assert (r.status_code, r.content) == (200, b"")


def test_json_collection_output_encoding(single):
    # encode_json_collection: lura router/gin/render.go:113-125.
    envoy = single()
    r = post(envoy, "/s/collection", b'{"collection": [{"b": 1, "a": "<"}]}')
    assert (r.status_code, r.content) == (200, b'[{"a":"\\u003c","b":1}]'), r.text
    assert is_json(r)
    r = post(envoy, "/s/collection", b'{"x": 1}')
    assert (r.status_code, r.content) == (200, b"[]")


# ---------------------------------------------------------------------------------------------
# 6-8. Refused at load


def two_moto():
    return [backend(moto_fn(DUMMY_URL)), backend(moto_fn(DUMMY_URL, name="echo:live"))]


IN_PLACE = {"mode": "in_place", "cluster": "lambda_signed"}
CREDS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "not-a-real-secret"}
REFUSED = [
    # output_encoding no-op: lura config/config.go:518-520,609-611.
    ("noop-manipulation", endpoint("/r/noop-m", backend(moto_fn(DUMMY_URL), group="g"), output_encoding="no-op"),
     "GET /r/noop-m", ["output_encoding", "one backend"]),
    ("noop-two-backends", endpoint("/r/noop-2", *two_moto(), output_encoding="no-op"),
     "GET /r/noop-2", ["output_encoding", "one backend"]),
    ("xml", endpoint("/r/xml", backend(moto_fn(DUMMY_URL)), output_encoding="xml"),
     "GET /r/xml", ["output_encoding", "json"]),
    ("yaml", endpoint("/r/yaml", backend(moto_fn(DUMMY_URL)), output_encoding="yaml"),
     "GET /r/yaml", ["output_encoding", "json"]),
    ("mixed", endpoint("/r/mixed", backend(moto_fn(DUMMY_URL)), {"host": ["http://app"], "url_pattern": "/x"}),
     "GET /r/mixed", ["backend", "own endpoint"]),
    # proxy.sequential: lura proxy/merging.go:184-296.
    ("sequential", {**endpoint("/r/seq", *two_moto()), "extra_config": {"proxy": {"sequential": True}}},
     "GET /r/seq", ["sequential", "remove"]),
    ("in-place-manipulation", endpoint("/r/ip-m", backend(moto_fn(DUMMY_URL, **IN_PLACE), deny=["x"]), method="POST"),
     "POST /r/ip-m", ["in_place", "callout"]),
    ("in-place-two-backends", endpoint("/r/ip-2", backend(moto_fn(DUMMY_URL, **IN_PLACE)),
                                       backend(moto_fn(DUMMY_URL, name="echo:live", **IN_PLACE)), method="POST"),
     "POST /r/ip-2", ["in_place", "callout"]),
    ("param-not-a-placeholder", endpoint("/r/param", backend({"function_param_name": "Lambda", "endpoint": DUMMY_URL})),
     "GET /r/param", ["functions", "function_header_name"]),
]


@pytest.mark.parametrize("name,ep,label,words", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_at_load_naming_the_endpoint(start_envoy, name, ep, label, words):
    envoy = start_envoy(service(CREDS, ep), 1, wait=False)
    try:
        code = envoy.run_to_exit(timeout=8)
    except subprocess.TimeoutExpired:
        pytest.fail(f"Envoy accepted the configuration and ran:\n{envoy.log()[-2000:]}")
    log = envoy.log()
    assert code != 0, f"Envoy must refuse the plugin, not run without it:\n{log[-2000:]}"
    assert "invalid plugin configuration" in log, log[-2000:]
    lines = [line for line in log.splitlines() if f"endpoint {label}" in line]
    assert lines, f"no log line names `endpoint {label}`:\n{log[-2000:]}"
    for word in words:
        assert any(word in line for line in lines), (word, lines)


# ---------------------------------------------------------------------------------------------
# 8. Leniency


def test_comment_keys_are_ignored_at_every_level(moto, start_envoy):
    envoy = run(start_envoy, comments_config(creds_of(moto), moto.url), moto.port)
    r = requests.get(envoy.url + "/l/comments/7")
    assert (r.status_code, r.content) == (200, b'{"id":"7"}\n'), r.text
    log = envoy.log()
    assert "unknown key" not in log
    for key in COMMENTS:  # comments, not ignored KrakenD keys: nothing to warn about
        assert key not in log, key


def test_ce_1_4_legacy_namespace_on_the_backend_works_with_a_warning(moto, start_envoy):
    envoy = run(start_envoy, legacy_config(creds_of(moto), moto.url), moto.port)
    r = requests.get(envoy.url + "/l/legacy/7")
    assert (r.status_code, r.content) == (200, b'{"id":"7"}\n'), r.text
    warned = [line for line in envoy.log().splitlines() if LEGACY in line and "warn" in line.lower()]
    assert warned, envoy.log()[-2000:]


# ---------------------------------------------------------------------------------------------
# 9. Error policy preset


def test_errors_krakend_answers_function_errors_with_200(failing):
    # Stand-in: moto cannot fail a function. krakend-lambda backend.go:87-90 decodes the payload
    # of any 200 as the answer and never reads X-Amz-Function-Error.
    r = requests.get(failing().url + "/f/krakend-errors")
    assert r.status_code == 200, r.text
    assert r.json() == FE_ERROR
    # Where answers are manipulated and merged, the error object is that backend's data.
    r = requests.get(failing().url + "/f/krakend-errors-merged")
    assert r.status_code == 200, r.text
    assert r.json() == {"a": FE_ERROR, "b": {"k": "early", "e": 1}}
    assert r.headers["x-krakend-completed"] == "true"
    assert "x-amz-function-error" not in r.headers


# ---------------------------------------------------------------------------------------------
# The published schema


SERVED = {
    "single": lambda: single_config(CREDS, DUMMY_URL),
    "aggregation": lambda: aggregation_config(CREDS, DUMMY_URL),
    "failures": lambda: failures_config(CREDS, DUMMY_URL, {n: DUMMY_URL for n in STANDINS}),
    "comments": lambda: comments_config(CREDS, DUMMY_URL),
    "legacy": lambda: legacy_config(CREDS, DUMMY_URL),
}


@pytest.mark.parametrize("name", list(SERVED))
def test_schema_accepts_every_configuration_served_here(name):
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(SCHEMA).iter_errors(SERVED[name]()))
    assert error is None, (f"{name}: the schema refuses {'.'.join(map(str, error.absolute_path))} "
                           f"({error.validator}: {error.message[:200]})")


@pytest.mark.parametrize("name", ["xml", "yaml", "sequential"])
def test_schema_refuses_what_the_filter_refuses(name):
    ep = next(c[1] for c in REFUSED if c[0] == name)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(service(CREDS, ep), SCHEMA)
