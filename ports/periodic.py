"""A module's background sweep: one task per process that calls ``work()`` every ``interval``
seconds while the app serves (the host calls ``start_background`` and ``stop_background`` on
every service that has them). A failed round is logged and the next one retries: a sweep must
never take the app down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any


class Periodic:
    def __init__(self, name: str, work: Callable[[], Awaitable[Any]], interval: float) -> None:
        self.name, self.work, self.interval = name, work, interval
        self._log = logging.getLogger(f"shifo.{name}")
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.work()
            except Exception:  # the next round retries
                self._log.exception("%s failed", self.name)
            await asyncio.sleep(self.interval)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
