"""The local registry: an EWP catalogue listing the mock EMP with its signing certificate.

The mock EMP serves it at ``/catalogue-v1.xml``, so the real registry refresh fetches it over HTTP
exactly as it fetches the EWP Registry in AWS. A copy is written to ``.local/`` for people to look at.
"""

from __future__ import annotations

from pathlib import Path

from emrex_emc.core.registry import Emp, emp_id
from emrex_emc.core.registry_parse import render_ewp_catalogue
from emrex_emc.core.text import clip

MOCK_EMP_COUNTRY = "FI"
MOCK_EMP_NAME = "EMREX mock EMP (local)"
MOCK_EMP_INSTITUTION = "Demo University of Testing"


def mock_emp_entry(url: str, certificate_der: bytes) -> Emp:
    return Emp(
        id=emp_id(MOCK_EMP_COUNTRY, url),
        name=MOCK_EMP_NAME,
        url=url,
        country=MOCK_EMP_COUNTRY,
        institutions=(MOCK_EMP_INSTITUTION,),
        certificates=(certificate_der,),
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
