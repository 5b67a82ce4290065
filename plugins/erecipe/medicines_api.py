"""The medicines register over HTTP: search and read for prescribers and pharmacists, and the demo's
loading of the shipped demo register (dev deployments only, like server-side dev signing)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, Parameter

from core.clock import utcnow
from core.errors import NotFound
from host.pluginapi import Ctx, requires
from plugins.erecipe import medicines, medicines_import, signing
from plugins.erecipe.medicines import Medicine
from plugins.erecipe.medicines_import import Report
from ports.signature import DevSigner

READ = requires("erecipe.medicines", "read")


class MedicinesController(Controller):
    path = "/medicines"

    @get("/", opt=READ)
    async def search(self, ctx: Ctx, q: Annotated[str, Parameter(min_length=2, max_length=200)],
                     history: bool = False) -> list[Medicine]:
        """Current products whose INN or trade name contains ``q``, whose ATC code starts with it,
        or with that GTIN or registration number (``history``: also their superseded versions)."""
        async with ctx.storage.transaction(readonly=True) as tx:
            return await medicines.search(tx, q, include_history=history)

    @get("/{medicine:uuid}", opt=READ)
    async def read(self, ctx: Ctx, medicine: FromPath[UUID]) -> Medicine:
        """One version of a product (prescriptions name the version they were written against)."""
        async with ctx.storage.transaction(readonly=True) as tx:
            found = await medicines.by_ref(tx, str(medicine))
        if found is None:
            raise NotFound("no such medicine in the register")
        return found


class DevMedicinesController(Controller):
    """``shifo demo`` loads the shipped demo register through this route: 404 unless the deployment
    runs the dev signature adapter. Real registers come with ``shifo erecipe import-medicines``."""

    path = "/dev/medicines"

    @post("/", opt=requires("erecipe.devsign", "use"), status_code=200)
    async def load_demo(self, ctx: Ctx) -> Report:
        """Demo only: load the shipped demo medicines register (404 in a real deployment)."""
        if not isinstance(ctx.services.get(signing.SERVICE), DevSigner):
            raise NotFound("no dev signer in this deployment: import the register with the CLI")
        return await medicines_import.import_file(ctx.storage, medicines_import.DEMO_FILE.read_bytes(),
                                                  utcnow(), progress=None)
