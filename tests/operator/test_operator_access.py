"""Operators read no clinical data: every staff route of every module answers them 403, and every
operator route refuses clinicians. Generated from the app's own route table."""

from __future__ import annotations

import re

from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from host.pluginapi import Permission
from host.web.app import create_app
from tests.operator.world import seed

ZERO = "00000000-0000-0000-0000-000000000000"


def routes(app, principal: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            perm = handler.opt.get("permission")
            if isinstance(perm, Permission) and perm.principal == principal:
                path = re.sub(r"\{[^}:]+:uuid\}", ZERO, route.path)
                path = re.sub(r"\{[^}:]+:date\}", "2026-01-01", path)
                path = re.sub(r"\{[^}]+\}", "x", path)
                found += [(m, path) for m in sorted(handler.http_methods) if m != "OPTIONS"]
    return found


async def test_operators_get_403_on_clinical_routes_and_clinicians_on_operator_routes(db_url: str) -> None:
    s, w = await seed(db_url, modules=("medcard", "polyclinic", "erecipe"))
    app = create_app(s)
    clinical, operator = routes(app, "staff"), routes(app, "operator")
    assert len(clinical) >= 10 and any("/operator/" in p for _, p in operator)
    async with AsyncTestClient(app) as client:
        for method, path in clinical:
            r = await client.request(method, path, headers={**w["op"], "X-Facility": "F1"}, json={})
            assert r.status_code == 403, (method, path, r.status_code)
        for method, path in operator:
            r = await client.request(method, path, headers=w["doc"], json={})
            assert r.status_code == 403, (method, path, r.status_code)
