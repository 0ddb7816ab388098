import base64
import json
import secrets
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from emrex_emc.core import registry_entries, registry_parse
from emrex_emc.core.errors import EmrexError, ErrorCode, Notice
from emrex_emc.core.registry import CoveredInstitution, Emp, emp_id
from emrex_emc.core.registry_emreg import parse_emreg_json
from emrex_emc.core.registry_entries import (
    NOTICE_CERTIFICATE_SKIPPED,
    NOTICE_CONFLICT,
    NOTICE_DUPLICATE,
    NOTICE_ENTRY_SKIPPED,
)
from emrex_emc.core.registry_parse import DAP_NS, NCP_NS, parse_ewp_catalogue, parse_registry, render_ewp_catalogue
from emrex_emc.core.text import MAX_MESSAGE_CHARS, is_clean
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


def codes(parsed: registry_entries.ParsedRegistry) -> list[str]:
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


GOOD_URL = "https://other-emp.example/init"


def test_the_same_emp_url_with_other_certificates_is_not_offered():
    other = (b64(CERT_B),)
    parsed = parse_ewp_catalogue(catalogue(dap_entry(), dap_entry(certificates=other), dap_entry(url=GOOD_URL)))
    assert [emp.url for emp in parsed.emps] == [GOOD_URL]
    assert codes(parsed) == [NOTICE_CONFLICT] and parsed.unread == 1


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
    monkeypatch.setattr(registry_entries, "MAX_REGISTRY_BYTES", 100)
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


# --- one hostile entry never takes the others down ------------------------------------------------


def big_certificate(about_bytes: int) -> bytes:
    """A valid certificate of about ``about_bytes`` DER bytes (one 24-byte DNS name per 24 bytes)."""
    return make_certificate("big", dns_names=[f"host-{n:05d}.emp.example" for n in range(about_bytes // 24)])


def assert_bounded_and_clean(parsed: registry_entries.ParsedRegistry) -> None:
    for notice in parsed.notices:
        assert len(notice.message) <= registry_entries.MAX_WARNING_CHARS
        assert is_clean(notice.message), notice.message
    for emp in parsed.emps:
        assert is_clean(emp.name) and len(emp.name) <= registry_entries.MAX_NAME_CHARS
        assert is_clean(emp.url) and len(emp.url) <= registry_entries.MAX_URL_CHARS
        assert all(is_clean(i) and len(i) <= registry_entries.MAX_INSTITUTION_CHARS for i in emp.institutions)


def test_a_400_kb_random_url_skips_only_its_entry_with_one_short_notice():
    huge_url = "https://emp.example/" + secrets.token_urlsafe(300_000)  # 400 000 characters
    parsed = parse_ewp_catalogue(catalogue(dap_entry(url=huge_url, name="Huge"), dap_entry(name="Good")))
    assert [e.name for e in parsed.emps] == ["Good"]
    assert codes(parsed) == [NOTICE_ENTRY_SKIPPED]
    assert parsed.notices[0].message == (
        f"EMREX entry #1 has a URL of {len(huge_url)} characters, more than the 2000 allowed; skipped"
    )


def random_text(length: int) -> str:
    return secrets.token_urlsafe(length)[:length]


def audit_entry() -> Emp:
    """The audit's hostile entry: within every per-field cap, 650 KB in the snapshot, random (incompressible)."""
    url = "https://hostile.example/emrex"
    covered = tuple(
        CoveredInstitution(
            hei_id=random_text(registry_entries.MAX_ID_CHARS),
            other_ids=tuple((f"type-{k}", random_text(registry_entries.MAX_ID_CHARS)) for k in range(10)),
            names=tuple((f"l{k}", random_text(registry_entries.MAX_INSTITUTION_CHARS)) for k in range(5)),
        )
        for _ in range(registry_entries.MAX_INSTITUTIONS_PER_EMP)
    )
    return Emp(
        id=emp_id("PL", url),
        name="Hostile EMP",
        url=url,
        country="PL",
        institutions=tuple(random_text(registry_entries.MAX_INSTITUTION_CHARS) for _ in range(200)),
        certificates=tuple(make_certificate(f"hostile {n}", padding=15_500) for n in range(5)),  # 15.8 KB each
        covered=covered,
    )


def test_one_hostile_entry_within_every_cap_is_trimmed_to_its_budget_with_one_notice():
    good = Emp(
        id=emp_id("NO", "https://emp.example/init"),
        name="Good",
        url="https://emp.example/init",
        country="NO",
        certificates=(CERT_A,),
    )
    hostile = audit_entry()
    assert hostile.stored_size() > 600_000

    parsed = parse_ewp_catalogue(render_ewp_catalogue([good, hostile]))

    kept_good, trimmed = parsed.emps
    assert kept_good == good
    assert trimmed.stored_size() <= registry_entries.MAX_ENTRY_BYTES
    assert (trimmed.id, trimmed.name, trimmed.url, trimmed.covered, trimmed.institutions) == (
        hostile.id,
        hostile.name,
        hostile.url,
        (),
        (),
    )
    assert len(trimmed.certificates) == 3 and trimmed.certificates == hostile.certificates[:3]  # fewer keys, none new
    assert codes(parsed) == [registry_entries.NOTICE_ENTRY_TRIMMED]
    assert parsed.notices[0].message == (
        f"Hostile EMP (PL) takes {hostile.stored_size()} bytes, more than the 65536 of an entry; kept 0 of 200 "
        "covered institutions, 0 of 200 institution names, 3 of 5 certificates"
    )
    assert parsed.unread == 1  # keys were left out: registry changes are not announced against this parse
    assert_bounded_and_clean(parsed)


def test_an_entry_over_its_budget_keeps_the_covered_institutions_that_fit_and_everything_else():
    many = replace(audit_entry(), institutions=("Universitetet i Oslo",), certificates=(CERT_A, CERT_B))

    parsed = parse_ewp_catalogue(render_ewp_catalogue([many]))

    (trimmed,) = parsed.emps
    kept = len(trimmed.covered)
    assert 0 < kept < len(many.covered) and trimmed.covered == many.covered[:kept]
    assert trimmed.stored_size() <= registry_entries.MAX_ENTRY_BYTES
    assert replace(trimmed, covered=many.covered[: kept + 1]).stored_size() > registry_entries.MAX_ENTRY_BYTES
    assert (trimmed.institutions, trimmed.certificates) == (many.institutions, many.certificates)
    assert parsed.notices[0].message.endswith(f"; kept {kept} of 200 covered institutions")
    assert parsed.unread == 0  # every key kept: a complete parse


def test_an_entry_that_cannot_be_trimmed_to_its_budget_is_skipped_with_a_notice(monkeypatch):
    big = make_certificate("big", padding=1_000)
    monkeypatch.setattr(registry_entries, "MAX_ENTRY_BYTES", 1_000)  # not even the one certificate fits
    parsed = parse_ewp_catalogue(catalogue(dap_entry(name="Too big", certificates=(b64(big),)), dap_entry(name="Good")))
    assert [e.name for e in parsed.emps] == ["Good"]
    assert codes(parsed) == [NOTICE_ENTRY_SKIPPED]
    assert parsed.notices[0].message.startswith("EMREX entry #1 (Too big (NO)) takes ")
    assert parsed.notices[0].message.endswith(" bytes, more than the 1000 of an entry, even trimmed; skipped")
    assert parsed.unread == 1


def test_a_url_of_exactly_the_cap_is_kept():
    url = "https://emp.example/" + "a" * (registry_entries.MAX_URL_CHARS - len("https://emp.example/"))
    assert [e.url for e in parse_ewp_catalogue(catalogue(dap_entry(url=url))).emps] == [url]
    parsed = parse_ewp_catalogue(catalogue(dap_entry(url=url + "a")))
    assert parsed.emps == ()
    assert "more than the 2000 allowed" in parsed.notices[0].message


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://user:secret@emp.example/", "carries credentials"),
        ("https://emp.example@evil.example/", "carries credentials"),
        ("https://emp.example/a b", "spaces or control characters"),
        ("https://emp.example/\u202egnp.exe", "spaces or control characters"),
        ("https://emp.example/\u0085next", "spaces or control characters"),
        ("https://emp.example/\u200b", "spaces or control characters"),
        ("https://[2001:db8::1/emp", "cannot be parsed"),
        ("https://emp.example:99999/", "cannot be parsed"),
        ("https://emp.example:https/", "cannot be parsed"),
        ("https://emp..example/", "not a valid host name"),
        ("https://-emp.example/", "not a valid host name"),
        ("https://emp_1.example/", "not a valid host name"),
        ("https://emp%2eexample/", "not a valid host name"),
        (f"https://{'a' * 64}.example/", "not a valid host name"),
    ],
)
def test_unusable_urls_are_skipped_with_their_reason(url, fragment):
    parsed = parse_ewp_catalogue(catalogue(dap_entry(url=url), dap_entry(name="Good")))
    assert [e.name for e in parsed.emps] == ["Good"]
    assert codes(parsed) == [NOTICE_ENTRY_SKIPPED]
    assert fragment in parsed.notices[0].message
    assert_bounded_and_clean(parsed)


@pytest.mark.parametrize(
    "url",
    [
        "https://vitnemålsportalen.no/vp/init",
        "https://xn--vitnemlsportalen-iob.no/vp/init",
        "https://[2001:db8::1]:8443/emp",
        "https://192.0.2.7/emp?x=1&y=%20",
        "https://emp.example./emp#start",
    ],
)
def test_unusual_but_valid_urls_are_kept_unchanged(url):
    assert [e.url for e in parse_ewp_catalogue(catalogue(dap_entry(url=url.replace("&", "&amp;")))).emps] == [url]


def test_names_are_clipped_and_an_entry_without_a_usable_name_is_skipped():
    long_name = "Ü" * 5000
    document = {
        "emps": [
            emreg_emp(acronym=long_name, url="https://long.example/"),
            emreg_emp(acronym="Evil\u001b[2J\u001b]0;pwned\u0007Name", url="https://esc.example/"),
            emreg_emp(acronym="\u001b\u0007\u200b", url="https://invisible.example/"),
        ]
    }
    parsed = parse_emreg_json(json.dumps(document).encode())
    long, escaped = parsed.emps
    assert long.name == "Ü" * (registry_entries.MAX_NAME_CHARS - 1) + "…"
    assert escaped.name == "Evil [2J ]0;pwned Name"
    assert codes(parsed) == [NOTICE_ENTRY_SKIPPED]
    assert "entry #3 has no usable 'acronym'" in parsed.notices[0].message
    assert_bounded_and_clean(parsed)


def test_an_xml_name_of_invisible_characters_is_skipped():
    parsed = parse_ewp_catalogue(catalogue(dap_entry(name="\u200b\u202e\u2066"), dap_entry(name="Good")))
    assert [e.name for e in parsed.emps] == ["Good"]
    assert "has no usable <name>" in parsed.notices[0].message


def test_institutions_are_clipped_capped_and_text_only():
    cap = registry_entries.MAX_INSTITUTIONS_PER_EMP
    institutions = ["Universitetet\u001b[0m i Oslo", "x" * 1000, 42, None, "", *(f"U{n}" for n in range(cap))]
    parsed = parse_emreg_json(json.dumps({"emps": [emreg_emp(institutions=institutions)]}).encode())
    (emp,) = parsed.emps
    assert len(emp.institutions) == cap
    assert emp.institutions[:3] == ("Universitetet [0m i Oslo", "x" * 199 + "…", "U0")
    assert emp.institutions[-1] == f"U{cap - 3}"
    assert codes(parsed) == [registry_entries.NOTICE_ENTRY_TRIMMED]
    assert f"FSAT (NO) lists {cap + 2} institutions; the first {cap} are kept" in parsed.notices[0].message
    assert_bounded_and_clean(parsed)


def test_certificates_beyond_the_cap_are_dropped_with_one_notice():
    cap = registry_entries.MAX_CERTIFICATES_PER_EMP
    certificates = [make_certificate(f"c{n}") for n in range(cap + 2)]
    parsed = parse_ewp_catalogue(catalogue(dap_entry(certificates=tuple(b64(c) for c in certificates))))
    assert parsed.emps[0].certificates == tuple(certificates[:cap])
    assert codes(parsed) == [NOTICE_CERTIFICATE_SKIPPED]
    assert f"2 certificate(s) after the first {cap} ignored" in parsed.notices[0].message


def test_an_oversized_certificate_is_dropped_and_the_emp_keeps_its_other_one():
    big = big_certificate(registry_entries.MAX_CERTIFICATE_BYTES + 500)
    assert len(big) > registry_entries.MAX_CERTIFICATE_BYTES
    parsed = parse_ewp_catalogue(catalogue(dap_entry(certificates=(b64(big), b64(CERT_A)))))
    assert parsed.emps[0].certificates == (CERT_A,)
    assert codes(parsed) == [NOTICE_CERTIFICATE_SKIPPED]
    assert f"{len(big)} bytes, more than the {registry_entries.MAX_CERTIFICATE_BYTES} allowed" in (
        parsed.notices[0].message
    )


def test_a_certificate_text_too_long_is_dropped_before_decoding():
    too_long = "A" * (registry_entries.MAX_CERTIFICATE_TEXT_CHARS + 1)
    parsed = parse_ewp_catalogue(catalogue(dap_entry(certificates=(too_long, b64(CERT_A)))))
    assert parsed.emps[0].certificates == (CERT_A,)
    assert "more than the 32768 allowed" in parsed.notices[0].message


def test_an_emreg_pubkey_too_large_skips_the_entry():
    big_pem = to_pem(big_certificate(registry_entries.MAX_CERTIFICATE_BYTES + 500))
    assert len(big_pem) <= registry_entries.MAX_CERTIFICATE_TEXT_CHARS  # the DER size check is what refuses it
    parsed = parse_emreg_json(json.dumps({"emps": [emreg_emp(pubKey=big_pem)]}).encode())
    assert parsed.emps == ()
    assert "unreadable 'pubKey' certificate" in parsed.notices[0].message
    assert f"more than the {registry_entries.MAX_CERTIFICATE_BYTES} allowed" in parsed.notices[0].message


def test_a_certificate_just_under_the_cap_is_kept():
    der = big_certificate(registry_entries.MAX_CERTIFICATE_BYTES - 1000)
    assert registry_entries.MAX_CERTIFICATE_BYTES - 2000 < len(der) <= registry_entries.MAX_CERTIFICATE_BYTES
    assert parse_ewp_catalogue(catalogue(dap_entry(certificates=(b64(der),)))).emps[0].certificates == (der,)


def test_notices_are_capped_with_one_closing_count():
    bad = [dap_entry(url=f"http://plain-{n}.example/") for n in range(registry_entries.MAX_WARNINGS + 10)]
    parsed = parse_ewp_catalogue(catalogue(*bad, dap_entry(name="Good")))
    assert [e.name for e in parsed.emps] == ["Good"]
    assert len(parsed.notices) == registry_entries.MAX_WARNINGS + 1
    assert parsed.notices[-1] == Notice(registry_entries.NOTICE_MORE_WARNINGS, "10 more warnings not listed")
    assert "plain-49.example" in parsed.notices[-2].message


def test_emps_beyond_the_cap_are_ignored_with_one_notice(monkeypatch):
    monkeypatch.setattr(registry_entries, "MAX_EMPS", 2)
    entries = [dap_entry(url=f"https://emp-{n}.example/", name=f"EMP {n}") for n in range(5)]
    parsed = parse_ewp_catalogue(catalogue(*entries))
    assert [e.name for e in parsed.emps] == ["EMP 0", "EMP 1"]
    assert codes(parsed) == [NOTICE_ENTRY_SKIPPED]
    assert parsed.notices[0].message == "3 more EMREX entries ignored: at most 2 EMPs"


def test_outside_values_in_notices_are_clipped_and_cleaned():
    document = {
        "emps": [
            emreg_emp(countryCode="\u001b[2J" + "N" * 5000),
            emreg_emp(url="https://emp.example/\u001b[31m" + "p" * 1900),
            emreg_emp(url="http://plain.example/" + "p" * 1900),
        ]
    }
    parsed = parse_emreg_json(json.dumps(document).encode())
    assert codes(parsed) == [NOTICE_ENTRY_SKIPPED] * 3
    assert "country code '[2JNNN" in parsed.notices[0].message
    assert "https://emp.example/ [31mppp" in parsed.notices[1].message
    assert "spaces or control characters" in parsed.notices[1].message
    assert "'http://plain.example/ppp" in parsed.notices[2].message
    assert "…', which is not an absolute https URL" in parsed.notices[2].message
    assert all(len(n.message) < 300 for n in parsed.notices)
    assert_bounded_and_clean(parsed)


def test_a_notice_quoting_two_long_values_is_cut_to_the_warning_cap():
    name, url = "N" * 500, "https://emp.example/" + "u" * 1000
    parsed = parse_ewp_catalogue(catalogue(dap_entry(name=name, url=url), dap_entry(name=name, url=url)))
    assert codes(parsed) == [NOTICE_DUPLICATE]
    message = parsed.notices[0].message
    assert len(message) == registry_entries.MAX_WARNING_CHARS
    assert message.startswith("N" * 199 + "… (NO, https://emp.example/uuu")
    assert message.endswith("…")


def test_an_unknown_namespace_is_clipped_in_its_notice():
    parsed = parse_ewp_catalogue(catalogue(dap_entry("urn:x:" + "n" * 5000)))
    assert codes(parsed) == [NOTICE_ENTRY_SKIPPED]
    assert len(parsed.notices[0].message) < 300
    assert_bounded_and_clean(parsed)


def test_an_unreadable_catalogue_message_is_bounded():
    with pytest.raises(EmrexError) as caught:
        parse_registry(b"<catalogue><" + b"a" * 50_000 + b"></catalogue>")
    assert caught.value.code is ErrorCode.REGISTRY_INVALID
    assert "the catalogue is unreadable" in caught.value.message
    assert len(caught.value.message) <= len("the catalogue is unreadable: ") + MAX_MESSAGE_CHARS
