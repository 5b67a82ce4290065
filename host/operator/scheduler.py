"""Automatic suspension: the host itself re-checks access certifications on a timer.

``auto_suspend`` (operator config) makes a lapsed certification suspend the account without anyone
having to remember a cron job; ``enforce_every_hours`` sets how often (default 6). Running it in
several host processes is harmless: only active accounts are suspended, once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from host import audit
from host.operator import config, review
from ports.conflicts import run_unit

log = logging.getLogger("shifo.operator")


class ReviewEnforcer:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.cfg = config.of(runtime.settings)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.cfg.auto_suspend and self.cfg.enforce_every_hours > 0:
            self._task = asyncio.create_task(self._run(), name="shifo-review-enforcer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def run_once(self) -> list[str]:
        rt = self.runtime
        entry = audit.AuditEntry(action="operator.review/suspend", login="shifo", role="operator",
                                 detail="automatic: certification lapsed")
        return await run_unit(rt.storage, lambda tx: review.enforce(tx, rt.identity, self.cfg, entry))

    async def _run(self) -> None:
        every = self.cfg.enforce_every_hours * 3600
        await asyncio.sleep(min(60.0, every))  # let the process finish starting first
        while True:
            try:
                done = await self.run_once()
                if done:
                    log.warning("suspended %d account(s) whose certification lapsed", len(done))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("automatic access review failed; retrying at the next interval")
            await asyncio.sleep(every)
