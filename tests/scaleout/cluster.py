"""Real Shifo processes for the scale-out tests: ``shifo serve`` on ports of their own and
``shifo consume`` workers, all from one environment (database, messaging adapter, subject prefix),
each logging to a file of its own that a failing test prints the end of.

The probe module (``tests/scaleout/probe``) is pip-installed into a directory of its own, as an
operator installs a module package, and reaches the children by ``PYTHONPATH`` alone: the
project's venv stays as it was for the rest of the suite.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BIN = Path(sys.prefix) / "bin"
PROBE = Path(__file__).parent / "probe"
# argon2 at its cheapest: the tests sign in a few times and must not wait on hashing
FAST = '{"identity": {"hashing": {"time_cost": 1, "memory_cost": 8192, "parallelism": 1}}}'


def install_probe(root: Path) -> Path:
    """``pip install`` of a copy of the probe package (a build in the source tree leaves files);
    returns the directory to put on ``PYTHONPATH``."""
    source, target = root / "probe-src", root / "probe-site"
    shutil.copytree(PROBE, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--target", str(target), str(source)], check=True, timeout=300)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """One child process running a ``shifo`` command, its output in ``log``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name, self.log = name, logs / f"{name}.log"
        with self.log.open("ab") as sink:
            self.popen = subprocess.Popen([str(BIN / "shifo"), *args], env=env, cwd=logs,
                                          stdout=sink, stderr=subprocess.STDOUT,
                                          start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """``kill -9``: no clean stop, no lease handed back, a batch cut where it was."""
        if self.alive:
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        """Until ``text`` appears in the process's output (e.g. the line saying it runs)."""
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text(errors="replace"):
            if not self.alive or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} never said {text!r}\n{self.tail()}")
            time.sleep(0.1)

    def tail(self, lines: int = 40) -> str:
        try:  # the request log aside: what the process said about itself
            text = [line for line in self.log.read_text(errors="replace").splitlines()
                    if '"shifo.access"' not in line][-lines:]
        except OSError:
            return ""
        return f"--- {self.name} (pid {self.pid}, exit {self.popen.poll()}) ---\n" + "\n".join(text)


class App(Proc):
    """``shifo serve`` on a free port."""

    def __init__(self, name: str, env: dict[str, str], logs: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(name, ["serve", "--host", "127.0.0.1", "--port", str(self.port)], env, logs)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"{self.name} exited at start\n{self.tail()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer /health in {timeout:.0f} s\n{self.tail()}")


class Cluster:
    """Apps and consumer workers sharing one environment; :meth:`close` stops every one."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = {**os.environ, **env}, logs
        self.procs: list[Proc] = []
        logs.mkdir(parents=True, exist_ok=True)

    def apps(self, count: int, **env: str) -> list[App]:
        """Start ``count`` apps at once (they import in parallel) and wait until all answer."""
        started = [App(f"app{len(self.procs) + i}", {**self.env, **env}, self.logs) for i in range(count)]
        self.procs += started
        for app in started:
            app.wait_healthy()
        return started

    def consumer(self, **env: str) -> Proc:
        """``shifo consume``: module consumers only (no web, no relay)."""
        proc = Proc(f"consume{len(self.procs)}", ["consume"], {**self.env, **env}, self.logs)
        self.procs.append(proc)
        return proc

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A one-off ``shifo`` command (``migrate``, ``events failed``, ``status``) in this environment."""
        return subprocess.run([str(BIN / "shifo"), *args], env=self.env, cwd=self.logs,
                              capture_output=True, text=True, timeout=120)

    def tails(self) -> str:
        return "\n".join(p.tail() for p in self.procs)

    def close(self) -> None:
        for proc in self.procs:  # SIGTERM to all first, so they stop side by side
            if proc.alive:
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.procs:
            proc.stop()
