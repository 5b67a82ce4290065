"""What every ``shifo`` subcommand shares: a connected runtime, a plain-text table, JSON output and
the one line that explains a database error to the operator (instead of a traceback).

Its own module so that ``host.cli`` (the parser) and the operator's command modules both import it
and neither imports the other.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from sqlalchemy.exc import ArgumentError, DBAPIError

from core.errors import ConfigurationError, ShifoError, ValidationFailed
from host.runtime import Runtime
from host.settings import Settings


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[Runtime]:
    """A runtime with its adapters connected (no relay, no app); closed on exit."""
    rt = Runtime.plan(settings)
    try:
        await rt.open()
    except (ValueError, ArgumentError, ImportError) as exc:
        raise ConfigurationError(f"cannot use SHIFO_DATABASE_URL: {exc}") from exc
    try:
        yield rt
    finally:
        await rt.stop()


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h).upper() for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in cells)


def password(variable: str, prompt: str) -> str:
    """From the environment, else asked at the terminal; no terminal (a script, a pipe) is an
    error naming the variable, not an EOFError's traceback."""
    given = os.environ.get(variable)
    if given:
        return given
    try:
        return getpass.getpass(prompt)
    except EOFError:
        raise ValidationFailed(f"no password given: set {variable} or run at a terminal") from None


def print_json(document: Any) -> None:
    """One JSON document on stdout (``--json``): what scripts and monitoring read."""
    print(msgspec.json.encode(document).decode())


# SQLSTATEs (PostgreSQL) and SQLite messages that mean "this database lacks our schema"
_UNMIGRATED = {"42P01", "42703"}  # undefined table, undefined column
_NO_DATABASE = "3D000"  # invalid catalog name: the database does not exist
_SIGN_IN = ("28000", "28P01")  # the server refused the user or its password


def explain(exc: BaseException) -> str | None:
    """What the operator should read for a database error anywhere in ``exc``'s causes, or None
    when none of them is one. The database's own words, first line only: they never hold the
    password of the URL."""
    seen: BaseException | None = exc
    for _ in range(8):  # the connection error sits a few causes down, under Unavailable
        if seen is None:
            return None
        orig = seen.orig if isinstance(seen, DBAPIError) else seen
        state = getattr(orig, "sqlstate", None)
        said = str(orig).splitlines()[0] if str(orig) else type(orig).__name__
        if state == _NO_DATABASE:
            return f"{said}: create it (e.g. createdb), then run shifo migrate"
        if state in _SIGN_IN:
            return f"the database refused the sign-in ({said}): check the user and password of " \
                   "SHIFO_DATABASE_URL"
        if state in _UNMIGRATED or said.startswith(("no such table", "no such column")):
            return f"the database is not migrated to this version ({said}): run shifo migrate"
        if isinstance(seen, DBAPIError):
            return f"database error: {said}"
        if isinstance(seen, ShifoError) and not seen.__cause__:
            return None
        seen = seen.__cause__ or seen.__context__
    return None
