"""The local registry catalogue lists the mock EMP with its certificate, in the EWP format the EMC parses."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from emrex_emc.core.registry_parse import parse_registry
from emrex_emc.local.catalogue import MOCK_EMP_NAME, local_catalogue, registry_source, write_local_catalogue
from emrex_emc.local.elmo_factory import generate_signing_identity


def test_catalogue_round_trips_through_the_emc_parser(tmp_path: Path) -> None:
    identity = generate_signing_identity("Catalogue test")
    path = tmp_path / "state" / "catalogue-v1.xml"
    data = write_local_catalogue(path, "https://emp.test/emp", identity.cert_der)
    assert path.read_bytes() == data
    (emp,) = parse_registry(data).emps
    assert (emp.name, emp.url, emp.country) == (MOCK_EMP_NAME, "https://emp.test/emp", "FI")
    assert emp.certificates == (identity.cert_der,)


def test_the_catalogue_declares_the_institutions_the_mock_emp_covers(catalogue_schema: etree.XMLSchema) -> None:
    data = local_catalogue("https://emp.test/emp", generate_signing_identity("Coverage test").cert_der)
    assert catalogue_schema.validate(etree.fromstring(data)), catalogue_schema.error_log  # the EWP schemas
    (emp,) = parse_registry(data).emps
    assert [institution.hei_id for institution in emp.covered] == ["voorbeeld.example.nl", "uoa.gr"]
    athens = emp.covered[1]
    assert athens.other_ids == (("erasmus", "G  ATHINE01"), ("pic", "999863963"))
    assert athens.names == (("en", "National and Kapodistrian University of Athens"),)


def test_registry_option_keeps_urls_and_makes_paths_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert registry_source("https://dev-registry.erasmuswithoutpaper.eu/catalogue-v1.xml").startswith("https://")
    assert registry_source("file:///srv/catalogue.xml") == "file:///srv/catalogue.xml"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "catalogue.xml").write_text("<catalogue/>")
    resolved = registry_source("catalogue.xml")
    assert Path(resolved).is_absolute() and resolved.endswith("catalogue.xml")
    with pytest.raises(ValueError, match="no file at"):
        registry_source("missing.xml")
