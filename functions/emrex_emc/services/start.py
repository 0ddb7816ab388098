"""The student's start link: the EMP chooser (GET) and choosing an EMP (POST -> auto-submit to the EMP).

Choosing consumes the start link once (conditional write), pins the EMP's certificates, creates the EMREX
``sessionId`` and signs the state carried in the ``returnUrl``. The chooser form is protected by a
double-submit CSRF token: a random value in an HttpOnly, SameSite=Strict cookie plus, in a hidden field,
an HMAC of that value bound to the transfer id.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from emrex_emc.adapters.sessions import SessionRepository, Transfer
from emrex_emc.core.errors import EmrexError, ErrorCode
from emrex_emc.core.protocol import Status, is_valid_transfer_id, new_session_id
from emrex_emc.core.registry import Emp, RegistrySnapshot
from emrex_emc.core.state import StateClaims, StateTokens
from emrex_emc.web.http import HttpRequest, HttpResponse, html_response
from emrex_emc.web.i18n import country_name, fold
from emrex_emc.web.layout import pick_language
from emrex_emc.web.start_pages import (
    CHOOSER_CSP,
    REDIRECT_CSP,
    CountryGroup,
    chooser_page,
    message_page,
    redirect_page,
)

logger = logging.getLogger(__name__)

CSRF_FIELD = "csrf"
CSRF_COOKIE_SECURE = "__Host-emrex_csrf"
CSRF_COOKIE_PLAIN = "emrex_csrf"
MAX_FORM_BYTES = 4 * 1024
MAX_QUERY_CHARS = 100
MAX_RETURN_URL_CHARS = 1000
_CSRF_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_CSRF_CONTEXT = b"emrex-emc/csrf/v1"


class CsrfTokens(Protocol):
    """What the start form needs: :class:`CsrfGuard`, or one that follows key rotation."""

    def new_cookie_token(self) -> str: ...

    def is_cookie_token(self, value: str | None) -> bool: ...

    def field_value(self, transfer_id: str, cookie_token: str) -> str: ...

    def check(self, transfer_id: str, cookie_token: str | None, field_value: str | None) -> bool: ...


class CsrfGuard:
    """Double-submit CSRF tokens: cookie = random, field = ``{kid}.{HMAC(key, transfer id + cookie)}``."""

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        # derive separate keys so a CSRF field can never be confused with a state MAC
        self._keys = {kid: hmac.new(key, _CSRF_CONTEXT, hashlib.sha256).digest() for kid, key in keys.items()}
        self._current = current_key_id

    @staticmethod
    def new_cookie_token() -> str:
        return secrets.token_urlsafe(32)

    @staticmethod
    def is_cookie_token(value: str | None) -> bool:
        return value is not None and _CSRF_TOKEN_RE.fullmatch(value) is not None

    def field_value(self, transfer_id: str, cookie_token: str) -> str:
        return f"{self._current}.{self._mac(self._current, transfer_id, cookie_token)}"

    def check(self, transfer_id: str, cookie_token: str | None, field_value: str | None) -> bool:
        if not self.is_cookie_token(cookie_token) or not field_value:
            return False
        kid, _, mac = field_value.partition(".")
        if kid not in self._keys:
            return False
        expected = self._mac(kid, transfer_id, cookie_token or "")
        return hmac.compare_digest(expected.encode(), mac.encode("utf-8", "replace"))

    def _mac(self, kid: str, transfer_id: str, cookie_token: str) -> str:
        return hmac.new(self._keys[kid], f"{transfer_id}|{cookie_token}".encode(), hashlib.sha256).hexdigest()


def group_emps(emps: Iterable[Emp], *, lang: str, query: str = "") -> list[CountryGroup]:
    """EMPs matching ``query`` (accent/case-insensitive, on name, institutions and country in both
    languages), grouped by country and sorted by the country name in ``lang``, then by label."""
    needle = fold(query.strip())
    by_country: dict[str, list[Emp]] = {}
    for emp in emps:
        if needle and needle not in _search_text(emp):
            continue
        by_country.setdefault(emp.country.upper(), []).append(emp)
    groups = [
        CountryGroup(
            code=code,
            name=country_name(code, lang),
            emps=tuple(sorted(items, key=lambda e: (fold(e.label), e.id))),
        )
        for code, items in by_country.items()
    ]
    return sorted(groups, key=lambda g: (fold(g.name), g.code))


def _search_text(emp: Emp) -> str:
    parts = [emp.name, emp.label, *emp.institutions, emp.country, country_name(emp.country, "en")]
    parts.append(country_name(emp.country, "nl"))
    return fold(" | ".join(parts))


@dataclass(frozen=True)
class Refusal:
    status: int
    kind: str


class StartService:
    def __init__(
        self,
        *,
        sessions: SessionRepository,
        signer: StateTokens,
        csrf: CsrfTokens,
        load_registry: Callable[[], RegistrySnapshot],
        public_base_url: str,
        clock: Callable[[], float],
        count: Callable[[str], None] = lambda _name: None,
    ) -> None:
        self._sessions = sessions
        self._signer = signer
        self._csrf = csrf
        self._load_registry = load_registry
        self._public_base_url = public_base_url
        self._clock = clock
        self._count = count

    # --- GET /start/{id} ----------------------------------------------------------------------------

    def show_chooser(self, request: HttpRequest, transfer_id: str) -> HttpResponse:
        transfer = self._transfer(transfer_id)
        lang = self._lang(request, transfer)
        refusal = self._refusal(transfer)
        if refusal is not None:
            return self._refused(refusal, lang, transfer, transfer_id)
        if transfer is None:  # unreachable: _refusal covers it; keeps the type checker informed
            return self._refused(Refusal(404, "not_found"), lang, None, transfer_id)
        snapshot = self._registry(lang)
        if isinstance(snapshot, HttpResponse):
            return snapshot
        query = request.query.get("q", "")[:MAX_QUERY_CHARS]
        base = self._base(request)
        cookie_name = self._cookie_name(base)
        cookie_token = request.cookies.get(cookie_name) or ""
        if not self._csrf.is_cookie_token(cookie_token):
            cookie_token = self._csrf.new_cookie_token()
        html = chooser_page(
            lang=lang,
            show_all_href=transfer.id,
            groups=group_emps(snapshot.emps, lang=lang, query=query),
            query=query,
            csrf_field=CSRF_FIELD,
            csrf_value=self._csrf.field_value(transfer.id, cookie_token),
            any_available=bool(snapshot.emps),
        )
        response = html_response(200, html, {"content-security-policy": CHOOSER_CSP})
        max_age = max(60, transfer.deadline - self._now())
        response.cookies.append(self._cookie(cookie_name, cookie_token, base, max_age=max_age))
        return response

    # --- POST /start/{id} ---------------------------------------------------------------------------

    def choose(self, request: HttpRequest, transfer_id: str) -> HttpResponse:
        transfer = self._transfer(transfer_id)
        lang = self._lang(request, transfer)
        if transfer is None:
            return self._refused(Refusal(404, "not_found"), lang, None, transfer_id)
        chooser_url = transfer.id  # relative: /start/{id} from /start/{id}, whatever the stage prefix
        form = _form(request)
        base = self._base(request)
        if form is None or not self._csrf.check(
            transfer.id, request.cookies.get(self._cookie_name(base)), form.get(CSRF_FIELD)
        ):
            self._count("StartCsrfRejected")
            logger.warning("start form refused: CSRF check failed", extra={"transfer_id": transfer.id})
            return html_response(
                403, message_page(lang=lang, kind="csrf", link_href=chooser_url, link_key="error.back_to_chooser")
            )
        refusal = self._refusal(transfer)
        if refusal is not None:
            return self._refused(refusal, lang, transfer, transfer_id)
        snapshot = self._registry(lang)
        if isinstance(snapshot, HttpResponse):
            return snapshot
        emp = snapshot.find(form.get("emp", ""))
        if emp is None:
            logger.info("start form refused: unknown EMP", extra={"transfer_id": transfer.id})
            return html_response(
                400,
                message_page(lang=lang, kind="emp_unknown", link_href=chooser_url, link_key="error.back_to_chooser"),
            )
        now = self._now()
        session_id = new_session_id()
        try:
            chosen = self._sessions.choose_emp(transfer.id, emp=emp, session_id=session_id, now=now)
        except EmrexError as error:
            kind = "expired" if error.code is ErrorCode.SESSION_EXPIRED else "used"
            return self._refused(Refusal(410, kind), lang, transfer, transfer_id)
        state = self._signer.sign(
            StateClaims(transfer_id=chosen.id, session_id=session_id, emp_id=emp.id, expires_at=chosen.deadline)
        )
        return_url = f"{base}/callback?state={state}"
        if len(return_url) > MAX_RETURN_URL_CHARS:  # a misconfigured base URL; EMPs may truncate it
            logger.error("returnUrl longer than %d characters", MAX_RETURN_URL_CHARS)
        self._count("EmpChosen")
        logger.info("EMP chosen", extra={"transfer_id": chosen.id, "emp_id": emp.id, "emp_country": emp.country})
        html = redirect_page(
            lang=lang,
            emp_url=emp.url,
            emp_name=emp.label,
            country=country_name(emp.country, lang),
            session_id=session_id,
            return_url=return_url,
        )
        return html_response(200, html, {"content-security-policy": REDIRECT_CSP})

    # --- helpers ----------------------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self._clock())

    def _transfer(self, transfer_id: str) -> Transfer | None:
        return self._sessions.get(transfer_id) if is_valid_transfer_id(transfer_id) else None

    @staticmethod
    def _lang(request: HttpRequest, transfer: Transfer | None) -> str:
        return pick_language(transfer.locale if transfer else None, request.headers.get("accept-language"))

    def _refusal(self, transfer: Transfer | None) -> Refusal | None:
        if transfer is None:
            return Refusal(404, "not_found")
        if transfer.start_used or transfer.status is not Status.PENDING:
            return Refusal(410, "used")
        if transfer.effective_status(self._now()) is Status.EXPIRED:
            return Refusal(410, "expired")
        return None

    def _refused(self, refusal: Refusal, lang: str, transfer: Transfer | None, transfer_id: str) -> HttpResponse:
        self._count(f"StartLink{refusal.kind.title().replace('_', '')}")
        logger.info(
            "start link refused",
            extra={"reason": refusal.kind, "transfer_id": transfer.id if transfer else None},
        )
        link = transfer.return_url if transfer else None
        html = message_page(lang=lang, kind=refusal.kind, link_href=link, link_key="error.back_to_enrolment")
        return html_response(refusal.status, html)

    def _registry(self, lang: str) -> RegistrySnapshot | HttpResponse:
        try:
            return self._load_registry()
        except EmrexError as error:
            self._count("RegistryUnavailable")
            logger.error("EMP registry unusable", extra={"code": error.code.value, "detail": error.message})
            return html_response(503, message_page(lang=lang, kind="unavailable"), {"retry-after": "120"})

    def _base(self, request: HttpRequest) -> str:
        return self._public_base_url or request.base_url()

    @staticmethod
    def _cookie_name(base: str) -> str:
        return CSRF_COOKIE_SECURE if urlsplit(base).scheme == "https" else CSRF_COOKIE_PLAIN

    @staticmethod
    def _cookie(name: str, value: str, base: str, *, max_age: int) -> str:
        secure = "; Secure" if urlsplit(base).scheme == "https" else ""
        return f"{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"


def _form(request: HttpRequest) -> dict[str, str] | None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded" or len(request.body) > MAX_FORM_BYTES:
        return None
    try:
        return request.form(max_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
