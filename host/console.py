"""What every ``shifo`` subcommand shares: a connected runtime and a plain-text table.

Its own module so that ``host.cli`` (the parser) and the operator's command modules both import it
and neither imports the other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.exc import ArgumentError

from core.errors import ConfigurationError
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
