"""``GET .../prescriptions/{id}/qr``: the QR code (SVG or PNG) or the token as text, for clinicians
(who read the prescription) and for the patient in the DMED app (their own prescriptions only).

Only an issued prescription has one: a draft is unsigned (409). Cancellation and dispenses are not
in the code, which never changes; an offline pharmacy learns of them when it uploads its journal.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Controller, Response, get
from litestar.params import FromPath, QueryParameter
from sqlalchemy import select

from core.errors import Conflict, NotFound, ValidationFailed
from host.pluginapi import Ctx, own_record, requires
from plugins.erecipe import qr
from plugins.erecipe.tables import prescriptions
from ports.storage import Transaction

Format = Annotated[Literal["svg", "png", "token"], QueryParameter(name="format")]


def rendered(row: Any, fmt: str) -> Response[bytes]:
    if row.signature is None:
        raise Conflict(f"the prescription is {row.status}: only an issued prescription has a QR code")
    token = qr.encode(row.canonical, row.signature)
    if fmt == "token":
        return Response(token.encode(), media_type="text/plain; charset=utf-8")
    try:
        return Response(qr.image(token, fmt), media_type=qr.MEDIA[fmt],
                        headers={"Content-Disposition": f'inline; filename="{row.number}.{fmt}"'})
    except qr.TooLarge:
        raise ValidationFailed("this prescription is too large for one QR code: share it as "
                               "format=token") from None


async def _row(tx: Transaction, rx: UUID, patient: str | None = None) -> Any:
    query = select(prescriptions).where(prescriptions.c.id == rx)
    if patient is not None:
        query = query.where(prescriptions.c.patient_pinfl == patient, prescriptions.c.status != "draft")
    row = (await tx.execute(query)).first()
    if row is None:
        raise NotFound("no such prescription" if patient is None else f"you have no prescription {rx}")
    return row


class QrController(Controller):
    path = "/prescriptions"

    @get("/{rx:uuid}/qr", opt=requires("erecipe.prescription", "read"), media_type="image/svg+xml")
    async def qr_code(self, ctx: Ctx, rx: FromPath[UUID], fmt: Format = "svg") -> Response[bytes]:
        """The prescription's signed content as a QR code (``format=svg|png``) or as the token
        text (``format=token``) a pharmacy verifies offline (``shifo erecipe verify-qr``)."""
        async with ctx.storage.transaction() as tx:
            row = await _row(tx, rx)
            await ctx.audit(tx, "erecipe.prescription/read", patient=row.patient_pinfl, object=str(rx),
                            detail=f"qr {fmt}")
        return rendered(row, fmt)


@get("/prescriptions/{rx:uuid}/qr", opt=own_record("erecipe.prescription"), media_type="image/svg+xml",
     summary="The QR code of one of my prescriptions")
async def my_qr(ctx: Ctx, rx: FromPath[UUID], fmt: Format = "svg") -> Response[bytes]:
    """To show at a pharmacy, even one without a connection."""
    async with ctx.storage.transaction() as tx:
        row = await _row(tx, rx, ctx.patient)
        await ctx.audit(tx, "erecipe.prescription/read", patient=ctx.patient, object=str(rx),
                        detail=f"patient app: qr {fmt}")
    return rendered(row, fmt)
