"""HTTP routes of the medcard module, mounted under /api/v1/medcard/."""

from __future__ import annotations

from litestar import Controller, get

from host.pluginapi import Ctx, requires
from plugins.medcard import INFO
from plugins.medcard.schema import ModuleStatus


class ModuleController(Controller):
    path = "/"

    @get("/", opt=requires("medcard.module", "read"))
    async def status(self, ctx: Ctx) -> ModuleStatus:
        """The module is installed at the caller's facility and answers."""
        return ModuleStatus(module=INFO.name, title=INFO.title, version=INFO.version, facility=ctx.facility)
