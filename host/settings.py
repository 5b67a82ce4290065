"""Deployment settings. Read from ``SHIFO_*`` environment variables; tests build them directly.

Secrets (database passwords, token keys) come from the environment only and are never logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

import msgspec

PLUGIN_GROUP = "shifo.plugins"


def installed_modules() -> tuple[str, ...]:
    """The modules installed as packages (entry points of ``shifo.plugins``): enabled by default."""
    return tuple(sorted({ep.name for ep in entry_points(group=PLUGIN_GROUP)}))



class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = "sqlite+aiosqlite:///var/shifo.db"
    modules: tuple[str, ...] = msgspec.field(default_factory=installed_modules)
    storage_adapter: str = "sqlalchemy"
    messaging_adapter: str = "inprocess"
    identity_adapter: str = "local"
    signature_adapter: str = "dev"
    signature_dev_keys_dir: str | None = None  # dev signer keys; None: extra[...] or var/dev-keys
    signature_path_cache: bool = True  # remember validated certificate paths (docs/signature-adapters.md)
    max_body_bytes: int = 1_048_576
    # browser origins allowed to call the API cross-origin (CORS), e.g. "https://app.example.uz";
    # comma-separated in SHIFO_CORS_ORIGINS. Empty (the default): no CORS headers at all
    cors_origins: tuple[str, ...] = ()
    # outbox relay
    relay_batch: int = 200
    relay_poll_seconds: float = 1.0
    relay_max_attempts: int = 5
    relay_backoff_seconds: float = 0.5
    relay_gather_seconds: float = 0.005
    relay_gather_max_seconds: float = 0.015  # the window grows to this while the relay stays busy
    run_relay: bool = True
    # module consumers (durable messaging only: with the in-process adapter the relay delivers)
    run_consumers: bool = True
    consumer_batch: int = 100
    # "shared": one broker consumer group for every module's handlers, one transaction per batch;
    # "consumer": a group per handler, each with its own lag and pace (host/consumers.py)
    consumer_groups: str = "shared"
    # messaging.nats: comma-separated server URLs; credentials (user/password, token, a creds file
    # or an nkey seed file) and TLS files come from the environment only and are never logged
    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None
    nats_password: str | None = None
    nats_token: str | None = None
    nats_creds_file: str | None = None
    nats_nkey_seed_file: str | None = None
    nats_tls_ca_file: str | None = None
    nats_tls_cert_file: str | None = None
    nats_tls_key_file: str | None = None
    nats_prefix: str = "shifo"  # subjects, stream, consumers and buckets of this deployment
    nats_replicas: int = 1  # stream replicas: 3 on a 3-node cluster (docs/deployment.md)
    nats_ack_wait_seconds: float = 30.0  # an unacknowledged batch is delivered again after this
    nats_duplicate_window_seconds: float = 600.0  # a re-published event id is dropped within this
    nats_connect_timeout_seconds: float = 2.0
    # identity (local adapter)
    token_ttl_seconds: int = 900
    # audit checkpoints (host.audit_anchor): the HMAC key (a secret), else the key file `shifo demo`
    # makes; the background work checkpoints the chain heads this often (0: only `shifo audit ...`)
    audit_key: str | None = None
    audit_key_file: str = "var/audit.key"
    audit_checkpoint_seconds: float = 60.0
    # the operator console's CSRF key (a secret); unset, a random one per process
    console_secret: str | None = None
    # storage pool
    pool_size: int = 10
    # waiting for a free connection, or opening one, gives up after this long: then 503
    pool_timeout_seconds: float = 3.0
    # PostgreSQL: a statement gives up after this long (0: never), so a server that stopped
    # answering (a partition, a frozen host) costs a request 503, not a hang
    db_command_timeout_seconds: float = 30.0
    # how long a process trusts its answer to "is this module installed here" (the guard asks on every
    # request); a change made through this process is felt at once, one made elsewhere within this
    module_check_seconds: float = 2.0
    db_echo: bool = False
    # FHIR: the identifier system of the PINFL (the national implementation guide's current value)
    fhir_pinfl_system: str = "https://dhp.uz/fhir/core/sid/pid/uz/ni"
    # a section per module, validated by the schema its shifo_settings hook gives; and anything an
    # adapter wants that the host does not know about
    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    def with_(self, **changes: Any) -> Settings:
        return msgspec.structs.replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """``SHIFO_DATABASE_URL``, ``SHIFO_MODULES=medcard,erecipe``, ``SHIFO_RUN_RELAY=0``, ..."""
        env = os.environ if env is None else env
        raw: dict[str, Any] = {}
        for field in msgspec.structs.fields(cls):
            value = env.get(f"SHIFO_{field.name.upper()}")
            if value is None:
                continue
            if field.name in ("modules", "cors_origins"):
                raw[field.name] = [m.strip() for m in value.split(",") if m.strip()]
            elif field.name == "extra":
                raw[field.name] = msgspec.json.decode(value)
            else:
                raw[field.name] = value
        return msgspec.convert(raw, cls, strict=False)
