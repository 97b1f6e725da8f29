"""`make run`: moto as a local Lambda API (signature checking on, demo functions created) and the
real Envoy with the filter from envoy/envoy.yaml. Prints curl lines; Ctrl-C stops everything.

    --check   run the printed requests, report, and exit (used by the tests)
"""

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import ROOT, WASM, Envoy, Moto, free_port  # noqa: E402
from streaming_function import StreamingFunction  # noqa: E402

CONFIG = Path(__file__).resolve().parent / "envoy.yaml"


def demo_config(listener_port, admin_port, moto_port, stream_port):
    """envoy.yaml with the ports of this run (the file itself uses 10000, 9901, 4566 and 4567)."""
    text = CONFIG.read_text().replace("127.0.0.1:4566", f"127.0.0.1:{moto_port}")
    config = yaml.safe_load(text)
    config["admin"]["address"]["socket_address"]["port_value"] = admin_port
    listener = config["static_resources"]["listeners"][0]
    listener["address"]["socket_address"]["port_value"] = listener_port
    for c in config["static_resources"]["clusters"]:
        ports = {"lambda": moto_port, "lambda_signed": moto_port, "lambda_stream": stream_port}
        if c["name"] in ports:
            c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
                "socket_address"]["port_value"] = ports[c["name"]]
    http_filters = listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    http_filters[0]["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"] = str(WASM)
    return config


def examples(url):
    """(description, method, path, body, expected status) for each curl line printed."""
    return [
        ("a fixed function (GET: the payload is the path placeholders, here none)", "GET", "/hello", None, 200),
        ("the function named by the path ({lambda} → function_param_name \"Lambda\")", "GET", "/call-a-lambda/hello", None, 200),
        ("a qualified name, percent-encoded in the path", "GET", "/call-a-lambda/hello%3Alive", None, 200),
        ("POST: the body goes to the function unchanged (moto's functions echo it)", "POST", "/users/42/orders",
         '{"item":"book","qty":1}', 200),
        ("KrakenD manipulation: deny, mapping and group applied to the function's answer", "POST",
         "/profiles/7", '{"name":"Ada","password_hash":"x1","plan":"pro"}', 200),
        ("KrakenD aggregation: two functions at once, answers merged (x-krakend-completed: true)", "GET",
         "/dashboard/7", None, 200),
        ("InvokeWithResponseStream in place: five events, each on screen as the function sends it (curl -N)",
         "POST", "/stream/events", "{}", 200),
        ("mode in_place: the request itself becomes the Invoke, signed by Envoy's aws_request_signing", "POST",
         "/in-place/orders", '{"item":"pen","qty":2}', 200),
        ("an invalid function name: 400, nothing sent to AWS", "GET", "/call-a-lambda/not%20valid", None, 400),
        ("a function outside allowed_functions: 404, nothing sent to AWS", "GET", "/call-a-lambda/billing", None, 404),
        ("no endpoint matches: Envoy's own route answers", "GET", "/elsewhere", None, 404),
    ]


def curl(url, method, path, body):
    parts = ["curl", "-siN" if "stream" in path else "-si"]
    if method != "GET":
        parts += ["-X", method, "-H", "'content-type: application/json'", "-d", f"'{body}'"]
    parts.append(f"'{url}{path}'")
    return " ".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="run the examples and exit")
    args = parser.parse_args()
    if not WASM.exists():
        sys.exit(f"{WASM} is missing: run `make build` first")

    fixed = not args.check
    listener_port = int(os.environ.get("DEMO_PORT", 10000)) if fixed else free_port()
    admin_port = int(os.environ.get("DEMO_ADMIN_PORT", 9901)) if fixed else free_port()
    moto_port = int(os.environ.get("DEMO_MOTO_PORT", 4566)) if fixed else free_port()
    stream_port = int(os.environ.get("DEMO_STREAM_PORT", 4567)) if fixed else free_port()
    workdir = Path(tempfile.mkdtemp(prefix="lambda-wasm-demo-"))

    moto = Moto(moto_port, log_dir=workdir)
    streaming = StreamingFunction(stream_port, gap=0.5 if fixed else 0.05).start()
    envoy = None
    try:
        print(f"starting moto (Lambda API, signature checking on) on 127.0.0.1:{moto_port} ...", flush=True)
        moto.start()
        moto.create_function("hello", alias="live")
        moto.enable_auth()
        env = {"AWS_ACCESS_KEY_ID": moto.access_key_id, "AWS_SECRET_ACCESS_KEY": moto.secret_access_key}
        envoy = Envoy(demo_config(listener_port, admin_port, moto_port, stream_port), listener_port, admin_port,
                      env=env, log_dir=workdir)
        print(f"starting Envoy with the filter on 127.0.0.1:{listener_port} (admin {admin_port}) ...", flush=True)
        envoy.start()
        url = envoy.url
        failures = 0
        print("\nTry:\n")
        for description, method, path, body, status in examples(url):
            print(f"  # {description}\n  {curl(url, method, path, body)}\n")
            if args.check:
                r = requests.request(method, url + path, data=body)
                ok = r.status_code == status
                failures += not ok
                print(f"  -> {r.status_code} {r.text.strip()[:120]}  [{'ok' if ok else f'expected {status}'}]\n")
        print(f"  # what the filter logged\n  less {envoy.log_path}\n")
        print(f"  # Envoy's stats for the Lambda cluster\n  curl -s {envoy.admin}/stats | grep cluster.lambda.upstream_rq\n")
        if args.check:
            sys.exit(1 if failures else 0)
        print("Ctrl-C to stop.", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while envoy.proc.poll() is None and moto.proc.poll() is None:
            time.sleep(0.5)
        print("a process exited; stopping", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("\nstopping ...")
    finally:
        if envoy:
            envoy.stop()
        moto.stop()
        streaming.stop()


if __name__ == "__main__":
    main()
