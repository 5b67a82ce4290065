"""Medical indicators (vital signs): fixed LOINC codes, UCUM units and plausibility limits.

Limits are physiological plausibility (what a living patient can show), not normal ranges: a value
outside them is a typing error, refused at entry.
"""

from __future__ import annotations

import msgspec


class Vital(msgspec.Struct, frozen=True):
    loinc: str
    display: str
    unit: str  # UCUM
    low: float
    high: float


VITALS: dict[str, Vital] = {
    "systolic": Vital("8480-6", "Systolic blood pressure", "mm[Hg]", 40, 300),
    "diastolic": Vital("8462-4", "Diastolic blood pressure", "mm[Hg]", 20, 200),
    "pulse": Vital("8867-4", "Heart rate", "/min", 20, 300),
    "temperature": Vital("8310-5", "Body temperature", "Cel", 25, 45),
    "respiratory_rate": Vital("9279-1", "Respiratory rate", "/min", 4, 80),
    "spo2": Vital("59408-5", "Oxygen saturation (pulse oximetry)", "%", 40, 100),
    "height": Vital("8302-2", "Body height", "cm", 20, 260),
    "weight": Vital("29463-7", "Body weight", "kg", 0.3, 500),
    "glucose": Vital("15074-8", "Glucose [Moles/volume] in Blood", "mmol/L", 0.5, 60),
}
BLOOD_PRESSURE_LOINC = "85354-9"
