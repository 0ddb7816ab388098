"""Fixtures shared by the whole suite."""

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from lxml import etree
from moto import mock_aws

from emrex_emc.core.registry_parse import CATALOGUE_NS, DAP_NS

SHARED_ELMO = Path(__file__).resolve().parents[1].parent / "shared" / "elmo"

# No timing in tests: hypothesis' per-example deadline would make property tests fail on a busy CI machine.
settings.register_profile("emrex", deadline=None)
settings.load_profile("emrex")


@pytest.fixture(autouse=True)
def _fresh_powertools_metrics():
    """Powertools keeps one metric buffer per process; start and end every test with it empty.

    Without this, metrics a test adds without flushing (e.g. a service called directly) leak into the
    next test that asserts on what a handler emitted.
    """
    from aws_lambda_powertools import Metrics

    Metrics(namespace="EMREX").clear_metrics()
    yield
    Metrics(namespace="EMREX").clear_metrics()


@pytest.fixture
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In-process moto with fake credentials (and never a real or local endpoint)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def catalogue_schema() -> etree.XMLSchema:
    """The EWP catalogue.xsd + the EMREX manifest entry schema, resolved offline from ../shared/elmo."""
    remote = {
        "http://www.w3.org/2001/03/xml.xsd": SHARED_ELMO / "w3c" / "xml.xsd",
        "https://raw.githubusercontent.com/erasmus-without-paper/ewp-specs-architecture/stable-v1/common-types.xsd": (
            SHARED_ELMO / "ewp" / "ewp-specs-architecture" / "common-types.xsd"
        ),
    }

    class Offline(etree.Resolver):
        def resolve(self, system_url, public_id, context):
            local = remote.get(system_url)
            return self.resolve_filename(str(local), context) if local else None

    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(Offline())
    wrapper = f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
      <xs:import namespace="{CATALOGUE_NS}" schemaLocation="{SHARED_ELMO}/ewp/ewp-specs-api-registry/catalogue.xsd"/>
      <xs:import namespace="{DAP_NS}"
                 schemaLocation="{SHARED_ELMO}/ewp/ewp-specs-api-emrex-data-access-point/manifest-entry.xsd"/>
    </xs:schema>"""
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), parser))


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the functions' logger writes (Powertools JSON lines), for the length of a test."""
    from emrex_emc.observability import logger

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)
