"""Mutation fuzzing of the trust pipeline: every input ends verified or as an ``EmrexError``, never a crash.

Really signed documents (generated v1/v2/v1.3.0 ones in both EMP signature styles, and the Danish EMP's
real response with its certificate) are mutated (see ``tests/core/mutations.py``) and fed to
``verify_elmo``. Invariant: a ``VerifiedElmo`` whose notices are clean and bounded (and which renders to
JSON), or an ``EmrexError`` whose message is clean and bounded; any other exception fails the test.

Two parts: a systematic sweep (every element and attribute of each Signature, and of an ELMO body, removed,
emptied, duplicated and garbled on its own) and random cases (one to three mutations, byte and encoding
damage) drawn per case.

Seeded and reproducible. Budget: ``EMREX_FUZZ_CASES=N`` cases (default 1200, a few seconds of CPU),
``EMREX_FUZZ_BUDGET=nightly`` for 40,000; ``EMREX_FUZZ_SEED`` changes the seed. A failure lists each
case's seed, number, document, mutation and the file its payload was saved to. Every mutation is drawn
from ``random.Random(f"{seed}:{case}")``; only the signing key is fresh in each run, so a byte-level
mutation may land on other bytes of the signature or certificate when rerun (the saved payload is exact).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from emrex_emc.core.errors import EmrexError
from emrex_emc.core.identity import ExpectedIdentity
from emrex_emc.core.pipeline import VerifiedElmo, verify_elmo
from emrex_emc.core.policy import PipelinePolicy, VerificationPolicy
from emrex_emc.core.text import MAX_MESSAGE_CHARS, is_clean
from emrex_emc.local.elmo_factory import (
    SignatureStyle,
    SigningIdentity,
    build_elmo,
    encode_elmo,
    generate_signing_identity,
    make_pdf,
    sign_elmo,
)
from tests.core import mutations
from tests.core.conftest import BIRTH_DATE, SHARED_ELMO, VECTORS

DEFAULT_CASES = 1200
NIGHTLY_CASES = 40_000
SEED = int(os.environ.get("EMREX_FUZZ_SEED", "20261205"))
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DK_DIR = VECTORS / "dk-kmd-2017"
EXPECTED = ExpectedIdentity(given_names="Anna Maria", family_name="de Vries", birth_date=BIRTH_DATE)
ACCIDENTS = (TypeError, KeyError, IndexError, AttributeError)
"""What a library raises when a malformed value reaches it unchecked (the issue's empty SignatureValue)."""
POLICIES = (PipelinePolicy(), PipelinePolicy(signature=VerificationPolicy(forbid_sha1=True, strict_cert_validity=True)))


def fuzz_cases() -> int:
    if "EMREX_FUZZ_CASES" in os.environ:
        return int(os.environ["EMREX_FUZZ_CASES"])
    return NIGHTLY_CASES if os.environ.get("EMREX_FUZZ_BUDGET") == "nightly" else DEFAULT_CASES


@dataclass(frozen=True)
class Base:
    """A really signed document, the certificates that verify it, and how to sign a mutated body again."""

    name: str
    signed: bytes
    certificates: tuple[bytes, ...]
    unsigned: bytes
    style: SignatureStyle


@pytest.fixture(scope="module")
def identity() -> SigningIdentity:
    return generate_signing_identity("Fuzz EMP", not_before=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


@pytest.fixture(scope="module")
def bases(identity: SigningIdentity) -> list[Base]:
    def generated(name: str, version: str, style: SignatureStyle, pdf: bool) -> Base:
        unsigned = build_elmo(
            given_names="Anna Maria",
            family_name="de Vries",
            birth_date=BIRTH_DATE,
            courses=2,
            pdf_bytes=make_pdf(800) if pdf else None,
            namespace_version=version,
        )
        return Base(name, sign_elmo(unsigned, identity, style=style), (identity.cert_pem,), unsigned, style)

    found = [
        generated("v1 rsa-sha1 inclusive", "v1", "java-sha1-inclusive", True),
        generated("v2 rsa-sha256 exclusive", "v2", "ds-sha256-exclusive", True),
        generated("v1.3.0 rsa-sha256 inclusive", "v1.3.0", "ds-sha256-inclusive", False),
    ]
    if DK_DIR.is_dir():
        signed = (DK_DIR / "elmo-tomcat-signed.xml").read_bytes()
        root = etree.fromstring(signed)
        signature = mutations.signature_of(root)
        assert signature is not None
        root.remove(signature)
        unsigned = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        cert = (DK_DIR / "kmd-signing-cert.EXTRACTED.pem").read_bytes()
        found.append(Base("dk-kmd-2017 tomcat", signed, (cert,), unsigned, "java-sha1-inclusive"))
    for base in found:  # every starting point really verifies
        verify_elmo(base.signed, list(base.certificates), PipelinePolicy(), now=NOW)
    return found


def make_case(rng: random.Random, base: Base, identity: SigningIdentity) -> tuple[mutations.Mutated, list[bytes]]:
    """One mutated payload of ``base`` and the registry certificates to verify it against."""
    kind = rng.random()
    if kind < 0.35:
        root = etree.fromstring(base.signed)
        what = mutations.mutate_tree(rng, root, in_signature=True)
        if rng.random() < 0.4 and mutations.sign_signed_info(root, identity.key_pem):
            # a SignedInfo as odd as the mutation made it, but signed: signxml goes on to the reference
            return _mutated(mutations.serialize(root), f"signature tree, signed: {what}"), [identity.cert_pem]
        return _mutated(mutations.serialize(root), f"signature tree: {what}"), list(base.certificates)
    if kind < 0.45:
        root = etree.fromstring(base.signed)
        what = mutations.mutate_tree(rng, root, in_signature=False)
        return _mutated(mutations.serialize(root), f"body tree, not signed again: {what}"), list(base.certificates)
    if kind < 0.75:
        root = etree.fromstring(base.unsigned)
        what = mutations.mutate_tree(rng, root, in_signature=False)
        xml = mutations.serialize(root)
        try:
            signed = None if xml is None else sign_elmo(xml, identity, style=base.style)
        except Exception:  # the signer (test side) cannot sign every mutant; those are skipped
            signed = None
        return _mutated(signed, f"body tree, signed again: {what}", resign=True), [identity.cert_pem]
    if kind < 0.9:
        damaged, what = mutations.mutate_bytes(rng, base.signed)
        if rng.random() < 0.3:
            damaged, second = mutations.mutate_bytes(rng, damaged)
            what += f"; {second}"
        payload: str | bytes = damaged if rng.random() < 0.7 else encode_elmo(damaged)
        return mutations.Mutated(payload, f"bytes: {what}"), list(base.certificates)
    encoded, what = mutations.mutate_encoded(rng, base.signed)
    return mutations.Mutated(encoded, f"encoding: {what}"), list(base.certificates)


def _mutated(xml: bytes | None, description: str, *, resign: bool = False) -> mutations.Mutated:
    return mutations.Mutated(b"" if xml is None else xml, description if xml is not None else "skip", resign)


def check_outcome(payload: str | bytes, certificates: list[bytes], rng: random.Random, xsd_dir: str | None) -> str:
    """Run the pipeline once; return the outcome's name or raise AssertionError on a broken invariant."""
    try:
        result = verify_elmo(
            payload,
            certificates,
            rng.choice(POLICIES),
            expected=EXPECTED if rng.random() < 0.5 else None,
            now=NOW,
            xsd_dir=xsd_dir,
        )
    except EmrexError as exc:
        # a refusal comes from a check of ours, not from the safety net around signxml catching its crash
        assert not isinstance(exc.__cause__, ACCIDENTS), f"{exc.code} by accident: {exc.__cause__!r}"[:400]
        assert is_clean(exc.message), f"{exc.code}: unclean message {exc.message[:300]!r}"
        assert len(exc.message) <= MAX_MESSAGE_CHARS, f"{exc.code}: message of {len(exc.message)} characters"
        return exc.code.value
    _check_verified(result)
    return "VERIFIED"


def _check_verified(result: VerifiedElmo) -> None:
    for notice in result.notices:
        assert is_clean(notice.message), f"{notice.code}: unclean notice {notice.message[:300]!r}"
        assert len(notice.message) <= MAX_MESSAGE_CHARS, f"{notice.code}: notice of {len(notice.message)} characters"
    json.dumps(result.to_json(), default=str)
    json.dumps(result.document.summary.to_json())
    for _, content in result.document.contents():
        assert content.size == len(content.data) and content.sha256 == hashlib.sha256(content.data).hexdigest()


def test_mutated_signed_documents_verify_or_are_refused_never_crash(
    bases: list[Base], identity: SigningIdentity, tmp_path: Path
) -> None:
    cases = fuzz_cases()
    xsd_dir = str(SHARED_ELMO) if (SHARED_ELMO / "elmo-schemas").is_dir() else None
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    for index in range(cases):
        rng = random.Random(f"{SEED}:{index}")
        base = bases[index % len(bases)]
        mutated, certificates = make_case(rng, base, identity)
        if mutated.description == "skip":
            outcomes["(not signable)"] += 1
            continue
        try:
            outcomes[check_outcome(mutated.payload, certificates, rng, xsd_dir if rng.random() < 0.3 else None)] += 1
        except Exception as exc:  # the invariant: nothing but EmrexError, and clean messages
            where = traceback.extract_tb(exc.__traceback__)[-1]
            kept = tmp_path / f"case-{index}.payload"
            payload = mutated.payload
            kept.write_bytes(payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload)
            failures.append(
                f"seed {SEED} case {index} [{base.name}] {mutated.description[:300]}\n"
                f"    -> {type(exc).__name__}: {str(exc)[:300]} ({where.filename}:{where.lineno})\n"
                f"    payload: {kept}"
            )
            if len(failures) >= 20:
                break
    print(f"fuzz: {cases} cases, seed {SEED}: {dict(sorted(outcomes.items()))}")
    assert not failures, f"{len(failures)} case(s) broke the invariant:\n" + "\n".join(failures)
    assert outcomes["VERIFIED"] > 0 and len(outcomes) > 5  # the mutations reach past the first refusal


def _signed_again(xml: bytes | None, identity: SigningIdentity, style: SignatureStyle) -> bytes | None:
    """``xml`` signed, or None when the signer (test side) cannot sign this mutant (such cases are skipped)."""
    try:
        return None if xml is None else sign_elmo(xml, identity, style=style)
    except Exception:
        return None


@pytest.mark.parametrize("part", ["signature", "body"])
def test_every_element_and_attribute_removed_emptied_duplicated_and_garbled_alone(
    bases: list[Base], identity: SigningIdentity, part: str
) -> None:
    """The systematic part of the fuzzing: one mutation at a time on each element and attribute (drawn at
    random, the CI budget would leave some of these alone-cases out, such as the issue's empty
    <SignatureValue>). The Signature's as sent and with its SignedInfo signed again (so signxml goes past the
    signature value); the body's signed again (so the ELMO reader gets them): in CI the ELMO 2 base's body
    (~360 cases, each signed again), at the nightly budget every generated base's."""
    failures: list[str] = []
    checked = 0
    nightly = fuzz_cases() >= NIGHTLY_CASES
    for base in bases:
        if part == "signature":
            cases = [(d, root, True) for d, root in mutations.sweep(base.signed, in_signature=True)]
        elif base.name.startswith("v2") or (nightly and base.name.startswith("v")):  # the body can be signed again
            cases = [(d, root, False) for d, root in mutations.sweep(base.unsigned, in_signature=False)]
        else:
            continue
        for index, (description, root, in_signature) in enumerate(cases):
            variants: list[tuple[bytes | None, list[bytes]]] = []
            if in_signature:
                variants.append((mutations.serialize(root), list(base.certificates)))
                if mutations.sign_signed_info(root, identity.key_pem):
                    variants.append((mutations.serialize(root), [identity.cert_pem]))
            else:
                variants.append((_signed_again(mutations.serialize(root), identity, base.style), [identity.cert_pem]))
            for payload, certificates in variants:
                if payload is None:
                    continue
                checked += 1
                try:
                    check_outcome(payload, certificates, random.Random(f"{SEED}:sweep:{index}"), None)
                except Exception as exc:  # the invariant: nothing but EmrexError, and clean messages
                    failures.append(f"[{base.name}] {description}: {type(exc).__name__}: {str(exc)[:300]}")
    assert checked > 300
    assert not failures, f"{len(failures)} case(s) broke the invariant:\n" + "\n".join(failures[:20])
