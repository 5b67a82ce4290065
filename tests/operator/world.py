"""A small world for the operator tests: an operator, a doctor at F1, tokens issued up front."""

from __future__ import annotations

from typing import Any

from host.settings import Settings
from tests.access.world import bearer, facilities, settings, staff, token
from tests.support import opened

MODULES = ("medcard", "polyclinic", "erecipe")  # enough for the operator's stories


async def seed(db_url: str, modules: tuple[str, ...] = ("medcard",),
               **extra: Any) -> tuple[Settings, dict[str, Any]]:
    s = settings(db_url).with_(modules=MODULES)
    if extra:  # beside the identity's cheap hashing, not instead of it
        s = s.with_(extra={**s.extra, "operator": extra})
    async with opened(s) as rt:
        await facilities(rt, {"F1": modules})
        await staff(rt, "op", kind="operator", n=1)
        doc = await staff(rt, "doc", [("F1", "doctor")], n=2)
        world = {"op": bearer(await token(rt, "op")), "doc": bearer(await token(rt, "doc")), "doc_id": doc}
    return s, world
