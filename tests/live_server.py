"""The app served by a real gunicorn, for tests that need real processes (fault tests).

`Gunicorn` starts `gunicorn wsgi:app` from this tree against a database URL, waits until
`/healthz` answers 200, finds its workers through /proc and stops the whole process group.
`call` speaks HTTP to it over a fresh connection per request, `wait_until` polls a condition
with a deadline.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import port_for

ROOT = Path(__file__).resolve().parent.parent


def wait_until(condition: Callable[[], object], *, seconds: float, what: str,
               every: float = 0.05):
    """Poll `condition` until it returns something true (which is returned) or the deadline
    passes (an AssertionError naming `what`)."""
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:.0f} s: {what}")
        time.sleep(every)


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes
    seconds: float
    headers: tuple[tuple[str, str], ...] = ()

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def cookie(self, name: str) -> str | None:
        """The value a Set-Cookie header gives `name`, if any."""
        for header, value in self.headers:
            if header.lower() == "set-cookie" and value.startswith(f"{name}="):
                return value.split(";", 1)[0].removeprefix(f"{name}=")
        return None


def call(base: str, method: str, path: str, *, headers: dict[str, str] | None = None,
         json_body: object = None, form: dict[str, str] | None = None,
         timeout: float = 10.0) -> Reply:
    """One request on its own connection, with a JSON or a form body. A connection that is
    refused, reset or closed without an answer raises OSError or http.client.HTTPException,
    as it would for a client; no answer within `timeout` raises TimeoutError."""
    host, _sep, port = base.removeprefix("http://").partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    hdrs = dict(headers or {})
    body = None
    if json_body is not None:
        body = json.dumps(json_body).encode()
        hdrs["Content-Type"] = "application/json"
    elif form is not None:
        body = urllib.parse.urlencode(form).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    began = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=hdrs)
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, response.getheader("Content-Type", ""), data,
                     time.monotonic() - began, tuple(response.getheaders()))
    finally:
        conn.close()


def sign_in(base: str, username: str, password: str) -> str:
    """Sign in through the sign-in page once; the session cookie of the signed-in person."""
    page = call(base, "GET", "/login")
    cookie = page.cookie("session")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert page.status == 200 and cookie and token, page.text[:500]
    signed_in = call(base, "POST", "/login", headers={"Cookie": f"session={cookie}"},
                     form={"csrf_token": token.group(1), "username": username,
                           "password": password})
    assert signed_in.status == 302 and signed_in.cookie("session"), signed_in.text[:500]
    return signed_in.cookie("session")


def children(pid: int) -> set[int]:
    """The ids of the live processes whose parent is `pid`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def gunicorn_version() -> tuple[int, ...]:
    import gunicorn

    return tuple(gunicorn.version_info)


class Gunicorn:
    """`gunicorn -w <workers> wsgi:app` on a free local port, configured by environment."""

    def __init__(self, database_url: str, logfile: Path, *, workers: int = 2,
                 pool_size: int = 4):
        self.logfile = logfile
        self.workers = workers
        port = port_for.select_random()
        self.base = f"http://127.0.0.1:{port}"
        env = dict(os.environ, PYTHONPATH=str(ROOT), TIMEBANK_DATABASE_URL=database_url,
                   TIMEBANK_SECRET_KEY="fault-tests", TIMEBANK_DB_POOL_SIZE=str(pool_size),
                   TIMEBANK_DB_MAX_OVERFLOW="2")
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        # From gunicorn 27 on, every server opens a control socket at one path per user;
        # servers of parallel test runs would take it from each other.
        private = ["--no-control-socket"] if gunicorn_version() >= (27,) else []
        with logfile.open("w") as log:
            self.process = subprocess.Popen(
                [gunicorn, "-w", str(workers), "-b", f"127.0.0.1:{port}",
                 "--log-level", "info", *private, "wsgi:app"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    @property
    def master(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        return self.logfile.read_text(errors="replace")[-chars:]

    def healthz(self, timeout: float = 5.0) -> int | None:
        """The status of /healthz, or None when nothing answers."""
        try:
            return call(self.base, "GET", "/healthz", timeout=timeout).status
        except (OSError, http.client.HTTPException):
            return None

    def worker_pids(self) -> set[int]:
        return children(self.master)

    def wait_ready(self, seconds: float = 60.0) -> None:
        """Until /healthz answers 200 and every worker is up."""
        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{self.log_tail()}")
            return self.healthz() == 200 and len(self.worker_pids()) == self.workers

        wait_until(ready, seconds=seconds, what=f"gunicorn ready\n{self.log_tail()}",
                   every=0.1)

    def stop(self) -> None:
        """Stop the master and its workers (the whole process group), forcibly if need be."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass
