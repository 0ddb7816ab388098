"""moto in server mode as the embedded AWS, with the resources created the way the CDK stack declares them.

:class:`MotoEnv` starts the server and points this process's boto3 at it (fake credentials, region,
``AWS_ENDPOINT_URL``). :func:`create_resources` creates the table (``pk`` S, TTL ``expires_at``, stream
NEW_AND_OLD_IMAGES, the applicant index), the KMS key and the versioned bucket, the event bus with the SIS
rule (the SIS contract's detail-types) delivering to an SQS queue, the operations rule (registry changes) to
a queue standing in for the alarm topic (moto's EventBridge delivers to SQS, not SNS), a local-only rule
sending every event to a second queue (the events file), and the secret (created with empty ``state_keys``
and filled by one rotation, as the stack's rotation schedule does at deploy). :meth:`MotoEnv.handler_env`
gives the ``EMREX_*`` variables the handlers read at cold start.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emrex_emc.adapters.secret_rotation import SecretRotation, retired_key_window
from emrex_emc.adapters.sessions import APPLICANT_INDEX, APPLICANT_INDEX_ATTRIBUTES, APPLICANT_INDEX_KEYS
from emrex_emc.core.events import OPERATIONS_DETAIL_TYPES, SIS_DETAIL_TYPES, SOURCE
from emrex_emc.core.secret import MIN_API_TOKEN_CHARS
from emrex_emc.settings import Settings

REGION = "eu-west-1"
NAME_PREFIX = "emrex-local"
DEFAULT_CLIENT_ID = "emc-local"
"""``emrex-emc local --client-id``: our EMREX 2.0 client id unless another is given."""
CLIENT_NAME = "EMREX EMC (local)"
CLIENT_COUNTRY = "NL"
CLIENT_KEY_ID = "emc-local-1"
"""The ``kid`` of the local signing key (a moto KMS key, RSA 2048, SIGN_VERIFY, new at every start)."""


@dataclass(frozen=True)
class ResourceNames:
    table: str = f"{NAME_PREFIX}-transfers"
    bucket: str = f"{NAME_PREFIX}-evidence"
    event_bus: str = f"{NAME_PREFIX}-events"
    secret: str = f"{NAME_PREFIX}/emc"
    sis_queue: str = f"{NAME_PREFIX}-sis"
    sis_rule: str = f"{NAME_PREFIX}-to-sis"
    operations_queue: str = f"{NAME_PREFIX}-alarms"
    operations_rule: str = f"{NAME_PREFIX}-operations"
    all_events_queue: str = f"{NAME_PREFIX}-all-events"
    all_events_rule: str = f"{NAME_PREFIX}-all-events"


@dataclass(frozen=True)
class Resources:
    names: ResourceNames
    stream_arn: str
    queue_url: str
    kms_key_id: str
    api_token: str
    admin_token: str = ""
    operations_queue_url: str = ""
    """The registry's operations events (the stack sends them to the alarm topic)."""
    all_events_queue_url: str = ""
    """Every event on the bus (the events file); the SIS queue gets the SIS contract's events only."""
    client_key_id: str = ""
    """The KMS key that signs our EMREX 2.0 client assertions."""


def aws_client_env(endpoint_url: str) -> dict[str, str]:
    """What sends every boto3 client of this process to moto (and never to a real account)."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def default_xsd_dir() -> str:
    """``../shared/elmo`` next to the repository, when present (the official XSDs for conformance)."""
    candidate = Path(__file__).resolve().parents[3].parent / "shared" / "elmo"
    return str(candidate) if candidate.is_dir() else ""


def create_table(dynamodb: Any, table_name: str) -> dict[str, Any]:
    """The EMC table as the CDK stack declares it: key ``pk``, on-demand, stream NEW_AND_OLD_IMAGES, TTL
    ``expires_at``, the applicant index.

    Used by the local runner and by the tests' moto fixtures, so both run against the same shape.
    """
    partition, sort = APPLICANT_INDEX_KEYS
    table: dict[str, Any] = dynamodb.create_table(
        TableName=table_name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": partition, "AttributeType": "S"},
            {"AttributeName": sort, "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        GlobalSecondaryIndexes=[
            {
                "IndexName": APPLICANT_INDEX,
                "KeySchema": [
                    {"AttributeName": partition, "KeyType": "HASH"},
                    {"AttributeName": sort, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(APPLICANT_INDEX_ATTRIBUTES)},
            }
        ],
    )
    dynamodb.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    return table


def create_resources(
    client: Callable[[str], Any], names: ResourceNames, api_token: str | None = None, admin_token: str | None = None
) -> Resources:
    """Create everything the handlers use; ``client(service)`` returns a boto3 client pointed at moto."""
    table = create_table(client("dynamodb"), names.table)

    kms = client("kms")
    kms_key_id = kms.create_key(Description="EMREX local evidence bucket")["KeyMetadata"]["KeyId"]
    client_key_id = kms.create_key(
        Description="EMREX 2.0 client assertion signing key (local)", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"
    )["KeyMetadata"]["KeyId"]
    s3 = client("s3")
    s3.create_bucket(Bucket=names.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=names.bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=names.bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_id}}]
        },
    )
    s3.put_public_access_block(
        Bucket=names.bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )

    sqs, events = client("sqs"), client("events")
    events.create_event_bus(Name=names.event_bus)
    queue_url = _queue(sqs, names.sis_queue)
    _rule(events, names.event_bus, names.sis_rule, SIS_DETAIL_TYPES, _queue_arn(sqs, queue_url))
    operations_url = _queue(sqs, names.operations_queue)
    _rule(events, names.event_bus, names.operations_rule, OPERATIONS_DETAIL_TYPES, _queue_arn(sqs, operations_url))
    all_events_url = _queue(sqs, names.all_events_queue)
    _rule(events, names.event_bus, names.all_events_rule, (), _queue_arn(sqs, all_events_url))

    token = api_token or secrets.token_urlsafe(32)
    admin = admin_token or secrets.token_urlsafe(32)
    create_secret(client("secretsmanager"), names.secret, token, admin)
    return Resources(
        names=names,
        stream_arn=table["TableDescription"]["LatestStreamArn"],
        queue_url=queue_url,
        kms_key_id=kms_key_id,
        api_token=token,
        admin_token=admin,
        operations_queue_url=operations_url,
        all_events_queue_url=all_events_url,
        client_key_id=client_key_id,
    )


def _queue(sqs: Any, name: str) -> str:
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url


def _queue_arn(sqs: Any, url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return arn


def _rule(events: Any, bus: str, name: str, detail_types: tuple[Any, ...], target_arn: str) -> None:
    """A rule on ``source = emrex.emc`` and, unless empty, these detail-types (as the stack declares them)."""
    pattern: dict[str, list[str]] = {"source": [SOURCE]}
    if detail_types:
        pattern["detail-type"] = [str(detail_type) for detail_type in detail_types]
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": name, "Arn": target_arn}])


def create_secret(secretsmanager: Any, name: str, api_token: str, admin_token: str | None = None) -> None:
    """The secret as the stack creates it (no state key yet), then filled by one rotation, as at deploy (the
    rotation adds an ``admin_token`` when none is given)."""
    initial: dict[str, Any] = {"state_key_id": "k1", "state_keys": {}, "api_token": api_token}
    if admin_token:
        initial["admin_token"] = admin_token
    secretsmanager.create_secret(Name=name, SecretString=json.dumps(initial))
    window = retired_key_window(Settings.session_ttl_seconds, Settings.secret_max_age_seconds)
    SecretRotation(secretsmanager, name, keep_retired_seconds=window).rotate_now()


def handler_env(
    resources: Resources,
    *,
    public_base_url: str,
    allowed_return_urls: list[str],
    registry_urls: Sequence[str],
    xsd_dir: str,
    client_id: str = DEFAULT_CLIENT_ID,
) -> dict[str, str]:
    """The ``EMREX_*`` variables of every handler (see :class:`emrex_emc.settings.Settings`)."""
    return {
        "EMREX_TABLE_NAME": resources.names.table,
        "EMREX_BUCKET_NAME": resources.names.bucket,
        "EMREX_EVENT_BUS_NAME": resources.names.event_bus,
        "EMREX_SECRET_NAME": resources.names.secret,
        "EMREX_REGISTRY_URLS": ",".join(registry_urls),
        "EMREX_ALLOWED_RETURN_URLS": ",".join(allowed_return_urls),
        "EMREX_LOCAL_MODE": "true",
        "EMREX_PUBLIC_BASE_URL": public_base_url,
        "EMREX_XSD_DIR": xsd_dir,
        "EMREX_CLIENT_ID": client_id,
        "EMREX_CLIENT_NAME": CLIENT_NAME,
        "EMREX_CLIENT_COUNTRY": CLIENT_COUNTRY,
        "EMREX_CLIENT_KEYS": f"{CLIENT_KEY_ID}={resources.client_key_id}" if resources.client_key_id else "",
        "POWERTOOLS_SERVICE_NAME": "emrex-emc-local",
        "POWERTOOLS_METRICS_NAMESPACE": "EmrexLocal",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
    }


class MotoEnv:
    """A running moto server; ``endpoint_url`` is where boto3 goes."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
        self._server.start()
        bound_host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{bound_host}:{port}"

    def apply_client_env(self, environ: MutableMapping[str, str]) -> None:
        environ.update(aws_client_env(self.endpoint_url))

    def client(self, service: str) -> Any:
        """A boto3 client for moto that does not depend on this process's environment."""
        import boto3

        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
            region_name=REGION,
        )
        return session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]

    def stop(self) -> None:
        self._server.stop()


def api_token_from_env(environ: Mapping[str, str], name: str = "EMREX_API_TOKEN") -> str | None:
    """``EMREX_API_TOKEN`` fixes the enrolment API's bearer token (``EMREX_ADMIN_TOKEN`` the admin token);
    otherwise one is generated."""
    token = environ.get(name) or None
    if token is not None and len(token) < MIN_API_TOKEN_CHARS:
        raise ValueError(f"{name} must be at least {MIN_API_TOKEN_CHARS} characters")
    return token
