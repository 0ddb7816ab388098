"""What the chooser offers from a registry snapshot: one list for both protocols, the protocol invisible.

Two rules apply at the moment a student looks (pure; the snapshot may have been fetched hours before):

1. **Scheduled entries** (EMREG ``activeByDateTimeUtc``): per EMP id, the entry in effect is the one whose
   activation moment is the latest that has passed; an entry whose moment lies ahead is not offered yet.
2. **One listing per institution, EMREX 2.0 preferred**: an EMREX 1 EMP of a country where EMREX 2.0 EMPs
   are listed is compared with them by name (case and accents ignored). The same provider (same name, or
   a per-institution EMP whose institution a 2.0 EMP lists) is dropped; an EMREX 1 EMP whose institutions
   all appear under 2.0 EMPs is dropped; otherwise only the institutions a 2.0 EMP lists are left out of
   its listing.

What a 2.0 EMP takes over from the EMREX 1 EMP it replaces (its twin) depends on proof, as a name is copied
by anyone (:func:`proves_same_provider`):

- its registry certificates, which check the enveloped XML signature inside the 2.0 results (the detached
  JWS remains the trust anchor): by name, when ONE 2.0 EMP replaces it; when several do (a name claimed
  twice), only the one with proof, if exactly one has it;
- the institutions it covers, with their ids (what issuer provenance checks against: EMREG lists names
  only): only with proof. A proven twin takes all of them; otherwise a proven 2.0 EMP takes each covered
  institution the catalogue names as one it lists. Without proof a 2.0 EMP covers what EMREG lists for it.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from emrex_emc.core.protocol import ProtocolVersion
from emrex_emc.core.registry import CoveredInstitution, Emp, fold_id

MAX_PINNED_CERTIFICATES = 5
"""Certificates a 2.0 EMP may carry over from EMREX 1 twins (the registry keeps at most 5 per EMP)."""
MAX_COVERED = 200
"""Covered institutions a 2.0 EMP may hold with those it takes over (the registry keeps at most 200 per EMP)."""
_NEVER = datetime.min.replace(tzinfo=UTC)


def fold(text: str) -> str:
    """Case-, accent- and spacing-insensitive form of a name ("Université  de Liège" == "universite de liege")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().split())


def offered_emps(emps: Iterable[Emp], now: datetime) -> tuple[Emp, ...]:
    """The EMPs a student may choose from at ``now`` (timezone-aware), in the snapshot's order."""
    return one_listing_per_institution(in_effect(emps, now))


def in_effect(emps: Iterable[Emp], now: datetime) -> tuple[Emp, ...]:
    """Per id, the entry whose activation moment is the latest not after ``now``."""
    chosen: dict[str, Emp] = {}
    for emp in emps:
        if not emp.is_active(now):
            continue
        held = chosen.get(emp.id)
        if held is None or (emp.active_from or _NEVER) > (held.active_from or _NEVER):
            chosen[emp.id] = emp
    return tuple(chosen.values())


def one_listing_per_institution(emps: tuple[Emp, ...]) -> tuple[Emp, ...]:
    """Rule 2 on the entries in effect: the chooser's list, each 2.0 EMP with what it took over from its twins."""
    claims = _emrex2_claims(emps)
    taken: dict[str, _TakenOver] = {}
    kept: list[Emp] = []
    for emp in emps:
        covering = claims.get(emp.country.upper(), {})
        if emp.protocol is ProtocolVersion.EMREX_2 or not covering:
            kept.append(emp)
            continue
        left = tuple(name for name in emp.institutions if fold(name) not in covering)
        same = covering.get(fold(emp.name)) or covering.get(fold(emp.label)) or ()
        proven = _proof_for(emp)
        twin = _twin(emp, same, covering, left, proven)
        if twin is not None:
            taken.setdefault(twin.id, _TakenOver()).add(emp.certificates, ())
        if twin is not None and proven(twin):
            taken[twin.id].add((), emp.covered)
        else:
            for institution in emp.covered:
                for owner in _claimants((name for _, name in institution.names), covering):
                    if proven(owner):
                        taken.setdefault(owner.id, _TakenOver()).add((), (institution,))
        if same or (emp.institutions and not left):
            continue  # the same provider, or every institution is listed under 2.0 EMPs
        kept.append(emp if len(left) == len(emp.institutions) else replace(emp, institutions=left))
    return tuple(taken[emp.id].given_to(emp) if emp.id in taken else emp for emp in kept)


def proves_same_provider(emrex2: Emp, emrex1: Emp) -> bool:
    """Whether the registries show that an EMREX 2.0 EMP (EMREG v2) is run by the same provider as an EMREX 1
    EMP (the EWP catalogue), beyond a name that any EMREG entry may copy. Either:

    - its EMREG ``publicKey`` is the key of one of the EMREX 1 EMP's certificates (equal DER
      SubjectPublicKeyInfo): results verify only with that provider's key; or
    - the host of its resource URL, where its signed results come from, is the EMREX 1 EMP's URL host, or one
      is a subdomain of the other, label by label (``emrex.sikt.no`` and ``sikt.no``). Hosts that merely share
      a parent (``a.ac.uk`` and ``b.ac.uk``) prove nothing, nor does a one-label parent; IP addresses only when
      equal. The authorization and token URLs prove nothing: an entry may name another provider's without
      holding them, and still serve results of its own from its resource URL.

    Only then does the 2.0 EMP take over the institutions the EMREX 1 EMP covers (issuer provenance).
    """
    if emrex2.emrex2 is None:
        return False
    ours, theirs = _host(emrex2.emrex2.resource_url), _host(emrex1.url)
    if ours and theirs and _related_hosts(ours, theirs):
        return True
    return bool(emrex2.public_key) and emrex2.public_key in _certificate_keys(emrex1.certificates)


def _host(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".")


def _related_hosts(one: str, other: str) -> bool:
    """The same host, or one a subdomain of the other (the parent of two labels at least; IP addresses: equal)."""
    if one == other:
        return True
    if _is_ip_address(one) or _is_ip_address(other):
        return False
    child, parent = (one, other) if len(one) > len(other) else (other, one)
    return "." in parent and child.endswith(f".{parent}")


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _certificate_keys(certificates: Iterable[bytes]) -> set[bytes]:
    """DER SubjectPublicKeyInfo of each readable certificate (an unreadable one proves nothing)."""
    from cryptography import x509  # only when a name matched: the chooser's cold start stays light
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    keys: set[bytes] = set()
    for der in certificates:
        try:
            key = x509.load_der_x509_certificate(der).public_key()
        except (ValueError, UnsupportedAlgorithm):
            continue
        keys.add(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))
    return keys


def _proof_for(emrex1: Emp) -> Callable[[Emp], bool]:
    """:func:`proves_same_provider` against ``emrex1``, worked out once per 2.0 EMP."""
    known: dict[str, bool] = {}

    def proven(emrex2: Emp) -> bool:
        if emrex2.id not in known:
            known[emrex2.id] = proves_same_provider(emrex2, emrex1)
        return known[emrex2.id]

    return proven


def _twin(
    emp: Emp,
    same: tuple[Emp, ...],
    covering: dict[str, tuple[Emp, ...]],
    left: tuple[str, ...],
    proven: Callable[[Emp], bool],
) -> Emp | None:
    """The ONE 2.0 EMP that replaces this EMREX 1 EMP: the one listed under its name (``same``), or the one
    listing all its institutions; of several listed under one name, the only one with proof."""
    if same or not emp.institutions or left:
        return _the_one(same, proven)
    owners = [_the_one(covering[fold(name)], proven) for name in emp.institutions]
    return owners[0] if len({None if owner is None else owner.id for owner in owners}) == 1 else None


def _the_one(claimants: tuple[Emp, ...], proven: Callable[[Emp], bool]) -> Emp | None:
    """The only 2.0 EMP listed under a name, or of several, the only one with proof (else none of them)."""
    if len(claimants) == 1:
        return claimants[0]
    proofs = [emp for emp in claimants if proven(emp)]
    return proofs[0] if len(proofs) == 1 else None


def _claimants(names: Iterable[str], covering: dict[str, tuple[Emp, ...]]) -> tuple[Emp, ...]:
    """Every 2.0 EMP listed under one of ``names`` (once each, in the snapshot's order)."""
    found = {emp.id: emp for name in names for emp in covering.get(fold(name), ())}
    return tuple(found.values())


def _emrex2_claims(emps: Iterable[Emp]) -> dict[str, dict[str, tuple[Emp, ...]]]:
    """Per country, every name a 2.0 EMP is listed under (its name, label and institutions) -> every such EMP."""
    claims: dict[str, dict[str, tuple[Emp, ...]]] = {}
    for emp in emps:
        if emp.protocol is not ProtocolVersion.EMREX_2:
            continue
        country = claims.setdefault(emp.country.upper(), {})
        for name in {fold(name) for name in (emp.name, emp.label, *emp.institutions)}:
            country[name] = (*country.get(name, ()), emp)
    return claims


class _TakenOver:
    """What a 2.0 EMP takes over from the EMREX 1 EMPs it replaces: certificates and covered institutions."""

    def __init__(self) -> None:
        self.certificates: list[bytes] = []
        self.covered: list[CoveredInstitution] = []

    def add(self, certificates: Iterable[bytes], covered: Iterable[CoveredInstitution]) -> None:
        self.certificates.extend(certificates)
        self.covered.extend(covered)

    def given_to(self, emp: Emp) -> Emp:
        certificates = list(emp.certificates)
        for der in self.certificates:
            if der not in certificates and len(certificates) < MAX_PINNED_CERTIFICATES:
                certificates.append(der)
        covered = list(emp.covered)
        for institution in self.covered:
            if len(covered) < MAX_COVERED and not any(_same_institution(institution, held) for held in covered):
                covered.append(institution)
        return replace(emp, certificates=tuple(certificates), covered=tuple(covered))


def _same_institution(one: CoveredInstitution, other: CoveredInstitution) -> bool:
    if one.hei_id and other.hei_id:
        return fold_id(one.hei_id) == fold_id(other.hei_id)
    return one == other
