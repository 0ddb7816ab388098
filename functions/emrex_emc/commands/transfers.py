"""``emrex-emc transfers …``: what support staff need to answer "why did my import fail?".

    emrex-emc transfers show ID_OR_SUPPORT_CODE     (--stack NAME | --local [DIR]) [--show-personal-data] [--json]
    emrex-emc transfers list --applicant ID         (--stack NAME | --local [DIR]) [--json]
    emrex-emc transfers reverify ID_OR_SUPPORT_CODE (--stack NAME | --local [DIR]) [--show-personal-data] [--json]

``show`` takes the transfer id or the support code the student's page printed (``3F2A-91C0-77BE``) and
prints the status, the EMP, the error code with its message, the evidence's SHA-256 and how the signature
was trusted. ``list`` lists an applicant's transfers. ``reverify`` verifies the stored evidence again (its
hash, then the whole trust pipeline with the certificates pinned when the student chose the EMP, as of the
time it arrived) and says whether that agrees with the stored outcome (exit 1 when it does not).

No personal data is printed (no names, birth date, return URL, identity details, results) unless
``--show-personal-data``. ``--stack NAME`` reads the stack's outputs with the AWS credentials of the
environment (``cloudformation:DescribeStacks``, ``dynamodb:GetItem`` and ``dynamodb:Query``/``Scan`` on the
table and its applicant index, ``s3:GetObject`` under ``transfers/`` and ``lambda:GetFunctionConfiguration`` on
the callback for ``reverify``, ``kms:Decrypt``).
``--local`` reads the running local stack (``emrex-emc local``; its state directory's ``stack.json``).
``reverify`` applies the callback's own verification policy (``EMREX_FORBID_SHA1``,
``EMREX_STRICT_CERT_VALIDITY``, the decoding limits): the deployed function's configuration (the stack's
``CallbackFunctionName`` output) or the local stack's; it says which in ``policy``.
Exit 2: nothing found, or bad arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emrex_emc.commands import described
from emrex_emc.core.text import clip, json_for_terminal

if TYPE_CHECKING:
    from emrex_emc.core.identity import ExpectedIdentity
    from emrex_emc.core.outcome import Outcome
    from emrex_emc.core.pipeline import VerifiedElmo
    from emrex_emc.core.policy import PipelinePolicy
    from emrex_emc.core.transfer import Transfer

_TRANSFER_ID = re.compile(r"[0-9a-f]{32}")
_SUPPORT_CODE = re.compile(r"[0-9a-f]{12}")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "transfers",
        help="support: show a transfer (by id or support code), list an applicant's, verify stored evidence again",
        description=described(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="a transfer's status, EMP, error and evidence")
    show.add_argument("transfer", metavar="ID_OR_SUPPORT_CODE")
    listing = actions.add_parser("list", help="an applicant's transfers")
    listing.add_argument("--applicant", required=True, metavar="ID", help="the enrolment system's applicant id")
    reverify = actions.add_parser("reverify", help="verify the stored evidence again")
    reverify.add_argument("transfer", metavar="ID_OR_SUPPORT_CODE")
    for action in (show, listing, reverify):
        target = action.add_mutually_exclusive_group(required=True)
        target.add_argument("--stack", metavar="NAME", help="a deployed stack (its TableName and BucketName outputs)")
        target.add_argument(
            "--local",
            nargs="?",
            const="",
            metavar="DIR",
            help="the running local stack (default state directory: the repository's .local/)",
        )
        action.add_argument("--endpoint-url", help="AWS endpoint for --stack (e.g. a moto server)")
        action.add_argument("--json", action="store_true", help="print JSON instead of text")
        if action is not listing:
            action.add_argument(
                "--show-personal-data",
                action="store_true",
                help="also print the applicant, names, birth date, return URL, identity details and results",
            )
        action.set_defaults(func=_run)


@dataclass(frozen=True)
class Target:
    """Where the transfers are: the table, the bucket, and how to reach them."""

    table: str
    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    local: bool = False
    callback_policy: dict[str, str] | None = None
    """The callback's verification variables (``settings.POLICY_VARIABLES``); None when the target does not say."""
    callback_function: str | None = None
    """The deployed callback, whose configuration holds them (read by ``reverify`` only)."""

    def client(self, service: str) -> Any:
        import boto3

        if self.local:  # moto's fake credentials: never this machine's AWS account
            session = boto3.session.Session(
                aws_access_key_id="testing",
                aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
                region_name=self.region,
            )
            return session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=self.region)  # type: ignore[call-overload]


class Refusal(Exception):
    """A message for the person at the terminal, and the exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def _run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        target = _target(args)
        if args.action == "list":
            return _print(args, _listing(target, args.applicant))
        transfer_id = _resolve(target, args.transfer)
        if args.action == "show":
            return _print(args, _show(target, transfer_id, personal=args.show_personal_data))
        report = _reverify(target, transfer_id, personal=args.show_personal_data)
        _print(args, report)
        return 0 if report.get("agrees_with_stored_outcome", True) else 1
    except Refusal as refusal:
        print(f"emrex-emc transfers {args.action}: {refusal}", file=sys.stderr)
        return refusal.status
    except (BotoCoreError, ClientError) as exc:
        print(f"emrex-emc transfers {args.action}: {clip(exc, 400)}", file=sys.stderr)
        return 1


def _target(args: argparse.Namespace) -> Target:
    if args.local is not None:
        from emrex_emc.local.runner import STACK_FILE, default_state_dir

        path = (Path(args.local) if args.local else default_state_dir()) / STACK_FILE
        try:
            stack = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise Refusal(f"no running local stack ({path} is missing: start `emrex-emc local`)") from None
        policy = stack.get("callback_policy")
        return Target(
            stack["table"],
            stack["bucket"],
            stack["endpoint_url"],
            stack["region"],
            local=True,
            callback_policy={str(k): str(v) for k, v in policy.items()} if isinstance(policy, dict) else None,
        )
    import boto3

    cloudformation = boto3.client("cloudformation", endpoint_url=args.endpoint_url)
    stacks = cloudformation.describe_stacks(StackName=args.stack).get("Stacks") or []
    outputs = {o.get("OutputKey"): o.get("OutputValue") for o in (stacks[0] if stacks else {}).get("Outputs", [])}
    if not outputs.get("TableName") or not outputs.get("BucketName"):
        raise Refusal(f"stack {clip(args.stack)} has no TableName and BucketName outputs")
    callback = outputs.get("CallbackFunctionName")
    return Target(outputs["TableName"], outputs["BucketName"], args.endpoint_url, callback_function=callback)


def _resolve(target: Target, given: str) -> str:
    """The transfer id of a full id or of a support code (``3F2A-91C0-77BE``, any case, dashes optional)."""
    wanted = re.sub(r"[\s-]", "", given).lower()
    if _TRANSFER_ID.fullmatch(wanted):
        return wanted
    if not _SUPPORT_CODE.fullmatch(wanted):
        raise Refusal(f"{clip(given, 60)!r} is neither a transfer id (32 hex) nor a support code (XXXX-XXXX-XXXX)")
    matches = _ids_with_prefix(target, wanted)
    if not matches:
        raise Refusal(f"no transfer with support code {clip(given, 20)} (an erased one is found by its full id only)")
    if len(matches) > 1:
        raise Refusal(f"support code {clip(given, 20)} matches several transfers: {', '.join(matches)}")
    return matches[0]


def _ids_with_prefix(target: Target, prefix: str) -> list[str]:
    """Transfer ids starting with ``prefix``: a filtered scan of the applicant index (a few dozen bytes per
    transfer; a support lookup, never a request path). The table itself is never scanned."""
    from emrex_emc.adapters.sessions import APPLICANT_INDEX, SESSION_PREFIX

    dynamodb = target.client("dynamodb")
    request: dict[str, Any] = {
        "TableName": target.table,
        "IndexName": APPLICANT_INDEX,
        "FilterExpression": "begins_with(pk, :prefix)",
        "ExpressionAttributeValues": {":prefix": {"S": f"{SESSION_PREFIX}{prefix}"}},
        "ProjectionExpression": "pk",
    }
    found: list[str] = []
    while len(found) < 10:
        response = dynamodb.scan(**request)
        found.extend(item["pk"]["S"][len(SESSION_PREFIX) :] for item in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            break
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return sorted(set(found))


def _listing(target: Target, applicant_id: str) -> dict[str, Any]:
    from emrex_emc.adapters.sessions import TransferTable
    from emrex_emc.core.transfer import support_code

    now = int(datetime.now(UTC).timestamp())
    listings = TransferTable(target.client("dynamodb"), target.table).of_applicant(applicant_id)
    return {
        "applicant_id": applicant_id,
        "transfers": [
            {
                "id": listing.id,
                "support_code": support_code(listing.id),
                "status": listing.effective_status(now).value,
                "emp": listing.emp.to_json() if listing.emp else None,
                "created_at": listing.created_at,
            }
            for listing in listings
        ],
    }


def _show(target: Target, transfer_id: str, *, personal: bool) -> dict[str, Any]:
    from emrex_emc.adapters.sessions import TransferTable
    from emrex_emc.core.transfer import Tombstone, support_code

    found = TransferTable(target.client("dynamodb"), target.table).find(transfer_id)
    if found is None:
        raise Refusal(f"no transfer {transfer_id}")
    report: dict[str, Any] = {"id": transfer_id, "support_code": support_code(transfer_id)}
    if isinstance(found, Tombstone):
        return {**report, "status": found.status, "erased_at": found.erased_at}
    now = int(datetime.now(UTC).timestamp())
    transfer, outcome = found, found.outcome
    report.update(
        status=transfer.effective_status(now).value,
        created_at=transfer.created_at,
        emp=transfer.emp.to_json() if transfer.emp else None,
        emp_certificates=list(transfer.cert_fingerprints),
    )
    if outcome is not None:
        report.update(
            outcome_at=outcome.at,
            return_code=outcome.return_code,
            error=outcome.error.to_json() if outcome.error else None,
            evidence=_evidence(outcome, target.bucket),
            signature=_signature(outcome),
            identity=outcome.identity_verdict,
            elmo_version=outcome.elmo_version,
            warnings=[notice.code for notice in outcome.warnings],
            event_id=outcome.event_id,
        )
    if personal:
        report["personal_data"] = {
            "applicant_id": transfer.applicant_id,
            "given_names": transfer.given_names,
            "family_name": transfer.family_name,
            "birth_date": transfer.birth_date,
            "return_url": transfer.return_url,
            "return_message": outcome.return_message if outcome else None,
            "identity": outcome.identity.to_json() if outcome and outcome.identity else None,
            "summary": outcome.summary.to_json() if outcome and outcome.summary else None,
            "warnings": [notice.to_json() for notice in outcome.warnings] if outcome else [],
        }
    return report


def _evidence(outcome: Outcome, bucket: str) -> dict[str, Any]:
    stored = outcome.s3
    return {
        "payload_sha256": outcome.payload_sha256,
        "payload": f"s3://{bucket}/{stored.payload_key}" if stored else None,
        "results": f"s3://{bucket}/{stored.results_key}" if stored and stored.results_key else None,
        "attachments": len(stored.attachments) if stored else 0,
    }


def _signature(outcome: Outcome) -> dict[str, Any] | None:
    facts = outcome.signature
    return facts.to_json() if facts is not None else None


def _callback_policy(target: Target) -> tuple[dict[str, str] | None, str]:
    """The callback's verification variables, and where they came from."""
    if target.callback_function:
        configuration = target.client("lambda").get_function_configuration(FunctionName=target.callback_function)
        variables = (configuration.get("Environment") or {}).get("Variables") or {}
        return variables, f"the deployed callback {clip(target.callback_function, 140)}"
    if target.callback_policy is not None:
        return target.callback_policy, "the local stack"
    return None, "the defaults (the target names no callback configuration)"


def _verify_again(
    target: Target,
    transfer: Transfer,
    payload: bytes,
    expected: ExpectedIdentity | None,
    policy: PipelinePolicy,
    *,
    now: datetime,
) -> VerifiedElmo:
    """The trust pipeline of the transfer's protocol, with the keys pinned when the EMP was chosen, as of ``now``."""
    from emrex_emc.adapters.blobs import BlobStore, signature_key
    from emrex_emc.core.evidence import read_x_signature_evidence
    from emrex_emc.core.pipeline import verify_elmo, verify_elmo_results
    from emrex_emc.core.protocol import ProtocolVersion
    from emrex_emc.local.moto_env import default_xsd_dir

    certificates, xsd_dir = list(transfer.pinned_certs), default_xsd_dir() or None
    if transfer.protocol is not ProtocolVersion.EMREX_2:
        return verify_elmo(payload, certificates, policy, expected=expected, now=now, xsd_dir=xsd_dir)
    try:
        x_signature, _ = read_x_signature_evidence(
            BlobStore(target.client("s3"), target.bucket).get_bytes(signature_key(transfer.id))
        )
    except ValueError as exc:
        raise Refusal(f"transfer {transfer.id}: its x-signature.json evidence is unreadable ({clip(exc)})") from None
    return verify_elmo_results(
        payload,
        x_signature,
        transfer.emp_public_key,
        certificates,
        policy,
        expected=expected,
        now=now,
        xsd_dir=xsd_dir,
    )


def _reverify(target: Target, transfer_id: str, *, personal: bool) -> dict[str, Any]:
    from emrex_emc.adapters.blobs import BlobStore
    from emrex_emc.adapters.sessions import TransferTable
    from emrex_emc.core.errors import EmrexError
    from emrex_emc.core.identity import ExpectedIdentity
    from emrex_emc.settings import SettingsError, pipeline_policy_from_env

    transfer = TransferTable(target.client("dynamodb"), target.table).get(transfer_id)
    outcome = transfer.outcome if transfer else None
    if transfer is None or outcome is None or outcome.s3 is None:
        raise Refusal(f"transfer {transfer_id} has no stored evidence (no outcome, nothing posted, or erased)")
    payload = BlobStore(target.client("s3"), target.bucket).get_bytes(outcome.s3.payload_key)
    report: dict[str, Any] = {
        "id": transfer_id,
        "stored_status": outcome.status.value,
        "stored_error": outcome.error_code,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "payload_intact": hashlib.sha256(payload).hexdigest() == outcome.payload_sha256,
        "verified_as_of": outcome.at,
    }
    try:
        birth_date = date.fromisoformat(transfer.birth_date)
    except ValueError:
        birth_date = None
    expected = (
        ExpectedIdentity(given_names=transfer.given_names, family_name=transfer.family_name, birth_date=birth_date)
        if birth_date
        else None
    )
    variables, source = _callback_policy(target)
    try:
        policy = pipeline_policy_from_env(variables or {})
    except SettingsError as exc:
        raise Refusal(f"the callback's verification settings ({source}) are unusable: {clip(exc)}", 1) from None
    report["policy"] = {
        "source": source,
        "forbid_sha1": policy.signature.forbid_sha1,
        "strict_cert_validity": policy.signature.strict_cert_validity,
    }
    try:
        verified = _verify_again(
            target, transfer, payload, expected, policy, now=datetime.fromisoformat(outcome.at.replace("Z", "+00:00"))
        )
    except EmrexError as refusal:
        report.update(verdict="rejected", error={"code": refusal.code.value, "message": refusal.message})
        agrees = outcome.error_code == refusal.code.value
    else:
        report.update(
            verdict="received",
            signature=verified.signature.to_json(),
            identity=verified.identity.verdict if verified.identity else None,
        )
        if personal and verified.identity is not None:
            report["personal_data"] = {"identity": verified.identity.to_json()}
        agrees = outcome.status.value == "received" and (
            outcome.identity_verdict == (verified.identity.verdict if verified.identity else None)
        )
    report["agrees_with_stored_outcome"] = bool(agrees and report["payload_intact"])
    return report


def _print(args: argparse.Namespace, report: dict[str, Any]) -> int:
    if args.json:
        print(json_for_terminal(json.dumps(report, indent=2, ensure_ascii=False)))
        return 0
    for line in _text(report):
        print(line)
    return 0


def _text(report: dict[str, Any], indent: str = "") -> list[str]:
    """``key  value`` lines, nested values indented; every key and value passes through clip (stored values came
    from outside: EMP names, issuers, identity details)."""
    lines: list[str] = []
    keys = {key: clip(key, 60) for key in report}
    width = max((len(shown) for shown in keys.values()), default=0)
    for raw_key, value in report.items():
        key = keys[raw_key]
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.extend(_text(value, indent + "  "))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{indent}{key}:")
            for item in value:
                lines.extend(_text(item, indent + "  "))
                lines.append("")
        else:
            shown = ", ".join(str(v) for v in value) if isinstance(value, list) else value
            lines.append(f"{indent}{key:<{width}}  {clip('-' if shown in (None, '') else shown, 600)}")
    return lines
