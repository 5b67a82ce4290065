"""A consumer of every catalogue event that writes down, per event it handles, the event, its
outbox seq, the process and the transaction that handled it, under an autoincrement id
(PostgreSQL only: the transaction is ``txid_current()``).

The scale-out tests read the table back: each event once (the inbox check works across
processes), and per patient the seqs rise with the id (events of one patient are handled in commit
order, whichever process held the patient's partition). ``SHIFO_PROBE_DELAY_MS`` slows each event
down, so that a process killed by a test dies in the middle of a batch.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import sqlalchemy as sa

from core.events import Event, catalogue
from host.pluginapi import EventHandler, ModuleInfo, hookimpl
from ports.storage import Transaction

CONSUMER = "probe.handled"
DELAY = float(os.environ.get("SHIFO_PROBE_DELAY_MS", "0")) / 1000

handled = sa.Table(
    "probe_handled", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Uuid, nullable=False),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("patient", sa.String(14)),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("tx", sa.BigInteger, nullable=False),  # the handling transaction (PostgreSQL's id)
)

# the outbox is the host's table: a module reaches it by SQL only (it imports no adapter)
_SEQ = sa.text("SELECT seq FROM shifo_outbox WHERE event_id = :id").bindparams(
    sa.bindparam("id", type_=sa.Uuid))


async def record(event: Event, tx: Transaction) -> None:
    seq = (await tx.execute(_SEQ, {"id": event.id})).scalar_one()
    await tx.execute(handled.insert().values(event_id=event.id, event_type=event.event_type(),
                                             patient=event.patient, seq=seq, pid=os.getpid(),
                                             tx=sa.func.txid_current()))
    if DELAY:
        await asyncio.sleep(DELAY)


@hookimpl
def shifo_module_info() -> ModuleInfo:
    return ModuleInfo(name="probe", title="Scale-out probe", version="0.1.0")


@hookimpl
def shifo_migrations() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def shifo_event_handlers() -> list[EventHandler]:
    return [EventHandler(consumer=CONSUMER, event_types=tuple(sorted(catalogue())), handle=record)]
