"""The load generator: wrk, driven by ``entries.lua``, one run at a time."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

LUA = Path(__file__).with_name("entries.lua")
INSTALL_HINT = ("wrk is not installed. Install it with `apt-get install -y wrk` (Debian/Ubuntu), "
                "`dnf install wrk` (Fedora) or `brew install wrk` (macOS), then run again.")


def ensure_wrk() -> str:
    """Find wrk; as root on a Debian-like system, install it; otherwise say how and exit."""
    found = shutil.which("wrk")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing; installing it with apt-get (running as root) ...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit(INSTALL_HINT)


async def run_wrk(wrk: str, url: str, mode: str, *, connections: int, seconds: float, threads: int,
                  ids_file: Path, token: str, facility: str, performed_at: str,
                  bodies: Path | None = None) -> dict[str, float]:
    """One wrk run; returns its counters and latency percentiles (microseconds). ``bodies``: the
    signed orders the ``rx`` mode sends, one per request."""
    cmd = [wrk, f"-t{min(threads, connections)}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
           "--timeout", "10s", "--latency", "-s", str(LUA), url, "--",
           mode, str(ids_file), token, facility, performed_at, *([str(bodies)] if bodies else [])]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    text = out.decode(errors="replace")
    for line in text.splitlines():
        if line.startswith("WRK_JSON "):
            result: dict[str, float] = json.loads(line[len("WRK_JSON "):])
            seconds_run = result["duration_us"] / 1e6
            result["rps"] = result["requests"] / seconds_run if seconds_run else 0.0
            result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
            result["ok"] = result["requests"] - result["status"]
            return result
    raise RuntimeError(f"wrk gave no result (exit {proc.returncode}):\n{text}\n"
                       f"{err.decode(errors='replace')}")
