"""Data at rest: the customer-managed key, the DynamoDB table, the evidence bucket and the secret."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from emrex_emc.adapters.sessions import APPLICANT_INDEX, APPLICANT_INDEX_ATTRIBUTES, APPLICANT_INDEX_KEYS
from infra.components.nag import acknowledge
from infra.config import EmrexConfig

NONCURRENT_VERSION_DAYS = 30
"""How long an overwritten or deleted object version is kept (recovery window)."""
INITIAL_STATE_KEY_ID = "k1"


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: EmrexConfig) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY

        self.key = kms.Key(
            self,
            "Key",
            description="EMREX EMC: table, bucket, secret, queues and alarm topic",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        # CloudWatch alarms and the operations rule (EventBridge) publish to the KMS-encrypted alarm topic
        # (EventBridge's statement is added where the rule is: infra/components/monitoring.py).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheTopicKey",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        # Table, not TableV2: a TableV2 with a customer-managed key cannot synthesize env-agnostic.
        # The stream carries old images too: a pending transfer removed by TTL is announced from its old image
        # (EMREX Transfer Expired).
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute="expires_at",
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            deletion_protection=config.retain_data,
            removal_policy=removal,
        )
        # One index (DynamoDB adds one per table update, so one index keeps upgrades to one deploy): an
        # applicant's transfers, for their listing and their erasure, without a scan.
        partition, sort = APPLICANT_INDEX_KEYS
        self.table.add_global_secondary_index(
            index_name=APPLICANT_INDEX,
            partition_key=dynamodb.Attribute(name=partition, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=sort, type=dynamodb.AttributeType.NUMBER),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(APPLICANT_INDEX_ATTRIBUTES),
        )

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # S3 server access logging cannot write SSE-KMS
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(config.retention_days))
            ],
            removal_policy=removal,
        )
        acknowledge(
            self.access_logs, "AwsSolutions-S1", "This is the access-log bucket; logging it to itself would loop."
        )

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-transfers",
                    prefix="transfers/",
                    expiration=Duration.days(config.retention_days),
                    noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                ),
                # The registry snapshot moved to the table; this clears the retired registry/snapshot.json
                # (and its old versions) of earlier deployments. Nothing writes under registry/ any more.
                s3.LifecycleRule(
                    id="expire-retired-registry-snapshots",
                    prefix="registry/",
                    expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                    noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                ),
                s3.LifecycleRule(
                    id="clean-up",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                    expired_object_delete_marker=True,
                ),
            ],
            removal_policy=removal,
        )

        # The secret is created with a generated api_token and no state key; the rotation schedule
        # (infra/components/functions.py) rotates it once at creation, which adds the first state key, so no
        # hand-run step follows a deploy. Never change the generator settings: CloudFormation would generate
        # the whole secret again and every state and the enrolment system's token would stop working.
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description="EMREX EMC: state-signing keys (state_keys, state_key_id) and the enrolment API token",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"state_key_id": INITIAL_STATE_KEY_ID, "state_keys": {}}),
                generate_string_key="api_token",
                password_length=48,
                exclude_punctuation=True,
            ),
            removal_policy=removal,
        )
