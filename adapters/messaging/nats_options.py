"""messaging.nats: the client options a deployment's settings give (servers, credentials, TLS).

Credentials and TLS files are checked when the adapter is created, so a mis-configured deployment
fails at start-up with a clear message rather than on the first publish; their contents are never
logged.
"""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path
from typing import Any

from core.errors import ConfigurationError


def connect_options(settings: Any) -> dict[str, Any]:
    """Keyword arguments for :meth:`nats.aio.client.Client.connect`; raises ConfigurationError."""
    servers = [url.strip() for url in settings.nats_url.split(",") if url.strip()]
    if not servers:
        raise ConfigurationError("nats_url names no server")
    _check_creds(settings)
    options: dict[str, Any] = {
        "servers": servers,
        "name": f"shifo@{socket.gethostname()}:{os.getpid()}",
        "connect_timeout": settings.nats_connect_timeout_seconds,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,  # forever: the process heals once the broker is back
        "reconnect_time_wait": 1,
        "ping_interval": 10,
        "max_outstanding_pings": 2,  # a dead server is noticed within ~30 s
        "user": settings.nats_user,
        "password": settings.nats_password,
        "token": settings.nats_token,
        "user_credentials": settings.nats_creds_file,
        "nkeys_seed": settings.nats_nkey_seed_file,
    }
    tls = _tls(settings)
    if tls is not None:
        options["tls"] = tls
    return options


def _readable(path: str | None, what: str) -> str | None:
    if path is None:
        return None
    if not Path(path).is_file() or not os.access(path, os.R_OK):
        raise ConfigurationError(f"{what} is not a readable file: {path}")
    return path


def _tls(settings: Any) -> ssl.SSLContext | None:
    ca = _readable(settings.nats_tls_ca_file, "nats_tls_ca_file")
    cert = _readable(settings.nats_tls_cert_file, "nats_tls_cert_file")
    key = _readable(settings.nats_tls_key_file, "nats_tls_key_file")
    if (cert is None) != (key is None):
        raise ConfigurationError("nats_tls_cert_file and nats_tls_key_file go together")
    if ca is None and cert is None:
        return None  # a tls:// URL still gets the client's default context
    try:
        context = ssl.create_default_context(cafile=ca)
        if cert is not None:
            context.load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigurationError(f"NATS TLS files could not be loaded: {exc.__class__.__name__}") from exc
    return context


def _check_creds(settings: Any) -> None:
    creds = _readable(settings.nats_creds_file, "nats_creds_file")
    if creds is not None and "BEGIN NATS USER JWT" not in Path(creds).read_text(errors="replace"):
        raise ConfigurationError("nats_creds_file is not a NATS credentials file (user JWT and nkey seed)")
    seed = _readable(settings.nats_nkey_seed_file, "nats_nkey_seed_file")
    if seed is not None and not Path(seed).read_text(errors="replace").strip().startswith("SU"):
        raise ConfigurationError("nats_nkey_seed_file does not hold a user nkey seed (SU...)")
    if creds is not None and seed is not None:
        raise ConfigurationError("set nats_creds_file or nats_nkey_seed_file, not both")
