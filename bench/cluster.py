"""What the scale-out benchmarks share: the project's environment, CPU time and quiet.

``scaleout.py`` (throughput, CPU per write) and ``propagation.py`` (commit to handler and stream)
run the project on PostgreSQL with either messaging adapter, against a nats-server of their own
(:mod:`broker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import asyncpg
from broker import broker_backlog

TICK = os.sysconf("SC_CLK_TCK")
OUTBOX_PENDING = "SELECT count(*) FROM shifo_outbox WHERE delivered_at IS NULL"
INBOX = "SELECT count(*) FROM shifo_inbox"
PROJECT_APP = "host.web.app:serve_app()"  # what `shifo serve --workers N` runs


def project_env(db_url: str, adapter: str, nats_url: str | None, extra: Iterable[str] = ()) -> dict[str, str]:
    """The project's environment; ``extra``: ``KEY=VALUE`` items (``--project-env``)."""
    env = {"SHIFO_DATABASE_URL": db_url, "SHIFO_TOKEN_TTL_SECONDS": "86400",
           "SHIFO_MESSAGING_ADAPTER": adapter}
    if adapter == "nats" and nats_url:
        env |= {"SHIFO_NATS_URL": nats_url, "SHIFO_NATS_PREFIX": "bench"}
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--project-env wants KEY=VALUE, got {item!r}")
        env[key.strip()] = value
    return env


# --- CPU time from /proc (utime + stime), no psutil -------------------------------------------

def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # fields from the 3rd (state) on; comm may hold spaces


def cpu_of(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK if fields else 0.0


def workers_of(supervisor: int) -> list[int]:
    """uvicorn's worker processes (children started by multiprocessing's spawn, not its resource
    tracker), or the supervisor itself when it serves alone (``--workers 1``)."""
    kids = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        fields = _stat(int(p))
        if fields and int(fields[1]) == supervisor:
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes():
                    kids.append(int(p))
    return kids or [supervisor]


def pg_backends(database: str) -> list[int]:
    """PostgreSQL's backends serving ``database`` (its process title names the database)."""
    found = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            title = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {database} " in title:
            found.append(int(p))
    return found


class CpuMeter:
    """CPU seconds of named groups of processes between :meth:`start` and :meth:`stop`."""

    def __init__(self, groups: dict[str, list[int]], database: str | None = None,
                 exclude: Iterable[int] = ()) -> None:
        self.groups, self.database, self.exclude = groups, database, set(exclude)
        self._before: dict[int, float] = {}

    def _pids(self) -> dict[str, list[int]]:
        found = dict(self.groups)
        if self.database:
            found["postgres"] = [p for p in pg_backends(self.database) if p not in self.exclude]
        return found

    def start(self) -> None:
        self._before = {p: cpu_of(p) for ps in self._pids().values() for p in ps}

    def stop(self) -> dict[str, list[float]]:
        """Per group, each process's CPU seconds (backends opened meanwhile count from zero)."""
        return {g: [cpu_of(p) - self._before.get(p, 0.0) for p in ps] for g, ps in self._pids().items()}


# --- quiet: the outbox delivered and the consumers done ------------------------------------------

async def settle(conn: asyncpg.Connection, nats_url: str | None = None, patience: float = 180,
                 still: float = 1.0) -> int:
    """Wait until nothing is pending in the outbox, the inbox has not grown for ``still`` seconds
    and, with ``nats_url``, every consumer group acknowledged everything; returns the inbox count."""
    deadline = time.monotonic() + patience
    last, since = -1, time.monotonic()
    while True:
        pending, inbox = await conn.fetchval(OUTBOX_PENDING), await conn.fetchval(INBOX)
        now = time.monotonic()
        if inbox != last or pending:
            last, since = inbox, now
        elif now - since >= still and not (nats_url and await broker_backlog(nats_url)):
            return int(inbox)
        if now > deadline:
            raise RuntimeError(f"not quiet after {patience}s: {pending} outbox rows pending")
        await asyncio.sleep(0.2)
