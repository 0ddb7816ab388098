"""Realistic ELMO test documents: signing identities, ELMO 1.7- and 2.1.1-shaped XML, signatures, encodings, PDFs.

Used by the tests, the benchmarks and the mock EMP. Nothing here is used to verify anything: the
signing side only has to produce what real EMPs produce (Java-style unprefixed ``<Signature>`` with
rsa-sha1 and inclusive C14N like the Finnish and Danish EMPs, or ``ds:``-prefixed SHA-256).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip as gzip_module
import hashlib
import warnings
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

ELMO_NAMESPACES = {
    "v1": "https://github.com/emrex-eu/elmo-schemas/tree/v1",
    "v1.3.0": "https://github.com/emrex-eu/elmo-schemas/tree/v1.3.0",
    "v2": "https://github.com/emrex-eu/elmo-schemas/tree/v2",
}
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

SignatureStyle = Literal["java-sha1-inclusive", "ds-sha256-exclusive", "ds-sha256-inclusive"]
_STYLES: dict[str, tuple[str, str, str, bool]] = {
    # style: (signature method, digest, c14n, Java-style default-namespace Signature)
    "java-sha1-inclusive": ("rsa-sha1", "sha1", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315", True),
    "ds-sha256-exclusive": ("rsa-sha256", "sha256", "http://www.w3.org/2001/10/xml-exc-c14n#", False),
    "ds-sha256-inclusive": ("rsa-sha256", "sha256", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315", False),
}

_COURSE_NAMES = (
    "Linear Algebra",
    "Databases",
    "Operating Systems",
    "Statistics",
    "Software Engineering",
    "Computer Networks",
    "Compilers",
    "Machine Learning",
    "Distributed Systems",
    "Ethics in Computing",
)


@dataclass(frozen=True)
class SigningIdentity:
    """An RSA key and its self-signed certificate (what a test EMP signs with)."""

    key_pem: bytes
    cert_pem: bytes

    @property
    def cert_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


def generate_signing_identity(
    common_name: str,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> SigningIdentity:
    """A fresh RSA-2048 key with a self-signed certificate (valid from yesterday for ten years by default).

    ``common_name`` is taken as given, of any length (X.509 says at most 64 characters, but a hostile EMP's
    certificate need not keep to it, and the tests need such certificates).
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    start = not_before or now - dt.timedelta(days=1)
    end = not_after or start + dt.timedelta(days=3650)
    with warnings.catch_warnings():  # cryptography warns about a common name over 64 characters
        warnings.simplefilter("ignore", UserWarning)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name, _validate=False)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SigningIdentity(key_pem=key_pem, cert_pem=cert.public_bytes(serialization.Encoding.PEM))


@dataclass(frozen=True)
class Institution:
    """An institution as an ELMO ``Issuer`` gives it (a report's issuer, an enrolment institution)."""

    name: str
    country: str
    """As the document writes it: an alpha-2 code (``type="ISO"``) or an alpha-3 code (an EU authority URI)."""
    identifiers: tuple[tuple[str, str], ...]
    """``(type, value)``: schac, erasmus, pic, ..."""
    url: str
    lang: str = "en"


VOORBEELD = Institution(
    name="Universiteit van Voorbeeld",
    country="NL",
    identifiers=(("schac", "voorbeeld.example.nl"),),
    url="https://www.voorbeeld.example.nl",
)
"""The issuer of :func:`build_elmo`'s documents unless told otherwise."""
ATHENS = Institution(
    name="National and Kapodistrian University of Athens",
    country="EL",  # the EU's code for Greece, as Greek EMPs write it
    identifiers=(("schac", "uoa.gr"), ("erasmus", "G  ATHINE01"), ("pic", "999863963")),
    url="https://www.uoa.gr",
)
OSLO = Institution(
    name="University of Oslo",
    country="NOR",
    identifiers=(("schac", "uio.no"), ("erasmus", "N  OSLO01")),
    url="https://www.uio.no",
)


def build_elmo(
    *,
    given_names: str,
    family_name: str,
    birth_date: dt.date,
    courses: int = 3,
    pdf_bytes: bytes | None = None,
    namespace_version: str = "v1",
    issuer: Institution = VOORBEELD,
    grade: str = "8",
    decimal_comma: bool = False,
    degree_credits: str | None = None,
) -> bytes:
    """An unsigned ELMO document: learner, one report with a degree whose ``hasPart`` are the courses.

    Every course is worth 6 ECTS and the degree their sum. With ``decimal_comma`` the first course (and every
    fourth) is worth 7.5 ECTS written ``7,5``, as some EMPs write it: not an ``xs:decimal``, so the XSD check
    warns about it (the reader still takes it as 7.5). ``degree_credits`` writes another value for the degree.
    """
    ns = ELMO_NAMESPACES[namespace_version]
    builder = _Builder(ns)
    root = etree.Element(builder.tag("elmo"), nsmap=cast(Any, {None: ns}))
    builder.add(root, "generatedDate", "2024-06-30T12:00:00+02:00")
    learner = builder.add(root, "learner")
    builder.add(learner, "citizenship", issuer.country)
    builder.add(learner, "identifier", "urn:schac:personalUniqueCode:int:esi:example.org:123456", type="esi")
    builder.add(learner, "givenNames", given_names)
    builder.add(learner, "familyName", family_name)
    builder.add(learner, "dateOfBirth" if namespace_version == "v2" else "bday", birth_date.isoformat())

    report = builder.add(root, "report")
    issuer_element = builder.add(report, "issuer")
    builder.add(issuer_element, "country", issuer.country)
    for kind, value in issuer.identifiers:
        builder.add(issuer_element, "identifier", value, type=kind)
    builder.add(issuer_element, "title", issuer.name, lang=issuer.lang)
    builder.add(issuer_element, "url", issuer.url)

    course_credits = ["7,5" if decimal_comma and index % 4 == 0 else "6" for index in range(courses)]
    if degree_credits is None:
        degree_credits = str(sum(Decimal(credit.replace(",", ".")) for credit in course_credits))
    degree = builder.los(report, "DEG-1", "Bachelor of Science in Computer Science", "Degree Programme")
    builder.instance(degree, credits=degree_credits, result=grade)
    for index, credit in enumerate(course_credits):
        part = builder.add(degree, "hasPart")
        title = f"{_COURSE_NAMES[index % len(_COURSE_NAMES)]} {index // len(_COURSE_NAMES) + 1}"
        course = builder.los(part, f"C-{index:05d}", title, "Course")
        builder.instance(course, credits=credit, result=grade)
    builder.add(report, "issueDate", "2024-06-30T12:00:00+02:00")

    if pdf_bytes is not None:
        attachment = builder.add(root, "attachment")
        builder.add(attachment, "title", "EMREX transcript", lang="en")
        builder.add(attachment, "type", "EMREX transcript")
        content = "data:application/pdf;base64," + base64.b64encode(pdf_bytes).decode("ascii")
        builder.add(attachment, "content", content, lang="en")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class _Builder:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def tag(self, local: str) -> str:
        return f"{{{self.namespace}}}{local}"

    def add(
        self, parent: etree._Element, local: str, text: str | None = None, *, lang: str | None = None, **attrs: str
    ) -> etree._Element:
        element = etree.SubElement(parent, self.tag(local), attrs)
        if lang is not None:
            element.set(XML_LANG, lang)
        element.text = text
        return element

    def los(
        self, parent: etree._Element, code: str, title: str, kind: str, *, document_type: str | None = None
    ) -> etree._Element:
        los = self.add(parent, "learningOpportunitySpecification")
        self.add(los, "identifier", code, type="local")
        self.add(los, "title", title, lang="en")
        self.add(los, "type", kind)
        if document_type is not None:
            self.add(los, "documentType", document_type)
        return los

    def country(self, parent: etree._Element, local: str, code: str) -> None:
        """An ELMO 2.1 country: ``type="ISO"`` for alpha-2, the EU authority URI (``type="URI"``) for alpha-3."""
        if len(code) == 3:
            self.add(parent, local, EU_COUNTRY_URI + code, type="URI")
        else:
            self.add(parent, local, code, type="ISO")

    def issuer(self, parent: etree._Element, local: str, institution: Institution) -> None:
        element = self.add(parent, local)
        self.country(element, "country", institution.country)
        for kind, value in institution.identifiers:
            self.add(element, "identifier", value, type=kind)
        self.add(element, "title", institution.name, lang=institution.lang)
        self.add(element, "url", institution.url)

    def instance(self, los: etree._Element, *, credits: str, result: str) -> None:
        loi = self.add(self.add(los, "specifies"), "learningOpportunityInstance")
        self.add(loi, "start", "2023-09-01")
        self.add(loi, "date", "2024-01-31")
        self.add(loi, "status", "passed")
        self.add(loi, "resultLabel", result)
        credit = self.add(loi, "credit")
        self.add(credit, "scheme", "ects")
        self.add(credit, "value", credits)
        self.add(loi, "languageOfInstruction", "en")


EU_COUNTRY_URI = "http://publications.europa.eu/resource/authority/country/"


@dataclass(frozen=True)
class Enrolment:
    institution: Institution
    date: dt.date
    year_start: dt.date
    year_end: dt.date


def build_elmo_21(
    *,
    given_names: str,
    family_name: str,
    birth_date: dt.date,
    alternative_name: tuple[str, str] | None = None,
    citizenship: str = "GRC",
    country_of_birth: str | None = "GR",
    issuer: Institution = ATHENS,
    document_type: str | None = "Diploma",
    enrolment: Enrolment | None = None,
    courses: int = 3,
    grade: str = "8",
) -> bytes:
    """An unsigned ELMO 2.1.1 document (namespace ``tree/v2``) that the 2.1.1 XSD accepts.

    ``alternative_name`` is ``(full name, xml:lang)``; without it the element is there but empty (the XSD
    requires it). Countries of three letters are written as EU authority URIs (``type="URI"``), of two as
    ``type="ISO"``. ``document_type`` None leaves ``documentType`` out (a Diploma by the XSD's rule). With
    ``enrolment`` the degree is in progress and its instance carries the enrolment (an enrolment proof).
    """
    builder = _Builder(ELMO_NAMESPACES["v2"])
    root = etree.Element(builder.tag("elmo"), nsmap=cast(Any, {None: builder.namespace}))
    builder.add(root, "generatedDate", "2025-07-01T12:00:00+02:00")
    learner = builder.add(root, "learner")
    builder.country(learner, "citizenship", citizenship)
    builder.add(learner, "identifier", "urn:schac:personalUniqueCode:int:esi:uoa.gr:1115201800123", type="esi")
    builder.add(learner, "givenNames", given_names)
    builder.add(learner, "familyName", family_name)
    name, lang = alternative_name or (None, None)
    builder.add(learner, "alternativeName", name, lang=lang)
    builder.add(learner, "dateOfBirth", birth_date.isoformat())
    builder.add(learner, "bday", birth_date.isoformat())  # ELMO 2.1 asks EMPs to send both for a while
    if country_of_birth is not None:
        builder.country(learner, "countryOfBirth", country_of_birth)

    report = builder.add(root, "report")
    builder.issuer(report, "issuer", issuer)
    in_progress = enrolment is not None
    title = "Bachelor of Science in Informatics"
    degree = builder.los(report, "DEG-21", title, "Degree Programme", document_type=document_type)
    loi = builder.add(builder.add(degree, "specifies"), "learningOpportunityInstance")
    if enrolment is not None:
        element = builder.add(loi, "enrolment")
        builder.issuer(element, "enrolmentInstitution", enrolment.institution)
        builder.add(element, "enrolmentDate", enrolment.date.isoformat())
        year = builder.add(element, "academicYear")
        builder.add(year, "start", enrolment.year_start.isoformat())
        builder.add(year, "end", enrolment.year_end.isoformat())
    builder.add(loi, "start", "2021-09-01")
    if not in_progress:
        builder.add(loi, "date", "2025-06-30")
    builder.add(loi, "duration", "P4Y")
    builder.add(loi, "status", "in-progress" if in_progress else "passed")
    if not in_progress:
        builder.add(loi, "resultLabel", grade)
    credit = builder.add(loi, "credit")
    builder.add(credit, "scheme", "ects")
    builder.add(credit, "value", str(courses * 6))
    builder.add(loi, "languageOfInstruction", "el")
    for index in range(courses):
        part = builder.add(degree, "hasPart")
        course = builder.los(part, f"C21-{index:04d}", _COURSE_NAMES[index % len(_COURSE_NAMES)], "Course")
        builder.instance(course, credits="6", result=grade)
    builder.add(report, "issueDate", "2025-07-01T12:00:00+02:00")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def sample_elmo(courses: int, *, pdf_size: int = 0, namespace_version: str = "v1") -> bytes:
    """The demo applicant's unsigned transcript (Anna Maria de Vries, born 2001-02-03) with a PDF of ``pdf_size``."""
    return build_elmo(
        given_names="Anna Maria",
        family_name="de Vries",
        birth_date=dt.date(2001, 2, 3),
        courses=courses,
        pdf_bytes=make_pdf(pdf_size) if pdf_size else None,
        namespace_version=namespace_version,
    )


def sign_elmo(xml: bytes, identity: SigningIdentity, *, style: SignatureStyle = "java-sha1-inclusive") -> bytes:
    """``xml`` with an enveloped signature appended to its root, as a real EMP of that style signs."""
    from signxml.algorithms import SignatureConstructionMethod
    from signxml.signer import XMLSigner

    method, digest, c14n, java_style = _STYLES[style]

    class _EmpSigner(XMLSigner):
        def check_deprecated_methods(self) -> None:
            """Real EMPs still sign with SHA-1; this factory must be able to as well."""

        def _tostring(self, xml_node: Any, **kwargs: Any) -> bytes:
            """signxml's ASCII copies cannot be re-read when a name is not ASCII; Java signers have no such limit."""
            copy: bytes = etree.tostring(xml_node, encoding="utf-8", **kwargs)
            return copy

    signer = _EmpSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=method,
        digest_algorithm=digest,
        c14n_algorithm=c14n,
    )
    signer.excise_empty_xmlns_declarations = True
    if java_style:
        signer.namespaces = cast(Any, {None: DS_NS})
    root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    signed = signer.sign(root, key=identity.key_pem, cert=identity.cert_pem.decode("ascii"))
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def encode_elmo(xml: bytes, *, gzip: bool = True) -> str:
    """The ``elmo`` form value: base64 of gzip (the standard) or of the plain XML."""
    payload = gzip_module.compress(xml, mtime=0) if gzip else xml
    return base64.b64encode(payload).decode("ascii")


def make_pdf(size_bytes: int = 2048) -> bytes:
    """A small valid one-page PDF padded to about ``size_bytes`` with an unreferenced binary stream.

    The padding is pseudo-random (like the compressed streams of a real PDF), so gzip does not shrink it.
    """
    text = b"BT /F1 12 Tf 72 770 Td (EMREX transcript) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
    ]
    padding = hashlib.shake_256(b"emrex-test-pdf").digest(max(0, size_bytes - 700))
    objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(padding), padding))
    body = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(body)
