"""Recording routes, one set per entry kind, each with its own permission (``medcard.<kind>``):
record, correct (a new version with a reason) and mark "entered in error"."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, post
from litestar.params import FromPath, JSONBody

from host.pluginapi import Ctx, requires
from plugins.medcard import entries, versions
from plugins.medcard.api import author, late_after
from plugins.medcard.inputs import (
    ComplaintCorrection,
    ComplaintIn,
    DiagnosisCorrection,
    DiagnosisIn,
    EntryIn,
    FindingCorrection,
    FindingIn,
    IndicatorCorrection,
    IndicatorIn,
    InstrumentalCorrection,
    InstrumentalIn,
    LabCorrection,
    LabIn,
)
from plugins.medcard.schema import Entry, ErrorIn

Req = Request[Any, Any, Any]
Id = FromPath[UUID]
_VERSIONS = "/{entry_id:uuid}/versions"
_ERROR = "/{entry_id:uuid}/entered-in-error"


async def _record(ctx: Ctx, patient_id: UUID, data: EntryIn) -> Entry:
    return await ctx.transact(lambda tx: entries.record(
        tx, patient_id, data, by=author(ctx), late_after=late_after(ctx), audit=ctx.audit))


async def _correct(ctx: Ctx, patient_id: UUID, entry_id: UUID, data: Any) -> Entry:
    return await ctx.transact(lambda tx: versions.correct(
        tx, patient_id, entry_id, data.entry, version=data.version, reason=data.reason, by=author(ctx),
        audit=ctx.audit))


async def _error(ctx: Ctx, patient_id: UUID, entry_id: UUID, kind: str, data: ErrorIn) -> Entry:
    return await ctx.transact(lambda tx: versions.mark_error(
        tx, patient_id, entry_id, kind, version=data.version, reason=data.reason, by=author(ctx),
        audit=ctx.audit))


class IndicatorController(Controller):
    path = "/patients/{patient_id:uuid}/indicators"
    opt = requires("medcard.indicator", "record")

    @post("/", summary="Record a vital sign")
    async def record(self, ctx: Ctx, patient_id: Id,
                     data: JSONBody[IndicatorIn]) -> Entry:
        """Record it on the patient's card in real time: the entry, its event for the other modules
        and its audit entry commit together."""
        return await _record(ctx, patient_id, data)

    @post(_VERSIONS, summary="Correct a vital sign")
    async def correct(self, ctx: Ctx, patient_id: Id, entry_id: Id,
                      data: JSONBody[IndicatorCorrection]) -> Entry:
        """A new version with a reason; ``version`` is the current one you saw (409 if another came
        meanwhile). The old version stays in the history."""
        return await _correct(ctx, patient_id, entry_id, data)

    @post(_ERROR, summary="Mark a vital sign entered in error")
    async def error(self, ctx: Ctx, patient_id: Id, entry_id: Id,
                    data: JSONBody[ErrorIn]) -> Entry:
        """Mark the entry entered in error, with a reason; ``version`` is the current one you saw
        (409 if stale). It stays in the history, never deleted."""
        return await _error(ctx, patient_id, entry_id, "indicator", data)


class EntriesAliasController(Controller):
    """``POST .../entries`` records a vital sign, as before the per-kind routes (kept for clients)."""

    path = "/patients/{patient_id:uuid}/entries"

    @post("/", opt=requires("medcard.indicator", "record"), summary="Record a vital sign (alias)")
    async def record(self, ctx: Ctx, patient_id: Id,
                     data: JSONBody[IndicatorIn]) -> Entry:
        """Record it on the patient's card in real time: the entry, its event for the other modules
        and its audit entry commit together."""
        return await _record(ctx, patient_id, data)


class DiagnosisController(Controller):
    path = "/patients/{patient_id:uuid}/diagnoses"
    opt = requires("medcard.diagnosis", "record")

    @post("/", summary="Record a diagnosis (ICD-10)")
    async def record(self, ctx: Ctx, patient_id: Id,
                     data: JSONBody[DiagnosisIn]) -> Entry:
        """Record it on the patient's card in real time: the entry, its event for the other modules
        and its audit entry commit together."""
        return await _record(ctx, patient_id, data)

    @post(_VERSIONS, summary="Correct a diagnosis (e.g. confirm or refute it)")
    async def correct(self, ctx: Ctx, patient_id: Id, entry_id: Id,
                      data: JSONBody[DiagnosisCorrection]) -> Entry:
        """A new version with a reason; ``version`` is the current one you saw (409 if another came
        meanwhile). The old version stays in the history."""
        return await _correct(ctx, patient_id, entry_id, data)

    @post(_ERROR, summary="Mark a diagnosis entered in error")
    async def error(self, ctx: Ctx, patient_id: Id, entry_id: Id,
                    data: JSONBody[ErrorIn]) -> Entry:
        """Mark the entry entered in error, with a reason; ``version`` is the current one you saw
        (409 if stale). It stays in the history, never deleted."""
        return await _error(ctx, patient_id, entry_id, "diagnosis", data)


class LabController(Controller):
    path = "/patients/{patient_id:uuid}/lab-results"
    opt = requires("medcard.lab", "record")

    @post("/", summary="Record a laboratory result (or an order awaiting it)")
    async def record(self, ctx: Ctx, patient_id: Id,
                     data: JSONBody[LabIn]) -> Entry:
        """Record it on the patient's card in real time: the entry, its event for the other modules
        and its audit entry commit together."""
        return await _record(ctx, patient_id, data)

    @post(_VERSIONS, summary="Correct a laboratory result, or add the result to an order")
    async def correct(self, ctx: Ctx, patient_id: Id, entry_id: Id,
                      data: JSONBody[LabCorrection]) -> Entry:
        """A new version with a reason; ``version`` is the current one you saw (409 if another came
        meanwhile). The old version stays in the history."""
        return await _correct(ctx, patient_id, entry_id, data)

    @post(_ERROR, summary="Mark a laboratory result entered in error")
    async def error(self, ctx: Ctx, patient_id: Id, entry_id: Id,
                    data: JSONBody[ErrorIn]) -> Entry:
        """Mark the entry entered in error, with a reason; ``version`` is the current one you saw
        (409 if stale). It stays in the history, never deleted."""
        return await _error(ctx, patient_id, entry_id, "lab", data)


class InstrumentalController(Controller):
    path = "/patients/{patient_id:uuid}/instrumental-results"
    opt = requires("medcard.instrumental", "record")

    @post("/", summary="Record an instrumental result (ECG, ultrasound, X-ray, CT, MRI, endoscopy)")
    async def record(self, ctx: Ctx, patient_id: Id,
                     data: JSONBody[InstrumentalIn]) -> Entry:
        """Record it on the patient's card in real time: the entry, its event for the other modules
        and its audit entry commit together."""
        return await _record(ctx, patient_id, data)

    @post(_VERSIONS, summary="Correct an instrumental result")
    async def correct(self, ctx: Ctx, patient_id: Id, entry_id: Id,
                      data: JSONBody[InstrumentalCorrection]) -> Entry:
        """A new version with a reason; ``version`` is the current one you saw (409 if another came
        meanwhile). The old version stays in the history."""
        return await _correct(ctx, patient_id, entry_id, data)

    @post(_ERROR, summary="Mark an instrumental result entered in error")
    async def error(self, ctx: Ctx, patient_id: Id, entry_id: Id,
                    data: JSONBody[ErrorIn]) -> Entry:
        """Mark the entry entered in error, with a reason; ``version`` is the current one you saw
        (409 if stale). It stays in the history, never deleted."""
        return await _error(ctx, patient_id, entry_id, "instrumental", data)


class ComplaintController(Controller):
    path = "/patients/{patient_id:uuid}/complaints"
    opt = requires("medcard.complaint", "record")

    @post("/", summary="Record the patient's complaints and the history of the present illness")
    async def record(self, ctx: Ctx, patient_id: Id,
                     data: JSONBody[ComplaintIn]) -> Entry:
        """Record it on the patient's card in real time: the entry, its event for the other modules
        and its audit entry commit together."""
        return await _record(ctx, patient_id, data)

    @post(_VERSIONS, summary="Correct complaints")
    async def correct(self, ctx: Ctx, patient_id: Id, entry_id: Id,
                      data: JSONBody[ComplaintCorrection]) -> Entry:
        """A new version with a reason; ``version`` is the current one you saw (409 if another came
        meanwhile). The old version stays in the history."""
        return await _correct(ctx, patient_id, entry_id, data)

    @post(_ERROR, summary="Mark complaints entered in error")
    async def error(self, ctx: Ctx, patient_id: Id, entry_id: Id,
                    data: JSONBody[ErrorIn]) -> Entry:
        """Mark the entry entered in error, with a reason; ``version`` is the current one you saw
        (409 if stale). It stays in the history, never deleted."""
        return await _error(ctx, patient_id, entry_id, "complaint", data)


class FindingController(Controller):
    path = "/patients/{patient_id:uuid}/findings"
    opt = requires("medcard.finding", "record")

    @post("/", summary="Record objective examination findings")
    async def record(self, ctx: Ctx, patient_id: Id,
                     data: JSONBody[FindingIn]) -> Entry:
        """Record it on the patient's card in real time: the entry, its event for the other modules
        and its audit entry commit together."""
        return await _record(ctx, patient_id, data)

    @post(_VERSIONS, summary="Correct examination findings")
    async def correct(self, ctx: Ctx, patient_id: Id, entry_id: Id,
                      data: JSONBody[FindingCorrection]) -> Entry:
        """A new version with a reason; ``version`` is the current one you saw (409 if another came
        meanwhile). The old version stays in the history."""
        return await _correct(ctx, patient_id, entry_id, data)

    @post(_ERROR, summary="Mark examination findings entered in error")
    async def error(self, ctx: Ctx, patient_id: Id, entry_id: Id,
                    data: JSONBody[ErrorIn]) -> Entry:
        """Mark the entry entered in error, with a reason; ``version`` is the current one you saw
        (409 if stale). It stays in the history, never deleted."""
        return await _error(ctx, patient_id, entry_id, "finding", data)
