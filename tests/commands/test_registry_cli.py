import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emrex_emc.cli import main
from emrex_emc.core.registry import Emp, emp_id
from emrex_emc.core.registry_parse import render_ewp_catalogue
from emrex_emc.core.text import is_clean
from tests.adapters.conftest import make_certificate, to_pem
from tests.core.conftest import identity_with_subject

VALID = make_certificate("Vitnemalsportalen signing")
EXPIRED = make_certificate("Old signing", not_after=datetime.now(UTC) - timedelta(days=3))
NO_URL = "https://app.vitnemalsportalen.no/vp/init"
NORWAY = Emp(
    id=emp_id("NO", NO_URL),
    name="Norway registry",
    url=NO_URL,
    country="NO",
    institutions=("Universitetet i Oslo",),
    certificates=(VALID, EXPIRED),
)


@pytest.fixture
def catalogue_file(tmp_path):
    path = tmp_path / "catalogue-v1.xml"
    path.write_bytes(render_ewp_catalogue([NORWAY]))
    return path


def test_lists_emps_with_certificate_fingerprints_subjects_and_expiry(catalogue_file, capsys):
    assert main(["registry", str(catalogue_file)]) == 0
    out = capsys.readouterr().out
    assert "1 EMP(s)" in out
    assert "NO  Norway registry" in out
    assert f"url:          {NO_URL}" in out
    assert "institutions: Universitetet i Oslo" in out
    assert f"sha256 {hashlib.sha256(VALID).hexdigest()}" in out
    assert f"sha256 {hashlib.sha256(EXPIRED).hexdigest()}" in out
    assert "subject CN=Vitnemalsportalen signing" in out
    assert out.count("EXPIRED") == 1
    assert "subject CN=Old signing" in out.split("EXPIRED")[0]


def test_json_output(catalogue_file, capsys):
    assert main(["registry", catalogue_file.as_uri(), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["format"] == "ewp"
    (emp,) = listing["emps"]
    assert (emp["id"], emp["name"], emp["country"], emp["url"]) == (NORWAY.id, "Norway registry", "NO", NO_URL)
    assert [(c["sha256"], c["expired"]) for c in emp["certificates"]] == [
        (hashlib.sha256(VALID).hexdigest(), False),
        (hashlib.sha256(EXPIRED).hexdigest(), True),
    ]
    assert emp["certificates"][0]["subject"] == "CN=Vitnemalsportalen signing"
    assert listing["notices"] == []


def test_emreg_list_over_local_http_shows_per_institution_labels_and_skipped_entries(capsys):
    document = {
        "countries": [{"countryCode": "IT", "countryName": "Italy", "singleFetch": "true"}],
        "emps": [
            {"acronym": "UNIVR", "countryCode": "IT", "institutions": ["University of Verona"],
             "url": "https://www.univr.it/ncp/", "pubKey": to_pem(VALID)},
            {"acronym": "OLD", "countryCode": "SE", "institutions": [], "url": "http://plain.example/",
             "pubKey": to_pem(VALID)},
        ],
    }  # fmt: skip
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        assert main(["registry", f"http://127.0.0.1:{server.server_address[1]}/emp-list.json"]) == 0
    finally:
        server.shutdown()
        server.server_close()
    out = capsys.readouterr().out
    assert "(emreg): 1 EMP(s)" in out
    assert "IT  University of Verona  (EMP UNIVR, one per institution)" in out
    assert "REGISTRY_ENTRY_SKIPPED" in out
    assert "http://plain.example/" in out


def test_default_source_comes_from_the_environment(catalogue_file, monkeypatch, capsys):
    monkeypatch.setenv("EMREX_REGISTRY_URL", str(catalogue_file))
    assert main(["registry", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == str(catalogue_file)


def test_without_a_source_it_reads_what_the_functions_read(monkeypatch):
    from emrex_emc.commands.registry import default_source
    from emrex_emc.settings import DEFAULT_REGISTRY_URL, Settings

    monkeypatch.delenv("EMREX_REGISTRY_URL", raising=False)
    assert default_source() == DEFAULT_REGISTRY_URL == Settings(table_name="").registry_url
    assert "dev-registry" in DEFAULT_REGISTRY_URL


def test_registry_without_emps_says_so(tmp_path, capsys):
    path = tmp_path / "empty.xml"
    path.write_bytes(render_ewp_catalogue([]))
    assert main(["registry", str(path)]) == 0
    assert "No EMREX EMP found" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "REGISTRY_UNAVAILABLE: cannot read registry file"),
        (b"<catalogue><host>", "REGISTRY_INVALID: the catalogue is unreadable: the document is not well-formed XML"),
        (b'{"emps": [},', "REGISTRY_INVALID: the EMREG list is not valid JSON"),
    ],
    ids=["missing", "broken-xml", "broken-json"],
)
def test_unreadable_registry_exits_1_with_a_clear_message(tmp_path, capsys, content, fragment):
    path = tmp_path / "registry"
    if content is not None:
        path.write_bytes(content)
    assert main(["registry", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"emrex-emc registry: cannot read the registry at {path}: ")
    assert fragment in captured.err


def test_plain_http_to_a_remote_host_is_refused(capsys):
    assert main(["registry", "http://registry.example/catalogue-v1.xml"]) == 1
    assert "must be served over https" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")
def test_registry_values_never_reach_the_terminal_raw(tmp_path, capsys):
    """An EMREG list is JSON, so its names may hold ESC; certificates may too. 100 kB names, a 4 kB subject
    (a certificate over the registry's 16 KB cap would be dropped before anything is printed)."""
    hostile = "\x1b[2J\x9b2J\u202e"
    certificate = identity_with_subject(hostile + "c" * 4_000).cert_pem.decode("ascii")
    document = {
        "countries": [{"countryCode": "IT", "singleFetch": "true"}],
        "emps": [
            {"acronym": hostile + "N" * 100_000, "countryCode": "IT", "url": "https://www.univr.it/ncp/",
             "institutions": [hostile + "I" * 100_000, "University of Verona"], "pubKey": certificate},
            {"acronym": hostile + "S" * 100_000, "countryCode": "SE", "url": "http://plain.example/" + "p" * 100_000,
             "institutions": [], "pubKey": certificate},
        ],
    }  # fmt: skip
    path = tmp_path / "emp-list.json"
    path.write_text(json.dumps(document))

    assert main(["registry", str(path)]) == 0
    out = capsys.readouterr().out
    for line in out.splitlines():
        assert is_clean(line), repr(line[:200])
        assert len(line) <= 700, len(line)
    assert "subject CN= [2J 2J ccc" in out
    assert "REGISTRY_ENTRY_SKIPPED" in out

    assert main(["registry", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    assert all(is_clean(line) for line in out.splitlines())
    listing = json.loads(out)
    (emp,) = listing["emps"]
    assert is_clean(emp["name"]) and emp["name"].endswith("N…") and len(emp["name"]) <= 200  # clipped when parsed
    assert len(emp["certificates"][0]["subject"]) <= 200
    assert all(len(notice["message"]) <= 600 for notice in listing["notices"])


def test_an_emreg_v2_list_is_listed_with_protocol_endpoints_and_key(tmp_path, capsys):
    from tests.functions.test_registry_refresh_sources import emreg2_body

    path = tmp_path / "emreg2.json"
    record = json.loads(emreg2_body("DUO"))["emp_list"][0]
    scheduled = {**record, "acronym": "DUO next", "activeByDateTimeUtc": "2999-01-01T00:00:00Z"}
    path.write_text(json.dumps({"emp_list": [record, scheduled]}))
    assert main(["registry", str(path), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["format"] == "emreg2"
    current, later = listing["emps"]
    assert current["protocol"] == "emrex-2" and current["certificates"] == []
    assert current["emrex2"]["token_url"] == "https://duo.example/token"
    assert len(current["public_key_sha256"]) == 64 and current["in_effect"] is True
    assert later["active_from"] == "2999-01-01T00:00:00+00:00" and later["in_effect"] is False
    assert main(["registry", str(path)]) == 0
    text = capsys.readouterr().out
    assert "protocol:     emrex-2" in text and "(SCHEDULED)" in text
    assert "results:      https://duo.example/results" in text
