"""The AsyncAPI document for outside subscribers: every catalogue event is a channel whose payload
schema resolves, lists the struct's fields and accepts what the relay really publishes; the route
and ``shifo asyncapi`` give the same document.

Structural checks: no maintained AsyncAPI 3 validator is on PyPI (the official JSON Schema ships
on npm only). The payloads are checked with jsonschema_rs (schemathesis's validator, a dev
dependency already).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import msgspec
import pytest

from adapters.messaging.nats_names import Names
from core.clock import utcnow
from core.events import CriticalLabValue, EntryRecorded, Event, PrescriptionIssued, catalogue, encode_event
from core.ids import new_id
from core.partitions import PARTITIONS
from host import asyncapi
from host.settings import Settings
from plugins.medcard import alert_events  # noqa: F401  (their Alert is a nested struct)
from tests.support import serving

PINFL = "31234567890123"


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        assert node["$ref"].startswith("#/"), node
        target: Any = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [*([node["$ref"]] if "$ref" in node else []), *(r for v in node.values() for r in refs(v))]
    return [r for v in node for r in refs(v)] if isinstance(node, list) else []


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(json.dumps(asyncapi.document("zdrav")))  # as a subscriber parses it


def test_every_catalogue_event_is_a_channel_with_an_operation_and_a_message(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["version"] == asyncapi.VERSION and doc["info"]["title"]
    for part in ("at least once", "commit", "PINFL", "personal data", "Nats-Msg-Id"):
        assert part.lower() in doc["info"]["description"].lower()
    assert set(doc["channels"]) == set(catalogue())
    for event_type in catalogue():
        channel = doc["channels"][event_type]
        assert channel["address"] == f"zdrav.events.{{partition}}.{event_type}"
        assert channel["address"].replace("{partition}", "7") == Names("zdrav").subject(7, event_type)
        partition = resolve(doc, channel["parameters"]["partition"])
        assert partition["enum"] == [str(p) for p in range(PARTITIONS)]
        operation = doc["operations"][f"receive.{event_type}"]
        assert operation["action"] == "receive"
        assert resolve(doc, operation["channel"]) is channel
        [message_ref] = operation["messages"]
        assert message_ref["$ref"] == f"#/channels/{event_type}/messages/{event_type}"
        message = resolve(doc, message_ref)
        assert message["name"] == event_type and message["contentType"] == "application/json"
        assert "personal-data" in {tag["name"] for tag in message["tags"]}  # every event has `patient`
    for ref in refs(doc):  # nothing dangles
        resolve(doc, {"$ref": ref})


def test_payload_schemas_list_the_structs_fields_and_required_ones(doc: dict[str, Any]) -> None:
    for event_type, cls in catalogue().items():
        payload = resolve(doc, resolve(doc, doc["components"]["messages"][event_type])["payload"])
        fields = msgspec.structs.fields(cls)
        assert set(payload["properties"]) == {"type"} | {f.encode_name for f in fields}
        assert payload["properties"]["type"]["enum"] == [event_type]
        assert set(payload["required"]) == {"type", "id", "version", "occurred_at", "patient", "facility"} | {
            f.encode_name for f in fields if f.required}
    alert = resolve(doc, doc["components"]["schemas"]["AlertRaised"]["properties"]["alert"])
    assert "pinfl" in alert["required"]  # a nested struct resolves through components/schemas


def test_the_headers_schema_names_the_event_id_and_the_outbox_seq(doc: dict[str, Any]) -> None:
    headers = resolve(doc, doc["components"]["messages"]["medcard.entry_recorded"]["headers"])
    assert set(headers["required"]) == {"Nats-Msg-Id", "Shifo-Seq"}
    seq = jsonschema_rs.validator_for(headers)
    assert seq.is_valid({"Nats-Msg-Id": str(new_id()), "Shifo-Seq": "42"})
    assert not seq.is_valid({"Nats-Msg-Id": str(new_id()), "Shifo-Seq": "-1"})


def test_the_server_is_nats_and_requires_authentication(doc: dict[str, Any]) -> None:
    server = doc["servers"]["nats"]
    assert server["protocol"] == "nats" and "TLS" in server["description"]
    kinds = {resolve(doc, s)["type"] for s in server["security"]}
    assert kinds == {"userPassword", "apiKey", "asymmetricEncryption", "X509"}


@pytest.mark.parametrize("event", [
    EntryRecorded(patient=PINFL, facility="F1", entry_id=new_id(), kind="diagnosis", performed_at=utcnow(),
                  summary={"code": "J06.9", "nested": [1, {"a": None}]}),
    CriticalLabValue(patient=PINFL, entry_id=new_id(), requested_by=new_id(), test="K", value=7.1,
                     flag="HH", performed_at=utcnow()),
    PrescriptionIssued(patient=PINFL, prescription_id=new_id(), number="R-1", category="regular",
                       diagnosis="J06.9", prescriber=new_id(), valid_until=utcnow() + timedelta(days=5),
                       lines=[{"inn": "paracetamol", "quantity": 10}]),
], ids=lambda e: e.event_type())
def test_what_the_relay_publishes_matches_its_payload_schema(doc: dict[str, Any], event: Event) -> None:
    message = doc["components"]["messages"][event.event_type()]
    schema = {"allOf": [message["payload"]], "components": doc["components"]}
    validator = jsonschema_rs.Draft7Validator(schema)
    wire = json.loads(encode_event(event))
    assert validator.is_valid(wire), list(validator.iter_errors(wire))
    assert not validator.is_valid({k: v for k, v in wire.items() if k != "id"})


async def test_the_route_is_public_json_and_the_cli_prints_the_same_document(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}", run_relay=False,
                        nats_prefix="zdrav")
    async with serving(settings) as client:  # no token: public like /schema/openapi.json
        r = await client.get("/schema/asyncapi.json")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        served = r.json()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFO_")}
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "host.cli", "asyncapi"], cwd=tmp_path,
                                   capture_output=True, text=True, timeout=60,
                                   env={**env, "SHIFO_NATS_PREFIX": "zdrav"})
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    # the same modules load in both; this process may also know test-only event types
    assert set(printed["channels"]) <= set(served["channels"])
    assert set(printed["channels"]) >= {"medcard.entry_recorded", "medcard.alert_raised", "erecipe.issued"}
    known = catalogue()
    assert printed == json.loads(json.dumps(asyncapi.document(
        "zdrav", {t: known[t] for t in printed["channels"]})))
