"""Fixtures of the trust-pipeline tests: real data paths, signing identities, signed test documents."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

from emrex_emc.core.registry_parse import CATALOGUE_NS, DAP_NS
from emrex_emc.local.elmo_factory import SigningIdentity, build_elmo, generate_signing_identity, sign_elmo

SHARED_ELMO = Path(__file__).resolve().parents[2].parent / "shared" / "elmo"
VECTORS = SHARED_ELMO / "test-vectors"
BIRTH_DATE = dt.date(2001, 2, 3)


@pytest.fixture(scope="session")
def emp_identity() -> SigningIdentity:
    return generate_signing_identity("Test EMP")


@pytest.fixture(scope="session")
def other_identity() -> SigningIdentity:
    return generate_signing_identity("Attacker")


@pytest.fixture(scope="session")
def unsigned_xml() -> bytes:
    return build_elmo(given_names="Anna Maria", family_name="de Vries", birth_date=BIRTH_DATE, courses=3, grade="8")


@pytest.fixture(scope="session")
def signed_xml(unsigned_xml: bytes, emp_identity: SigningIdentity) -> bytes:
    return sign_elmo(unsigned_xml, emp_identity, style="java-sha1-inclusive")


@pytest.fixture(scope="session")
def signed_sha256(unsigned_xml: bytes, emp_identity: SigningIdentity) -> bytes:
    return sign_elmo(unsigned_xml, emp_identity, style="ds-sha256-exclusive")


def identity_with_subject(common_name: str) -> SigningIdentity:
    """A signing identity whose certificate's CN is ``common_name`` as given (any length, any characters)."""
    return generate_signing_identity(common_name, not_before=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


@pytest.fixture(scope="session")
def catalogue_schema() -> etree.XMLSchema:
    """catalogue.xsd + the EMREX manifest entry schema, resolved offline from ../shared/elmo."""
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
