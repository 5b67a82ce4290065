"""The host's part of the patient app API (``/api/v1/patient``)."""

from __future__ import annotations

from typing import Any

from host.web import patient_stream

HANDLERS: list[Any] = [*patient_stream.HANDLERS]
