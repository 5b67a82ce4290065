"""The host's Alembic branch (label ``host``): the outbox and the platform's own tables."""

from pathlib import Path

VERSIONS = str(Path(__file__).parent / "versions")
