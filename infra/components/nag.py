"""cdk-nag v3 acknowledgements (``Validations.of(construct).acknowledge``): one line of reason each."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct

MIN_REASON_CHARS = 10


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one finding (``AwsSolutions-IAM5[Resource::...]`` style ids target a single finding)."""
    if len(reason) < MIN_REASON_CHARS or "\n" in reason:
        raise ValueError(f"{rule_id}: a suppression needs a one-line reason of {MIN_REASON_CHARS}+ characters")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def logical_id(element: IConstruct) -> str:
    """The resolved CloudFormation logical id, as cdk-nag prints it in finding ids (``<LogicalId.Arn>``)."""
    cfn = element if isinstance(element, CfnElement) else element.node.default_child
    if not isinstance(cfn, CfnElement):
        raise TypeError(f"{element.node.path} has no CloudFormation element")
    resolved = Stack.of(cfn).resolve(cfn.logical_id)
    assert isinstance(resolved, str)
    return resolved
