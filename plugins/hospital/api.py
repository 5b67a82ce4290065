"""HTTP routes of the hospital module, mounted under /api/v1/hospital/."""

from __future__ import annotations

from litestar import Controller, get

from host.pluginapi import Ctx, requires
from plugins.hospital import INFO
from plugins.hospital.schema import ModuleStatus


class ModuleController(Controller):
    path = "/"

    @get("/", opt=requires("hospital.module", "read"))
    async def status(self, ctx: Ctx) -> ModuleStatus:
        """The module is installed at the caller's facility and answers."""
        return ModuleStatus(module=INFO.name, title=INFO.title, version=INFO.version, facility=ctx.facility)
