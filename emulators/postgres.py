"""A throw-away PostgreSQL server for tests: ``initdb`` into a temp dir, ``pg_ctl start`` on a free
127.0.0.1 port, stopped and deleted on exit.

It uses the server binaries of Debian's ``postgresql`` package (``/usr/lib/postgresql/<v>/bin``,
or ``initdb``/``pg_ctl`` on ``PATH``, or ``KMSCONFORM_PG_BIN``). PostgreSQL refuses to run as root,
so as root the server runs as the ``postgres`` system user (created by the package) via ``runuser``.
Authentication is ``trust`` on loopback only: the server accepts no remote connection.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

RUN_AS = "postgres"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server cannot be started here (binaries or user missing, start failed)."""


def find_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` live, newest version first."""
    env = os.environ.get("KMSCONFORM_PG_BIN")
    if env:
        return Path(env) if (Path(env) / "initdb").exists() else None
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for cand in candidates:
        if (Path(cand) / "initdb").exists() and (Path(cand) / "pg_ctl").exists():
            return Path(cand)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _needs_other_user() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def unavailable_reason() -> str | None:
    """``None`` when a server can start here, else why not."""
    if find_bin_dir() is None:
        return (
            "PostgreSQL server binaries (initdb, pg_ctl) not found: "
            "apt-get install postgresql (see .ci/install-postgres.sh)"
        )
    if _needs_other_user():
        import pwd

        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return f"running as root and no {RUN_AS!r} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class PostgresServer:
    """A running server: connect with :attr:`dsn` (superuser ``postgres``, database ``postgres``)."""

    host: str
    port: int
    user: str
    dbname: str
    datadir: Path
    version: str

    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname} connect_timeout=10"


def _run(cmd: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    if _needs_other_user():
        cmd = ["runuser", "-u", RUN_AS, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd="/")


@contextmanager
def temporary_postgres(*, max_connections: int = 64, start_timeout: float = 60.0) -> Iterator[PostgresServer]:
    """Start a fresh server; stop it and remove its files on exit."""
    reason = unavailable_reason()
    if reason is not None:
        raise PostgresUnavailable(reason)
    bindir = find_bin_dir()
    assert bindir is not None
    base = Path(tempfile.mkdtemp(prefix="kmsconform-pg-"))
    datadir = base / "data"
    if _needs_other_user():
        shutil.chown(base, user=RUN_AS)
    started = False
    try:
        init = _run(
            [str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            timeout=start_timeout,
        )
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='{base}' "
            f"-c max_connections={max_connections} -c fsync=off -c synchronous_commit=off"
        )
        start = _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(datadir),
                "-l",
                str(base / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                str(int(start_timeout)),
                "start",
            ],
            timeout=start_timeout + 10,
        )
        if start.returncode != 0:
            log = (base / "server.log").read_text(errors="replace")[-1000:] if (base / "server.log").exists() else ""
            raise PostgresUnavailable(f"pg_ctl start failed: {start.stderr.strip()[-500:]} {log}")
        started = True
        version = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        yield PostgresServer("127.0.0.1", port, "postgres", "postgres", datadir, version)
    finally:
        if started:
            _run([str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "-t", "30", "stop"], timeout=60)
        shutil.rmtree(base, ignore_errors=True)
