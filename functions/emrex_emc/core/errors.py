"""Stable error codes of the EMC.

Every refusal carries one of these codes (shown to support staff, stored with the outcome and
published in rejection events) plus a human message that says *why*. Messages often quote values from
outside (a URI, an algorithm, a certificate subject): each such value is clipped where it is put into
the message (``clip(uri, 100)``), and the whole message is clipped again when the error or notice is
made, so nothing attacker-sized or with control characters travels on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from emrex_emc.core.text import MAX_MESSAGE_CHARS, clip


class ErrorCode(StrEnum):
    # decoding the `elmo` form value
    PAYLOAD_EMPTY = "PAYLOAD_EMPTY"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    BASE64_INVALID = "BASE64_INVALID"
    GZIP_INVALID = "GZIP_INVALID"
    DECOMPRESSED_TOO_LARGE = "DECOMPRESSED_TOO_LARGE"
    COMPRESSION_RATIO_EXCEEDED = "COMPRESSION_RATIO_EXCEEDED"
    # parsing
    XML_MALFORMED = "XML_MALFORMED"
    XML_FORBIDDEN_CONSTRUCT = "XML_FORBIDDEN_CONSTRUCT"  # DTD, entities, processing tricks
    XML_TOO_COMPLEX = "XML_TOO_COMPLEX"  # depth / node count limits
    COMMENT_IN_SIGNED_TEXT = "COMMENT_IN_SIGNED_TEXT"  # comment-injection attack on text values
    ENCODING_INVALID = "ENCODING_INVALID"
    # format
    NOT_ELMO = "NOT_ELMO"
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    # signature
    SIGNATURE_MISSING = "SIGNATURE_MISSING"
    SIGNATURE_MULTIPLE = "SIGNATURE_MULTIPLE"
    SIGNATURE_MISPLACED = "SIGNATURE_MISPLACED"
    SIGNATURE_REFERENCE_INVALID = "SIGNATURE_REFERENCE_INVALID"
    SIGNATURE_TRANSFORM_FORBIDDEN = "SIGNATURE_TRANSFORM_FORBIDDEN"
    SIGNATURE_ALGORITHM_FORBIDDEN = "SIGNATURE_ALGORITHM_FORBIDDEN"
    SIGNATURE_DIGEST_MISMATCH = "SIGNATURE_DIGEST_MISMATCH"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    SIGNATURE_UNTRUSTED_KEY = "SIGNATURE_UNTRUSTED_KEY"
    CERTIFICATE_EXPIRED = "CERTIFICATE_EXPIRED"
    CERTIFICATE_INVALID = "CERTIFICATE_INVALID"
    NO_TRUSTED_CERTIFICATE = "NO_TRUSTED_CERTIFICATE"
    # callback / session level
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    FORM_INVALID = "FORM_INVALID"
    STATE_INVALID = "STATE_INVALID"
    STATE_EXPIRED = "STATE_EXPIRED"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    SESSION_MISMATCH = "SESSION_MISMATCH"
    SESSION_ALREADY_COMPLETED = "SESSION_ALREADY_COMPLETED"
    SESSION_EXPIRED = "SESSION_EXPIRED"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    # EMREX 2.0: the redirect back from the EMP, the server-to-server calls, the detached JWS over the results
    OAUTH_RESPONSE_INVALID = "OAUTH_RESPONSE_INVALID"  # neither (or both) code and error, oversized values
    BROWSER_MISMATCH = "BROWSER_MISMATCH"  # the flow cookie of the browser that chose the EMP is missing or wrong
    ISSUER_MISMATCH = "ISSUER_MISMATCH"  # RFC 9207 ``iss`` names another authorization server (mix-up)
    EMP_UNAVAILABLE = "EMP_UNAVAILABLE"  # token/results endpoint: timeout, connection, non-https URL
    EMP_RESPONSE_INVALID = "EMP_RESPONSE_INVALID"  # token/results endpoint: redirect, unreadable or oversized answer
    JWS_MISSING = "JWS_MISSING"
    JWS_MALFORMED = "JWS_MALFORMED"
    JWS_ALGORITHM_FORBIDDEN = "JWS_ALGORITHM_FORBIDDEN"
    JWS_INVALID = "JWS_INVALID"  # does not verify with the EMP's registered key
    CLIENT_KEY_UNAVAILABLE = "CLIENT_KEY_UNAVAILABLE"  # KMS could not sign our client assertion: retrying is safe
    # start link (the chooser)
    START_LINK_USED = "START_LINK_USED"
    CSRF_INVALID = "CSRF_INVALID"
    EMP_UNKNOWN = "EMP_UNKNOWN"
    # storing an outcome
    OUTCOME_TOO_LARGE = "OUTCOME_TOO_LARGE"  # the store refused the outcome for its size: recorded as a rejection
    EVIDENCE_CONFLICT = "EVIDENCE_CONFLICT"  # different evidence for the transfer is already stored
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"  # throttling, timeouts: nothing stored, retrying is safe
    # registry
    REGISTRY_INVALID = "REGISTRY_INVALID"
    REGISTRY_UNAVAILABLE = "REGISTRY_UNAVAILABLE"
    REGISTRY_STALE = "REGISTRY_STALE"
    # enrolment API
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"  # a valid token without the right to this route (the enrolment token on erasure)
    VALIDATION_FAILED = "VALIDATION_FAILED"
    RETURN_URL_NOT_ALLOWED = "RETURN_URL_NOT_ALLOWED"
    NOT_FOUND = "NOT_FOUND"
    # anything unexpected (a bug or an outage); details only in the log
    INTERNAL_ERROR = "INTERNAL_ERROR"


class EmrexError(Exception):
    """A refusal with a stable code and a message for people (never containing personal data).

    ``field`` names the input field at fault, when there is one (the enrolment API returns it).
    """

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        message = clip(message, MAX_MESSAGE_CHARS)
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.field = field

    def to_json(self) -> dict[str, str]:
        data = {"code": self.code.value, "message": self.message}
        if self.field is not None:
            data["field"] = self.field
        return data


@dataclass(frozen=True)
class Notice:
    """A warning attached to an accepted result (e.g. SHA-1 used, certificate expired, XSD violation).

    ``code`` is stable and machine-readable (e.g. ``SIGNATURE_SHA1``, ``CERT_OUTSIDE_VALIDITY``,
    ``ENCODING_LATIN1_FALLBACK``, ``XSD_VIOLATION``, ``HTML_SANITIZED``); ``message`` is for people.
    """

    code: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", clip(self.message, MAX_MESSAGE_CHARS))

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}
