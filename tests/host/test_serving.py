"""What a serving process does beyond ``create_app``: its start-up heap is frozen, so the cycle
collector never walks it again (a full pass over it paused a worker for ~130 ms)."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import pytest

from host.web.app import serve_app


def test_the_worker_factory_freezes_what_start_up_built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHIFO_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        serve_app()
        assert gc.get_freeze_count() > 50_000  # the app, its modules and schemas
    finally:
        gc.unfreeze()
        root.handlers[:], root.level = handlers, level
