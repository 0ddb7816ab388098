"""Warm callback handling (a warm Lambda's work per request) vs the trust pipeline alone on the same payload.

The figure runs the real :class:`CallbackService` (state check, session read, form parsing, pipeline,
canonical JSON, evidence + attachments to S3, outcome transaction, outcome page) on in-memory AWS clients
(``benchmarks/_callback_fixture.py``); the reference is :func:`verify_elmo` with the same arguments.
"""

from __future__ import annotations

from functools import cache

from benchmarks import Row, benchmark, median_seconds
from benchmarks._callback_fixture import CallbackCase, callback_case, signed_elmo_value

COURSES = 300
PDF_BYTES = 512 * 1024


@cache
def case(courses: int = COURSES, pdf_bytes: int = PDF_BYTES) -> CallbackCase:
    built = callback_case(*signed_elmo_value(courses, pdf_bytes))
    status = built.handle()
    if status != "received":  # measure the accepting path, never a refusal
        raise RuntimeError(f"benchmark callback was not accepted: {status}")
    return built


def rows_for(built: CallbackCase, label: str, runs: int) -> list[Row]:
    medians = median_seconds({"reference": built.verify_only, "handling": built.handle}, runs)
    reference, handling = medians["reference"], medians["handling"]
    size = f"{len(built.request.body) / 1024:.0f} kB body"
    figure = f"warm callback handling, {label} ({size}, goal <= 1.2x)"
    return [Row(figure, handling, "verify_elmo alone, same payload", reference, runs)]


@benchmark
def warm_callback_vs_pipeline(runs: int) -> list[Row]:
    return rows_for(case(), f"~{COURSES} courses + {PDF_BYTES // 1024} kB PDF", runs)
