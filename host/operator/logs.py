"""Structured JSON logs: one object per line, carrying the request id that the audit trail also
records for the same request, so a log line and its audit entry can be joined."""

from __future__ import annotations

import contextvars
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("shifo_request_id", default="")
_SKIP = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def request_id_of(scope: Any) -> str:
    """The request's id: a sane one the caller sent in ``X-Request-Id``, else a new one."""
    sent = dict(scope["headers"]).get(b"x-request-id", b"")
    rid = sent.decode("ascii", "replace") if 0 < len(sent) <= 64 and sent.isascii() else ""
    return rid if rid.replace("-", "").isalnum() else uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage(),
                "request_id": getattr(record, "request_id", None) or request_id_var.get() or None}
        line.update({k: v for k, v in vars(record).items() if k not in _SKIP and k not in line})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(line, enc_hook=str).decode()


def configure(level: int = logging.INFO) -> None:
    """Send every log record to stderr as JSON (``shifo serve`` calls this once).

    Records skip what the lines never show (the caller's source line, thread and process names):
    the Logging HOWTO's optimizations, worth it at one access line per request."""
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
