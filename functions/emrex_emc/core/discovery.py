"""What the chooser offers from a registry snapshot: one list for both protocols, the protocol invisible.

Two rules apply at the moment a student looks (pure; the snapshot may have been fetched hours before):

1. **Scheduled entries** (EMREG ``activeByDateTimeUtc``): per EMP id, the entry in effect is the one whose
   activation moment is the latest that has passed; an entry whose moment lies ahead is not offered yet.
2. **One listing per institution, EMREX 2.0 preferred**: an EMREX 1 EMP of a country where EMREX 2.0 EMPs
   are listed is compared with them by name (case and accents ignored). The same provider (same name, or
   a per-institution EMP whose institution a 2.0 EMP lists) is dropped; an EMREX 1 EMP whose institutions
   all appear under 2.0 EMPs is dropped; otherwise only the institutions a 2.0 EMP lists are left out of
   its listing. When an EMREX 1 EMP is dropped in favour of ONE 2.0 EMP (its twin), that 2.0 EMP takes over
   its registry certificates (they check the enveloped XML signature inside the 2.0 results; the detached
   JWS remains the trust anchor) and the institutions it covers, with their ids (what issuer provenance
   checks against: EMREG lists names only). Otherwise a 2.0 EMP takes over each covered institution the
   catalogue names as one the 2.0 EMP lists.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

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
    names = _emrex2_names(emps)
    taken: dict[str, _TakenOver] = {}
    kept: list[Emp] = []
    for emp in emps:
        covering = names.get(emp.country.upper(), {})
        if emp.protocol is ProtocolVersion.EMREX_2 or not covering:
            kept.append(emp)
            continue
        left = tuple(name for name in emp.institutions if fold(name) not in covering)
        twin = _twin(emp, covering, left)
        if twin is not None:
            taken.setdefault(twin.id, _TakenOver()).add(emp.certificates, emp.covered)
            continue
        for institution in emp.covered:
            owner = next((covering[fold(name)] for _, name in institution.names if fold(name) in covering), None)
            if owner is not None:
                taken.setdefault(owner.id, _TakenOver()).add((), (institution,))
        if emp.institutions and not left:
            continue  # every institution is listed under several 2.0 EMPs
        kept.append(emp if len(left) == len(emp.institutions) else replace(emp, institutions=left))
    return tuple(taken[emp.id].given_to(emp) if emp.id in taken else emp for emp in kept)


def _twin(emp: Emp, covering: dict[str, Emp], left: tuple[str, ...]) -> Emp | None:
    """The ONE 2.0 EMP that replaces this EMREX 1 EMP: the same provider, or the one listing all its institutions."""
    same = covering.get(fold(emp.name)) or covering.get(fold(emp.label))
    if same is not None or not emp.institutions or left:
        return same
    owners = {covering[fold(name)].id: covering[fold(name)] for name in emp.institutions}
    return next(iter(owners.values())) if len(owners) == 1 else None


def _emrex2_names(emps: Iterable[Emp]) -> dict[str, dict[str, Emp]]:
    """Per country, every name a 2.0 EMP is listed under (its name, label and institutions) -> that EMP."""
    names: dict[str, dict[str, Emp]] = {}
    for emp in emps:
        if emp.protocol is not ProtocolVersion.EMREX_2:
            continue
        country = names.setdefault(emp.country.upper(), {})
        for name in (emp.name, emp.label, *emp.institutions):
            country.setdefault(fold(name), emp)
    return names


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
