"""``emrex-emc verify``: run the trust pipeline on a saved ``elmo`` value and say why it passes or fails.

The keys are given with ``--cert`` (the EMP's certificates), or found in a registry with ``--registry``
(an EWP catalogue or EMREG list, URL or file): every EMP's certificates are tried, or only those of the EMP
named with ``--emp``; the output then names the EMP whose key verified (``emp``) and judges each report's
issuer against what that EMP covers (``provenance``: covered, not_covered, same_country or unknown).

EMREX 2.0 results: ``emrex-emc verify BODY --detached-jws VALUE_OR_FILE --public-key PEM`` re-verifies the
stored evidence offline (``payload.txt`` is the results body as received, ``x-signature.json`` holds the
``X-Signature`` value and the EMP's key): ``--detached-jws x-signature.json`` alone takes both from that file
(``--public-key`` overrides its key); ``--cert`` (or ``--registry``) then checks an enveloped XML
signature inside too.

Exit 0: verified and accepted (an identity mismatch or a not_covered issuer is a verdict to review, not a
refusal). Exit 1: refused (also: no EMP's key verifies), with a stable error code and a message on stderr
(and JSON on stdout with ``--json``). Exit 2: usage errors (unreadable files or registry, an unknown
``--emp``, partial or malformed expectations, an --xsd-dir without the schemas). lxml and signxml are
imported only when the command runs. What it prints from documents, certificates and registries holds no
terminal control characters (see ``emrex_emc.core.text``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emrex_emc.commands import described

if TYPE_CHECKING:
    from emrex_emc.core.pipeline import VerifiedElmo
    from emrex_emc.core.provenance import Provenance
    from emrex_emc.core.registry import Emp
    from emrex_emc.core.signature_facts import SignatureFacts

EXIT_ACCEPTED = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
MAX_CERTIFICATE_FILE_BYTES = 1024 * 1024


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="verify a signed ELMO document (the elmo form value or an XML file) against EMP certificates",
        description=described(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "payload",
        metavar="PAYLOAD",
        help="file with the elmo form value or an ELMO XML document (with --detached-jws: the results body)",
    )
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--cert", action="append", default=[], metavar="CERT", help="EMP certificate, PEM or DER (repeatable)"
    )
    keys.add_argument(
        "--registry",
        metavar="URL_OR_FILE",
        help="EWP catalogue or EMREG list (https URL, file:// URL or path): try its EMPs' certificates",
    )
    parser.add_argument(
        "--emp", metavar="NAME", help="with --registry: only this EMP's certificates (its name, label or id)"
    )
    parser.add_argument(
        "--detached-jws",
        metavar="VALUE_OR_FILE",
        help="EMREX 2.0: the results' X-Signature (header..signature), a file holding it, or the stored evidence "
        "x-signature.json (its x_signature, and its public_key unless --public-key is given)",
    )
    parser.add_argument(
        "--public-key",
        metavar="PEM",
        help="EMREX 2.0: the EMP's public key (its EMREG publicKey), PEM file; optional with x-signature.json",
    )
    parser.add_argument("--expect-given-names", metavar="N", help="the applicant's given names")
    parser.add_argument("--expect-family-name", metavar="N", help="the applicant's family name")
    parser.add_argument("--expect-birth-date", metavar="YYYY-MM-DD", help="the applicant's birth date")
    parser.add_argument("--forbid-sha1", action="store_true", help="refuse SHA-1 signatures and digests")
    parser.add_argument(
        "--strict-cert-validity", action="store_true", help="refuse certificates outside their validity period"
    )
    parser.add_argument("--xsd-dir", default=None, help="folder with the official ELMO XSDs (conformance warnings)")
    parser.add_argument("--json", action="store_true", help="print the canonical JSON result on stdout")
    parser.set_defaults(func=_run)


class _UsageError(Exception):
    pass


def _run(args: argparse.Namespace) -> int:
    from emrex_emc.core.errors import EmrexError, ErrorCode
    from emrex_emc.core.policy import PipelinePolicy, VerificationPolicy

    policy = PipelinePolicy(
        signature=VerificationPolicy(forbid_sha1=args.forbid_sha1, strict_cert_validity=args.strict_cert_validity)
    )
    payload_limit = policy.decode.max_encoded_bytes
    emrex2 = args.detached_jws is not None or args.public_key is not None
    if emrex2:
        payload_limit = policy.decode.max_decompressed_bytes
    try:
        payload = _read(args.payload, "PAYLOAD", payload_limit)
        if args.emp is not None and args.registry is None:
            raise _UsageError("--emp needs --registry")
        keys = _registry_keys(args.registry, args.emp, emrex2) if args.registry else _Keys.given(args.cert)
        expected = _expectation(args)
        _check_xsd_dir(args.xsd_dir)
        jws, public_key = _emrex2_arguments(args) if emrex2 else ("", b"")
        if not emrex2 and not keys.certificates:
            raise _UsageError("give the EMP's certificates (--cert or --registry), or --detached-jws and --public-key")
    except _UsageError as exc:
        print(f"emrex-emc verify: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    from emrex_emc.core.pipeline import verify_elmo, verify_elmo_results

    try:
        if len(payload) > payload_limit:
            raise EmrexError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"the file holds more than the limit of {payload_limit} bytes"
            )
        if emrex2:
            result = verify_elmo_results(
                payload, jws, public_key, keys.certificates, policy, expected=expected, xsd_dir=args.xsd_dir
            )
        else:
            result = verify_elmo(payload, keys.certificates, policy, expected=expected, xsd_dir=args.xsd_dir)
    except EmrexError as exc:  # its message is clipped and clean (core.errors)
        print(f"REFUSED {exc.code.value}: {exc.message}", file=sys.stderr)
        if args.json:
            print(json.dumps({"verified": False, "error": exc.to_json()}, indent=2))
        return EXIT_REFUSED
    found = keys.provenance(result)
    if args.json:
        from emrex_emc.core.text import json_for_terminal

        output = result.to_json()
        if found is not None:
            emp, provenance = found
            output.update(
                emp={"name": emp.name, "url": emp.url, "country": emp.country}, provenance=provenance.to_json()
            )
        print(json_for_terminal(json.dumps(output, indent=2, ensure_ascii=False, default=str)))
    else:
        print(_human(result, found))
    if emrex2 and args.public_key is None:  # the key came from the evidence file itself
        print(SELF_ATTESTED, file=sys.stderr)
    return EXIT_ACCEPTED


@dataclass(frozen=True)
class _Keys:
    """The certificates to verify with, and (from a registry) the EMPs they belong to."""

    certificates: list[bytes]
    emps: tuple[Emp, ...] = ()
    registry: tuple[Emp, ...] = ()

    @classmethod
    def given(cls, paths: list[str]) -> _Keys:
        return cls([_certificate(path) for path in paths])

    def provenance(self, result: VerifiedElmo) -> tuple[Emp, Provenance] | None:
        """The EMP whose certificate verified (the first of the registry holding it) and its issuers' provenance."""
        if not self.emps:
            return None
        from emrex_emc.core.provenance import Coverage, assess_provenance
        from emrex_emc.core.signature_facts import SignatureFacts

        signature = result.signature
        if isinstance(signature, SignatureFacts):
            fingerprint = signature.certificate_sha256
        else:
            fingerprint = signature.public_key_sha256
        emp = next(
            (emp for emp in self.emps if fingerprint in (*emp.certificate_fingerprints(), *emp.key_fingerprints())),
            None,
        )
        if emp is None:  # an EMREX 2.0 key given with --public-key that the registry does not list
            return None
        issuers = [report.issuer for report in result.document.reports]
        return emp, assess_provenance(issuers, Coverage.of(emp, self.registry))


def _registry_keys(source: str, name: str | None, emrex2: bool = False) -> _Keys:
    """Every EMP's certificates in the registry at ``source``, or only those of the EMPs called ``name``.

    EMREX 2.0 results are verified with ``--public-key``: their EMP may list no certificate at all."""
    from emrex_emc.adapters.registry_fetch import RegistryFetcher
    from emrex_emc.core.errors import EmrexError
    from emrex_emc.core.registry_parse import parse_registry
    from emrex_emc.core.text import clip

    try:
        fetched = RegistryFetcher().fetch(source, now=dt.datetime.now(dt.UTC))
        # the EMPs' URLs are never visited here: a local catalogue's loopback EMPs count too
        registry = parse_registry(fetched.body or b"", allow_loopback_http=True).emps
    except EmrexError as exc:
        raise _UsageError(f"cannot read the registry at {clip(source)}: {exc.code.value}: {exc.message}") from exc
    emps = registry
    if name is not None:
        wanted = name.strip().casefold()
        emps = tuple(emp for emp in registry if wanted in {emp.name.casefold(), emp.label.casefold(), emp.id})
        if not emps:
            raise _UsageError(f"the registry at {clip(source)} has no EMP named {clip(name)!r}")
    certificates = list(dict.fromkeys(der for emp in emps for der in emp.certificates))
    if not certificates and not emrex2:
        raise _UsageError(f"the registry at {clip(source)} lists no EMP with a certificate")
    return _Keys(certificates, emps, registry)


SELF_ATTESTED = (
    "emrex-emc verify: note: checked with the public key stored beside the evidence: this shows the body is what "
    "that key signed, not whose key it is (--public-key from the registry checks that too)"
)


def _read(path: str, what: str, limit: int) -> bytes:
    """The file's first ``limit + 1`` bytes: more tells the file is too large (and ``/dev/zero`` ends)."""
    try:
        with Path(path).open("rb") as file:
            return file.read(limit + 1)
    except OSError as exc:
        raise _UsageError(f"cannot read {what} file {path!r}: {exc.strerror or exc}") from exc


def _emrex2_arguments(args: argparse.Namespace) -> tuple[str, bytes]:
    """The X-Signature and the EMP's public key (DER) for EMREX 2.0 results: ``--public-key``, else the key
    the evidence file given as ``--detached-jws`` holds."""
    from emrex_emc.core.text import clip

    if args.detached_jws is None:
        raise _UsageError("--public-key needs --detached-jws")
    jws, evidence_key = _detached_jws(args.detached_jws.strip())
    if args.public_key is not None:
        key, source = _certificate(args.public_key), f"--public-key {clip(args.public_key)!r}"
    elif evidence_key is not None:
        key, source = evidence_key, f"the public_key in {clip(args.detached_jws)!r}"
    else:
        raise _UsageError("--detached-jws and --public-key must be given together (or --detached-jws x-signature.json)")
    from emrex_emc.core.jws import public_key_der

    try:
        return jws, public_key_der(key)
    except ValueError as exc:
        raise _UsageError(f"{source} is not an RSA public key of 2048+ bits ({clip(str(exc))})") from None


def _detached_jws(value: str) -> tuple[str, bytes | None]:
    """``--detached-jws``: the compact JWS (``header..signature``) given as a value or a file holding it, or the
    stored evidence ``x-signature.json`` (its ``x_signature``, and its ``public_key`` PEM when it has one)."""
    if not _is_file(value):
        return value, None
    from emrex_emc.core.text import clip

    data = _read(value, "--detached-jws", MAX_CERTIFICATE_FILE_BYTES)
    if len(data) > MAX_CERTIFICATE_FILE_BYTES:
        raise _UsageError(f"the --detached-jws file {clip(value)!r} is larger than {MAX_CERTIFICATE_FILE_BYTES} bytes")
    text = data.decode("utf-8", "replace").strip()
    if not text.startswith("{"):
        return text, None
    from emrex_emc.core.evidence import read_x_signature_evidence

    try:
        jws, key = read_x_signature_evidence(text)
    except ValueError:
        raise _UsageError(f"the --detached-jws file {clip(value)!r} is neither a JWS nor evidence JSON") from None
    if jws is None:
        raise _UsageError(f"the --detached-jws file {clip(value)!r} holds no x_signature (did the EMP send none?)")
    return jws, key.encode("utf-8") if key is not None else None


def _is_file(value: str) -> bool:
    try:
        return Path(value).is_file()
    except OSError:  # a JWS value is no file name (it may be longer than one can be)
        return False


def _certificate(path: str) -> bytes:
    data = _read(path, "--cert", MAX_CERTIFICATE_FILE_BYTES)
    if len(data) > MAX_CERTIFICATE_FILE_BYTES:
        raise _UsageError(f"the --cert file {path!r} is larger than {MAX_CERTIFICATE_FILE_BYTES} bytes")
    return data


def _check_xsd_dir(xsd_dir: str | None) -> None:
    """An --xsd-dir without the schemas would silently skip the conformance check: refuse it."""
    if xsd_dir is None:
        return
    if not Path(xsd_dir).is_dir():
        raise _UsageError(f"--xsd-dir {xsd_dir!r} is not a folder")
    from emrex_emc.core.elmo.conformance import missing_schema_files

    missing = missing_schema_files(xsd_dir)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise _UsageError(f"--xsd-dir {xsd_dir!r} does not hold the ELMO schemas (missing or unreadable: {shown})")


def _expectation(args: argparse.Namespace) -> Any:
    values = (args.expect_given_names, args.expect_family_name, args.expect_birth_date)
    if all(value is None for value in values):
        return None
    if any(value is None for value in values):
        raise _UsageError("--expect-given-names, --expect-family-name and --expect-birth-date must be given together")
    try:
        birth_date = dt.date.fromisoformat(args.expect_birth_date)
    except ValueError as exc:
        raise _UsageError(f"--expect-birth-date must be YYYY-MM-DD, got {args.expect_birth_date!r}") from exc
    from emrex_emc.core.identity import ExpectedIdentity

    return ExpectedIdentity(
        given_names=args.expect_given_names, family_name=args.expect_family_name, birth_date=birth_date
    )


def _human(result: VerifiedElmo, found: tuple[Emp, Provenance] | None = None) -> str:
    from emrex_emc.core.signature_facts import SignatureFacts
    from emrex_emc.core.text import clip

    signature = result.signature
    summary = result.document.summary
    if isinstance(signature, SignatureFacts):
        lines = [f"VERIFIED: ELMO {result.document.version}, {_xml_signature_lines(signature)}"]
    else:
        lines = [
            f"VERIFIED: ELMO {result.document.version}, signed with a detached JWS {signature.algorithm}",
            f"  public key: SHA-256 {signature.public_key_sha256}",
        ]
        if signature.enveloped is not None:
            lines.append(f"  inside: an XML signature, {_xml_signature_lines(signature.enveloped)}")
    lines.append(
        f"  reports: {summary.report_count}, courses: {summary.course_count}, "
        f"ECTS: {summary.total_ects}, attachments: {summary.attachment_count}"
    )
    if summary.document_types:
        lines.append(f"  document types: {', '.join(summary.document_types)}")
    if found is not None:
        emp, provenance = found
        lines.append(f"  EMP: {clip(emp.name)} ({emp.country}, {clip(emp.url)})")
        lines.append(f"  provenance: {provenance.verdict}")
        lines.extend(
            f"    report {report.index}: {report.verdict} ({clip(report.hei_id) if report.hei_id else 'no hei-id'})"
            for report in provenance.reports
        )
    if result.identity is not None:
        lines.append(f"  identity: {result.identity.verdict}")
        lines.extend(
            f"    {field.field}: {field.verdict} by {field.method} ({field.reason})" for field in result.identity.fields
        )
    lines.extend(f"  warning {notice.code}: {notice.message}" for notice in result.notices)
    return "\n".join(lines)


def _xml_signature_lines(signature: SignatureFacts) -> str:
    facts = signature.to_json()
    return (
        f"signed with {facts['algorithm']} ({facts['digest']} digest, {facts['c14n']})\n"
        f"  certificate: {signature.certificate_subject} (SHA-256 {signature.certificate_sha256})"
    )
