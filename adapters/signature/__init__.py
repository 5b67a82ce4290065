"""Electronic digital signature adapters: ``x509`` (local CMS verification), ``eimzo`` (the
national E-IMZO-SERVER over REST) and ``dev`` (a local dev CA that also signs, for the demo)."""

from __future__ import annotations

from typing import Any


def setting(settings: Any, name: str, default: Any) -> Any:
    """A setting the host may not declare yet: an attribute, else ``settings.extra[name]``."""
    value = getattr(settings, name, None)
    if value is None:
        value = (getattr(settings, "extra", None) or {}).get(name, default)
    return value
