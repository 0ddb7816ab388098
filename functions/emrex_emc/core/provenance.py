"""Issuer provenance: may the EMP that signed the results vouch for the institutions that issued them?

Any EMP in the registry can sign a report "from" any university; the signature only says which EMP sent
it. Each report's issuer is therefore checked against what the registry says the EMP covers
(:class:`Coverage`, pinned to the transfer when the student chooses the EMP, because the registry may
change before the results arrive). The issuer's identifiers are compared by type (its ``schac`` with
hei-ids and ``previous-schac`` ids, ``erasmus`` with ``erasmus``, ``pic`` with ``pic``, any other type with
the same type), case-insensitively with whitespace collapsed. Per report:

- ``covered``: the issuer's identifiers the registry knows all point to one institution this EMP covers;
- ``not_covered``: one of them points to an institution the EMP does not cover, or they point to different
  institutions;
- otherwise (the registry knows none of them): ``same_country`` when the issuer's country is the EMP's,
  ``not_covered`` when it is another or none is given, ``unknown`` when the issuer has neither identifiers
  nor a country.

The overall verdict is the worst (:data:`WORST_FIRST`). It is not a refusal: admissions decide.
Pure and light: the start function builds the coverage, the callback and the CLI assess with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from emrex_emc.core.registry import CoveredInstitution, Emp, fold_id
from emrex_emc.core.text import clip

if TYPE_CHECKING:  # annotations only: the ELMO model is not needed to load this module
    from emrex_emc.core.elmo.model import Issuer

ProvenanceVerdict = Literal["covered", "not_covered", "same_country", "unknown"]
WORST_FIRST: tuple[ProvenanceVerdict, ...] = ("not_covered", "unknown", "same_country", "covered")
"""Verdicts from worst to best: the overall verdict is the worst of the reports'."""
UNKNOWN: ProvenanceVerdict = "unknown"
"""Also the verdict of a document without reports."""
MAX_REPORTS = 50
"""Reports listed in a provenance (the verdict covers all of them): bounds outcomes and events."""
MAX_ELSEWHERE_KEYS = 3_000
"""Identifiers of other institutions pinned with a transfer (about 150 KB at most in its item)."""
MAX_HEI_ID_CHARS = 100
_KIND_ALIASES = {"previous-schac": "schac", "euc": "erasmus-charter"}
"""Catalogue ``other-id`` types that name the same kind as another (the registry spec's aliases)."""


def identifier_key(kind: str | None, value: str) -> str | None:
    """``kind:value`` as compared (``erasmus:g athine01``); None for an identifier without type or value."""
    folded = fold_id(value)
    if not kind or not folded:
        return None
    kind = kind.strip().casefold()
    return f"{_KIND_ALIASES.get(kind, kind)}:{folded}"


def institution_keys(institution: CoveredInstitution) -> list[str]:
    """Every identifier key of a covered institution: its hei-id as ``schac``, then its other ids."""
    keys = [identifier_key("schac", institution.hei_id)] if institution.hei_id else []
    keys += [identifier_key(kind, value) for kind, value in institution.other_ids]
    return [key for key in keys if key is not None]


@dataclass(frozen=True)
class Coverage:
    """What provenance needs to know of one EMP: its country, what it covers, what the registry knows besides.

    ``covered`` holds the EMP's institutions (hei-id and other ids); ``elsewhere`` maps the identifier keys
    of institutions the registry lists for other EMPs (and this one does not cover) to their hei-id.
    """

    country: str
    covered: tuple[CoveredInstitution, ...] = ()
    elsewhere: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, emp: Emp, registry: Iterable[Emp]) -> Coverage:
        """The coverage of ``emp`` within ``registry`` (the institutions of the EMP's country first, when the
        other institutions' identifiers are more than :data:`MAX_ELSEWHERE_KEYS`)."""
        covered = tuple(
            CoveredInstitution(hei_id=institution.hei_id, other_ids=institution.other_ids)
            for institution in emp.covered
            if institution.hei_id or institution.other_ids
        )
        own = {fold_id(institution.hei_id) for institution in covered if institution.hei_id}
        others = sorted(
            (other for other in registry if other.id != emp.id), key=lambda other: other.country != emp.country
        )
        elsewhere: dict[str, str] = {}
        for other in others:
            for institution in other.covered:
                if not institution.hei_id or fold_id(institution.hei_id) in own:
                    continue
                for key in institution_keys(institution):
                    if len(elsewhere) >= MAX_ELSEWHERE_KEYS:
                        return cls(emp.country, covered, elsewhere)
                    elsewhere.setdefault(key, institution.hei_id)
        return cls(emp.country, covered, elsewhere)

    def to_json(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "covered": [
                {"hei_id": institution.hei_id, "other_ids": [[kind, value] for kind, value in institution.other_ids]}
                for institution in self.covered
            ],
            "elsewhere": dict(self.elsewhere),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Coverage:
        return cls(
            country=str(data.get("country", "")),
            covered=tuple(
                CoveredInstitution(
                    hei_id=None if item.get("hei_id") is None else str(item["hei_id"]),
                    other_ids=tuple((str(kind), str(value)) for kind, value in item.get("other_ids") or ()),
                )
                for item in data.get("covered") or ()
            ),
            elsewhere={str(key): str(value) for key, value in (data.get("elsewhere") or {}).items()},
        )


@dataclass(frozen=True)
class ReportProvenance:
    """The provenance verdict of one report's issuer."""

    index: int
    """The report's position in the document (0 = first)."""
    verdict: ProvenanceVerdict
    hei_id: str | None
    """The hei-id the issuer's identifiers point to in the registry, else the issuer's own ``schac`` identifier."""

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "verdict": self.verdict, "hei_id": self.hei_id}


@dataclass(frozen=True)
class Provenance:
    """Whether the EMP covers the institutions its reports name: the worst report verdict, and each report's."""

    verdict: ProvenanceVerdict
    reports: tuple[ReportProvenance, ...] = ()
    """The first :data:`MAX_REPORTS` reports."""

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reports": [report.to_json() for report in self.reports]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Provenance:
        return cls(
            verdict=_verdict(data.get("verdict")),
            reports=tuple(
                ReportProvenance(
                    index=int(item.get("index", 0)),
                    verdict=_verdict(item.get("verdict")),
                    hei_id=None if item.get("hei_id") is None else str(item["hei_id"]),
                )
                for item in data.get("reports") or ()
            ),
        )


def _verdict(value: object) -> ProvenanceVerdict:
    return next((verdict for verdict in WORST_FIRST if verdict == value), UNKNOWN)


def assess_provenance(issuers: Sequence[Issuer], coverage: Coverage) -> Provenance:
    """The provenance of a document whose reports have these ``issuers`` (in order), sent by this EMP."""
    index = _Index(coverage)
    reports = [index.assess(position, issuer) for position, issuer in enumerate(issuers)]
    verdicts = {report.verdict for report in reports}
    overall = next((verdict for verdict in WORST_FIRST if verdict in verdicts), UNKNOWN)
    return Provenance(verdict=overall, reports=tuple(reports[:MAX_REPORTS]))


class _Index:
    """Identifier key -> the institutions (folded hei-id -> (hei-id, covered by this EMP)) it points to."""

    def __init__(self, coverage: Coverage) -> None:
        self.country = coverage.country.upper()
        self.targets: dict[str, dict[str, tuple[str, bool]]] = {}
        for institution in coverage.covered:
            keys = institution_keys(institution)
            name = institution.hei_id or (institution.other_ids[0][1] if institution.other_ids else "")
            for key in keys:
                self.targets.setdefault(key, {})[fold_id(name)] = (name, True)
        for key, hei_id in coverage.elsewhere.items():
            self.targets.setdefault(key, {}).setdefault(fold_id(hei_id), (hei_id, False))

    def assess(self, position: int, issuer: Issuer) -> ReportProvenance:
        pointed: dict[str, tuple[str, bool]] = {}
        for identifier in issuer.identifiers:
            key = identifier_key(identifier.type, identifier.value)
            if key is not None:
                pointed.update(self.targets.get(key, {}))
        own_schac = next((i.value for i in issuer.identifiers if (i.type or "").strip().casefold() == "schac"), None)
        verdict: ProvenanceVerdict
        if len(pointed) == 1:
            [(hei_id, covered)] = pointed.values()
            verdict = "covered" if covered else "not_covered"
            return ReportProvenance(position, verdict, clip(hei_id, MAX_HEI_ID_CHARS) or None)
        if pointed:  # different institutions
            return ReportProvenance(position, "not_covered", clip(own_schac, MAX_HEI_ID_CHARS) if own_schac else None)
        if issuer.country:
            verdict = "same_country" if issuer.country.upper() == self.country else "not_covered"
        else:
            verdict = "not_covered" if issuer.identifiers else "unknown"
        return ReportProvenance(position, verdict, clip(own_schac, MAX_HEI_ID_CHARS) if own_schac else None)
