"""Peak memory of a fresh process handling a callback at the largest accepted request size vs that size.

The parent builds a signed OK payload whose form body is just under ``Settings.max_body_bytes`` (a big
PDF attachment: the realistic way to reach the cap) and writes it to a file. Each run starts a new
interpreter that reads the body, handles it with the real callback service on in-memory AWS clients
(``benchmarks/_callback_fixture.py``) and reports its peak resident set (what Lambda's "Max Memory Used"
reports). The figure is the peak RSS; the reference is the request body size.

Peak RSS is read from ``/proc/self/status`` ``VmHWM`` (the high-water mark of this process image): on
Linux ``getrusage(RUSAGE_SELF).ru_maxrss`` carries the *parent's* peak across fork + exec, so in a
child of this (big) benchmark process it would report the parent's size. ``ru_maxrss`` is the fallback
where ``/proc`` is missing.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

from benchmarks import Row, benchmark
from benchmarks._callback_fixture import SETTINGS_ENV, form_body, signed_elmo_value
from emrex_emc.settings import Settings

REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
COURSES = 300
FILL = 0.97
"""Aim for this fraction of the body cap (the size estimate from one probe is within a few percent)."""

CHILD = """
import json, resource, sys
def peak_kb():
    try:
        with open("/proc/self/status") as status:
            return int(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
baseline = peak_kb()
sys.path[:0] = [{functions!r}, {repo!r}]
from pathlib import Path
from benchmarks._callback_fixture import callback_case
cert = bytes.fromhex({cert_hex!r})
body = Path({body_path!r}).read_bytes()
from urllib.parse import parse_qsl
elmo = dict(parse_qsl(body.decode("ascii")))["elmo"]
case = callback_case(elmo, cert)
del elmo
imported = peak_kb()
status = case.handle()
peak = peak_kb()
print(json.dumps({{"status": status, "peak_kb": peak, "before_handling_kb": imported, "start_kb": baseline}}))
"""


@cache
def payload_at_cap(max_body_bytes: int, courses: int = COURSES) -> tuple[bytes, bytes]:
    """(form body, certificate DER) with the body within ``FILL`` of ``max_body_bytes``."""
    probe_pdf = max(64 * 1024, max_body_bytes // 8)
    elmo, _ = signed_elmo_value(courses, probe_pdf)
    fixed = len(form_body(signed_elmo_value(courses, 0)[0]))
    per_pdf_byte = (len(form_body(elmo)) - fixed) / probe_pdf
    pdf_bytes = int((max_body_bytes * FILL - fixed) / per_pdf_byte)
    elmo, cert = signed_elmo_value(courses, pdf_bytes)
    body = form_body(elmo)
    if len(body) > max_body_bytes:
        raise RuntimeError(f"payload of {len(body)} bytes exceeds the {max_body_bytes} byte cap")
    return body, cert


def peak_rss_mb(body: bytes, cert_der: bytes) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="emrex-mem-") as folder:
        body_path = Path(folder) / "body.txt"
        body_path.write_bytes(body)
        code = CHILD.format(
            functions=str(REPO / "functions"), repo=str(REPO), cert_hex=cert_der.hex(), body_path=str(body_path)
        )
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(f"memory benchmark child failed:\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["status"] != "received":
        raise RuntimeError(f"the payload at the cap was not accepted: {report['status']}")
    return {key: value / 1024 for key, value in report.items() if key.endswith("_kb")}  # KiB -> MiB


def rows_for(max_body_bytes: int, runs: int) -> list[Row]:
    body, cert = payload_at_cap(max_body_bytes)
    samples = [peak_rss_mb(body, cert) for _ in range(runs)]
    peak = statistics.median(sample["peak_kb"] for sample in samples)
    before = statistics.median(sample["before_handling_kb"] for sample in samples)
    size = len(body) / MB
    label = f"{size:.1f} MB body, cap {max_body_bytes / MB:.0f} MB"
    return [
        Row(f"peak RSS, callback at the cap ({label}; goal <= 200 MB)", peak, "request body", size, runs, "MB"),
        Row("  peak RSS before handling (interpreter, imports, body)", before, "request body", size, runs, "MB"),
    ]


@benchmark
def peak_memory_at_body_cap(runs: int) -> list[Row]:
    cap = Settings.from_env(SETTINGS_ENV).max_body_bytes
    return rows_for(cap, max(1, min(runs, 3)))  # deterministic within ~1 MB: 3 processes are plenty
