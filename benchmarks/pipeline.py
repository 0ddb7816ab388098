"""The full trust pipeline (:func:`verify_elmo`) against python-xmlsec (C) on the same signed documents.

The reference does the minimum a C verifier needs: base64 + gunzip, one lxml parse, xmlsec verify.
Our figure is the whole pipeline: bounded decode, hardened parse, shape checks, signxml verification,
version detection, the ELMO reader (canonical model) and conformance (no XSD folder: skipped).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
from collections.abc import Callable
from functools import cache, partial

from benchmarks import Row, benchmark, median_seconds
from emrex_emc.core.pipeline import verify_elmo
from emrex_emc.core.policy import PipelinePolicy
from emrex_emc.local.elmo_factory import encode_elmo, generate_signing_identity, sample_elmo, sign_elmo

SIZES = (
    ("~20 courses", 20, 0),
    ("~300 courses + 0.5 MB PDF", 300, 512 * 1024),
    ("~2000 courses + 2 MB PDF", 2000, 2 * 1024 * 1024),
)


@cache
def signed_documents() -> tuple[bytes, list[tuple[str, str]]]:
    """The signing certificate (PEM) and one ``elmo`` form value per size."""
    identity = generate_signing_identity("Benchmark EMP")
    documents = []
    for label, courses, pdf_size in SIZES:
        xml = sample_elmo(courses, pdf_size=pdf_size)
        documents.append((label, encode_elmo(sign_elmo(xml, identity, style="java-sha1-inclusive"))))
    return identity.cert_pem, documents


def xmlsec_reference(payload: str, cert_pem: bytes) -> Callable[[], None]:
    import xmlsec
    from lxml import etree

    def run() -> None:
        root = etree.fromstring(gzip.decompress(base64.b64decode(payload)))
        node = xmlsec.tree.find_node(root, xmlsec.constants.NodeSignature)
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem)
        context.verify(node)

    return run


def trust_steps(payload: str, cert_pem: bytes, policy: PipelinePolicy) -> Callable[[], None]:
    """Steps 1-3 only (decode, hardened parse, shape checks + signxml), to separate them from the reader."""
    from emrex_emc.core import certs
    from emrex_emc.core.decode import decode_elmo_value
    from emrex_emc.core.signature import verify_enveloped
    from emrex_emc.core.xmlsafe import parse_xml

    def run() -> None:
        root = parse_xml(decode_elmo_value(payload, policy.decode), policy.xml)
        verify_enveloped(root, certs.load_all([cert_pem]), policy.signature, dt.datetime.now(dt.UTC))

    return run


@benchmark
def pipeline_vs_xmlsec(runs: int) -> list[Row]:
    cert_pem, documents = signed_documents()
    policy = PipelinePolicy()
    rows = []
    for label, payload in documents:
        medians = median_seconds(
            {
                "reference": xmlsec_reference(payload, cert_pem),
                "full": partial(verify_elmo, payload, [cert_pem], policy),
                "steps": trust_steps(payload, cert_pem, policy),
            },
            runs,
        )
        reference, full, steps = medians["reference"], medians["full"], medians["steps"]
        size = f"{len(payload) / 1024:.0f} kB encoded"
        for figure, seconds in ((f"verify_elmo, {label} ({size})", full), (f"steps 1-3 only, {label}", steps)):
            rows.append(Row(figure, seconds, "python-xmlsec decode+parse+verify", reference, runs))
    return rows
