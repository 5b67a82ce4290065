"""The one password policy, applied wherever a password is set (API, CLI, demo seed, imports).

Length is what protects an argon2id hash against guessing; composition rules only make people
write passwords down. So the rule is a length: at least :data:`MIN_LENGTH` characters (a
passphrase is welcome), at most :data:`MAX_LENGTH` (hashing a megabyte is a denial of service),
and not the login itself. ``None`` sets no password at all: the account signs in with its EDS only.
"""

from __future__ import annotations

from core.errors import ValidationFailed

MIN_LENGTH = 12
MAX_LENGTH = 1024
RULE = f"a password is {MIN_LENGTH} to {MAX_LENGTH} characters and not the login"


def check_password(password: str | None, login: str) -> None:
    """Raise :class:`ValidationFailed` (422, field ``password``) naming the rule it breaks."""
    if password is None:
        return
    if len(password) < MIN_LENGTH:
        why = f"the password is too short ({len(password)} characters): {RULE}"
    elif len(password) > MAX_LENGTH:
        why = f"the password is too long ({len(password)} characters): {RULE}"
    elif password.strip().casefold() == login.casefold():
        why = f"the password is the login: {RULE}"
    else:
        return
    raise ValidationFailed(why, errors=[{"field": "password", "message": why}])
