"""A throwaway PostgreSQL server for the test suite and the benchmark.

The server is started with pytest-postgresql's `PostgreSQLExecutor` from the machine's own
PostgreSQL binaries (`pg_ctl`). PostgreSQL refuses to run as root, so when the suite runs as
root (CI containers) pg_ctl is called through `runuser -u postgres`.
"""

from __future__ import annotations

import glob
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import port_for
import psycopg
from psycopg import sql
from pytest_postgresql.executors import PostgreSQLExecutor

SUPERUSER = "postgres"


class PgUnavailable(RuntimeError):
    """No usable PostgreSQL server binaries on this machine."""


def find_pg_ctl() -> str:
    explicit = os.environ.get("TIMEBANK_TEST_PG_CTL")
    if explicit:
        return explicit
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parts[-3]), reverse=True)
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(found)
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    raise PgUnavailable("no pg_ctl found (looked in /usr/lib/postgresql/*/bin and on PATH)")


def _as_postgres_wrapper(pg_ctl: str, workdir: Path) -> str:
    """A pg_ctl that runs as the `postgres` system user, for when the suite runs as root."""
    runuser = shutil.which("runuser")
    if not runuser:
        raise PgUnavailable("running as root and `runuser` is missing to drop to `postgres`")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PgUnavailable("running as root and there is no `postgres` system user") from exc
    wrapper = workdir / "pg_ctl"
    wrapper.write_text(f'#!/bin/sh\nexec {runuser} -u postgres -- {pg_ctl} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    shutil.chown(workdir, user="postgres")
    return str(wrapper)


class PgCluster:
    def __init__(self, executor: PostgreSQLExecutor, workdir: Path):
        self.executor = executor
        self.workdir = workdir
        self.host = executor.host
        self.port = executor.port

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(host=self.host, port=self.port, user=SUPERUSER,
                               dbname="postgres", autocommit=True)

    def wait_ready(self, seconds: float = 60.0) -> None:
        """Until the server accepts connections (a large shared_buffers takes a moment)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                with self._admin():
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def create_database(self, name: str, template: str | None = None) -> str:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template))
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
            conn.execute(query)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))

    def halt(self, mode: str = "fast") -> None:
        """Stop the server (`pg_ctl stop -m fast` or `immediate`), keeping its data directory,
        to be started again with `resume`."""
        subprocess.run([self.executor.executable, "stop", "-D", self.executor.datadir,
                        "-m", mode, "-w"], check=True, capture_output=True, timeout=60)

    def resume(self) -> None:
        """Start a halted server again, on the same port and data directory."""
        subprocess.run(self.executor.command_parts, env=self.executor.envvars, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        self.wait_ready()

    def stop(self) -> None:
        try:
            if self.executor.running():
                self.executor.stop()
            else:  # a test halted it and failed before resuming: nothing to stop, only forget
                self.executor.kill()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


# A test server: durability off, enough connections for the concurrency tests.
TEST_OPTIONS = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200")


def start_cluster(options: str = TEST_OPTIONS) -> PgCluster:
    """Start a throwaway server with the given `postgres` options (the test settings)."""
    pg_ctl = find_pg_ctl()
    workdir = Path(tempfile.mkdtemp(prefix="timebank-pg-"))
    if os.geteuid() == 0:
        pg_ctl = _as_postgres_wrapper(pg_ctl, workdir)
    port = port_for.select_random()
    executor = PostgreSQLExecutor(
        executable=pg_ctl,
        host="127.0.0.1",
        port=port,
        datadir=str(workdir / "data"),
        unixsocketdir=str(workdir),
        logfile=str(workdir / "postgresql.log"),
        startparams="-w",
        dbname="postgres",
        user=SUPERUSER,
        postgres_options=options,
    )
    try:
        executor.start()
    except Exception as exc:
        log = workdir / "postgresql.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(workdir, ignore_errors=True)
        raise PgUnavailable(f"PostgreSQL did not start with {pg_ctl}: {exc}\n{detail}") from exc
    cluster = PgCluster(executor, workdir)
    cluster.wait_ready()
    return cluster
