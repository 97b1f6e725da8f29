"""What the repository ships works: the demo behind `make run`, and every Envoy config in envoy/."""

import subprocess
import sys
from pathlib import Path

import pytest

from stack import BIN, ROOT, WASM, token_sds_file

CONFIGS = sorted((ROOT / "envoy").glob("*.yaml"))


def test_demo_serves_every_printed_example():
    result = subprocess.run([sys.executable, str(ROOT / "envoy" / "demo.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(ROOT / "envoy"))
    from demo import examples
    assert result.stdout.count("[ok]") == len(examples("")) == 11, result.stdout


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_envoy_accepts_the_example_config(path, tmp_path):
    # Envoy's validate mode loads the filter and runs its configuration, without serving.
    text = path.read_text()
    for shipped in ("filename: /etc/envoy/lambda-wasm.wasm", "filename: target/lambda-wasm.wasm"):
        text = text.replace(shipped, f"filename: {WASM}")
    # Other files the examples expect under /etc/envoy (the Pod Identity token's SDS file).
    etc = tmp_path / "etc"
    etc.mkdir()
    token_sds_file(etc / "pod-identity-token-sds.yaml", etc / "token")
    (etc / "token").write_text("token")
    text = text.replace("/etc/envoy", str(etc))
    config = tmp_path / path.name
    config.write_text(text)
    result = subprocess.run([str(BIN / "envoy"), "--mode", "validate", "-c", str(config), "--base-id", "4242"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Lambda endpoint(s)" in result.stdout + result.stderr
