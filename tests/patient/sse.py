"""Reading a never-ending Server-Sent Events response in tests.

httpx's ``ASGITransport`` and Litestar's test client both buffer a response until it ends, so an
open stream would hang them. :class:`StreamingTransport` hands the body over chunk by chunk and,
when the response is closed, tells the app the client disconnected (as a server does).
:func:`messages` parses the wire format; :func:`take` reads with a deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

SERVER = ("shifo.test", 80)


class _Body(httpx.AsyncByteStream):
    def __init__(self, queue: asyncio.Queue[dict[str, Any]], task: asyncio.Task[None],
                 gone: asyncio.Event, first: bytes, more: bool) -> None:
        self._queue, self._task, self._gone = queue, task, gone
        self._first, self._more = first, more

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._first:
            yield self._first
        while self._more:
            message = await self._queue.get()
            if message["type"] == "http.response.body":
                self._more = message.get("more_body", False)
                if message.get("body"):
                    yield message["body"]

    async def aclose(self) -> None:
        self._gone.set()
        await asyncio.wait_for(self._task, 5)  # the app must end the response when the client leaves


class StreamingTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: Any) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": request.method, "scheme": "http", "path": request.url.path,
                 "raw_path": request.url.raw_path.split(b"?")[0], "root_path": "",
                 "query_string": request.url.query, "server": SERVER, "client": ("testclient", 50000),
                 "headers": [(k.lower(), v) for k, v in request.headers.raw]}
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        gone = asyncio.Event()
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            await queue.put(message)

        task = asyncio.create_task(self.app(scope, receive, send))
        start = await queue.get()
        first = await queue.get()
        more = first.get("more_body", False)
        if not more:
            gone.set()
            await task
        return httpx.Response(start["status"], headers=start.get("headers", []),
                              stream=_Body(queue, task, gone, first.get("body", b""), more))


async def messages(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """Each SSE message as its fields (``id``, ``event``, ``data``, ``retry``, ``comment``)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if fields:
                yield fields
            fields = {}
        elif line.startswith(":"):
            fields["comment"] = line[1:].strip()
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value


async def take(stream: AsyncIterator[dict[str, str]], count: int, timeout: float = 5.0,
               kinds: tuple[str, ...] = ("data",)) -> list[dict[str, str]]:
    """The next ``count`` messages that have one of ``kinds`` (default: events with data)."""
    got: list[dict[str, str]] = []

    async def collect() -> None:
        async for message in stream:
            if any(k in message for k in kinds):
                got.append(message)
                if len(got) == count:
                    return

    await asyncio.wait_for(collect(), timeout)
    return got
