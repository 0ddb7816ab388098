"""The one page layout shared by every student-facing page (chooser, redirect, outcome, errors).

Pages are plain strings built with :func:`html.escape` on every untrusted value; there is no
template engine and nothing from an ELMO document is ever rendered unescaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

SUPPORTED_LANGUAGES = ("en", "nl")

_CSS = """
:root{--fg:#1a1a1a;--bg:#fff;--accent:#0b4f8a;--muted:#4a4a4a;--err:#8a1010;--ok:#0d5e2a}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}main{max-width:46rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem;margin:.5rem 0 1rem}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
a{color:var(--accent)}a:focus,button:focus,input:focus,select:focus{outline:3px solid #f2a900;outline-offset:2px}
.button,button{display:inline-block;background:var(--accent);color:#fff;border:0;border-radius:4px;
padding:.6rem 1.1rem;font-size:1rem;text-decoration:none;cursor:pointer}
.secondary{background:#fff;color:var(--accent);border:2px solid var(--accent)}
.notice{border-left:4px solid var(--accent);padding:.5rem 1rem;background:#eef4fa}
.error{border-left-color:var(--err);background:#fbeeee}.success{border-left-color:var(--ok);background:#eef8f1}
.muted{color:var(--muted)}ul.emps{list-style:none;padding:0}ul.emps li{margin:.4rem 0}
label{display:block;font-weight:600;margin:.5rem 0 .25rem}input[type=search],input[type=text],input[type=date]{
padding:.5rem;font-size:1rem;border:1px solid #6b6b6b;border-radius:4px;width:100%;max-width:24rem}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table{border-collapse:collapse}td,th{padding:.25rem .75rem .25rem 0;text-align:left}
"""


def pick_language(requested: str | None, accept_language: str | None) -> str:
    """The page language: an explicit ``locale`` wins, then Accept-Language, then English."""
    for candidate in [requested or "", *_accept_language_tags(accept_language or "")]:
        primary = candidate.strip().lower().replace("_", "-").split("-")[0]
        if primary in SUPPORTED_LANGUAGES:
            return primary
    return "en"


def _accept_language_tags(header: str) -> list[str]:
    weighted: list[tuple[float, str]] = []
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag:
            weighted.append((quality, tag))
    return [tag for _, tag in sorted(weighted, key=lambda item: -item[0])]


def render_page(
    *,
    lang: str,
    title: str,
    body_html: str,
    head_html: str = "",
    attrs: Mapping[str, str] | None = None,
) -> str:
    """Wrap trusted ``body_html`` (already escaped by the caller) in the shared layout."""
    body_attrs = "".join(f' {escape(k)}="{escape(v)}"' for k, v in (attrs or {}).items())
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{escape(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{_CSS}</style>{head_html}</head>"
        f'<body{body_attrs}><main id="main">{body_html}</main></body></html>'
    )
