"""Security and wiring properties of the synthesized template (one shared synth, see conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from emrex_emc.adapters.outbox import REGISTRY_OUTBOX_PREFIX
from emrex_emc.adapters.registry_store import BASELINE_PK, SNAPSHOT_PK
from emrex_emc.core.events import OPERATIONS_DETAIL_TYPES, SIS_DETAIL_TYPES
from emrex_emc.settings import FUNCTIONS
from tests.infra.conftest import Synth, synthesize

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


# Exactly the IAM actions each function may hold (besides writing its own log group).
EXPECTED_ACTIONS = {
    "enrolment_api": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
    },
    "start_session": {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GetPublicKey",  # the EMREX 2.0 client keys' public parts (well-known documents)
    },
    "callback": {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "s3:PutObject",
        "s3:GetObject",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:Sign",  # EMREX 2.0 client assertions, with the signing key only
    },
    "outbox_relay": {
        "events:PutEvents",
        "dynamodb:BatchGetItem",
        "dynamodb:UpdateItem",
        "kms:GenerateDataKey",
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
    },
    "registry_refresh": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
    },
    "secret_rotation": {
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    },
    "admin_api": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "s3:ListBucketVersions",
        "s3:DeleteObjectVersion",
        "events:PutEvents",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
    },
}
# The only wildcards allowed, each with its reason (acknowledged for cdk-nag too): none.
ALLOWED_WILDCARD_ACTIONS: set[tuple[str, str]] = set()
ALLOWED_STAR_RESOURCE_ACTIONS = {"dynamodb:ListStreams"}  # cannot be scoped to a table
CLIENT_KEY_ACTIONS = {"kms:Sign", "kms:GetPublicKey"}
"""On the EMREX 2.0 client keys, called directly (not through a service): no kms:ViaService condition."""


def resolved(variable: str) -> str:
    """A plausible deployed value for a variable the template fills from a resource (a token)."""
    return "emc-key-1=arn:aws:kms:eu-west-1:123456789012:key/x" if variable == "EMREX_CLIENT_KEYS" else "resolved"


def one(mapping: dict[str, Any]) -> tuple[str, Any]:
    assert len(mapping) == 1, sorted(mapping)
    return next(iter(mapping.items()))


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def arn(logical_id: str, attribute: str = "Arn") -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return policy["Properties"]["PolicyDocument"]["Statement"]  # type: ignore[no-any-return]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def ids(synth: Synth) -> dict[str, str]:
    """Logical ids of the main resources, looked up by type and properties (not hard-coded)."""
    keys = synth.of_type("AWS::KMS::Key")
    client_keys = {key: value for key, value in keys.items() if "KeySpec" in value["Properties"]}
    found = {
        "key": one({key: value for key, value in keys.items() if key not in client_keys})[0],
        "client_key": one(client_keys)[0],
        "table": one(synth.of_type("AWS::DynamoDB::Table"))[0],
        "secret": one(synth.of_type("AWS::SecretsManager::Secret"))[0],
        "bus": one(synth.of_type("AWS::Events::EventBus"))[0],
        "topic": one(synth.of_type("AWS::SNS::Topic"))[0],
        "layer": one(synth.of_type("AWS::Lambda::LayerVersion"))[0],
        "api": one(synth.of_type("AWS::ApiGatewayV2::Api"))[0],
    }
    for logical_id, bucket in synth.of_type("AWS::S3::Bucket").items():
        found["bucket" if "LoggingConfiguration" in bucket["Properties"] else "access_logs"] = logical_id
    for logical_id, fn in synth.of_type("AWS::Lambda::Function").items():
        found[fn["Properties"]["Handler"].split(".")[0]] = logical_id
    for logical_id in synth.of_type("AWS::SQS::Queue"):
        for name in (
            "OutboxRelayDeadLetterQueue",
            "SisDeadLetterQueue",
            "SisDeliveryDeadLetterQueue",
            "SisQueue",
            "OperationsDeliveryDeadLetterQueue",
        ):
            if any(logical_id.startswith(f"{part}{name}") for part in ("Functions", "Events", "Monitoring")):
                found[name] = logical_id
    return found


def function_policy(synth: Synth, ids: dict[str, str], name: str) -> dict[str, Any]:
    role = synth.resources[ids[name]]["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = {
        key: policy
        for key, policy in synth.of_type("AWS::IAM::Policy").items()
        if ref(role) in policy["Properties"]["Roles"]
    }
    return one(policies)[1]  # type: ignore[no-any-return]


# --- encryption at rest ------------------------------------------------------------------------------


def test_customer_managed_key_rotates(template: Template) -> None:
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_table_on_demand_ttl_pitr_stream_and_kms(template: Template, ids: dict[str, str]) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "applicant_id", "AttributeType": "S"},
                {"AttributeName": "deadline", "AttributeType": "N"},
            ],
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},  # TTL removals carry the old image
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": arn(ids["key"])},
            "DeletionProtectionEnabled": True,
        },
    )


def test_one_applicant_index_projecting_only_what_a_listing_shows(synth: Synth, ids: dict[str, str]) -> None:
    (index,) = synth.resources[ids["table"]]["Properties"]["GlobalSecondaryIndexes"]  # one per deploy: upgrades
    assert index == {
        "IndexName": "applicant",
        "KeySchema": [
            {"AttributeName": "applicant_id", "KeyType": "HASH"},
            {"AttributeName": "deadline", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["id", "status", "emp", "created_at"]},
    }


def test_data_is_retained_when_the_stack_is_deleted(synth: Synth, ids: dict[str, str]) -> None:
    for name in ("key", "table", "bucket", "secret"):
        assert synth.resources[ids[name]]["DeletionPolicy"] == "Retain", name


def test_bucket_kms_versioned_private_logged_and_expiring(synth: Synth, ids: dict[str, str]) -> None:
    props = synth.resources[ids["bucket"]]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": arn(ids["key"])}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["DestinationBucketName"] == ref(ids["access_logs"])
    rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-transfers"]["Prefix"] == "transfers/"
    assert rules["expire-transfers"]["ExpirationInDays"] == 365
    assert rules["expire-transfers"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    retired = rules["expire-retired-registry-snapshots"]  # the snapshot moved to the table
    assert (retired["Prefix"], retired["ExpirationInDays"]) == ("registry/", 30)
    assert retired["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rules["clean-up"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


@pytest.mark.parametrize("bucket", ["bucket", "access_logs"])
def test_buckets_block_public_access_and_require_tls(synth: Synth, ids: dict[str, str], bucket: str) -> None:
    props = synth.resources[ids[bucket]]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    policies = [
        policy
        for policy in synth.of_type("AWS::S3::BucketPolicy").values()
        if policy["Properties"]["Bucket"] == ref(ids[bucket])
    ]
    (policy,) = policies
    assert any(
        statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for statement in statements(policy)
    )


def test_access_log_bucket_expires_logs(synth: Synth, ids: dict[str, str]) -> None:
    props = synth.resources[ids["access_logs"]]["Properties"]
    assert props["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 365


def test_secret_encrypted_and_generates_the_api_token(template: Template, ids: dict[str, str]) -> None:
    template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "KmsKeyId": arn(ids["key"]),
            "GenerateSecretString": {
                "GenerateStringKey": "api_token",
                "SecretStringTemplate": json.dumps({"state_key_id": "k1", "state_keys": {}}),
                "ExcludePunctuation": True,
                "PasswordLength": 48,
            },
        },
    )


def test_every_queue_uses_the_key_and_requires_tls(synth: Synth, ids: dict[str, str]) -> None:
    queues = synth.of_type("AWS::SQS::Queue")
    assert len(queues) == 5  # relay DLQ, SIS queue and its DLQ, SIS and operations delivery DLQs
    for logical_id, queue in queues.items():
        assert queue["Properties"]["KmsMasterKeyId"] == arn(ids["key"]), logical_id
        (policy,) = [
            p for p in synth.of_type("AWS::SQS::QueuePolicy").values() if ref(logical_id) in p["Properties"]["Queues"]
        ]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements(policy)
        ), logical_id


def test_alarm_topic_encrypted_and_tls_only(synth: Synth, ids: dict[str, str]) -> None:
    assert synth.resources[ids["topic"]]["Properties"]["KmsMasterKeyId"] == arn(ids["key"])
    (policy,) = synth.of_type("AWS::SNS::TopicPolicy").values()
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements(policy)
    )


def test_key_policy_lets_only_named_services_in_for_this_account(synth: Synth, ids: dict[str, str]) -> None:
    policy = synth.resources[ids["key"]]["Properties"]["KeyPolicy"]["Statement"]
    for statement in policy:
        principal = statement["Principal"]
        if "Service" in principal:
            assert principal["Service"] in {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
            assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}


# --- functions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_runtime_architecture_layer_and_tracing(synth: Synth, ids: dict[str, str], name: str) -> None:
    props = synth.resources[ids[name]]["Properties"]
    assert props["Handler"] == f"{name}.handler.handler"
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Layers"] == [ref(ids["layer"])]
    assert props.get("TracingConfig", {"Mode": "PassThrough"}) == {"Mode": "PassThrough"}
    assert props["LoggingConfig"]["LogGroup"] == ref(props["LoggingConfig"]["LogGroup"]["Ref"])


def test_memory_and_timeouts(synth: Synth, ids: dict[str, str]) -> None:
    sizes = {
        name: (
            synth.resources[ids[name]]["Properties"]["MemorySize"],
            synth.resources[ids[name]]["Properties"]["Timeout"],
        )
        for name in FUNCTIONS
    }
    assert sizes["callback"] == (1769, 29)  # one full vCPU; under the HTTP API's 30 s integration timeout
    assert sizes["start_session"] == (1024, 10)  # the student waits on its cold start
    assert all(128 <= memory <= 512 for name, (memory, _) in sizes.items() if name not in {"callback", "start_session"})


def test_function_log_groups_have_retention(synth: Synth) -> None:
    groups = synth.of_type("AWS::Logs::LogGroup")
    assert len(groups) == 8  # seven functions + API access logs
    assert {group["Properties"]["RetentionInDays"] for group in groups.values()} == {90}


def test_layer_targets_the_function_runtime(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Lambda::LayerVersion", {"CompatibleRuntimes": ["python3.13"], "CompatibleArchitectures": ["arm64"]}
    )


def test_function_asset_content_excludes_local_runner(synth: Synth) -> None:
    manifest = json.loads((synth.outdir / f"{synth.stack.stack_name}.assets.json").read_text())
    staged = [synth.outdir / entry["source"]["path"] for entry in manifest["files"].values()]
    (functions_asset,) = [path for path in staged if (path / "emrex_emc").is_dir()]
    assert (functions_asset / "emrex_emc" / "settings.py").is_file()
    assert not (functions_asset / "emrex_emc" / "local").exists()
    assert not (functions_asset / "emrex_emc" / "commands").exists()
    assert not (functions_asset / "emrex_emc" / "cli.py").exists()
    # the compiled catalogs are deployed, their sources are not
    assert any(functions_asset.rglob("emc.mo")) and not any(functions_asset.rglob("*.po"))
    # only bytecode compiled for the Lambda runtime (never a developer's stale 3.11 cache)
    assert {pyc.name.split(".")[1] for pyc in functions_asset.rglob("*.pyc")} <= {"cpython-313"}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_environment_wired(synth: Synth, ids: dict[str, str], name: str) -> None:
    from emrex_emc.settings import variables_of

    env = synth.resources[ids[name]]["Properties"]["Environment"]["Variables"]
    expected = {
        "EMREX_TABLE_NAME": ref(ids["table"]),
        "EMREX_BUCKET_NAME": ref(ids["bucket"]),
        "EMREX_EVENT_BUS_NAME": ref(ids["bus"]),
        "EMREX_SECRET_NAME": ref(ids["secret"]),
        "EMREX_REGISTRY_URL": "https://dev-registry.erasmuswithoutpaper.eu/catalogue-v1.xml",
        "EMREX_REGISTRY_URLS": "https://dev-registry.erasmuswithoutpaper.eu/catalogue-v1.xml",
        "EMREX_REGISTRY_MAX_AGE_SECONDS": "86400",
        "EMREX_ALLOWED_RETURN_URLS": "",
        "EMREX_SESSION_TTL_SECONDS": "1800",
        "EMREX_RETENTION_DAYS": "365",
        "EMREX_FORBID_SHA1": "false",
        "EMREX_STRICT_CERT_VALIDITY": "false",
        "EMREX_PUBLIC_BASE_URL": "",
        "EMREX_XSD_DIR": "",  # the stub layer carries no XSDs
        "EMREX_SECRET_MAX_AGE_SECONDS": "300",
        "EMREX_CERT_EXPIRY_WARNING_DAYS": "30",
        "EMREX_CLIENT_ID": "",
        "EMREX_CLIENT_NAME": "",
        "EMREX_CLIENT_COUNTRY": "",
        "EMREX_CLIENT_KEYS": {"Fn::Join": ["", ["emc-key-1=", arn(ids["client_key"])]]},
    }
    wanted = {variable.name for variable in variables_of(name)}
    assert {key for key in env if key.startswith("EMREX_")} == wanted & set(expected)  # only what it reads
    assert {key: env[key] for key in wanted & set(expected)} == {key: expected[key] for key in wanted & set(expected)}
    assert env["POWERTOOLS_SERVICE_NAME"] == name
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "EMREX"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"


def test_start_session_gets_no_bucket_and_the_relay_no_secret(synth: Synth, ids: dict[str, str]) -> None:
    start = synth.resources[ids["start_session"]]["Properties"]["Environment"]["Variables"]
    relay = synth.resources[ids["outbox_relay"]]["Properties"]["Environment"]["Variables"]
    assert "EMREX_BUCKET_NAME" not in start and "EMREX_SECRET_NAME" not in relay


@pytest.mark.parametrize(
    "name", ["enrolment_api", "start_session", "callback", "outbox_relay", "registry_refresh", "admin_api"]
)
def test_each_function_environment_is_valid_for_its_settings(synth: Synth, ids: dict[str, str], name: str) -> None:
    from emrex_emc.settings import Settings

    env = dict(synth.resources[ids[name]]["Properties"]["Environment"]["Variables"])
    env.update({key: resolved(key) for key, value in env.items() if not isinstance(value, str)})
    Settings.from_env(env, function=name)  # raises when a variable it requires is missing


def test_environment_is_valid_for_the_settings_model(synth: Synth, ids: dict[str, str]) -> None:
    from emrex_emc.settings import Settings

    env = dict(synth.resources[ids["callback"]]["Properties"]["Environment"]["Variables"])
    env.update({key: resolved(key) for key, value in env.items() if not isinstance(value, str)})
    settings = Settings.from_env(env, function="callback")
    assert settings.session_ttl_seconds == 1800 and settings.verification.forbid_sha1 is False


# --- least privilege -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_holds_only_its_own_actions(synth: Synth, ids: dict[str, str], name: str) -> None:
    policy = function_policy(synth, ids, name)
    actions = {action for s in statements(policy) for action in as_list(s["Action"])}
    assert actions - {"logs:CreateLogStream", "logs:PutLogEvents"} == EXPECTED_ACTIONS[name]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_no_wildcards_on_data_resources(synth: Synth, ids: dict[str, str], name: str) -> None:
    for statement in statements(function_policy(synth, ids, name)):
        assert statement["Effect"] == "Allow"
        actions = as_list(statement["Action"])
        for action in actions:
            assert action != "*" and not action.endswith(":*"), action
            if "*" in action:
                assert (name, action) in ALLOWED_WILDCARD_ACTIONS
        if "*" in as_list(statement["Resource"]):
            assert set(actions) <= ALLOWED_STAR_RESOURCE_ACTIONS, actions


def test_no_managed_policies_on_function_roles(synth: Synth) -> None:
    for logical_id, role in synth.of_type("AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], logical_id


def test_kms_use_is_limited_to_the_calling_services(synth: Synth, ids: dict[str, str]) -> None:
    for name in ("enrolment_api", "start_session", "callback", "registry_refresh", "secret_rotation", "admin_api"):
        for statement in statements(function_policy(synth, ids, name)):
            actions = set(as_list(statement["Action"]))
            if actions & CLIENT_KEY_ACTIONS:
                assert actions <= CLIENT_KEY_ACTIONS and as_list(statement["Resource"]) == [arn(ids["client_key"])]
            elif any(action.startswith("kms:") for action in actions):
                assert statement["Resource"] == arn(ids["key"])
                assert "kms:ViaService" in statement["Condition"]["StringEquals"]


def test_object_access_is_scoped_to_prefixes(synth: Synth, ids: dict[str, str]) -> None:
    def object_resources(name: str) -> list[Any]:
        return [
            s["Resource"]
            for s in statements(function_policy(synth, ids, name))
            if "s3:GetObject" in as_list(s["Action"])
        ]

    bucket = arn(ids["bucket"])
    assert object_resources("callback") == [{"Fn::Join": ["", [bucket, "/transfers/*"]]}]
    assert object_resources("start_session") == object_resources("registry_refresh") == []
    assert object_resources("admin_api") == []  # it deletes, it never reads the evidence


def test_registry_refresh_may_touch_only_its_items_and_its_outbox_rows(synth: Synth, ids: dict[str, str]) -> None:
    policy = statements(function_policy(synth, ids, "registry_refresh"))
    assert [s for s in policy if s["Resource"] == arn(ids["table"])] == [
        {
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [SNAPSHOT_PK, BASELINE_PK]}},
            "Effect": "Allow",
            "Resource": arn(ids["table"]),
        },
        {
            "Action": "dynamodb:PutItem",
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{REGISTRY_OUTBOX_PREFIX}*"]}},
            "Effect": "Allow",
            "Resource": arn(ids["table"]),
        },
    ]


def test_the_applicant_index_is_queried_by_the_enrolment_api_and_the_erasure_only(
    synth: Synth, ids: dict[str, str]
) -> None:
    index = {"Fn::Join": ["", [arn(ids["table"]), "/index/applicant"]]}
    for name in FUNCTIONS:
        queries = [s for s in statements(function_policy(synth, ids, name)) if "dynamodb:Query" in as_list(s["Action"])]
        assert [s["Resource"] for s in queries] == ([index] if name in {"enrolment_api", "admin_api"} else []), name


def test_the_erasure_deletes_object_versions_under_transfers_only(synth: Synth, ids: dict[str, str]) -> None:
    policy = statements(function_policy(synth, ids, "admin_api"))
    bucket = arn(ids["bucket"])
    (listing,) = [s for s in policy if "s3:ListBucketVersions" in as_list(s["Action"])]
    assert listing["Resource"] == bucket and as_list(listing["Action"]) == ["s3:ListBucketVersions"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["transfers/*"]}}
    (deleting,) = [s for s in policy if "s3:DeleteObjectVersion" in as_list(s["Action"])]
    assert as_list(deleting["Action"]) == ["s3:DeleteObjectVersion"] and "Condition" not in deleting
    assert deleting["Resource"] == {"Fn::Join": ["", [bucket, "/transfers/*"]]}
    (publishing,) = [s for s in policy if as_list(s["Action"]) == ["events:PutEvents"]]
    assert publishing["Resource"] == arn(ids["bus"])


@pytest.mark.parametrize("name", sorted(set(FUNCTIONS) - {"admin_api"}))
def test_only_the_erasure_may_delete_or_list_object_versions(synth: Synth, ids: dict[str, str], name: str) -> None:
    """The callback parses the most hostile input: it writes evidence but can never destroy any (nor can the
    others), so versioning keeps every earlier version whatever a compromised function does."""
    actions = {action for s in statements(function_policy(synth, ids, name)) for action in as_list(s["Action"])}
    destructive = {a for a in actions if a.startswith("s3:DeleteObject") or a in {"s3:ListBucketVersions", "s3:*"}}
    assert destructive == set(), name


def test_the_outputs_name_the_table_and_the_bucket_for_the_transfers_command(
    template: Template, ids: dict[str, str]
) -> None:
    """``emrex-emc transfers --stack NAME`` reads these outputs (commands/transfers.py)."""
    outputs = template.to_json()["Outputs"]
    assert outputs["TableName"]["Value"] == ref(ids["table"])
    assert outputs["BucketName"]["Value"] == ref(ids["bucket"])
    assert outputs["CallbackFunctionName"]["Value"] == ref(ids["callback"])  # reverify: the callback's policy


def test_start_session_reads_the_snapshot_from_the_table_not_the_bucket(synth: Synth, ids: dict[str, str]) -> None:
    policy = statements(function_policy(synth, ids, "start_session"))
    resources = json.dumps([s["Resource"] for s in policy])
    assert ids["bucket"] not in resources
    (kms,) = [s for s in policy if "kms:Decrypt" in as_list(s["Action"])]
    via = kms["Condition"]["StringEquals"]["kms:ViaService"]
    assert [v["Fn::Join"][1][0] for v in via] == ["dynamodb.", "secretsmanager."]


def test_the_rotation_function_writes_only_the_secret_through_secrets_manager(
    synth: Synth, ids: dict[str, str]
) -> None:
    policy = [s for s in statements(function_policy(synth, ids, "secret_rotation")) if s["Resource"] != "*"]
    secret_statements = [s for s in policy if as_list(s["Action"])[0].startswith("secretsmanager:")]
    assert [s["Resource"] for s in secret_statements] == [ref(ids["secret"])]
    (kms,) = [s for s in policy if "kms:Decrypt" in as_list(s["Action"])]
    assert kms["Resource"] == arn(ids["key"])
    via = kms["Condition"]["StringEquals"]["kms:ViaService"]
    assert [v["Fn::Join"][1][0] for v in via] == ["secretsmanager."]


# --- secret rotation -------------------------------------------------------------------------------------


def test_the_secret_is_rotated_at_creation_and_every_30_days(synth: Synth, ids: dict[str, str]) -> None:
    (schedule,) = synth.of_type("AWS::SecretsManager::RotationSchedule").values()
    props = schedule["Properties"]
    assert props["SecretId"] == ref(ids["secret"])
    assert props["RotationLambdaARN"] == arn(ids["secret_rotation"])
    assert props["RotationRules"] == {"ScheduleExpression": "rate(30 days)"}
    assert props.get("RotateImmediatelyOnUpdate", True) is True  # fills the first state key at deploy
    # it waits for the invoke permission and the function's grants, or the first rotation would fail
    role = synth.resources[ids["secret_rotation"]]["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = [key for key, p in synth.of_type("AWS::IAM::Policy").items() if ref(role) in p["Properties"]["Roles"]]
    (permission,) = [
        key
        for key, p in synth.of_type("AWS::Lambda::Permission").items()
        if p["Properties"]["FunctionName"] == arn(ids["secret_rotation"])
    ]
    assert {policy, permission} <= set(schedule["DependsOn"])


def test_only_secrets_manager_invokes_the_rotation_function_and_only_for_this_secret(
    synth: Synth, ids: dict[str, str]
) -> None:
    permissions = [
        p["Properties"]
        for p in synth.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == arn(ids["secret_rotation"])
    ]
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": arn(ids["secret_rotation"]),
            "Principal": "secretsmanager.amazonaws.com",
            "SourceAccount": ref("AWS::AccountId"),
            "SourceArn": ref(ids["secret"]),
        }
    ]


# --- outbox relay, schedule, events -------------------------------------------------------------------


TTL_EXPIRY_FILTER = {
    "eventName": ["REMOVE"],
    "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
    "dynamodb": {
        "Keys": {"pk": {"S": [{"prefix": "SESSION#"}]}},
        "OldImage": {"status": {"S": ["pending"]}, "erased_at": {"S": [{"exists": False}]}},
    },
}


def test_outbox_relay_stream_mapping(template: Template, ids: dict[str, str]) -> None:
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "FunctionName": ref(ids["outbox_relay"]),
            "EventSourceArn": arn(ids["table"], "StreamArn"),
            "StartingPosition": "TRIM_HORIZON",
            "BisectBatchOnFunctionError": True,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "MaximumRetryAttempts": 10,
            "DestinationConfig": {"OnFailure": {"Destination": arn(ids["OutboxRelayDeadLetterQueue"])}},
            "FilterCriteria": {
                "Filters": [
                    {
                        "Pattern": json.dumps(
                            {"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "OUTBOX#"}]}}}},
                            separators=(",", ":"),
                        )
                    },
                    {"Pattern": json.dumps(TTL_EXPIRY_FILTER, separators=(",", ":"))},
                ]
            },
        },
    )


def stream_record(event_name: str, pk: str, **extra: Any) -> dict[str, Any]:
    return {"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": {"Keys": {"pk": {"S": pk}}}, **extra}


def ttl_removal(old_image: dict[str, Any], principal: str = "dynamodb.amazonaws.com") -> dict[str, Any]:
    record = stream_record("REMOVE", "SESSION#t1", userIdentity={"type": "Service", "principalId": principal})
    record["dynamodb"]["OldImage"] = old_image
    return record


def relay_filters(synth: Synth) -> list[Any]:
    from moto.events.models import EventPattern  # EventBridge pattern matching, the syntax Lambda filters use

    (mapping,) = synth.of_type("AWS::Lambda::EventSourceMapping").values()
    return [EventPattern.load(criteria["Pattern"]) for criteria in mapping["Properties"]["FilterCriteria"]["Filters"]]


def passes(synth: Synth, record: dict[str, Any]) -> bool:
    return any(pattern.matches_event(record) for pattern in relay_filters(synth))


def test_the_relay_filter_drops_registry_snapshot_writes(synth: Synth) -> None:
    assert passes(synth, stream_record("INSERT", "OUTBOX#e1"))  # the check can say yes
    assert passes(synth, stream_record("INSERT", f"{REGISTRY_OUTBOX_PREFIX}e1"))
    for event_name in ("INSERT", "MODIFY", "REMOVE"):
        assert not passes(synth, stream_record(event_name, SNAPSHOT_PK))
        assert not passes(synth, stream_record(event_name, BASELINE_PK))


def test_the_relay_filter_lets_through_ttl_removals_of_pending_transfers_only(synth: Synth) -> None:
    pending = {"pk": {"S": "SESSION#t1"}, "status": {"S": "pending"}}
    assert passes(synth, ttl_removal(pending))
    assert not passes(synth, ttl_removal({**pending, "status": {"S": "received"}}))  # decided: no expiry
    assert not passes(synth, ttl_removal({**pending, "erased_at": {"S": "2027-01-01T00:00:00Z"}}))  # tombstone
    assert not passes(synth, ttl_removal(pending, principal="AROAEXAMPLE:someone"))  # deleted by a person
    assert not passes(synth, stream_record("MODIFY", "SESSION#t1"))


def test_registry_refresh_runs_every_15_minutes(template: Template, ids: dict[str, str]) -> None:
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(15 minutes)",
            "Targets": [Match.object_like({"Arn": arn(ids["registry_refresh"])})],
        },
    )


def test_bus_archive_and_sis_rule_to_queue_with_dlq(template: Template, ids: dict[str, str]) -> None:
    template.has_resource_properties(
        "AWS::Events::Archive",
        {"SourceArn": arn(ids["bus"]), "RetentionDays": 365, "EventPattern": {"source": ["emrex.emc"]}},
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventBusName": ref(ids["bus"]),
            "EventPattern": {"source": ["emrex.emc"], "detail-type": [d.value for d in SIS_DETAIL_TYPES]},
            "Targets": [
                Match.object_like(
                    {
                        "Arn": arn(ids["SisQueue"]),
                        "DeadLetterConfig": {"Arn": arn(ids["SisDeliveryDeadLetterQueue"])},
                    }
                )
            ],
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"RedrivePolicy": {"deadLetterTargetArn": arn(ids["SisDeadLetterQueue"]), "maxReceiveCount": 5}},
    )


def event_rules(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        k: r["Properties"] for k, r in synth.of_type("AWS::Events::Rule").items() if "EventPattern" in r["Properties"]
    }


def test_registry_changes_go_to_the_alarm_topic_and_never_to_the_sis(synth: Synth, ids: dict[str, str]) -> None:
    from moto.events.models import EventPattern

    rules = event_rules(synth)
    (operations,) = [r for r in rules.values() if r["Targets"][0]["Arn"] == ref(ids["topic"])]
    assert operations["EventBusName"] == ref(ids["bus"])
    # what EventBridge cannot deliver (a topic or key that refuses) is kept, not dropped
    target = operations["Targets"][0]
    assert target["DeadLetterConfig"] == {"Arn": arn(ids["OperationsDeliveryDeadLetterQueue"])}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    assert operations["EventPattern"] == {
        "source": ["emrex.emc"],
        "detail-type": [d.value for d in OPERATIONS_DETAIL_TYPES],
    }
    (sis,) = [r for r in rules.values() if r["Targets"][0]["Arn"] == arn(ids["SisQueue"])]
    sis_pattern, operations_pattern = (
        EventPattern.load(json.dumps(sis["EventPattern"])),
        EventPattern.load(json.dumps(operations["EventPattern"])),
    )
    for detail_type in [*SIS_DETAIL_TYPES, *OPERATIONS_DETAIL_TYPES]:
        event = {"source": "emrex.emc", "detail-type": detail_type.value, "detail": {}}
        to_sis, to_operators = sis_pattern.matches_event(event), operations_pattern.matches_event(event)
        assert (to_sis, to_operators) == ((True, False) if detail_type in SIS_DETAIL_TYPES else (False, True)), (
            detail_type
        )
    # EventBridge may publish to the topic (topic policy) and use its KMS key (key policy)
    (topic_policy,) = synth.of_type("AWS::SNS::TopicPolicy").values()
    (publish,) = [s for s in statements(topic_policy) if s["Principal"] == {"Service": "events.amazonaws.com"}]
    assert (publish["Effect"], publish["Action"]) == ("Allow", "sns:Publish")
    (rule_id,) = [k for k, r in rules.items() if r == operations]
    assert publish["Condition"] == {"ArnEquals": {"aws:SourceArn": arn(rule_id)}}  # this rule only
    key_policy = synth.resources[ids["key"]]["Properties"]["KeyPolicy"]["Statement"]
    events_may_encrypt = [s for s in key_policy if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert any(set(as_list(s["Action"])) >= {"kms:Decrypt", "kms:GenerateDataKey"} for s in events_may_encrypt)


def test_the_per_emp_dashboard_searches_every_emp_at_run_time(synth: Synth) -> None:
    (dashboard,) = synth.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.loads(
        "".join(
            part if isinstance(part, str) else "eu-west-1"
            for part in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
        )
    )
    expressions = {
        widget["properties"]["title"]: [metric[0]["expression"] for metric in widget["properties"]["metrics"]]
        for widget in body["widgets"]
    }
    searched = " ".join(expression for found in expressions.values() for expression in found)
    for metric, statistic in [
        ("CallbackOutcome", "Sum"),  # outcomes by status
        ("EmpRejected", "Average"),  # rejection rate
        ("EmpSha1Signature", "Average"),  # SHA-1 share
        ("EmpCallbackLatency", "p50"),
        ("EmpCallbackLatency", "p95"),
        ("EmpCertificateDaysLeft", "Minimum"),  # days until each EMP certificate expires
    ]:
        assert f"MetricName=\"{metric}\"', '{statistic}'" in searched.replace("'", "\\'").replace('"', '\\"') or (
            f"MetricName=\"{metric}\"', '{statistic}'" in searched
        ), (metric, statistic)
    assert all("emp_id" in expression for found in expressions.values() for expression in found)
    assert not any(ids for ids in expressions.values() if not ids)
    assert synth.stack.monitoring.dashboard.dashboard_name  # output DashboardName


def test_one_alarm_catches_a_rejection_spike_of_any_emp(synth: Synth, ids: dict[str, str]) -> None:
    alarms = [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values() if "Metrics" in a["Properties"]]
    (spike,) = alarms
    (query,) = spike["Metrics"]
    assert query["Expression"].startswith("SELECT SUM(EmpRejected) FROM SCHEMA(EMREX, emp_id, service)")
    assert "GROUP BY emp_id ORDER BY SUM() DESC LIMIT 1" in query["Expression"]  # the worst EMP, whichever it is
    assert query["Period"] == 900 and query["ReturnData"] is True
    assert (spike["Threshold"], spike["ComparisonOperator"]) == (5, "GreaterThanOrEqualToThreshold")
    assert spike["AlarmActions"] == [ref(ids["topic"])]
    assert not [
        a
        for a in synth.of_type("AWS::CloudWatch::Alarm").values()
        if "emp_id" in json.dumps(a.get("Properties", {}).get("Dimensions", []))
    ]


# --- HTTP API ------------------------------------------------------------------------------------------


def test_routes_map_to_their_functions(synth: Synth, ids: dict[str, str]) -> None:
    integrations = {
        key: integration["Properties"]["IntegrationUri"]
        for key, integration in synth.of_type("AWS::ApiGatewayV2::Integration").items()
    }
    routes = {}
    for route in synth.of_type("AWS::ApiGatewayV2::Route").values():
        target = route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
        routes[route["Properties"]["RouteKey"]] = integrations[target]
    from emrex_emc.web.routes import ROUTES

    assert routes == {route.key: arn(ids[route.function]) for route in ROUTES}
    assert routes["$default"] == arn(ids["start_session"])  # unknown paths get a styled page
    for integration in synth.of_type("AWS::ApiGatewayV2::Integration").values():
        assert integration["Properties"]["PayloadFormatVersion"] == "2.0"


def test_no_snap_start_by_default(synth: Synth) -> None:
    assert all("SnapStart" not in fn["Properties"] for fn in synth.of_type("AWS::Lambda::Function").values())
    assert not synth.of_type("AWS::Lambda::Alias")


def test_variant_snap_start_restores_the_two_student_facing_functions_behind_live_aliases(variant: Synth) -> None:
    functions = variant.of_type("AWS::Lambda::Function")
    snap_started = {key for key, fn in functions.items() if fn["Properties"].get("SnapStart")}
    assert {functions[key]["Properties"]["Handler"] for key in snap_started} == {
        "start_session.handler.handler",
        "callback.handler.handler",
    }
    assert all(functions[key]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"} for key in snap_started)
    aliases = variant.of_type("AWS::Lambda::Alias")
    assert {alias["Properties"]["FunctionName"]["Ref"] for alias in aliases.values()} == snap_started
    assert {alias["Properties"]["Name"] for alias in aliases.values()} == {"live"}
    targets = [i["Properties"]["IntegrationUri"] for i in variant.of_type("AWS::ApiGatewayV2::Integration").values()]
    assert sorted(target["Ref"] for target in targets if "Ref" in target) == sorted(aliases)  # API -> aliases
    invoked = {p["Properties"]["FunctionName"].get("Ref") for p in variant.of_type("AWS::Lambda::Permission").values()}
    assert set(aliases) <= invoked  # API Gateway may invoke each alias


def test_stage_throttles_and_logs_without_personal_data(synth: Synth) -> None:
    (stage,) = synth.of_type("AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "$default" and props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100}
    log_format = props["AccessLogSettings"]["Format"]
    fields = json.loads(log_format)
    assert {"requestId", "routeKey", "status", "responseLatency", "integrationError"} <= set(fields)
    for forbidden in ("sourceIp", "userAgent", "path", "querystring", "body", "identity", "authorizer"):
        assert forbidden.lower() not in log_format.lower(), forbidden
    (group_id,) = [k for k in synth.of_type("AWS::Logs::LogGroup") if k.startswith("ApiAccessLogs")]
    assert props["AccessLogSettings"]["DestinationArn"] == arn(group_id)


def test_execute_api_endpoint_stays_enabled_without_custom_domain(synth: Synth, ids: dict[str, str]) -> None:
    assert synth.resources[ids["api"]]["Properties"].get("DisableExecuteApiEndpoint") in (None, False)
    assert not synth.of_type("AWS::ApiGatewayV2::DomainName")


# --- alarms --------------------------------------------------------------------------------------------


def test_alarms_cover_dlqs_errors_api_verification_and_registry(synth: Synth, ids: dict[str, str]) -> None:
    alarms = [a for a in synth.of_type("AWS::CloudWatch::Alarm").values() if "MetricName" in a["Properties"]]
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [ref(ids["topic"])]

    def alarms_on(metric: str, **dimension: Any) -> list[dict[str, Any]]:
        return [
            a["Properties"]
            for a in alarms
            if a["Properties"]["MetricName"] == metric
            and all({"Name": k, "Value": v} in a["Properties"].get("Dimensions", []) for k, v in dimension.items())
        ]

    for queue in (
        "OutboxRelayDeadLetterQueue",
        "SisDeadLetterQueue",
        "SisDeliveryDeadLetterQueue",
        "OperationsDeliveryDeadLetterQueue",
    ):
        (dlq,) = alarms_on("ApproximateNumberOfMessagesVisible", QueueName=arn(ids[queue], "QueueName"))
        assert dlq["Threshold"] == 1
    for name in FUNCTIONS:
        assert len(alarms_on("Errors", FunctionName=ref(ids[name]))) == 1, name
    assert len(alarms_on("IteratorAge", FunctionName=ref(ids["outbox_relay"]))) == 1
    (api_5xx,) = alarms_on("5xx", ApiId=ref(ids["api"]))
    assert api_5xx["Threshold"] == 5
    (verification,) = alarms_on("VerificationFailures", service="callback")
    assert verification["Namespace"] == "EMREX"
    (stale,) = alarms_on("RegistrySnapshotAgeSeconds", service="registry_refresh")
    assert (stale["Namespace"], stale["Threshold"], stale["TreatMissingData"]) == ("EMREX", 86400, "breaching")


def test_no_email_subscription_by_default(synth: Synth) -> None:
    assert not synth.of_type("AWS::SNS::Subscription")


# --- EMREX 2.0 client keys ------------------------------------------------------------------------------


def test_the_client_key_signs_rs256_in_kms_and_is_retained(synth: Synth, ids: dict[str, str]) -> None:
    key = synth.resources[ids["client_key"]]
    assert key["Properties"]["KeySpec"] == "RSA_2048" and key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    assert key["DeletionPolicy"] == "Retain" and key["Properties"]["PendingWindowInDays"] == 30


def test_only_the_callback_signs_and_only_start_session_reads_the_public_key(synth: Synth, ids: dict[str, str]) -> None:
    def holders(action: str) -> list[str]:
        return [
            name
            for name in FUNCTIONS
            for statement in statements(function_policy(synth, ids, name))
            if action in as_list(statement["Action"])
        ]

    assert holders("kms:Sign") == ["callback"]
    assert holders("kms:GetPublicKey") == ["start_session"]


# --- configuration variant (second and last synth) -----------------------------------------------------


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(
        tmp_path_factory.mktemp("cdk-variant"),
        **{
            "emrex:domainName": "emrex.example.edu",
            "emrex:certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0000-1111",
            "emrex:alarmEmail": "ops@example.edu",
            "emrex:architecture": "x86_64",
            "emrex:retainData": "false",
            "emrex:allowedReturnUrls": "https://apply.example.edu/emrex/return",
            "emrex:forbidSha1": "true",
            "emrex:throttleRateLimit": "20",
            "emrex:snapStart": "true",
            "emrex:clientId": "emc-example-edu",
            "emrex:clientCountry": "NL",
            "emrex:clientKeys": ["emc-key-2", "emc-key-1"],
            "emrex:registryUrls": ["https://registry.example/catalogue-v1.xml", "https://emreg.example/emp-list"],
        },
    )


def test_variant_custom_domain_email_architecture_and_settings(variant: Synth) -> None:
    (domain,) = variant.of_type("AWS::ApiGatewayV2::DomainName").values()
    assert domain["Properties"]["DomainName"] == "emrex.example.edu"
    assert len(variant.of_type("AWS::ApiGatewayV2::ApiMapping")) == 1
    (api,) = variant.of_type("AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["DisableExecuteApiEndpoint"] is True
    (subscription,) = variant.of_type("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.edu"
    for fn in variant.of_type("AWS::Lambda::Function").values():
        props = fn["Properties"]
        assert props["Architectures"] == ["x86_64"]
        env = props["Environment"]["Variables"]
        assert env.get("EMREX_PUBLIC_BASE_URL", "https://emrex.example.edu") == "https://emrex.example.edu"
        allowed = env.get("EMREX_ALLOWED_RETURN_URLS", "https://apply.example.edu/emrex/return")
        assert allowed == "https://apply.example.edu/emrex/return"
        assert env.get("EMREX_FORBID_SHA1", "true") == "true"
    (stage,) = variant.of_type("AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"] == 20


def test_variant_rolls_client_keys_over_and_combines_registries(variant: Synth) -> None:
    keys = {key: value for key, value in variant.of_type("AWS::KMS::Key").items() if "KeySpec" in value["Properties"]}
    assert len(keys) == 2 and all(value["DeletionPolicy"] == "Delete" for value in keys.values())
    functions = {
        fn["Properties"]["Handler"].split(".")[0]: fn for fn in variant.of_type("AWS::Lambda::Function").values()
    }
    callback_env = functions["callback"]["Properties"]["Environment"]["Variables"]
    joined = callback_env["EMREX_CLIENT_KEYS"]["Fn::Join"][1]
    assert joined[0] == "emc-key-2=" and joined[2] == ",emc-key-1="  # the first listed key signs
    assert callback_env["EMREX_CLIENT_ID"] == "emc-example-edu"
    refresh_env = functions["registry_refresh"]["Properties"]["Environment"]["Variables"]
    assert (
        refresh_env["EMREX_REGISTRY_URLS"] == "https://registry.example/catalogue-v1.xml,https://emreg.example/emp-list"
    )
    role = functions["callback"]["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = [p for p in variant.of_type("AWS::IAM::Policy").values() if {"Ref": role} in p["Properties"]["Roles"]]
    (sign,) = [s for s in statements(policy) if s["Action"] == "kms:Sign"]
    signing_key_arn = joined[1]
    assert sign["Resource"] == signing_key_arn
    (table,) = variant.of_type("AWS::DynamoDB::Table").values()
    assert table["DeletionPolicy"] == "Delete" and table["Properties"]["DeletionProtectionEnabled"] is False


def test_the_relay_uses_the_stack_key_only_through_its_services(synth: Synth, ids: dict[str, str]) -> None:
    """Its dead-letter queue is KMS-encrypted; CDK's own grant for it allowed the whole key with no condition."""
    kms_statements = [
        statement
        for statement in statements(function_policy(synth, ids, "outbox_relay"))
        if any(action.startswith("kms:") for action in as_list(statement["Action"]))
    ]
    conditioned = [s for s in kms_statements if "kms:ViaService" in s.get("Condition", {}).get("StringEquals", {})]
    via = [json.dumps(v) for s in conditioned for v in as_list(s["Condition"]["StringEquals"]["kms:ViaService"])]
    assert {service for service in ("dynamodb", "sqs") if any(f"{service}." in v for v in via)} == {"dynamodb", "sqs"}
    assert all("dynamodb." in v or "sqs." in v for v in via), via  # the region is a token in the template
    # the one unconditioned statement is CDK's stream-read grant: it reads with the key, never encrypts with it
    (stream_read,) = [s for s in kms_statements if s not in conditioned]
    assert set(as_list(stream_read["Action"])) == {"kms:Decrypt", "kms:DescribeKey"}
