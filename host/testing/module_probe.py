"""The contract kit's HTTP probe: every route of a module, called as each kind of caller.

A fresh SQLite deployment with two facilities: ``KIT-1`` installs the module (and what it
requires), ``KIT-2`` only what it requires. One clinician holds all four clinical roles at KIT-1,
another at KIT-2, and there is a patient. Path parameters get harmless values (a zero UUID, ``1``),
bodies are ``{}``: the probe asks who may come in, not whether the input is good.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from litestar.testing import AsyncTestClient

from core.principals import CLINICAL_ROLES
from host.pluginapi import Permission
from host.testing.deployment import pinfl, prepare, sign_in
from host.testing.module_checks import added
from host.web.app import create_app

if TYPE_CHECKING:
    from host.testing.module_kit import ModuleKitSubject

REFUSED = (401, 403)  # a token of the other audience is not valid there at all: 401
_SAMPLES: dict[Any, str] = {UUID: "00000000-0000-4000-8000-000000000000", int: "1", dt.date: "2020-01-02",
                            dt.datetime: "2020-01-02T00:00:00Z"}


def _url(route: Any) -> str:
    path = route.path
    for p in route.path_parameters.values():
        path = path.replace("{" + p.full + "}", _SAMPLES.get(p.type, "1"))
    return str(path)


def _streams(handler: Any) -> bool:
    """A stream never ends by itself: the probe does not call it as a caller who is let in."""
    shown = str(handler.parsed_fn_signature.return_type.annotation)
    return "Stream" in shown or "ServerSentEvent" in shown


async def probe_routes(subject: ModuleKitSubject, tmp: Path) -> list[str]:
    """Call every route the module adds; return the answers that break the contract."""
    url = f"sqlite+aiosqlite:///{tmp / 'probe.db'}"
    settings, base = subject.settings(url, tmp), subject.settings(url, tmp, with_module=False)
    roles = sorted(CLINICAL_ROLES)
    await prepare(settings, facilities={"KIT-1": settings.modules, "KIT-2": base.modules},
                  staff={"kit-here": {"KIT-1": roles}, "kit-elsewhere": {"KIT-2": roles}},
                  patients={"kit-patient": pinfl(417)}, extra_plugins=subject.extra_plugins)
    app = create_app(settings, extra_plugins=subject.extra_plugins)
    held = {(r.object, r.action) for _, rules in app.state.runtime.modules.policies() for r in rules}
    problems: list[str] = []
    async with AsyncTestClient(app) as client:
        tokens = {who: await sign_in(client, who) for who in ("kit-here", "kit-elsewhere", "kit-patient")}

        async def call(method: str, path: str, who: str | None, facility: str = "KIT-1") -> int:
            headers = {"X-Facility": facility, **(tokens[who] if who else {})}
            body: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            r = await client.request(method, path, headers=headers, **body)
            return int(r.status_code)

        for (method, path), (route, handler) in added(app, create_app(base)):
            perm, where, target = handler.opt.get("permission"), f"{method} {path}", _url(route)
            if not isinstance(perm, Permission):
                continue  # reported by the static cases
            if (status := await call(method, target, None)) != 401:
                problems.append(f"{where} answered an anonymous caller {status}, not 401")
            if perm.principal == "patient":
                if (status := await call(method, target, "kit-here")) not in REFUSED:
                    problems.append(f"{where} (a patient route) answered a clinician {status}")
                status = await call(method, target, "kit-patient")
                if status in (401, 403) or status >= 500:
                    problems.append(f"{where} answered the patient {status}")
                continue
            if not perm.patients and (status := await call(method, target, "kit-patient")) not in REFUSED:
                problems.append(f"{where} answered a patient {status}")
            if (status := await call(method, target, "kit-elsewhere", "KIT-2")) != 403:
                problems.append(f"{where} answered a clinician at a facility without the module {status}, "
                                "not 403")
            if (perm.object, perm.action) not in held:
                problems.append(f"{where}: no clinical role holds {perm.object}/{perm.action}, so no one "
                                "can use the route")
            elif not _streams(handler):
                status = await call(method, target, "kit-here")
                if status in (401, 403) or status >= 500:
                    problems.append(f"{where} answered a clinician holding its permission {status}")
    return problems
