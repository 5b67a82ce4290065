"""messaging.nats: never send credentials to a server that offers no TLS when TLS was asked for.

nats-py upgrades to TLS only when the server's INFO says ``tls_required``, even for a ``tls://`` URL
or with TLS files set: a server (or a man in the middle) offering none would be sent the credentials
in the clear. nats-py has no public hook between reading INFO and writing CONNECT (its
``tls_handshake_first`` option would need every server configured for it), so this module overrides
the one private method it calls there, ``Client._process_info``. It is the only private name of
nats-py this adapter uses; should a nats-py release rename it, :func:`client` refuses to connect
where TLS is wanted rather than silently connecting in the clear (and tests/messaging/
test_nats_secured.py fails).
"""

from __future__ import annotations

from typing import Any

import nats
from nats.aio.client import Client

from core.errors import ConfigurationError

_HOOK = "_process_info"  # Client._process_connect_init calls it with the INFO, before CONNECT


class TlsNotOffered(nats.errors.Error):
    """The server offered no TLS though the deployment configured it."""


class _GuardedClient(Client):
    require_tls = False

    async def _process_info(self, info: dict[str, Any], initial_connection: bool = False) -> None:
        if initial_connection and self.require_tls and not info.get("tls_required"):
            raise TlsNotOffered("nats: the server does not require TLS")
        await super()._process_info(info, initial_connection)


def wants_tls(options: dict[str, Any]) -> bool:
    """TLS was asked for: TLS files are set or a server URL says ``tls://``."""
    return "tls" in options or any(url.startswith("tls://") for url in options["servers"])


def client(options: dict[str, Any]) -> Client:
    """A client for ``options`` that stops before its CONNECT if TLS was asked for but not offered."""
    guarded = _GuardedClient()
    guarded.require_tls = wants_tls(options)
    if guarded.require_tls and not callable(getattr(Client, _HOOK, None)):
        raise ConfigurationError("this nats-py has no Client._process_info: it cannot be told to refuse a "
                                 "server without TLS; install a nats-py version pyproject.toml allows")
    return guarded
