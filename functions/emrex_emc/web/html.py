"""HTML building with escaping by construction, and the one layout of every student-facing page.

Fragments are :class:`markupsafe.Markup`; any plain ``str`` put into one (``Markup(...).format``, ``+``,
:func:`join`) is escaped, so text from outside (issuer names, an EMP's ``returnMessage``) can never
become markup. There is no template engine and the pages run no script, except the fixed auto-submit
line of the redirect page, allowed by its hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from markupsafe import Markup, escape

__all__ = ["CSS", "EMPTY", "Markup", "escape", "isolated", "isolated_list", "join", "page"]

CSS = Markup(
    """
:root{--fg:#1a1a1a;--bg:#fff;--accent:#0b4f8a;--muted:#4a4a4a;--err:#8a1010;--ok:#0d5e2a}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}main{max-width:46rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem;margin:.5rem 0 1rem}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
a{color:var(--accent)}a:focus,button:focus,input:focus,select:focus{outline:3px solid var(--fg);outline-offset:2px;
box-shadow:0 0 0 2px #fff,0 0 0 7px #f2a900}strong.code{white-space:nowrap}
.button,button{display:inline-block;background:var(--accent);color:#fff;border:0;border-radius:4px;
padding:.6rem 1.1rem;font-size:1rem;text-decoration:none;cursor:pointer}
.secondary{background:#fff;color:var(--accent);border:2px solid var(--accent)}
.notice{border-left:4px solid var(--accent);padding:.5rem 1rem;background:#eef4fa}
.error{border-left-color:var(--err);background:#fbeeee}.success{border-left-color:var(--ok);background:#eef8f1}
.muted{color:var(--muted)}ul.emps{list-style:none;padding:0}ul.emps li{margin:.4rem 0}
label{display:block;font-weight:600;margin:.5rem 0 .25rem}input[type=search],input[type=text],input[type=date]{
padding:.5rem;font-size:1rem;border:1px solid #6b6b6b;border-radius:4px;width:100%;max-width:24rem}
select{padding:.45rem;font-size:1rem;border:1px solid #6b6b6b;border-radius:4px;background:#fff;color:var(--fg)}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table{border-collapse:collapse}td,th{padding:.25rem .75rem .25rem 0;text-align:left}
"""
)


EMPTY = Markup("")


def join(parts: Iterable[Markup | str]) -> Markup:
    """Concatenate fragments; plain strings among them are escaped."""
    return EMPTY.join(parts)


def isolated(name: str) -> Markup:
    """A name from a document or a registry (an institution's, an EMP's), escaped and bidi-isolated
    (``<bdi>``): Arabic or Hebrew in it, or a bidi override character, cannot reorder the sentence around it."""
    return Markup("<bdi>{}</bdi>").format(name)


def isolated_list(names: Iterable[str]) -> Markup:
    """Names, each :func:`isolated`, separated by commas."""
    return Markup(", ").join(isolated(name) for name in names)


def page(*, lang: str, title: str, body: Markup, head: Markup = EMPTY, attrs: Mapping[str, str] | None = None) -> str:
    """A complete page in the shared layout (``title`` is plain text, ``body`` a fragment)."""
    body_attrs = join(Markup(' {}="{}"').format(name, value) for name, value in (attrs or {}).items())
    return str(
        Markup(
            "<!DOCTYPE html>\n"
            '<html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="referrer" content="no-referrer">'
            "<title>{title}</title><style>{css}</style>{head}</head>"
            '<body{attrs}><main id="main">{body}</main></body></html>'
        ).format(lang=lang, title=title, css=CSS, head=head, attrs=body_attrs, body=body)
    )
