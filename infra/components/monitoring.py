"""Alarms on an encrypted SNS topic (optional e-mail subscription)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.components.api import Api
from infra.config import EmrexConfig

METRICS_NAMESPACE = "EMREX"
VERIFICATION_FAILURES_THRESHOLD = 5
"""Rejected ELMO documents (signature, decode, identity) per 15 minutes before someone should look."""
API_5XX_THRESHOLD = 5
RELAY_ITERATOR_AGE_MS = 15 * 60 * 1000
"""Outbox events older than this are not reaching the SIS (stream records live 24 h)."""


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EmrexConfig,
        key: kms.IKey,
        functions: dict[str, lambda_.Function],
        dead_letter_queues: dict[str, sqs.IQueue],
        api: Api,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "AlarmTopic", display_name="EMREX EMC alarms", master_key=key, enforce_ssl=True)
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self._action = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        for name, queue in dead_letter_queues.items():
            self._alarm(
                f"{name}Depth",
                f"Messages are waiting in the {name} dead-letter queue",
                queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(5), statistic="Maximum"),
                threshold=1,
            )
        for name, fn in functions.items():
            self._alarm(
                f"{name}Errors",
                f"The {name} Lambda failed (unhandled errors or timeouts)",
                fn.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                threshold=1,
            )
        self._alarm(
            "OutboxRelayIteratorAge",
            "Outbox events are not being relayed to EventBridge",
            functions["outbox_relay"].metric("IteratorAge", period=Duration.minutes(5), statistic="Maximum"),
            threshold=RELAY_ITERATOR_AGE_MS,
        )
        self._alarm(
            "Api5xx",
            "The HTTP API returned server errors",
            api.http_api.metric_server_error(period=Duration.minutes(5), statistic="Sum"),
            threshold=API_5XX_THRESHOLD,
        )
        self._alarm(
            "VerificationFailures",
            "Many ELMO documents were rejected (signature, decoding, identity): EMP key change or an attack?",
            _emrex_metric("VerificationFailures", "callback", "Sum", Duration.minutes(15)),
            threshold=VERIFICATION_FAILURES_THRESHOLD,
        )
        self._alarm(
            "RegistrySnapshotStale",
            "The EMP registry snapshot is older than the configured ceiling (or no age is reported)",
            _emrex_metric("RegistrySnapshotAgeSeconds", "registry_refresh", "Maximum", Duration.hours(1)),
            threshold=config.registry_max_age_seconds,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )

    def _alarm(
        self,
        construct_id: str,
        description: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)


def _emrex_metric(name: str, service: str, statistic: str, period: Duration) -> cloudwatch.Metric:
    """A Powertools metric: namespace EMREX, default dimension ``service`` = the function's service name."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": service},
        statistic=statistic,
        period=period,
    )
