"""How far live readers may read the outbox without ever missing a row that commits later.

A live reader (the patient stream) remembers a position, the highest ``seq`` it has read, and
resumes from it after a disconnect (``Last-Event-ID``). That is safe only if no lower ``seq`` can
still appear. The relay does not face this (it claims undelivered rows, whatever their ``seq``);
a position does. On SQLite the one writer takes its ``seq`` inside its write transaction, so seqs
commit in order and the horizon is the highest ``seq``. On PostgreSQL a ``seq`` is drawn before
commit, so a lower one can commit after a higher one, or never (rolled back). The horizon then
stops below such a hole until the row shows up or every transaction running when the hole was
seen has ended (a later snapshot's ``xmin`` passed that snapshot's ``xmax``): then it is a rollback's
gap for good. A hole older than :data:`GIVE_UP_SECONDS` is passed with a warning, so one stuck writer
delays the streams but cannot freeze them. The rows and snapshots come through the storage port
(``Outbox.horizon_read``); this module keeps only the reasoning about holes.

One :class:`Horizon` serves every stream of a process: reads are shared (at most one per commit
notification or poll period), it remembers which patients the settled rows concern so streams of
other patients skip their query, and it is woken right after a local commit
(``Storage.on_commit``) and whenever the messaging port brings another process's event
(:mod:`host.live_hub`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from ports.storage import Storage

log = logging.getLogger("shifo.patient.stream")
POLL_SECONDS = 1.0  # how long a read stands in for later ones when no wake-up came
HOLE_SECONDS = 0.25  # before a hole's first check: its writer has its transaction id by then
GIVE_UP_SECONDS = 30.0
SCAN = 5000  # rows read past the horizon per read
TAIL = 1000  # on PostgreSQL, the last seqs re-checked for holes when a process starts reading
MAX_PATIENTS = 100_000  # patients remembered; beyond that streams query once to be sure


class _Hole:
    def __init__(self, seen: float) -> None:
        self.seen = seen
        self.xmax: int | None = None  # of a snapshot taken after the hole was seen


class Horizon:
    def __init__(self, storage: Storage, *, patients: bool = True) -> None:
        self.storage = storage
        self._patients = patients  # the relay's horizon needs only the seq
        self.settled = -1  # every row with seq <= settled that will ever commit is visible; -1: unread
        self.floor = -1  # patients' rows above the floor are remembered in _last
        self._last: dict[str, int] = {}
        self._holes: dict[int, _Hole] = {}
        self._lock = asyncio.Lock()
        self._read_at = float("-inf")
        self._rung_at = float("-inf")
        self._signal = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- wake-ups --------------------------------------------------------------------------

    def signal(self) -> asyncio.Event:
        """Set at the next commit notification; take it before reading, then wait on it."""
        self._loop = self._loop or asyncio.get_running_loop()
        return self._signal

    def wake(self) -> None:
        """A commit published events (``Storage.on_commit``); safe from another thread or loop."""
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is not None and (self._loop is None or here is self._loop):
            self._ring()
        elif self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._ring)

    def _ring(self) -> None:
        self._rung_at = asyncio.get_running_loop().time()
        rung, self._signal = self._signal, asyncio.Event()
        rung.set()

    @property
    def poll_seconds(self) -> float:
        return HOLE_SECONDS if self._holes else POLL_SECONDS

    # --- reading ---------------------------------------------------------------------------

    def may_concern(self, pinfl: str, after: int) -> bool:
        """False when no row of ``pinfl`` settled after position ``after``: its reader may skip."""
        return after < self.floor or self._last.get(pinfl, -1) > after

    async def read(self) -> int:
        """The horizon, from a read begun after the last commit notification and within a poll."""
        loop = self._loop = self._loop or asyncio.get_running_loop()
        async with self._lock:
            if self._read_at > max(self._rung_at, loop.time() - self.poll_seconds):
                return self.settled
            began = loop.time()
            await self._advance(began)
            self._read_at = began  # only a read that completed can stand in for the next ones
            return self.settled

    async def catch_up(self) -> int:
        """The horizon, read now and again until a read settles less than a full scan (the
        relay's floor, :mod:`host.relay`: it reads on its own timer, not on notifications)."""
        loop = self._loop = self._loop or asyncio.get_running_loop()
        async with self._lock:
            before = None
            while self.settled != before:  # stopped at a hole, or at the top
                before = self.settled
                if await self._advance(loop.time()) < SCAN:
                    break
            return self.settled

    async def _advance(self, began: float) -> int:
        outbox = self.storage.outbox
        if self.settled < 0:  # the first read: from the top (PostgreSQL: its last seqs re-checked)
            got = await outbox.horizon_read(-1, SCAN, self._patients)
            self.settled = self.floor = got.top if got.snapshot is None else max(got.top - TAIL, 0)
        got = await outbox.horizon_read(self.settled, SCAN, self._patients)
        spans = ([(seq, seq, patient) for seq, patient in got.rows] if self._patients
                 else [(first, last, None) for first, last in got.runs])
        self._walk(spans, began, asyncio.get_running_loop().time(), got.snapshot)
        return got.read

    def _walk(self, spans: Sequence[tuple[int, int, str | None]], began: float, now: float,
              snapshot: tuple[int, int] | None) -> None:
        """Settle rows up to the first hole that may still fill; note the holes above it too.
        ``spans``: runs of consecutive seqs (first, last, the patient of a single row or None)."""
        expected, blocked = self.settled + 1, False
        for first, last, patient in spans:
            for missing in range(expected, first):
                if blocked:
                    self._holes.setdefault(missing, _Hole(now))
                elif not self._gone(missing, began, now, snapshot):
                    blocked = True
            expected = last + 1
            if not blocked:
                self.settled = last
                if patient:
                    self._remember(patient, first)
        for filled in [h for h in self._holes if h <= self.settled]:  # their rows showed up
            del self._holes[filled]

    def _gone(self, seq: int, began: float, now: float, snapshot: tuple[int, int] | None) -> bool:
        """Whether the missing ``seq`` can no longer commit (it is then forgotten). ``began``: when
        this read began, before its snapshot; ``now``: after its rows, when a new hole counts as seen."""
        if snapshot is None:  # SQLite: seqs commit in order, nothing is pending below the top
            return True
        hole = self._holes.setdefault(seq, _Hole(now))
        if began - hole.seen < HOLE_SECONDS:  # its writer may not have a transaction id yet
            return False
        xmin, xmax = snapshot
        if hole.xmax is None:
            hole.xmax = xmax
        gone = xmin >= hole.xmax
        if not gone and now - hole.seen > GIVE_UP_SECONDS:
            log.warning("outbox seq %s missing for %.0f s: live streams pass it", seq, now - hole.seen)
            gone = True
        if gone:
            del self._holes[seq]
        return gone

    def _remember(self, pinfl: str, seq: int) -> None:
        if len(self._last) >= MAX_PATIENTS and pinfl not in self._last:
            self._last.clear()
            self.floor = seq - 1
        self._last[pinfl] = seq
