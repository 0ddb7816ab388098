"""A small SIS consumer for EMREX events: SQS queue (fed by an EventBridge rule) -> your student system.

Run it next to your SIS with credentials that may read the queue and the results bucket::

    python examples/sis_consumer.py --queue-url https://sqs.eu-west-1.amazonaws.com/123/emrex-sis

What it shows:

* delivery is **at least once**: the same event can arrive twice, so deduplicate on ``detail.event_id``
  (here a local SQLite table; use your SIS database in the same transaction as your own update);
* "EMREX Results Received" carries pointers, not data: fetch ``results.json`` from S3 (claim check) and
  check ``identity.verdict`` and ``provenance.verdict`` before importing anything automatically
  (REVIEW/MISMATCH, or an issuer the EMP does not cover -> a person looks);
* a message is deleted only after it was handled; a crash before that makes SQS deliver it again
  (after the visibility timeout), and repeated failures end in the queue's dead-letter queue.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Callable
from typing import Any

import boto3

Handler = Callable[[dict[str, Any], Any], None]


class SeenEvents:
    """Event ids already handled (use your own database in production)."""

    def __init__(self, path: str = "emrex-seen-events.sqlite3") -> None:
        self._db = sqlite3.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY, handled_at TEXT)")

    def __contains__(self, event_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM seen WHERE event_id = ?", (event_id,)).fetchone() is not None

    def add(self, event_id: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO seen VALUES (?, datetime('now'))", (event_id,))
        self._db.commit()


def handle_results(detail: dict[str, Any], s3: Any) -> None:
    pointer = detail["results"]
    body = s3.get_object(Bucket=pointer["bucket"], Key=pointer["results_key"])["Body"].read()
    results = json.loads(body)
    verdict = detail["identity"]["verdict"] if detail.get("identity") else "REVIEW"
    provenance = (detail.get("provenance") or {}).get("verdict", "unknown")
    summary = detail["summary"]
    print(
        f"applicant {detail['applicant_id']}: {summary['course_count']} courses, {summary['total_ects']} ECTS "
        f"from {detail['emp']['name']} ({detail['emp']['country']}); identity {verdict}; provenance {provenance}; "
        f"{', '.join(detail.get('document_types') or []) or 'results'}, ELMO {results.get('elmo_version')}"
    )
    # Import into the SIS here. Only import automatically when verdict == "MATCH" and provenance is not
    # "not_covered"; otherwise queue the results (and the attachments listed in
    # detail["results"]["attachments"]) for a person to check.


def handle_other(detail: dict[str, Any], detail_type: str) -> None:
    reason = detail.get("error", {}).get("code") or detail.get("return_code") or ""
    print(f"applicant {detail['applicant_id']}: {detail_type} {reason}".rstrip())
    # e.g. mark the application step as "transfer not completed" so the student can try again.


def handle_erasure(detail: dict[str, Any]) -> None:
    print(f"applicant {detail['applicant_id']}: erased, {len(detail['session_ids'])} transfer(s)")
    # Erase what the SIS keeps of these transfers (detail["session_ids"]): imported results, attachments.


def process_message(body: str, seen: SeenEvents, s3: Any) -> None:
    event = json.loads(body)
    detail, detail_type = event["detail"], event["detail-type"]
    if detail["event_id"] in seen:
        return  # a duplicate delivery: already handled
    if detail_type == "EMREX Results Received":
        handle_results(detail, s3)
    elif detail_type == "EMREX Applicant Erased":
        handle_erasure(detail)
    else:
        handle_other(detail, detail_type)
    seen.add(detail["event_id"])


def poll(queue_url: str, *, once: bool = False, seen: SeenEvents | None = None) -> None:
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    seen = seen or SeenEvents()
    while True:
        response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0 if once else 20)
        messages = response.get("Messages", [])
        for message in messages:
            process_message(message["Body"], seen, s3)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])  # only after handling
        if once and not messages:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--once", action="store_true", help="drain the queue and stop")
    parser.add_argument("--seen-db", default="emrex-seen-events.sqlite3")
    args = parser.parse_args()
    poll(args.queue_url, once=args.once, seen=SeenEvents(args.seen_db))


if __name__ == "__main__":
    main()
