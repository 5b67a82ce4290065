"""Structured JSON logs: one object per line, carrying the request id that the audit trail also
records for the same request, so a log line and its audit entry can be joined."""

from __future__ import annotations

import contextvars
import logging
import os
import random
import warnings
from datetime import UTC, datetime
from typing import Any

import msgspec

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("shifo_request_id", default="")
# uvicorn's "color_message" repeats the message with terminal colour codes
_SKIP = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "color_message"}
_ids = random.Random()  # noqa: S311 - seeded from the OS, again after fork; ids are unique, not secret
os.register_at_fork(after_in_child=_ids.seed)


def request_id_of(scope: Any) -> str:
    """The request's id: a sane one the caller sent in ``X-Request-Id``, else a new one."""
    for name, sent in scope["headers"]:
        if name == b"x-request-id":
            rid = sent.decode("ascii", "replace") if 0 < len(sent) <= 64 and sent.isascii() else ""
            if rid.replace("-", "").isalnum():
                return rid
            break
    return f"{_ids.getrandbits(128):032x}"  # as long as a UUID's hex; no system call per request


class JsonFormatter(logging.Formatter):
    """One JSON object per record. Runs for every request's access line, so the time stamp's
    seconds are formatted once per second and extra fields are found by a set difference."""

    _second, _stamp = -1, ""

    def _time(self, created: float) -> str:
        second, micro = divmod(round(created * 1_000_000), 1_000_000)  # rounded as datetime rounds
        if second != self._second:
            self._stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._stamp}.{micro // 1000:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__
        line = {"time": self._time(record.created), "level": record.levelname, "logger": record.name,
                "message": record.getMessage(),
                "request_id": fields.get("request_id") or request_id_var.get() or None}
        for name in sorted(fields.keys() - _SKIP):
            line[name] = fields[name]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(line, enc_hook=str).decode()


# Libraries that narrate their start-up at INFO (casbin prints its model, alembic its plugins):
# an operator needs their warnings, not a dozen lines per process start.
CHATTY = ("casbin", "alembic")


def quiet() -> None:
    """Filter what every command would otherwise print and nobody can act on: pyhanko imports
    cryptography's DSA key type (deprecated) on import, and casbin and alembic log at INFO on
    every start. Only that warning from that module is ignored; every other warning still shows."""
    from cryptography.utils import CryptographyDeprecationWarning

    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning,
                            module=r"pyhanko\.sign\.signers\.pdf_cms")
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure(level: int = logging.INFO) -> None:
    """Send every log record to stderr as JSON (``shifo serve`` calls this once), warnings too,
    so each line a server writes is one JSON object. uvicorn is run with ``log_config=None``: it
    then installs no handlers of its own and its loggers propagate to this one.

    Records skip what the lines never show (the caller's source line, thread and process names):
    the Logging HOWTO's optimizations, worth it at one access line per request."""
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # a warning is a "py.warnings" record, formatted as JSON
    quiet()
