"""Alarms on an encrypted SNS topic (optional e-mail subscription), the registry's operations events to the
same topic, and the per-EMP dashboard.

EMPs are known only at run time (the registry changes), so nothing here is per EMP at synth: the dashboard's
graphs are ``SEARCH`` expressions over the ``emp_id`` dimension, and the rejection-spike alarm is one
Metrics Insights query (the EMP with the most rejections in the period)."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from emrex_emc.core.events import OPERATIONS_DETAIL_TYPES, SOURCE
from infra.components.api import Api
from infra.components.events import encrypted_queue, mark_as_dead_letter_queue
from infra.config import EmrexConfig

METRICS_NAMESPACE = "EMREX"
VERIFICATION_FAILURES_THRESHOLD = 5
"""Rejected ELMO documents (signature, decode, identity) per 15 minutes before someone should look."""
API_5XX_THRESHOLD = 5
RELAY_ITERATOR_AGE_MS = 15 * 60 * 1000
"""Outbox events older than this are not reaching the SIS (stream records live 24 h)."""
SPIKE_PERIOD = Duration.minutes(15)
PER_EMP = "{EMREX,emp_id,service}"
"""The dimensions of the per-EMP metrics (``emrex_emc.observability.per_emp``)."""
REJECTION_SPIKE_QUERY = (
    "SELECT SUM(EmpRejected) FROM SCHEMA(EMREX, emp_id, service) WHERE service = 'callback' "
    "GROUP BY emp_id ORDER BY SUM() DESC LIMIT 1"
)
"""Rejections of the EMP with the most of them in the period: one time series whatever EMPs exist."""


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
        bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "AlarmTopic", display_name="EMREX EMC alarms", master_key=key, enforce_ssl=True)
        self.operations_dlq = encrypted_queue(self, "OperationsDeliveryDeadLetterQueue", key)
        mark_as_dead_letter_queue(self.operations_dlq, "registry events EventBridge could not deliver to the topic")
        self.operations_rule = self._operations_rule(bus, key)
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self._action = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        for name, queue in {**dead_letter_queues, "OperationsDeliveryDlq": self.operations_dlq}.items():
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
        self._alarm(
            "EmpRejectionSpike",
            f"One EMP's results were rejected {config.rejection_spike_threshold}+ times in 15 minutes "
            "(its key changed? an attack?): see the EMREX-EMPs dashboard for which one",
            cloudwatch.MathExpression(
                expression=REJECTION_SPIKE_QUERY, label="rejections of the worst EMP", period=SPIKE_PERIOD
            ),
            threshold=config.rejection_spike_threshold,
        )
        self.dashboard = emp_dashboard(self, config)

    def _operations_rule(self, bus: events.IEventBus, key: kms.IKey) -> events.Rule:
        """Registry changes to the alarm topic. The target is given the topic by ARN so CDK adds no grants of
        its own: the topic policy lets only this rule publish, and the key policy lets EventBridge use the key
        for this account only (stated here, so it does not depend on the SIS queue's grant). What EventBridge
        cannot deliver for 24 hours waits in a dead-letter queue, whose depth is alarmed."""
        rule = events.Rule(
            self,
            "OperationsRule",
            description="Registry changes (EMP added, removed, certificate changed or expiring) to the alarm topic",
            event_bus=bus,
            event_pattern=events.EventPattern(
                source=[SOURCE], detail_type=[detail_type.value for detail_type in OPERATIONS_DETAIL_TYPES]
            ),
            targets=[
                targets.SnsTopic(
                    sns.Topic.from_topic_arn(self, "AlarmTopicByArn", self.topic.topic_arn),
                    dead_letter_queue=self.operations_dlq,  # a topic or key that refuses: the events are kept
                    retry_attempts=185,
                    max_event_age=Duration.hours(24),
                )
            ],
        )
        events_principal = iam.ServicePrincipal("events.amazonaws.com")
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowTheOperationsRuleToPublish",
                principals=[events_principal],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeToUseTheTopicKey",
                principals=[events_principal],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        return rule

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


def _search(metric: str, statistic: str, period: Duration, dimensions: str = PER_EMP) -> cloudwatch.MathExpression:
    """Every time series of ``metric`` with these dimensions, one per EMP (labelled with its id)."""
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{dimensions} MetricName=\"{metric}\"', '{statistic}', {int(period.to_seconds())})",
        label="",
        period=period,
    )


def emp_dashboard(scope: Construct, config: EmrexConfig) -> cloudwatch.Dashboard:
    """Per EMP: outcomes by status, rejection rate, SHA-1 share, callback latency, days until certificates expire."""
    hour, day = Duration.hours(1), Duration.days(1)
    width = 12
    widgets: list[cloudwatch.IWidget] = [
        cloudwatch.GraphWidget(
            title="Outcomes per EMP and status (per hour)",
            left=[_search("CallbackOutcome", "Sum", hour, "{EMREX,emp_id,outcome,service}")],
            stacked=True,
            width=width,
        ),
        cloudwatch.GraphWidget(
            title="Rejection rate per EMP (share of outcomes, per hour)",
            left=[_search("EmpRejected", "Average", hour)],
            left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
            width=width,
        ),
        cloudwatch.GraphWidget(
            title="SHA-1 share per EMP (of verified signatures, per day)",
            left=[_search("EmpSha1Signature", "Average", day)],
            left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
            width=width,
        ),
        cloudwatch.GraphWidget(
            title="Callback latency per EMP (ms, p50 and p95 per hour)",
            left=[_search("EmpCallbackLatency", "p50", hour)],
            right=[_search("EmpCallbackLatency", "p95", hour)],
            width=width,
        ),
        cloudwatch.GraphWidget(
            title="Days until each EMP's first certificate expires",
            left=[_search("EmpCertificateDaysLeft", "Minimum", hour)],
            left_annotations=[cloudwatch.HorizontalAnnotation(value=config.cert_expiry_warning_days, label="warning")],
            width=width,
        ),
        cloudwatch.GraphWidget(
            title="Rejections of the worst EMP (the alarm's query)",
            left=[cloudwatch.MathExpression(expression=REJECTION_SPIKE_QUERY, label="", period=SPIKE_PERIOD)],
            left_annotations=[cloudwatch.HorizontalAnnotation(value=config.rejection_spike_threshold, label="alarm")],
            width=width,
        ),
    ]
    dashboard = cloudwatch.Dashboard(scope, "EmpDashboard", dashboard_name=f"{config.stack_name}-EMPs")
    for index in range(0, len(widgets), 2):
        dashboard.add_widgets(*widgets[index : index + 2])
    return dashboard


def _emrex_metric(name: str, service: str, statistic: str, period: Duration) -> cloudwatch.Metric:
    """A Powertools metric: namespace EMREX, default dimension ``service`` = the function's service name."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": service},
        statistic=statistic,
        period=period,
    )
