"""``emrex-emc secret …``: rotate the EMC secret's state key and admin token, roll over the API token.

    emrex-emc secret rotate-api-token        (--secret-id ARN | --stack NAME)
    emrex-emc secret drop-previous-api-token (--secret-id ARN | --stack NAME)
    emrex-emc secret rotate-admin-token      (--secret-id ARN | --stack NAME)
    emrex-emc secret rotate-state-key        (--secret-id ARN | --stack NAME)

rotate-api-token moves ``api_token`` to ``api_token_previous`` (still accepted) and generates a new
``api_token``, printed alone on stdout for the enrolment system. Warm functions accept the new token within
``EMREX_SECRET_MAX_AGE_SECONDS`` (default 300 s). drop-previous-api-token ends the rollover once the
enrolment system uses the new token. rotate-admin-token generates a new ``admin_token`` (the token of
``DELETE /applicants/{applicant_id}``), printed alone on stdout; the old one stops working as warm functions
re-read the secret. rotate-state-key starts Secrets Manager's rotation (the stack's
rotation function, as ``aws secretsmanager rotate-secret``); where the secret has no rotation function
(the local stack's moto) it runs the same four steps here. ``--endpoint-url`` sends the calls to moto.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from emrex_emc.commands import described
from emrex_emc.core.text import clip
from emrex_emc.settings import Settings

_ACTIONS = {
    "rotate-api-token": "move api_token to api_token_previous and generate a new api_token (printed on stdout)",
    "drop-previous-api-token": "stop accepting api_token_previous (once the enrolment system uses the new token)",
    "rotate-admin-token": "generate a new admin_token (erasure), printed on stdout; the old one stops working",
    "rotate-state-key": "rotate the state-signing key now (the stack's rotation function, or here under moto)",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "secret",
        help="rotate the state-signing key, or roll over the enrolment API or the admin token",
        description=described(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text in _ACTIONS.items():
        action = actions.add_parser(name, help=help_text, description=help_text)
        target = action.add_mutually_exclusive_group(required=True)
        target.add_argument("--secret-id", help="ARN or name of the secret (stack output SecretArn)")
        target.add_argument("--stack", help="CloudFormation stack whose SecretArn output names the secret")
        action.add_argument("--endpoint-url", help="AWS endpoint (e.g. the local stack's moto URL)")
        action.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from emrex_emc.adapters.secret_rotation import RotationError

    try:
        return _act(args)
    except (RotationError, BotoCoreError, ClientError) as exc:
        print(f"emrex-emc secret {args.action}: {clip(exc, 400)}", file=sys.stderr)
        return 1


def _act(args: argparse.Namespace) -> int:
    import boto3

    from emrex_emc.adapters.secret_rotation import (
        SecretRotation,
        retired_key_window,
        with_new_admin_token,
        with_new_api_token,
        without_previous_api_token,
    )

    secret_id = args.secret_id or secret_id_from_stack(
        boto3.client("cloudformation", endpoint_url=args.endpoint_url), args.stack
    )
    client = boto3.client("secretsmanager", endpoint_url=args.endpoint_url)
    # used only where this process rotates (no rotation function): the window of the default settings
    window = retired_key_window(Settings.session_ttl_seconds, Settings.secret_max_age_seconds)
    rotation = SecretRotation(client, secret_id, keep_retired_seconds=window)
    if args.action == "rotate-api-token":
        print(rotation.edit(with_new_api_token).api_token)
        _tell(
            "api_token rotated; the old token (now api_token_previous) stays accepted until "
            "drop-previous-api-token. Warm functions accept the new one within EMREX_SECRET_MAX_AGE_SECONDS "
            "(default 300 s)."
        )
    elif args.action == "rotate-admin-token":
        print(rotation.edit(with_new_admin_token).admin_token)
        _tell("admin_token rotated; warm functions stop accepting the old one within EMREX_SECRET_MAX_AGE_SECONDS.")
    elif args.action == "drop-previous-api-token":
        rotation.edit(without_previous_api_token)
        _tell("api_token_previous dropped; within EMREX_SECRET_MAX_AGE_SECONDS only api_token is accepted.")
    elif rotation.rotation_enabled():
        client.rotate_secret(SecretId=secret_id)
        _tell("rotation started: the rotation function puts a new state key (its log shows the steps).")
    else:
        bundle = rotation.rotate_now()
        _tell(f"no rotation function: rotated here; state_key_id is now {bundle.state_key_id}.")
    return 0


def secret_id_from_stack(cloudformation: Any, stack: str) -> str:
    from emrex_emc.adapters.secret_rotation import RotationError

    stacks = cloudformation.describe_stacks(StackName=stack).get("Stacks") or []
    outputs = {
        output.get("OutputKey"): output.get("OutputValue")
        for output in (stacks[0] if stacks else {}).get("Outputs", [])
    }
    secret_arn = outputs.get("SecretArn")
    if not isinstance(secret_arn, str) or not secret_arn:
        raise RotationError(f"stack {clip(stack)} has no SecretArn output")
    return secret_arn


def _tell(message: str) -> None:
    print(message, file=sys.stderr)
