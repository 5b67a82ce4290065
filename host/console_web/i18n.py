"""The console's languages: Uzbek (Latin, the default) and Russian, from gettext catalogues.

The ``.po`` files are read at start with Babel and compiled in memory, so the repository holds no
binary ``.mo``. Templates translate through Jinja's ``i18n`` extension, whose callables look the
language up in the render context (``lang``, set by :func:`host.console_web.pages.page`), so one
environment serves both languages.
"""

from __future__ import annotations

import gettext as _gettext
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import pass_context
from jinja2.runtime import Context

LANGS = ("uz", "ru")
DEFAULT = "uz"
COOKIE = "lang"
LOCALE_DIR = Path(__file__).parent / "locale"


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / "console.po"


@cache
def translations(lang: str) -> _gettext.GNUTranslations:
    """The catalogue of ``lang`` (read once per process)."""
    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain="console")
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def lang_of(request: Any) -> str:
    """The language the ``lang`` cookie chose, else Uzbek."""
    chosen = request.cookies.get(COOKIE, DEFAULT)
    return chosen if chosen in LANGS else DEFAULT


def translate(lang: str, message: str) -> str:
    return translations(lang if lang in LANGS else DEFAULT).gettext(message)


@pass_context
def context_gettext(ctx: Context, message: str) -> str:
    return translate(ctx.get("lang", DEFAULT), message)


@pass_context
def context_ngettext(ctx: Context, singular: str, plural: str, n: int) -> str:
    lang = ctx.get("lang", DEFAULT)
    return translations(lang if lang in LANGS else DEFAULT).ngettext(singular, plural, n)
