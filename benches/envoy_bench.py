"""`make bench`: this filter (W) side by side with Envoy's native aws_lambda filter (N) and plain
proxying (P), in the same real Envoy binary, with results written to BENCHMARKS.md.

- The proxy under test runs one worker pinned to CPU 0. wrk and the fake Lambda run on CPU 1.
- The fake Lambda is a second Envoy: a buffer filter (so it reads whole request bodies and keeps
  connections alive) in front of a direct_response, answering like Lambda's Invoke API.
- Configurations alternate round by round, in a rotating order, so machine drift cancels out.
- Workloads: GET with a placeholder at concurrency 64 (throughput) and 1 (latency), POST 64 KB
  and POST 1 MB (the native filter with payload passthrough signs and sends the same bodies).
- F is plain proxying through the filter serving none of the paths (the Wasm floor); U is W built
  with signing compiled out (the callout floor; a benchmark-only build, only ever sent to the fake).
- I is this filter with its POST endpoint in `mode: in_place` (the request rewritten and sent by
  Envoy's router, signed by Envoy's aws_request_signing on the cluster); its GET endpoint is a
  callout as in W (a KrakenD GET payload is built, not the request body), so I runs the POSTs.
- L is the peer a user could deploy instead to build KrakenD's GET payload inside Envoy: Envoy's
  Lua filter rewrites the request into the Invoke (for GET it writes the placeholders' JSON as the
  body, `body(true):setBytes`) and the native aws_request_signing signs it on the cluster. Nj is
  the native aws_lambda filter with `payload_passthrough: false` (its own JSON, not KrakenD's).
- S is this filter with Envoy signing its callouts (`signing: envoy`: the callout leaves the VM
  unsigned and the cluster's aws_request_signing signs it, hashing bodies natively).
- W2 and N2 are W and N with HTTP/2 to the (fake) Lambda endpoint, as `envoy/aws.yaml` configures
  it against AWS (ALPN there; prior knowledge against the fake).
- BENCH_STARTS (default 2) starts every proxy afresh that many times, each start running the
  rounds: the report gives the spread between starts as well as between rounds.
- Any non-2xx answer or socket error fails the run. It is a benchmark: nothing here asserts a
  timing; the numbers are recorded.

Environment: BENCH_ROUNDS (default 3), BENCH_SECONDS per run (default 5), BENCH_OUT (BENCHMARKS.md);
for experiments, BENCH_ONLY (e.g. "W", no report), BENCH_WORKLOADS (e.g. "GET", no report), BENCH_WASM (another .wasm for W) and BENCH_BASE_WASM
(a baseline .wasm run as W0 beside W: an A/B of a change, rounds alternated).
"""

import base64
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "envoy"))
from stack import (BIN, ROOT, WASM, Envoy, cluster, free_port, http_listener, in_place_route,  # noqa: E402
                   signing_cluster, wasm_filter)

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "BENCHMARKS.md"))
ONLY = os.environ.get("BENCH_ONLY", "")
MODULE = Path(os.environ.get("BENCH_WASM", WASM))
# W built with the bench-unsigned-floor feature (`make bench` builds it): U, the callout floor.
FLOOR = Path(os.environ.get("BENCH_FLOOR_WASM", ROOT / "target" / "lambda-wasm-unsigned-floor.wasm"))
# A/B of a change: BENCH_BASE_WASM=old.wasm adds W0, W's configuration on that module, alternated
# with W round by round (BENCH_ONLY="W,W0,N").
BASE = os.environ.get("BENCH_BASE_WASM")
# The GET hot path step by step (benches/steps), in Wasm under Node's V8 and natively: `make bench`
# builds both. And the split of Envoy's CPU time between the kernel, Envoy's own code (V8's runtime
# and the host calls included) and the Wasm code, by perf, for these configurations.
STEPS_WASM = os.environ.get("BENCH_STEPS_WASM")
STEPS_NATIVE = os.environ.get("BENCH_STEPS_NATIVE")
STEP_RUNS = 5
# The rungs under the filter (benches/ladder, built by `make bench`): M, a minimal callout filter;
# M1, M reading what the job needs (the request's headers, the answer's headers); M2, M1 making
# every other host call the filter makes.
LADDER = {"M": os.environ.get("BENCH_LADDER_WASM"), "M1": os.environ.get("BENCH_LADDER_JOB_WASM"),
          "M2": os.environ.get("BENCH_LADDER_CALLS_WASM")}
SPLIT = ["P", "N", "L", "F", "M", "M1", "M2", "U", "W"]
CREDS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
ARN = "arn:aws:lambda:us-east-1:123456789012:function:bench"
WORKLOADS = [
    # name, path, connections, body bytes
    ("GET c64 (throughput)", "/bench/42", 64, 0),
    ("GET c1 (latency)", "/bench/42", 1, 0),
    ("POST 64 KB", "/post", 16, 64 * 1024),
    ("POST 1 MB", "/post", 4, 1024 * 1024),
]
# For experiments, BENCH_WORKLOADS keeps the workloads whose names start with one of its
# comma-separated words (e.g. "GET" or "POST 64"); with it, no report is written.
PICKED = [w for w in os.environ.get("BENCH_WORKLOADS", "").split(",") if w]
WORKLOADS = [w for w in WORKLOADS if not PICKED or any(w[0].startswith(p) for p in PICKED)]
GET_ONLY = {"P", "N", "Nj", "L", "W", "W0", "S", "F", "M", "M1", "M2", "U", "N2", "W2"}  # I serves GETs exactly as W does
NO_POST = set(LADDER)  # the rungs serve GETs only


def measured_on(name, body_bytes):
    """Whether configuration `name` runs a workload: GETs (no body) or POSTs."""
    return name not in NO_POST if body_bytes else name in GET_ONLY
STARTS = int(os.environ.get("BENCH_STARTS", "2"))


def bootstrap(port, admin, filters, route, clusters):
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {
            "listeners": [http_listener("main", port, filters, route, stat_prefix="bench", buffer_limit=8 * 1024 * 1024)],
            "clusters": clusters,
        },
    }


def streamed_answer():
    """What the fake answers InvokeWithResponseStream with: four 800-byte PayloadChunk frames (a direct response holds 4 KB at most) and
    InvokeComplete, encoded as tests/eventstream_frames.py does (botocore reads them back)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from eventstream_frames import lambda_stream
    return base64.b64encode(lambda_stream([b"x" * 800] * 4)).decode()


def fake_lambda(port, admin):
    buffer = {"name": "envoy.filters.http.buffer", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", "max_request_bytes": 8 * 1024 * 1024}}
    streamed = {"match": {"prefix": "/2021-11-15/"},
                "direct_response": {"status": 200, "body": {"inline_bytes": streamed_answer()}},
                "response_headers_to_add": [{"header": {"key": "x-amzn-requestid", "value": "00000000-bench"}},
                                            {"header": {"key": "content-type", "value": "text/event-stream"}}]}
    route = {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": '{"ok":true}'}},
             "response_headers_to_add": [{"header": {"key": "x-amzn-requestid", "value": "00000000-bench"}},
                                         {"header": {"key": "x-amz-executed-version", "value": "$LATEST"}},
                                         {"header": {"key": "content-type", "value": "application/json"}}]}
    return bootstrap(port, admin, [buffer], [streamed, route], [])


def lambda_cluster(port, native=False, h2=False, name="lambda"):
    c = cluster(name, port)
    if h2:
        c["typed_extension_protocol_options"] = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}}}
    if native:
        c["metadata"] = {"filter_metadata": {"com.amazonaws.lambda": {"egress_gateway": True}}}
    return c


def proxy_configs(fake_port):
    """name → (bootstrap builder taking (port, admin))."""
    plain = lambda p, a: bootstrap(p, a, [], {"match": {"prefix": "/"}, "route": {"cluster": "lambda"}}, [lambda_cluster(fake_port)])
    native_filter = {"name": "envoy.filters.http.aws_lambda", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.aws_lambda.v3.Config",
        "arn": ARN, "payload_passthrough": True, "invocation_mode": "SYNCHRONOUS", "credentials": CREDS}}
    native = lambda p, a: bootstrap(p, a, [native_filter], {"match": {"prefix": "/"}, "route": {"cluster": "lambda"}},
                                    [lambda_cluster(fake_port, native=True)])
    native_h2 = lambda p, a: bootstrap(p, a, [native_filter], {"match": {"prefix": "/"}, "route": {"cluster": "lambda"}},
                                       [lambda_cluster(fake_port, native=True, h2=True)])
    native_json_filter = json.loads(json.dumps(native_filter))
    native_json_filter["typed_config"]["payload_passthrough"] = False
    native_json = lambda p, a: bootstrap(p, a, [native_json_filter], {"match": {"prefix": "/"}, "route": {"cluster": "lambda"}},
                                         [lambda_cluster(fake_port, native=True)])
    invoke_path = "/2015-03-31/functions/" + ARN.replace(":", "%3A") + "/invocations"
    lua = {"name": "envoy.filters.http.lua", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        "default_source_code": {"inline_string": f"""
function envoy_on_request(handle)
  local headers = handle:headers()
  local id = string.match(headers:get(":path"), "^/bench/([^/?]+)")
  headers:replace(":method", "POST")
  headers:replace(":path", "{invoke_path}")
  headers:replace(":authority", "lambda.us-east-1.amazonaws.com")
  if id then
    handle:body(true):setBytes('{{"id":"' .. id .. '"}}\\n')
  end
end
"""}}}
    lua_signed = lambda p, a: bootstrap(p, a, [lua], {"match": {"prefix": "/"}, "route": {"cluster": "lambda_signed"}},
                                        [signing_cluster("lambda_signed", fake_port, "us-east-1", CREDS)])
    plugin = {"credentials": CREDS, "endpoints": [
        {"endpoint": "/bench/{id}", "backend": [{"host": ["x"], "url_pattern": "/x", "extra_config": {
            "backend/lambda": {"function_name": ARN, "region": "us-east-1"}}}]},
        {"endpoint": "/post", "method": "POST", "backend": [{"host": ["x"], "url_pattern": "/x", "extra_config": {
            "backend/lambda": {"function_name": ARN, "region": "us-east-1"}}}]}]}
    not_found = {"match": {"prefix": "/"}, "direct_response": {"status": 404}}

    def callout(module):
        return lambda p, a: bootstrap(p, a, [wasm_filter(plugin, module)], not_found, [lambda_cluster(fake_port)])
    in_place_plugin = json.loads(json.dumps(plugin))
    in_place_plugin["endpoints"][1]["backend"][0]["extra_config"]["backend/lambda"].update(
        {"mode": "in_place", "cluster": "lambda_signed"})
    in_place = lambda p, a: bootstrap(
        p, a, [wasm_filter(in_place_plugin, MODULE)],
        [in_place_route("lambda_signed"), not_found],
        [lambda_cluster(fake_port), signing_cluster("lambda_signed", fake_port, "us-east-1", CREDS)])
    # F: plain proxying with the filter in the chain serving none of the paths — what its VM costs
    # a request when the filter itself does nothing (the floor under W and I).
    unserved = {"credentials": CREDS, "endpoints": [{"endpoint": "/elsewhere", "backend": [
        {"host": ["x"], "url_pattern": "/x", "extra_config": {"backend/lambda": {"function_name": ARN, "region": "us-east-1"}}}]}]}
    floor = lambda p, a: bootstrap(p, a, [wasm_filter(unserved, MODULE)], {"match": {"prefix": "/"}, "route": {"cluster": "lambda"}},
                                   [lambda_cluster(fake_port)])
    envoy_signed_plugin = json.loads(json.dumps(plugin))
    for ep in envoy_signed_plugin["endpoints"]:
        ep["backend"][0]["extra_config"]["backend/lambda"].update({"signing": "envoy", "cluster": "lambda_signed"})
    envoy_signed = lambda p, a: bootstrap(
        p, a, [wasm_filter(envoy_signed_plugin, MODULE)], not_found,
        [signing_cluster("lambda_signed", fake_port, "us-east-1", CREDS)])
    callout_h2 = lambda p, a: bootstrap(p, a, [wasm_filter(plugin, MODULE)], not_found,
                                        [lambda_cluster(fake_port, h2=True)])
    # T: I with the POST endpoint calling InvokeWithResponseStream (its answer decoded frame by
    # frame on its way to the client): what streaming costs over a plain in-place answer.
    streaming_plugin = json.loads(json.dumps(in_place_plugin))
    streaming_plugin["endpoints"][1]["backend"][0]["extra_config"]["backend/lambda"]["response_stream"] = True
    streaming = lambda p, a: bootstrap(
        p, a, [wasm_filter(streaming_plugin, MODULE)],
        [in_place_route("lambda_signed"), not_found],
        [lambda_cluster(fake_port), signing_cluster("lambda_signed", fake_port, "us-east-1", CREDS)])
    configs = {"P": plain, "N": native, "Nj": native_json, "L": lua_signed, "W": callout(MODULE), "S": envoy_signed,
               "I": in_place, "T": streaming, "F": floor, "N2": native_h2, "W2": callout_h2}
    for name, module in LADDER.items():
        if module and Path(module).exists():
            configs[name] = callout(Path(module))
    if FLOOR.exists():
        configs["U"] = callout(FLOOR)
    if BASE:
        configs["W0"] = callout(Path(BASE))
    return configs


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def envoy_pid(envoy):
    """The Envoy process (the Popen may be taskset's, which execs Envoy: same pid)."""
    return envoy.proc.pid


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(text)
    value, unit = m.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url, connections, body_bytes, workdir):
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{SECONDS}s", "--latency"]
    if body_bytes:
        script = workdir / f"post-{body_bytes}.lua"
        script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                          f'wrk.body = \'{{"data":"\' .. string.rep("x", {body_bytes - 11}) .. \'"}}\'\n')
        cmd += ["-s", str(script)]
    run = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=SECONDS + 60)
    out = run.stdout
    try:
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        total = int(re.search(r"(\d+) requests in", out).group(1))
        p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
        p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    except (AttributeError, ValueError) as e:
        raise SystemExit(f"FAILED: cannot read wrk's report for {url} ({e}):\n{out}\n{run.stderr}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or errors:
        raise SystemExit(f"FAILED: {url} answered badly: {bad.group(0) if bad else ''} {errors.group(0) if errors else ''}\n{out}")
    return {"rps": rps, "requests": total, "p50": p50, "p99": p99}


def machine():
    model = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                  if l.startswith("model name")), platform.processor())
    mem = next(l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    version = subprocess.run([str(BIN / "envoy"), "--version"], capture_output=True, text=True).stdout.split("version:")[-1].strip()
    return f"{os.cpu_count()} × {model}, {int(mem) // 1024 // 1024} GiB, Linux {platform.release()}; Envoy {version}"


def micro_results():
    """Criterion's mean estimates from `cargo bench --bench hot_path`, if it ran."""
    rows = []
    for est in sorted((ROOT / "target" / "criterion").glob("*/new/estimates.json")):
        bench = json.loads((est.parent / "benchmark.json").read_text())["title"]
        mean = json.loads(est.read_text())["mean"]["point_estimate"]
        rows.append((bench, mean / 1000))
    return rows


def steps():
    """{step: (µs in V8, µs natively)}, medians of STEP_RUNS runs; {} when not built."""
    def runs(cmd):
        out = {}
        for _ in range(STEP_RUNS):
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            for line in run.stdout.splitlines():
                name, _, us = line.partition("\t")
                out.setdefault(name, []).append(float(us))
        return {k: statistics.median(v) for k, v in out.items()}
    if not (STEPS_WASM and Path(STEPS_WASM).exists() and shutil.which("node")):
        return {}
    wasm = runs(["taskset", "-c", "0", "node", "--no-liftoff", str(ROOT / "benches" / "steps.mjs"), STEPS_WASM])
    native = runs(["taskset", "-c", "0", STEPS_NATIVE]) if STEPS_NATIVE and Path(STEPS_NATIVE).exists() else {}
    return {k: (v, native.get(k)) for k, v in wasm.items()}


def start_proxy(build, log_dir):
    """A proxy configuration started afresh on CPU 0, its logs in `log_dir`."""
    port, admin = free_port(), free_port()
    e = Envoy(build(port, admin), port, admin, log_dir=log_dir, cpus="0", log_level="error")
    e.dir.mkdir(parents=True, exist_ok=True)
    return e.start()


def cpu_split(configs, fake_port, workdir):
    """Per configuration, GET c64's proxy CPU µs per request and its split by perf:
    {name: (cpu_us, {"kernel": µs, "Envoy": µs, "Wasm": µs})}; {} without a working perf."""
    if not shutil.which("perf"):
        return {}
    split = {}
    for name in [n for n in SPLIT if n in configs]:
        e = start_proxy(configs[name], workdir / f"split-{name}")
        try:
            data = workdir / f"perf-{name}.data"
            record = subprocess.Popen(["perf", "record", "-F", "999", "-p", str(envoy_pid(e)), "-o", str(data),
                                       "--", "sleep", str(max(SECONDS - 1, 1))],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            before = cpu_seconds(envoy_pid(e))
            r = run_wrk(e.url + "/bench/42", 64, 0, workdir)
            cpu_us = (cpu_seconds(envoy_pid(e)) - before) / r["requests"] * 1e6
            record.wait(timeout=60)
            report = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "dso", "-g", "none",
                                     "--stdio"], capture_output=True, text=True, timeout=120).stdout
        finally:
            e.stop()
        shares = {"kernel": 0.0, "Envoy": 0.0, "Wasm": 0.0}
        for line in report.splitlines():
            m = re.match(r"\s*([\d.]+)%\s+(.+?)\s*$", line)
            if not m:
                continue
            dso = m.group(2)
            kind = "kernel" if "kernel" in dso else "Wasm" if dso.startswith("[JIT]") else "Envoy"
            shares[kind] += float(m.group(1)) / 100
        if sum(shares.values()) > 0.5:
            split[name] = (cpu_us, {k: v * cpu_us for k, v in shares.items()})
    return split


def main():
    if not WASM.exists():
        sys.exit(f"{WASM} is missing: run `make build`")
    workdir = Path(tempfile.mkdtemp(prefix="lambda-wasm-bench-"))
    fake_port, fake_admin = free_port(), free_port()
    fake = Envoy(fake_lambda(fake_port, fake_admin), fake_port, fake_admin, log_dir=workdir / "fake", cpus="1", log_level="error")
    fake.dir.mkdir(parents=True, exist_ok=True)
    proxies = {}
    try:
        fake.start()
        configs = proxy_configs(fake_port)
        if ONLY:
            configs = {name: build for name, build in configs.items() if name in ONLY.split(",")}
        results = {w[0]: {n: [] for n in configs if measured_on(n, w[3])} for w in WORKLOADS}
        idle_rss, loaded_rss = {}, {}
        for start in range(STARTS):
            proxies = {}
            for name, build in configs.items():
                proxies[name] = start_proxy(build, workdir / f"{name}-{start}")
            for name, e in proxies.items():  # every configuration must work before anything is measured
                for _, path, _, body in WORKLOADS:
                    if not measured_on(name, body):
                        continue
                    r = requests.request("POST" if body else "GET", e.url + path, data=b"{}" if body else None)
                    if r.status_code != 200:
                        raise SystemExit(f"FAILED: {name} {path} answered {r.status_code}: {r.text[:200]}")
            for name, e in proxies.items():
                idle_rss.setdefault(name, []).append(rss_mb(envoy_pid(e)))
            order = list(proxies)
            for rnd in range(ROUNDS):
                for workload, path, conns, body in WORKLOADS:
                    for name in order:
                        if name not in results[workload]:
                            continue
                        e = proxies[name]
                        before = cpu_seconds(envoy_pid(e))
                        r = run_wrk(e.url + path, conns, body, workdir)
                        r["cpu_us"] = (cpu_seconds(envoy_pid(e)) - before) / r["requests"] * 1e6
                        r["start"] = start
                        results[workload][name].append(r)
                        print(f"start {start + 1} round {rnd + 1} {workload:22} {name}: {r['rps']:9.0f} req/s  "
                              f"p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms  {r['cpu_us']:.1f} µs CPU/req", flush=True)
                order = order[1:] + order[:1]
            for name, e in proxies.items():
                loaded_rss.setdefault(name, []).append(rss_mb(envoy_pid(e)))
                e.stop()
            proxies = {}
        if not ONLY and not PICKED:
            split = cpu_split(configs, fake_port, workdir)
            write_report(results, {n: max(v) for n, v in idle_rss.items()}, {n: max(v) for n, v in loaded_rss.items()},
                         split, steps())
    finally:
        for e in proxies.values():
            e.stop()
        fake.stop()


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def ladder(by_name):
    """The rungs from N to W: each configuration's proxy CPU per request and throughput, and what
    it adds over the rung before it (medians of the per-round differences)."""
    rungs = [("N", "Envoy's native filter"), ("M", "a minimal callout filter (benches/ladder)"),
             ("M1", "M reading the request's headers and the answer's headers"),
             ("M2", "M1 making the filter's other host calls (clock, metrics)"), ("U", "the filter, unsigned"),
             ("W", "the filter")]
    rungs = [(name, what) for name, what in rungs if name in by_name]
    lines = ["Rungs from N to W (one step at a time: what each adds over the rung above):", "",
             "| rung | what | proxy CPU µs/req | added µs/req | req/s vs N |", "|---|---|---|---|---|"]
    below = None
    for name, what in rungs:
        rows = by_name[name]
        added = "" if below is None else f"{statistics.median(r['cpu_us'] - b['cpu_us'] for r, b in zip(rows, by_name[below])):+.1f}"
        ratio = statistics.median(r["rps"] / n["rps"] for r, n in zip(rows, by_name["N"]))
        lines.append(f"| {name} | {what} | {median(rows, 'cpu_us'):.1f} | {added} | {ratio:.2f} |")
        below = name
    return lines + [""]


def write_report(results, idle_rss, loaded_rss, split, step_us):
    lines = ["# Benchmarks", "",
             f"Machine: {machine()}.", "",
             f"Command: `make bench` (BENCH_ROUNDS={ROUNDS}, BENCH_SECONDS={SECONDS}); written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
             "P: plain proxying to the fake Lambda (the ceiling). N: Envoy's native `envoy.filters.http.aws_lambda` "
             "(static credentials, payload passthrough). W: lambda-wasm (callout, the default). I: lambda-wasm with the POST "
             "endpoint in `mode: in_place` (rewritten in place, signed by Envoy's aws_request_signing on the cluster). "
             "F: plain proxying through the filter serving none of the paths (the Wasm floor: what the VM costs a request "
             "when the filter does nothing). U: W built with signing compiled out (the `bench-unsigned-floor` feature; "
             "benchmark only, never shipped): the callout floor. L: Envoy's Lua filter building the Invoke (KrakenD's "
             "GET payload as the body) signed by the native aws_request_signing. Nj: the native filter with its own JSON "
             "payload. S: lambda-wasm with `signing: envoy`. W2, N2: W and N over HTTP/2 to the Lambda endpoint. "
             "M: a minimal callout filter (benches/ladder: one unsigned dispatch_http_call, the answer by "
             "send_http_response); M1: M reading the request's header map and the answer's headers, as any filter "
             "doing this job must; M2: M1 making every other host call W makes on a GET (clock, metrics), nothing else. "
             "T: I with `response_stream` (the fake answers 3.2 KB as an event stream, decoded on its way; p50 is "
             "the time to the whole streamed answer). "
             "Same Envoy binary, one worker on CPU 0; "
             "wrk and the fake Lambda (a buffering Envoy) on CPU 1. Medians over the rounds; the ratios are per-round "
             "ratios' medians.", ""]
    for workload, by_name in results.items():
        lines += [f"## {workload}", "", "| config | req/s | p50 ms | p99 ms | proxy CPU µs/req |", "|---|---|---|---|---|"]
        for name, rows in by_name.items():
            lines.append(f"| {name} | {median(rows, 'rps'):.0f} | {median(rows, 'p50'):.3f} | {median(rows, 'p99'):.3f} | {median(rows, 'cpu_us'):.1f} |")
        lines.append("")
        for mine in [m for m in ("W", "S", "I", "T", "L", "Nj", "U") if m in by_name]:
            rows = by_name[mine]
            wn = statistics.median(w["rps"] / n["rps"] for w, n in zip(rows, by_name["N"]))
            wp = statistics.median(w["rps"] / p["rps"] for w, p in zip(rows, by_name["P"]))
            p99 = statistics.median(w["p99"] / n["p99"] for w, n in zip(rows, by_name["N"]))
            cpu = statistics.median(w["cpu_us"] / n["cpu_us"] for w, n in zip(rows, by_name["N"]))
            per_start = {}
            for w, n in zip(rows, by_name["N"]):
                per_start.setdefault(w["start"], []).append(w["rps"] / n["rps"])
            starts = ", ".join(f"{statistics.median(v):.2f}" for _, v in sorted(per_start.items()))
            lines += [f"{mine}/N throughput {wn:.2f}, {mine}/P {wp:.2f}; {mine}/N p99 {p99:.2f}; "
                      f"{mine}/N CPU per request {cpu:.2f}. Per round ({mine}/N req/s): "
                      + ", ".join(f"{w['rps'] / n['rps']:.2f}" for w, n in zip(rows, by_name["N"]))
                      + f"; per Envoy start: {starts}.", ""]
            if mine == "W" and "L" in by_name:
                wl = statistics.median(w["rps"] / l["rps"] for w, l in zip(rows, by_name["L"]))
                lines += [f"W/L throughput {wl:.2f}.", ""]
        if "M" in by_name and "U" in by_name:
            lines += ladder(by_name)
        if "W2" in by_name and "N2" in by_name:
            w2n2 = statistics.median(w["rps"] / n["rps"] for w, n in zip(by_name["W2"], by_name["N2"]))
            w2n = statistics.median(w["rps"] / n["rps"] for w, n in zip(by_name["W2"], by_name["N"]))
            lines += [f"HTTP/2 to Lambda: W2/N2 {w2n2:.2f}, W2/N (N on HTTP/1.1) {w2n:.2f}.", ""]
    lines += ["## Memory and size", "", "| config | RSS idle MB | RSS after the runs MB |", "|---|---|---|"]
    for name in idle_rss:
        lines.append(f"| {name} | {idle_rss[name]:.1f} | {loaded_rss[name]:.1f} |")
    lines += ["", f"The filter's VMs add {idle_rss['W'] - idle_rss['P']:.1f} MB at idle over plain proxying. "
              f"`target/lambda-wasm.wasm`: {WASM.stat().st_size:,} bytes.", "",
              "What that memory is (`benches/wasm_memory.py`, and Envoy's `/memory`): about 14 MB is V8's own "
              "code in the Envoy binary, paged in as soon as any module loads, and a minimal module (85 KB, one "
              "`send_http_response`) adds 22 MB in all. The rest grows with the module's code, about 40 bytes of "
              "resident memory per byte: V8 compiles every function with TurboFan when Envoy loads the module, "
              "and Envoy's allocator keeps the pages that compiling took. The largest functions weigh most: one "
              "100 KB function adds 14 MB more than the same bytes as 40 functions. "
              "`BENCH_MEM_RELEASE=1 benches/wasm_memory.py` measures with Envoy's `memory_allocator_manager` "
              "handing free pages back.", ""]
    if split:
        lines += ["## Where a GET's time goes", "",
                  "GET c64, one run per configuration under `perf record` (kernel; Envoy's own code, V8's runtime and "
                  "the host calls' Envoy side included; the Wasm code V8 compiled), as µs of proxy CPU per request.", "",
                  "| config | CPU µs/req | kernel | Envoy | Wasm |", "|---|---|---|---|---|"]
        for name, (cpu_us, parts) in split.items():
            lines.append(f"| {name} | {cpu_us:.1f} | {parts['kernel']:.1f} | {parts['Envoy']:.1f} | {parts['Wasm']:.1f} |")
        lines.append("")
    if step_us:
        lines += ["The filter's own steps on one GET (`benches/steps`, medians of "
                  f"{STEP_RUNS} runs): in Wasm as the filter is built (release profile, wasm-opt), compiled by "
                  "Node's V8 with TurboFan as Envoy's is, and natively.", "",
                  "| step | Wasm µs | native µs |", "|---|---|---|"]
        for name, (wasm_us, native_us) in step_us.items():
            native = f"{native_us:.2f}" if native_us is not None else "–"
            lines.append(f"| {name} | {wasm_us:.2f} | {native} |")
        lines.append("")
    micro = micro_results()
    if micro:
        lines += ["## Hot path, natively (criterion, `cargo bench --bench hot_path`)", "", "| step | mean µs |", "|---|---|"]
        lines += [f"| {name} | {us:.2f} |" for name, us in micro] + [""]
    OUT.write_text("\n".join(lines))
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
