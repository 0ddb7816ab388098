"""The mock EMP: what each scenario posts back, that its signatures verify (or fail) as a real EMP's would,
and the pages a tester and a browser see."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from lxml import etree, html

from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.identity import ExpectedIdentity
from emrex_emc.core.pipeline import verify_elmo
from emrex_emc.core.policy import PipelinePolicy, VerificationPolicy
from emrex_emc.core.provenance import Coverage, assess_provenance
from emrex_emc.core.signature import verify_enveloped
from emrex_emc.local.catalogue import mock_emp_entry
from emrex_emc.local.elmo_factory import SigningIdentity, generate_signing_identity
from emrex_emc.local.mock_emp import (
    OTHER_PERSON,
    SCENARIO_IDS,
    Learner,
    MockEmp,
    load_or_create_identity,
    tamper_grade,
)
from emrex_emc.web.http import HttpRequest
from tests.conftest import SHARED_ELMO

ELMO_NS = "https://github.com/emrex-eu/elmo-schemas/tree/v1"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
APPLICANT = Learner(given_names="Astrid Maria", family_name="Lindqvist", birth_date="1999-04-17")
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return generate_signing_identity("Mock EMP test")


@pytest.fixture(scope="module")
def mock(identity: SigningIdentity) -> MockEmp:
    return MockEmp(
        identity=identity,
        unregistered_identity=generate_signing_identity("Someone else"),
        catalogue=lambda: b"<catalogue/>",
        default_learner=APPLICANT,
    )


def _decode(elmo: str) -> etree._Element:
    return etree.fromstring(gzip.decompress(base64.b64decode(elmo, validate=True)))


def _verify(root: etree._Element, identity: SigningIdentity) -> None:
    verify_enveloped(root, [identity.certificate], VerificationPolicy(), NOW)


def _learner_of(root: etree._Element) -> tuple[str, str, str]:
    learner = root.find(f"{{{ELMO_NS}}}learner")
    assert learner is not None
    return (
        learner.findtext(f"{{{ELMO_NS}}}givenNames") or "",
        learner.findtext(f"{{{ELMO_NS}}}familyName") or "",
        learner.findtext(f"{{{ELMO_NS}}}bday") or "",
    )


@pytest.mark.parametrize(
    ("scenario", "code", "message"),
    [
        ("cancel", "NCP_CANCEL", "The student cancelled."),
        ("no-results", "NCP_NO_RESULTS", "No results found."),
        ("provider-error", "NCP_ERROR", "Mock EMP: the results database is down."),
    ],
)
def test_scenarios_without_results_send_an_empty_elmo(mock: MockEmp, scenario: str, code: str, message: str) -> None:
    answer = mock.respond(scenario, "S" * 32, APPLICANT)
    assert answer.form_fields() == {"sessionId": "S" * 32, "returnCode": code, "returnMessage": message, "elmo": ""}


@pytest.mark.parametrize(
    ("scenario", "algorithm", "prefixed"),
    [
        ("ok", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", True),
        ("sha256-exclusive", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", True),
        ("sha1-inclusive-java", "http://www.w3.org/2000/09/xmldsig#rsa-sha1", False),
    ],
)
def test_ok_scenarios_post_a_verifiable_gzipped_elmo_of_the_learner(
    mock: MockEmp, identity: SigningIdentity, scenario: str, algorithm: str, prefixed: bool
) -> None:
    answer = mock.respond(scenario, "a" * 32, APPLICANT)
    assert (answer.session_id, answer.return_code) == ("a" * 32, "NCP_OK")
    root = _decode(answer.elmo)
    _verify(root, identity)
    assert _learner_of(root) == ("Astrid Maria", "Lindqvist", "1999-04-17")
    signature = root.find(f"{{{DS_NS}}}Signature")
    assert signature is not None
    assert signature.find(f".//{{{DS_NS}}}SignatureMethod").get("Algorithm") == algorithm
    assert (signature.prefix == "ds") is prefixed
    exclusive = "http://www.w3.org/2001/10/xml-exc-c14n#"
    c14n = signature.find(f".//{{{DS_NS}}}CanonicalizationMethod").get("Algorithm")
    assert (c14n == exclusive) is (scenario != "sha1-inclusive-java")


def test_ok_sends_the_transcript_as_a_pdf_and_the_other_results_scenarios_none(mock: MockEmp) -> None:
    def pdfs(scenario: str) -> list[bytes]:
        root = _decode(mock.respond(scenario, "a" * 32, APPLICANT).elmo)
        contents = [element.text or "" for element in root.iter(f"{{{ELMO_NS}}}content")]
        return [base64.b64decode(content.removeprefix("data:application/pdf;base64,")) for content in contents]

    [transcript] = pdfs("ok")
    assert transcript.startswith(b"%PDF-") and len(transcript) < 64 * 1024
    assert pdfs("sha256-exclusive") == pdfs("identity-mismatch") == []


@pytest.mark.skipif(not (SHARED_ELMO / "elmo-schemas").is_dir(), reason="shared ELMO schemas not found")
def test_ok_is_a_clean_import_whose_courses_add_up_to_the_degree(mock: MockEmp, identity: SigningIdentity) -> None:
    """What the README promises a newcomer: the default scenario has no warning, and its numbers agree."""
    answer = mock.respond("ok", "a" * 32, APPLICANT)
    verified = verify_elmo(answer.elmo, [identity.cert_der], PipelinePolicy(), xsd_dir=str(SHARED_ELMO))
    assert verified.notices == ()
    [degree] = verified.document.reports[0].learning_opportunities
    assert degree.instance is not None and degree.instance.ects == Decimal(18)
    course_credits = [part.instance.ects for part in degree.parts if part.instance is not None]
    assert course_credits == [Decimal(6)] * 3
    assert verified.document.summary.total_ects == "18"


@pytest.mark.skipif(not (SHARED_ELMO / "elmo-schemas").is_dir(), reason="shared ELMO schemas not found")
def test_decimal_comma_credits_are_read_and_warned_about(mock: MockEmp, identity: SigningIdentity) -> None:
    answer = mock.respond("decimal-comma", "a" * 32, APPLICANT)
    verified = verify_elmo(answer.elmo, [identity.cert_der], PipelinePolicy(), xsd_dir=str(SHARED_ELMO))
    [notice] = verified.notices
    assert notice.code == "XSD_VIOLATION" and "'value'" in notice.message and "xs:decimal" in notice.message
    [degree] = verified.document.reports[0].learning_opportunities
    assert [part.instance.ects for part in degree.parts if part.instance is not None] == [Decimal("7.5"), 6, 6]
    assert degree.instance is not None and degree.instance.ects == Decimal("19.5")


def test_identity_mismatch_sends_another_person_correctly_signed(mock: MockEmp, identity: SigningIdentity) -> None:
    root = _decode(mock.respond("identity-mismatch", "a" * 32, APPLICANT).elmo)
    _verify(root, identity)
    assert _learner_of(root) == (OTHER_PERSON.given_names, OTHER_PERSON.family_name, OTHER_PERSON.birth_date)


def test_tampered_document_fails_verification(mock: MockEmp, identity: SigningIdentity) -> None:
    root = _decode(mock.respond("tampered", "a" * 32, APPLICANT).elmo)
    grades = [e.text for e in root.iter(f"{{{ELMO_NS}}}resultLabel")]
    assert grades[0] == "10"
    assert set(grades[1:]) == {"8"}
    with pytest.raises(EmrexError) as caught:
        _verify(root, identity)
    assert caught.value.code in {ErrorCode.SIGNATURE_DIGEST_MISMATCH, ErrorCode.SIGNATURE_INVALID}


def test_unregistered_key_is_refused_as_untrusted(mock: MockEmp, identity: SigningIdentity) -> None:
    root = _decode(mock.respond("unregistered-key", "a" * 32, APPLICANT).elmo)
    with pytest.raises(EmrexError) as caught:
        _verify(root, identity)
    assert caught.value.code is ErrorCode.SIGNATURE_UNTRUSTED_KEY


def test_large_pdf_scenario_attaches_megabytes(mock: MockEmp, identity: SigningIdentity) -> None:
    answer = mock.respond("ok-large-pdf", "a" * 32, APPLICANT)
    root = _decode(answer.elmo)
    _verify(root, identity)
    content = root.findtext(f"{{{ELMO_NS}}}attachment/{{{ELMO_NS}}}content") or ""
    pdf = base64.b64decode(content.removeprefix("data:application/pdf;base64,"))
    assert pdf.startswith(b"%PDF-") and len(pdf) > 2 * 1024 * 1024
    # The callback's form post must fit Lambda's 6 MB request once API Gateway base64-encodes it.
    form = urlencode(answer.form_fields()).encode()
    assert len(base64.b64encode(form)) < 5_800_000


def test_unknown_scenario_is_refused(mock: MockEmp) -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        mock.respond("nope", "a" * 32, APPLICANT)


def test_tamper_grade_needs_a_grade() -> None:
    assert tamper_grade(b"<a><resultLabel>8</resultLabel></a>") == b"<a><resultLabel>10</resultLabel></a>"
    assert tamper_grade(b"<a><x:resultLabel>10</x:resultLabel></a>") == b"<a><x:resultLabel>9</x:resultLabel></a>"
    with pytest.raises(ValueError, match="no resultLabel"):
        tamper_grade(b"<a/>")


def _post(path: str, fields: dict[str, str]) -> HttpRequest:
    return HttpRequest(
        method="POST",
        path=path,
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=urlencode(fields).encode(),
    )


def test_entry_page_offers_every_scenario_and_keeps_the_request(mock: MockEmp) -> None:
    return_url = 'http://127.0.0.1:8080/callback?state=x"><script>'
    response = mock.entry_page(_post("/emp", {"sessionId": "b" * 32, "returnUrl": return_url}))
    assert response.status == 200
    page = html.fromstring(response.body)
    assert [e.get("value") for e in page.xpath("//input[@name='scenario']")] == list(SCENARIO_IDS)
    assert page.xpath("//input[@id='scenario-ok']/@checked")
    assert page.xpath("//input[@name='returnUrl']/@value") == [return_url]
    assert page.xpath("//input[@name='sessionId']/@value") == ["b" * 32]
    assert page.xpath("//input[@id='family-name']/@value") == ["Lindqvist"]
    assert "<script>" not in str(response.body)


@pytest.mark.parametrize(
    "fields",
    [
        {"returnUrl": "http://127.0.0.1/callback"},
        {"sessionId": "b" * 32},
        {"sessionId": "b" * 32, "returnUrl": "javascript:alert(1)"},
    ],
)
def test_entry_page_refuses_an_incomplete_request(mock: MockEmp, fields: dict[str, str]) -> None:
    assert mock.entry_page(_post("/emp", fields)).status == 400


def test_respond_page_auto_submits_the_answer_to_the_return_url(mock: MockEmp) -> None:
    fields = {
        "sessionId": "c" * 32,
        "returnUrl": "http://127.0.0.1:8080/callback?state=abc",
        "scenario": "cancel",
        **{"given_names": "A", "family_name": "B", "birth_date": "2000-01-01"},
    }
    response = mock.respond_page(_post("/emp/respond", fields))
    assert response.status == 200
    page = html.fromstring(response.body)
    (form,) = page.xpath("//form[@id='emrex-response']")
    assert form.get("method") == "post"
    assert form.get("action") == "http://127.0.0.1:8080/callback?state=abc"
    posted = {i.get("name"): i.get("value") for i in form.xpath(".//input[@type='hidden']")}
    assert posted == {
        "sessionId": "c" * 32,
        "returnCode": "NCP_CANCEL",
        "returnMessage": "The student cancelled.",
        "elmo": "",
    }
    assert "getElementById('emrex-response').submit()" in str(response.body)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scenario": "unknown"}, "Pick one"),
        ({"birth_date": "17.04.1999"}, "birth date"),
        ({"sessionId": ""}, "sessionId"),
    ],
)
def test_respond_page_refuses_bad_input(mock: MockEmp, change: dict[str, str], message: str) -> None:
    fields = {
        "sessionId": "c" * 32,
        "returnUrl": "http://127.0.0.1:8080/callback",
        "scenario": "ok",
        "given_names": "A",
        "family_name": "B",
        "birth_date": "2000-01-01",
        **change,
    }
    response = mock.respond_page(_post("/emp/respond", fields))
    assert response.status == 400
    assert message in str(response.body)


def test_identity_is_generated_once_and_reused(tmp_path: Path) -> None:
    first = load_or_create_identity(tmp_path / "state")
    second = load_or_create_identity(tmp_path / "state")
    assert first.cert_pem == second.cert_pem
    assert (tmp_path / "state" / "mock-emp-key.pem").stat().st_mode & 0o077 == 0


# --- ELMO 2.1 scenarios, judged as the callback judges them -------------------------------------------------

GREEK_APPLICANT = Learner(given_names="Γεώργιος", family_name="Παπαδόπουλος", birth_date="1999-04-05")


def _verified(mock: MockEmp, identity: SigningIdentity, scenario: str, learner: Learner) -> tuple[Any, Any]:
    """The scenario's answer through the trust pipeline, and its provenance by the local catalogue."""
    emp = mock_emp_entry("http://127.0.0.1:1/emp", identity.cert_der)
    answer = mock.respond(scenario, "a" * 32, learner)
    expected = ExpectedIdentity(learner.given_names, learner.family_name, date.fromisoformat(learner.birth_date))
    verified = verify_elmo(answer.elmo, [identity.cert_der], PipelinePolicy(), expected=expected, now=NOW)
    provenance = assess_provenance([r.issuer for r in verified.document.reports], Coverage.of(emp, [emp]))
    return verified, provenance


def test_the_greek_graduate_has_latin_names_and_the_greek_alternative_name(
    mock: MockEmp, identity: SigningIdentity
) -> None:
    verified, provenance = _verified(mock, identity, "elmo21-greek", GREEK_APPLICANT)
    learner = verified.document.learner
    assert (learner.given_names, learner.family_name) == ("Georgios", "Papadopoulos")
    assert learner.alternative_name is not None
    assert (learner.alternative_name.value, learner.alternative_name.lang) == ("Γεώργιος Παπαδόπουλος", "el")
    assert (verified.document.version, learner.citizenship) == ("v2", "GR")
    assert verified.identity.verdict == "MATCH"
    assert [field.method for field in verified.identity.fields] == ["alternative_name", "alternative_name", "exact"]
    assert verified.document.summary.document_types == ("Diploma",)
    assert provenance.verdict == "covered"


def test_a_latin_learner_in_an_elmo_2_1_document_has_no_alternative_name(
    mock: MockEmp, identity: SigningIdentity
) -> None:
    verified, _ = _verified(mock, identity, "elmo21-greek", APPLICANT)
    assert verified.document.learner.alternative_name is None
    assert verified.identity.verdict == "MATCH"


def test_the_enrolment_proof(mock: MockEmp, identity: SigningIdentity) -> None:
    verified, provenance = _verified(mock, identity, "enrolment-proof", APPLICANT)
    [degree] = verified.document.reports[0].learning_opportunities
    assert degree.document_type == "Enrolment"
    assert degree.instance is not None and degree.instance.enrolment is not None
    assert degree.instance.enrolment.institution.identifiers[0].value == "uoa.gr"
    assert provenance.verdict == "covered"


def test_a_document_whose_issuer_the_mock_emp_does_not_cover(mock: MockEmp, identity: SigningIdentity) -> None:
    verified, provenance = _verified(mock, identity, "issuer-not-covered", APPLICANT)
    assert verified.document.reports[0].issuer.country == "NO"
    assert provenance.to_json() == {
        "verdict": "not_covered",
        "reports": [{"index": 0, "verdict": "not_covered", "hei_id": "uio.no"}],
    }


def test_the_classic_scenarios_come_from_an_institution_the_mock_emp_covers(
    mock: MockEmp, identity: SigningIdentity
) -> None:
    assert _verified(mock, identity, "ok", APPLICANT)[1].verdict == "covered"
