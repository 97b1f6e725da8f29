"""Builds the filter's Wasm OCI image without Docker, as an OCI image layout directory.

The image follows the "compat" variant of the Wasm image specification that Istio pulls
(`WasmPlugin.url: oci://...`, or ECDS with istio-agent): one gzip tar layer holding
`plugin.wasm` at its root, and the manifest annotation `module.wasm.image/variant: compat`.
The build is reproducible: fixed timestamps, owners and modes.

    python3 envoy/istio/build_image.py target/lambda-wasm.wasm target/oci 0.1.0

It prints the image's manifest digest. That digest, as 64 hex characters without `sha256:`, is
what Istio's `sha256` fields take (WasmPlugin `spec.sha256`, an EnvoyFilter's
`vm_config.code.remote.sha256`): istio-agent compares it with the digest of the manifest it pulls,
never with the module's own hash. Push without re-encoding the manifest, so the registry serves
the same digest: `skopeo copy --preserve-digests oci:target/oci:0.1.0 docker://REGISTRY/lambda-wasm:0.1.0`.
"""

import gzip
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def _blob(blobs: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return f"sha256:{digest}"


def _descriptor(media_type: str, digest: str, size: int, **extra) -> dict:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def _layer(wasm: bytes) -> tuple[bytes, bytes]:
    """The layer tar (uncompressed, for the config's diff_id) and its gzip (the blob)."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("plugin.wasm")
        info.size, info.mode, info.mtime = len(wasm), 0o644, 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(wasm))
    raw = tar_bytes.getvalue()
    return raw, gzip.compress(raw, mtime=0)


def build(wasm_path: Path, out: Path, tag: str) -> str:
    """Writes the layout to `out` and returns the manifest digest."""
    wasm = wasm_path.read_bytes()
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    raw, compressed = _layer(wasm)
    layer_digest = _blob(blobs, compressed)
    config = json.dumps({
        "created": "1970-01-01T00:00:00Z",
        "architecture": "wasm",
        "os": "wasip1",
        "config": {"Labels": {"org.opencontainers.image.title": "lambda-wasm"}},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(raw).hexdigest()}"]},
    }, sort_keys=True).encode()
    config_digest = _blob(blobs, config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": _descriptor(CONFIG_TYPE, config_digest, len(config)),
        "layers": [_descriptor(LAYER_TYPE, layer_digest, len(compressed),
                               annotations={"org.opencontainers.image.title": "plugin.wasm"})],
        "annotations": {"org.opencontainers.image.title": "lambda-wasm",
                        "module.wasm.image/variant": "compat"},
    }, sort_keys=True).encode()
    manifest_digest = _blob(blobs, manifest)
    (out / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (out / "index.json").write_text(json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [_descriptor(MANIFEST_TYPE, manifest_digest, len(manifest),
                                  annotations={"org.opencontainers.image.ref.name": tag})],
    }, sort_keys=True))
    return manifest_digest


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    digest = build(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
    print(f"built oci:{sys.argv[2]}:{sys.argv[3]}, manifest digest {digest}")
    print(f"sha256 for WasmPlugin and EnvoyFilter (the manifest digest): {digest.removeprefix('sha256:')}")
