"""Accounts, their per-facility grants and sign-in sessions (migration branch ``identity``)."""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, MetaData, String, Table, Uuid

from ports.sql import UtcDateTime

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("login", String(100), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # staff | operator | patient
    Column("full_name", String(300), nullable=False),
    Column("pinfl", String(14)),
    Column("status", String(16), nullable=False),  # active | suspended | deactivated
    Column("password_hash", String(200)),
    Column("created_at", UtcDateTime, nullable=False),
)

grants = Table(
    "grants",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("account", Uuid, ForeignKey("accounts.id"), nullable=False),
    Column("facility", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("qualification_number", String(100)),
    Column("qualification_issuer", String(300)),
    Column("qualification_date", Date),
    Column("education", String(300)),  # pharmaceutical education, required for pharmacists
    Column("granted_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)
Index("ix_grants_account", grants.c.account)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("account", Uuid, ForeignKey("accounts.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("audience", String(16), nullable=False),
    Column("client", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)

# Failed sign-ins per key ("login:<login>" or "client:<address>"), shared by every host process.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UtcDateTime, nullable=False),
    Column("next_allowed_at", UtcDateTime),
    Column("locked_until", UtcDateTime),
)

# One-time EDS sign-in challenges (spent on first use, right or wrong).
login_challenges = Table(
    "login_challenges",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("login", String(100), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
)

# Possible credential sharing, for the operator to review.
session_flags = Table(
    "session_flags",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("account", Uuid, ForeignKey("accounts.id"), nullable=False),
    Column("session", Uuid, nullable=False),
    Column("client", String(64), nullable=False),
    Column("other_session", Uuid, nullable=False),
    Column("other_client", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
Index("uq_session_flags_session_client", session_flags.c.session, session_flags.c.client, unique=True)
Index("ix_sessions_account", sessions.c.account)
