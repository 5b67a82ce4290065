"""/metrics parses as Prometheus text and carries the named series; the SLA report counts
overdue and due-soon requests; JSON log lines carry the request id the audit trail records."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from core import clock
from host.audit import audit_log
from host.operator.logs import JsonFormatter, request_id_of
from host.web.app import create_app
from tests.operator.world import seed
from tests.support import opened

SERIES = {"shifo_http_requests", "shifo_http_request_duration_seconds", "shifo_outbox_pending",
          "shifo_outbox_lag_seconds", "shifo_outbox_parked", "shifo_login_failures", "shifo_login_lockouts",
          "shifo_installations_overdue", "shifo_users_due_for_review"}


async def test_metrics_parse_as_prometheus_text_and_carry_the_series(db_url: str) -> None:
    s, w = await seed(db_url)
    async with AsyncTestClient(create_app(s)) as client:
        assert (await client.get("/api/v1/medcard/", headers=w["doc"])).status_code == 200
        bad = await client.post("/api/v1/auth/login", json={"login": "doc", "password": "wrong-password-1"})
        assert bad.status_code == 401
        await client.post("/api/v1/operator/installations", headers=w["op"],
                          json={"facility": "F1", "modules": ["polyclinic"], "applied_on": "2026-01-05"})
        ready = (await client.get("/ready")).json()["checks"]
        assert ready["outbox"]["parked"] == 0
        assert ready["clock"]["measurable"] is db_url.startswith("postgresql")
        r = await client.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert SERIES <= set(families)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    route = (("method", "GET"), ("module", "medcard"), ("route", "/api/v1/medcard"), ("status", "200"))
    assert samples[("shifo_http_requests_total", route)] >= 1
    assert any(n == "shifo_http_request_duration_seconds_count" and dict(lbl).get("module") == "medcard"
               for n, lbl in samples)
    assert samples[("shifo_login_failures_total", ())] == 1
    assert samples[("shifo_installations_overdue", ())] == (1 if clock.utcnow().date().isoformat() > "2026-01-27"
                                                            else 0)
    if db_url.startswith("postgresql"):
        assert abs(samples[("shifo_clock_skew_seconds", ())]) < 5


async def test_sla_report_by_region_lists_overdue(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s, w = await seed(db_url)
    op = w["op"]
    async with AsyncTestClient(create_app(s)) as client:
        for applied in ("2026-05-20", "2026-06-01"):
            await client.post("/api/v1/operator/installations", headers=op,
                              json={"facility": "F1", "modules": ["polyclinic" if applied < "2026-06" else "erecipe"],
                                    "applied_on": applied})
        today = clock.utcnow().replace(year=2026, month=6, day=16)  # the first was due 15 June
        monkeypatch.setattr(clock, "utcnow", lambda: today)
        report = (await client.get("/api/v1/operator/sla", headers=op)).json()
        assert report["regions"] == [{"region": "Tashkent", "on_time": 0, "late": 0, "overdue": 1,
                                      "due_soon": 0, "open_on_track": 1}]
        assert [o["due_on"] for o in report["overdue"]] == ["2026-06-15"]
        monkeypatch.setattr(clock, "utcnow", lambda: today + timedelta(days=1))  # 3 working days to 22nd
        soon = (await client.get("/api/v1/operator/sla", params={"region": "Tashkent"}, headers=op)).json()
        assert soon["regions"][0]["due_soon"] == 1
        assert (await client.get("/api/v1/operator/sla", params={"region": "Nukus"}, headers=op)).json()[
            "regions"] == []
        assert (await client.get("/api/v1/operator/sla", headers=w["doc"])).status_code == 403


async def test_json_logs_carry_the_request_id_of_the_audit_entry(db_url: str) -> None:
    s, w = await seed(db_url)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("shifo.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        async with AsyncTestClient(create_app(s)) as client:
            r = await client.get("/api/v1/operator/facilities", headers={**w["doc"], "X-Request-ID": "req-42"})
            assert r.status_code == 403 and r.headers["x-request-id"] == "req-42"
            logger.warning("probe")  # outside a request: no id
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(raw) for raw in stream.getvalue().splitlines()]
    (denied,) = [x for x in lines if x["request_id"] == "req-42"]
    assert denied["message"] == "GET /api/v1/operator/facilities 403" and denied["shifo_module"] == "operator"
    assert lines[-1]["message"] == "probe" and lines[-1]["request_id"] is None
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        ids = (await tx.execute(select(audit_log.c.request_id).where(
            audit_log.c.outcome == "denied:403"))).scalars().all()
    assert "req-42" in ids


def test_a_request_without_a_sane_id_gets_a_new_one_and_a_sane_one_keeps_its_own() -> None:
    fresh = {request_id_of({"headers": [(b"x-request-id", b"no spaces")]}) for _ in range(1000)}
    assert len(fresh) == 1000 and all(len(i) == 32 and int(i, 16) >= 0 for i in fresh)
    assert request_id_of({"headers": [(b"host", b"x"), (b"x-request-id", b"req-42")]}) == "req-42"


def test_log_lines_stamp_utc_to_the_millisecond() -> None:
    formatter = JsonFormatter()
    for created in (1_700_000_000.0, 1_700_000_000.2504, 1_700_000_059.999, 1_700_000_060.001):
        record = logging.makeLogRecord({"msg": "m", "created": created})
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert json.loads(formatter.format(record))["time"] == expected
