"""The project with its audit trail switched off, for the audit on/off ratio only.

The platform itself has no switch to stop auditing, on purpose: this benchmark-only factory
replaces the one function every audit entry goes through with a no-op, nothing else.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from host import audit
from host.web.app import serve_app


async def _skip(tx: Any, item: Any) -> int:
    return 0


def create_app() -> Litestar:
    audit.record = _skip  # type: ignore[assignment]
    return serve_app()  # as the project runs in the benchmark, JSON logs included
