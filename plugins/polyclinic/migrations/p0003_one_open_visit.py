"""One open visit per patient and facility: a check-in and a walk-in of one patient at once cannot
both open a visit (the loser's unique violation is a 409).

Earlier races may have left a patient with two open visits at one facility, and no unique index
can be built over them. Which visit is real, and the final diagnosis that closes the other, is a
doctor's call, not a migration's: the upgrade stops and names those visits (see "Upgrading over
damage left by races" in docs/operations.md); once a doctor has closed the extra visit,
``shifo migrate`` runs again.

Revision ID: p0003
Revises: p0002
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from core.errors import ConfigurationError

revision = "p0003"
down_revision = "p0002"
branch_labels = None
depends_on = None

_OPEN = sa.text("status = 'open'")
_DUPLICATES = sa.text(
    "SELECT v.facility, v.id, v.opened_at FROM polyclinic_visits v JOIN ("
    "SELECT facility, pinfl FROM polyclinic_visits WHERE status = 'open' "
    "GROUP BY facility, pinfl HAVING count(*) > 1) d ON d.facility = v.facility AND d.pinfl = v.pinfl "
    "WHERE v.status = 'open' ORDER BY v.facility, v.pinfl, v.opened_at"
).columns(sa.column("facility", sa.String), sa.column("id", sa.Uuid), sa.column("opened_at"))


def check(bind: sa.Connection) -> None:
    """Stop with the list of patients holding more than one open visit at one facility."""
    twice = bind.execute(_DUPLICATES).all()
    if twice:
        listed = "; ".join(f"{r.facility}: visit {r.id} opened {r.opened_at}" for r in twice[:20])
        raise ConfigurationError(
            f"cannot upgrade the polyclinic (p0003): {len(twice)} open visits belong to patients with "
            f"more than one open visit at one facility ({listed}). With the previous release, have the "
            "doctor close the visit that is not real (closing records the final diagnosis and reaches "
            "the card), then run 'shifo migrate' again.")


def upgrade() -> None:
    check(op.get_bind())
    op.create_index("uq_polyclinic_visits_open", "polyclinic_visits", ["facility", "pinfl"], unique=True,
                    sqlite_where=_OPEN, postgresql_where=_OPEN)


def downgrade() -> None:
    op.drop_index("uq_polyclinic_visits_open", table_name="polyclinic_visits")
