"""One patient's realistic history as catalogue events, in commit order, for the delivery-order
tests: a stay and a visit at F1, card entries with corrections and "entered in error" (one version
recorded before the visit opened, one mark before the content it marks if reordered), two open lab
orders the same result matches, prescriptions issued, cancelled, dispensed and expired, and the
visit's and the stay's own events. ``setup`` writes the rows the consumers look up (not projections).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from core import events as ev
from core.clock import utcnow
from core.ids import new_id
from plugins.hospital.tables import stays
from plugins.polyclinic.tables import referrals, visits
from ports.storage import Transaction

PINFL, FACILITY = "31505850000015", "F1"


class World:
    def __init__(self) -> None:
        self.t0 = (utcnow() - timedelta(days=1)).replace(microsecond=0)
        self.stay, self.visit, self.patient_id, self.doctor = new_id(), new_id(), new_id(), new_id()
        self.orders = [new_id(), new_id()]
        self.referral = new_id()  # the hospital referral the stay was admitted from

    def at(self, minutes: float) -> datetime:
        return self.t0 + timedelta(minutes=minutes)

    async def setup(self, tx: Transaction) -> None:
        """The stay and the visit the entries attach to, two open orders for one lab test, and the
        open hospital referral the stay's admission closes."""
        await tx.execute(stays.insert().values(
            id=self.stay, facility=FACILITY, patient_id=self.patient_id, pinfl=PINFL, status="discharged",
            emergency=False, referral_id=self.referral, admission_diagnosis="J18.9", ward_id=new_id(),
            bed_id=new_id(), admitted_at=self.t0, admitted_by=self.doctor, discharged_at=self.at(600)))
        await tx.execute(visits.insert().values(
            id=self.visit, facility=FACILITY, patient_id=self.patient_id, pinfl=PINFL, doctor=self.doctor,
            status="closed", opened_at=self.t0, closed_at=self.at(540)))
        for n, order in enumerate(self.orders):
            await tx.execute(referrals.insert().values(
                id=order, visit_id=self.visit, facility=FACILITY, pinfl=PINFL, kind="lab", code="2345-7",
                reason="", status="open", created_at=self.at(10 + n)))
        await tx.execute(referrals.insert().values(
            id=self.referral, visit_id=self.visit, facility=FACILITY, pinfl=PINFL, kind="hospital",
            to_facility=FACILITY, reason="pneumonia", status="open", created_at=self.at(-30)))

    def _entry(self, entry_id: UUID, kind: str, minutes: float, version: int, data: dict[str, Any], *,
               performed: float | None = None, encounter: UUID | None = None) -> ev.Event:
        performed_at = self.at(minutes if performed is None else performed)
        summary = {"code": data.get("code"), "status": "current", "version": version, **data}
        common: dict[str, Any] = {"patient": PINFL, "facility": FACILITY, "entry_id": entry_id, "kind": kind,
                                  "encounter_id": encounter, "performed_at": performed_at,
                                  "summary": summary, "occurred_at": self.at(minutes)}
        if version == 1:
            return ev.EntryRecorded(**common)
        return ev.EntryCorrected(**common, entry_version=version, reason="corrected")

    def _error(self, entry_id: UUID, kind: str, minutes: float, version: int) -> ev.Event:
        return ev.EntryEnteredInError(patient=PINFL, facility=FACILITY, entry_id=entry_id, kind=kind,
                                      entry_version=version, reason="wrong patient", occurred_at=self.at(minutes))

    def card_events(self) -> list[ev.Event]:
        pulse, dx, lab, early, complaint = (new_id() for _ in range(5))
        glucose = {"code": "2345-7", "test": "Glucose", "loinc": "2345-7", "unit": "mmol/L"}
        return [
            self._entry(early, "indicator", -60, 1, {"code": "pulse", "value": 70}, performed=-120),
            self._entry(pulse, "indicator", 60, 1, {"code": "pulse", "value": 101}),
            self._entry(dx, "diagnosis", 70, 1, {"code": "J18.9", "icd10": "J18.9",
                                                 "verification": "provisional"}, encounter=self.stay),
            self._entry(lab, "lab", 80, 1, {**glucose, "value": 5.4}),
            self._entry(pulse, "indicator", 90, 2, {"code": "pulse", "value": 99}),
            self._entry(dx, "diagnosis", 100, 2, {"code": "J18.9", "icd10": "J18.9",
                                                  "verification": "confirmed"}, encounter=self.stay),
            self._entry(early, "indicator", 110, 2, {"code": "pulse", "value": 72}, performed=105),
            self._entry(complaint, "complaint", 115, 1, {"complaints": "cough"}),
            self._entry(lab, "lab", 120, 2, {**glucose, "value": 6.1}),
            self._error(dx, "diagnosis", 130, 3),
            self._error(complaint, "complaint", 135, 2),
            self._entry(pulse, "indicator", 140, 3, {"code": "pulse", "value": 98}),
        ]

    def prescription_events(self) -> list[ev.Event]:
        events: list[ev.Event] = []
        for n, (minutes, valid) in enumerate(((150, 43_200), (160, 43_200), (170, 290))):
            events.append(ev.PrescriptionIssued(
                patient=PINFL, facility=FACILITY, prescription_id=new_id(), number=f"RX-{n}", category="regular",
                diagnosis="J18.9", prescriber=self.doctor, valid_until=self.at(valid),
                lines=[{"inn": "amoxicillin", "quantity": 20}], occurred_at=self.at(minutes)))
        cancelled, dispensed, expired = (e.prescription_id for e in events if isinstance(e, ev.PrescriptionIssued))
        events += [
            ev.PrescriptionCancelled(patient=PINFL, facility=FACILITY, prescription_id=cancelled, number="RX-0",
                                     reason="allergy", by=self.doctor, occurred_at=self.at(180)),
            *(ev.PrescriptionDispensed(patient=PINFL, facility="P1", prescription_id=dispensed, number="RX-1",
                                       dispense_id=new_id(), status=status, by=new_id(),
                                       items=[{"line": 0, "quantity": 10}], occurred_at=self.at(minutes))
              for status, minutes in (("partially_dispensed", 190), ("dispensed", 200))),
            ev.PrescriptionExpired(patient=PINFL, prescription_id=expired, number="RX-2",
                                   valid_until=self.at(290), occurred_at=self.at(300)),
        ]
        return events

    def encounter_events(self) -> list[ev.Event]:
        who: dict[str, Any] = {"patient": PINFL, "facility": FACILITY, "patient_id": self.patient_id}
        return [
            ev.VisitOpened(**who, visit_id=self.visit, doctor=self.doctor, occurred_at=self.t0),
            ev.PatientAdmitted(**who, stay_id=self.stay, ward_id=new_id(), bed_id=new_id(), diagnosis="J18.9",
                               referral_id=self.referral, occurred_at=self.t0),
            *(ev.OrderCreated(**who, order_id=order, visit_id=self.visit, kind="lab", code="2345-7",
                              occurred_at=self.at(10 + n)) for n, order in enumerate(self.orders)),
            *(ev.ReferralCreated(**who, referral_id=new_id(), visit_id=self.visit, to_facility=FACILITY,
                                 diagnosis="J18.9", reason=reason, occurred_at=self.at(20 + n))
              for n, reason in enumerate(("pneumonia", "second opinion"))),
            *(ev.PatientTransferred(**who, stay_id=self.stay, from_bed=new_id(), to_ward=new_id(),
                                    to_bed=new_id(), reason=reason, occurred_at=self.at(minutes))
              for reason, minutes in (("ICU", 200), ("back to the ward", 400))),
            ev.VisitClosed(**who, visit_id=self.visit, final_diagnosis="J18.9", closed_by=self.doctor,
                           occurred_at=self.at(540)),
            ev.PatientDischarged(**who, stay_id=self.stay, diagnosis="J18.9", outcome="recovered",
                                 occurred_at=self.at(600)),
        ]

    def critical_events(self) -> list[ev.Event]:
        """Two critical results: one naming its requester, one naming none (the card's alerts)."""
        return [ev.CriticalLabValue(patient=PINFL, facility=FACILITY, entry_id=new_id(), requested_by=who,
                                    ordered_by=named, test="Potassium", loinc="2823-3", value=7.1,
                                    unit="mmol/L", flag="HH", performed_at=self.at(m), occurred_at=self.at(m))
                for m, who, named in ((125, self.doctor, self.doctor), (126, new_id(), None))]

    def history(self) -> list[ev.Event]:
        """Every event in commit order (by the time it occurred)."""
        everything = (self.card_events() + self.prescription_events() + self.encounter_events()
                      + self.critical_events())
        return sorted(everything, key=lambda e: e.occurred_at)
