"""Envoy signs the callouts (`signing: envoy`), and backends bring their own credentials, in the
real Envoy against moto with signature checking on: Envoy's aws_request_signing on the callout's
cluster with an inline key, with a credentials file of two profiles, and with IRSA's web identity
token file rotated under traffic (Envoy's own STS cluster reached through a DNS and STS stand-in:
see sts_standin.py). A recording forwarder (credential_standins.KeyRecorder) sits in front of moto
only where a test must see which key signed."""

import json
import threading
import time

import requests
import yaml

from conftest import lambda_endpoint, plugin
from credential_standins import KeyRecorder
from stack import ROOT, cluster, signing_cluster, wait_until
from sts_standin import loopback_sts, rotate_token

REGION = "us-east-1"


def envoy_signed(path, function="echo", cluster_name="lambda_signed", method="GET", backend_method=None):
    return lambda_endpoint(path, {"function_name": function, "signing": "envoy", "cluster": cluster_name},
                           method=method, backend_method=backend_method)


def keys_of(moto):
    return {"access_key_id": moto.access_key_id, "secret_access_key": moto.secret_access_key}


def test_envoy_signed_callouts_carry_get_and_post_bodies(moto, start_envoy, standin):
    app = standin(echo=True)
    config = plugin(None, envoy_signed("/e/{id}"), envoy_signed("/post", method="POST", backend_method="POST"))
    envoy = start_envoy(config, clusters=[signing_cluster("lambda_signed", moto.port, REGION, keys_of(moto))],
                        upstream_port=app.port)
    before = len(moto.invoked_paths())
    r = requests.get(envoy.url + "/e/42")
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "42"}
    for size in (10, 1024 * 1024):
        body = json.dumps({"data": "x" * size}).encode()
        r = requests.post(envoy.url + "/post", data=body)
        assert r.status_code == 200, r.text[:300]
        assert r.content == body, "moto echoed the body Envoy's signer hashed and signed"
    assert len(moto.invoked_paths()) - before == 3
    log = envoy.log()
    assert "no AWS credentials" not in log, "the filter needs none for Envoy-signed backends"
    assert moto.secret_access_key not in log


def test_no_client_request_reaches_the_signing_cluster(moto, start_envoy, standin):
    app = standin(echo=True)
    config = plugin(None, envoy_signed("/e"))
    envoy = start_envoy(config, clusters=[signing_cluster("lambda_signed", moto.port, REGION, keys_of(moto))],
                        upstream_port=app.port)
    before = len(moto.invoked_paths())
    # The Invoke path itself, with the headers a callout carries: only the catch-all route
    # (the app) may answer; no route leads to the signing cluster.
    r = requests.post(envoy.url + "/2015-03-31/functions/echo/invocations", data=b"{}",
                      headers={"host": f"lambda.{REGION}.amazonaws.com", "x-amz-invocation-type": "RequestResponse"})
    assert r.json()["path"] == "/2015-03-31/functions/echo/invocations", "the app answered"
    assert len(moto.invoked_paths()) == before
    stats = requests.get(envoy.admin + "/stats").text
    assert "cluster.lambda_signed.upstream_rq_total: 0" in stats, stats[:2000]


def test_a_credentials_file_with_two_profiles(moto, start_envoy, tmp_path):
    iam = moto._client("iam")
    iam.create_user(UserName="no-invoke")
    other = iam.create_access_key(UserName="no-invoke")["AccessKey"]
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[invoker]\naws_access_key_id = {moto.access_key_id}\naws_secret_access_key = {moto.secret_access_key}\n\n"
        f"[reader]\naws_access_key_id = {other['AccessKeyId']}\naws_secret_access_key = {other['SecretAccessKey']}\n")

    def file_provider(profile):
        return {"credentials_file_provider": {"credentials_data_source": {"filename": str(credentials)},
                                              "profile": profile},
                "custom_credential_provider_chain": True}

    config = plugin(None, envoy_signed("/a", cluster_name="lambda_invoker"),
                    envoy_signed("/b", cluster_name="lambda_reader"))
    envoy = start_envoy(config, clusters=[
        signing_cluster("lambda_invoker", moto.port, REGION, provider=file_provider("invoker")),
        signing_cluster("lambda_reader", moto.port, REGION, provider=file_provider("reader"))])
    r = requests.get(envoy.url + "/a")
    assert r.status_code == 200, r.text
    # The second profile's user may not invoke: each cluster signed with its own profile.
    r = requests.get(envoy.url + "/b")
    assert r.status_code == 502, r.text
    assert r.json()["error"] == "lambda_access_denied"
    log = envoy.log()
    assert "signed by Envoy's aws_request_signing on cluster \"lambda_reader\"" in log
    assert other["SecretAccessKey"] not in log


def test_a_backend_assumes_its_own_role(moto, start_envoy, servers):
    # Filter-signed, per-backend credentials: AssumeRole with an external id on top of static
    # keys, fetched and shared like the top-level ones. moto answers 500 to keys of a role in an
    # account it does not hold, so the second role is in moto's account: the test shows that
    # the backend signs with its own assumed-role keys while another backend uses the top-level.
    recorder = KeyRecorder(moto)
    servers.append(recorder)
    own = {**keys_of(moto), "assume_role": {"role_arn": moto.role_arn, "role_session_name": "tenant-b",
                                              "external_id": "gateway-b", "endpoint": moto.url}}
    config = plugin(moto,
                    lambda_endpoint("/top", {"function_name": "echo", "endpoint": recorder.url}),
                    lambda_endpoint("/own", {"function_name": "echo", "endpoint": recorder.url, "credentials": own}))
    envoy = start_envoy(config, recorder.port, clusters=[cluster("sts", moto.port)], concurrency=2)
    for path in ("/top", "/own", "/own", "/top"):
        r = requests.get(envoy.url + path)
        assert r.status_code == 200, (path, r.text)
    top_key, own_key = recorder.keys[0], recorder.keys[1]
    assert top_key == moto.access_key_id
    assert own_key != top_key and own_key.startswith("ASIA"), recorder.keys
    assert recorder.keys == [top_key, own_key, own_key, top_key]
    log = envoy.log()
    assert f"backend credentials from STS AssumeRole {moto.role_arn} on static keys" in log
    assert moto.secret_access_key not in log


def shipped_provider(cluster_name):
    """The `credential_provider` of a signing cluster in envoy/aws.yaml."""
    config = yaml.safe_load((ROOT / "envoy" / "aws.yaml").read_text())
    [found] = [c for c in config["static_resources"]["clusters"] if c["name"] == cluster_name]
    options = found["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    [signer] = [f for f in options["http_filters"] if f["name"] == "envoy.filters.http.aws_request_signing"]
    return signer["typed_config"]["credential_provider"]


def test_irsa_token_file_rotated_under_traffic(moto, start_envoy, servers, tmp_path):
    # Envoy's web identity provider reads the token file, asks STS (its own internal cluster,
    # resolved through the DNS stand-in) and signs with the answer; STS's keys expire every 2 s, so
    # Envoy asks again all through the run. The token is rotated mid-traffic and the old one is
    # refused from then on: a signer still reading the old token would lose its keys (Envoy then
    # signs anonymously and moto refuses), so zero failures means Envoy followed the rotation.
    sts, dns, tokens = loopback_sts(moto, servers, tmp_path)
    # The credential provider envoy/aws.yaml ships for IRSA, with moto's role and this token directory.
    provider = shipped_provider("lambda_us_east_1_irsa")
    identity = provider["assume_role_with_web_identity_provider"]
    identity["role_arn"] = moto.role_arn
    identity["web_identity_token_data_source"] = {"filename": str(tokens / "token"),
                                                  "watched_directory": {"path": str(tokens)}}
    config = plugin(None, envoy_signed("/e/{id}", cluster_name="lambda_irsa"),
                    envoy_signed("/post", cluster_name="lambda_irsa", method="POST", backend_method="POST"))
    envoy = start_envoy(config, clusters=[signing_cluster("lambda_irsa", moto.port, REGION, provider=provider)],
                        bootstrap={"typed_dns_resolver_config": dns.resolver_config()})
    wait_until(lambda: any(key for _, _, key in sts.calls), what="Envoy's first STS answer")

    outcomes, stop = [], threading.Event()

    def traffic():
        with requests.Session() as s:
            n = 0
            while not stop.is_set() and n < 2000:
                n += 1
                try:
                    if n % 2:
                        r = s.get(envoy.url + f"/e/{n}", timeout=10)
                        outcomes.append((r.status_code, r.content == b'{"id":"%d"}\n' % n))
                    else:
                        body = json.dumps({"n": n, "pad": "x" * 4096}).encode()
                        r = s.post(envoy.url + "/post", data=body, timeout=10)
                        outcomes.append((r.status_code, r.content == body))
                except requests.RequestException as e:
                    outcomes.append((0, repr(e)))

    runner = threading.Thread(target=traffic)
    runner.start()
    time.sleep(3)
    rotated = rotate_token(sts, tokens, "token-2", 2)
    time.sleep(5)
    stop.set()
    runner.join(timeout=30)

    failures = [o for o in outcomes if o != (200, True)]
    assert len(outcomes) > 50 and not failures, (len(outcomes), failures[:5])
    assert all(key for _, _, key in sts.calls), "STS never refused a token: Envoy read the rotated file"
    after = [token for t, token, _ in sts.calls if t > rotated]
    assert len(after) >= 2 and set(after) == {"token-2"}, after
    assert len({key for _, _, key in sts.calls}) >= 4, "the keys were refreshed all through the run"
    refreshes = "aws.metadata_credentials_provider.sts_token_service_internal-us-east-1."
    assert envoy.stat(refreshes + "credential_refreshes_failed") == 0
    assert envoy.stat(refreshes + "credential_refreshes_succeeded") >= 4
    assert moto.secret_access_key not in envoy.log()
