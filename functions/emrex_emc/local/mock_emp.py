"""A mock EMREX data provider (EMP) that behaves like a real one, for the local demo and the browser tests.

Like a real EMP it accepts the EMC's form POST (``sessionId``, ``returnUrl``), shows a page (here: no
login; the tester picks a scenario and the learner) and answers with an auto-submitting form POSTing
``sessionId``, ``returnCode``, ``returnMessage`` and ``elmo`` (signed ELMO XML, gzip, base64) to
``returnUrl``. It signs with its own key pair, kept under ``.local/`` so the registry entry stays valid
across restarts, and serves the registry catalogue listing itself at ``/catalogue-v1.xml``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from emrex_emc.core.transliterate import latin_spellings, needs_transliteration
from emrex_emc.local import elmo_factory
from emrex_emc.local.apigw import Route
from emrex_emc.local.elmo_factory import ATHENS, OSLO, SignatureStyle, SigningIdentity
from emrex_emc.web.html import Markup, join, page
from emrex_emc.web.http import HttpRequest, HttpResponse, html_response

logger = logging.getLogger(__name__)

EMP_PATH = "/emp"
RESPOND_PATH = "/emp/respond"
CATALOGUE_PATH = "/catalogue-v1.xml"
_NARROW_SCREEN_CSS = Markup(
    "<style>code{overflow-wrap:anywhere}fieldset{min-width:0;border:1px solid #b0b0b0;margin:1rem 0}"
    "label[for^=scenario-]{display:inline;font-weight:400;margin-left:.4rem}</style>"
)
"""The page must fit a phone (375 px): the long returnUrl wraps instead of widening the page."""
_AUTO_SUBMIT_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action *"
"""The mock EMP is another site: like real EMPs, its answer page auto-submits a form to the EMC."""
TRANSCRIPT_PDF_BYTES = 16 * 1024
"""The ``ok`` scenario's transcript: real EMPs send the transcript of records as a PDF with the results."""
LARGE_PDF_BYTES = 2 * 1024 * 1024 + 512 * 1024
"""The ``ok-large-pdf`` attachment: big enough to matter, small enough that the callback's event stays
under Lambda's 6 MB request limit once base64 and form encoding have grown it."""


@dataclass(frozen=True)
class Learner:
    given_names: str
    family_name: str
    birth_date: str


OTHER_PERSON = Learner(given_names="Jan Piotr", family_name="Kowalski", birth_date="1987-11-02")
"""The learner of the ``identity-mismatch`` scenario: clearly someone else."""


@dataclass(frozen=True)
class Scenario:
    id: str
    label: str
    return_code: str
    return_message: str = ""
    sends_elmo: bool = True


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("ok", "Results: a few courses and a PDF transcript", "NCP_OK"),
    Scenario("ok-large-pdf", "Results with a large PDF transcript (about 2.5 MB)", "NCP_OK"),
    Scenario("decimal-comma", "Results with credits written 7,5 (not an XSD decimal: a conformance warning)", "NCP_OK"),
    Scenario("cancel", "I cancel the transfer", "NCP_CANCEL", "The student cancelled.", sends_elmo=False),
    Scenario("no-results", "No results to transfer", "NCP_NO_RESULTS", "No results found.", sends_elmo=False),
    Scenario("provider-error", "Provider error", "NCP_ERROR", "Mock EMP: the results database is down.", False),
    Scenario("identity-mismatch", "Results of a different person", "NCP_OK"),
    Scenario("sha1-inclusive-java", "Signed Java style: RSA-SHA1, inclusive C14N, unprefixed Signature", "NCP_OK"),
    Scenario("sha256-exclusive", "Signed with RSA-SHA256 and exclusive C14N", "NCP_OK"),
    Scenario("tampered", "A grade changed after signing", "NCP_OK"),
    Scenario("unregistered-key", "Signed by a key that is not in the registry", "NCP_OK"),
    Scenario(
        "elmo21-greek", "ELMO 2.1: a Greek graduate (type the learner in Greek: Latin names are sent too)", "NCP_OK"
    ),
    Scenario("enrolment-proof", "ELMO 2.1: an enrolment proof (Enrolment, in progress)", "NCP_OK"),
    Scenario(
        "issuer-not-covered", "Results from an institution this EMP does not cover (University of Oslo)", "NCP_OK"
    ),
)
SCENARIO_IDS = tuple(scenario.id for scenario in SCENARIOS)
ELMO_21_SCENARIOS = frozenset({"elmo21-greek", "enrolment-proof", "issuer-not-covered"})
"""Scenarios answering with an ELMO 2.1.1 document (the others send ELMO 1.7-shaped ones)."""
ENROLMENT = elmo_factory.Enrolment(ATHENS, date(2022, 9, 1), date(2025, 9, 1), date(2026, 8, 31))


@dataclass(frozen=True)
class EmpResponse:
    """The four fields an EMP posts back to ``returnUrl``."""

    session_id: str
    return_code: str
    return_message: str
    elmo: str

    def form_fields(self) -> dict[str, str]:
        return {
            "sessionId": self.session_id,
            "returnCode": self.return_code,
            "returnMessage": self.return_message,
            "elmo": self.elmo,
        }


def tamper_grade(xml: bytes) -> bytes:
    """Change the first grade (``resultLabel``) of a signed document, leaving the signature as it was."""
    pattern = re.compile(rb"(<(?:[\w.-]+:)?resultLabel>)([^<]*)(<)")
    found = pattern.search(xml)
    if found is None:
        raise ValueError("the document has no resultLabel to tamper with")
    forged = b"10" if found.group(2).strip() != b"10" else b"9"
    return xml[: found.start(2)] + forged + xml[found.end(2) :]


class MockEmp:
    """Builds the EMP's answers; :meth:`routes` exposes it over HTTP."""

    def __init__(
        self,
        *,
        identity: SigningIdentity,
        unregistered_identity: SigningIdentity,
        catalogue: Callable[[], bytes],
        default_learner: Learner,
        learner_for: Callable[[str], Learner | None] = lambda _return_url: None,
        name: str = "EMREX mock EMP (local)",
    ) -> None:
        self.identity = identity
        self.unregistered_identity = unregistered_identity
        self._catalogue = catalogue
        self.default_learner = default_learner
        self._learner_for = learner_for
        """The applicant of the transfer a ``returnUrl`` belongs to: who a real EMP's login would show."""
        self.name = name

    # --- the answers --------------------------------------------------------------------------------

    def respond(self, scenario_id: str, session_id: str, learner: Learner) -> EmpResponse:
        scenario = next((s for s in SCENARIOS if s.id == scenario_id), None)
        if scenario is None:
            raise ValueError(f"unknown scenario {scenario_id!r}")
        elmo = self._elmo(scenario.id, learner) if scenario.sends_elmo else ""
        return EmpResponse(session_id, scenario.return_code, scenario.return_message, elmo)

    def _elmo(self, scenario_id: str, learner: Learner) -> str:
        person = OTHER_PERSON if scenario_id == "identity-mismatch" else learner
        pdf_size = {"ok": TRANSCRIPT_PDF_BYTES, "ok-large-pdf": LARGE_PDF_BYTES}.get(scenario_id)
        pdf = elmo_factory.make_pdf(pdf_size) if pdf_size else None
        if scenario_id in ELMO_21_SCENARIOS:
            xml = _elmo_21(scenario_id, person)
        else:
            xml = elmo_factory.build_elmo(
                given_names=person.given_names,
                family_name=person.family_name,
                birth_date=date.fromisoformat(person.birth_date),
                courses=3,
                pdf_bytes=pdf,
                decimal_comma=scenario_id == "decimal-comma",
            )
        style: SignatureStyle = "java-sha1-inclusive" if scenario_id == "sha1-inclusive-java" else "ds-sha256-exclusive"
        identity = self.unregistered_identity if scenario_id == "unregistered-key" else self.identity
        signed = elmo_factory.sign_elmo(xml, identity, style=style)
        if scenario_id == "tampered":
            signed = tamper_grade(signed)
        return elmo_factory.encode_elmo(signed, gzip=True)

    # --- HTTP -----------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        def wrap(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
            return lambda event, _context: view(HttpRequest.from_apigw(event)).to_apigw()

        return [
            Route("POST", EMP_PATH, "mock_emp", wrap(self.entry_page)),
            Route("POST", RESPOND_PATH, "mock_emp", wrap(self.respond_page)),
            Route("GET", CATALOGUE_PATH, "mock_emp", wrap(self.catalogue_document)),
        ]

    def catalogue_document(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(
            status=200,
            body=self._catalogue(),
            headers={"content-type": "application/xml", "cache-control": "max-age=60"},
        )

    def entry_page(self, request: HttpRequest) -> HttpResponse:
        """What the EMC's auto-submit form lands on: scenario and learner choice (no login)."""
        fields = _read_form(request)
        session_id, return_url = fields.get("sessionId", ""), fields.get("returnUrl", "")
        if not session_id or not _is_http_url(return_url):
            return _error(400, "The request must carry a sessionId and an absolute http(s) returnUrl.")
        learner = self._learner_for(return_url) or self.default_learner
        radios = join(
            Markup(
                '<div><input type="radio" name="scenario" id="scenario-{id}" value="{id}"{checked}>'
                '<label for="scenario-{id}">{label}</label></div>'
            ).format(id=s.id, checked=Markup(" checked") if s.id == "ok" else "", label=s.label)
            for s in SCENARIOS
        )
        body = (
            Markup(
                "<h1>{name}</h1><p>A test data provider: no login. Pick what the EMREX client should receive.</p>"
                '<p class="muted">Results will be sent to <code id="return-url">{return_url}</code></p>'
                '<form method="post" action="{action}" id="scenario-form">'
                '<input type="hidden" name="sessionId" value="{session_id}">'
                '<input type="hidden" name="returnUrl" value="{return_url}">'
                "<fieldset><legend>Scenario</legend>{radios}</fieldset>"
                "<fieldset><legend>Learner in the results</legend>"
            ).format(name=self.name, return_url=return_url, action=RESPOND_PATH, session_id=session_id, radios=radios)
            + _input("Given names", "given_names", learner.given_names)
            + _input("Family name", "family_name", learner.family_name)
            + _input("Birth date", "birth_date", learner.birth_date, "date")
            + Markup(
                '</fieldset><p><button type="submit" id="send-results">Send to the EMREX client</button></p></form>'
            )
        )
        return html_response(200, page(lang="en", title=self.name, body=body, head=_NARROW_SCREEN_CSS))

    def respond_page(self, request: HttpRequest) -> HttpResponse:
        """The auto-submitting form back to ``returnUrl``, as every EMP answers."""
        fields = _read_form(request)
        return_url = fields.get("returnUrl", "")
        if not fields.get("sessionId") or not _is_http_url(return_url):
            return _error(400, "The request must carry a sessionId and an absolute http(s) returnUrl.")
        learner = Learner(
            given_names=fields.get("given_names", ""),
            family_name=fields.get("family_name", ""),
            birth_date=fields.get("birth_date", ""),
        )
        if fields.get("scenario") not in SCENARIO_IDS:
            return _error(400, "Pick one of the scenarios.")
        try:
            date.fromisoformat(learner.birth_date)
        except ValueError:
            return _error(400, "The birth date must be a date in the form YYYY-MM-DD.")
        answer = self.respond(fields["scenario"], fields["sessionId"], learner)
        logger.info("mock EMP answers with %s", answer.return_code)
        hidden = join(
            Markup('<input type="hidden" name="{}" value="{}">').format(name, value)
            for name, value in answer.form_fields().items()
        )
        body = Markup(
            "<h1>Returning to your EMREX client</h1>"
            '<form method="post" action="{}" id="emrex-response">{}'
            '<p><button type="submit" id="return-button">Continue</button></p></form>'
            "<script>document.getElementById('emrex-response').submit();</script>"
        ).format(return_url, hidden)
        html = page(lang="en", title="Returning to your EMREX client", body=body)
        return html_response(200, html, extra_headers={"content-security-policy": _AUTO_SUBMIT_CSP})


def _elmo_21(scenario_id: str, learner: Learner) -> bytes:
    """An ELMO 2.1.1 document, as the Greek eDiplomas EMP sends them: the learner in Latin letters (their
    passport spelling), and in the script they were given in as the ``alternativeName``."""
    greek = needs_transliteration(learner.given_names + learner.family_name)
    latin = (_passport(learner.given_names), _passport(learner.family_name)) if greek else None
    given_names, family_name = latin or (learner.given_names, learner.family_name)
    alternative = (f"{learner.given_names} {learner.family_name}", "el") if greek else None
    enrolment = scenario_id == "enrolment-proof"
    return elmo_factory.build_elmo_21(
        given_names=given_names,
        family_name=family_name,
        birth_date=date.fromisoformat(learner.birth_date),
        alternative_name=alternative,
        issuer=OSLO if scenario_id == "issuer-not-covered" else ATHENS,
        document_type="Enrolment" if enrolment else "Diploma",
        enrolment=ENROLMENT if enrolment else None,
    )


def _passport(name: str) -> str:
    spellings = latin_spellings(name)
    return spellings[0].title() if spellings else name


def _read_form(request: HttpRequest) -> dict[str, str]:
    try:
        return request.form()
    except ValueError:
        return {}


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def _input(label: str, name: str, value: str, kind: str = "text") -> Markup:
    return Markup(
        '<label for="{id}">{label}</label><input id="{id}" name="{name}" type="{kind}" value="{value}">'
    ).format(id=name.replace("_", "-"), label=label, name=name, kind=kind, value=value)


def _error(status: int, message: str) -> HttpResponse:
    body = Markup('<h1>Mock EMP</h1><p class="notice error" role="alert">{}</p>').format(message)
    return html_response(status, page(lang="en", title="Mock EMP: error", body=body))


def load_or_create_identity(state_dir: Path, common_name: str = "EMREX mock EMP (local)") -> SigningIdentity:
    """The mock EMP's signing identity, generated on first start and kept in ``state_dir``."""
    key_path, cert_path = state_dir / "mock-emp-key.pem", state_dir / "mock-emp-cert.pem"
    if key_path.is_file() and cert_path.is_file():
        return elmo_factory.SigningIdentity(key_pem=key_path.read_bytes(), cert_pem=cert_path.read_bytes())
    identity = elmo_factory.generate_signing_identity(common_name)
    state_dir.mkdir(parents=True, exist_ok=True)
    key_path.touch(mode=0o600)
    key_path.write_bytes(identity.key_pem)
    cert_path.write_bytes(identity.cert_pem)
    return identity
