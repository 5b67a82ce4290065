"""The AsyncAPI 3.0 document of the events on NATS: the contract for subscribers outside Shifo.

It is built from the event catalogue itself (payload schemas from msgspec) and the nats adapter's
own names, so it cannot drift from what the relay publishes. Served at ``/schema/asyncapi.json``
and printed by ``shifo asyncapi``. The broker's address is left out on purpose: the document is
public, and the operator hands out the address together with the credentials.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec

from core.events import Event, catalogue
from core.partitions import PARTITIONS
from host.settings import Settings

ASYNCAPI = "3.0.0"
HEADERS = "EventHeaders"  # the components/schemas name of the header schema
_REF = "#/components/schemas/{name}"
#: the base fields every event has carried since the first version: present in every message
_BASE = ("id", "version", "occurred_at", "patient", "facility")

try:
    VERSION = version("shifo")
except PackageNotFoundError:  # run from a checkout that is not installed
    VERSION = "0.0.0"

_DESCRIPTION = """\
Events of the Shifo modules. The relay publishes each event to the JetStream stream `{stream}`
once the transaction that recorded it has committed; the subject is
`{prefix}.events.{{partition}}.{{event type}}`.

**Ordering.** Every event of one patient goes to the same partition (0-{last}, chosen by the PINFL;
an event without a patient by its own id), and the stream holds a partition's events in commit
order. Events of different patients are not ordered with respect to each other.

**Delivery: at least once.** The same event may arrive more than once (a re-publish after a relay
restart, a redelivery to your consumer). Deduplicate by the event id: the payload's `id`, also in
the `Nats-Msg-Id` header. `Shifo-Seq` is the event's place in the platform's outbox.

**Personal data.** Every message has a `patient` field: the patient's PINFL (personal
identification number), which is personal data, and most carry health data besides. Subjects carry
only the partition number, never a PINFL. Subscribe only as the operator authorized, over TLS, and
keep what you receive confidential.

**Taking events.** Create a durable JetStream consumer of your own on `{stream}` (filter subjects
`{prefix}.events.*.<event type>`; names beginning `{prefix}_` and the bucket `{prefix}-leases` are
the platform's) and acknowledge a message after you applied it. The stream keeps events
{days} days, whatever was acknowledged. A core NATS subscription sees events live only, with no
replay.

**Versions.** Each payload has a `version`. A field with a default may be added (it is missing from
events published before it existed); renaming or retyping a field bumps `version`.
"""


def document(prefix: str, events: Mapping[str, type[Event]] | None = None) -> dict[str, Any]:
    """The AsyncAPI document for the subjects under ``prefix`` (setting ``nats_prefix``)."""
    # imported here: nats-py takes 0.1 s to import, which every other `shifo` command would pay
    from adapters.messaging.nats_names import STREAM_MAX_AGE_SECONDS, Names, safe_name

    names = Names(safe_name(prefix))
    events = dict(sorted((events if events is not None else catalogue()).items()))
    refs, schemas = msgspec.json.schema_components(list(events.values()), schema_hook=_any_value,
                                                   ref_template=_REF)
    schemas = {name: _draft7(schema) for name, schema in schemas.items()}
    if HEADERS in schemas:
        raise ValueError(f"an event struct is named {HEADERS}, which the document keeps for headers")
    schemas[HEADERS] = _headers()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for (event_type, cls), ref in zip(events.items(), refs, strict=True):
        name = ref["$ref"].rsplit("/", 1)[1]
        schemas[name]["required"] = _required(schemas[name])
        messages[event_type] = _message(event_type, cls, ref)
        channels[event_type] = {
            "address": f"{names.prefix}.events.{{partition}}.{event_type}",  # as Names.subject
            "title": event_type,
            "messages": {event_type: {"$ref": f"#/components/messages/{event_type}"}},
            "parameters": {"partition": {"$ref": "#/components/parameters/partition"}},
        }
        operations[f"receive.{event_type}"] = {
            "action": "receive", "title": f"Receive {event_type}",
            "channel": {"$ref": f"#/channels/{event_type}"},
            "messages": [{"$ref": f"#/channels/{event_type}/messages/{event_type}"}],
        }
    return {
        "asyncapi": ASYNCAPI,
        "info": {"title": "Shifo events", "version": VERSION,
                 "description": _DESCRIPTION.format(prefix=names.prefix, stream=names.stream,
                                                    last=PARTITIONS - 1,
                                                    days=round(STREAM_MAX_AGE_SECONDS / 86400))},
        "defaultContentType": "application/json",
        "servers": {"nats": _server()},
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages,
                       "parameters": {"partition": _partition()},
                       "securitySchemes": _security()},
    }


def encoded(prefix: str) -> bytes:
    """:func:`document` as JSON, built once per prefix and catalogue (it changes only when an
    event type is defined later, e.g. by a module loaded after the first call)."""
    key = (prefix, tuple(sorted(catalogue())))
    if key not in _ENCODED:
        _ENCODED[key] = msgspec.json.encode(document(prefix))
    return _ENCODED[key]


_ENCODED: dict[tuple[str, tuple[str, ...]], bytes] = {}


def command(settings: Settings, args: argparse.Namespace) -> int:
    """``shifo asyncapi``: the document on stdout (the enabled modules are loaded by then)."""
    print(json.dumps(document(settings.nats_prefix), indent=2))
    return 0


def _message(event_type: str, cls: type[Event], payload: dict[str, str]) -> dict[str, Any]:
    doc = " ".join((cls.__doc__ or "").split())
    message: dict[str, Any] = {
        "name": event_type, "title": cls.__name__, "contentType": "application/json",
        "headers": {"$ref": _REF.format(name=HEADERS)}, "payload": payload,
        "tags": [{"name": event_type.split(".", 1)[0]}],
    }
    if doc:
        message["summary"] = doc
    if "patient" in cls.__struct_fields__:
        message["tags"].append({"name": "personal-data",
                                "description": "carries the patient's PINFL (personal data)"})
    return message


def _required(schema: dict[str, Any]) -> list[str]:
    """The fields every message has: msgspec's required ones and the base fields."""
    props = schema.get("properties", {})
    required: list[str] = schema.get("required", [])
    return [*required, *(f for f in _BASE if f in props and f not in required)]


def _headers() -> dict[str, Any]:
    return {"type": "object", "required": ["Nats-Msg-Id", "Shifo-Seq"], "properties": {
        "Nats-Msg-Id": {"type": "string", "format": "uuid", "description":
                        "the event id (payload `id`); the stream drops a re-publish of it within "
                        "its duplicate window"},
        "Shifo-Seq": {"type": "string", "pattern": "^[0-9]+$", "description":
                      "the event's sequence number in the platform's outbox (decimal)"},
    }}


def _partition() -> dict[str, Any]:
    return {"enum": [str(p) for p in range(PARTITIONS)],
            "description": f"one of {PARTITIONS} partitions; all events of one patient share one"}


def _server() -> dict[str, Any]:
    return {
        "host": "{host}", "protocol": "nats", "title": "NATS JetStream",
        "description": "The deployment's NATS cluster. TLS and authentication are required in "
                       "production; the operator gives the address with the credentials.",
        "variables": {"host": {"description": "a NATS server's host and port",
                               "examples": ["nats-1.example:4222"]}},
        "security": [{"$ref": f"#/components/securitySchemes/{name}"} for name in _security()],
    }


def _security() -> dict[str, Any]:
    return {
        "userPassword": {"type": "userPassword", "description": "a NATS user and password"},
        "token": {"type": "apiKey", "in": "password", "description": "a NATS token"},
        "nkey": {"type": "asymmetricEncryption", "description":
                 "an NKey seed or a JWT credentials (.creds) file: the client signs the server's "
                 "nonce with its Ed25519 key"},
        "clientCertificate": {"type": "X509", "description": "mutual TLS with a client certificate"},
    }


def _any_value(cls: type) -> dict[str, Any]:
    if cls is object:  # dict[str, object] fields: any JSON value
        return {"description": "any JSON value"}
    raise NotImplementedError


def _draft7(node: Any) -> Any:
    """msgspec writes JSON Schema 2020-12; AsyncAPI's schema object extends draft 07, which
    spells a tuple's ``prefixItems`` as an ``items`` list (and its ``items`` as ``additionalItems``)."""
    if isinstance(node, list):
        return [_draft7(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _draft7(value) for key, value in node.items()}
    if "prefixItems" in out:
        if "items" in out:
            out["additionalItems"] = out.pop("items")
        out["items"] = out.pop("prefixItems")
    return out
