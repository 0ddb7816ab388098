"""What the chooser offers from a registry snapshot: one list for both protocols, the protocol invisible.

Two rules apply at the moment a student looks (pure; the snapshot may have been fetched hours before):

1. **Scheduled entries** (EMREG ``activeByDateTimeUtc``): per EMP id, the entry in effect is the one whose
   activation moment is the latest that has passed; an entry whose moment lies ahead is not offered yet.
2. **One listing per institution, EMREX 2.0 preferred**: an EMREX 1 EMP of a country where EMREX 2.0 EMPs
   are listed is compared with them by name (case and accents ignored). The same provider (same name, or
   a per-institution EMP whose institution a 2.0 EMP lists) is dropped; an EMREX 1 EMP whose institutions
   all appear under 2.0 EMPs is dropped; otherwise only the institutions a 2.0 EMP lists are left out of
   its listing. When an EMREX 1 EMP is dropped in favour of ONE 2.0 EMP, its registry certificates stay
   with that 2.0 EMP: they check the enveloped XML signature inside the 2.0 results (the detached JWS
   remains the trust anchor).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from emrex_emc.core.protocol import ProtocolVersion
from emrex_emc.core.registry import Emp

MAX_PINNED_CERTIFICATES = 5
"""Certificates a 2.0 EMP may carry over from EMREX 1 twins (the registry keeps at most 5 per EMP)."""
_NEVER = datetime.min.replace(tzinfo=UTC)


def fold(text: str) -> str:
    """Case-, accent- and spacing-insensitive form of a name ("Université  de Liège" == "universite de liege")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().split())


def offered_emps(emps: Iterable[Emp], now: datetime) -> tuple[Emp, ...]:
    """The EMPs a student may choose from at ``now`` (timezone-aware), in the snapshot's order."""
    return _one_listing_per_institution(in_effect(emps, now))


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


def _one_listing_per_institution(emps: tuple[Emp, ...]) -> tuple[Emp, ...]:
    names = _emrex2_names(emps)
    carried: dict[str, list[bytes]] = {}
    kept: list[Emp] = []
    for emp in emps:
        covering = names.get(emp.country.upper(), {})
        if emp.protocol is ProtocolVersion.EMREX_2 or not covering:
            kept.append(emp)
            continue
        same = covering.get(fold(emp.name)) or covering.get(fold(emp.label))
        if same is not None:
            carried.setdefault(same.id, []).extend(emp.certificates)
            continue
        left = tuple(name for name in emp.institutions if fold(name) not in covering)
        if emp.institutions and not left:
            owners = {covering[fold(name)].id for name in emp.institutions}
            if len(owners) == 1:
                carried.setdefault(owners.pop(), []).extend(emp.certificates)
            continue
        kept.append(emp if len(left) == len(emp.institutions) else replace(emp, institutions=left))
    return tuple(_with_certificates(emp, carried.get(emp.id, ())) for emp in kept)


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


def _with_certificates(emp: Emp, extra: Iterable[bytes]) -> Emp:
    certificates = list(emp.certificates)
    for der in extra:
        if der not in certificates and len(certificates) < MAX_PINNED_CERTIFICATES:
            certificates.append(der)
    return emp if len(certificates) == len(emp.certificates) else replace(emp, certificates=tuple(certificates))
