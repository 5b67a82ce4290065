"""One admitted stay per patient and facility: two concurrent admissions of one patient cannot
both commit (the loser's unique violation is a 409).

Before the index, the damage earlier races left is repaired (see "Upgrading over damage left by
races" in docs/operations.md): a bed held by a stay that is not admitted, or by a stay that lies
in another bed, is freed; an admitted stay whose own bed is then free gets it back. These are
mechanical (the stay row is the truth). Two admitted stays of one patient at one facility are not
(which one is real, and its discharge diagnosis, is a clinician's call), so the upgrade stops and
names them; a clinician discharges the extra stay, then ``shifo migrate`` runs again.

Revision ID: k0002
Revises: k0001
Create Date: 2026-12-05
"""

import logging

import sqlalchemy as sa
from alembic import op

from core.errors import ConfigurationError

revision = "k0002"
down_revision = "k0001"
branch_labels = None
depends_on = None

_ADMITTED = sa.text("status = 'admitted'")
log = logging.getLogger("shifo.migrate")

_FREE_WRONG = sa.text(
    "UPDATE hospital_beds SET stay_id = NULL WHERE stay_id IS NOT NULL AND NOT EXISTS ("
    "SELECT 1 FROM hospital_stays s WHERE s.id = hospital_beds.stay_id "
    "AND s.status = 'admitted' AND s.bed_id = hospital_beds.id)")
_GIVE_BACK = sa.text(  # a free bed to the admitted stay lying in it, when exactly one does
    "UPDATE hospital_beds SET stay_id = (SELECT s.id FROM hospital_stays s "
    "WHERE s.bed_id = hospital_beds.id AND s.status = 'admitted') "
    "WHERE stay_id IS NULL AND (SELECT count(*) FROM hospital_stays s "
    "WHERE s.bed_id = hospital_beds.id AND s.status = 'admitted') = 1")
_DUPLICATES = sa.text(
    "SELECT s.facility, s.id, s.admitted_at FROM hospital_stays s JOIN ("
    "SELECT facility, pinfl FROM hospital_stays WHERE status = 'admitted' "
    "GROUP BY facility, pinfl HAVING count(*) > 1) d ON d.facility = s.facility AND d.pinfl = s.pinfl "
    "WHERE s.status = 'admitted' ORDER BY s.facility, s.pinfl, s.admitted_at"
).columns(sa.column("facility", sa.String), sa.column("id", sa.Uuid), sa.column("admitted_at"))


def repair(bind: sa.Connection) -> None:
    """Free wrongly held beds, give free beds back to the admitted stay naming them, and stop with
    the list of patients admitted twice (no index can be built over them)."""
    freed = bind.execute(_FREE_WRONG).rowcount
    given = bind.execute(_GIVE_BACK).rowcount
    if freed or given:
        log.warning("hospital beds repaired: %d freed (their stay was discharged or lies in another "
                    "bed), %d given back to the admitted stay lying in them", freed, given)
    twice = bind.execute(_DUPLICATES).all()
    if twice:
        listed = "; ".join(f"{r.facility}: stay {r.id} admitted {r.admitted_at}" for r in twice[:20])
        raise ConfigurationError(
            f"cannot upgrade the hospital (k0002): {len(twice)} admitted stays belong to patients "
            f"admitted more than once at one facility ({listed}). With the previous release, have a "
            "clinician of each facility discharge the stay that is not real (its discharge records "
            "the diagnosis and reaches the card), then run 'shifo migrate' again.")


def upgrade() -> None:
    repair(op.get_bind())
    op.create_index("uq_hospital_stays_admitted", "hospital_stays", ["facility", "pinfl"], unique=True,
                    sqlite_where=_ADMITTED, postgresql_where=_ADMITTED)


def downgrade() -> None:
    op.drop_index("uq_hospital_stays_admitted", table_name="hospital_stays")
