"""Helpers of the race tests (tests/*/test_races.py) and of the Hypothesis state machines over the
HTTP API (tests/*/test_*_machine.py).

Hypothesis calls rules synchronously, so for a machine the app lives on an event loop of its own
(in a worker thread) and each rule runs its requests to completion on it. The app's lifespan stays
in one task from start to end, as anyio requires."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck
from hypothesis import settings as run_settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from host.settings import Settings
from tests.support import racing

T = TypeVar("T")


class Served:
    """``run(coro)`` runs a coroutine on the app's loop; ``client`` reaches the app."""

    client: httpx.AsyncClient

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)

    async def _serve(self, ready: asyncio.Future[None]) -> None:
        async with racing(self.settings) as client:
            self.client = client
            ready.set_result(None)
            await self._stop.wait()

    def start(self) -> None:
        ready: asyncio.Future[None] = self.loop.create_future()
        self._task = self.loop.create_task(self._serve(ready))
        self.run(asyncio.wait_for(ready, 30))

    def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self.run(self._task)
        self.loop.close()


def no_5xx(answers: list[Any]) -> list[int]:
    """The status codes of ``answers``, after checking that none is a server error."""
    codes = [a.status_code for a in answers]
    assert all(c < 500 for c in codes), [a.text for a in answers if a.status_code >= 500]
    return codes


async def run_machine(settings: Settings, machine: type[RuleBasedStateMachine],
                      world: Callable[[Served], Coroutine[Any, Any, Any]], *, examples: int, steps: int) -> None:
    """Serve the app on a loop of its own in a worker thread, build ``machine.world`` there with
    ``world``, run the machine for a few examples (no deadline: requests share the machine's CPU
    with the database), and stop the app."""

    def run() -> None:
        served = Served(settings)
        served.start()
        try:
            machine.world = served.run(world(served))
            run_state_machine_as_test(machine, settings=run_settings(
                max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
                suppress_health_check=list(HealthCheck)))
        finally:
            served.stop()

    await asyncio.to_thread(run)
