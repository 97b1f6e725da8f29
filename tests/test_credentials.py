"""Credential sources in the real Envoy: AssumeRole against moto's STS; the container agent and
IMDSv2 as stand-ins (see credential_standins.py: they hand out real moto STS credentials, require
their tokens, rotate keys and set short expiries that an ExpiryGate in front of moto enforces)."""

import threading
import time

import pytest
import requests

from conftest import lambda_endpoint, plugin
from credential_standins import ContainerAgent, CredentialAuthority, ExpiryGate, Imds
from stack import Moto, cluster, free_port, token_injector_listener, token_sds_file

POD_TOKEN = "pod-identity-token-123"


def lambda_via(gate):
    return lambda_endpoint("/f", {"function_name": "echo", "endpoint": gate.url})


def container_envoy(start_envoy, moto, servers, lifetime=900, token=POD_TOKEN, credentials=None, concurrency=1,
                    timeout=None, agent_up=True):
    authority = CredentialAuthority(moto, lifetime)
    agent, gate = ContainerAgent(authority, POD_TOKEN), ExpiryGate(authority, moto)
    agent.up = agent_up
    servers.extend([agent, gate])
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials",
           "AWS_CONTAINER_AUTHORIZATION_TOKEN": token}
    endpoint = lambda_via(gate)
    if timeout:
        endpoint["timeout"] = timeout
    config = plugin(None, endpoint)
    if credentials:
        config["credentials"] = credentials
    envoy = start_envoy(config, gate.port, clusters=[cluster("container_credentials", agent.port)],
                        env=env, env_keys=list(env), concurrency=concurrency)
    return envoy, authority, agent, gate


def test_assume_role_with_moto_sts(moto, start_envoy):
    config = plugin(moto, lambda_endpoint("/f", {"function_name": "echo", "endpoint": moto.url}))
    config["credentials"]["assume_role"] = {"role_arn": moto.role_arn, "role_session_name": "gateway",
                                            "endpoint": moto.url, "duration": "1h"}
    before = moto.query_api_calls()
    envoy = start_envoy(config, moto.port, clusters=[cluster("sts", moto.port)])
    for _ in range(5):
        r = requests.get(envoy.url + "/f")
        assert r.status_code == 200, r.text
    # Fetched once for the whole Envoy (two VMs here), then cached.
    assert moto.query_api_calls() - before == 1
    log = envoy.log()
    assert f"credentials from STS AssumeRole {moto.role_arn} on static keys: refreshed, valid for" in log
    assert moto.secret_access_key not in log


def test_container_credentials_with_authorization_token(moto, start_envoy, servers):
    envoy, authority, agent, gate = container_envoy(start_envoy, moto, servers)
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 200, r.text
    assert agent.requests[0]["headers"]["authorization"] == POD_TOKEN
    assert agent.requests[0]["path"] == "/v1/credentials"
    assert gate.rejected == 0


def test_a_wrong_container_token_gives_503s(moto, start_envoy, servers):
    envoy, *_ = container_envoy(start_envoy, moto, servers, token="wrong-token")
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 503
    assert r.json()["error"] == "credentials_unavailable"
    assert "container credentials endpoint answered HTTP 401" in envoy.log()
    assert envoy.stat("cluster.lambda.upstream_rq_total") == 0


def test_imdsv2(moto, start_envoy, servers):
    authority = CredentialAuthority(moto, 900)
    imds, gate = Imds(authority), ExpiryGate(authority, moto)
    servers.extend([imds, gate])
    envoy = start_envoy(plugin(None, lambda_via(gate)), gate.port, clusters=[cluster("imds", imds.port)])
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 200, r.text
    steps = [(q["method"], q["path"]) for q in imds.requests]
    assert steps == [("PUT", "/latest/api/token"), ("GET", "/latest/meta-data/iam/security-credentials/"),
                     ("GET", "/latest/meta-data/iam/security-credentials/lambda-wasm-instance-role")]
    assert all("x-aws-ec2-metadata-token" in q["headers"] for q in imds.requests[1:])


def test_refresh_ahead_of_expiry_under_steady_traffic(moto, start_envoy, servers):
    # Keys live 8 s and are refreshed 5 s before expiry; the gate refuses any key used past
    # its expiry. Ten seconds of steady traffic must see rotations and not one failure.
    envoy, authority, agent, gate = container_envoy(start_envoy, moto, servers, lifetime=8,
                                                    credentials={"refresh_before": "5s"})
    statuses = []
    deadline = time.monotonic() + 10
    with requests.Session() as s:
        while time.monotonic() < deadline:
            statuses.append(s.get(envoy.url + "/f").status_code)
            time.sleep(0.02)
    assert len(statuses) > 100
    assert set(statuses) == {200}, [s for s in statuses if s != 200][:5]
    assert authority.issued >= 3, authority.issued
    assert gate.rejected == 0


def test_credentials_are_shared_between_worker_vms(moto, start_envoy, servers):
    envoy, authority, agent, gate = container_envoy(start_envoy, moto, servers, concurrency=3)
    results = []

    def worker():
        with requests.Session() as s:
            for _ in range(10):
                results.append(s.get(envoy.url + "/f").status_code)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(200) == 60
    # Four VMs (main thread + 3 workers), one fetch: the others took the shared credentials.
    assert agent.issued == 1


def test_requests_wait_for_the_first_fetch_within_their_timeout(moto, start_envoy, servers):
    authority = CredentialAuthority(moto, 900)
    agent, gate = ContainerAgent(authority, POD_TOKEN), ExpiryGate(authority, moto)
    agent.delay = 1.5  # a slow agent: the first fetch is still in flight when requests arrive
    servers.extend([agent, gate])
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials",
           "AWS_CONTAINER_AUTHORIZATION_TOKEN": POD_TOKEN}
    slow, quick = lambda_via(gate), lambda_endpoint("/quick", {"function_name": "echo", "endpoint": gate.url})
    slow["timeout"], quick["timeout"] = "5s", "300ms"
    envoy = start_envoy(plugin(None, slow, quick), gate.port, clusters=[cluster("container_credentials", agent.port)],
                        env=env, env_keys=list(env))
    results = {}

    def call(path):
        started = time.monotonic()
        r = requests.get(envoy.url + path)
        results[path] = (r.status_code, time.monotonic() - started)

    threads = [threading.Thread(target=call, args=(p,)) for p in ("/f", "/quick")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["/f"][0] == 200, results  # waited for the fetch instead of failing
    assert results["/quick"][0] == 503, results  # its 300 ms ran out first
    assert results["/quick"][1] < 1.2, results
    assert agent.issued == 1


def test_dead_source_gives_503s_then_recovers(moto, start_envoy, servers):
    envoy, authority, agent, gate = container_envoy(start_envoy, moto, servers, agent_up=False)
    started = time.monotonic()
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 503
    assert r.json() == {"error": "credentials_unavailable",
                        "message": "AWS credentials are unavailable: the Lambda request was not sent"}
    assert time.monotonic() - started < 2.5
    assert "HTTP 500" in envoy.log()
    agent.up = True
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if requests.get(envoy.url + "/f").status_code == 200:
            break
        time.sleep(0.2)
    else:
        pytest.fail("never recovered")
    assert envoy.stat("cluster.lambda.upstream_rq_total") >= 1


def test_rejected_credentials_are_refreshed_and_the_request_retried(moto, start_envoy, servers):
    envoy, authority, agent, gate = container_envoy(start_envoy, moto, servers, lifetime=900)
    assert requests.get(envoy.url + "/f").status_code == 200
    issued = authority.issued
    authority.revoke_all()  # AWS now says these keys are expired
    r = requests.get(envoy.url + "/f")
    assert r.status_code == 200, r.text
    assert gate.rejected == 1
    assert authority.issued == issued + 1
    assert "AWS rejected the credentials as expired or unknown" in envoy.log()


def test_pod_identity_token_file_through_envoy_with_rotation(moto, start_envoy, servers, tmp_path):
    """The Wasm VM cannot read the EKS Pod Identity token file. Envoy can: the container callout
    goes to a loopback listener whose credential_injector adds the token from a file-watched
    SDS secret. When kubelet rotates the file, the next fetch carries the new token."""
    token_dir = tmp_path / "token"
    token_dir.mkdir()
    token_file, sds = token_dir / "eks-pod-identity-token", token_dir / "sds.json"
    token_file.write_text("token-one")
    token_sds_file(sds, token_file)
    authority = CredentialAuthority(moto, 8)
    agent, gate = ContainerAgent(authority, "token-one"), ExpiryGate(authority, moto)
    servers.extend([agent, gate])
    injector_port = free_port()
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials"}  # no token: Envoy adds it
    config = plugin(None, lambda_via(gate))
    config["credentials"] = {"refresh_before": "5s"}
    envoy = start_envoy(config, gate.port, env=env, env_keys=list(env),
                        clusters=[cluster("container_credentials", injector_port), cluster("pod_identity_agent", agent.port)],
                        extra_listeners=[token_injector_listener(injector_port, "pod_identity_agent", sds)])
    assert requests.get(envoy.url + "/f").status_code == 200
    assert agent.requests[0]["headers"]["authorization"] == "token-one"
    # kubelet rotates the token (write, then rename into place); the agent accepts only the new one.
    rotated = token_dir / "new"
    rotated.write_text("token-two")
    rotated.rename(token_file)
    sds_new = token_dir / "sds.new"
    sds_new.write_text(sds.read_text())
    sds_new.rename(sds)
    agent.token = "token-two"
    statuses = []
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        statuses.append(requests.get(envoy.url + "/f").status_code)
        time.sleep(0.05)
    assert set(statuses) == {200}, statuses
    assert agent.requests[-1]["headers"]["authorization"] == "token-two"
    assert gate.rejected == 0


def test_web_identity_with_moto_sts(start_envoy, tmp_path):
    # A moto of its own: AssumeRoleWithWebIdentity is unsigned, as on AWS, so moto lets exactly
    # one unauthenticated request through (that call) and checks every Invoke signature after it.
    moto = Moto(log_dir=tmp_path).start()
    try:
        moto.create_function("echo")
        moto.enable_auth(unauthenticated=1)
        before = moto.query_api_calls()
        env = {"AWS_ROLE_ARN": moto.role_arn, "AWS_WEB_IDENTITY_TOKEN": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwb2QifQ.sig"}
        config = plugin(None, lambda_endpoint("/f", {"function_name": "echo", "endpoint": moto.url}))
        config["credentials"] = {"web_identity": {"endpoint": moto.url, "role_session_name": "pod"}}
        envoy = start_envoy(config, moto.port, clusters=[cluster("sts", moto.port)], env=env, env_keys=list(env))
        for _ in range(3):
            r = requests.get(envoy.url + "/f")
            assert r.status_code == 200, r.text
        assert moto.query_api_calls() - before == 1
        assert "credentials from STS AssumeRoleWithWebIdentity: refreshed" in envoy.log()
    finally:
        moto.stop()
