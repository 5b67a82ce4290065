"""Routes of the FHIR facade, built from the resources the enabled modules serve."""

from __future__ import annotations

from typing import Any

from host.runtime import Runtime
from host.settings import Settings


def handlers(runtime: Runtime, settings: Settings) -> list[Any]:
    return []
