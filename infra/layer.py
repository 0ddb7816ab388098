"""Where the dependency layer's code comes from: the stamped no-Docker build, or a stub for unit tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import AssetHashType
from aws_cdk import aws_lambda as lambda_

from infra.config import EmrexConfig
from layers.build import BUILD_DIR, XSD_LAYER_DIR, ensure_layer

XSD_MOUNT = f"/opt/{XSD_LAYER_DIR}"


@dataclass(frozen=True)
class LayerAsset:
    code: lambda_.Code
    xsd_dir: str
    """EMREX_XSD_DIR for the functions; empty when the layer carries no XSDs."""


def stub_layer_asset(build_dir: Path = BUILD_DIR) -> LayerAsset:
    """A one-file layer: keeps Template tests fast and offline. Never deploy it."""
    site_dir = build_dir / "stub" / "python"
    site_dir.mkdir(parents=True, exist_ok=True)
    (site_dir / "EMREX_STUB_LAYER.txt").write_text("stub layer for unit tests; not deployable\n", encoding="utf-8")
    return LayerAsset(code=lambda_.Code.from_asset(str(site_dir.parent)), xsd_dir="")


def built_layer_asset(architecture: str) -> LayerAsset:
    """Build (or reuse) ``layers/build/deps``; its asset hash is the input fingerprint, not the file bytes."""
    build = ensure_layer(architecture)
    code = lambda_.Code.from_asset(
        str(build.deps_dir), asset_hash=build.fingerprint, asset_hash_type=AssetHashType.CUSTOM
    )
    return LayerAsset(code=code, xsd_dir=XSD_MOUNT if build.has_xsd else "")


def layer_asset(config: EmrexConfig) -> LayerAsset:
    return stub_layer_asset() if config.stub_layer else built_layer_asset(config.architecture)
