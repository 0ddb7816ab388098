"""``emrex-emc registry [URL_OR_FILE] [--json]``: what students would be offered.

Fetches and parses an EWP catalogue, an EMREG v1 list or an EMREX 2.0 EMREG v2 list (told apart by their
content; default ``$EMREX_REGISTRY_URL``, else the EWP production catalogue) and lists every EMP with its
host, the institutions it covers (hei-id, other ids and names; an EMREG list gives names only) and its
certificates (SHA-256 fingerprint, subject, expiry; expired ones flagged) or, for EMREX 2.0, its endpoints,
the SHA-256 of its public key and when a scheduled entry takes effect. Exit status 1 with a message when
the registry cannot be fetched or parsed.
Registry entries are hostile: the text listing shows each of their values clipped to one clean line,
the JSON listing has them whole with every terminal control character escaped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from emrex_emc.commands import described
from emrex_emc.core.errors import EmrexError
from emrex_emc.core.registry import Emp
from emrex_emc.core.text import MAX_MESSAGE_CHARS, clip, json_for_terminal


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "registry",
        help="list the EMPs a registry offers (EWP catalogue, EMREG v1 or v2 JSON)",
        description=described(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "source",
        nargs="?",
        help="https URL, file:// URL or path (default: $EMREX_REGISTRY_URL, else the EWP DEV registry the functions "
        "default to)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=_run)


def default_source() -> str:
    """What the deployed functions read when nothing is configured: the same registry, so this command shows
    what students would be offered."""
    from emrex_emc.settings import DEFAULT_REGISTRY_URL

    return os.environ.get("EMREX_REGISTRY_URL") or DEFAULT_REGISTRY_URL


def _run(args: argparse.Namespace) -> int:
    from emrex_emc.adapters.registry_fetch import RegistryFetcher
    from emrex_emc.core.registry_parse import parse_registry

    source = args.source or default_source()
    now = datetime.now(UTC)
    try:
        fetched = RegistryFetcher().fetch(source, now=now)
        parsed = parse_registry(fetched.body or b"")
    except EmrexError as exc:
        print(
            f"emrex-emc registry: cannot read the registry at {source}: {exc.code.value}: {exc.message}",
            file=sys.stderr,
        )
        return 1
    emps = sorted(parsed.emps, key=lambda emp: (emp.country, emp.label.casefold()))
    listing = {
        "source": source,
        "format": parsed.source,
        "checked_at": now.isoformat(),
        "emps": [_emp_json(emp, now) for emp in emps],
        "notices": [notice.to_json() for notice in parsed.notices],
    }
    print(json_for_terminal(json.dumps(listing, indent=2, ensure_ascii=False)) if args.json else _text(listing))
    return 0


def _emp_json(emp: Emp, now: datetime) -> dict[str, Any]:
    return {
        "id": emp.id,
        "name": emp.name,
        "label": emp.label,
        "country": emp.country,
        "protocol": emp.protocol.value,
        "url": emp.url,
        "host": emp.host,
        "institutions": list(emp.institutions),
        "covered": [institution.to_json() for institution in emp.covered],
        "single_fetch": emp.single_fetch,
        "certificates": [certificate_summary(der, now) for der in emp.certificates],
        "emrex2": emp.emrex2.to_json() if emp.emrex2 is not None else None,
        "public_key_sha256": emp.public_key_sha256,
        "active_from": emp.active_from.isoformat() if emp.active_from else None,
        "in_effect": emp.is_active(now),
    }


def certificate_summary(der: bytes, now: datetime) -> dict[str, Any]:
    """Fingerprint, subject and expiry of one DER certificate (``expired`` compared with ``now``)."""
    from cryptography import x509

    from emrex_emc.core.certs import subject_text

    summary: dict[str, Any] = {"sha256": hashlib.sha256(der).hexdigest()}
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        return {**summary, "subject": None, "not_after": None, "expired": None, "error": "unreadable certificate"}
    not_after = certificate.not_valid_after_utc
    return {
        **summary,
        "subject": subject_text(certificate),
        "not_after": not_after.isoformat(),
        "expired": not_after < now,
    }


def _covered_text(institution: dict[str, Any]) -> str:
    """``uio.no (University of Oslo)``: the hei-id with the first name, or the name alone."""
    names = [clip(name["value"]) for name in institution["names"][:1]]
    if institution["hei_id"] is None:
        return names[0] if names else "?"
    return clip(institution["hei_id"]) + (f" ({names[0]})" if names else "")


def _text(listing: dict[str, Any]) -> str:
    emps = listing["emps"]
    lines = [f"Registry {clip(listing['source'])} ({listing['format']}): {len(emps)} EMP(s)", ""]
    for emp in emps:
        title = f"{clip(emp['country'], 10)}  {clip(emp['label'])}"
        if emp["label"] != emp["name"]:
            title += f"  (EMP {clip(emp['name'])}, one per institution)"
        lines += [title, f"    protocol:     {emp['protocol']}"]
        lines += [f"    url:          {clip(emp['url'])}", f"    id:           {clip(emp['id'])}"]
        if emp["emrex2"] is not None:
            lines.append(f"    token:        {clip(emp['emrex2']['token_url'])}")
            lines.append(f"    results:      {clip(emp['emrex2']['resource_url'])}")
            lines.append(f"    public key:   sha256 {emp['public_key_sha256']}")
        if emp["active_from"] is not None:
            lines.append(f"    takes effect: {emp['active_from']}{'' if emp['in_effect'] else '  (SCHEDULED)'}")
        if emp["institutions"]:
            institutions = "; ".join(clip(name) for name in emp["institutions"])
            lines.append(f"    institutions: {clip(institutions, MAX_MESSAGE_CHARS)}")
        if emp["covered"]:
            covered = "; ".join(_covered_text(institution) for institution in emp["covered"])
            lines.append(f"    covers:       {len(emp['covered'])}: {clip(covered, MAX_MESSAGE_CHARS)}")
        for cert in emp["certificates"]:
            lines.append(f"    certificate:  sha256 {cert['sha256']}")
            if cert["subject"] is None:
                lines.append("                  UNREADABLE")
                continue
            flag = "  EXPIRED" if cert["expired"] else ""
            lines.append(f"                  subject {cert['subject']}")
            lines.append(f"                  expires {cert['not_after']}{flag}")
        lines.append("")
    if not emps:
        lines += ["No EMREX EMP found in this registry.", ""]
    if listing["notices"]:
        lines.append("Skipped entries and warnings:")
        lines += [f"  {notice['code']}: {notice['message']}" for notice in listing["notices"]]
    return "\n".join(lines).rstrip("\n")
