import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from emrex_emc.core import registry_parse
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.registry import Emp, emp_id
from emrex_emc.core.registry_parse import (
    DAP_NS,
    NCP_NS,
    NOTICE_CERTIFICATE_SKIPPED,
    NOTICE_DUPLICATE,
    NOTICE_ENTRY_SKIPPED,
    parse_emreg_json,
    parse_ewp_catalogue,
    parse_registry,
    render_ewp_catalogue,
)
from tests.adapters.conftest import make_certificate, to_pem

ELMO = Path(__file__).resolve().parents[2].parent / "shared" / "elmo"
CATALOGUE_EXAMPLE = ELMO / "ewp" / "ewp-specs-api-registry" / "catalogue-example.xml"
LEGACY_EMREG = ELMO / "registry" / "emreg-ncp-list-sample-legacy.json"
CAT_NS = "https://github.com/erasmus-without-paper/ewp-specs-api-registry/tree/stable-v1"

CERT_A = make_certificate("emp-a")
CERT_B = make_certificate("emp-b")


def b64(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


def dap_entry(
    ns: str = DAP_NS,
    *,
    url: str = "https://emp.example/init",
    name: str = "Example EMP",
    country: str = "NO",
    institutions: tuple[str, ...] = (),
    certificates: tuple[str, ...] = (),
) -> str:
    parts = [f"<url>{url}</url>", f"<name>{name}</name>", f"<country-code>{country}</country-code>"]
    parts += [f"<institution>{i}</institution>" for i in institutions]
    parts += [f"<certificate>{c}</certificate>" for c in (certificates or (b64(CERT_A),))]
    return f'<emrex-data-access-point xmlns="{ns}" version="1.0.0">{"".join(parts)}</emrex-data-access-point>'


def catalogue(*entries: str) -> bytes:
    hosts = "".join(f"<host><apis-implemented>{entry}</apis-implemented></host>" for entry in entries)
    return f'<?xml version="1.0"?><catalogue xmlns="{CAT_NS}">{hosts}<institutions/></catalogue>'.encode()


def codes(parsed: registry_parse.ParsedRegistry) -> list[str]:
    return [notice.code for notice in parsed.notices]


# --- the real EWP catalogue example ---------------------------------------------------------------


def test_real_catalogue_example_is_read_and_holds_no_emrex_entry():
    parsed = parse_registry(CATALOGUE_EXAMPLE.read_bytes())
    assert parsed.source == "ewp"
    assert parsed.emps == ()
    assert parsed.notices == ()


def test_real_catalogue_example_with_emrex_entries_in_both_namespaces():
    root = etree.fromstring(CATALOGUE_EXAMPLE.read_bytes())
    apis = root.find(f"{{{CAT_NS}}}host/{{{CAT_NS}}}apis-implemented")
    apis.append(
        etree.fromstring(
            dap_entry(
                url="https://app.vitnemalsportalen.no/vp/init",
                name="Norway registry",
                country="NO",
                certificates=(b64(CERT_A),),
            )
        )
    )
    wrapped = "\n            ".join(b64(CERT_B)[i : i + 64] for i in range(0, len(b64(CERT_B)), 64))
    apis.append(
        etree.fromstring(
            dap_entry(
                NCP_NS,
                url="https://usosweb.uw.edu.pl/ncp_endpoint.php",
                name="USOS",
                country="pl",
                institutions=("University of Warsaw",),
                certificates=(wrapped,),
            )
        )
    )

    parsed = parse_ewp_catalogue(etree.tostring(root))

    assert [(e.name, e.country, e.url) for e in parsed.emps] == [
        ("Norway registry", "NO", "https://app.vitnemalsportalen.no/vp/init"),
        ("USOS", "PL", "https://usosweb.uw.edu.pl/ncp_endpoint.php"),
    ]
    norway, warsaw = parsed.emps
    assert norway.id == emp_id("NO", "https://app.vitnemalsportalen.no/vp/init")
    assert norway.certificates == (CERT_A,)
    assert warsaw.certificates == (CERT_B,)
    assert warsaw.institutions == ("University of Warsaw",)
    assert {e.source for e in parsed.emps} == {"ewp"}
    assert parsed.notices == ()


def test_entry_with_several_certificates_keeps_them_in_order():
    parsed = parse_ewp_catalogue(catalogue(dap_entry(certificates=(b64(CERT_B), b64(CERT_A), b64(CERT_B)))))
    assert parsed.emps[0].certificates == (CERT_B, CERT_A)


def test_render_round_trips_through_the_parser():
    emps = (
        Emp(
            id=emp_id("NO", "https://a.example/emp?x=1&y=2"),
            name="A & <B>",
            url="https://a.example/emp?x=1&y=2",
            country="NO",
            institutions=("Universitetet i Oslo", "NTNU"),
            certificates=(CERT_A, CERT_B),
        ),
        Emp(
            id=emp_id("PL", "https://b.example/"),
            name="B",
            url="https://b.example/",
            country="PL",
            certificates=(CERT_B,),
        ),
    )
    assert parse_registry(render_ewp_catalogue(emps)).emps == emps


@pytest.fixture(scope="module")
def catalogue_schema() -> etree.XMLSchema:
    """catalogue.xsd + the EMREX manifest entry schema, resolved offline from ../shared/elmo."""
    remote = {
        "http://www.w3.org/2001/03/xml.xsd": ELMO / "w3c" / "xml.xsd",
        "https://raw.githubusercontent.com/erasmus-without-paper/ewp-specs-architecture/stable-v1/common-types.xsd": (
            ELMO / "ewp" / "ewp-specs-architecture" / "common-types.xsd"
        ),
    }

    class Offline(etree.Resolver):
        def resolve(self, system_url, public_id, context):
            local = remote.get(system_url)
            return self.resolve_filename(str(local), context) if local else None

    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(Offline())
    wrapper = f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
      <xs:import namespace="{CAT_NS}" schemaLocation="{ELMO}/ewp/ewp-specs-api-registry/catalogue.xsd"/>
      <xs:import namespace="{DAP_NS}"
                 schemaLocation="{ELMO}/ewp/ewp-specs-api-emrex-data-access-point/manifest-entry.xsd"/>
    </xs:schema>"""
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), parser))


def test_rendered_catalogue_is_valid_against_the_ewp_schemas(catalogue_schema):
    emp = Emp(id="x", name="A", url="https://a.example/", country="NO", institutions=("U",), certificates=(CERT_A,))
    assert catalogue_schema.validate(etree.fromstring(render_ewp_catalogue([emp]))), catalogue_schema.error_log
    # the schema really checks the EMREX entry: an http URL and no certificate are refused
    bad = Emp(id="x", name="A", url="http://a.example/", country="NO")
    assert not catalogue_schema.validate(etree.fromstring(render_ewp_catalogue([bad])))


# --- skipped entries ------------------------------------------------------------------------------


def test_non_https_url_is_skipped_with_a_notice_and_others_are_kept():
    parsed = parse_ewp_catalogue(
        catalogue(dap_entry(url="http://plain.example/emp", name="Plain"), dap_entry(name="Good"))
    )
    assert [e.name for e in parsed.emps] == ["Good"]
    assert codes(parsed) == [NOTICE_ENTRY_SKIPPED]
    assert "http://plain.example/emp" in parsed.notices[0].message


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        (dap_entry(url="javascript:alert(1)"), "not an absolute https URL"),
        (dap_entry(url="https:///no-host"), "not an absolute https URL"),
        (dap_entry(name=""), "has no <name>"),
        (dap_entry(country="NOR"), "country code 'NOR'"),
        (
            f'<emrex-data-access-point xmlns="{DAP_NS}" version="1.0.0"><name>x</name></emrex-data-access-point>',
            "<url>",
        ),
    ],
)
def test_incomplete_entries_are_skipped(entry, fragment):
    parsed = parse_ewp_catalogue(catalogue(entry))
    assert parsed.emps == ()
    assert codes(parsed) == [NOTICE_ENTRY_SKIPPED]
    assert fragment in parsed.notices[0].message


def test_unreadable_certificate_is_skipped_and_the_readable_one_kept():
    not_der = b64(b"this is not a certificate")
    parsed = parse_ewp_catalogue(catalogue(dap_entry(certificates=("%%% not base64 %%%", not_der, b64(CERT_A)))))
    assert parsed.emps[0].certificates == (CERT_A,)
    assert codes(parsed) == [NOTICE_CERTIFICATE_SKIPPED, NOTICE_CERTIFICATE_SKIPPED]
    assert "certificate #1" in parsed.notices[0].message
    assert "certificate #2" in parsed.notices[1].message


def test_entry_without_any_readable_certificate_is_skipped():
    parsed = parse_ewp_catalogue(catalogue(dap_entry(certificates=(b64(b"junk"),))))
    assert parsed.emps == ()
    assert codes(parsed) == [NOTICE_CERTIFICATE_SKIPPED, NOTICE_ENTRY_SKIPPED]
    assert "no readable certificate" in parsed.notices[1].message


def test_entry_in_an_unknown_namespace_is_skipped():
    parsed = parse_ewp_catalogue(catalogue(dap_entry("urn:example:other"), dap_entry(name="Good")))
    assert [e.name for e in parsed.emps] == ["Good"]
    assert codes(parsed) == [NOTICE_ENTRY_SKIPPED]
    assert "urn:example:other" in parsed.notices[0].message


def test_the_same_emp_in_both_namespaces_is_kept_once():
    parsed = parse_ewp_catalogue(catalogue(dap_entry(DAP_NS), dap_entry(NCP_NS)))
    assert len(parsed.emps) == 1
    assert codes(parsed) == [NOTICE_DUPLICATE]


# --- refused documents ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        b'<!DOCTYPE catalogue [<!ENTITY e "x">]><catalogue>&e;</catalogue>',
        b'<!DOCTYPE catalogue [<!ENTITY e SYSTEM "file:///etc/passwd">]><catalogue>&e;</catalogue>',
        b'<!DOCTYPE catalogue SYSTEM "http://127.0.0.1:9/evil.dtd"><catalogue/>',
        b'<!DOCTYPE catalogue [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><catalogue>&c;</catalogue>',
    ],
    ids=["internal-entity", "xxe-file", "external-dtd", "entity-expansion"],
)
def test_dtds_and_entities_are_refused(document):
    with pytest.raises(EmrexError) as caught:
        parse_registry(document)
    assert caught.value.code is ErrorCode.REGISTRY_INVALID
    assert "DTD" in caught.value.message


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"hello", "neither an EWP catalogue"),
        (b"<catalogue><host></catalogue>", "not well-formed"),
        (b'<manifes xmlns="x"/>', "expected an EWP <catalogue>"),
    ],
)
def test_unreadable_documents_are_registry_invalid(document, fragment):
    with pytest.raises(EmrexError) as caught:
        parse_registry(document)
    assert caught.value.code is ErrorCode.REGISTRY_INVALID
    assert fragment in caught.value.message


def test_size_and_element_caps(monkeypatch):
    document = catalogue(dap_entry())
    monkeypatch.setattr(registry_parse, "MAX_ELEMENTS", 5)
    with pytest.raises(EmrexError, match="the limit is 5"):
        parse_ewp_catalogue(document)
    monkeypatch.setattr(registry_parse, "MAX_REGISTRY_BYTES", 100)
    with pytest.raises(EmrexError, match="larger than 100 bytes"):
        parse_ewp_catalogue(document)
    with pytest.raises(EmrexError, match="larger than 100 bytes"):
        parse_emreg_json(b'{"emps": []' + b" " * 100 + b"}")


# --- EMREG JSON -----------------------------------------------------------------------------------


def emreg_emp(**overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "acronym": "FSAT",
        "countryCode": "NO",
        "institutions": ["Universitetet i Oslo", "NTNU"],
        "url": "https://fsweb.no/ncp/",
        "pubKey": to_pem(CERT_A),
    }
    entry.update(overrides)
    return entry


def test_emreg_emps_format():
    document = {
        "countries": [
            {"countryCode": "NO", "countryName": "Norway", "singleFetch": False},
            {"countryCode": "IT", "countryName": "Italy", "singleFetch": True},
        ],
        "emps": [
            emreg_emp(),
            emreg_emp(
                acronym="UNIVR",
                countryCode="IT",
                institutions=["University of Verona"],
                url="https://www.univr.it/ncp/",
                pubKey=to_pem(CERT_B),
            ),
        ],
    }
    parsed = parse_registry(json.dumps(document).encode())
    assert parsed.source == "emreg"
    fsat, univr = parsed.emps
    assert (fsat.name, fsat.country, fsat.url, fsat.single_fetch) == ("FSAT", "NO", "https://fsweb.no/ncp/", False)
    assert fsat.institutions == ("Universitetet i Oslo", "NTNU")
    assert fsat.certificates == (CERT_A,)
    assert fsat.id == emp_id("NO", "https://fsweb.no/ncp/")
    assert fsat.label == "FSAT"
    assert univr.single_fetch is True
    assert univr.label == "University of Verona"
    assert univr.certificates == (CERT_B,)
    assert {e.source for e in parsed.emps} == {"emreg"}


def test_emreg_older_ncps_format_with_single_fetch_as_string():
    document = {
        "countries": [{"countryCode": "it", "countryName": "Italy", "singleFetch": "true"}, {"countryCode": "NO"}],
        "ncps": [emreg_emp(countryCode="IT", url="https://www.unisi.it/ncp/"), emreg_emp()],
    }
    parsed = parse_emreg_json(json.dumps(document).encode())
    assert [(e.country, e.single_fetch) for e in parsed.emps] == [("IT", True), ("NO", False)]


def test_emreg_pubkey_as_bare_base64_der_is_accepted():
    parsed = parse_emreg_json(json.dumps({"emps": [emreg_emp(pubKey=b64(CERT_B))]}).encode())
    assert parsed.emps[0].certificates == (CERT_B,)


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        (emreg_emp(url="http://www.aftonbladet.se/"), "not an absolute https URL"),
        (emreg_emp(acronym=""), "has no 'acronym'"),
        (emreg_emp(countryCode=7), "has no 'countryCode'"),
        (emreg_emp(institutions="NTNU"), "not an array"),
        (emreg_emp(pubKey="-----BEGIN CERTIFICATE-----\nMIIB+TCC\n(......)\n-----END CERTIFICATE-----"), "pubKey"),
        ("not an object", "not a JSON object"),
    ],
)
def test_emreg_bad_entries_are_skipped(entry, fragment):
    parsed = parse_emreg_json(json.dumps({"emps": [entry, emreg_emp(url="https://ok.example/")]}).encode())
    assert [e.url for e in parsed.emps] == ["https://ok.example/"]
    assert codes(parsed) == [NOTICE_ENTRY_SKIPPED]
    assert "entry #1" in parsed.notices[0].message
    assert fragment in parsed.notices[0].message


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (b"[1, 2]", "must be a JSON object"),
        (b'{"countries": []}', "no 'emps'"),
        (b'{"emps": {}}', "no 'emps'"),
        (b'{"emps": [], "countries": {}}', "'countries' field must be an array"),
        (b'{"emps": [}', "not valid JSON"),
    ],
)
def test_emreg_unreadable_lists_are_registry_invalid(document, fragment):
    with pytest.raises(EmrexError) as caught:
        parse_emreg_json(document)
    assert caught.value.code is ErrorCode.REGISTRY_INVALID
    assert fragment in caught.value.message


def test_legacy_emreg_sample_is_refused_with_the_position_of_the_error():
    with pytest.raises(EmrexError) as caught:
        parse_registry(LEGACY_EMREG.read_bytes())
    assert caught.value.code is ErrorCode.REGISTRY_INVALID
    assert caught.value.message == (
        "the EMREG list is not valid JSON: Expecting property name enclosed in double quotes at line 5 column 5"
    )


def test_legacy_emreg_sample_without_the_trailing_comma_is_still_not_utf8():
    data = LEGACY_EMREG.read_bytes().replace(b'"Finland",', b'"Finland"')
    with pytest.raises(EmrexError, match=r"not valid UTF-8 \(byte offset \d+\)"):
        parse_registry(data)


def test_legacy_emreg_sample_repaired_yields_no_usable_emp():
    data = LEGACY_EMREG.read_bytes().replace(b'"Finland",', b'"Finland"').decode("latin-1").encode("utf-8")
    parsed = parse_registry(data)
    # two http URLs and three truncated "(......)" certificates: every entry is skipped, each with its reason
    assert parsed.emps == ()
    assert codes(parsed) == [NOTICE_ENTRY_SKIPPED] * 5
    assert "http://virtawstesti.csc.fi/norex/" in parsed.notices[0].message
    assert "pubKey" in parsed.notices[2].message


def test_loopback_http_emp_is_listed_only_in_local_mode():
    emp = Emp(
        id="xx",
        name="Mock EMP",
        url="http://127.0.0.1:8099/emp",
        country="NL",
        certificates=(make_certificate("mock"),),
    )
    catalogue = render_ewp_catalogue([emp])
    assert parse_registry(catalogue).emps == ()
    assert [e.url for e in parse_registry(catalogue, allow_loopback_http=True).emps] == [emp.url]
    remote_http = render_ewp_catalogue([replace(emp, url="http://emp.example/emp")])
    assert parse_registry(remote_http, allow_loopback_http=True).emps == ()
