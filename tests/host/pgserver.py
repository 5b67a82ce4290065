"""A PostgreSQL server of the test's own, so a test can terminate its backends, kill it and start
it again, or freeze it. Built from the installed server binaries (``pg_config --bindir``, ``PATH``, or the
Debian layout); run as the ``postgres`` user when the tests run as root (initdb refuses root).
In CI the binaries must be there; elsewhere their absence skips."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest


def _bindir() -> Path | None:
    found: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        found.append(Path(out.stdout.strip()))
    if initdb := shutil.which("initdb"):
        found.append(Path(initdb).parent)
    found += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # Debian, newest first
    return next((d for d in found if (d / "initdb").is_file() and (d / "postgres").is_file()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One cluster in a temporary directory, on a free port on 127.0.0.1, TCP only."""

    def __init__(self, bindir: Path) -> None:
        self.bindir, self.port = bindir, _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="shifo-pg-"))
        self.data = self.root / "data"
        self.as_user: dict[str, Any] = {}
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run([str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True, **self.as_user)

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 30.0) -> float:
        """Start the postmaster and wait until it accepts connections; returns when it did
        (``time.monotonic()``). Retries while the killed server's backends still hold its memory."""
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                 "-c", "fsync=off", "-c", "max_connections=50"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **self.as_user)
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self._accepts():
                    return time.monotonic()
                time.sleep(0.05)
            if time.monotonic() >= deadline:
                raise RuntimeError("the test's PostgreSQL did not start")
            time.sleep(0.2)  # it exited at once: try again

    def _accepts(self) -> bool:
        probe = subprocess.run([str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port),
                                "-t", "1"], capture_output=True, check=False)
        return probe.returncode == 0

    def kill(self) -> None:
        """``kill -9`` of the postmaster; waits until it is gone."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def processes(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer, ...), from /proc."""
        assert self.proc is not None
        found = [self.proc.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(fields[1]) == self.proc.pid:  # the parent's pid
                found.append(int(stat.parent.name))
        return found

    def freeze(self) -> list[int]:
        """``SIGSTOP`` the whole server, as a host that stopped answering (its sockets stay open,
        nothing is answered); returns the processes to :meth:`thaw`."""
        stopped = []
        for pid in self.processes():  # the postmaster first: it forks no backend after that
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        return stopped

    @staticmethod
    def thaw(stopped: list[int]) -> None:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.thaw(self.processes())  # a test that failed while it was frozen
            self.proc.send_signal(signal.SIGQUIT)  # immediate shutdown: it is thrown away
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def own_server() -> PgServer:
    bindir = _bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's server binaries (initdb, postgres) must be installed in CI")
        pytest.skip("PostgreSQL's server binaries are not installed here")
    return PgServer(bindir)
