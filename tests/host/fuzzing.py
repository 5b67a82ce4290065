"""A bounded, deterministic schemathesis fuzz of the whole OpenAPI document, for ``test_fuzz``.

Cases are generated first (Hypothesis, derandomized: the same cases on every run), then sent one by
one through :class:`tests.patient.sse.StreamingTransport`, so the never-ending patient stream is
answered, read to its first chunk and closed instead of hanging the run. Every operation gets
positive and negative cases, and, when its path names a seeded record, cases aimed at that record,
so they reach the handlers' depths rather than stopping at a 404; every path and query parameter
gets the :data:`HOSTILE` values, one parameter at a time; every path gets a CORS pre-flight
(``OPTIONS``, which the document does not list).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

BASE = "http://shifo.test"
#: what outside probes sent: a NUL, numbers past 64 bits and 16 bits, a negative, an SQL fragment
HOSTILE = ("a\x00b", "9" * 20, "32768-1", "-1", "' OR '1'='1")
TIMEOUT = 15.0  # seconds for one answer: a hang is a failure too


class Tally:
    """What the run did: requests per status, and every answer of 500 or more (or a hang)."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.by_principal: Counter[tuple[str, int]] = Counter()
        self.failures: list[str] = []
        self.operations = 0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def operations(document: dict[str, Any]) -> list[Any]:
    schema = schemathesis.openapi.from_dict(document)
    return [result.ok() for result in schema.get_all_operations()]


def cases(operation: Any, examples: int, aimed: list[dict[str, str]]) -> list[Any]:
    """``examples`` cases of positive and negative data, some with path parameters from ``aimed``;
    then, for each path and query parameter, one case per :data:`HOSTILE` value in it (the other
    parameters generated, path ones naming seeded records) as outside probes do."""
    names = {p.name for p in operation.path_parameters}
    strategies = [operation.as_strategy(generation_mode=mode) for mode in GenerationMode]
    for ids in aimed:
        if names and names <= ids.keys():
            fixed = {name: ids[name] for name in names}
            strategies.append(operation.as_strategy(generation_mode=GenerationMode.POSITIVE,
                                                    path_parameters=fixed))
    found = _draw(st.one_of(strategies), examples)
    ids = {name: aimed[0][name] for name in names if name in aimed[0]}
    for name in [*sorted(names), *(p.name for p in operation.query)]:
        for value in HOSTILE:
            hostile = {"path_parameters": {**ids, name: value}} if name in names else \
                {"path_parameters": ids or None, "query": {name: value}}
            found += _draw(operation.as_strategy(**hostile), 1)
    return found


def _draw(strategy: st.SearchStrategy[Any], examples: int) -> list[Any]:
    found: list[Any] = []

    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case: Any) -> None:
        found.append(case)

    collect()
    return found[:examples]


def request_of(case: Any) -> dict[str, Any]:
    """The case as ``httpx.AsyncClient.stream`` arguments."""
    sent = case.as_transport_kwargs(base_url=BASE)
    out = {k: sent[k] for k in ("method", "url", "params", "headers") if sent.get(k) is not None}
    if "json" in sent:
        out["json"] = sent["json"]
    elif isinstance(sent.get("data"), (bytes, str)):
        out["content"] = sent["data"]
    elif sent.get("data") is not None:
        out["data"] = sent["data"]
    if sent.get("cookies"):
        out["headers"] = {**out.get("headers", {}),
                          "cookie": "; ".join(f"{k}={v}" for k, v in sent["cookies"].items())}
    if "headers" in out:  # httpx encodes str values as ASCII only: send other text as raw UTF-8
        out["headers"] = {k: v if not isinstance(v, str) or v.isascii() else v.encode()
                          for k, v in out["headers"].items()}
    return out


async def send(client: httpx.AsyncClient, request: dict[str, Any]) -> tuple[int, str]:
    """Status and the start of the body; an event stream is closed after its first chunk."""
    async with asyncio.timeout(TIMEOUT), client.stream(**request) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return response.status_code, ""
        return response.status_code, (await response.aread())[:300].decode("utf-8", "replace")


async def record(client: httpx.AsyncClient, sent: dict[str, Any], name: str, tally: Tally) -> None:
    try:
        status, body = await send(client, sent)
    except TimeoutError:
        status, body = 504, "no answer (the fuzz's own timeout)"
    tally.statuses[status] += 1
    tally.by_principal[name, status // 100 * 100] += 1
    if status >= 500:
        where = f"{sent['method']} {sent['url']} params={sent.get('params')}"
        tally.failures.append(f"{name}: {where} -> {status} {body[:200]}")


Principal = tuple[str, Callable[[], Awaitable[dict[str, str]]]]


async def fuzz(client: httpx.AsyncClient, ops: list[Any], principals: list[Principal], examples: int,
               aimed: list[dict[str, str]], tally: Tally) -> None:
    """Send every case of every operation as each principal; ``principals`` give their headers
    (signing in again after a case signed them out)."""
    headers = {name: await sign_in() for name, sign_in in principals}
    for operation in ops:
        tally.operations += 1
        for case in cases(operation, examples, aimed):
            request = request_of(case)
            for name, sign_in in principals:
                sent = {**request, "headers": {**request.get("headers", {}), **headers[name]}}
                await record(client, sent, name, tally)
                if operation.path.endswith("/logout"):
                    headers[name] = await sign_in()
    for path in sorted({op.path for op in ops}):  # the document lists no OPTIONS: a CORS preflight each
        url = path.format_map({**{p.name: "x" for op in ops for p in op.path_parameters}, **aimed[0]})
        preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        for name, _ in principals:
            sent = {"method": "OPTIONS", "url": url, "headers": {**preflight, **headers[name]}}
            await record(client, sent, name, tally)
