"""A real PostgreSQL and a real Redis (Debian's `postgresql` and `redis-server`, installed by
scripts/install-peers.sh) on free loopback ports in temporary directories, for the health-check
and SQLAlchemy tests: started, stopped, frozen (SIGSTOP) and thawed, restarted on the same port.
Under CI=true a missing server fails instead of skipping (conftest.peer)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from conftest import free_port, peer


def postgres_binary(name: str) -> str:
    """Debian keeps PostgreSQL's server binaries in /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        return peer(name)  # skips, or fails under CI=true
    return found


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Server:
    """A server process in a session of its own (so that SIGSTOP freezes it and its children)."""

    def __init__(self, command: list[str], port: int, user: str | None = None, stop_signal: int = signal.SIGTERM):
        self.command, self.port, self.user, self.stop_signal = command, port, user, stop_signal
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        # Started as our own child (not through runuser), so that we reap it: a zombie's PID
        # would still look alive to PostgreSQL's lock file check when it restarts.
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            user=self.user,
            group=pwd.getpwnam(self.user).pw_gid if self.user else None,
            extra_groups=[] if self.user else None,
        )
        wait_port(self.port)

    def stop(self) -> None:
        """Its stop signal (after thawing it), and waits until it has exited."""
        if self.process is None or self.process.poll() is not None:
            return
        self.thaw()
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def processes(self) -> list[int]:
        """The server's process and its descendants (PostgreSQL's backends each start a session
        of their own, so its process group is not enough), parents first."""
        assert self.process is not None
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        found, frontier = [self.process.pid], [self.process.pid]
        while frontier:
            frontier = [pid for pid, parent in parents.items() if parent in frontier]
            found.extend(frontier)
        return found

    def freeze(self) -> None:
        """SIGSTOP to the server and its children: connections hang, nothing is refused."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process is None:
            return
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: then it runs as `nobody`."""
    return "nobody" if os.geteuid() == 0 else None


def postgres(directory: Path | None = None) -> Server:
    """A new cluster (trust authentication, user `postgres`, database `postgres`) listening on
    127.0.0.1:<free port> only, no Unix socket; not started."""
    initdb, server = postgres_binary("initdb"), postgres_binary("postgres")
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="obsagent-pg-", dir=directory))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data = root / "data"
    command = [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
    as_user = {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if user else {}
    subprocess.run(command, check=True, capture_output=True, cwd=root, **as_user)
    port = free_port()
    settings = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off"]
    # SIGINT: PostgreSQL's fast shutdown (SIGTERM waits for every client to leave).
    instance = Server([server, "-D", str(data), "-p", str(port), *settings], port, user, signal.SIGINT)
    instance.root = root  # type: ignore[attr-defined]
    return instance


def redis(directory: Path) -> Server:
    """redis-server on 127.0.0.1:<free port>, persisting nothing; not started."""
    binary = peer("redis-server")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return Server([*command, "--dir", str(directory)], port)


def remove(server: Server) -> None:
    server.stop()
    root = getattr(server, "root", None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)
