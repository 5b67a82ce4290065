"""HTTP routes of the erecipe module, mounted under /api/v1/erecipe/.

A signature over bytes the client builds itself (cancel, dispense, a one-request issue) is
verified before the write transaction opens; issuing a draft verifies inside its unit of work,
where the draft's bytes are in hand. Every write runs through ``ctx.transact``, which re-runs it
when it loses to a concurrent request, and re-checks the state under a condition.
"""

from __future__ import annotations

import base64
from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, Parameter

from core.clock import utcnow
from core.errors import NotFound, ValidationFailed
from host.pluginapi import Ctx, requires, status_controller
from plugins.erecipe import INFO, config, dispensing, issuing, orders, prescribing, signing, views
from plugins.erecipe.orders import SignedOrderIn
from plugins.erecipe.prescribing import Prescriber
from plugins.erecipe.schema import (
    CancelIn,
    DevSigned,
    DevSignIn,
    Dispensed,
    DispenseIn,
    Draft,
    DraftIn,
    ForDispensing,
    IssueIn,
    Prescription,
)
from ports.directory import SERVICE as DIRECTORY
from ports.signature import DevSigner
from ports.storage import Transaction

PINFL = Annotated[str | None, Parameter(pattern=r"^[0-9]{14}\Z")]
PRESCRIBE = requires("erecipe.prescription", "prescribe")
READ = requires("erecipe.prescription", "read")


def prescriber(ctx: Ctx) -> Prescriber:
    assert ctx.principal is not None and ctx.facility is not None
    held = ctx.principal.roles_at(ctx.facility)
    return Prescriber(id=ctx.principal.id, pinfl=ctx.principal.pinfl, name=ctx.principal.full_name,
                      role="doctor" if "doctor" in held else "resident", facility=ctx.facility)


def categories(ctx: Ctx) -> dict[str, config.Category]:
    """The module's settings (hook ``shifo_settings``), validated at start-up."""
    settings: config.Settings = ctx.settings or config.Settings()
    return settings.categories


ModuleController = status_controller(INFO)


class DevSignController(Controller):
    """Signing on the server for the demo (``make run``) only: answers 404 unless the deployment's
    signature adapter is a :class:`ports.signature.DevSigner`. Real users sign on their device."""

    path = "/dev/sign"

    @post("/", opt=requires("erecipe.devsign", "use"), status_code=200)
    async def sign(self, ctx: Ctx, data: JSONBody[DevSignIn]) -> DevSigned:
        """Demo only: sign content with the dev signer as the caller (404 in a real deployment)."""
        signer = ctx.services.get(signing.SERVICE)
        if not isinstance(signer, DevSigner):
            raise NotFound("no dev signer in this deployment: sign on your own device")
        assert ctx.principal is not None
        if not ctx.principal.pinfl:
            raise ValidationFailed("your account has no PINFL on record")
        raw = await signer.sign(signing.decode(data.content, "content"), signer_pinfl=ctx.principal.pinfl,
                                signer_name=ctx.principal.full_name)
        return DevSigned(signature=base64.b64encode(raw).decode())


class PrescriptionController(Controller):
    path = "/prescriptions"

    @post("/drafts", opt=PRESCRIBE)
    async def draft(self, ctx: Ctx, data: JSONBody[DraftIn]) -> Draft:
        """Validate a prescription and return the canonical bytes (base64) the prescriber signs."""
        who = prescriber(ctx)
        async def work(tx: Transaction) -> Draft:
            made = await prescribing.draft(tx, data, who, categories(ctx), utcnow(),
                                           ctx.services.get(DIRECTORY))
            await ctx.audit(tx, "erecipe.prescription/draft", patient=data.patient_pinfl, object=str(made.id))
            return made
        return await ctx.transact(work)

    @post("/", opt=PRESCRIBE)
    async def issue_signed(self, ctx: Ctx, data: JSONBody[SignedOrderIn]) -> Prescription:
        """Draft and issue in one request: the order and the prescriber's signature over
        ``canonical_json(order)``, bytes the client builds itself (see the module's README)."""
        who = prescriber(ctx)
        now = utcnow()
        accepted = orders.accept(data, who, categories(ctx), now)  # 4xx before the signature is checked
        verdict = await signing.verify(ctx.services, accepted.canonical, data.signature, pinfl=who.pinfl,
                                       now=now)
        signature = signing.decode(data.signature)
        directory = ctx.services.get(DIRECTORY)
        async def work(tx: Transaction) -> Prescription:
            row, on_card = await orders.issue(tx, accepted, who, verdict, signature, now, directory)
            await ctx.audit(tx, "erecipe.prescription/issue", patient=row["patient_pinfl"],
                            object=str(accepted.id))
            return views.just_issued(row, verification=verdict, on_card=on_card, now=now, history=[
                views.step(now, "issued", who.id, issuing.issued_detail(verdict))])
        return await ctx.transact(work)

    @post("/{rx:uuid}/issue", opt=PRESCRIBE, status_code=200)
    async def issue(self, ctx: Ctx, rx: FromPath[UUID], data: JSONBody[IssueIn]) -> Prescription:
        """Issue a draft with the prescriber's detached signature over its canonical bytes, in one
        unit of work (``issuing.issue``); the answer is built from what it holds, not read back."""
        who = prescriber(ctx)
        now = utcnow()
        sent = None if data.content is None else signing.decode(data.content, "content")
        signature = signing.decode(data.signature)
        verify = signing.verifier(ctx.services, data.signature, pinfl=who.pinfl, now=now)
        async def work(tx: Transaction) -> Prescription:
            row, verdict, on_card = await issuing.issue(tx, rx, who, now, signature=signature, verify=verify,
                                                        sent=sent)
            await ctx.audit(tx, "erecipe.prescription/issue", patient=row.patient_pinfl, object=str(rx))
            return views.just_issued(row._mapping, verification=verdict, on_card=on_card, now=now, history=[
                views.step(row.created_at, "draft", row.prescriber_id),
                views.step(now, "issued", who.id, issuing.issued_detail(verdict))])
        return await ctx.transact(work)

    @post("/{rx:uuid}/cancel", opt=PRESCRIBE, status_code=200)
    async def cancel(self, ctx: Ctx, rx: FromPath[UUID], data: JSONBody[CancelIn]) -> Prescription:
        """Cancel, signed over ``canonical_json({"action": "cancel", "number", "reason"})``."""
        who = prescriber(ctx)
        async with ctx.storage.transaction(readonly=True) as tx:
            row = await prescribing.load(tx, rx)
        now = utcnow()
        prescribing.cancellable(row, who, now)
        verdict = await signing.verify(ctx.services, prescribing.cancel_content(row.number, data.reason),
                                       data.signature, pinfl=who.pinfl, now=now)
        async def work(tx: Transaction) -> Prescription:
            await prescribing.cancel(tx, rx, who, data.reason, verdict, signing.decode(data.signature), now)
            await ctx.audit(tx, "erecipe.prescription/cancel", patient=row.patient_pinfl, object=str(rx))
            return await views.full(tx, rx, now)
        return await ctx.transact(work)

    @get("/{rx:uuid}", opt=READ)
    async def read(self, ctx: Ctx, rx: FromPath[UUID]) -> Prescription:
        """One prescription: content, status, signature verdicts and history; audited."""
        async with ctx.storage.transaction() as tx:
            found = await views.full(tx, rx, utcnow())
            await ctx.audit(tx, "erecipe.prescription/read", patient=found.patient_pinfl, object=str(rx))
            return found

    @get("/", opt=READ)
    async def of_patient(self, ctx: Ctx, patient: Annotated[str, Parameter(pattern=r"^[0-9]{14}\Z")]
                         ) -> list[Prescription]:
        """A patient's issued prescriptions, newest first."""
        async with ctx.storage.transaction() as tx:
            found = await views.of_patient(tx, patient, utcnow())
            await ctx.audit(tx, "erecipe.prescription/read", patient=patient)
            return found


class DispensingController(Controller):
    path = "/dispensing"

    @get("/", opt=requires("erecipe.dispensing", "read"))
    async def find(self, ctx: Ctx, number: Annotated[str | None, Parameter(max_length=32)] = None,
                   qr: Annotated[str | None, Parameter(max_length=64)] = None,
                   pinfl: PINFL = None) -> list[ForDispensing]:
        """Find by number, QR payload, or the patient's PINFL (active prescriptions only).

        Give exactly one of ``number``, ``qr`` or ``pinfl``: none or several is a 422."""
        async with ctx.storage.transaction() as tx:
            found = await views.find(tx, utcnow(), number=number, qr=qr, pinfl=pinfl)
            for rx in found:
                await ctx.audit(tx, "erecipe.dispensing/read", patient=rx.patient_pinfl, object=rx.number)
            return found

    @post("/{number:str}", opt=requires("erecipe.dispensing", "dispense"))
    async def dispense(self, ctx: Ctx, number: FromPath[str], data: JSONBody[DispenseIn]) -> Dispensed:
        """Dispense, signed over ``canonical_json({"action": "dispense", "number", "dispense_id",
        "items"})``; each signed dispense is accepted once (a replay is 409)."""
        principal, facility = ctx.principal, ctx.facility
        assert principal is not None and facility is not None
        now = utcnow()
        canonical = dispensing.content(number, data.items, data.dispense_id)
        verdict = await signing.verify(ctx.services, canonical, data.signature, pinfl=principal.pinfl,
                                       now=now)
        once = data.dispense_id or signing.signed_once_id(canonical, verdict)
        async def work(tx: Transaction) -> Dispensed:
            done = await dispensing.dispense(
                tx, number, data.items, by=principal.id, facility=facility, canonical=canonical,
                signature=signing.decode(data.signature), verification=verdict, now=now, dispense_id=once,
                audit=ctx.audit)
            return done
        return await ctx.transact(work)
