"""messaging.nats: how a process connects to the bus, and what a connect failure means.

The names on the bus are in :mod:`.nats_names`, the client options from the settings in
:mod:`.nats_options`, and the refusal of a server that offers no TLS in :mod:`.nats_tls_guard`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

import nats
from nats.aio.client import Client

from core.errors import Unavailable

from . import nats_tls_guard
from .nats_tls_guard import TlsNotOffered

log = logging.getLogger("shifo.messaging.nats")

#: broker errors that mean "not reachable just now" (the caller raises core.errors.Unavailable)
BROKER_ERRORS: tuple[type[BaseException], ...] = (nats.errors.Error, asyncio.TimeoutError, OSError)


async def log_error(exc: Exception) -> None:
    # messages from the client name servers and error kinds, never credentials
    log.warning("nats: %s: %s", exc.__class__.__name__, exc)


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
    client = nats_tls_guard.client(options)
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
