"""Paper prescriptions: written on the paper form while the system could not be reached, registered
afterwards by their prescriber, so that their dispenses (online, or uploaded in an offline journal
by the number) are recorded against them and the patient's card and app show them.

The prescriber's device signs ``canonical_json(order)`` of the paper order *when it is written*
(it works offline): the signing time must be ``written_at`` within ten minutes, so the certificate
is checked as it was then, and ``paper_window_hours`` (module setting, default 72) bounds how far
back that may lie. Registering goes the one-request order's way (``orders.checked``,
``orders.issue``): the same category, role and register rules, the number from the id and
``written_at``, issued as of ``written_at`` with its validity counted from then. A prescription whose
validity has already ended is refused (422); a paper form's number registers once per facility (409).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy import bindparam, select

from core.errors import Conflict, ValidationFailed
from plugins.erecipe import orders
from plugins.erecipe.config import Category
from plugins.erecipe.offline_journal import SKEW
from plugins.erecipe.orders import Accepted, Clinical
from plugins.erecipe.prescribing import Prescriber
from plugins.erecipe.schema import Signature
from plugins.erecipe.tables import prescriptions
from ports.directory import PatientDirectory
from ports.storage import Transaction, prepared

_UTC = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z\Z"
_TAKEN = prepared(select(prescriptions.c.number).where(
    prescriptions.c.facility == bindparam("facility"), prescriptions.c.paper_number == bindparam("paper")))


class PaperOrder(Clinical, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Exactly what is signed, as :class:`orders.Order` but made when the paper form was written."""

    action: Literal["issue-paper"]
    written_at: Annotated[str, msgspec.Meta(pattern=_UTC)]  # UTC with "Z": when the form was written
    paper_number: Annotated[str, msgspec.Meta(pattern=r"^\w([\w/ -]{0,30}\w)?\Z")]  # as printed on the form
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]  # why not electronically


class SignedPaperIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    order: PaperOrder
    signature: Signature  # detached CMS over canonical_json(order), made at written_at
    content: str | None = None  # base64 of the bytes signed; when sent, a mismatch names the byte


def _fail(detail: str, field: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": field, "message": detail}])


def accept(data: SignedPaperIn, who: Prescriber, categories: dict[str, Category], now: datetime,
           window: timedelta) -> Accepted:
    """Every check that needs no database (the signature is verified next, at ``written_at``)."""
    written = orders.moment(data.order.written_at, "order.written_at")
    if written > now + SKEW:
        raise _fail("written_at lies in the future; check the device's clock", "order.written_at")
    if written < now - window:
        raise _fail(f"written_at is outside the registration window of {window.total_seconds() / 3600:g} "
                    "hours: a paper prescription is registered within that time of writing it",
                    "order.written_at")
    ok = orders.checked(data.order, data.content, who, categories, written)
    if ok.valid_until <= now:
        raise _fail(f"the paper prescription expired at {ok.valid_until.isoformat()}: it cannot be "
                    "registered any more", "order.valid_days")
    return msgspec.structs.replace(ok, written_at=written, paper_number=data.order.paper_number)


async def register(tx: Transaction, ok: Accepted, who: Prescriber, verification: dict[str, Any],
                   signature: bytes, now: datetime, directory: PatientDirectory | None
                   ) -> tuple[dict[str, Any], str]:
    """The prescription issued as of ``written_at``; 409 when the form's number is registered."""
    number = (await tx.execute(_TAKEN, {"facility": who.facility, "paper": ok.paper_number})).scalar()
    if number is not None:  # only for the message: the unique index decides
        raise Conflict(f"the paper prescription {ok.paper_number} of {who.facility} is already registered, "
                       f"as number {number}")
    return await orders.issue(tx, ok, who, verification, signature, now, directory)
