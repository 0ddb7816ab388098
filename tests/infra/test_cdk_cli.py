"""`npx cdk synth` from the repo root, the way a deployer runs it: real layer, cdk-nag on, no AWS credentials."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from layers.build import ensure_layer

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

REPO = Path(__file__).resolve().parents[2]
CDK_BIN = REPO / "node_modules" / ".bin" / "cdk"


def credential_free_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        CDK_DISABLE_VERSION_CHECK="1",
        CDK_DISABLE_CLI_TELEMETRY="1",
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


@pytest.mark.skipif(
    shutil.which("npx") is None or not CDK_BIN.exists(),
    reason="needs node/npx and the aws-cdk CLI from package.json (run `npm ci` in the repo root)",
)
def test_cdk_cli_synth(tmp_path: Path) -> None:
    outdir = tmp_path / "cdk.out"
    result = subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "--quiet", "--no-notices", "--output", str(outdir)],
        cwd=REPO,
        env=credential_free_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    template = json.loads((outdir / "EmrexEmc.template.json").read_text())
    types = [resource["Type"] for resource in template["Resources"].values()]
    assert types.count("AWS::Lambda::Function") == 7

    # The real layer (not the stub) is staged, and its asset hash is derived from the input fingerprint only.
    layer = ensure_layer("arm64")
    (layer_resource,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    s3_key = layer_resource["Properties"]["Content"]["S3Key"]
    assert s3_key == hashlib.sha256(layer.fingerprint.encode()).hexdigest() + ".zip"
    staged = outdir / f"asset.{s3_key.removesuffix('.zip')}"
    assert (staged / "python" / "lxml").is_dir()
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    expected_xsd_dir = "/opt/emrex-xsd" if layer.has_xsd else ""
    xsd_dirs = [fn["Properties"]["Environment"]["Variables"].get("EMREX_XSD_DIR") for fn in functions]
    assert [value for value in xsd_dirs if value is not None] == [expected_xsd_dir]  # the callback only
