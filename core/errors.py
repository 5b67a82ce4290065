"""Domain errors. The host turns each into an RFC 9457 problem detail with the status named here,
so a module raises what went wrong in its own words and never builds HTTP answers itself."""

from __future__ import annotations

from typing import Any, ClassVar


class ShifoError(Exception):
    """Base of every error a module may raise on purpose."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class ValidationFailed(ShifoError):
    """The input is well-formed but breaks a rule (wrong check digit, implausible value, ...)."""

    status = 422
    title = "Validation failed"


class NotFound(ShifoError):
    status = 404
    title = "Not found"


class Conflict(ShifoError):
    """The request contradicts the current state (duplicate, invalid transition, taken slot)."""

    status = 409
    title = "Conflict"


class Unauthenticated(ShifoError):
    status = 401
    title = "Authentication required"


class Forbidden(ShifoError):
    status = 403
    title = "Forbidden"


class ConfigurationError(Exception):
    """The deployment is mis-configured; raised at start-up, never during a request."""


class Unavailable(ShifoError):
    """A dependency (the database, the message bus) cannot be reached just now. The host answers
    503 with ``Retry-After``; the process heals by itself once the dependency returns."""

    status = 503
    title = "Service unavailable"

    def __init__(self, detail: str, *, retry_after: int = 2) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class OutcomeUnknown(ShifoError):
    """The database connection failed while a change was being committed: it may or may not be
    stored. 503 without ``Retry-After``: resending a create blindly could store it twice, so the
    client reads the record first and retries only if it is missing."""

    status = 503
    title = "Outcome unknown"
