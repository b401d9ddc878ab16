"""A throwaway PostgreSQL cluster for tests that restart or kill the database.

Such tests must never touch the shared cluster on 127.0.0.1:5432 (other tests and other
people use it at the same time). `pg_cluster` makes a cluster of its own with the server's
binaries (`initdb` into a temporary directory owned by the `postgres` user, run through
`runuser` when the tests run as root), serves it on a free port of 127.0.0.1 with its
socket in that directory, and always stops and removes it afterwards. Where it can't be
made (no binaries, or neither root nor `postgres`), the tests that need it are skipped,
except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

PG_BIN = Path(os.environ.get("LEDGER_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
TIMEOUT = 60  # seconds any pg_ctl call may take


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A PostgreSQL cluster of this test run: start, stop (fast or immediate), restart."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")

    def _run(self, program: str, *args: str) -> None:
        command = [str(PG_BIN / program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed: {done.stdout}{done.stderr}{self.tail()}")

    def tail(self) -> str:
        try:
            return self.log.read_text()[-2000:]
        except OSError:
            return ""

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", str(TIMEOUT), "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: the server ends every session and shuts down cleanly; `immediate`: it
        stops at once, as in a crash (the next start recovers from the log)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(TIMEOUT), "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def schema_url(self) -> str:
        """A fresh schema of the cluster's database, as a store URL."""
        schema = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        return f"{self.url}?schema={schema}"

    def remove(self) -> None:
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def cluster_unavailable() -> str | None:
    """Why no cluster of our own can be made here, or None."""
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        return f"no PostgreSQL server binaries in {PG_BIN}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "no postgres user to run the server as"
        if shutil.which("runuser") is None:
            return "no runuser to run the server as postgres"
        return None
    if pwd.getpwuid(os.geteuid()).pw_name != "postgres":
        return "the server runs as root (through runuser) or as postgres only"
    return None


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster of its own, started; stopped and removed afterwards, always."""
    reason = cluster_unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"a throwaway PostgreSQL cluster is required under CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
