"""The benchmark's paths: what wrk sends for each, and the rows each answered request adds."""

from __future__ import annotations

from typing import NamedTuple


class Workload(NamedTuple):
    mode: str  # entries.lua's mode
    table: str  # the table whose rows a 2xx adds (counted before and after every run)
    rows: int  # rows added to it, and outbox rows, per 2xx


WORKLOADS = {
    "write": Workload("post", "medcard_entries", 1),  # one pulse reading
    "read": Workload("get", "medcard_entries", 0),  # the card's 30 newest entries
    "exam": Workload("exam", "medcard_entries", 4),  # an examination: a diagnosis and three vital signs
    "rx": Workload("rx", "erecipe_prescriptions", 1),  # a signed order, drafted and issued in one request
}
