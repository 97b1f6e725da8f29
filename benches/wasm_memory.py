"""The filter's size and the memory it adds to Envoy: a short, bounded measurement (not a load test).

For each `.wasm` given (default: target/lambda-wasm.wasm) and each worker count (1 and 2), start
the real Envoy afresh with plain routing (P) and with the filter serving a GET and a POST endpoint
(W), and read Envoy's VmRSS from /proc: once ready ("idle", after a short settle) and again after a
few requests ("used": GETs and 64 KB POSTs, so the signing and hashing code has run). The Lambda the
filter calls is a direct_response listener in the same Envoy, so both configurations run one
process. Each cell is the median of BENCH_MEM_STARTS fresh starts (default 3).

    .venv/bin/python benches/wasm_memory.py [module.wasm ...]

Prints a Markdown table: module size, then RSS of P and W and W - P, idle (with the range over
the starts) and used. V8 compiles the whole module with TurboFan when it loads it (Liftoff is off
in Envoy), on background threads: the peak of that compilation stays in Envoy's allocator, so what
else runs on the machine at the time moves the figure by a few MB. Measure on an idle machine.

`BENCH_MEM_RELEASE=1` starts both configurations with Envoy's `memory_allocator_manager`, which
hands the allocator's free pages back to the system every 0.5 s: what is left is what the module
holds, not what compiling it once took.
"""

import os
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "envoy"))
from stack import WASM, Envoy, cluster, free_port, http_listener, wasm_filter  # noqa: E402

STARTS = int(os.environ.get("BENCH_MEM_STARTS", "3"))
WORKERS = [int(w) for w in os.environ.get("BENCH_MEM_WORKERS", "1,2").split(",")]
SETTLE = float(os.environ.get("BENCH_MEM_SETTLE", "1.5"))
RELEASE = os.environ.get("BENCH_MEM_RELEASE") == "1"
GETS, POSTS = 200, 20
CREDS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
ARN = "arn:aws:lambda:us-east-1:123456789012:function:bench"
PLUGIN = {"credentials": CREDS, "endpoints": [
    {"endpoint": "/bench/{id}", "backend": [{"host": ["x"], "url_pattern": "/x", "extra_config": {
        "backend/lambda": {"function_name": ARN, "region": "us-east-1"}}}]},
    {"endpoint": "/post", "method": "POST", "backend": [{"host": ["x"], "url_pattern": "/x", "extra_config": {
        "backend/lambda": {"function_name": ARN, "region": "us-east-1"}}}]}]}


def bootstrap(port, admin, fake_port, module):
    fake = http_listener("fake", fake_port, [], {"match": {"prefix": "/"}, "direct_response": {
        "status": 200, "body": {"inline_string": '{"ok":true}'}}}, stat_prefix="fake")
    if module is None:
        main = http_listener("main", port, [], {"match": {"prefix": "/"}, "route": {"cluster": "lambda"}},
                             buffer_limit=8 * 1024 * 1024)
    else:
        main = http_listener("main", port, [wasm_filter(PLUGIN, module)],
                             {"match": {"prefix": "/"}, "direct_response": {"status": 404}},
                             buffer_limit=8 * 1024 * 1024)
    config = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {"listeners": [fake, main], "clusters": [cluster("lambda", fake_port)]},
    }
    if RELEASE:
        # Envoy's allocator hands free pages back to the system in the background (both P and W).
        config["memory_allocator_manager"] = {"bytes_to_release": 64 * 1024 * 1024,
                                              "memory_release_interval": "0.5s"}
    return config


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_start(module, workers):
    """(idle RSS, RSS after the requests) of one fresh Envoy, in MB."""
    ports = set()
    while len(ports) < 3:  # three distinct free ports (free_port may return one twice)
        ports.add(free_port())
    port, admin, fake_port = sorted(ports)
    envoy = Envoy(bootstrap(port, admin, fake_port, module), port, admin, concurrency=workers)
    try:
        envoy.start()
        time.sleep(SETTLE)
        idle = rss_mb(envoy.proc.pid)
        body = b'{"k":"' + b"x" * (64 * 1024) + b'"}'
        with requests.Session() as s:
            for i in range(GETS):
                r = s.get(f"{envoy.url}/bench/{i}", timeout=5)
                assert r.status_code == 200, (r.status_code, r.text[:200])
            for _ in range(POSTS):
                r = s.post(f"{envoy.url}/post", data=body, timeout=5)
                assert r.status_code == 200, (r.status_code, r.text[:200])
        time.sleep(SETTLE)
        return idle, rss_mb(envoy.proc.pid)
    finally:
        envoy.stop()
        envoy.cleanup()


def measure(module, workers):
    """Medians of (idle, used) RSS over STARTS fresh starts, and the idle range."""
    runs = [one_start(module, workers) for _ in range(STARTS)]
    idle = [r[0] for r in runs]
    return statistics.median(idle), statistics.median(r[1] for r in runs), min(idle), max(idle)


def main():
    modules = [Path(m) for m in sys.argv[1:]] or [WASM]
    print("| module | bytes | workers | P idle MB | W idle MB | added idle MB (range) | P used MB | W used MB | added used MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for workers in WORKERS:
        plain = measure(None, workers)
        for module in modules:
            w = measure(module, workers)
            print(f"| {module.name} | {module.stat().st_size:,} | {workers} | {plain[0]:.1f} | {w[0]:.1f} | "
                  f"{w[0] - plain[0]:.1f} ({w[2] - plain[0]:.1f}–{w[3] - plain[0]:.1f}) | {plain[1]:.1f} | {w[1]:.1f} | {w[1] - plain[1]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
