"""One synth of the real app (stub layer) per test session, shared by the Template and cdk-nag tests."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from aws_cdk.assertions import Template

from infra.app import build_app
from infra.stack import EmrexStack

REPO = Path(__file__).resolve().parents[2]


def cdk_json_context(**overrides: Any) -> dict[str, Any]:
    """The context the CLI would pass (feature flags and emrex defaults from cdk.json), plus overrides."""
    context: dict[str, Any] = json.loads((REPO / "cdk.json").read_text(encoding="utf-8"))["context"]
    return {**context, "emrex:stubLayer": True, **overrides}


@dataclass(frozen=True)
class Synth:
    stack: EmrexStack
    template: Template
    outdir: Path

    @property
    def resources(self) -> dict[str, Any]:
        return self.template.to_json()["Resources"]  # type: ignore[no-any-return]

    def of_type(self, kind: str) -> dict[str, Any]:
        return {key: value for key, value in self.resources.items() if value["Type"] == kind}


def synthesize(outdir: Path, **overrides: Any) -> Synth:
    app, stack = build_app(cdk.App(context=cdk_json_context(**overrides), outdir=str(outdir)))
    app.synth()  # runs cdk-nag (validation plugin): an unacknowledged finding raises here
    return Synth(stack=stack, template=Template.from_stack(stack), outdir=outdir)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def template(synth: Synth) -> Template:
    return synth.template
