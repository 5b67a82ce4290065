"""The operator console's router (``/console``) and its template configuration.

How a page module plugs in (H2, H3: read this)
----------------------------------------------
* A module ``host/console_web/<area>.py`` defines Litestar handlers with paths relative to
  ``/console`` and ends with ``HANDLERS = [...]``; add it to :data:`MODULES` below (one line).
* Every handler declares its permission like every route: ``opt=op("installation", "manage")``
  (``from host.console_web.pages import op``: operator accounts, not facility-scoped) and
  ``include_in_schema=False``. Not signed in: the guard's 401 becomes a 303 to the sign-in page;
  any other error (403, 404, 409, a ShifoError, 503 with Retry-After) becomes the HTML error
  page with its status (see ``pages.HANDLERS``): raise ``core.errors.Conflict`` etc. as the API does.
* Render: ``return page(request, "area.html.j2", nav="requests", **context)`` (returns a Litestar
  ``Template``). Templates ``{% extends "base.html.j2" %}`` and fill ``{% block content %}``
  (``{% block title %}`` too); the context has ``user``, ``lang``, ``csrf_field()``, ``flash``.
* Forms: every POST form has ``{{ csrf_field() }}``; the handler reads it with
  ``data = await form(request)`` (checks the token: 403 and nothing done if wrong), then calls the
  operator service (host.operator.*) exactly as the JSON route does, with the same audit entry
  (``host.operator.web.entry(request, action)`` gives the entry the JSON route writes), then
  ``return redirect("/console/system", "Parked deliveries re-queued.")`` (303; the msgid is flashed,
  translated on the next page).
* Text: templates use ``{{ _("English msgid") }}``; Python uses ``t(request, msgid)``. Add each new
  msgid to BOTH ``locale/uz/LC_MESSAGES/console.po`` and ``locale/ru/...`` (a test checks).
* CSS: ``/console/static/console.css`` (classes: ``card``, ``board``, ``column``, ``due-soon``,
  ``overdue``, ``flash``, ``error``, ``btn``, ``danger``, ``muted``, ``table``); no CDN, no JS build.
* Browsers vs programs: a request that accepts ``text/html`` gets redirects and HTML error pages;
  any other gets the API's problem+json (so the access matrix tests cover console routes too). A
  request signed with a bearer header and no console cookie needs no CSRF token (none is ambient).
* Tests: ``tests/console/support.py``: ``world(db_url)`` seeds F1, ``op``, ``doc``, ``nurse``,
  ``pat``; ``console_login(client, "op")`` signs in through the form and returns the CSRF token;
  send ``headers=HTML`` as a browser does; ``audit_rows(client, action)`` reads the audit entries.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Router, get
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from host.console_web import (
    calendar_pages,
    i18n,
    installations,
    pages,
    reviews,
    session,
    session_eds,
    sla_pages,
    system,
)
from host.console_web.pages import NAV, op
from host.pluginapi import public

HERE = Path(__file__).parent
MODULES = [session, session_eds, system, reviews,  # H2, H3: append your page modules here
           installations, calendar_pages, sla_pages]


@get("/", opt=op("installation", "read"), include_in_schema=False)
async def home() -> Redirect:
    """The console opens on its first page (the installation board)."""
    return Redirect(path=NAV[0][1], status_code=303)


def router() -> Router:
    static = create_static_files_router(path="/static", directories=[HERE / "static"], opt=public(),
                                        include_in_schema=False, name="console-static")
    handlers = [h for module in MODULES for h in module.HANDLERS]
    return Router(path="/console", route_handlers=[home, *handlers, static],
                  exception_handlers=pages.HANDLERS, include_in_schema=False)


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(["j2", "html"]), extensions=["jinja2.ext.i18n"],
                      trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_callables(i18n.context_gettext, i18n.context_ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))
