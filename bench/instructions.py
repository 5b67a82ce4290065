"""Instructions per request under callgrind: the serving process's CPU, counted so that the speed
of a shared machine does not enter it.

    .venv/bin/python bench/run.py --quick                          # once: prepares and seeds
    .venv/bin/python bench/instructions.py --path read
    .venv/bin/python bench/instructions.py --path write --contender baseline
    .venv/bin/python bench/instructions.py --path write --project-env SHIFO_RUN_RELAY=0
    .venv/bin/python bench/instructions.py --path rx               # a signed order drafted and issued

The app runs in one process (no uvicorn) under ``valgrind --tool=callgrind``, fed one request at a
time through its ASGI interface after its own start-up and a warm-up; instrumentation is on only
around the measured requests (``callgrind_control -i on``/``off``), so start-up does not count.
One request at a time keeps the count steady to about 1 %: under concurrency the number of event
loop iterations varies. Use it to compare variants before spending a full run. It counts neither
the kernel's work (system calls) nor PostgreSQL's. Needs valgrind (``apt-get install -y valgrind``).
The ``rx`` path's orders are signed before the count by a dev CA made for it (as run.py does); their
CMS verification that must validate a path runs in a worker thread, which callgrind counts too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import run
import seed
import uvloop
from signed_orders import Orders

from adapters.signature.dev import DevSignature

CHILD = "BENCH_CALLGRIND_CHILD"
ORDERS = "BENCH_RX_ORDERS"  # the rx path's signed orders, one per line, written by the parent
Call = tuple[int, bytes]


class Driver:
    """An ASGI app run in-process: its lifespan, then one request at a time."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.said: list[str] = []

    async def start(self) -> None:
        async def receive() -> dict[str, Any]:
            return await self.inbox.get()

        async def send(message: dict[str, Any]) -> None:
            self.said.append(message["type"])

        await self.inbox.put({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, receive, send))
        while "lifespan.startup.complete" not in self.said:
            if "lifespan.startup.failed" in self.said or self.task.done():
                raise RuntimeError("the app did not start")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.task

    async def call(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Call:
        path, _, query = path.partition("?")
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
                 "root_path": "", "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {}}
        await self.app(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def _app(contender: str) -> Any:
    """The app as each uvicorn worker of the benchmark builds it."""
    if contender == "baseline":
        import baseline_app
        return baseline_app.app
    from host.web.app import serve_app
    return serve_app()


async def _login() -> str:
    """A bearer token from the project (the baseline looks up the project's sessions)."""
    from host.web.app import create_app
    driver = Driver(create_app())  # without serve_app's JSON logs: no request line on the terminal
    await driver.start()
    try:
        sign_in = json.dumps({"login": seed.DOCTOR, "password": seed.PASSWORD}).encode()
        status, body = await driver.call("POST", "/api/v1/auth/login", {"content-type": "application/json"},
                                         sign_in)
        if status != 200:
            raise RuntimeError(f"sign-in answered {status}: {body[:200]!r}")
        return str(json.loads(body)["access_token"])
    finally:
        await driver.stop()


async def _measure(args: argparse.Namespace, token: str, ids: list[str], orders: list[bytes]) -> None:
    """In the child under valgrind: warm up, then count ``args.requests`` requests."""
    driver = Driver(_app(args.contender))
    await driver.start()
    headers = {"authorization": f"Bearer {token}", "x-facility": seed.FACILITY,
               "content-type": "application/json"}
    at = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps({"kind": "indicator", "code": "pulse", "value": 72, "performed_at": at}).encode()

    async def one(i: int) -> None:
        url = f"/api/v1/medcard/patients/{ids[i % len(ids)]}/entries"
        if args.path == "rx":
            status, answer = await driver.call("POST", "/api/v1/erecipe/prescriptions/", headers, orders[i])
        elif args.path == "write":
            status, answer = await driver.call("POST", url, headers, body)
        else:
            status, answer = await driver.call("GET", url + "?limit=30", headers)
        if status not in (200, 201):
            raise RuntimeError(f"{args.path} answered {status}: {answer[:200]!r}")

    for i in range(args.warmup):
        await one(i)
    _callgrind("-i", "on")
    for i in range(args.requests):
        await one(args.warmup + i)
    _callgrind("-d")
    _callgrind("-i", "off")
    await driver.stop()


def _callgrind(*command: str) -> None:
    """Tell valgrind about this process; blocking on purpose, so nothing else runs meanwhile."""
    subprocess.run(["callgrind_control", *command, str(os.getpid())], check=True, capture_output=True)


def _sign_orders(folder: Path, dsn: str, count: int) -> None:
    """A dev CA both contenders trust, and ``count`` orders signed by it for the seeded patients."""
    keys = folder / "keys"
    DevSignature(keys).enroll(seed.DOCTOR_PINFL, "Bench Doctor")

    async def pinfls() -> list[str]:
        conn = await asyncpg.connect(dsn)
        try:
            return [r["pinfl"] for r in await conn.fetch("SELECT pinfl FROM medcard_patients ORDER BY pinfl")]
        finally:
            await conn.close()

    made = Orders(keys, seed.DOCTOR_PINFL, seed.FACILITY, uvloop.run(pinfls()), folder).write(count)
    os.environ.update({"SHIFO_SIGNATURE_ADAPTER": "dev", "SHIFO_SIGNATURE_DEV_KEYS_DIR": str(keys),
                       "BENCH_KEYS_DIR": str(keys), ORDERS: str(made)})


def _instructions(dump: Path) -> int:
    found = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(encoding="utf-8"), re.M)
    if found is None:
        raise RuntimeError(f"no instruction total in {dump}")
    return int(found.group(1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--path", choices=("write", "read", "rx"), default="write")
    p.add_argument("--contender", choices=("project", "baseline"), default="project")
    p.add_argument("--requests", type=int, default=200, help="measured requests")
    p.add_argument("--warmup", type=int, default=50, help="requests before counting starts")
    p.add_argument("--project-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the project (repeatable), e.g. SHIFO_RUN_RELAY=0")
    p.add_argument("--database", default="shifo_bench", help="prepared by a previous bench/run.py")
    p.add_argument("--admin-dsn", default=run.parse_args([]).admin_dsn)
    args = p.parse_args()
    ids_files = sorted(run.RESULTS.glob("*T*Z-patients.txt"))  # run.py's, not propagation.py's world
    if not ids_files:
        sys.exit("no seeded database found: run `bench/run.py --quick` first.")
    ids = ids_files[-1].read_text(encoding="utf-8").split()
    dsn = f"{args.admin_dsn.rsplit('/', 1)[0]}/{args.database}"
    os.environ.update({"SHIFO_DATABASE_URL": dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
                       "SHIFO_TOKEN_TTL_SECONDS": "86400", "BENCH_DSN": dsn})
    if os.environ.get(CHILD):
        orders = Path(os.environ[ORDERS]).read_bytes().splitlines() if args.path == "rx" else []
        uvloop.run(_measure(args, os.environ[CHILD], ids, orders))  # the benchmark's servers run uvloop
        return 0
    os.environ.update(run._env_pairs(",".join(args.project_env)))
    token = uvloop.run(_login())
    with tempfile.TemporaryDirectory() as tmp:
        if args.path == "rx":
            _sign_orders(Path(tmp), dsn, args.warmup + args.requests)
        out = Path(tmp) / "callgrind.out"
        log = run.RESULTS / "instructions.log"
        with log.open("ab") as sink:
            done = subprocess.run(
                ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p",
                 sys.executable, *sys.argv], env={**os.environ, CHILD: token}, stdout=sink, stderr=sink)
        dumps = [d for d in Path(tmp).iterdir() if d.name.endswith(".1")]  # the dump taken at -d
        if done.returncode != 0 or len(dumps) != 1:
            sys.exit(f"the count failed (exit {done.returncode}); see {log}")
        total = _instructions(dumps[0])
    print(f"{args.contender} {args.path}: {total / args.requests / 1e6:.2f} M instructions per request "
          f"({args.requests} requests, one at a time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
