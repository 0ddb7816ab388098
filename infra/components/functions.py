"""The seven Lambdas (asset root ``functions/``), each with its own role holding only its own permissions, and
the secret's rotation schedule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsii
from aws_cdk import Annotations, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from emrex_emc.adapters.outbox import REGISTRY_OUTBOX_PREFIX
from emrex_emc.adapters.registry_store import BASELINE_PK, SNAPSHOT_PK
from emrex_emc.adapters.sessions import APPLICANT_INDEX
from emrex_emc.settings import variables_of
from infra.components.client_keys import ClientKeys
from infra.components.events import Events, encrypted_queue, mark_as_dead_letter_queue
from infra.components.nag import acknowledge, logical_id
from infra.components.storage import Storage
from infra.config import EmrexConfig
from infra.function_code import stage_function_code
from infra.layer import LayerAsset

RUNTIME = lambda_.Runtime.PYTHON_3_13
TRANSFERS_PREFIX = "transfers/"
REFRESH_RATE = Duration.minutes(15)
STATE_KEY_ROTATION = "rate(30 days)"
"""How often the rotation function puts a new state key (and drops keys no live state can need)."""
SNAP_START = frozenset({"start_session", "callback"})
"""The functions a student waits on: with ``emrex:snapStart`` they restore from a snapshot instead of cold
starting. Their init is import-only (settings, clients and the secret are created on the first request,
after a restore), so nothing secret or connection-bound is frozen into the snapshot."""


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    """Directory under functions/ and POWERTOOLS_SERVICE_NAME."""
    description: str
    memory_mb: int
    timeout: Duration


# From `make bench` (docs/PERFORMANCE.md). Lambda gives CPU in proportion to memory (1769 MB = one vCPU) and
# every handler is single-threaded Python, so memory buys speed up to 1769 MB and nothing beyond. Peak RSS
# is never the limit: a callback at the 4 MB body cap peaks near 125 MB.
# - callback: CPU-bound (signature + ELMO reader, ~60 ms per 300 courses on one core, several times that
#   at the cap) and a student is waiting: one full vCPU. 29 s stays under the HTTP API's 30 s limit.
# - start_session: the cold start (imports + two boto3 clients, ~0.4 s on one core) is what the student
#   waits for; 1024 MB (~0.6 vCPU) keeps it under a second without paying for a core on warm requests.
# - enrolment_api: server-to-server, small I/O-bound requests: 512 MB. outbox_relay, registry_refresh:
#   background, nobody waits; registry_refresh parses the EWP catalogue (lxml), hence the longer timeout.
# - secret_rotation: four small Secrets Manager calls per step, once a month: the smallest size.
# - admin_api: an erasure lists, deletes object versions and writes a few items per transfer: I/O-bound.
SPECS = {
    "enrolment_api": FunctionSpec("enrolment_api", "POST /sessions, GET /sessions/{id}", 512, Duration.seconds(10)),
    "start_session": FunctionSpec("start_session", "GET/POST /start/{id}: EMP chooser", 1024, Duration.seconds(10)),
    "callback": FunctionSpec("callback", "POST /callback: verify and store results", 1769, Duration.seconds(29)),
    "outbox_relay": FunctionSpec("outbox_relay", "DynamoDB stream OUTBOX# -> EventBridge", 256, Duration.seconds(30)),
    "registry_refresh": FunctionSpec("registry_refresh", "EWP registry -> table snapshot", 512, Duration.seconds(120)),
    "secret_rotation": FunctionSpec("secret_rotation", "rotates the secret's state key", 128, Duration.seconds(30)),
    "admin_api": FunctionSpec("admin_api", "DELETE /applicants/{applicant_id}: erasure", 256, Duration.seconds(29)),
}


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EmrexConfig,
        layer: LayerAsset,
        storage: Storage,
        events_: Events,
        client_keys: ClientKeys,
    ) -> None:
        super().__init__(scope, construct_id)
        self._storage = storage
        self._client_keys = client_keys
        self._region = Stack.of(self).region
        architecture = lambda_.Architecture.ARM_64 if config.architecture == "arm64" else lambda_.Architecture.X86_64
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=layer.code,
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[architecture],
            description="EMREX EMC runtime dependencies and ELMO XSDs (pinned by uv.lock)",
        )
        staged, _compiled = stage_function_code()
        code = lambda_.Code.from_asset(str(staged))
        values = {
            "EMREX_TABLE_NAME": storage.table.table_name,
            "EMREX_BUCKET_NAME": storage.bucket.bucket_name,
            "EMREX_EVENT_BUS_NAME": events_.bus.event_bus_name,
            "EMREX_SECRET_NAME": storage.secret.secret_arn,  # SecretId accepts the ARN: exact, no suffix guessing
            "EMREX_REGISTRY_URL": config.registry_url,
            "EMREX_REGISTRY_URLS": ",".join(config.registry_sources),
            "EMREX_REGISTRY_MAX_AGE_SECONDS": str(config.registry_max_age_seconds),
            "EMREX_ALLOWED_RETURN_URLS": ",".join(config.allowed_return_urls),
            "EMREX_SESSION_TTL_SECONDS": str(config.session_ttl_seconds),
            "EMREX_SECRET_MAX_AGE_SECONDS": str(config.secret_max_age_seconds),
            "EMREX_RETENTION_DAYS": str(config.retention_days),
            "EMREX_FORBID_SHA1": str(config.forbid_sha1).lower(),
            "EMREX_STRICT_CERT_VALIDITY": str(config.strict_cert_validity).lower(),
            "EMREX_PUBLIC_BASE_URL": config.public_base_url,
            "EMREX_XSD_DIR": layer.xsd_dir,
            "EMREX_CERT_EXPIRY_WARNING_DAYS": str(config.cert_expiry_warning_days),
            "EMREX_CLIENT_ID": config.client_id,
            "EMREX_CLIENT_NAME": config.client_name,
            "EMREX_CLIENT_COUNTRY": config.client_country,
            "EMREX_CLIENT_KEYS": client_keys.environment,
        }
        common = {
            "POWERTOOLS_METRICS_NAMESPACE": "EMREX",
            "POWERTOOLS_LOG_LEVEL": config.log_level,
            "POWERTOOLS_LOGGER_LOG_EVENT": "false",
        }
        self.by_name: dict[str, lambda_.Function] = {}
        self.entry_points: dict[str, lambda_.IFunction] = {}
        """What the API invokes: the function, or its ``live`` alias when it restores from a SnapStart snapshot."""
        for spec in SPECS.values():
            # each function gets only the variables it reads (emrex_emc.settings.VARIABLES)
            environment = {**common, **{v.name: values[v.name] for v in variables_of(spec.name) if v.name in values}}
            function = self._function(spec, code, architecture, environment, config)
            self.by_name[spec.name] = function
            self.entry_points[spec.name] = function
            if config.snap_start and spec.name in SNAP_START:
                version = function.current_version  # published on every code or configuration change
                self.entry_points[spec.name] = lambda_.Alias(function, "Live", alias_name="live", version=version)
                Annotations.of(function).acknowledge_warning(
                    "@aws-cdk/aws-lambda:snapStartRequirePublish", "the API invokes the live alias of a version"
                )

        self._grant_enrolment_api(self.by_name["enrolment_api"])
        self._grant_start_session(self.by_name["start_session"])
        self._grant_callback(self.by_name["callback"])
        self._grant_registry_refresh(self.by_name["registry_refresh"])
        self._grant_admin_api(self.by_name["admin_api"], events_)
        self._rotate_secret_with(self.by_name["secret_rotation"])
        self.relay_dlq = self._wire_outbox_relay(self.by_name["outbox_relay"], events_)
        events.Rule(
            self,
            "RegistryRefreshSchedule",
            description="Refresh the EMP registry snapshot",
            schedule=events.Schedule.rate(REFRESH_RATE),
            targets=[targets.LambdaFunction(self.by_name["registry_refresh"], retry_attempts=2)],
        )

    def _function(
        self,
        spec: FunctionSpec,
        code: lambda_.Code,
        architecture: lambda_.Architecture,
        environment: dict[str, str],
        config: EmrexConfig,
    ) -> lambda_.Function:
        scope = Construct(self, spec.name)
        log_group = logs.LogGroup(
            scope,
            "Logs",
            retention=_retention(config.log_retention_days),
        )
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"EMREX {spec.name}: only its own permissions",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            scope,
            "Function",
            description=f"EMREX {spec.description}",
            runtime=RUNTIME,
            architecture=architecture,
            handler=f"{spec.name}.handler.handler",
            code=code,
            layers=[self.layer],
            memory_size=spec.memory_mb,
            timeout=spec.timeout,
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.DISABLED,
            environment={**environment, "POWERTOOLS_SERVICE_NAME": spec.name},
            snap_start=(
                lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if config.snap_start and spec.name in SNAP_START else None
            ),
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            f"Pinned to {RUNTIME.name}: the layer wheels are built and tested for it (layers/build.py PYTHON_VERSION).",
        )
        return function

    # --- permissions, one method per function -------------------------------------------------------

    def _allow(self, fn: lambda_.Function, actions: list[str], resources: list[str], **conditions: object) -> None:
        fn.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=resources, conditions=conditions or None))

    def _table(self, fn: lambda_.Function, *actions: str) -> None:
        self._allow(fn, [f"dynamodb:{action}" for action in actions], [self._storage.table.table_arn])

    def _applicant_index(self, fn: lambda_.Function) -> None:
        self._allow(fn, ["dynamodb:Query"], [f"{self._storage.table.table_arn}/index/{APPLICANT_INDEX}"])

    def _objects(self, fn: lambda_.Function, prefix: str, *actions: str) -> None:
        self._allow(fn, [f"s3:{action}" for action in actions], [self._storage.bucket.arn_for_objects(prefix)])

    def _read_secret(self, fn: lambda_.Function) -> None:
        self._allow(fn, ["secretsmanager:GetSecretValue"], [self._storage.secret.secret_arn])

    def _kms(self, fn: lambda_.Function, actions: list[str], services: list[str]) -> None:
        """Use the stack key only through the named services (kms:ViaService)."""
        via = [f"{service}.{self._region}.amazonaws.com" for service in services]
        self._allow(
            fn,
            [f"kms:{action}" for action in actions],
            [self._storage.key.key_arn],
            StringEquals={"kms:ViaService": via},
        )

    def _grant_enrolment_api(self, fn: lambda_.Function) -> None:
        self._table(fn, "GetItem", "PutItem")
        self._applicant_index(fn)  # GET /applicants/{applicant_id}/sessions
        self._read_secret(fn)
        self._kms(fn, ["Decrypt", "Encrypt", "GenerateDataKey"], ["dynamodb", "secretsmanager"])

    def _grant_start_session(self, fn: lambda_.Function) -> None:
        self._table(fn, "GetItem", "UpdateItem")  # transfers and the registry snapshot item: no S3 at all
        self._read_secret(fn)
        self._kms(fn, ["Decrypt", "Encrypt", "GenerateDataKey"], ["dynamodb", "secretsmanager"])
        # /.well-known/jwks.json and emreg-client.json publish the public part of every client key
        self._allow(fn, ["kms:GetPublicKey"], [key.key_arn for key in self._client_keys.keys.values()])

    def _grant_callback(self, fn: lambda_.Function) -> None:
        self._table(fn, "GetItem", "UpdateItem", "PutItem")
        # write and read evidence, never delete it (versioning keeps every earlier version): only the erasure may
        self._objects(fn, f"{TRANSFERS_PREFIX}*", "PutObject", "GetObject")
        self._read_secret(fn)
        self._kms(fn, ["Decrypt", "Encrypt", "GenerateDataKey"], ["dynamodb", "s3", "secretsmanager"])
        # the only function that may sign EMREX 2.0 client assertions, and only with the signing key
        self._allow(fn, ["kms:Sign"], [self._client_keys.signing_key.key_arn])
        _suppress_object_wildcard(fn, self._storage.bucket, TRANSFERS_PREFIX, "keys hold random transfer ids only")

    def _grant_registry_refresh(self, fn: lambda_.Function) -> None:
        # The snapshot and baseline items, and new outbox rows under its own prefix (the relay publishes only
        # registry detail-types from there): it cannot read or overwrite transfers, outcomes or their events.
        self._allow(
            fn,
            ["dynamodb:GetItem", "dynamodb:PutItem"],
            [self._storage.table.table_arn],
            **{"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [SNAPSHOT_PK, BASELINE_PK]}},
        )
        self._allow(
            fn,
            ["dynamodb:PutItem"],
            [self._storage.table.table_arn],
            **{"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{REGISTRY_OUTBOX_PREFIX}*"]}},
        )
        self._kms(fn, ["Decrypt", "Encrypt", "GenerateDataKey"], ["dynamodb"])

    def _grant_admin_api(self, fn: lambda_.Function, events_: Events) -> None:
        """Erasure: find an applicant's transfers (index), replace them with tombstones, delete their outbox
        rows, strip their audit records (one transaction: Put, Delete, Update), delete every version of their
        objects, publish ``EMREX Applicant Erased``."""
        self._table(fn, "GetItem", "PutItem", "UpdateItem", "DeleteItem")
        self._applicant_index(fn)
        bucket = self._storage.bucket
        self._allow(
            fn, ["s3:ListBucketVersions"], [bucket.bucket_arn], StringLike={"s3:prefix": [f"{TRANSFERS_PREFIX}*"]}
        )
        self._objects(fn, f"{TRANSFERS_PREFIX}*", "DeleteObjectVersion")
        self._allow(fn, ["events:PutEvents"], [events_.bus.event_bus_arn])
        self._read_secret(fn)
        self._kms(fn, ["Decrypt", "Encrypt", "GenerateDataKey"], ["dynamodb", "secretsmanager"])
        _suppress_object_wildcard(fn, bucket, TRANSFERS_PREFIX, "erasure deletes a transfer's objects by its id")

    def _rotate_secret_with(self, fn: lambda_.Function) -> None:
        """Secrets Manager rotates the secret with ``fn``: once at creation (the first state key) and then on
        :data:`STATE_KEY_ROTATION`. An L1 schedule: CDK's ``add_rotation_schedule`` would also grant
        ``secretsmanager:GetRandomPassword`` on ``*`` and all of KMS encrypt/decrypt/re-encrypt."""
        secret = self._storage.secret
        self._allow(
            fn,
            [
                f"secretsmanager:{action}"
                for action in ("DescribeSecret", "GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage")
            ],
            [secret.secret_arn],
        )
        self._kms(fn, ["Decrypt", "GenerateDataKey"], ["secretsmanager"])
        permission = lambda_.CfnPermission(
            self,
            "SecretsManagerInvokesRotation",
            action="lambda:InvokeFunction",
            function_name=fn.function_arn,
            principal="secretsmanager.amazonaws.com",
            source_account=Stack.of(self).account,
            source_arn=secret.secret_arn,
        )
        schedule = secretsmanager.CfnRotationSchedule(
            self,
            "SecretRotationSchedule",
            secret_id=secret.secret_arn,
            rotation_lambda_arn=fn.function_arn,
            rotation_rules=secretsmanager.CfnRotationSchedule.RotationRulesProperty(
                schedule_expression=STATE_KEY_ROTATION
            ),
            rotate_immediately_on_update=True,
        )
        schedule.add_dependency(permission)
        schedule.node.add_dependency(_policy(fn))  # the function can read and write the secret before it runs

    def _wire_outbox_relay(self, fn: lambda_.Function, events_: Events) -> sqs.Queue:
        dlq = encrypted_queue(self, "OutboxRelayDeadLetterQueue", self._storage.key)
        mark_as_dead_letter_queue(dlq, "stream batches the outbox relay gave up on")
        fn.add_event_source(
            sources.DynamoEventSource(
                self._storage.table,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=25,
                bisect_batch_on_error=True,
                report_batch_item_failures=True,
                retry_attempts=10,
                max_record_age=Duration.hours(12),
                on_failure=_DeadLetterQueue(dlq),
                filters=[
                    lambda_.FilterCriteria.filter(
                        {
                            "eventName": lambda_.FilterRule.is_equal("INSERT"),
                            "dynamodb": {"Keys": {"pk": {"S": lambda_.FilterRule.begins_with("OUTBOX#")}}},
                        }
                    ),
                    # a pending transfer removed by TTL (not a tombstone): EMREX Transfer Expired
                    lambda_.FilterCriteria.filter(
                        {
                            "eventName": lambda_.FilterRule.is_equal("REMOVE"),
                            "userIdentity": {
                                "type": lambda_.FilterRule.is_equal("Service"),
                                "principalId": lambda_.FilterRule.is_equal("dynamodb.amazonaws.com"),
                            },
                            "dynamodb": {
                                "Keys": {"pk": {"S": lambda_.FilterRule.begins_with("SESSION#")}},
                                "OldImage": {
                                    "status": {"S": lambda_.FilterRule.is_equal("pending")},
                                    "erased_at": {"S": lambda_.FilterRule.not_exists()},  # exists: leaves only
                                },
                            },
                        }
                    ),
                ],
            )
        )
        self._allow(fn, ["events:PutEvents"], [events_.bus.event_bus_arn])
        # The outbox ledger: skip events already relayed (BatchGetItem), mark relayed ones (UpdateItem).
        self._table(fn, "BatchGetItem", "UpdateItem")
        self._allow(fn, ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"], [dlq.queue_arn])
        self._kms(fn, ["Decrypt", "Encrypt", "GenerateDataKey"], ["dynamodb"])
        self._kms(fn, ["Decrypt", "GenerateDataKey"], ["sqs"])  # the encrypted dead-letter queue
        policy = _policy(fn)
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "CDK's stream grant: dynamodb:ListStreams cannot be scoped to a table (the other stream actions are).",
        )
        return dlq


@jsii.implements(lambda_.IEventSourceDlq)
class _DeadLetterQueue:
    """The stream's on-failure destination without CDK's grant (which allows the whole stack key with no
    ``kms:ViaService``); the relay gets ``sqs:SendMessage`` on this queue and the key through SQS only."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self._queue = queue

    def bind(self, _target: Any, _target_handler: lambda_.IFunction) -> lambda_.DlqDestinationConfig:
        return lambda_.DlqDestinationConfig(destination=self._queue.queue_arn)


def _policy(fn: lambda_.Function) -> iam.Policy:
    """The function role's default policy, where grants land (nag reports findings there)."""
    policy = fn.role.node.try_find_child("DefaultPolicy") if fn.role else None
    if not isinstance(policy, iam.Policy):
        raise TypeError(f"{fn.node.path} has no default role policy")
    return policy


def _suppress_object_wildcard(fn: lambda_.Function, bucket: s3.IBucket, prefix: str, why: str) -> None:
    acknowledge(
        _policy(fn),
        f"AwsSolutions-IAM5[Resource::<{logical_id(bucket)}.Arn>/{prefix}*]",
        f"Object actions need a key-prefix wildcard; {why}.",
    )


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
}


def _retention(days: int) -> logs.RetentionDays:
    return _RETENTION[days]
