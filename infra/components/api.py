"""The HTTP API (API Gateway v2): routes, stage throttling, access logs without personal data, custom domain."""

from __future__ import annotations

import json

from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from constructs import Construct

from emrex_emc.web.routes import NOT_FOUND, ROUTES
from infra.components.nag import acknowledge
from infra.config import EmrexConfig

# What an access-log line may hold: no path (it carries the start-link id), no query string (the signed
# state), no bodies, no source IP, no user agent. $context.routeKey is the route template, not the path.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTimeEpoch",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
    "error": "$context.error.message",
    "responseLength": "$context.responseLength",
}


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EmrexConfig,
        functions: dict[str, lambda_.IFunction],
        access_log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.domain: apigw.DomainName | None = None
        if config.domain_name:
            self.domain = apigw.DomainName(
                self,
                "Domain",
                domain_name=config.domain_name,
                certificate=acm.Certificate.from_certificate_arn(self, "Certificate", config.certificate_arn),
            )
        integrations = {name: HttpLambdaIntegration(f"{name}-integration", fn) for name, fn in functions.items()}
        self.http_api = apigw.HttpApi(
            self,
            "HttpApi",
            description="EMREX EMC: enrolment API, start links, EMP callback",
            create_default_stage=False,
            disable_execute_api_endpoint=self.domain is not None,
            default_integration=integrations[NOT_FOUND.function],  # $default: a styled page, never raw JSON
        )
        for route in ROUTES:  # the one route table, shared with the local API Gateway
            if route is not NOT_FOUND:
                methods = [apigw.HttpMethod(route.method)]
                self.http_api.add_routes(path=route.path, methods=methods, integration=integrations[route.function])
        for route in self.http_api.node.find_all():
            if isinstance(route, apigw.HttpRoute):
                acknowledge(
                    route,
                    "AwsSolutions-APIG4",
                    "Public by design: browsers hold signed start links/state; /sessions checks a bearer token.",
                )

        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=access_log_retention)
        self.stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(
                rate_limit=config.throttle_rate_limit, burst_limit=config.throttle_burst_limit
            ),
            domain_mapping=apigw.DomainMappingOptions(domain_name=self.domain) if self.domain else None,
        )
        cfn_stage = self.stage.node.default_child
        assert isinstance(cfn_stage, apigw.CfnStage)
        cfn_stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn,
            format=json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":")),
        )

    @property
    def public_url(self) -> str:
        if self.domain is not None:
            return f"https://{self.domain.name}"
        return self.http_api.api_endpoint
