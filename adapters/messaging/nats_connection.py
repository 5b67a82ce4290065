"""messaging.nats: the names a deployment uses on the bus and how a process connects to it.

Everything is derived from ``nats_prefix`` so that several deployments (or test runs) can share a
NATS account without seeing each other. Credentials and TLS files are checked when the adapter is
created, so a mis-configured deployment fails at start-up with a clear message rather than on the
first publish; their contents are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client

from core.errors import ConfigurationError, Unavailable

log = logging.getLogger("shifo.messaging.nats")

#: the stream keeps events this long whatever their consumers did (limits retention): a group that
#: lags more than a week is rebuilt from the outbox, which stays the durable record
STREAM_MAX_AGE_SECONDS = 7 * 24 * 3600
#: broker errors that mean "not reachable just now" (the caller raises core.errors.Unavailable)
BROKER_ERRORS: tuple[type[BaseException], ...] = (nats.errors.Error, asyncio.TimeoutError, OSError)


def safe_name(text: str) -> str:
    """A token that is valid in subjects, stream, consumer and bucket names."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", text.strip())
    if not cleaned:
        raise ConfigurationError("nats_prefix must not be empty")
    return cleaned


@dataclass(frozen=True)
class Names:
    prefix: str

    @property
    def stream(self) -> str:
        return f"{self.prefix}-events"

    @property
    def subjects(self) -> str:
        return f"{self.prefix}.events.>"

    @property
    def leases(self) -> str:
        return f"{self.prefix}-leases"

    def subject(self, partition: int, event_type: str) -> str:
        return f"{self.prefix}.events.{partition}.{event_type}"

    @staticmethod
    def split(subject: str) -> tuple[int, str]:
        """(partition, event type) of an event subject; the type may contain dots."""
        _, _, partition, event_type = subject.split(".", 3)
        return int(partition), event_type

    def consumer(self, group: str, partition: int) -> str:
        return f"{self.prefix}_{safe_name(group)}_{partition}"


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


async def log_error(exc: Exception) -> None:
    # messages from the client name servers and error kinds, never credentials
    log.warning("nats: %s: %s", exc.__class__.__name__, exc)


class TlsNotOffered(nats.errors.Error):
    """The server offered no TLS though the deployment configured it."""


class _Client(Client):
    """nats-py upgrades to TLS only when the server's INFO asks for it, even for a ``tls://`` URL or
    with TLS files set: a server (or a man in the middle) offering none would be sent the credentials
    in the clear. This client stops before its CONNECT instead (a nats-py that renamed the hook fails
    tests/messaging/test_nats_secured.py)."""

    require_tls = False

    async def _process_info(self, info: dict[str, Any], initial_connection: bool = False) -> None:
        if initial_connection and self.require_tls and not info.get("tls_required"):
            raise TlsNotOffered("nats: the server does not require TLS")
        await super()._process_info(info, initial_connection)


def refusal(exc: BaseException) -> str | None:
    """What a connect error means when retrying cannot cure it (the settings are wrong), else None."""
    # the client reports the server's -ERR during its first connect as a plain Error
    if isinstance(exc, nats.errors.AuthorizationError) or (
            isinstance(exc, nats.errors.Error) and "authorization violation" in str(exc).lower()):
        return ("message bus refused the credentials (authorization violation): check nats_user and "
                "nats_password, nats_token, nats_creds_file or nats_nkey_seed_file")
    if isinstance(exc, TlsNotOffered):
        return ("message bus server offers no TLS, but nats_tls_* or a tls:// URL asks for it: "
                "not connecting in the clear")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"message bus TLS: the server's certificate is not trusted ({exc.verify_message}): "
                "check nats_tls_ca_file and the server name in nats_url")
    if isinstance(exc, ssl.SSLError):
        return (f"message bus TLS handshake failed ({exc.reason or exc.__class__.__name__}): the server may "
                "want a client certificate it trusts (nats_tls_cert_file, nats_tls_key_file)")
    return None


async def connect(options: dict[str, Any], within: float, **callbacks: Any) -> Client:
    """Connect, giving up after ``within`` seconds: with reconnect-forever the client's own first connect
    would retry endlessly, and a caller must rather hear Unavailable and try again later. Refused
    credentials or a failed TLS handshake end the wait at once, and the Unavailable says which."""
    client = _Client()
    client.require_tls = "tls" in options or any(url.startswith("tls://") for url in options["servers"])
    on_error = callbacks.pop("error_cb", log_error)
    refused: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    last: list[BaseException] = []

    async def error_cb(exc: Exception) -> None:
        last[:] = [exc]
        reason = refusal(exc)
        if reason is not None and not refused.done() and not client.is_connected:
            refused.set_result(reason)
        await on_error(exc)

    connecting: asyncio.Future[Any] = asyncio.ensure_future(
        client.connect(**{**options, **callbacks, "error_cb": error_cb}))
    try:
        await asyncio.wait((connecting, refused), timeout=within, return_when=asyncio.FIRST_COMPLETED)
        if connecting.done():
            connecting.result()  # raises what the first connect raised
            return client
        if refused.done():
            raise Unavailable(refused.result())
        cause = f"last error: {last[0].__class__.__name__}" if last else "no answer"
        raise Unavailable(f"message bus not reachable within {within:g} s ({cause})")
    except BaseException:
        connecting.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await connecting
        with contextlib.suppress(Exception):
            await client.close()
        raise
    finally:
        refused.cancel()
