"""Profile the project under load: py-spy samples the uvicorn workers while wrk drives one path.

    .venv/bin/python bench/run.py --quick                 # once: prepares and seeds the database
    .venv/bin/python bench/profile.py --path write --connections 16 --seconds 15

py-spy is not a project dependency: `pip install py-spy` into your environment. Prints where the
workers spend their CPU (inclusive, by function and by library) and keeps the raw samples
(flamegraph-ready) in bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import run
import seed
from loadgen import ensure_wrk, run_wrk
from servers import serving
from workloads import WORKLOADS

OURS = re.compile(r"\((?:core|ports|adapters|host|plugins)/")
LIBRARY = re.compile(r"\((?:.*/site-packages/)?([a-z_]+)[/.]")


def summarize(raw: Path, top: int) -> str:
    """Inclusive share of samples per function of ours and per library, from py-spy's raw output."""
    ours: Counter[str] = Counter()
    libs: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if not f.startswith("process ")]
        n = int(count)
        total += n
        for name in set(frames):
            if OURS.search(name):
                ours[name] += n
        for lib in {m.group(1) for f in frames if (m := LIBRARY.search(f))}:
            libs[lib] += n
    lines = [f"{total} samples; inclusive share of the workers' CPU samples", "", "our code:"]
    lines += [f"  {100 * v / total:5.1f}%  {k}" for k, v in ours.most_common(top)]
    lines += ["", "by library / package:"]
    lines += [f"  {100 * v / total:5.1f}%  {k}" for k, v in libs.most_common(top)]
    return "\n".join(lines)


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--path", choices=("write", "read", "exam"), default="write")  # rx needs run.py's dev keys
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--native", action="store_true",
                   help="also sample native frames (C extensions); pauses the workers per sample")
    p.add_argument("--contender", choices=("project", "baseline"), default="project",
                   help="profile the bare baseline instead, to compare where its CPU goes")
    p.add_argument("--port", type=int, default=8712)
    p.add_argument("--database", default="shifo_bench", help="prepared by a previous bench/run.py")
    p.add_argument("--admin-dsn", default=run.parse_args([]).admin_dsn)
    args = p.parse_args()
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if not spy:
        sys.exit("py-spy is not installed: `pip install py-spy` (it is not a project dependency).")
    ids = sorted(run.RESULTS.glob("*T*Z-patients.txt"))  # run.py's, not propagation.py's world
    if not ids:
        sys.exit("no seeded database found: run `bench/run.py --quick` first.")
    wrk = ensure_wrk()
    db_url = f"{args.admin_dsn.rsplit('/', 1)[0]}/{args.database}".replace(
        "postgresql://", "postgresql+asyncpg://", 1)
    env = {"SHIFO_DATABASE_URL": db_url, "SHIFO_TOKEN_TTL_SECONDS": "86400"}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw = run.RESULTS / f"{stamp}-profile-{args.contender}-{args.path}-c{args.connections}.txt"
    performed_at = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    mode = WORKLOADS[args.path].mode
    log_file = run.RESULTS / f"{stamp}-servers.log"
    async with serving(run.PROJECT_APP, args.port, env, log_file) as (url, pid):
        async with httpx.AsyncClient(base_url=url) as client:
            token = await seed.login(client)  # the baseline reads the project's sessions
    app = run.PROJECT_APP
    if args.contender == "baseline":
        app, env = "baseline_app:app", {"BENCH_DSN": f"{args.admin_dsn.rsplit('/', 1)[0]}/{args.database}"}
    async with serving(app, args.port, env, log_file) as (url, pid):
        load = {"threads": 1, "ids_file": ids[-1], "token": token, "facility": seed.FACILITY,
                "performed_at": performed_at, "connections": args.connections}
        await run_wrk(wrk, url, mode, seconds=3, **load)
        sampler = await asyncio.create_subprocess_exec(
            spy, "record", "--subprocesses", *(["--native"] if args.native else ["--nonblocking"]),
            "-p", str(pid), "-r", str(args.rate), "-d", str(args.seconds), "-f", "raw", "-o", str(raw),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        result = await run_wrk(wrk, url, mode, seconds=args.seconds, **load)
        await sampler.wait()
    print(f"{args.contender} {args.path} at {args.connections} connections under py-spy: "
          f"{result['rps']:.1f} req/s, p50 {result['p50_us'] / 1000:.2f} ms, errors {result['errors']}\n")
    print(summarize(raw, args.top))
    print(f"\nraw samples: {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
