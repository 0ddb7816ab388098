"""start_session must stay light: no lxml, signxml or httpx at import time or on its request paths, and
no boto3 clients beyond DynamoDB and Secrets Manager.

Each check runs in a fresh interpreter so modules imported by other tests cannot hide a regression.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("lxml", "signxml", "httpx", "xmlsec")

_PRELUDE = f"""
import json, sys
sys.path[:0] = [{str(REPO / "functions")!r}, {str(REPO)!r}]
HEAVY = {HEAVY!r}
def heavy():
    return sorted({{name.split(".")[0] for name in sys.modules if name.split(".")[0] in HEAVY}})
"""


def _run(script: str) -> dict[str, list[str]]:
    code = _PRELUDE + textwrap.dedent(script)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_start_handler_loads_no_heavy_modules() -> None:
    report = _run(
        """
        import start_session.handler
        print(json.dumps({"heavy": heavy()}))
        """
    )
    assert report["heavy"] == []


def test_the_check_would_notice_a_heavy_import() -> None:
    report = _run(
        """
        import start_session.handler
        import emrex_emc.core.xmlsafe
        print(json.dumps({"heavy": heavy()}))
        """
    )
    assert "lxml" in report["heavy"]


def test_serving_the_chooser_and_choosing_loads_no_heavy_modules() -> None:
    report = _run(
        """
        import base64, os, time
        from datetime import UTC, datetime
        from urllib.parse import urlencode
        os.environ.update({
            "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "eu-west-1",
            "EMREX_TABLE_NAME": "t", "EMREX_BUCKET_NAME": "emrex-bucket", "EMREX_EVENT_BUS_NAME": "e",
            "EMREX_SECRET_NAME": "s", "EMREX_PUBLIC_BASE_URL": "https://emc.example",
            "POWERTOOLS_METRICS_DISABLED": "true",
        })
        os.environ.pop("AWS_ENDPOINT_URL", None)
        import boto3
        from moto import mock_aws
        import start_session.handler as handler
        from emrex_emc.adapters.aws import _session
        created = set()
        _session().events.register(
            "creating-client-class", lambda event_name, **kwargs: created.add(event_name.split(".", 1)[1]))
        from emrex_emc.adapters.registry_store import RegistryStore
        from emrex_emc.adapters.sessions import TransferTable
        from emrex_emc.core.transfer import Transfer
        from emrex_emc.core.protocol import Status
        from emrex_emc.core.registry import Emp, RegistrySnapshot
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="eu-west-1")
            ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
            key = base64.b64encode(b"k" * 32).decode()
            boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
                Name="s",
                SecretString=json.dumps({"state_keys": {"k": key}, "state_key_id": "k", "api_token": "t" * 20}))
            emp = Emp(id="no-1", name="EMP", url="https://emp.example/", country="NO", certificates=(b"c",))
            RegistryStore(ddb, "t").save(
                RegistrySnapshot(fetched_at=datetime.now(UTC), source="t", emps=(emp,)))
            now = int(time.time())
            TransferTable(ddb, "t").create(Transfer(
                id="a" * 32, applicant_id="x", given_names="x", family_name="x", birth_date="2000-01-01",
                return_url="https://uni.example/", locale="en", status=Status.PENDING, created_at="x",
                deadline=now + 600, expires_at=now + 9999))
            class Context:
                function_name, memory_limit_in_mb, invoked_function_arn, aws_request_id = "f", 128, "arn", "r"
            def event(method, body="", cookies=None):
                return {"routeKey": f"{method} /start/{{id}}", "rawPath": "/start/" + "a" * 32,
                        "pathParameters": {"id": "a" * 32}, "headers": {"host": "h",
                        "content-type": "application/x-www-form-urlencoded"}, "body": body,
                        "cookies": cookies or [], "requestContext": {"http": {"method": method}}}
            page = handler.handler(event("GET"), Context())
            cookie = page["cookies"][0].split(";")[0]
            field = page["body"].split('name="csrf" value="')[1].split('"')[0]
            chosen = handler.handler(event("POST", urlencode({"csrf": field, "emp": "no-1"}), [cookie]), Context())
        print(json.dumps({"heavy": heavy(), "status": [str(page["statusCode"]), str(chosen["statusCode"])],
                          "clients": sorted(created)}))
        """
    )
    assert report["status"] == ["200", "200"]
    assert report["heavy"] == []
    assert report["clients"] == ["dynamodb", "secrets-manager"]  # no S3 client: the registry snapshot is a table item
