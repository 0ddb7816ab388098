"""cdk-nag AwsSolutions (v3, a policy-validation plugin): clean, and every acknowledgement explained in one line."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from cdk_nag import AwsSolutionsChecks

from infra.components.nag import acknowledge
from tests.infra.conftest import Synth

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

ACK_METADATA = "aws:cdk:acknowledged-rules"


def acknowledgements(synth: Synth) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for construct in synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == ACK_METADATA:
                found.setdefault(construct.node.path, {}).update(entry.data)
    return found


def test_nag_ran_and_found_nothing_unacknowledged(synth: Synth) -> None:
    # The synth in conftest raises on any unacknowledged finding; a report, if written, must be clean.
    report_path = synth.outdir / "validation-report.json"
    if report_path.exists():
        report = json.loads(report_path.read_text())
        violations = [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])]
        assert violations == []
    assert synth.stack.config.nag is True


def test_every_acknowledgement_has_a_one_line_reason(synth: Synth) -> None:
    acks = acknowledgements(synth)
    assert acks, "expected the documented acknowledgements"
    for path, rules in acks.items():
        for rule, reason in rules.items():
            assert rule.startswith("Annotation::AwsSolutions-"), (path, rule)
            assert len(reason) >= 10 and "\n" not in reason, (path, rule)


def test_acknowledgements_are_the_reviewed_set(synth: Synth) -> None:
    rules = sorted({rule.split("::", 1)[1].split("[")[0] for r in acknowledgements(synth).values() for rule in r})
    assert rules == ["AwsSolutions-APIG4", "AwsSolutions-IAM5", "AwsSolutions-L1", "AwsSolutions-S1",
                     "AwsSolutions-SQS3"]  # fmt: skip
    wildcard_findings = sorted(
        rule for r in acknowledgements(synth).values() for rule in r if rule.startswith("Annotation::AwsSolutions-IAM5")
    )
    assert len(wildcard_findings) == 3, wildcard_findings  # relay: the stream; callback, admin_api: transfers/*


def test_acknowledge_refuses_an_empty_or_multi_line_reason() -> None:
    stack = cdk.Stack(cdk.App(), "Scratch")
    with pytest.raises(ValueError, match="one-line reason"):
        acknowledge(stack, "AwsSolutions-S1", "short")
    with pytest.raises(ValueError, match="one-line reason"):
        acknowledge(stack, "AwsSolutions-S1", "a long enough reason\nbut on two lines")


def test_nag_fails_the_synth_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    """Guards the guard: the plugin must really reject a non-compliant resource."""
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Bad")
    sqs.Queue(stack, "PlainQueue", encryption=sqs.QueueEncryption.UNENCRYPTED)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="AwsSolutions-SQS2"):
        app.synth()
