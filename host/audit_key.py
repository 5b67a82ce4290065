"""The audit key: the secret that signs the audit chains' checkpoints (:mod:`host.audit_anchor`).

``SHIFO_AUDIT_KEY`` in production; unset, the key file ``SHIFO_AUDIT_KEY_FILE`` (``var/audit.key``),
which ``shifo demo`` creates for the demo. The secret never leaves this object: its ``repr`` shows
only the key's id, a hash that tells checkpoints of different keys apart.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from core.errors import ConfigurationError

MIN_LENGTH = 16


class AuditKey:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self.id = hashlib.sha256(b"shifo-audit-key-id:" + secret).hexdigest()[:16]

    def mac(self, n: int, prev_mac: str, heads: str) -> str:
        """Checkpoint ``n``'s MAC: over its number, the previous checkpoint's MAC and its heads."""
        message = f"shifo-audit-checkpoint:{n}:{prev_mac}:{heads}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:  # never the secret
        return f"AuditKey(id={self.id})"


def key_of(settings: Any) -> AuditKey | None:
    """``SHIFO_AUDIT_KEY``, else the key file (``audit_key_file``, made by ``shifo demo``), else None."""
    path = Path(settings.audit_key_file)
    secret = settings.audit_key.encode() if settings.audit_key else (
        path.read_bytes().strip() if path.is_file() else None)
    if secret is not None and len(secret) < MIN_LENGTH:
        raise ConfigurationError(f"the audit key must be at least {MIN_LENGTH} characters long")
    return AuditKey(secret) if secret is not None else None


def make_key_file(path: str) -> bool:
    """Create a random key in ``path`` (mode 0600) unless it exists; True if made. For the demo."""
    file = Path(path)
    if file.exists():
        return False
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    return True
