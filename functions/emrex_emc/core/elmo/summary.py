"""What an ELMO document adds up to, for people and dashboards: its issuers, course count, ECTS (counted once
per branch, see :func:`counted_ects`), reports, attachments and document types."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from emrex_emc.core.elmo.primitives import decimal_str, preferred_text
from emrex_emc.core.outcome import IssuerSummary, ResultSummary

if TYPE_CHECKING:
    from emrex_emc.core.elmo.model import ElmoDocument, LearningOpportunity


def summarize(document: ElmoDocument) -> ResultSummary:
    """The document's summary, every issuer included (its JSON is ``summary`` of the results JSON,
    ``emrex_emc/schemas/elmo-results.schema.json``; an outcome keeps at most ``MAX_ISSUERS`` of them)."""
    issuers = tuple(
        IssuerSummary(
            name=preferred_text(report.issuer.titles),
            country=report.issuer.country,
            identifiers=tuple((identifier.type, identifier.value) for identifier in report.issuer.identifiers),
        )
        for report in document.reports
    )
    courses = sum(1 for r in document.reports for los in r.all_learning_opportunities() if los.is_course)
    ects = sum((counted_ects(r.learning_opportunities) for r in document.reports), Decimal(0))
    return ResultSummary(
        issuers=issuers,
        course_count=courses,
        total_ects=decimal_str(ects),
        report_count=len(document.reports),
        attachment_count=sum(1 for _ in document.all_attachments()),
        document_types=tuple(document.document_types),
    )


def counted_ects(nodes: tuple[LearningOpportunity, ...]) -> Decimal:
    """ECTS of a LOS forest, never counting a node together with its ancestors or descendants.

    Rule: walking top-down, the first node on each branch whose instance is *passed* (status absent
    or ``passed``) and carries an ECTS value is counted and its subtree is skipped; nodes without ECTS
    or not passed are not counted and their parts are examined instead. So a passed degree programme
    with 180 ECTS counts 180 (not its courses again), and an in-progress programme counts its passed
    courses.
    """
    total = Decimal(0)
    for node in nodes:
        instance = node.instance
        if instance is not None and instance.passed and instance.ects is not None:
            total += instance.ects
        else:
            total += counted_ects(node.parts)
    return total
