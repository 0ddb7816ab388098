"""ELMO: version detection, the typed model and reader, canonical JSON, XSD conformance warnings.

``read_elmo`` must only ever be given the tree whose signature was verified.
"""

from emrex_emc.core.elmo.conformance import check_conformance
from emrex_emc.core.elmo.model import (
    AcademicTerm,
    Attachment,
    AttachmentContent,
    Credit,
    ElmoDocument,
    GradingScheme,
    Group,
    Grouping,
    GroupType,
    Identifier,
    Instance,
    Issuer,
    Learner,
    LearningOpportunity,
    Level,
    LocalizedText,
    Report,
    counted_ects,
    dumps_canonical,
)
from emrex_emc.core.elmo.reader import read_elmo
from emrex_emc.core.elmo.versions import NAMESPACES, detect_version

__all__ = [
    "NAMESPACES",
    "AcademicTerm",
    "Attachment",
    "AttachmentContent",
    "Credit",
    "ElmoDocument",
    "GradingScheme",
    "Group",
    "GroupType",
    "Grouping",
    "Identifier",
    "Instance",
    "Issuer",
    "Learner",
    "LearningOpportunity",
    "Level",
    "LocalizedText",
    "Report",
    "check_conformance",
    "counted_ects",
    "detect_version",
    "dumps_canonical",
    "read_elmo",
]
