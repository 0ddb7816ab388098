"""A Lambda context for calling handlers directly in tests (Powertools' ``inject_lambda_context`` reads it)."""

from emrex_emc.local.apigw import LambdaContext

LAMBDA_CONTEXT = LambdaContext(function_name="emrex-test", aws_request_id="00000000-0000-4000-8000-000000000000")
