"""Rotation of the EMC secret (Secrets Manager's four steps) and the API token rollover edits.

Secrets Manager calls the rotation function (``functions/secret_rotation``) once per step, all with the
same ``ClientRequestToken``; every step is idempotent:

- ``createSecret``: unless the token's AWSPENDING version exists, put it: the AWSCURRENT content with a
  new 32-byte state key as ``state_key_id`` (id ``k<UTC time of creation>``, e.g. ``k20261128T153000Z``),
  the older keys live states may still need, and an ``api_token`` and an ``admin_token`` only when there is
  none. Bearer tokens are rolled over by the CLI (:func:`with_new_api_token`, :func:`with_new_admin_token`),
  never by this rotation.
- ``setSecret``: nothing: no other system holds these keys.
- ``testSecret``: the pending version has the documented layout and still holds the key that signed
  until now.
- ``finishSecret``: AWSCURRENT moves to the pending version, which then loses AWSPENDING (left on a
  version that is not current, it makes the next ``RotateSecret`` fail as "still in progress").

The stack's rotation schedule rotates once at creation, which fills the empty ``state_keys`` of the
stack's initial secret, and then on a schedule; ``aws secretsmanager rotate-secret`` rotates now.

Which older keys are kept: a state is good until its transfer's deadline, at most the session TTL after it
was signed, and a warm instance signs with the old key for up to the secret's max age after a rotation. A
key stopped signing when the next newer key was created (the time is in the key id; an id without one,
such as a hand-made ``k1``, counts as older than every generated key), and is kept while that was less
than :func:`retired_key_window` ago. The key that signed until now is always kept, and never more than
:data:`MAX_STATE_KEYS` keys in all.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from calendar import timegm
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from emrex_emc.core.secret import SecretBundle, SecretFormatError, parse_secret_bundle
from emrex_emc.core.text import clip

CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"
STATE_KEY_BYTES = 32
API_TOKEN_BYTES = 36
"""48 URL-safe characters, as long as the stack's first generated token."""
MAX_STATE_KEYS = 4
RETIRED_KEY_MARGIN_SECONDS = 600
"""On top of session TTL + secret max age: clock skew, a slow request, a retried step."""
_KEY_ID_TIME = "k%Y%m%dT%H%M%SZ"
_MAX_TOKEN_CHARS = 64


class RotationError(RuntimeError):
    """The secret cannot be rotated or edited as asked (the message says why; it holds no secret material)."""


def retired_key_window(session_ttl_seconds: int, secret_max_age_seconds: int) -> int:
    """How long after a key stopped signing a state it signed can still come back (plus a margin)."""
    return session_ttl_seconds + secret_max_age_seconds + RETIRED_KEY_MARGIN_SECONDS


def new_state_key_id(now: float) -> str:
    return time.strftime(_KEY_ID_TIME, time.gmtime(now))


def key_created_at(key_id: str) -> float | None:
    """When a key with a generated id was created (epoch seconds), else None."""
    try:
        return float(timegm(time.strptime(key_id, _KEY_ID_TIME)))
    except ValueError:
        return None


def new_api_token() -> str:
    return secrets.token_urlsafe(API_TOKEN_BYTES)


def with_new_state_key(content: Mapping[str, Any], *, now: float, keep_retired_seconds: int) -> dict[str, Any]:
    """``content`` with a new signing key, the keys still needed, and an ``api_token`` and an ``admin_token``
    if it had none."""
    result = _secret_object(content)
    keys = result.get("state_keys", {})
    if not isinstance(keys, dict):
        raise RotationError("state_keys must be a JSON object")
    key_id = new_state_key_id(now)
    if key_id in keys:
        raise RotationError(f"state key {key_id} exists already: rotate again in a second")
    keys = {**keys, key_id: base64.b64encode(secrets.token_bytes(STATE_KEY_BYTES)).decode("ascii")}
    signing = {key_id, result.get("state_key_id")}
    kept = _keys_to_keep(keys, signing=signing, now=now, keep_retired_seconds=keep_retired_seconds)
    result["state_keys"] = {kid: value for kid, value in keys.items() if kid in kept}
    result["state_key_id"] = key_id
    if not result.get("api_token"):
        result["api_token"] = new_api_token()
    if not result.get("admin_token"):
        result["admin_token"] = new_api_token()
    return result


def _keys_to_keep(key_ids: Iterable[str], *, signing: set[Any], now: float, keep_retired_seconds: int) -> set[str]:
    created = {kid: key_created_at(kid) or 0.0 for kid in key_ids}
    times = sorted(set(created.values()))

    def still_needed(kid: str) -> bool:
        retired_at = next((t for t in times if t > created[kid]), None)  # the next newer key took over
        return retired_at is None or now - retired_at < keep_retired_seconds

    needed = [kid for kid in created if kid in signing or still_needed(kid)]
    needed.sort(key=lambda kid: (kid in signing, created[kid]), reverse=True)
    return set(needed[:MAX_STATE_KEYS])


def with_new_api_token(content: Mapping[str, Any]) -> dict[str, Any]:
    """``api_token`` becomes ``api_token_previous`` (still accepted) and a new ``api_token`` is generated."""
    result = _secret_object(content)
    if result.get("api_token_previous"):
        raise RotationError(
            "api_token_previous is still set: drop it first (drop-previous-api-token), once the enrolment "
            "system uses the current api_token"
        )
    if not isinstance(result.get("api_token"), str):
        raise RotationError("the secret has no api_token to roll over")
    result["api_token_previous"] = result["api_token"]
    result["api_token"] = new_api_token()
    return result


def with_new_admin_token(content: Mapping[str, Any]) -> dict[str, Any]:
    """A new ``admin_token`` (the old one stops working at once: operators, not systems, hold it)."""
    result = _secret_object(content)
    result["admin_token"] = new_api_token()
    return result


def without_previous_api_token(content: Mapping[str, Any]) -> dict[str, Any]:
    result = _secret_object(content)
    if result.pop("api_token_previous", None) is None:
        raise RotationError("the secret has no api_token_previous: nothing to drop")
    return result


def _secret_object(content: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(content, Mapping):
        raise RotationError("the secret must be a JSON object")
    return dict(content)


class SecretRotation:
    """The rotation steps and token edits on one secret (``client``: a boto3 ``secretsmanager`` client)."""

    def __init__(
        self,
        client: Any,
        secret_id: str,
        *,
        keep_retired_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._secret_id = secret_id
        self._keep_retired_seconds = keep_retired_seconds
        self._clock = clock

    # --- Secrets Manager's rotation protocol -----------------------------------------------------------

    def handle_event(self, event: Mapping[str, Any]) -> None:
        """One step of a rotation Secrets Manager started (the rotation function's event)."""
        step, token = event.get("Step"), event.get("ClientRequestToken")
        if event.get("SecretId") != self._secret_id:
            raise RotationError(f"this function rotates {self._secret_id} only, not {clip(event.get('SecretId'))}")
        steps = {
            "createSecret": self.create_secret,
            "setSecret": self.set_secret,
            "testSecret": self.test_secret,
            "finishSecret": self.finish_secret,
        }
        if step not in steps:
            raise RotationError(f"unknown rotation step {clip(step, 40)!r}")
        if not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN_CHARS:
            raise RotationError("ClientRequestToken is missing or too long")
        stages = self._stages().get(token)
        if stages is None:
            raise RotationError(f"version {clip(token)} of the secret does not exist")
        if CURRENT in stages and step != "finishSecret":
            return  # this rotation finished already
        if CURRENT not in stages and PENDING not in stages:
            raise RotationError(f"version {clip(token)} is not AWSPENDING")
        steps[step](token)

    def create_secret(self, token: str) -> None:
        current = self._content(VersionStage=CURRENT)
        try:
            pending = self._client.get_secret_value(SecretId=self._secret_id, VersionId=token, VersionStage=PENDING)
        except self._client.exceptions.ResourceNotFoundException:
            pending = {}  # RotateSecret made the version without a value: this step fills it
        if "SecretString" in pending:
            return  # filled by an earlier attempt of this step
        content = with_new_state_key(current, now=self._clock(), keep_retired_seconds=self._keep_retired_seconds)
        self._put(content, token, stages=[PENDING])

    def set_secret(self, token: str) -> None:
        """Nothing to do: the keys and tokens live in this secret only."""

    def test_secret(self, token: str) -> None:
        pending = self._bundle(self._text(VersionId=token, VersionStage=PENDING))
        current = self._content(VersionStage=CURRENT)
        signed_until_now = current.get("state_key_id")
        if signed_until_now in (current.get("state_keys") or {}) and signed_until_now not in pending.state_keys:
            raise RotationError("the pending secret lacks the key that signed until now")

    def finish_secret(self, token: str) -> None:
        current = self._version_with(CURRENT)
        if current != token:
            self._client.update_secret_version_stage(
                SecretId=self._secret_id, VersionStage=CURRENT, MoveToVersionId=token, RemoveFromVersionId=current
            )
        if PENDING in self._stages().get(token, ()):
            self._client.update_secret_version_stage(
                SecretId=self._secret_id, VersionStage=PENDING, RemoveFromVersionId=token
            )

    # --- run here (local stack, CLI) ------------------------------------------------------------------

    def rotation_enabled(self) -> bool:
        """Whether Secrets Manager rotates the secret with a rotation function (as in the deployed stack)."""
        return bool(self._client.describe_secret(SecretId=self._secret_id).get("RotationEnabled"))

    def rotate_now(self) -> SecretBundle:
        """All four steps in this process, with a new token (where no rotation function is configured)."""
        self._refuse_while_rotating()
        token = str(uuid.uuid4())
        self.create_secret(token)
        self.set_secret(token)
        self.test_secret(token)
        self.finish_secret(token)
        return self._bundle(self._text(VersionStage=CURRENT))

    def edit(self, change: Callable[[Mapping[str, Any]], dict[str, Any]]) -> SecretBundle:
        """Make ``change(current content)`` the AWSCURRENT version (after checking its layout).

        The new version goes through AWSPENDING and :meth:`finish_secret`, as a rotation's does: a
        rotation starting meanwhile is refused as "in progress" instead of overwriting the edit, and moto
        keeps its labels straight (a plain ``PutSecretValue`` after ``UpdateSecretVersionStage`` leaves
        two AWSCURRENT versions there).
        """
        self._refuse_while_rotating()
        token = str(uuid.uuid4())
        bundle = self._put(change(self._content(VersionStage=CURRENT)), token, stages=[PENDING])
        self.finish_secret(token)
        return bundle

    # --- helpers ------------------------------------------------------------------------------------------

    def _stages(self) -> dict[str, list[str]]:
        described = self._client.describe_secret(SecretId=self._secret_id)
        return dict(described.get("VersionIdsToStages") or {})

    def _version_with(self, stage: str) -> str | None:
        return next((version for version, stages in self._stages().items() if stage in stages), None)

    def _refuse_while_rotating(self) -> None:
        """AWSPENDING on a version that is not current: a rotation has not finished (an AWSPENDING left on
        the current version by a finished one moves to our new version and is taken off by the finish)."""
        if any(PENDING in labels and CURRENT not in labels for labels in self._stages().values()):
            raise RotationError("a rotation of the secret is in progress (a version is AWSPENDING): try later")

    def _text(self, **version: str) -> str:
        response = self._client.get_secret_value(SecretId=self._secret_id, **version)
        text = response.get("SecretString")
        if not isinstance(text, str):
            raise RotationError("the secret has no SecretString")
        return text

    def _content(self, **version: str) -> dict[str, Any]:
        try:
            content = json.loads(self._text(**version))
        except ValueError as exc:
            raise RotationError("the secret is not valid JSON") from exc
        return _secret_object(content)

    @staticmethod
    def _bundle(text: str) -> SecretBundle:
        try:
            return parse_secret_bundle(text)
        except SecretFormatError as exc:
            raise RotationError(f"the new secret would not be usable: {exc}") from exc

    def _put(self, content: Mapping[str, Any], token: str, *, stages: list[str]) -> SecretBundle:
        text = json.dumps(content)
        bundle = self._bundle(text)  # never store a version the functions cannot read
        self._client.put_secret_value(
            SecretId=self._secret_id, ClientRequestToken=token, SecretString=text, VersionStages=stages
        )
        return bundle
