"""Each benchmark runs once on tiny inputs and produces well-formed rows (no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from benchmarks import Row, format_table, median_seconds
from benchmarks._callback_fixture import callback_case, signed_elmo_value
from benchmarks.callback_warm import rows_for as warm_rows
from benchmarks.cold_start import BOTO3_CHILD, DUMMY_ENV, deployed_layout, handler_child, run_child
from benchmarks.memory import payload_at_cap, peak_rss_mb
from benchmarks.memory import rows_for as memory_rows

REPO = Path(__file__).resolve().parents[2]


def test_format_table_prints_times_in_ms_and_other_units_as_given() -> None:
    table = format_table([Row("a", 0.5, "b", 0.25, 3), Row("rss", 120.0, "body", 4.0, 1, "MB")])
    assert "a: 500.0 ms" in table and "b: 250.0 ms" in table and "2.00x" in table
    assert "rss: 120.0 MB" in table and "body: 4.0 MB" in table and "30.00x" in table


def test_median_seconds_alternates_the_functions_after_one_warm_up_each() -> None:
    calls: list[str] = []
    medians = median_seconds({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, runs=3)
    assert calls == ["a", "b"] + ["a", "b"] * 3
    assert set(medians) == {"a", "b"} and all(value >= 0 for value in medians.values())


@pytest.mark.parametrize("handler", ["start_session", "callback"])
def test_cold_start_child_wires_the_handler_without_network(handler: str) -> None:
    timing = run_child(handler_child(handler))
    assert 0 < timing.boto3 < timing.inside < timing.wall


def test_cold_start_reference_child_imports_boto3() -> None:
    timing = run_child(BOTO3_CHILD)
    assert 0 < timing.boto3 == timing.inside < timing.wall


_PROBE = """
import json, sys, boto3, callback.handler
print(json.dumps({"version": sys.version_info[:2], "boto3": boto3.__file__, "handler": callback.handler.__file__}))
"""


@pytest.mark.infra
@pytest.mark.xdist_group("infra")
def test_cold_start_children_run_in_the_deployed_layout() -> None:
    """python3.13 on the staged asset and the layer: our modules and boto3 come from there, not the venv."""
    layout = deployed_layout()
    if layout is None:
        pytest.skip("no python3.13 (set LAYER_PYTHON)")
    timing = run_child(handler_child("start_session"), layout)
    assert 0 < timing.boto3 < timing.inside < timing.wall
    prologue = f"import sys; sys.path[:0] = {list(layout.path)!r}\n"
    result = subprocess.run(
        [layout.python, *layout.flags, "-c", prologue + _PROBE],
        env={**os.environ, **DUMMY_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    asset, layer = layout.path
    assert report["version"] == [3, 13]
    assert report["boto3"].startswith(layer) and report["handler"].startswith(asset)


def test_a_failing_child_is_reported() -> None:
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        run_child("1 / 0")


def test_the_warm_case_is_accepted_and_stored_through_the_real_adapters() -> None:
    case = callback_case(*signed_elmo_value(courses=2, pdf_bytes=2048))
    assert case.handle() == "received"
    s3 = case.service._recorder._evidence._s3  # type: ignore[attr-defined]
    assert any(key.endswith("payload.txt") for key in s3.objects)
    assert any(key.endswith("results.json") for key in s3.objects)
    assert case.service._recorder._outcomes._ddb.transactions == 1  # type: ignore[attr-defined]
    assert case.verify_only().identity.to_json()["verdict"] == "MATCH"
    rows = warm_rows(case, "tiny", runs=1)
    assert [row.runs for row in rows] == [1] and rows[0].seconds > 0 and rows[0].reference_seconds > 0


def test_a_tampered_payload_makes_the_warm_case_refuse() -> None:
    elmo, _ = signed_elmo_value(courses=2, pdf_bytes=0)
    _, other_cert = signed_elmo_value(courses=2, pdf_bytes=0)  # a different EMP key
    assert callback_case(elmo, other_cert).handle() == "rejected"


def test_the_memory_payload_fills_the_cap_and_the_child_reports_peak_rss() -> None:
    cap = 256 * 1024
    body, cert = payload_at_cap(cap, courses=2)
    assert 0.85 * cap < len(body) <= cap
    report = peak_rss_mb(body, cert)
    assert report["peak_kb"] >= report["before_handling_kb"] >= report["start_kb"] > 0
    rows = memory_rows(cap, runs=1)
    at_cap = len(payload_at_cap(cap)[0])
    assert rows[0].unit == "MB" and rows[0].reference_seconds == pytest.approx(at_cap / 1024 / 1024)
    assert rows[0].seconds >= rows[1].seconds > 0


@pytest.mark.infra
@pytest.mark.xdist_group("infra")
def test_layer_size_rows_report_the_built_layer_and_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import layer_size
    from layers import build

    def fake_naive(target: Path, arch: str = "arm64") -> None:
        (target / "botocore").mkdir()
        (target / "botocore" / "data.json").write_bytes(b"x" * 2_000_000)

    monkeypatch.setattr(layer_size, "naive_install", fake_naive)
    rows = layer_size.layer_vs_naive_install(1)
    layer = build.ensure_layer("arm64")
    assert rows[0].seconds == pytest.approx(layer.unzipped_bytes / 1e6)
    assert rows[0].reference_seconds == pytest.approx(2.0)
    assert ("NOT stripped" in rows[0].figure) != layer.stripped
    assert rows[1].seconds <= rows[0].seconds


def test_the_emrex2_case_is_accepted_over_http_with_the_emp_checking_everything() -> None:
    from datetime import date

    from benchmarks.callback_emrex2 import emrex2_case
    from emrex_emc.local.elmo_factory import build_elmo, generate_signing_identity, sign_elmo

    identity = generate_signing_identity("bench smoke")
    signed = sign_elmo(
        build_elmo(given_names="Anna Maria", family_name="de Vries", birth_date=date(2001, 2, 3), courses=2),
        identity,
        style="ds-sha256-exclusive",
    )
    case = emrex2_case(signed, identity.cert_der)
    assert case.handle(case.next_code()) == "received"
    assert case.handle(case.next_code()) == "received"  # every run redeems a fresh code
