"""The one route table of the HTTP API: the CDK app creates these routes, the local API Gateway serves them.

Each function's handler dispatches on the ``routeKey`` API Gateway puts in the event (``"GET /start/{id}"``);
there is no other routing. ``$default`` catches every other path, so a browser never sees API Gateway's
raw ``{"message": "Not Found"}``.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ROUTE_KEY = "$default"


@dataclass(frozen=True)
class Route:
    """One route of the HTTP API, served by one function."""

    method: str
    """An HTTP method, or ``ANY`` (only for ``$default``)."""
    path: str
    """API Gateway's route path, e.g. ``/sessions/{id}``; ``$default`` for the catch-all."""
    function: str
    """The function (``functions/<function>/handler.py``) that serves it."""

    @property
    def key(self) -> str:
        return DEFAULT_ROUTE_KEY if self.path == DEFAULT_ROUTE_KEY else f"{self.method} {self.path}"


CREATE_TRANSFER = Route("POST", "/sessions", "enrolment_api")
GET_TRANSFER = Route("GET", "/sessions/{id}", "enrolment_api")
CHOOSER = Route("GET", "/start/{id}", "start_session")
CHOOSE = Route("POST", "/start/{id}", "start_session")
FAVICON = Route("GET", "/favicon.ico", "start_session")
NOT_FOUND = Route("ANY", DEFAULT_ROUTE_KEY, "start_session")
CALLBACK = Route("POST", "/callback", "callback")
"""EMREX 1: the EMP's auto-posted answer."""
REDIRECT_CALLBACK = Route("GET", "/callback", "callback")
"""EMREX 2.0: the EMP's redirect back (``code`` or ``error`` with ``state``), then the outcome page itself."""
EMREG_CLIENT = Route("GET", "/.well-known/emreg-client.json", "start_session")
"""Our EMREG client record (what EMPs read from EMREG): client id, redirect URI, name, country, public key."""
JWKS = Route("GET", "/.well-known/jwks.json", "start_session")
"""Our signing keys as a JWK Set (two during a key rollover)."""
APPLICANT_TRANSFERS = Route("GET", "/applicants/{applicant_id}/sessions", "enrolment_api")
ERASE_APPLICANT = Route("DELETE", "/applicants/{applicant_id}", "admin_api")
HEALTH = Route("GET", "/health", "start_session")

ROUTES: tuple[Route, ...] = (
    CREATE_TRANSFER,
    GET_TRANSFER,
    CHOOSER,
    CHOOSE,
    FAVICON,
    CALLBACK,
    REDIRECT_CALLBACK,
    EMREG_CLIENT,
    JWKS,
    APPLICANT_TRANSFERS,
    ERASE_APPLICANT,
    HEALTH,
    NOT_FOUND,
)
