"""The EMREX event bus with its archive, and the sample SIS subscription: rule -> SQS queue (+ DLQs).

The SIS rule matches the SIS contract's detail-types only (``SIS_DETAIL_TYPES``): the registry's operations
events share the bus and source but go to the alarm topic (``infra/components/monitoring.py``)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from emrex_emc.core.events import SIS_DETAIL_TYPES, SOURCE
from infra.components.nag import acknowledge
from infra.config import EmrexConfig

EVENT_SOURCE = SOURCE
SIS_MAX_RECEIVE_COUNT = 5
QUEUE_RETENTION = Duration.days(14)


def encrypted_queue(
    scope: Construct, construct_id: str, key: kms.IKey, dead_letter_queue: sqs.IQueue | None = None
) -> sqs.Queue:
    """An SQS queue encrypted with the stack key and reachable over TLS only."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        data_key_reuse=Duration.hours(1),
        enforce_ssl=True,
        retention_period=QUEUE_RETENTION,
        dead_letter_queue=(
            sqs.DeadLetterQueue(queue=dead_letter_queue, max_receive_count=SIS_MAX_RECEIVE_COUNT)
            if dead_letter_queue is not None
            else None
        ),
    )


def mark_as_dead_letter_queue(queue: sqs.Queue, purpose: str) -> None:
    acknowledge(queue, "AwsSolutions-SQS3", f"This queue is itself a dead-letter queue ({purpose}).")


class Events(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: EmrexConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", description="EMREX EMC events (source emrex.emc)")
        self.archive = self.bus.archive(
            "Archive",
            description="Replayable copy of every EMREX event",
            event_pattern=events.EventPattern(source=[EVENT_SOURCE]),
            retention=Duration.days(config.retention_days),
        )

        self.sis_dlq = encrypted_queue(self, "SisDeadLetterQueue", key)
        mark_as_dead_letter_queue(self.sis_dlq, "messages the SIS consumer failed to process")
        self.sis_queue = encrypted_queue(self, "SisQueue", key, dead_letter_queue=self.sis_dlq)
        self.delivery_dlq = encrypted_queue(self, "SisDeliveryDeadLetterQueue", key)
        mark_as_dead_letter_queue(self.delivery_dlq, "events EventBridge could not deliver to the SIS queue")

        self.sis_rule = events.Rule(
            self,
            "SisRule",
            description="Sample SIS subscription: the SIS contract's events (outcomes, expiries, erasures)",
            event_bus=self.bus,
            event_pattern=events.EventPattern(
                source=[EVENT_SOURCE], detail_type=[detail_type.value for detail_type in SIS_DETAIL_TYPES]
            ),
            targets=[
                targets.SqsQueue(
                    self.sis_queue,
                    dead_letter_queue=self.delivery_dlq,
                    retry_attempts=185,
                    max_event_age=Duration.hours(24),
                )
            ],
        )
