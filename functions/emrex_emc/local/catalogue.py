"""The local registry: an EWP catalogue listing the mock EMP with its signing certificate.

The mock EMP serves it at ``/catalogue-v1.xml``, so the real registry refresh fetches it over HTTP
exactly as it fetches the EWP Registry in AWS. A copy is written to ``.local/`` for people to look at.
Its host declares the institutions the mock EMP covers (:data:`MOCK_EMP_COVERS`, described in the
catalogue's ``institutions`` with their ids), so issuer provenance works locally as with the real registry:
the mock EMP's results from those institutions are ``covered``, from any other ``not_covered``.
"""

from __future__ import annotations

from pathlib import Path

from emrex_emc.core.registry import CoveredInstitution, Emp, emp_id
from emrex_emc.core.registry_parse import render_ewp_catalogue
from emrex_emc.core.text import clip
from emrex_emc.local.elmo_factory import ATHENS, VOORBEELD, Institution

MOCK_EMP_COUNTRY = "FI"
MOCK_EMP_NAME = "EMREX mock EMP (local)"
MOCK_EMP_INSTITUTION = "Demo University of Testing"
MOCK_EMP_COVERS = (VOORBEELD, ATHENS)
"""The issuers of the mock EMP's documents (all scenarios but ``issuer-not-covered``)."""


def covered_institution(institution: Institution) -> CoveredInstitution:
    """A factory institution as a catalogue describes it: its schac id is the hei-id, the others are other-ids."""
    schac = next(value for kind, value in institution.identifiers if kind == "schac")
    others = tuple((kind, value) for kind, value in institution.identifiers if kind != "schac")
    return CoveredInstitution(hei_id=schac, other_ids=others, names=((institution.lang, institution.name),))


def mock_emp_entry(url: str, certificate_der: bytes) -> Emp:
    return Emp(
        id=emp_id(MOCK_EMP_COUNTRY, url),
        name=MOCK_EMP_NAME,
        url=url,
        country=MOCK_EMP_COUNTRY,
        institutions=(MOCK_EMP_INSTITUTION,),
        certificates=(certificate_der,),
        covered=tuple(covered_institution(institution) for institution in MOCK_EMP_COVERS),
    )


def local_catalogue(emp_url: str, certificate_der: bytes) -> bytes:
    return render_ewp_catalogue([mock_emp_entry(emp_url, certificate_der)])


def write_local_catalogue(path: Path, emp_url: str, certificate_der: bytes) -> bytes:
    """Render the catalogue, write it to ``path`` and return its bytes."""
    data = local_catalogue(emp_url, certificate_der)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def registry_source(value: str) -> str:
    """``--registry``: an ``https://``/``file://`` URL passes through, a path becomes absolute.

    Raises ``ValueError`` with one line to show for anything else (another scheme, a missing file).
    """
    if "://" in value:
        scheme = value.split("://", 1)[0].lower()
        if scheme not in {"https", "http", "file"}:
            raise ValueError(f"--registry must be an https:// or file:// URL or a path, not {clip(value, 100)!r}")
        return value
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"--registry: there is no file at {clip(str(path), 200)}")
    return str(path)
