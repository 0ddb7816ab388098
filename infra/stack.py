"""The whole EMC in one stack: storage, events, functions, HTTP API, monitoring."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.components.api import Api
from infra.components.client_keys import ClientKeys
from infra.components.events import Events
from infra.components.functions import Functions, _retention
from infra.components.monitoring import Monitoring
from infra.components.storage import Storage
from infra.config import EmrexConfig
from infra.layer import LayerAsset


class EmrexStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: EmrexConfig, layer: LayerAsset) -> None:
        super().__init__(
            scope,
            construct_id,
            description="EMREX client (EMC): verified study results from EMREX data providers to the SIS",
        )
        self.config = config
        self.storage = Storage(self, "Storage", config=config)
        self.events = Events(self, "Events", config=config, key=self.storage.key)
        self.client_keys = ClientKeys(self, "ClientKeys", config=config)
        self.functions = Functions(
            self,
            "Functions",
            config=config,
            layer=layer,
            storage=self.storage,
            events_=self.events,
            client_keys=self.client_keys,
        )
        self.api = Api(
            self,
            "Api",
            config=config,
            functions={
                fn: self.functions.entry_points[fn]
                for fn in ("enrolment_api", "start_session", "callback", "admin_api")
            },
            access_log_retention=_retention(config.log_retention_days),
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            key=self.storage.key,
            functions=self.functions.by_name,
            dead_letter_queues={
                "OutboxRelayDlq": self.functions.relay_dlq,
                "SisDlq": self.events.sis_dlq,
                "SisDeliveryDlq": self.events.delivery_dlq,
            },
            api=self.api,
            bus=self.events.bus,
        )
        outputs = {
            "ApiUrl": (self.api.public_url, "Base URL of the API (start links and the EMP callback live here)"),
            "SecretArn": (self.storage.secret.secret_arn, "Secret with api_token and the state keys"),
            "TableName": (self.storage.table.table_name, "DynamoDB table"),
            "BucketName": (self.storage.bucket.bucket_name, "Evidence bucket"),
            "CallbackFunctionName": (
                self.functions.by_name["callback"].function_name,
                "Callback function (its verification settings: emrex-emc transfers reverify)",
            ),
            "EventBusName": (self.events.bus.event_bus_name, "Bus the SIS subscribes to (source emrex.emc)"),
            "SisQueueUrl": (self.events.sis_queue.queue_url, "Sample SIS queue"),
            "AlarmTopicArn": (self.monitoring.topic.topic_arn, "SNS topic of all alarms and registry changes"),
            "DashboardName": (self.monitoring.dashboard.dashboard_name, "CloudWatch dashboard, per EMP"),
            "ClientSigningKeyArn": (
                self.client_keys.signing_key.key_arn,
                "KMS key signing EMREX 2.0 client assertions (its public key: /.well-known/jwks.json)",
            ),
        }
        if self.api.domain is not None:
            outputs["DomainTarget"] = (self.api.domain.regional_domain_name, "CNAME target for the custom domain")
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
