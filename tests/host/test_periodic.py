"""The modules' background sweeps (``ports.periodic``): a failed round is logged and the next one
runs; start is idempotent; stop ends the task for good."""

from __future__ import annotations

import asyncio

import pytest

from ports.periodic import Periodic


async def test_a_failed_round_is_logged_and_the_sweep_goes_on_until_stopped(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def work() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database away")

    sweep = Periodic("test.sweep", work, 0.01)
    await sweep.start()
    await sweep.start()  # a second start adds no second task
    async with asyncio.timeout(5):
        while len(calls) < 3:
            await asyncio.sleep(0.01)
    await sweep.stop()
    await sweep.stop()
    done = len(calls)
    await asyncio.sleep(0.05)
    assert len(calls) == done  # stopped
    assert "test.sweep failed" in caplog.text and "database away" in caplog.text
