"""The outbox as a log live readers read: the horizon's reads and a patient's events.

Delivered rows are kept, so the outbox is a durable log per patient (index ``(patient, seq)``) and
``seq`` a position a client resumes from. Which rows may be read without missing one that commits
later is the host's business (:mod:`host.outbox_horizon`); these are only its queries.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import BigInteger, bindparam, func, select, text

from adapters.storage.tables import outbox
from adapters.storage.transaction import SqlTransaction
from ports.sql import in_list
from ports.storage import HorizonRead, prepared

Units = Callable[..., AbstractAsyncContextManager[SqlTransaction]]
_O = outbox.c
_SNAPSHOT = text("SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint "
                 "FROM pg_current_snapshot() AS s")
_TOP = prepared(select(func.max(_O.seq)))
_ROWS = prepared(select(_O.seq, _O.patient).where(_O.seq > bindparam("settled", type_=BigInteger))
                 .order_by(_O.seq).limit(bindparam("scan")))
_NO_END = 2**62  # ``upto`` None: one statement for both


def _runs() -> Any:
    """The rows after ``settled`` (at most ``scan``) as runs of consecutive seqs: first, last and
    the rows read. A reader that needs no patients (the relay) settles the same seqs from these
    as from every row, and fetches a row per gap, not a row per event."""
    run = select(_O.seq).where(_O.seq > bindparam("settled", type_=BigInteger)).order_by(_O.seq) \
        .limit(bindparam("scan")).subquery("run")
    island = (run.c.seq - func.row_number().over(order_by=run.c.seq)).label("island")
    grouped = select(run.c.seq, island).subquery("grouped")
    g = grouped.c
    return prepared(select(func.min(g.seq).label("seq"), func.max(g.seq).label("last"),
                           func.sum(func.count()).over().label("rows"))
                    .group_by(g.island).order_by(func.min(g.seq)))


_RUNS = _runs()


def _feed(dialect: str) -> Any:
    stmt = (select(_O.seq, _O.event_type, _O.payload)
            .where(_O.patient == bindparam("patient"), _O.seq > bindparam("after"),
                   _O.seq <= bindparam("upto"), in_list(_O.event_type, "types", dialect))
            .order_by(_O.seq).limit(bindparam("n")))
    return prepared(stmt) if dialect == "postgresql" else stmt  # an expanding IN is compiled per call


_FEED = {dialect: _feed(dialect) for dialect in ("postgresql", "sqlite")}


async def horizon_read(units: Units, settled: int, scan: int, patients: bool) -> HorizonRead:
    async with units(readonly=True) as tx:
        snapshot = None
        if tx.dialect == "postgresql":  # taken before the rows (host.outbox_horizon)
            xmin, xmax = (await tx.execute(_SNAPSHOT)).one()
            snapshot = (int(xmin), int(xmax))
        if settled < 0:
            top = (await tx.execute(_TOP)).scalar()
            return HorizonRead(snapshot=snapshot, top=int(top or 0))
        params = {"settled": settled, "scan": scan}
        if patients:
            rows = [(int(seq), patient) for seq, patient in (await tx.execute(_ROWS, params)).all()]
            return HorizonRead(snapshot=snapshot, rows=rows, read=len(rows))
        found = (await tx.execute(_RUNS, params)).all()
    return HorizonRead(snapshot=snapshot, runs=[(int(r.seq), int(r.last)) for r in found],
                       read=int(found[0].rows) if found else 0)


async def patient_events(units: Units, patient: str, after: int, upto: int | None,
                         types: Collection[str], limit: int) -> list[tuple[int, str, bytes]]:
    if not types or limit <= 0:
        return []
    async with units(readonly=True) as tx:
        found = (await tx.execute(_FEED[tx.dialect], {
            "patient": patient, "after": after, "upto": _NO_END if upto is None else upto,
            "types": list(types), "n": limit})).all()
    return [(int(seq), event_type, bytes(payload)) for seq, event_type, payload in found]
