"""``emrex-emc registry`` on a hostile registry: nothing it prints carries the registry's control characters."""

import json

from emrex_emc.cli import main
from emrex_emc.core.text import is_clean
from tests.adapters.conftest import make_certificate, to_pem

PEM = to_pem(make_certificate("signing"))


def hostile_list(tmp_path):
    document = {
        "emps": [
            {
                "acronym": "Evil\u001b[2J\u009b31mEMP\u202e",
                "countryCode": "NO",
                "institutions": ["\u001b]0;owned\u0007Universitetet i Oslo", "x" * 5000],
                "url": "https://emp.example/init",
                "pubKey": PEM,
            },
            {"acronym": "Esc", "countryCode": "SE", "url": "https://emp.example/\u001b[8m", "pubKey": PEM},
            {"acronym": "Cc", "countryCode": "\u009b2J", "url": "https://cc.example/", "pubKey": PEM},
        ]
    }
    path = tmp_path / "emreg.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_text_output_holds_no_control_characters_from_the_registry(tmp_path, capsys):
    assert main(["registry", str(hostile_list(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert all(is_clean(line) for line in out.splitlines()), out
    assert "NO  Evil [2J 31mEMP" in out
    assert "institutions: ]0;owned Universitetet i Oslo; xxx" in out
    assert "EMREG entry #2 has URL 'https://emp.example/ [8m', which holds spaces or control characters" in out
    assert "EMREG entry #3 has country code '2J'" in out
    assert max(len(line) for line in out.splitlines()) < 500


def test_json_output_holds_no_control_characters_from_the_registry(tmp_path, capsys):
    assert main(["registry", str(hostile_list(tmp_path)), "--json"]) == 0
    out = capsys.readouterr().out
    assert is_clean(out.replace("\n", " "))  # json.dumps(ensure_ascii=False) would let C1 controls through
    (emp,) = json.loads(out)["emps"]
    assert emp["name"] == "Evil [2J 31mEMP"
    assert len(emp["institutions"][1]) == 200
