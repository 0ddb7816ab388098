"""The whole EMREX flow on one machine: moto, the real handlers behind an API Gateway stand-in, the outbox
relay and registry refresh in the background, the mock EMPs (EMREX 1 and EMREX 2.0), the demo enrolment form and
the demo SIS.

:func:`start_local_stack` starts everything and returns a :class:`LocalStack` (a context manager);
``emrex-emc local`` (:mod:`emrex_emc.commands.local`) wraps it for people. Environment variables are set
before the handlers are imported, because they read :class:`~emrex_emc.settings.Settings` at cold start.

The mock EMP serves the catalogue file in the state directory (``catalogue-v1.xml``, written at start) as
it is on disk, and the refresh fetches it every ``registry_refresh_seconds`` (ignoring the cache lifetime
a real registry sets): edit the file and the next refresh announces the change. While it runs, the state
directory holds ``stack.json`` (the moto endpoint and resource names; ``emrex-emc transfers --local``
reads it). One running stack per state directory: a second one would take over both files.
"""

from __future__ import annotations

import errno
import importlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import asdict, dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from emrex_emc.adapters.secrets import SecretProvider
from emrex_emc.adapters.sessions import TransferTable
from emrex_emc.core.errors import EmrexError
from emrex_emc.core.registry import MAX_REGISTRY_BYTES, SOURCE_SEPARATOR
from emrex_emc.core.registry_emreg import render_emreg2_list
from emrex_emc.core.text import clip
from emrex_emc.local.apigw import LocalApiGateway, Route, new_context, serve
from emrex_emc.local.background import PeriodicRunner, StreamRelay, scheduled_event
from emrex_emc.local.catalogue import registry_source, write_local_catalogue
from emrex_emc.local.demo_apps import DEMO_APPLICANT, DemoSis, EnrolmentForm
from emrex_emc.local.elmo_factory import generate_signing_identity
from emrex_emc.local.mock_emp import CATALOGUE_PATH, EMP_PATH, Learner, MockEmp, load_or_create_identity
from emrex_emc.local.mock_emp2 import MockEmp2, load_or_create_key
from emrex_emc.local.moto_env import (
    DEFAULT_CLIENT_ID,
    REGION,
    MotoEnv,
    ResourceNames,
    Resources,
    api_token_from_env,
    create_resources,
    default_xsd_dir,
    handler_env,
)
from emrex_emc.services.secret_keys import RotatingStateSigner
from emrex_emc.settings import FUNCTIONS, POLICY_VARIABLES
from emrex_emc.web.routes import HEALTH, ROUTES

logger = logging.getLogger(__name__)

FUNCTIONS_DIR = Path(__file__).resolve().parents[2]
"""``functions/``: the Lambda asset root holding the handler packages next to ``emrex_emc``."""
REGISTRY_REFRESH_SECONDS = 15 * 60
"""As the stack's schedule (``--registry-refresh-seconds`` changes it)."""
STACK_FILE = "stack.json"


@dataclass(frozen=True)
class LocalUrls:
    api: str
    enrolment_form: str
    mock_emp: str
    demo_sis: str
    moto: str
    registry: str

    def lines(self) -> list[tuple[str, str]]:
        return [
            ("Enrolment form (start here)", self.enrolment_form),
            ("Mock EMP", self.mock_emp),
            ("Demo SIS (events)", self.demo_sis),
            ("EMC API", self.api),
            ("moto (AWS) endpoint", self.moto),
            ("Registry", self.registry),
        ]


@dataclass
class LocalStack:
    urls: LocalUrls
    api_token: str
    events_file: Path | None
    sis: DemoSis
    admin_token: str = ""
    catalogue_file: Path | None = None
    """The catalogue the mock EMP serves (the registry unless ``registry`` named another)."""
    _stoppers: list[Callable[[], None]] = field(default_factory=list)
    _stopped: bool = False

    def stop(self) -> None:
        """Stop everything, newest first; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for stopper in reversed(self._stoppers):
            try:
                stopper()
            except Exception:
                logger.exception("stopping a local component failed")

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def default_state_dir() -> Path:
    """``.local/`` in the repository (git-ignored), else in the current directory."""
    repo = FUNCTIONS_DIR.parent
    return (repo if (repo / "pyproject.toml").is_file() else Path.cwd()) / ".local"


def _public_host(host: str) -> str:
    return "127.0.0.1" if host in {"", "0.0.0.0"} else host  # noqa: S104 - only mapping a wildcard bind to a URL


def _url(host: str, server: ThreadingHTTPServer) -> str:
    return f"http://{_public_host(host)}:{server.server_address[1]}"


def _start_server(gateway: LocalApiGateway, host: str, port: int, name: str) -> ThreadingHTTPServer:
    try:
        server = serve(gateway, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ValueError(f"port {port} on {host} is already in use; choose another one with --port") from exc
        raise
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=name, daemon=True)
    thread.start()
    return server


def _import_handler(module_name: str) -> Callable[[dict[str, Any], Any], Any]:
    if str(FUNCTIONS_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTIONS_DIR))
    module: ModuleType
    if module_name in sys.modules:  # a second stack in this process: redo the cold start with the new env
        module = importlib.reload(sys.modules[module_name])
    else:
        module = importlib.import_module(module_name)
    handler: Callable[[dict[str, Any], Any], Any] = module.handler
    return handler


def start_local_stack(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    registries: Sequence[str] = (),
    client_id: str = DEFAULT_CLIENT_ID,
    events_file: Path | None = None,
    state_dir: Path | None = None,
    environ: MutableMapping[str, str] | None = None,
    registry_refresh_seconds: float = REGISTRY_REFRESH_SECONDS,
) -> LocalStack:
    """Start the whole flow; ``port`` is the API's (0 = any free port), the other servers take free ports.

    ``registries`` (``--registry``, repeatable) replace the local ones (the EWP catalogue listing the mock EMP
    and the EMREG v2 list of the mock EMP 2.0, both written to ``.local/``). ``client_id``
    is our EMREX 2.0 client id (``--client-id``); the signing key is a new moto KMS key at every start.
    """
    env = os.environ if environ is None else environ
    state = state_dir or default_state_dir()
    stoppers: list[Callable[[], None]] = []
    try:
        return _start(
            host=host,
            port=port,
            registries=registries,
            client_id=client_id,
            events_file=events_file,
            state=state,
            env=env,
            stoppers=stoppers,
            refresh_seconds=registry_refresh_seconds,
        )
    except BaseException:
        for stopper in reversed(stoppers):
            stopper()
        raise


def _start(
    *,
    host: str,
    port: int,
    registries: Sequence[str],
    client_id: str,
    events_file: Path | None,
    state: Path,
    env: MutableMapping[str, str],
    stoppers: list[Callable[[], None]],
    refresh_seconds: float,
) -> LocalStack:
    moto = MotoEnv(_public_host(host))
    stoppers.append(moto.stop)
    moto.apply_client_env(env)

    ready = threading.Event()
    api_gateway, emp_gateway, form_gateway, sis_gateway = (LocalApiGateway([]) for _ in range(4))
    servers = {
        "api": _start_server(api_gateway, host, port, "api"),
        "emp": _start_server(emp_gateway, host, 0, "mock-emp"),
        "form": _start_server(form_gateway, host, 0, "enrolment-form"),
        "sis": _start_server(sis_gateway, host, 0, "demo-sis"),
    }
    for server in servers.values():
        stoppers.append(server.server_close)
        stoppers.append(server.shutdown)
    api_url, emp_url = _url(host, servers["api"]), _url(host, servers["emp"])
    form_url, sis_url = _url(host, servers["form"]), _url(host, servers["sis"])

    identity = load_or_create_identity(state)
    catalogue_file = state / "catalogue-v1.xml"
    write_local_catalogue(catalogue_file, f"{emp_url}{EMP_PATH}", identity.cert_der)
    names = ResourceNames()
    resources = create_resources(
        moto.client, names, api_token_from_env(env), api_token_from_env(env, "EMREX_ADMIN_TOKEN")
    )
    learner = Learner(DEMO_APPLICANT.given_names, DEMO_APPLICANT.family_name, DEMO_APPLICANT.birth_date)
    lookup = applicant_lookup(moto, names)
    mock = MockEmp(
        identity=identity,
        unregistered_identity=generate_signing_identity("Unregistered signer (local)"),
        catalogue=lambda: _read_capped(catalogue_file),
        default_learner=learner,
        learner_for=lambda return_url: lookup(dict(parse_qsl(urlsplit(return_url).query)).get("state", "")),
    )
    mock2 = MockEmp2(
        base_url=emp_url,
        key=load_or_create_key(state),
        client_records=emreg_client_records(api_url),
        default_learner=learner,
        learner_for=lookup,
    )
    emreg2 = state / "emreg-v2.json"
    emreg2.write_bytes(render_emreg2_list([mock2.registry_entry()]))
    registry_urls = [registry_source(one) for one in registries] or [f"{emp_url}{CATALOGUE_PATH}", str(emreg2)]
    emp_gateway.add_routes(mock.routes() + mock2.routes())
    form = EnrolmentForm(api_base_url=api_url, api_token=resources.api_token, base_url=form_url)
    stoppers.append(form.close)
    env.update(
        handler_env(
            resources,
            public_base_url=api_url,
            allowed_return_urls=[form.return_url_prefix],
            registry_urls=registry_urls,
            xsd_dir=default_xsd_dir(),
            client_id=client_id,
        )
    )
    from emrex_emc.adapters.aws import reset_clients

    reset_clients()

    handlers = {function: _import_handler(f"{function}.handler") for function in FUNCTIONS}

    urls = LocalUrls(
        api=api_url,
        enrolment_form=f"{form_url}/",
        mock_emp=f"{emp_url}{EMP_PATH}",
        demo_sis=f"{sis_url}/",
        moto=moto.endpoint_url,
        registry=SOURCE_SEPARATOR.join(registry_urls),
    )
    health = with_local_details(handlers[HEALTH.function], ready, asdict(urls))
    api_gateway.add_routes(
        [
            Route(route.method, route.path, route.function, health if route is HEALTH else handlers[route.function])
            for route in ROUTES
        ]
    )
    form_gateway.add_routes(form.routes())

    first_refresh(handlers["registry_refresh"], SOURCE_SEPARATOR.join(registry_urls))
    # the local schedule fetches on every run: an edited catalogue shows after one interval, whatever its cache
    refresher = PeriodicRunner(handlers["registry_refresh"], interval_seconds=refresh_seconds, payload={"force": True})
    refresher.start(run_now=False)
    stoppers.append(refresher.stop)
    relay = StreamRelay(moto.client("dynamodbstreams"), resources.stream_arn, handlers["outbox_relay"])
    relay.start()
    stoppers.append(relay.stop)
    sqs = moto.client("sqs")
    sis = DemoSis(sqs, resources.queue_url)
    sis_gateway.add_routes(sis.routes())
    event_log = DemoSis(sqs, resources.all_events_queue_url, events_file, name="all-events log")  # the whole bus
    for consumer in (sis, event_log):
        consumer.start()
        stoppers.append(consumer.stop)
    stack_file = write_stack_file(state, moto.endpoint_url, resources, api=api_url, env=env)
    stoppers.append(lambda: remove_stack_file(stack_file, moto.endpoint_url))
    ready.set()

    return LocalStack(
        urls=urls,
        api_token=resources.api_token,
        events_file=events_file,
        sis=sis,
        admin_token=resources.admin_token,
        catalogue_file=None if registries else catalogue_file,
        _stoppers=stoppers,
    )


def with_local_details(
    health: Callable[[dict[str, Any], Any], Any], ready: threading.Event, urls: dict[str, str]
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The deployed ``GET /health`` plus the local URLs; ``starting`` (503) until every component runs."""

    def local_health(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response: dict[str, Any] = health(event, context)
        body = json.loads(response.get("body") or "{}")
        if not ready.is_set():
            body["status"], response["statusCode"] = "starting", 503
        response["body"] = json.dumps({**body, "urls": urls})
        return response

    return local_health


def write_stack_file(state: Path, endpoint_url: str, resources: Resources, *, api: str, env: Mapping[str, str]) -> Path:
    """Where a running local stack's AWS is (no tokens: ``transfers --local`` reads the table and the bucket),
    and the callback's verification variables from ``env`` (``transfers reverify`` checks as the callback did)."""
    path = state / STACK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    names = resources.names
    details = {"endpoint_url": endpoint_url, "region": REGION, "table": names.table, "bucket": names.bucket}
    policy = {name: env[name] for name in POLICY_VARIABLES if name in env}
    path.write_text(json.dumps({**details, "api": api, "callback_policy": policy}, indent=2) + "\n", encoding="utf-8")
    return path


def remove_stack_file(path: Path, endpoint_url: str) -> None:
    """Remove ``stack.json`` if it still describes this stack (not one started later in the same folder)."""
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("endpoint_url") == endpoint_url:
            path.unlink()
    except (OSError, ValueError):
        pass


def _read_capped(path: Path) -> bytes:
    """The catalogue file as it is now (a registry document is never larger than the registry cap)."""
    with path.open("rb") as handle:
        return handle.read(MAX_REGISTRY_BYTES + 1)


def first_refresh(handler: Callable[[dict[str, Any], Any], Any], source: str) -> None:
    """The first registry refresh, before the stack says it is ready: an unusable ``--registry`` stops the
    start with one line (the refresh's error code and message), not a traceback followed by "ready"."""
    try:
        handler(scheduled_event("registry_refresh"), new_context("registry_refresh", timeout_seconds=120))
    except EmrexError as error:
        raise ValueError(f"the registry {clip(source)} cannot be used: {error.code.value}: {error.message}") from None


def applicant_lookup(moto: MotoEnv, names: ResourceNames) -> Callable[[str], Learner | None]:
    """The applicant of the transfer a ``state`` belongs to, as a real EMP's login would know the student.

    The state (in an EMREX 1 ``returnUrl``, or an EMREX 2.0 authorization request) is verified with the EMC's
    own keys (read from the local secret, as the functions do): the mock EMPs never trust what they are given.
    """
    secret = SecretProvider(moto.client("secretsmanager"), names.secret, max_age_seconds=1)
    transfers = TransferTable(moto.client("dynamodb"), names.table)
    states = RotatingStateSigner(secret)

    def lookup(state: str) -> Learner | None:
        try:
            transfer = transfers.get(states.verify(state, now=int(time.time())).transfer_id)
        except EmrexError:
            return None
        return Learner(transfer.given_names, transfer.family_name, transfer.birth_date) if transfer else None

    return lookup


def emreg_client_records(api_url: str) -> Callable[[str], dict[str, Any] | None]:
    """What EMREG says about a client id: here the EMC's own record (``/.well-known/emreg-client.json``), read
    on every request the way a real EMP asks EMREG, so the mock EMP 2.0 checks assertions against it."""

    def record(client_id: str) -> dict[str, Any] | None:
        import httpx

        try:
            document = httpx.get(f"{api_url}/.well-known/emreg-client.json", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return None
        return document if isinstance(document, dict) and document.get("clientId") == client_id else None

    return record
